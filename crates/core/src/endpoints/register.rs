//! Dynamic client registration (RFC 7591) and its management protocol (RFC 7592).
//!
//! Registered clients act for users only (authorization code, optionally refresh). A
//! registration is restricted to the resource servers that accepted self-registered clients at
//! that moment, so a server that refuses them later is never reachable through an earlier
//! registration, and one that refused them then is not reachable either. Admins see these
//! clients as kind `dynamic` and can give them roles, disable or delete them.

use http::{header, HeaderValue, StatusCode};
use rand_core::CryptoRngCore;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::crypto::Crypto;
use crate::directory::audit;
use crate::directory::clients::{self, Client, NewClient, GRANT_CODE, GRANT_REFRESH};
use crate::policy::redirect::{self, AppType};
use crate::revocation;
use crate::secret::{generate_secret, verify_digest};
use crate::service::Service;
use crate::store::{rate_counters, Results, Store};
use crate::uri::AbsoluteUri;
use crate::wire::{json as json_response, no_store, Error, Request, Response};

/// Path of the registration endpoint below the issuer.
pub const PATH: &str = "/register";
/// Rate-limit window (seconds).
pub const WINDOW_SECS: i64 = 3600;

/// Why a registration was refused (RFC 7591 §3.2.2).
#[derive(Debug)]
pub enum RegError {
    /// `invalid_redirect_uri`.
    RedirectUri(String),
    /// `invalid_client_metadata`.
    Metadata(String),
}

impl From<RegError> for Error {
    fn from(e: RegError) -> Self {
        match e {
            RegError::RedirectUri(d) => Error::InvalidRedirectUri(d),
            RegError::Metadata(d) => Error::InvalidClientMetadata(d),
        }
    }
}

#[derive(Debug, Deserialize, Default)]
struct Submitted {
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    redirect_uris: Option<Vec<String>>,
    #[serde(default)]
    token_endpoint_auth_method: Option<String>,
    #[serde(default)]
    grant_types: Option<Vec<String>>,
    #[serde(default)]
    response_types: Option<Vec<String>>,
    #[serde(default)]
    client_name: Option<String>,
    #[serde(default)]
    client_uri: Option<String>,
    #[serde(default)]
    logo_uri: Option<String>,
    #[serde(default)]
    tos_uri: Option<String>,
    #[serde(default)]
    policy_uri: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    contacts: Option<Vec<String>>,
    #[serde(default)]
    software_id: Option<String>,
    #[serde(default)]
    software_version: Option<String>,
    #[serde(default)]
    application_type: Option<String>,
}

/// Validated client metadata.
struct Validated {
    name: String,
    public: bool,
    auth_method: clients::AuthMethod,
    redirect_uris: Vec<String>,
    grant_types: Vec<String>,
    /// What is stored and echoed back (RFC 7591 §3.2.1: the registered values).
    metadata: Map<String, Value>,
}

fn short(field: &str, v: &Option<String>, max: usize) -> Result<(), RegError> {
    match v {
        Some(s) if s.chars().count() > max || s.chars().any(char::is_control) => Err(
            RegError::Metadata(format!("{field}: at most {max} printable characters")),
        ),
        _ => Ok(()),
    }
}

fn https_url(field: &str, v: &Option<String>) -> Result<(), RegError> {
    if let Some(u) = v {
        let ok = AbsoluteUri::parse(u)
            .is_ok_and(|p| p.scheme == "https" && p.host.is_some() && p.fragment.is_none());
        if !ok {
            return Err(RegError::Metadata(format!("{field} must be an https URL")));
        }
    }
    Ok(())
}

fn validate(s: &Submitted) -> Result<Validated, RegError> {
    let app = match s.application_type.as_deref().unwrap_or("web") {
        "web" => AppType::Web,
        "native" => AppType::Native,
        other => {
            return Err(RegError::Metadata(format!(
                "application_type {other} is not supported; use web or native"
            )))
        }
    };
    let grants = s
        .grant_types
        .clone()
        .unwrap_or_else(|| vec![GRANT_CODE.to_owned()]);
    let mut grant_types: Vec<String> = Vec::new();
    for g in &grants {
        match g.as_str() {
            GRANT_CODE | GRANT_REFRESH => {
                if !grant_types.contains(g) {
                    grant_types.push(g.clone());
                }
            }
            other => {
                return Err(RegError::Metadata(format!(
                    "grant type {other} is not available to self-registered clients (they act for users: authorization_code, refresh_token)"
                )))
            }
        }
    }
    if !grant_types.iter().any(|g| g == GRANT_CODE) {
        return Err(RegError::Metadata("authorization_code is required".into()));
    }
    let responses = s
        .response_types
        .clone()
        .unwrap_or_else(|| vec!["code".to_owned()]);
    if responses.iter().any(|r| r != "code") {
        return Err(RegError::Metadata(
            "only the code response type is supported".into(),
        ));
    }
    let requested = s
        .token_endpoint_auth_method
        .as_deref()
        .unwrap_or("client_secret_basic");
    let (public, auth_method) = match clients::AuthMethod::parse(requested) {
        Some(m @ clients::AuthMethod::None) => (true, m),
        Some(m) => (false, m),
        None => {
            let other = requested;
            return Err(RegError::Metadata(format!(
                "token_endpoint_auth_method {other} is not supported; use none, client_secret_basic or client_secret_post"
            )));
        }
    };
    let uris = s.redirect_uris.clone().unwrap_or_default();
    if uris.is_empty() {
        return Err(RegError::RedirectUri(
            "at least one redirect URI is required".into(),
        ));
    }
    if uris.len() > 20 {
        return Err(RegError::RedirectUri("at most 20 redirect URIs".into()));
    }
    for u in &uris {
        redirect::check_registration(u, app)
            .map_err(|why| RegError::RedirectUri(format!("{u}: {why}")))?;
    }
    short("client_name", &s.client_name, 200)?;
    short("software_id", &s.software_id, 200)?;
    short("software_version", &s.software_version, 100)?;
    short("scope", &s.scope, 2000)?;
    for (f, v) in [
        ("client_uri", &s.client_uri),
        ("logo_uri", &s.logo_uri),
        ("tos_uri", &s.tos_uri),
        ("policy_uri", &s.policy_uri),
    ] {
        https_url(f, v)?;
    }
    if let Some(scope) = &s.scope {
        crate::policy::scopes::parse(Some(scope))
            .map_err(|_| RegError::Metadata("scope is not RFC 6749 scope syntax".into()))?;
    }
    let contacts = s.contacts.clone().unwrap_or_default();
    if contacts.len() > 10
        || contacts
            .iter()
            .any(|c| c.len() > 200 || c.chars().any(char::is_control))
    {
        return Err(RegError::Metadata(
            "contacts: at most 10 entries of 200 characters".into(),
        ));
    }
    let name = s
        .client_name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| "Unnamed client".into());
    let mut metadata = Map::new();
    metadata.insert("client_name".into(), json!(name));
    metadata.insert(
        "application_type".into(),
        json!(if app == AppType::Native {
            "native"
        } else {
            "web"
        }),
    );
    metadata.insert("redirect_uris".into(), json!(uris));
    metadata.insert("grant_types".into(), json!(grant_types));
    metadata.insert("response_types".into(), json!(["code"]));
    metadata.insert(
        "token_endpoint_auth_method".into(),
        json!(auth_method.as_str()),
    );
    for (k, v) in [
        ("client_uri", &s.client_uri),
        ("logo_uri", &s.logo_uri),
        ("tos_uri", &s.tos_uri),
        ("policy_uri", &s.policy_uri),
        ("scope", &s.scope),
        ("software_id", &s.software_id),
        ("software_version", &s.software_version),
    ] {
        if let Some(v) = v {
            metadata.insert(k.into(), json!(v));
        }
    }
    if !contacts.is_empty() {
        metadata.insert("contacts".into(), json!(contacts));
    }
    Ok(Validated {
        name,
        public,
        auth_method,
        redirect_uris: uris,
        grant_types,
        metadata,
    })
}

fn parse_body(req: &Request) -> Result<Submitted, RegError> {
    if !super::media_type_is(req, "application/json") {
        return Err(RegError::Metadata(
            "the body must be application/json".into(),
        ));
    }
    serde_json::from_slice(req.body())
        .map_err(|e| RegError::Metadata(format!("malformed metadata: {e}")))
}

fn bearer(req: &Request) -> Option<&str> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(mcpgate_guard::bearer_token)
}

fn invalid_token() -> Error {
    Error::InvalidToken(
        mcpgate_guard::Challenges::new("").invalid_token::<&str>(&[]),
        "a registration access token",
    )
}

/// A client's registration as RFC 7591 §3.2.1 returns it: its metadata, id and issue time.
fn registration_response(
    svc_issuer: &str,
    c: &Client,
    secret: Option<&str>,
    rat: Option<&str>,
    status: StatusCode,
) -> Response {
    let metadata = serde_json::from_str(&c.metadata).unwrap_or_default();
    registration_body(
        svc_issuer,
        metadata,
        (&c.id, c.created_at),
        c.is_confidential(),
        secret,
        rat,
        status,
    )
}

fn registration_body(
    svc_issuer: &str,
    mut body: Map<String, Value>,
    (id, issued_at): (&str, i64),
    confidential: bool,
    secret: Option<&str>,
    rat: Option<&str>,
    status: StatusCode,
) -> Response {
    body.insert("client_id".into(), json!(id));
    body.insert("client_id_issued_at".into(), json!(issued_at));
    if let Some(s) = secret {
        body.insert("client_secret".into(), json!(s));
    }
    if confidential {
        body.insert("client_secret_expires_at".into(), json!(0));
    }
    if let Some(t) = rat {
        body.insert("registration_access_token".into(), json!(t));
    }
    body.insert(
        "registration_client_uri".into(),
        json!(format!("{svc_issuer}{PATH}/{id}")),
    );
    let mut r = no_store(json_response(status, &body));
    r.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

/// `POST /register`.
pub async fn register<S: Store + ?Sized, C: Crypto>(
    svc: &Service<'_, S, C>,
    req: &Request,
    now: i64,
    rng: &mut dyn CryptoRngCore,
) -> Result<Response, Error> {
    let policy = &svc.config.registration;
    if !policy.open {
        return Err(Error::Forbidden(
            "dynamic client registration is disabled".into(),
        ));
    }
    if let Some(required) = &policy.initial_access_token {
        let ok = bearer(req)
            .is_some_and(|t| crate::secret::ct_eq(t.as_bytes(), required.expose().as_bytes()));
        if !ok {
            return Err(invalid_token());
        }
    }
    let submitted = match parse_body(req) {
        Ok(s) => s,
        Err(e) => return Err(e.into()),
    };
    let v = match validate(&submitted) {
        Ok(v) => v,
        Err(e) => return Err(e.into()),
    };
    // One batch: count this registration (per source and overall), then insert the client
    // only if within both limits and some resource server accepts self-registered clients,
    // restrict it to those servers, and audit it.
    let source = format!("register:src:{}", super::source_address(req));
    let limits = [
        (source.as_str(), policy.per_source_per_hour),
        ("register:all", policy.global_per_hour),
    ];
    let id = crate::directory::new_id("dcr", rng);
    let secret = (!v.public).then(|| generate_secret(rng));
    let rat = generate_secret(rng);
    let mut stmts = vec![rate_counters::count_stmt(&limits, WINDOW_SECS, now)];
    stmts.push(clients::insert_registration_stmt(
        &NewClient {
            id: &id,
            kind: clients::ClientKind::Dynamic,
            name: &v.name,
            description: "",
            client_type: if v.public {
                clients::ClientType::Public
            } else {
                clients::ClientType::Confidential
            },
            auth_method: v.auth_method,
            strict: submitted.token_endpoint_auth_method.is_some(),
            secret_hash: secret.as_ref().map(|s| s.digest()),
            redirect_uris: &v.redirect_uris,
            grant_types: &v.grant_types,
            owner: None,
            metadata: Value::Object(v.metadata.clone()),
            registration_token_hash: Some(rat.digest()),
            now,
        },
        limits,
    ));
    stmts.push(audit::record_if_client_exists(
        now,
        "registration",
        "client.register",
        &id,
        json!({ "name": v.name }),
    ));
    let mut r = Results::new(svc.store.batch(stmts).await?);
    let [counts] = r.take::<1>()?;
    if let Some(wait) = rate_counters::over_limit(counts, &limits, WINDOW_SECS, now)? {
        return Err(Error::RateLimited(wait));
    }
    // The insert returns the id only: the response is what was just written.
    if r.next_rows()?.is_empty() {
        return Err(RegError::Metadata(
            "no resource server accepts self-registered clients".into(),
        )
        .into());
    }
    Ok(registration_body(
        &svc.config.issuer,
        v.metadata,
        (&id, now),
        !v.public,
        secret.as_ref().map(|s| s.expose()),
        Some(rat.expose()),
        StatusCode::CREATED,
    ))
}

/// Loads a registered client by its registration access token. A disabled client's token is
/// not honoured: an admin disabled it, so it cannot read, change or erase its registration.
async fn authorized<S: Store + ?Sized>(
    db: &S,
    req: &Request,
    id: &str,
) -> Result<Option<Client>, Error> {
    let Some(token) = bearer(req) else {
        return Ok(None);
    };
    let c = clients::get_row(db, id).await?;
    Ok(c.filter(|c| {
        c.kind == clients::ClientKind::Dynamic
            && c.status == crate::directory::Status::Active
            && c.registration_token_hash
                .as_deref()
                .is_some_and(|h| verify_digest(token, h))
    }))
}

/// `GET|PUT|DELETE /register/{client_id}` (RFC 7592).
pub async fn manage<S: Store + ?Sized, C: Crypto>(
    svc: &Service<'_, S, C>,
    req: &Request,
    id: &str,
    now: i64,
) -> Result<Response, Error> {
    let Some(c) = authorized(svc.store, req, id).await? else {
        return Err(invalid_token());
    };
    match *req.method() {
        http::Method::GET => Ok(registration_response(
            &svc.config.issuer,
            &c,
            None,
            None,
            StatusCode::OK,
        )),
        http::Method::PUT => {
            let submitted = match parse_body(req) {
                Ok(s) => s,
                Err(e) => return Err(e.into()),
            };
            if submitted.client_id.as_deref() != Some(id) {
                return Err(
                    RegError::Metadata("client_id must be present and match".into()).into(),
                );
            }
            if let Some(s) = &submitted.client_secret {
                if !c
                    .secret_hash
                    .as_deref()
                    .is_some_and(|h| verify_digest(s, h))
                {
                    return Err(RegError::Metadata("client_secret does not match".into()).into());
                }
            }
            let v = match validate(&submitted) {
                Ok(v) => v,
                Err(e) => return Err(e.into()),
            };
            if v.public == c.is_confidential() {
                return Err(RegError::Metadata(
                    "token_endpoint_auth_method cannot change between none and a secret".into(),
                )
                .into());
            }
            svc.store
                .batch(vec![
                    clients::registration_update_stmt(&clients::RegistrationUpdate {
                        id,
                        name: &v.name,
                        auth_method: v.auth_method,
                        redirect_uris: &v.redirect_uris,
                        grant_types: &v.grant_types,
                        metadata: Value::Object(v.metadata),
                        // A new redirect URI needs new consent (authorize.rs).
                        redirect_uris_changed_at: clients::redirects_changed_at(
                            &c,
                            &v.redirect_uris,
                            now,
                        ),
                        now,
                    }),
                    audit::record(
                        now,
                        id,
                        "client.update_registration",
                        "client",
                        id,
                        json!({}),
                    ),
                ])
                .await?;
            let c = clients::get_row(svc.store, id)
                .await?
                .ok_or(Error::NoSuch("client"))?;
            Ok(registration_response(
                &svc.config.issuer,
                &c,
                None,
                None,
                StatusCode::OK,
            ))
        }
        http::Method::DELETE => {
            let stmts = vec![
                clients::delete_stmt(id),
                audit::record(now, id, "client.unregister", "client", id, json!({})),
            ];
            revocation::revoke_principal(
                svc.store,
                revocation::Principal::Client(id),
                svc.config.max_token_ttl,
                "registration deleted by the client (RFC 7592)",
                stmts,
                now,
            )
            .await?;
            let mut r = Response::new(Vec::new());
            *r.status_mut() = StatusCode::NO_CONTENT;
            Ok(no_store(r))
        }
        _ => Err(Error::MethodNotAllowed("GET, PUT, DELETE")),
    }
}

/// The cron task's cleanup: self-registered clients never used within the configured time.
pub async fn delete_unused<S: Store + ?Sized>(
    db: &S,
    unused_days: i64,
    now: i64,
) -> Result<usize, Error> {
    let rows = db
        .query(clients::delete_unused_stmt(now - unused_days * 86_400))
        .await?;
    Ok(rows.len())
}
