//! # notes-mcp
//!
//! A small MCP server (streamable HTTP transport, official `rmcp` SDK) whose every request is
//! authorized by mcpgate access tokens, validated locally with `mcpgate-guard`:
//!
//! - [`auth`]: the HTTP layer in front of rmcp: bearer token → [`Caller`], 401/403/503 with
//!   the `WWW-Authenticate` challenges of the MCP authorization spec, scope step-up for
//!   `tools/call`, sessions bound to their subject, one access-log line per request;
//! - [`notes`]: the MCP tools and the in-memory, per-subject note store;
//! - [`serve`]: routes (`/mcp` and the RFC 9728 protected resource metadata), background
//!   refresh of the JWKS and revocation feed, graceful shutdown.

pub mod auth;
pub mod notes;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{middleware, Router};
use mcpgate_guard::fetch::native::ReqwestFetch;
use mcpgate_guard::metadata::PRM_WELL_KNOWN_PATH;
use mcpgate_guard::{
    protected_resource_metadata_url, Challenges, Guard, GuardConfig, ProtectedResourceMetadata,
    ScopePolicy,
};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

pub use auth::Caller;
pub use notes::NotesServer;

/// Read notes: `list_notes`, `read_note`.
pub const SCOPE_READ: &str = "notes.read";
/// Create and edit notes: `create_note`, `update_note`. Implies [`SCOPE_READ`].
pub const SCOPE_WRITE: &str = "notes.write";
/// Delete notes: `delete_note`.
pub const SCOPE_DELETE: &str = "notes.delete";

/// Human-readable name in the protected resource metadata.
pub const RESOURCE_NAME: &str = "Notes (mcpgate example MCP server)";

/// Default canonical URL of this server (and audience of its tokens).
pub const DEFAULT_RESOURCE: &str = "http://127.0.0.1:8788/mcp";

/// Runtime configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The mcpgate issuer identifier, e.g. `http://127.0.0.1:8787`.
    pub issuer: String,
    /// This server's canonical URL: the MCP endpoint, and the only accepted token audience.
    pub resource: String,
    /// Seconds between polls of mcpgate's revocation feed.
    pub revocation_poll_secs: u64,
    /// Client id and secret to subscribe to mcpgate's revocation push channel with (a client
    /// allowed to introspect this server's tokens); `None`: polling only.
    pub push: Option<(String, String)>,
    /// The secret an mcpgate gateway in front of this server signs its identity assertions
    /// with (`Mcp-Gate-Identity`); `None`: only bearer tokens are accepted.
    pub gateway_secret: Option<String>,
}

impl Config {
    /// A configuration with the guard's default revocation poll interval (10 s).
    pub fn new(issuer: impl Into<String>, resource: impl Into<String>) -> Self {
        Config {
            issuer: issuer.into(),
            resource: resource.into(),
            revocation_poll_secs: mcpgate_guard::guard::DEFAULT_REVOCATION_POLL_SECS.unsigned_abs(),
            push: None,
            gateway_secret: None,
        }
    }
}

/// Why the server could not start.
#[derive(Debug)]
pub enum StartError {
    /// `--resource` is not an absolute http(s) URL without query or fragment.
    BadResource(String),
    /// `--issuer` is not an absolute http(s) URL.
    BadIssuer(String),
    /// Building the HTTP client for the JWKS and the revocation feed failed.
    Fetch(String),
    /// The gateway secret is shorter than 32 bytes.
    WeakGatewaySecret,
    /// Serving failed.
    Io(std::io::Error),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::BadResource(why) => write!(f, "invalid resource URL: {why}"),
            StartError::BadIssuer(why) => write!(f, "invalid issuer URL: {why}"),
            StartError::Fetch(why) => write!(f, "HTTP client: {why}"),
            StartError::WeakGatewaySecret => {
                f.write_str("the gateway secret needs at least 32 bytes")
            }
            StartError::Io(e) => write!(f, "server: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// The tool → scope policy, also the source of `scopes_supported`.
pub fn scope_policy() -> ScopePolicy {
    ScopePolicy::builder()
        .implies(SCOPE_WRITE, SCOPE_READ)
        .tool("list_notes", [SCOPE_READ])
        .tool("read_note", [SCOPE_READ])
        .tool("create_note", [SCOPE_WRITE])
        .tool("update_note", [SCOPE_WRITE])
        .tool("delete_note", [SCOPE_DELETE])
        .build()
}

/// Paths derived from the resource URL.
#[derive(Debug, Clone)]
struct Paths {
    /// The MCP endpoint (the resource URL's path).
    mcp: String,
    /// Where the protected resource metadata is (RFC 9728 §3.1 path-inserted location).
    metadata: String,
    /// The resource URL's host, for rmcp's DNS-rebinding `Host` check.
    host: String,
}

fn paths(resource: &str) -> Result<Paths, StartError> {
    let bad = |why: &str| StartError::BadResource(format!("{resource}: {why}"));
    let uri: Uri = resource.parse().map_err(|_| bad("not a URL"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(bad("scheme must be https (or http for local development)"));
    }
    if uri.query().is_some() || resource.contains('#') {
        return Err(bad("must not have a query or fragment"));
    }
    let host = uri.host().ok_or_else(|| bad("no host"))?.to_owned();
    // Plain path characters only: the path becomes an axum route, where `{`, `}` and `*`
    // have a meaning.
    if !uri
        .path()
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/-._~%".contains(&b))
    {
        return Err(bad("path may only contain letters, digits and / - . _ ~ %"));
    }
    let metadata_url =
        protected_resource_metadata_url(resource).map_err(|e| bad(&e.to_string()))?;
    let metadata: Uri = metadata_url.parse().map_err(|_| bad("bad metadata URL"))?;
    Ok(Paths {
        mcp: uri.path().to_owned(),
        metadata: metadata.path().to_owned(),
        host,
    })
}

/// Unix time in seconds (the guard never reads a clock itself).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Serves notes-mcp on `listener` until `shutdown` completes, then stops accepting
/// connections, ends open MCP sessions and SSE streams, and returns.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let paths = paths(&config.resource)?;
    let issuer: Uri = config
        .issuer
        .parse()
        .map_err(|_| StartError::BadIssuer(config.issuer.clone()))?;
    if !matches!(issuer.scheme_str(), Some("http" | "https")) || issuer.host().is_none() {
        return Err(StartError::BadIssuer(config.issuer.clone()));
    }
    let fetch = ReqwestFetch::new().map_err(|e| StartError::Fetch(e.to_string()))?;
    let poll_secs = config.revocation_poll_secs.max(1);
    let mut guard_config = GuardConfig::new(config.issuer.clone(), config.resource.clone());
    let poll = i64::try_from(poll_secs).unwrap_or(i64::MAX);
    guard_config.revocation_poll_secs = poll;
    // Refuse to decide (503) once the revocation state is older than ten missed polls (at
    // least the guard's default 5 minutes): a revocation must not go unnoticed for long.
    guard_config.validator.revocation_max_age_secs = Some(poll.saturating_mul(10).max(300));
    let guard = Arc::new(Guard::new(guard_config, fetch));
    let policy = Arc::new(scope_policy());
    let challenges = Challenges::for_resource(&config.resource)
        .map_err(|e| StartError::BadResource(e.to_string()))?;

    // First fetch of the JWKS and the feed now, so the first request does not pay for it; a
    // failure is not fatal (mcpgate may start later): requests get 503 until it succeeds.
    match guard.refresh(unix_now()).await {
        Ok(()) => tracing::info!(issuer = %config.issuer, "loaded mcpgate keys and revocations"),
        Err(e) => tracing::warn!(issuer = %config.issuer, error = %e,
            "cannot reach mcpgate yet; answering 503 until it can"),
    }

    let cancel = CancellationToken::new();
    // Keep the JWKS and revocation state fresh off the request path too, so a revocation
    // applies within one poll interval even on an idle server.
    let refresher = {
        let guard = guard.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(poll_secs));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = tick.tick() => guard.refresh_due(unix_now()).await,
                }
            }
        })
    };

    // Revocations pushed by mcpgate's hub arrive at once; polling stays on as the fallback.
    let pusher = match &config.push {
        None => None,
        Some((id, secret)) => {
            let push = mcpgate_guard::push::PushConfig::new(&config.issuer, id, secret)
                .map_err(|_| StartError::BadIssuer(config.issuer.clone()))?;
            let guard = guard.clone();
            let cancel = cancel.clone();
            tracing::info!(url = %push.url, "subscribing to revocation push");
            Some(tokio::spawn(async move {
                tokio::select! {
                    _ = cancel.cancelled() => {}
                    _ = mcpgate_guard::push::run(&guard, &push, unix_now, |e| {
                        tracing::warn!(error = %e, "revocation push");
                    }) => {}
                }
            }))
        }
    };

    let mcp_config = StreamableHttpServerConfig::default()
        .with_allowed_hosts([paths.host.clone()])
        .with_cancellation_token(cancel.child_token());
    let store = Arc::new(notes::NoteStore::default());
    let mcp = StreamableHttpService::new(
        {
            let policy = policy.clone();
            move || Ok(NotesServer::new(store.clone(), policy.clone()))
        },
        Arc::new(LocalSessionManager::default()),
        mcp_config,
    );
    let mut auth = auth::Auth::new(guard, policy.clone(), challenges);
    if let Some(secret) = &config.gateway_secret {
        let signer = mcpgate_guard::mcp::IdentitySigner::new(secret.as_bytes())
            .map_err(|_| StartError::WeakGatewaySecret)?;
        auth = auth.trusting_gateway(signer, config.resource.clone());
    }
    let auth = Arc::new(auth);

    let metadata = ProtectedResourceMetadata::new(config.resource.clone(), config.issuer.clone())
        .with_scopes(policy.scopes_supported().iter().cloned())
        .with_resource_name(RESOURCE_NAME)
        .to_json();
    let metadata_route = get(move || {
        let body = metadata.clone();
        async move { metadata_response(body) }
    })
    .options(metadata_preflight);

    let mut app = Router::new().route(&paths.metadata, metadata_route.clone());
    if paths.metadata != PRM_WELL_KNOWN_PATH {
        app = app.route(PRM_WELL_KNOWN_PATH, metadata_route);
    }
    let mcp_routes = Router::new()
        .route_service(&paths.mcp, mcp)
        .layer(middleware::from_fn_with_state(auth, auth::authorize));
    let app = app
        .merge(mcp_routes)
        .layer(middleware::from_fn(auth::access_log));

    let local = listener.local_addr().map_err(StartError::Io)?;
    tracing::info!(%local, resource = %config.resource, issuer = %config.issuer,
        "notes-mcp listening");
    let stop = cancel.clone();
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down");
            // Ends MCP sessions and their SSE streams, which would otherwise keep connections
            // open and the graceful shutdown waiting forever.
            stop.cancel();
        })
        .await;
    cancel.cancel();
    let _ = refresher.await;
    if let Some(p) = pusher {
        let _ = p.await;
    }
    result.map_err(StartError::Io)
}

fn metadata_response(body: String) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
        ],
        body,
    )
        .into_response()
}

/// CORS preflight for browser-based MCP clients fetching the metadata with custom headers
/// (e.g. `MCP-Protocol-Version`).
async fn metadata_preflight() -> Response {
    (
        StatusCode::NO_CONTENT,
        [
            (
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            ),
            (
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, OPTIONS"),
            ),
            (
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("*"),
            ),
            (
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("86400"),
            ),
        ],
    )
        .into_response()
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_rfc9728_path_insertion() {
        let p = paths("http://127.0.0.1:8788/mcp").unwrap();
        assert_eq!(p.mcp, "/mcp");
        assert_eq!(p.metadata, "/.well-known/oauth-protected-resource/mcp");
        assert_eq!(p.host, "127.0.0.1");
        assert!(paths("ftp://x/mcp").is_err());
        assert!(paths("https://x/mcp?a=b").is_err());
        assert!(paths("https://x/{tool}").is_err());
        assert_eq!(
            paths("https://notes.example.com").unwrap().metadata,
            "/.well-known/oauth-protected-resource"
        );
    }

    #[test]
    fn write_implies_read_but_not_delete() {
        let p = scope_policy();
        assert!(p.authorize_scopes("read_note", ["notes.write"]).is_ok());
        assert!(p.authorize_scopes("delete_note", ["notes.write"]).is_err());
        assert_eq!(
            p.scopes_supported(),
            ["notes.delete", "notes.read", "notes.write"]
        );
    }
}
