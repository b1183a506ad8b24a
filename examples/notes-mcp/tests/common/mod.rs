//! Test support: a fixture mcpgate issuer (JWKS + signed revocation feed), token minting,
//! notes-mcp started in-process on a free port, and a minimal MCP client over HTTP.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use jwt_compact::{alg::Es256, AlgorithmExt as _, Claims, Header};
use mcpgate_guard::revocation::{RevocationEntry, RevocationFeed, RevocationKind};
use mcpgate_guard::{AccessClaims, Audience, EcPublicJwk};
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{json, Value};
use tokio::sync::oneshot;

pub fn now() -> i64 {
    notes_mcp::unix_now()
}

/// What the fixture issuer serves.
struct IssuerState {
    base: String,
    key: SigningKey,
    kid: String,
    revocations: Mutex<Vec<RevocationEntry>>,
    feed_down: AtomicBool,
}

/// A stand-in for mcpgate: `/.well-known/jwks.json` and `/revocations`, signed with a test key.
pub struct Issuer {
    state: Arc<IssuerState>,
}

impl Issuer {
    pub async fn start() -> Issuer {
        Issuer::start_with(false).await
    }

    /// An issuer whose revocation feed answers 500.
    pub async fn start_with_feed_down() -> Issuer {
        Issuer::start_with(true).await
    }

    async fn start_with(feed_down: bool) -> Issuer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let key = SigningKey::from_bytes(&[7u8; 32].into()).unwrap();
        let kid = EcPublicJwk::from_key(key.verifying_key()).kid.unwrap();
        let state = Arc::new(IssuerState {
            base,
            key,
            kid,
            revocations: Mutex::new(Vec::new()),
            feed_down: AtomicBool::new(feed_down),
        });
        let app = Router::new()
            .route("/.well-known/jwks.json", get(jwks))
            .route("/revocations", get(revocations))
            .with_state(state.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Issuer { state }
    }

    pub fn url(&self) -> &str {
        &self.state.base
    }

    /// Revokes every token of `client_id` issued until now (a `client` feed entry).
    pub fn revoke_client(&self, client_id: &str) {
        let t = now();
        self.state
            .revocations
            .lock()
            .unwrap()
            .push(RevocationEntry {
                kind: RevocationKind::Client,
                id: client_id.into(),
                revoked_at: t,
                expires_at: t + 3600,
            });
    }

    /// A token as mcpgate mints it: ES256, `typ: at+jwt`, `kid` = RFC 7638 thumbprint.
    pub fn mint(&self, spec: &TokenSpec) -> String {
        let header = Header::empty()
            .with_key_id(self.state.kid.clone())
            .with_token_type("at+jwt");
        let mut claims = Claims::new(AccessClaims {
            iss: self.state.base.clone(),
            sub: spec.sub.clone(),
            aud: Audience::One(spec.aud.clone()),
            client_id: spec.client_id.clone(),
            scope: spec.scope.clone(),
            jti: format!("jti-{}-{}", spec.sub, rand_suffix()),
            act: None,
            fam: None,
        });
        claims.issued_at = chrono::DateTime::from_timestamp(spec.iat, 0);
        claims.expiration = chrono::DateTime::from_timestamp(spec.exp, 0);
        Es256.token(&header, &claims, &self.state.key).unwrap()
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::AtomicU64;
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

async fn jwks(State(s): State<Arc<IssuerState>>) -> Response {
    let jwk = EcPublicJwk::from_key(s.key.verifying_key());
    (
        [
            (header::CACHE_CONTROL, "public, max-age=300"),
            (header::CONTENT_TYPE, "application/json"),
        ],
        json!({ "keys": [jwk] }).to_string(),
    )
        .into_response()
}

/// Always the full state (allowed for `?since=` too): `seq` = number of entries.
async fn revocations(State(s): State<Arc<IssuerState>>) -> Response {
    if s.feed_down.load(Ordering::SeqCst) {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let entries = s.revocations.lock().unwrap().clone();
    let feed = RevocationFeed {
        iss: s.base.clone(),
        iat: now(),
        seq: entries.len() as u64,
        full: true,
        since: 0,
        more: false,
        entries,
    };
    let header = json!({"alg": "ES256", "typ": "revocations+jwt", "kid": s.kid});
    let input = format!(
        "{}.{}",
        B64.encode(serde_json::to_vec(&header).unwrap()),
        B64.encode(serde_json::to_vec(&feed).unwrap())
    );
    let sig: Signature = s.key.sign(input.as_bytes());
    let jws = format!("{input}.{}", B64.encode(sig.to_bytes()));
    ([(header::CACHE_CONTROL, "public, max-age=5")], jws).into_response()
}

/// The claims of a test token.
#[derive(Debug, Clone)]
pub struct TokenSpec {
    pub sub: String,
    pub client_id: String,
    pub scope: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
}

impl TokenSpec {
    /// `sub`, client `app-1`, `scope`, for `aud`, issued 5 s ago, valid 10 minutes.
    pub fn new(sub: &str, scope: &str, aud: &str) -> Self {
        let t = now();
        TokenSpec {
            sub: sub.into(),
            client_id: "app-1".into(),
            scope: scope.into(),
            aud: aud.into(),
            iat: t - 5,
            exp: t + 600,
        }
    }

    pub fn client(mut self, client_id: &str) -> Self {
        self.client_id = client_id.into();
        self
    }
}

/// notes-mcp running in this process on a free port.
pub struct Notes {
    pub addr: SocketAddr,
    pub resource: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), notes_mcp::StartError>>>,
}

impl Notes {
    pub async fn start(issuer: &Issuer) -> Notes {
        Notes::start_with_poll(issuer, 30).await
    }

    pub async fn start_with_poll(issuer: &Issuer, revocation_poll_secs: u64) -> Notes {
        Notes::start_with(issuer, revocation_poll_secs, None).await
    }

    /// A server that also accepts an mcpgate gateway's identity assertions signed with `secret`.
    pub async fn start_trusting_gateway(issuer: &Issuer, secret: &str) -> Notes {
        Notes::start_with(issuer, 30, Some(secret.to_owned())).await
    }

    async fn start_with(
        issuer: &Issuer,
        revocation_poll_secs: u64,
        gateway_secret: Option<String>,
    ) -> Notes {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let resource = format!("http://{addr}/mcp");
        let config = notes_mcp::Config {
            issuer: issuer.url().to_owned(),
            resource: resource.clone(),
            revocation_poll_secs,
            push: None,
            gateway_secret,
        };
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(notes_mcp::serve(listener, config, async move {
            let _ = rx.await;
        }));
        Notes {
            addr,
            resource,
            stop: Some(tx),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn metadata_url(&self) -> String {
        self.url("/.well-known/oauth-protected-resource/mcp")
    }

    /// A token for this server (the right audience).
    pub fn token(&self, issuer: &Issuer, sub: &str, scope: &str) -> String {
        issuer.mint(&TokenSpec::new(sub, scope, &self.resource))
    }

    pub fn client(&self, token: &str) -> Mcp {
        Mcp::new(self.resource.clone(), Some(token.to_owned()))
    }

    /// Stops the server gracefully and waits for it to return.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .expect("graceful shutdown within 10 s")
                .unwrap()
                .unwrap();
        }
    }
}

/// An MCP client over streamable HTTP: JSON-RPC POSTs, SSE-framed or JSON answers, the
/// `Mcp-Session-Id` and `MCP-Protocol-Version` headers after `initialize`.
pub struct Mcp {
    pub http: reqwest::Client,
    pub url: String,
    pub token: Option<String>,
    /// An `Mcp-Gate-Identity` assertion sent with every request (as a gateway would).
    pub identity: Option<String>,
    pub session: Option<String>,
    pub protocol_version: Option<String>,
    next_id: u64,
}

/// An HTTP answer to a JSON-RPC POST.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub www_authenticate: Option<String>,
    pub session: Option<String>,
    /// The JSON-RPC response with the request's id, if the call got that far.
    pub message: Option<Value>,
}

pub const PROTOCOL_VERSION: &str = "2025-11-25";

impl Mcp {
    pub fn new(url: String, token: Option<String>) -> Self {
        Mcp {
            http: reqwest::Client::new(),
            url,
            token,
            identity: None,
            session: None,
            protocol_version: None,
            next_id: 1,
        }
    }

    fn request(&self, method: reqwest::Method) -> reqwest::RequestBuilder {
        let mut r = self
            .http
            .request(method, &self.url)
            .header("accept", "application/json, text/event-stream");
        if let Some(t) = &self.token {
            r = r.header("authorization", format!("Bearer {t}"));
        }
        if let Some(s) = &self.session {
            r = r.header("mcp-session-id", s);
        }
        if let Some(i) = &self.identity {
            r = r.header("mcp-gate-identity", i);
        }
        if let Some(v) = &self.protocol_version {
            r = r.header("mcp-protocol-version", v);
        }
        r
    }

    /// POSTs one JSON-RPC message; for a request, reads the answer until its response.
    pub async fn post(&mut self, message: Value) -> Answer {
        let id = message.get("id").cloned();
        let response = self
            .request(reqwest::Method::POST)
            .header("content-type", "application/json")
            .body(message.to_string())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        let www_authenticate = header("www-authenticate");
        let session = header("mcp-session-id");
        let content_type = header("content-type").unwrap_or_default();
        let message = match id {
            Some(id) if content_type.starts_with("text/event-stream") => {
                read_sse_until(response, &id).await
            }
            Some(_) if content_type.starts_with("application/json") => {
                serde_json::from_str(&response.text().await.unwrap()).ok()
            }
            _ => None,
        };
        Answer {
            status,
            www_authenticate,
            session,
            message,
        }
    }

    pub async fn rpc(&mut self, method: &str, params: Value) -> Answer {
        let id = self.next_id;
        self.next_id += 1;
        self.post(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await
    }

    /// `initialize` + `notifications/initialized`; keeps the session id.
    pub async fn initialize(&mut self) -> Value {
        let answer = self
            .rpc(
                "initialize",
                json!({
                    "protocolVersion": PROTOCOL_VERSION,
                    "capabilities": {},
                    "clientInfo": {"name": "notes-mcp-tests", "version": "0"}
                }),
            )
            .await;
        assert_eq!(answer.status, 200, "initialize: {answer:?}");
        self.session = answer.session.clone();
        assert!(self.session.is_some(), "initialize opened no session");
        let result = answer.message.unwrap()["result"].clone();
        self.protocol_version = Some(result["protocolVersion"].as_str().unwrap().to_owned());
        let note = self
            .post(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        assert_eq!(note.status, 202, "notifications/initialized: {note:?}");
        result
    }

    pub async fn list_tools(&mut self) -> Answer {
        self.rpc("tools/list", json!({})).await
    }

    pub async fn call(&mut self, tool: &str, arguments: Value) -> Answer {
        self.rpc("tools/call", json!({"name": tool, "arguments": arguments}))
            .await
    }

    /// Calls a tool that must succeed; returns its `structuredContent`.
    pub async fn call_ok(&mut self, tool: &str, arguments: Value) -> Value {
        let answer = self.call(tool, arguments).await;
        assert_eq!(answer.status, 200, "{tool}: {answer:?}");
        let result = answer.message.as_ref().unwrap()["result"].clone();
        assert_eq!(result["isError"], json!(false), "{tool}: {result}");
        result["structuredContent"].clone()
    }

    /// Calls a tool that must fail as a tool error (`isError: true`); returns its text.
    pub async fn call_tool_error(&mut self, tool: &str, arguments: Value) -> String {
        let answer = self.call(tool, arguments).await;
        assert_eq!(answer.status, 200, "{tool}: {answer:?}");
        let result = answer.message.as_ref().unwrap()["result"].clone();
        assert_eq!(result["isError"], json!(true), "{tool}: {result}");
        result["content"][0]["text"].as_str().unwrap().to_owned()
    }

    /// A bare request with this client's headers (for GET and DELETE).
    pub async fn send(&self, method: reqwest::Method) -> reqwest::Response {
        self.request(method).send().await.unwrap()
    }
}

/// Reads SSE events until one carries a JSON-RPC message with `id` (priming events have no
/// data; keep-alives are comments). Gives up after 10 s.
async fn read_sse_until(mut response: reqwest::Response, id: &Value) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut buffer = String::new();
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            let data: Vec<&str> = event
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(|d| d.strip_prefix(' ').unwrap_or(d))
                .collect();
            if data.is_empty() {
                continue;
            }
            if let Ok(message) = serde_json::from_str::<Value>(&data.join("\n")) {
                if message.get("id") == Some(id) {
                    return Some(message);
                }
            }
        }
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .ok()?
            .ok()??;
        buffer.push_str(&String::from_utf8_lossy(&chunk).replace("\r\n", "\n"));
    }
}

/// The `error` and `scope` parameters of a challenge, for readable assertions.
pub fn challenge_param(www_authenticate: &str, name: &str) -> Option<String> {
    let start = www_authenticate.find(&format!("{name}=\""))? + name.len() + 2;
    let rest = &www_authenticate[start..];
    Some(rest[..rest.find('"')?].to_owned())
}
