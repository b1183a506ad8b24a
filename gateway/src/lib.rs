//! The mcpgate gateway: a Worker in front of an unmodified MCP server (Streamable HTTP).
//!
//! Per request it validates the bearer token against mcpgate's JWKS and revocation feed
//! (`mcpgate_guard::Guard`), reads what the JSON-RPC body asks for and checks it against the
//! SEP-2243 headers, decides a `tools/call` with the resource server's tool map (read from
//! mcpgate's `/resource-policy`, refreshed every few seconds), and forwards the request with
//! the client's token replaced by a signed identity assertion. Answers stream back unbuffered,
//! except `tools/list`, whose tool list is cut to what the token may call (JSON, or SSE event
//! by event). Every decision is `mcpgate_guard::mcp`'s; this crate only adapts it to the
//! runtime.

mod stats;

use std::cell::{Cell, OnceCell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use futures_util::future::{select, Either};
use futures_util::StreamExt;
use mcpgate_guard::fetch::workers::WorkersFetch;
use mcpgate_guard::mcp::identity::IDENTITY_HEADER;
use mcpgate_guard::mcp::{
    self, IdentitySigner, Inspected, PolicyDocument, SseToolsFilter, ToolDenied, ToolPolicy,
};
use mcpgate_guard::relay::{RelaySync, RELAY_BINDING};
use mcpgate_guard::{
    bearer_token, Challenge, Challenges, Fetch, Guard, GuardConfig, ProtectedResourceMetadata,
    TokenError, VerifiedToken,
};
use serde_json::{json, Value};
use worker::{
    event, AbortController, Context, Date, Delay, Env, Headers, Method, Request, RequestInit,
    RequestRedirect, Response, ResponseBody, ResponseBuilder,
};

pub use mcpgate_guard::relay::RevocationRelay;
pub use stats::GatewayStats;

/// Largest request body forwarded (bytes); larger is 413.
pub const MAX_REQUEST_BYTES: usize = 4 << 20;
/// Largest JSON `tools/list` answer filtered (bytes); larger is 502.
pub const MAX_LIST_BYTES: usize = 8 << 20;
/// Default seconds between policy refreshes (`GATEWAY_POLICY_REFRESH_SECS`).
pub const DEFAULT_POLICY_REFRESH_SECS: i64 = 10;
/// Seconds a policy fetch may take before it is given up.
pub const POLICY_FETCH_TIMEOUT_SECS: i64 = 5;
/// Default seconds to wait for the upstream's response headers (`GATEWAY_UPSTREAM_TIMEOUT_SECS`);
/// the body then streams for as long as it takes.
pub const DEFAULT_UPSTREAM_TIMEOUT_SECS: u64 = 30;
/// Where the per-tool counters are read (with `Authorization: Bearer <GATEWAY_STATS_TOKEN>`).
pub const STATS_PATH: &str = "/.mcpgate-gateway/stats";
/// JSON-RPC error code for authorization failures (implementation-defined server error range).
const UNAUTHORIZED: i64 = -32001;
/// JSON-RPC internal error.
const INTERNAL: i64 = -32603;

/// Request headers never forwarded: the token (MCP forbids passing it through), a client's
/// attempt at the identity header, and what the runtime sets itself.
const DROPPED_REQUEST_HEADERS: &[&str] = &[
    "authorization",
    IDENTITY_HEADER,
    "host",
    "content-length",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "upgrade",
    "proxy-authorization",
];

/// The gateway's state for the life of an isolate.
struct Gate {
    issuer: String,
    resource: String,
    upstream: String,
    mcp_path: String,
    /// The path of this resource's RFC 9728 metadata (path-inserted), fixed by the config.
    prm_path: Option<String>,
    policy_url: String,
    policy_refresh: i64,
    upstream_timeout: Duration,
    guard: Guard<WorkersFetch>,
    fetch: WorkersFetch,
    challenges: Challenges,
    signer: IdentitySigner,
    stats_token: Option<String>,
    policy: RefCell<Option<(Rc<ToolPolicy>, String)>>,
    policy_next_at: Cell<i64>,
    /// When the refresh in flight started (`None`: none); one older than
    /// [`POLICY_FETCH_TIMEOUT_SECS`] is taken as abandoned (a cancelled request).
    policy_refreshing: Cell<Option<i64>>,
    /// Revocation push through the relay (`GATEWAY_PUSH_CLIENT_ID` set).
    push: Option<RelaySync>,
}

thread_local! {
    static GATE: OnceCell<Result<Rc<Gate>, String>> = const { OnceCell::new() };
}

fn now_secs() -> i64 {
    (Date::now().as_millis() / 1000) as i64
}

/// The path and the query (with its `?`) of a URL string.
fn path_and_query(url: &str) -> (&str, &str) {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let rest = url.get(after_scheme..).unwrap_or_default();
    let start = rest.find('/').map_or(rest.len(), |i| i);
    let pq = rest.get(start..).unwrap_or_default();
    let pq = pq.split('#').next().unwrap_or_default();
    match pq.find('?') {
        Some(q) => (
            pq.get(..q).unwrap_or_default(),
            pq.get(q..).unwrap_or_default(),
        ),
        None => (pq, ""),
    }
}

fn gate(env: &Env) -> Result<Rc<Gate>, String> {
    GATE.with(|cell| cell.get_or_init(|| configure(env).map(Rc::new)).clone())
}

fn configure(env: &Env) -> Result<Gate, String> {
    let var = |name: &str| {
        env.var(name)
            .ok()
            .map(|v| v.to_string())
            .filter(|v| !v.is_empty())
    };
    let secret = |name: &str| {
        env.secret(name)
            .ok()
            .map(|v| v.to_string())
            .or_else(|| var(name))
            .filter(|v| !v.is_empty())
    };
    let issuer = var("MCPGATE_ISSUER").ok_or("MCPGATE_ISSUER is not set")?;
    let issuer = issuer.trim_end_matches('/').to_owned();
    let resource = var("GATEWAY_RESOURCE").ok_or("GATEWAY_RESOURCE is not set")?;
    let upstream = var("GATEWAY_UPSTREAM").ok_or("GATEWAY_UPSTREAM is not set")?;
    let identity = secret("GATEWAY_IDENTITY_SECRET").ok_or("GATEWAY_IDENTITY_SECRET is not set")?;
    let signer = IdentitySigner::new(identity.as_bytes())
        .map_err(|_| "GATEWAY_IDENTITY_SECRET must have at least 32 bytes")?;
    let challenges =
        Challenges::for_resource(&resource).map_err(|_| "GATEWAY_RESOURCE is not a URL")?;
    let secs = |name: &str, default: i64| {
        var(name)
            .and_then(|v| v.parse::<i64>().ok())
            .filter(|n| *n >= 1)
            .unwrap_or(default)
    };
    let mut config = GuardConfig::new(issuer.clone(), resource.clone());
    config.revocation_poll_secs = secs(
        "GATEWAY_REVOCATION_POLL_SECS",
        mcpgate_guard::guard::DEFAULT_REVOCATION_POLL_SECS,
    );
    let mcp_path = path_and_query(&resource).0.to_owned();
    let policy_url = format!(
        "{issuer}/resource-policy?resource={}",
        percent_encode(&resource)
    );
    Ok(Gate {
        policy_refresh: secs("GATEWAY_POLICY_REFRESH_SECS", DEFAULT_POLICY_REFRESH_SECS),
        upstream_timeout: Duration::from_secs(secs(
            "GATEWAY_UPSTREAM_TIMEOUT_SECS",
            DEFAULT_UPSTREAM_TIMEOUT_SECS as i64,
        ) as u64),
        guard: Guard::new(config, WorkersFetch::new()),
        fetch: WorkersFetch::new(),
        stats_token: secret("GATEWAY_STATS_TOKEN"),
        prm_path: mcpgate_guard::metadata::protected_resource_metadata_url(&resource)
            .ok()
            .map(|u| path_and_query(&u).0.to_owned()),
        mcp_path: if mcp_path.is_empty() {
            "/".into()
        } else {
            mcp_path
        },
        issuer,
        resource,
        upstream,
        policy_url,
        challenges,
        signer,
        policy: RefCell::new(None),
        policy_next_at: Cell::new(i64::MIN),
        policy_refreshing: Cell::new(None),
        push: var("GATEWAY_PUSH_CLIENT_ID").map(|_| RelaySync::new()),
    })
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Gate {
    /// The tool map, refreshed when due (one refresh at a time; others use the current map).
    /// A failed refresh keeps the previous map; with none yet, `None` (answer 503).
    async fn policy(&self, now: i64) -> Option<Rc<ToolPolicy>> {
        let current = self.policy.borrow().as_ref().map(|(p, _)| p.clone());
        let due = now >= self.policy_next_at.get();
        let in_flight = self
            .policy_refreshing
            .get()
            .is_some_and(|started| now - started < POLICY_FETCH_TIMEOUT_SECS);
        if !due || (in_flight && current.is_some()) {
            return current;
        }
        self.policy_refreshing.set(Some(now));
        let etag = self.policy.borrow().as_ref().map(|(_, e)| e.clone());
        let get = Box::pin(self.fetch.get(&self.policy_url, etag.as_deref()));
        let timeout = Delay::from(Duration::from_secs(POLICY_FETCH_TIMEOUT_SECS as u64));
        let fetched = match select(get, timeout).await {
            Either::Left((r, _)) => r,
            Either::Right(_) => Err(mcpgate_guard::FetchError::new("policy fetch timed out")),
        };
        self.policy_refreshing.set(None);
        match fetched {
            Ok(r) if r.status == 304 && current.is_some() => {
                self.policy_next_at.set(now + self.policy_refresh);
                current
            }
            Ok(r) if r.status == 200 => match serde_json::from_slice::<PolicyDocument>(&r.body) {
                Ok(doc) if doc.resource == self.resource => {
                    let p = Rc::new(ToolPolicy::new(&doc));
                    *self.policy.borrow_mut() = Some((p.clone(), r.etag.unwrap_or_default()));
                    self.policy_next_at.set(now + self.policy_refresh);
                    Some(p)
                }
                _ => {
                    self.policy_next_at.set(now + 1);
                    current
                }
            },
            _ => {
                // Retry soon, but not on every request.
                self.policy_next_at.set(now + 1);
                current
            }
        }
    }
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    let gate = match gate(&env) {
        Ok(g) => g,
        Err(m) => {
            worker::console_error!("gateway misconfigured: {m}");
            return rpc_error(500, None, INTERNAL, "gateway misconfigured");
        }
    };
    let now = now_secs();
    let url = req.inner().url();
    let (path, query) = path_and_query(&url);
    if gate.prm_path.as_deref() == Some(path)
        || path == mcpgate_guard::metadata::PRM_WELL_KNOWN_PATH
    {
        return metadata(&gate, &req, now).await;
    }
    if path == STATS_PATH {
        return stats::read(&gate.stats_token, &req, &env).await;
    }
    if path != gate.mcp_path {
        return rpc_error(404, None, -32600, "not found");
    }
    let query = query.to_owned();
    match req.method() {
        Method::Options => preflight(),
        Method::Post | Method::Get | Method::Delete => {
            proxy(&gate, req, &query, &env, &ctx, now).await
        }
        _ => rpc_error(405, None, -32600, "method not allowed"),
    }
}

/// RFC 9728 protected resource metadata, its scopes from the directory's policy.
async fn metadata(gate: &Gate, req: &Request, now: i64) -> worker::Result<Response> {
    if !matches!(req.method(), Method::Get | Method::Head) {
        return rpc_error(405, None, -32600, "method not allowed");
    }
    let mut md = ProtectedResourceMetadata::new(gate.resource.clone(), gate.issuer.clone());
    if let Some(p) = gate.policy(now).await {
        md = md.with_scopes(p.scopes_supported().iter().cloned());
    }
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    headers.set("cache-control", "public, max-age=60")?;
    headers.set("access-control-allow-origin", "*")?;
    Ok(Response::from_bytes(md.to_json().into_bytes())?.with_headers(headers))
}

fn preflight() -> worker::Result<Response> {
    let headers = Headers::new();
    headers.set("access-control-allow-origin", "*")?;
    headers.set("access-control-allow-methods", "GET, POST, DELETE, OPTIONS")?;
    headers.set(
        "access-control-allow-headers",
        "authorization, content-type, accept, last-event-id, mcp-protocol-version, mcp-session-id, mcp-method, mcp-name",
    )?;
    headers.set("access-control-max-age", "86400")?;
    Ok(Response::empty()?.with_status(204).with_headers(headers))
}

fn cors(headers: &Headers) -> worker::Result<()> {
    headers.set("access-control-allow-origin", "*")?;
    headers.set(
        "access-control-expose-headers",
        "www-authenticate, mcp-session-id, mcp-protocol-version",
    )
}

/// A JSON-RPC error answer with an HTTP status.
fn rpc_error(
    status: u16,
    id: Option<&Value>,
    code: i64,
    message: &str,
) -> worker::Result<Response> {
    let body = json!({
        "jsonrpc": "2.0",
        "id": id.cloned().unwrap_or(Value::Null),
        "error": { "code": code, "message": message },
    });
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    cors(&headers)?;
    Ok(Response::from_bytes(body.to_string().into_bytes())?
        .with_status(status)
        .with_headers(headers))
}

/// A 401/403 with its RFC 6750 challenge and a JSON-RPC error body.
fn challenge(c: Challenge, id: Option<&Value>, message: &str) -> worker::Result<Response> {
    let resp = rpc_error(c.status(), id, UNAUTHORIZED, message)?;
    resp.headers()
        .set("www-authenticate", c.www_authenticate())?;
    Ok(resp)
}

/// Reads at most `max` bytes of the request body; `None` if it is longer.
async fn read_bounded(req: &mut Request, max: usize) -> worker::Result<Option<Vec<u8>>> {
    if req
        .headers()
        .get("content-length")?
        .and_then(|n| n.trim().parse::<u64>().ok())
        .is_some_and(|n| n > max as u64)
    {
        return Ok(None);
    }
    let mut body = Vec::new();
    // A request without a body has no stream: an empty body (answered 400 as not JSON).
    let Ok(mut stream) = req.stream() else {
        return Ok(Some(body));
    };
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        if body.len() + chunk.len() > max {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

async fn proxy(
    gate: &Gate,
    mut req: Request,
    query: &str,
    env: &Env,
    ctx: &Context,
    now: i64,
) -> worker::Result<Response> {
    let method = req.method();
    let body = if method == Method::Post {
        match read_bounded(&mut req, MAX_REQUEST_BYTES).await? {
            Some(b) => Some(b),
            None => return rpc_error(413, None, -32600, "request body too large"),
        }
    } else {
        None
    };
    let header = |name: &str| req.headers().get(name).ok().flatten();
    let inspected: Option<Inspected> = match &body {
        Some(b) => match mcp::inspect(
            b,
            header("mcp-method").as_deref(),
            header("mcp-name").as_deref(),
        ) {
            Ok(i) => Some(i),
            Err(e) => return rpc_error(400, None, e.code(), e.message()),
        },
        None => None,
    };
    let id = inspected.as_ref().and_then(|i| i.id.as_ref());
    let Some(policy) = gate.policy(now).await else {
        return rpc_error(503, id, INTERNAL, "authorization policy unavailable; retry");
    };
    let tool = inspected.as_ref().and_then(Inspected::tool);
    // The scopes a client should ask for: those covering the tool, else every scope.
    let covering = tool.map(|t| policy.covering(t)).unwrap_or_default();
    let needed: Vec<String> = if covering.is_empty() {
        policy.scopes_supported().to_vec()
    } else {
        covering.iter().map(|&c| c.to_owned()).collect()
    };
    // Counted under its own name if the policy covers the tool or the caller holds a valid
    // token; made-up names from callers without one share a bucket, so they cannot crowd the
    // real tools out of the counters.
    let known = !covering.is_empty();
    let count_as = |outcome: &'static str, authenticated: bool| {
        if let Some(t) = tool {
            let name = if known || authenticated {
                t
            } else {
                "(unknown tool)"
            };
            stats::count(env, ctx, name, outcome, now);
        }
    };
    let count = |outcome: &'static str| count_as(outcome, false);
    if let Some(push) = &gate.push {
        push.sync(&gate.guard, env, RELAY_BINDING, now).await;
    }
    let Some(token) = header("authorization").and_then(|h| bearer_token(&h).map(str::to_owned))
    else {
        count("missing_token");
        return challenge(
            gate.challenges.missing_token(&needed),
            id,
            "authorization required",
        );
    };
    let verified: VerifiedToken = match gate.guard.validate(&token, now).await {
        Ok(v) => v,
        Err(e) if e.is_temporary() => {
            count("unavailable");
            return rpc_error(503, id, INTERNAL, "cannot validate tokens now; retry");
        }
        Err(e) => {
            count(if e == TokenError::Revoked {
                "revoked"
            } else {
                "invalid_token"
            });
            return challenge(gate.challenges.invalid_token(&needed), id, "invalid token");
        }
    };
    if let Some(t) = tool {
        if let Err(d) = policy.decide(t, verified.scopes()) {
            count_as(d.reason(), true);
            let scopes: Vec<String> = match &d {
                ToolDenied::Insufficient { scopes } => scopes.clone(),
                ToolDenied::Unmapped => Vec::new(),
            };
            let message = match d {
                ToolDenied::Insufficient { .. } => "insufficient scope for this tool",
                ToolDenied::Unmapped => "this tool is not available through the gateway",
            };
            return challenge(gate.challenges.insufficient_scope(&scopes), id, message);
        }
        count_as("allowed", true);
    }

    // Forward, with the token replaced by the identity assertion.
    let headers = Headers::new();
    for (k, v) in req.headers().entries() {
        if !DROPPED_REQUEST_HEADERS.contains(&k.to_ascii_lowercase().as_str()) {
            headers.append(&k, &v)?;
        }
    }
    headers.set(
        IDENTITY_HEADER,
        &gate
            .signer
            .sign_for(&verified, &gate.resource, &gate.upstream, now),
    )?;
    let mut init = RequestInit::new();
    init.with_method(method)
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual);
    if let Some(b) = &body {
        init.with_body(Some(js_sys::Uint8Array::from(b.as_slice()).into()));
    }
    let target = format!("{}{query}", gate.upstream);
    let upstream_req = Request::new_with_init(&target, &init)?;
    let controller = AbortController::default();
    let signal = controller.signal();
    let fetcher = worker::Fetch::Request(upstream_req);
    let send = Box::pin(fetcher.send_with_signal(&signal));
    let timeout = Delay::from(gate.upstream_timeout);
    let mut upstream = match select(send, timeout).await {
        Either::Left((Ok(r), _)) => r,
        Either::Left((Err(e), _)) => {
            worker::console_warn!("upstream unreachable: {e}");
            count_as("upstream_error", true);
            return rpc_error(502, id, INTERNAL, "upstream MCP server unreachable");
        }
        Either::Right(_) => {
            controller.abort();
            count_as("upstream_timeout", true);
            return rpc_error(
                504,
                id,
                INTERNAL,
                "upstream MCP server did not answer in time",
            );
        }
    };

    let status = upstream.status_code();
    let out = Headers::new();
    for (k, v) in upstream.headers().entries() {
        let k = k.to_ascii_lowercase();
        if !matches!(
            k.as_str(),
            "connection" | "keep-alive" | "transfer-encoding"
        ) {
            // Appended, so repeated headers (Set-Cookie) all pass.
            out.append(&k, &v)?;
        }
    }
    cors(&out)?;
    // Every event stream is filtered, not only a tools/list answer: a GET that resumes a
    // stream (Last-Event-ID) may replay a tools/list answer the POST filtered. A JSON answer
    // is read only for tools/list.
    let is_list = inspected.as_ref().and_then(|i| i.method.as_deref()) == Some("tools/list");
    let ct = upstream.headers().get("content-type")?.unwrap_or_default();
    let sse = ct.starts_with("text/event-stream");
    if !(200..300).contains(&status) || !(sse || is_list) {
        let builder = ResponseBuilder::new().with_status(status).with_headers(out);
        return Ok(match upstream.body() {
            ResponseBody::Stream(s) => builder.stream(s.clone()),
            ResponseBody::Body(b) => builder.fixed(b.clone()),
            ResponseBody::Empty => builder.empty(),
        });
    }
    // Only the tools this token may call.
    let scopes: Vec<String> = verified.scopes().map(str::to_owned).collect();
    let allowed = move |name: &str| {
        policy
            .decide(name, scopes.iter().map(String::as_str))
            .is_ok()
    };
    out.delete("content-length")?;
    out.delete("content-encoding")?;
    if sse {
        let source = upstream.stream()?;
        let filter = SseToolsFilter::new(allowed);
        let stream = futures_util::stream::unfold(
            (source, filter, false),
            |(mut source, mut filter, done)| async move {
                if done {
                    return None;
                }
                match source.next().await {
                    Some(Ok(chunk)) => match filter.push(&chunk) {
                        Ok(out) => Some((Ok(out), (source, filter, false))),
                        Err(_) => Some((
                            Err(worker::Error::RustError("SSE event too large".into())),
                            (source, filter, true),
                        )),
                    },
                    Some(Err(e)) => Some((Err(e), (source, filter, true))),
                    None => Some((Ok(filter.finish()), (source, filter, true))),
                }
            },
        );
        return Ok(Response::from_stream(stream)?
            .with_status(status)
            .with_headers(out));
    }
    let mut bytes = Vec::new();
    let mut source = upstream.stream()?;
    while let Some(chunk) = source.next().await {
        bytes.extend_from_slice(&chunk?);
        if bytes.len() > MAX_LIST_BYTES {
            return rpc_error(502, id, INTERNAL, "upstream tools/list answer too large");
        }
    }
    match mcp::filter_tools_list(&bytes, &allowed) {
        Some(filtered) => Ok(Response::from_bytes(filtered)?
            .with_status(status)
            .with_headers(out)),
        None => rpc_error(
            502,
            id,
            INTERNAL,
            "upstream answered tools/list with something else",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_queries_are_split_without_a_url_parser() {
        assert_eq!(
            path_and_query("https://gw.example/mcp?x=1#f"),
            ("/mcp", "?x=1")
        );
        assert_eq!(path_and_query("http://127.0.0.1:8788"), ("", ""));
        assert_eq!(path_and_query("http://h/a/b"), ("/a/b", ""));
    }

    #[test]
    fn resources_are_percent_encoded_for_the_policy_query() {
        assert_eq!(
            percent_encode("https://gw.example/mcp?a=b"),
            "https%3A%2F%2Fgw.example%2Fmcp%3Fa%3Db"
        );
    }
}
