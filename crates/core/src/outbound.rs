//! Outbound I/O the service needs besides its stores: fetching Client ID Metadata Documents and
//! upstream identity providers' documents, calling their token endpoints, and a small KV cache. Passed in like the stores, so the core never opens a socket.

use crate::store::StoreError;

/// A fetched document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// HTTP status.
    pub status: u16,
    /// The `Cache-Control` header, if any.
    pub cache_control: Option<String>,
    /// The body (at most the requested number of bytes).
    pub body: Vec<u8>,
}

/// Why a fetch failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// No answer in time.
    Timeout,
    /// The body is larger than allowed.
    TooLarge,
    /// The server answered with a redirect, which is never followed.
    Redirect,
    /// Anything else (DNS, TLS, connection).
    Network(String),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Timeout => f.write_str("timed out"),
            FetchError::TooLarge => f.write_str("document too large"),
            FetchError::Redirect => f.write_str("redirects are not followed"),
            FetchError::Network(e) => write!(f, "network error: {e}"),
        }
    }
}

/// Fetching and caching.
#[allow(async_fn_in_trait)]
pub trait Outbound {
    /// `GET url` with `Accept: application/json`, never following redirects, reading at most
    /// `max_bytes`, giving up after `timeout_ms`.
    async fn fetch(
        &self,
        url: &str,
        max_bytes: usize,
        timeout_ms: u32,
    ) -> Result<Fetched, FetchError>;
    /// `POST url` with a form body (`application/x-www-form-urlencoded`), an optional
    /// `Authorization` header and `Accept: application/json`, never following redirects,
    /// reading at most `max_bytes`, giving up after `timeout_ms` (an upstream token endpoint).
    async fn post_form(
        &self,
        url: &str,
        body: &str,
        authorization: Option<&str>,
        max_bytes: usize,
        timeout_ms: u32,
    ) -> Result<Fetched, FetchError>;
    /// A cached value, if present and unexpired.
    async fn cache_get(&self, key: &str, now: i64) -> Result<Option<String>, StoreError>;
    /// Caches a value for `ttl_secs` (KV's floor of 60 s applies).
    async fn cache_put(
        &self,
        key: &str,
        value: &str,
        ttl_secs: i64,
        now: i64,
    ) -> Result<(), StoreError>;
}
