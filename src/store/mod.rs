//! Store implementations on Workers bindings: D1 for the registry, KV for the revocation list.

pub mod d1;
pub mod kv;
pub mod outbound;

use mcpgate_core::revocation::{Head, RevocationList, Segment};
use mcpgate_core::store::{Database, Row, Stmt, StoreError};

/// The core's `Store`: D1 and KV together.
pub struct WorkerStore {
    /// Registry.
    pub db: d1::D1Db,
    /// Revocation list.
    pub kv: kv::KvRevocations,
    /// Outbound fetches and their cache.
    pub outbound: outbound::WorkerOutbound,
    /// The revocation hub's namespace (absent if the binding is).
    pub hub: Option<worker::ObjectNamespace>,
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
    async fn post_form(
        &self,
        url: &str,
        body: &str,
        authorization: Option<&str>,
        max_bytes: usize,
        timeout_ms: u32,
    ) -> Result<mcpgate_core::outbound::Fetched, mcpgate_core::outbound::FetchError> {
        self.outbound
            .post_form(url, body, authorization, max_bytes, timeout_ms)
            .await
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
    async fn head(&self) -> Result<Option<Head>, StoreError> {
        self.kv.head().await
    }
    async fn segment(&self, index: u64, _now: i64) -> Result<Option<Segment>, StoreError> {
        self.kv.segment(index).await
    }
    async fn put_segment(
        &self,
        seg: &Segment,
        expires_at: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        self.kv.put_segment(seg, expires_at, now).await
    }
    async fn put_head(&self, head: &Head) -> Result<(), StoreError> {
        self.kv.put_head(head).await
    }
    async fn cached_page(&self, key: &str, _now: i64) -> Option<(String, String)> {
        let cache = worker::Cache::default();
        let mut resp = cache.get(key, false).await.ok()??;
        let etag = resp.headers().get("etag").ok()??;
        let body = resp.text().await.ok()?;
        Some((body, etag))
    }
    async fn keep_page(&self, key: &str, body: &str, etag: &str, max_age: u32, _now: i64) {
        let headers = worker::Headers::new();
        let kept = headers
            .set("cache-control", &format!("public, max-age={max_age}"))
            .and_then(|()| headers.set("etag", etag))
            .and_then(|()| worker::Response::ok(body))
            .map(|r| r.with_headers(headers));
        if let Ok(resp) = kept {
            // Best effort: on *.workers.dev the Cache API keeps nothing.
            let _ = worker::Cache::default().put(key, resp).await;
        }
    }
    async fn publish_committed(&self, _now: i64) -> Result<(), StoreError> {
        let backend = |e: worker::Error| StoreError::Backend(format!("revocation hub: {e}"));
        let ns = self.hub.as_ref().ok_or_else(|| {
            StoreError::Backend(format!(
                "revocation hub: binding {} missing",
                crate::hub::HUB_BINDING
            ))
        })?;
        let stub = ns
            .id_from_name(crate::hub::HUB_NAME)
            .and_then(|id| id.get_stub())
            .map_err(backend)?;
        let req = worker::Request::new_with_init(
            &format!("https://hub{}", crate::hub::PUBLISH_PATH),
            worker::RequestInit::new().with_method(worker::Method::Post),
        )
        .map_err(backend)?;
        let resp = stub.fetch_with_request(req).await.map_err(backend)?;
        if resp.status_code() == 200 {
            Ok(())
        } else {
            Err(StoreError::Backend(format!(
                "revocation hub: status {}",
                resp.status_code()
            )))
        }
    }
}
