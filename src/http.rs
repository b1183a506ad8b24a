//! Conversion between the Workers request/response types and the `http` types the core uses.
//! The body size cap is enforced here, while streaming, before anything is parsed.

use futures_util::StreamExt;
use mcpgate_core::wire::{Error, Request, Response, MAX_BODY_BYTES};
use worker::{Headers, Method};

/// Reads a Workers request into an `http::Request`, refusing bodies over [`MAX_BODY_BYTES`]
/// (by `Content-Length` first, then while reading).
pub async fn to_core(mut req: worker::Request) -> Result<Request, Error> {
    let declared = req
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(Error::BodyTooLarge);
    }
    let method = match req.method() {
        Method::Get => http::Method::GET,
        Method::Head => http::Method::HEAD,
        Method::Post => http::Method::POST,
        Method::Put => http::Method::PUT,
        Method::Patch => http::Method::PATCH,
        Method::Delete => http::Method::DELETE,
        Method::Options => http::Method::OPTIONS,
        other => http::Method::from_bytes(other.to_string().as_bytes())
            .map_err(|_| Error::InvalidRequest("unsupported method".into()))?,
    };
    // The runtime hands over an absolute, already-normalised URL; only its path and query are
    // needed. (Avoiding the `url` crate here keeps its Unicode tables out of the bundle.)
    let path_and_query = path_and_query(&req.inner().url());
    let mut body = Vec::new();
    if !matches!(method, http::Method::GET | http::Method::HEAD) {
        if let Ok(mut stream) = req.stream() {
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| Error::Internal(format!("request body: {e}")))?;
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(Error::BodyTooLarge);
                }
                body.extend_from_slice(&chunk);
            }
        }
    }
    let mut builder = http::Request::builder().method(method).uri(path_and_query);
    for (name, value) in req.headers().entries() {
        builder = builder.header(name, value);
    }
    builder
        .body(body)
        .map_err(|_| Error::InvalidRequest("malformed request line or headers".into()))
}

/// The `/path?query` part of an absolute URL (fragment dropped).
fn path_and_query(url: &str) -> String {
    let no_fragment = url.split('#').next().unwrap_or_default();
    let after_scheme = no_fragment
        .split_once("://")
        .map(|(_, rest)| rest)
        .unwrap_or(no_fragment);
    match after_scheme.find(['/', '?']) {
        Some(i) => {
            let rest = after_scheme.get(i..).unwrap_or("/");
            if rest.starts_with('?') {
                format!("/{rest}")
            } else {
                rest.to_owned()
            }
        }
        None => "/".to_owned(),
    }
}

/// Turns a core response into a Workers response.
pub fn from_core(resp: Response) -> worker::Result<worker::Response> {
    let (parts, body) = resp.into_parts();
    let headers = Headers::new();
    for (name, value) in parts.headers.iter() {
        if let Ok(v) = value.to_str() {
            headers.append(name.as_str(), v)?;
        }
    }
    let out = if body.is_empty() {
        worker::Response::empty()?
    } else {
        worker::Response::from_bytes(body)?
    };
    Ok(out.with_status(parts.status.as_u16()).with_headers(headers))
}

#[cfg(test)]
mod tests {
    use super::path_and_query;

    #[test]
    fn keeps_path_and_query_and_drops_the_rest() {
        assert_eq!(path_and_query("https://a.example/x/y?q=1#f"), "/x/y?q=1");
        assert_eq!(path_and_query("http://127.0.0.1:8787/"), "/");
        assert_eq!(path_and_query("http://127.0.0.1:8787"), "/");
        assert_eq!(path_and_query("https://a.example?q"), "/?q");
        assert_eq!(path_and_query("https://a.example/%2F?a=b/c"), "/%2F?a=b/c");
    }
}
