//! Conversion between the runtime's `Request`/`Response` and the `http` types the core uses.
//! The body size cap is enforced here, while streaming, before anything is parsed.
//!
//! It works on the `web_sys` types directly rather than `worker::Request`: converting to
//! `worker::Request` reads the request's `cf` object, which the runtime materialises on every
//! access, and was the largest single cost of a request inside the isolate (`make bench`).

use std::cell::RefCell;
use std::collections::HashMap;

use js_sys::{Reflect, Uint8Array};
use mcpgate_core::wire::{Error, Request, Response, MAX_BODY_BYTES};
use mcpgate_core::Config;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{ReadableStreamDefaultReader, ResponseInit};

/// Reads a runtime request into an `http::Request`, refusing bodies over [`MAX_BODY_BYTES`]
/// (by `Content-Length` first, then while reading).
pub async fn to_core(req: web_sys::Request) -> Result<Request, Error> {
    let headers = req.headers();
    let declared = headers
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(Error::BodyTooLarge);
    }
    let method = http::Method::from_bytes(req.method().as_bytes())
        .map_err(|_| Error::InvalidRequest("unsupported method".into()))?;
    // The runtime hands over an absolute, already-normalised URL; only its path and query are
    // needed. (Avoiding the `url` crate here keeps its Unicode tables out of the bundle.)
    let path_and_query = path_and_query(&req.url());
    let body = if matches!(method, http::Method::GET | http::Method::HEAD) {
        Vec::new()
    } else {
        read_body(&req, declared).await?
    };
    let mut builder = http::Request::builder().method(method).uri(path_and_query);
    for (name, value) in header_pairs(&headers)? {
        builder = builder.header(name, value);
    }
    builder
        .body(body)
        .map_err(|_| Error::InvalidRequest("malformed request line or headers".into()))
}

/// The request's headers as (name, value) pairs, read across the wasm boundary in one string
/// (`JSON.stringify(Array.from(headers))`) rather than one call per header, name and value.
fn header_pairs(headers: &web_sys::Headers) -> Result<Vec<(String, String)>, Error> {
    let unreadable = |_| Error::InvalidRequest("unreadable headers".into());
    let json: String = js_sys::JSON::stringify(&js_sys::Array::from(headers))
        .map_err(unreadable)?
        .into();
    serde_json::from_str(&json).map_err(|_| Error::InvalidRequest("unreadable headers".into()))
}

/// Reads the body stream chunk by chunk, stopping (and cancelling the stream) past the cap.
/// With a declared length, it stops once that many bytes have arrived, without waiting for the
/// stream to report its end; more bytes than declared is a bad request.
async fn read_body(req: &web_sys::Request, declared: Option<u64>) -> Result<Vec<u8>, Error> {
    let mut body = Vec::new();
    let Some(stream) = req.body() else {
        return Ok(body);
    };
    let reader: ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
    let failed = |e: JsValue| Error::Internal(format!("request body: {e:?}"));
    loop {
        let chunk = JsFuture::from(reader.read()).await.map_err(failed)?;
        if Reflect::get(&chunk, &JsValue::from_str("done"))
            .map_err(failed)?
            .is_truthy()
        {
            return Ok(body);
        }
        let value = Reflect::get(&chunk, &JsValue::from_str("value")).map_err(failed)?;
        let bytes: Uint8Array = value
            .dyn_into()
            .map_err(|_| Error::InvalidRequest("request body is not bytes".into()))?;
        if body.len() + bytes.length() as usize > MAX_BODY_BYTES {
            let _ = reader.cancel();
            return Err(Error::BodyTooLarge);
        }
        let start = body.len();
        body.resize(start + bytes.length() as usize, 0);
        if let Some(dst) = body.get_mut(start..) {
            bytes.copy_to(dst);
        }
        if let Some(n) = declared.filter(|n| body.len() as u64 >= *n) {
            // Exactly what was declared, or nothing: never a body cut where a chunk happened
            // to end.
            if body.len() as u64 != n {
                let _ = reader.cancel();
                return Err(Error::InvalidRequest(
                    "the body is longer than its Content-Length".into(),
                ));
            }
            return Ok(body);
        }
    }
}

/// The `/path?query` part of an absolute URL (fragment dropped).
/// The path of a request URL (no query).
pub fn path(url: &str) -> String {
    let pq = path_and_query(url);
    match pq.split_once('?') {
        Some((p, _)) => p.to_owned(),
        None => pq,
    }
}

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

/// Turns a core response into a runtime response.
pub fn from_core(resp: Response) -> Result<web_sys::Response, JsValue> {
    let (init, body) = runtime_parts(resp)?;
    web_sys::Response::new_with_opt_js_u8_array_and_init(body.as_ref(), &init)
}

/// A core response as what the runtime's `Response` constructor takes.
fn runtime_parts(resp: Response) -> Result<(ResponseInit, Option<Uint8Array>), JsValue> {
    let (parts, body) = resp.into_parts();
    // One string across the boundary (`[[name, value], ...]`, which the `Response` constructor
    // takes as is) rather than one `append` call per header.
    let pairs: Vec<(&str, &str)> = parts
        .headers
        .iter()
        .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
        .collect();
    let json = serde_json::to_string(&pairs).map_err(|e| JsValue::from_str(&e.to_string()))?;
    let init = ResponseInit::new();
    init.set_status(parts.status.as_u16());
    init.set_headers(&js_sys::JSON::parse(&json)?);
    // Null body statuses (204, 304) must not carry one, even an empty one. The bytes are copied
    // out of the wasm memory here, so the response does not alias it.
    let body = (!body.is_empty()).then(|| Uint8Array::from(body.as_slice()));
    Ok((init, body))
}

/// A fixed answer, kept in the runtime's form and reused for every response: the `Response`
/// constructor copies the headers, but the runtime shares the body's bytes with every response
/// made from them, so `body` is a JS-heap copy that is never changed or handed out.
struct Kept {
    init: ResponseInit,
    body: Option<Uint8Array>,
}

thread_local! {
    /// Fixed answers by path, `[GET, HEAD]`. Only paths the core has a fixed answer for are
    /// kept (a handful), so no request can grow it.
    static KEPT: RefCell<HashMap<String, [Option<Kept>; 2]>> = RefCell::new(HashMap::new());
}

/// The answer to a request that depends only on its method and path (the metadata documents:
/// `mcpgate_core::service::fixed_response`), built once per isolate and answered without
/// converting the request. `None` for every other request.
pub fn fixed(
    req: &web_sys::Request,
    config: &Config,
) -> Option<Result<web_sys::Response, JsValue>> {
    let (method, slot) = match req.method().as_str() {
        "GET" => (http::Method::GET, 0),
        "HEAD" => (http::Method::HEAD, 1),
        _ => return None,
    };
    let url = req.url();
    let path = path(&url);
    let path = path.as_str();
    KEPT.with(|kept| {
        let mut kept = kept.borrow_mut();
        let known = kept
            .get(path)
            .and_then(|answers| answers.get(slot))
            .is_some_and(Option::is_some);
        if !known {
            let resp = mcpgate_core::service::fixed_response(config, &method, path)?;
            let (init, body) = match runtime_parts(resp) {
                Ok(parts) => parts,
                Err(e) => return Some(Err(e)),
            };
            let answers = kept.entry(path.to_owned()).or_default();
            if let Some(answer) = answers.get_mut(slot) {
                *answer = Some(Kept { init, body });
            }
        }
        let answer = kept.get(path)?.get(slot)?.as_ref()?;
        Some(web_sys::Response::new_with_opt_js_u8_array_and_init(
            answer.body.as_ref(),
            &answer.init,
        ))
    })
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
