//! Store implementations on Workers bindings: D1 for the registry, KV for the revocation list.

pub mod d1;
pub mod kv;

use mcpgate_core::revocation::{Entry, RevocationList};
use mcpgate_core::store::{Database, Row, Stmt, StoreError};

/// The core's `Store`: D1 and KV together.
pub struct WorkerStore {
    /// Registry.
    pub db: d1::D1Db,
    /// Revocation list.
    pub kv: kv::KvRevocations,
}

impl Database for WorkerStore {
    async fn query(&self, stmt: Stmt) -> Result<Vec<Row>, StoreError> {
        self.db.query(stmt).await
    }
    async fn batch(&self, stmts: Vec<Stmt>) -> Result<Vec<Vec<Row>>, StoreError> {
        self.db.batch(stmts).await
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
