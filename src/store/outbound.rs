//! The core's `Outbound` on Workers: `fetch()` for Client ID Metadata Documents (no redirects,
//! size cap while streaming, timeout by abort) and the `CACHE` KV namespace.

use std::time::Duration;

use futures_util::future::{select, Either};
use futures_util::StreamExt;
use mcpgate_core::outbound::{FetchError, Fetched, Outbound};
use mcpgate_core::revocation::KV_MIN_TTL_SECS;
use mcpgate_core::store::StoreError;
use worker::kv::KvStore;
use worker::{
    AbortController, AbortSignal, Delay, Fetch, Headers, Method, Request, RequestInit,
    RequestRedirect,
};

/// Fetching through the runtime, caching in KV.
pub struct WorkerOutbound {
    cache: KvStore,
}

impl WorkerOutbound {
    /// Wraps the `CACHE` binding.
    pub fn new(cache: KvStore) -> Self {
        WorkerOutbound { cache }
    }
}

fn net(e: worker::Error) -> FetchError {
    FetchError::Network(e.to_string())
}

async fn get(url: &str, max_bytes: usize, signal: AbortSignal) -> Result<Fetched, FetchError> {
    let headers = Headers::new();
    headers.set("accept", "application/json").map_err(net)?;
    let mut init = RequestInit::new();
    init.with_method(Method::Get)
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual);
    let req = Request::new_with_init(url, &init).map_err(net)?;
    let mut resp = Fetch::Request(req)
        .send_with_signal(&signal)
        .await
        .map_err(net)?;
    let status = resp.status_code();
    if (300..400).contains(&status) {
        return Err(FetchError::Redirect);
    }
    let declared = resp
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max_bytes) {
        return Err(FetchError::TooLarge);
    }
    let cache_control = resp.headers().get("cache-control").ok().flatten();
    let mut body = Vec::new();
    let mut stream = resp.stream().map_err(net)?;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(net)?;
        if body.len() + chunk.len() > max_bytes {
            return Err(FetchError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Fetched {
        status,
        cache_control,
        body,
    })
}

impl Outbound for WorkerOutbound {
    async fn fetch(
        &self,
        url: &str,
        max_bytes: usize,
        timeout_ms: u32,
    ) -> Result<Fetched, FetchError> {
        let controller = AbortController::default();
        let work = Box::pin(get(url, max_bytes, controller.signal()));
        let timer = Delay::from(Duration::from_millis(u64::from(timeout_ms)));
        match select(work, timer).await {
            Either::Left((result, _)) => result,
            Either::Right((_, pending)) => {
                drop(pending);
                controller.abort();
                Err(FetchError::Timeout)
            }
        }
    }

    async fn cache_get(&self, key: &str, _now: i64) -> Result<Option<String>, StoreError> {
        self.cache
            .get(key)
            .text()
            .await
            .map_err(|e| StoreError::Backend(format!("kv: {e}")))
    }

    async fn cache_put(
        &self,
        key: &str,
        value: &str,
        ttl_secs: i64,
        _now: i64,
    ) -> Result<(), StoreError> {
        let ttl = ttl_secs.max(KV_MIN_TTL_SECS) as u64;
        self.cache
            .put(key, value)
            .map_err(|e| StoreError::Backend(format!("kv: {e}")))?
            .expiration_ttl(ttl)
            .execute()
            .await
            .map_err(|e| StoreError::Backend(format!("kv: {e}")))
    }
}
