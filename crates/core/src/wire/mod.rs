//! The one place that owns the wire format: JSON bodies, RFC 6749 §5.2 error objects,
//! `Cache-Control`, CORS and the mapping from internal errors to HTTP.

pub mod error;
pub mod form;

use http::{header, HeaderValue, StatusCode};
use serde::Serialize;

pub use error::{Error, WireError};

/// The request type the core handles. The body is already size-capped by the caller.
pub type Request = http::Request<Vec<u8>>;
/// The response type the core returns.
pub type Response = http::Response<Vec<u8>>;

/// Largest request body accepted on any endpoint (bytes). Form posts and admin JSON are far
/// smaller; the cap is applied before any parsing.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Detail for the server log, attached to a response as an extension. Never sent to clients.
#[derive(Debug, Clone)]
pub struct LogDetail(pub String);

/// A JSON response.
pub fn json<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut resp = Response::new(bytes);
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// Marks a response as never to be cached (RFC 6749 §5.1, RFC 9700 §4.12): everything that
/// carries a token, a secret or an error about one.
pub fn no_store(mut resp: Response) -> Response {
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

/// Marks a response as cacheable by anyone for `max_age` seconds.
pub fn public_cache(mut resp: Response, max_age: u32) -> Response {
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        resp.headers_mut().insert(header::CACHE_CONTROL, v);
    }
    resp
}

/// Headers allowed on cross-origin requests to public endpoints. MCP clients running in a
/// browser send `MCP-Protocol-Version` on discovery requests.
pub const CORS_ALLOW_HEADERS: &str = "Authorization, Content-Type, MCP-Protocol-Version";

/// Adds CORS headers for a public, credential-less endpoint.
pub fn cors(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("WWW-Authenticate, ETag, Retry-After"),
    );
    resp
}

/// The answer to a CORS preflight for a public endpoint.
pub fn preflight(allow_methods: &'static str) -> Response {
    let mut resp = Response::new(Vec::new());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    let h = resp.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(allow_methods),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(CORS_ALLOW_HEADERS),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    cors(resp)
}
