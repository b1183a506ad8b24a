//! The HTTP layer in front of rmcp's streamable HTTP service: mcpgate access tokens, the MCP
//! authorization spec's challenges, scope step-up, and the access log.
//!
//! [`authorize`] runs for every request to the MCP endpoint (POST, GET and DELETE alike):
//!
//! 1. `Authorization: Bearer <token>` is required and validated by the [`Guard`] (ES256
//!    signature against mcpgate's JWKS, `iss`, `aud` = this resource, `exp`/`nbf`/`iat`,
//!    revocation feed). No token: 401 `Bearer resource_metadata="…", scope="notes.read"`;
//!    a rejected token: the same with `error="invalid_token"`; revocation state too old or no
//!    keys yet ([`TokenError::Unavailable`](mcpgate_guard::TokenError::Unavailable)): 503.
//! 2. A request naming an `Mcp-Session-Id` must come from the subject that opened the session
//!    (else 404, as for an unknown session), so one user's token cannot drive another's session.
//! 3. A POST body is buffered and read as JSON-RPC (one message or a batch). Every
//!    `tools/call` is checked against the [`ScopePolicy`]; if the token lacks a scope, the
//!    request never reaches rmcp and is answered with HTTP 403
//!    `Bearer error="insufficient_scope", scope="<every scope the tools need>",
//!    resource_metadata="…"`: the step-up signal MCP clients act on by re-authorizing. (A tool
//!    error inside a 200 response would leave the client no way to ask for more scopes.)
//! 4. The verified token goes into the request extensions as a [`Caller`]; rmcp hands the
//!    request's `http::request::Parts` to tool handlers, which read it from there.
//!
//! [`access_log`] prints one line per request: method, path, status, subject, duration (and
//! the JSON-RPC methods, and why a request was refused). Tokens are never logged; only the
//! path is, never the query.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use mcpgate_guard::fetch::native::ReqwestFetch;
use mcpgate_guard::mcp::identity::IDENTITY_HEADER;
use mcpgate_guard::mcp::IdentitySigner;
use mcpgate_guard::{
    bearer_token, Challenge, Challenges, Guard, ScopeError, ScopePolicy, VerifiedToken,
};
use serde_json::Value;

use crate::{unix_now, SCOPE_DELETE, SCOPE_READ, SCOPE_WRITE};

/// The session header of the streamable HTTP transport.
pub const MCP_SESSION_ID: &str = "mcp-session-id";

/// Largest POST body accepted (rmcp's own default limit).
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// The scopes named in 401 challenges: every tool's scope. A client asks for all of them once;
/// the user consents once, mcpgate grants only what the user's roles hold, and a role added
/// later reaches the client at its next refresh, without a new consent (mcpgate's grant model).
const BASELINE_SCOPES: [&str; 3] = [SCOPE_READ, SCOPE_WRITE, SCOPE_DELETE];

/// A session unused for this long is forgotten (rmcp closes idle sessions after 5 minutes).
const SESSION_IDLE: Duration = Duration::from_secs(15 * 60);

/// The verified access token of the current request, put in the request extensions by
/// [`authorize`].
#[derive(Debug, Clone)]
pub struct Caller {
    token: Arc<VerifiedToken>,
}

impl Caller {
    /// Wraps a verified token.
    pub fn new(token: VerifiedToken) -> Self {
        Caller {
            token: Arc::new(token),
        }
    }

    /// `sub`: the user (or agent) the token acts for; notes are kept per subject.
    pub fn subject(&self) -> &str {
        self.token.subject()
    }

    /// The whole verified token (client, scopes, actor chain, expiry).
    pub fn token(&self) -> &VerifiedToken {
        &self.token
    }
}

/// Shared state of [`authorize`].
pub struct Auth {
    guard: Arc<Guard<ReqwestFetch>>,
    policy: Arc<ScopePolicy>,
    challenges: Challenges,
    /// An mcpgate gateway's identity assertions are accepted too (signer, this resource).
    gateway: Option<(IdentitySigner, String)>,
    sessions: Mutex<HashMap<String, Binding>>,
}

struct Binding {
    subject: String,
    last_used: Instant,
}

impl Auth {
    /// The layer's state.
    pub fn new(
        guard: Arc<Guard<ReqwestFetch>>,
        policy: Arc<ScopePolicy>,
        challenges: Challenges,
    ) -> Self {
        Auth {
            guard,
            policy,
            challenges,
            gateway: None,
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// Also accepts requests from an mcpgate gateway in front of this server: no bearer token,
    /// an `Mcp-Gate-Identity` assertion signed with the shared secret for `resource` (this
    /// server's URL, the gateway's upstream). The gateway has already validated the client's
    /// token for its own resource and checked revocation.
    pub fn trusting_gateway(mut self, signer: IdentitySigner, resource: String) -> Self {
        self.gateway = Some((signer, resource));
        self
    }

    fn sessions(&self) -> MutexGuard<'_, HashMap<String, Binding>> {
        // A panic while holding the lock cannot leave the map inconsistent.
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True if session `id` was opened by `subject` (and marks it used).
    fn session_belongs_to(&self, id: &str, subject: &str) -> bool {
        match self.sessions().get_mut(id) {
            Some(b) if b.subject == subject => {
                b.last_used = Instant::now();
                true
            }
            _ => false,
        }
    }

    fn bind_session(&self, id: &str, subject: &str) {
        let now = Instant::now();
        let mut sessions = self.sessions();
        sessions.retain(|_, b| now.duration_since(b.last_used) < SESSION_IDLE);
        sessions.insert(
            id.to_owned(),
            Binding {
                subject: subject.to_owned(),
                last_used: now,
            },
        );
    }

    fn unbind_session(&self, id: &str) {
        self.sessions().remove(id);
    }

    /// The scopes to demand in a 403 if `token` may not call every tool in `calls`: all scopes
    /// the called tools require (not only the missing ones), in policy order. `None` if the
    /// token suffices. Unknown tools are left to rmcp, which answers them as MCP errors.
    fn step_up(&self, calls: &[RpcCall], token: &VerifiedToken) -> Option<Vec<String>> {
        let mut required: Vec<String> = Vec::new();
        let mut denied = false;
        for tool in calls.iter().filter_map(|c| c.tool.as_deref()) {
            match self.policy.authorize(tool, token) {
                Err(ScopeError::Insufficient { .. }) => denied = true,
                Err(ScopeError::UnknownTool) => continue,
                Ok(()) => {}
            }
            for scope in self.policy.required(tool).unwrap_or_default() {
                if !required.contains(scope) {
                    required.push(scope.clone());
                }
            }
        }
        denied.then_some(required)
    }
}

/// One JSON-RPC message of a request body, as far as the access log and the scope check care.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RpcCall {
    method: String,
    /// `params.name` of a `tools/call`.
    tool: Option<String>,
}

/// The JSON-RPC requests and notifications in a body (one message or a batch). A body that is
/// not JSON yields nothing: rmcp answers it with a parse error.
fn rpc_calls(body: &[u8]) -> Vec<RpcCall> {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return Vec::new();
    };
    let messages = match value {
        Value::Array(items) => items,
        one => vec![one],
    };
    messages
        .iter()
        .filter_map(|m| {
            let method = m.get("method")?.as_str()?.to_owned();
            let tool = (method == "tools/call")
                .then(|| m.get("params")?.get("name")?.as_str().map(str::to_owned))
                .flatten();
            Some(RpcCall { method, tool })
        })
        .collect()
}

/// What [`access_log`] prints besides method, path and status; set by [`authorize`] in the
/// response extensions.
#[derive(Debug, Clone, Default)]
struct LogNote {
    subject: Option<String>,
    rpc: Vec<RpcCall>,
    refused: Option<String>,
}

/// The authorization middleware of the MCP endpoint (see the module documentation).
pub async fn authorize(State(auth): State<Arc<Auth>>, request: Request, next: Next) -> Response {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token);
    let assertion = request
        .headers()
        .get(IDENTITY_HEADER)
        .and_then(|v| v.to_str().ok());
    let from_gateway = match (&auth.gateway, token, assertion) {
        (Some((signer, resource)), None, Some(jwt)) => {
            match signer.verify(jwt, resource, unix_now()) {
                Ok(claims) => Some(claims.into_verified_token()),
                Err(e) => {
                    let c = auth.challenges.missing_token(&BASELINE_SCOPES);
                    let why = format!("gateway identity refused: {e:?}");
                    return refuse(challenge_response(c), None, Vec::new(), &why);
                }
            }
        }
        _ => None,
    };
    let verified = match (from_gateway, token) {
        (Some(v), _) => Ok(v),
        (None, Some(token)) => auth.guard.validate(token, unix_now()).await,
        (None, None) => {
            let c = auth.challenges.missing_token(&BASELINE_SCOPES);
            return refuse(challenge_response(c), None, Vec::new(), "no bearer token");
        }
    };
    let verified = match verified {
        Ok(v) => v,
        Err(e) => {
            let response = match auth.challenges.for_token_error(&e, &BASELINE_SCOPES) {
                Some(c) => challenge_response(c),
                None => unavailable_response(),
            };
            return refuse(response, None, Vec::new(), &e.to_string());
        }
    };
    let caller = Caller::new(verified);
    let subject = caller.subject().to_owned();

    let session = request
        .headers()
        .get(MCP_SESSION_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(id) = &session {
        if !auth.session_belongs_to(id, &subject) {
            let response = (StatusCode::NOT_FOUND, "Not Found: Session not found").into_response();
            return refuse(
                response,
                Some(subject),
                Vec::new(),
                "unknown session, or opened by another subject",
            );
        }
    }

    let (mut parts, body) = request.into_parts();
    let mut rpc = Vec::new();
    let body = if parts.method == Method::POST {
        let Ok(bytes) = to_bytes(body, MAX_BODY_BYTES).await else {
            let response = (StatusCode::PAYLOAD_TOO_LARGE, "Payload Too Large").into_response();
            return refuse(response, Some(subject), rpc, "body too large");
        };
        rpc = rpc_calls(&bytes);
        if let Some(required) = auth.step_up(&rpc, caller.token()) {
            let c = auth.challenges.insufficient_scope(&required);
            return refuse(
                challenge_response(c),
                Some(subject),
                rpc,
                "insufficient scope",
            );
        }
        Body::from(bytes)
    } else {
        body
    };
    parts.extensions.insert(caller);
    let is_delete = parts.method == Method::DELETE;

    let mut response = next.run(Request::from_parts(parts, body)).await;

    match &session {
        // A request without a session that got one opened it (an `initialize`).
        None => {
            if let Some(id) = response
                .headers()
                .get(MCP_SESSION_ID)
                .and_then(|v| v.to_str().ok())
            {
                auth.bind_session(id, &subject);
            }
        }
        Some(id) if is_delete && response.status().is_success() => auth.unbind_session(id),
        Some(_) => {}
    }
    response.extensions_mut().insert(LogNote {
        subject: Some(subject),
        rpc,
        refused: None,
    });
    response
}

fn refuse(
    mut response: Response,
    subject: Option<String>,
    rpc: Vec<RpcCall>,
    why: &str,
) -> Response {
    response.extensions_mut().insert(LogNote {
        subject,
        rpc,
        refused: Some(why.to_owned()),
    });
    response
}

/// 401 or 403 with the challenge, and a short JSON body for humans.
fn challenge_response(c: Challenge) -> Response {
    let status = StatusCode::from_u16(c.status()).unwrap_or(StatusCode::UNAUTHORIZED);
    let (error, description) = match status {
        StatusCode::FORBIDDEN => (
            "insufficient_scope",
            "the access token lacks a scope this call requires; re-authorize with the scopes in WWW-Authenticate",
        ),
        _ => (
            "invalid_token",
            "a valid mcpgate access token for this resource is required; see WWW-Authenticate",
        ),
    };
    let Ok(value) = HeaderValue::from_str(c.www_authenticate()) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let body = serde_json::json!({ "error": error, "error_description": description });
    (
        status,
        [
            (header::WWW_AUTHENTICATE, value),
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body.to_string(),
    )
        .into_response()
}

/// 503: the guard cannot decide (no keys yet, or the revocation state is too old because
/// mcpgate has been unreachable). The token may be fine: the client should retry, not discard
/// it, so there is no challenge.
fn unavailable_response() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [
            (header::RETRY_AFTER, HeaderValue::from_static("5")),
            (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        r#"{"error":"temporarily_unavailable","error_description":"cannot check access tokens right now"}"#,
    )
        .into_response()
}

/// Logs one line per request. Put it outside every other layer.
pub async fn access_log(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let note = response
        .extensions()
        .get::<LogNote>()
        .cloned()
        .unwrap_or_default();
    let rpc = note
        .rpc
        .iter()
        .map(|c| match &c.tool {
            Some(tool) => format!("{} {tool}", c.method),
            None => c.method.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let rpc = if rpc.is_empty() {
        rpc
    } else {
        format!(" rpc={rpc:?}")
    };
    let refused = note
        .refused
        .map(|why| format!(" refused={why:?}"))
        .unwrap_or_default();
    let ms = started.elapsed().as_millis();
    // `{:?}` quotes and escapes the subject: it comes from a signed token, but is still
    // outside data and must not be able to forge log lines.
    tracing::info!(
        target: "notes_mcp::access",
        "{method} {path} {status} sub={sub:?}{rpc}{refused} {ms}ms",
        status = response.status().as_u16(),
        sub = note.subject.as_deref().unwrap_or("-"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tool_calls_from_single_messages_and_batches() {
        let one = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_note","arguments":{"id":"n1"}}}"#;
        assert_eq!(
            rpc_calls(one),
            [RpcCall {
                method: "tools/call".into(),
                tool: Some("delete_note".into())
            }]
        );
        let batch = br#"[{"jsonrpc":"2.0","id":1,"method":"tools/list"},
            {"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"read_note"}},
            {"jsonrpc":"2.0","id":3,"result":{}}]"#;
        let calls = rpc_calls(batch);
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[1].tool.as_deref(), Some("read_note"));
        assert!(rpc_calls(b"not json").is_empty());
    }
}
