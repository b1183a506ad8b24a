//! Pluggable HTTP GET for the JWKS (RFC 7517 §5) and the revocation feed
//! ([`crate::revocation`]).
//!
//! [`Fetch`] is a one-method async trait. It deliberately puts no `Send` bound on the returned
//! future: the Workers runtime's fetch future is `!Send`. A concrete implementation whose future
//! is `Send` (such as [`ReqwestFetch`](native::ReqwestFetch)) still makes
//! [`Guard::validate`](crate::guard::Guard::validate) `Send`, because auto traits of the
//! implementation's future are visible to callers that name the concrete type.
//!
//! Implementations:
//! - [`native::ReqwestFetch`] (feature `native`);
//! - [`workers::WorkersFetch`] (feature `workers`, `wasm32-unknown-unknown`);
//! - your own, e.g. a fake in tests.

use std::future::Future;

#[cfg(feature = "native")]
pub mod native;
#[cfg(feature = "workers")]
pub mod workers;

/// Largest response body a fetcher should read (bytes); the revocation feed is the big one.
pub const MAX_BODY_BYTES: usize = crate::revocation::MAX_FEED_BYTES;

/// The parts of an HTTP response the guard uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchResponse {
    /// HTTP status code.
    pub status: u16,
    /// The `Cache-Control` header (RFC 9111 §5.2), if present.
    pub cache_control: Option<String>,
    /// The `ETag` header (RFC 9110 §8.8.3), if present.
    pub etag: Option<String>,
    /// The body (empty for 304).
    pub body: Vec<u8>,
}

/// A failed request. The message names no token: requests carry none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchError {
    message: String,
}

impl FetchError {
    /// An error with a short human-readable description.
    pub fn new(message: impl Into<String>) -> Self {
        FetchError {
            message: message.into(),
        }
    }

    /// The description.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FetchError {}

/// Performs a GET. Implementations should bound redirects, time out, and read at most
/// [`MAX_BODY_BYTES`] of body. No credentials are ever needed: both documents are public.
pub trait Fetch {
    /// GETs `url`, sending `If-None-Match: <if_none_match>` when given (RFC 9110 §13.1.2).
    /// Any HTTP status is a successful fetch; only transport failures are errors.
    fn get(
        &self,
        url: &str,
        if_none_match: Option<&str>,
    ) -> impl Future<Output = Result<FetchResponse, FetchError>>;
}

impl<F: Fetch + ?Sized> Fetch for &F {
    fn get(
        &self,
        url: &str,
        if_none_match: Option<&str>,
    ) -> impl Future<Output = Result<FetchResponse, FetchError>> {
        (**self).get(url, if_none_match)
    }
}

impl<F: Fetch + ?Sized> Fetch for std::sync::Arc<F> {
    fn get(
        &self,
        url: &str,
        if_none_match: Option<&str>,
    ) -> impl Future<Output = Result<FetchResponse, FetchError>> {
        (**self).get(url, if_none_match)
    }
}

impl<F: Fetch + ?Sized> Fetch for std::rc::Rc<F> {
    fn get(
        &self,
        url: &str,
        if_none_match: Option<&str>,
    ) -> impl Future<Output = Result<FetchResponse, FetchError>> {
        (**self).get(url, if_none_match)
    }
}
