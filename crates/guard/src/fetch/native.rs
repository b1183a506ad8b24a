//! [`Fetch`] over [reqwest] for native servers (feature `native`).
//!
//! Why reqwest: it is the de-facto async HTTP client on tokio, which most Rust MCP servers
//! already run on; with `default-features = false, features = ["rustls-tls"]` it uses rustls
//! with ring and the webpki root store, so it builds from crates.io with only a C compiler (no
//! OpenSSL, no system certificate store, no CMake), and its futures are `Send`, so a
//! `Guard<ReqwestFetch>` works inside multi-threaded handlers.
//!
//! Requests need a tokio runtime (reqwest's requirement).

use std::time::Duration;

use super::{Fetch, FetchError, FetchResponse, MAX_BODY_BYTES};

/// Default total timeout of one request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Fetches with a [`reqwest::Client`].
#[derive(Debug, Clone)]
pub struct ReqwestFetch {
    client: reqwest::Client,
    max_body: usize,
}

impl ReqwestFetch {
    /// A client with a 10 s timeout, at most 3 redirects and a `User-Agent` naming this crate.
    pub fn new() -> Result<Self, FetchError> {
        let client = reqwest::Client::builder()
            .timeout(DEFAULT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::limited(3))
            .user_agent(concat!("mcpgate-guard/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| FetchError::new(format!("building HTTP client: {e}")))?;
        Ok(ReqwestFetch::with_client(client))
    }

    /// Uses a client configured by the caller (proxies, roots, timeouts).
    pub fn with_client(client: reqwest::Client) -> Self {
        ReqwestFetch {
            client,
            max_body: MAX_BODY_BYTES,
        }
    }
}

impl Fetch for ReqwestFetch {
    async fn get(
        &self,
        url: &str,
        if_none_match: Option<&str>,
    ) -> Result<FetchResponse, FetchError> {
        let mut request = self.client.get(url);
        if let Some(etag) = if_none_match {
            request = request.header(reqwest::header::IF_NONE_MATCH, etag);
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| FetchError::new(format!("GET failed: {e}")))?;
        let header = |name: reqwest::header::HeaderName| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let cache_control = header(reqwest::header::CACHE_CONTROL);
        let etag = header(reqwest::header::ETAG);
        let status = response.status().as_u16();
        if response
            .content_length()
            .is_some_and(|n| n > self.max_body as u64)
        {
            return Err(FetchError::new("response body too large"));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| FetchError::new(format!("reading body: {e}")))?
        {
            if body.len() + chunk.len() > self.max_body {
                return Err(FetchError::new("response body too large"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(FetchResponse {
            status,
            cache_control,
            etag,
            body,
        })
    }
}
