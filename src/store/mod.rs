//! Store implementations on Workers bindings: D1 for the registry, KV for the revocation list.

pub mod d1;
pub mod kv;
pub mod outbound;

use mcpgate_core::revocation::{Entry, RevocationList};
use mcpgate_core::store::{Database, Row, Stmt, StoreError};

/// The core's `Store`: D1 and KV together.
pub struct WorkerStore {
    /// Registry.
    pub db: d1::D1Db,
    /// Revocation list.
    pub kv: kv::KvRevocations,
    /// Outbound fetches and their cache.
    pub outbound: outbound::WorkerOutbound,
}

impl mcpgate_core::outbound::Outbound for WorkerStore {
    async fn fetch(
        &self,
        url: &str,
        max_bytes: usize,
        timeout_ms: u32,
    ) -> Result<mcpgate_core::outbound::Fetched, mcpgate_core::outbound::FetchError> {
        self.outbound.fetch(url, max_bytes, timeout_ms).await
    }
    async fn cache_get(&self, key: &str, now: i64) -> Result<Option<String>, StoreError> {
        self.outbound.cache_get(key, now).await
    }
    async fn cache_put(
        &self,
        key: &str,
        value: &str,
        ttl_secs: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        self.outbound.cache_put(key, value, ttl_secs, now).await
    }
}

impl Database for WorkerStore {
    async fn query(&self, stmt: Stmt) -> Result<Vec<Row>, StoreError> {
        self.db.query(stmt).await
    }
    async fn batch(&self, stmts: Vec<Stmt>) -> Result<Vec<Vec<Row>>, StoreError> {
        self.db.batch(stmts).await
    }
    async fn batch_replica(&self, stmts: Vec<Stmt>) -> Result<Vec<Vec<Row>>, StoreError> {
        self.db.batch_replica(stmts).await
    }
}

impl RevocationList for WorkerStore {
    async fn put(&self, entry: &Entry, now: i64) -> Result<(), StoreError> {
        self.kv.put(entry, now).await
    }
    async fn list(&self, now: i64) -> Result<Vec<Entry>, StoreError> {
        self.kv.list(now).await
    }
    async fn high_water(&self) -> Result<i64, StoreError> {
        self.kv.high_water().await
    }
}
