//! The core's `Outbound` on Workers: `fetch()` for Client ID Metadata Documents and upstream
//! identity providers (no redirects, size cap while streaming, timeout by abort) and the `CACHE`
//! KV namespace.

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

/// What to send: a GET, or a POST with a form body and maybe an `Authorization` header.
enum Send<'a> {
    Get,
    PostForm {
        body: &'a str,
        authorization: Option<&'a str>,
    },
}

async fn send(
    url: &str,
    what: Send<'_>,
    max_bytes: usize,
    signal: AbortSignal,
) -> Result<Fetched, FetchError> {
    let headers = Headers::new();
    headers.set("accept", "application/json").map_err(net)?;
    let mut init = RequestInit::new();
    match what {
        Send::Get => {
            init.with_method(Method::Get);
        }
        Send::PostForm {
            body,
            authorization,
        } => {
            headers
                .set("content-type", "application/x-www-form-urlencoded")
                .map_err(net)?;
            if let Some(a) = authorization {
                headers.set("authorization", a).map_err(net)?;
            }
            init.with_method(Method::Post)
                .with_body(Some(wasm_bindgen::JsValue::from_str(body)));
        }
    }
    init.with_headers(headers)
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

/// Runs a request, aborting it after `timeout_ms`.
async fn within<'a, F, Fut>(timeout_ms: u32, start: F) -> Result<Fetched, FetchError>
where
    F: FnOnce(AbortSignal) -> Fut,
    Fut: std::future::Future<Output = Result<Fetched, FetchError>> + 'a,
{
    let controller = AbortController::default();
    let work = Box::pin(start(controller.signal()));
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

impl Outbound for WorkerOutbound {
    async fn fetch(
        &self,
        url: &str,
        max_bytes: usize,
        timeout_ms: u32,
    ) -> Result<Fetched, FetchError> {
        within(timeout_ms, |signal| send(url, Send::Get, max_bytes, signal)).await
    }

    async fn post_form(
        &self,
        url: &str,
        body: &str,
        authorization: Option<&str>,
        max_bytes: usize,
        timeout_ms: u32,
    ) -> Result<Fetched, FetchError> {
        let what = Send::PostForm {
            body,
            authorization,
        };
        within(timeout_ms, |signal| send(url, what, max_bytes, signal)).await
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
