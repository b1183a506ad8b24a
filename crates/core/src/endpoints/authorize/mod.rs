//! The authorization endpoint (OAuth 2.1 §4.1.1, RFC 7636, RFC 8707, RFC 9207) with the login
//! ([`login`]) and consent ([`consent`]) pages, and the browser helpers they and the account page
//! share (cookies, CSRF double submit, form posts).
//!
//! Errors before the client and redirect URI are known to be good render a page and never
//! redirect (RFC 9700 §4.11: no open redirector); later errors redirect back with `error`,
//! `state` and `iss`. Consent is remembered per user, client and resource server; re-authorizing
//! for more scopes (step-up) asks only for what is new and adds it to the grant.

// Phase-one failures are complete responses (a page or a redirect), built once per request.
#![allow(clippy::result_large_err)]

mod consent;
pub mod login;
pub mod upstream;

pub use consent::consent;
pub(crate) use login::account_login_page;
pub use login::{login, ACCOUNT_CONTINUE, LOGIN_PATH};
pub use upstream::{callback as upstream_callback, start as upstream_start};

use http::{header, HeaderValue, StatusCode};
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};

use super::target::{self, Target};
use crate::crypto::Crypto;
use crate::directory::clients::{self, Client, GRANT_CODE};
use crate::directory::{users, Status};
use crate::policy::pkce;
use crate::policy::scopes::{self, Scopes};
use crate::service::Service;
use crate::session::{self, Keys};
use crate::store::codes::Sealed;
use crate::store::prefetch::Prefetched;
use crate::store::Store;
use crate::ui;
use crate::uri::AbsoluteUri;
use crate::wire::error::AuthorizeError;
use crate::wire::form::Params;
use crate::wire::{Error, Request, Response};

/// Authorization code lifetime (seconds). Short: the client redeems it at once.
pub const CODE_TTL_SECS: i64 = 60;
/// Path of the authorization endpoint below the issuer.
pub const PATH: &str = "/authorize";
/// Path the consent form posts to.
pub const CONSENT_PATH: &str = "/authorize/consent";

/// A request that passed the checks that decide whether redirecting is safe.
struct Trusted {
    client: Client,
    redirect_uri: String,
    state: Option<String>,
    /// Whether errors may be redirected to `redirect_uri`. Not for a client that registered
    /// itself (DCR or a metadata document: nobody verified its redirect URIs) until the user
    /// has signed in — before that, mcpgate would be an open redirector for anyone who
    /// registers (RFC 9700 §4.11.2).
    redirect_errors: bool,
}

/// A fully validated authorization request.
struct Valid {
    t: Trusted,
    challenge: String,
    target: Target,
    requested: Option<Scopes>,
    prompt: Option<String>,
}

/// The request carried through the consent form, signed.
#[derive(Serialize, Deserialize)]
struct Pending {
    /// client_id
    c: String,
    /// redirect_uri
    r: String,
    /// resource identifier
    a: String,
    /// requested scopes (the code's bound)
    s: Vec<String>,
    /// scopes the user consents to by allowing (requested within the client's ceiling)
    g: Vec<String>,
    /// state
    st: Option<String>,
    /// code_challenge
    cc: String,
    /// user id
    u: String,
}

fn query_params(req: &Request) -> Result<Params, Error> {
    Params::parse(req.uri().query().unwrap_or_default().as_bytes())
}

fn origin_of(uri: &str) -> Option<String> {
    let u = AbsoluteUri::parse(uri).ok()?;
    Some(if u.host.is_some() {
        u.origin()
    } else {
        format!("{}:", u.scheme)
    })
}

/// `303 See Other` to `location`.
fn see_other(location: &str) -> Response {
    let mut r = Response::new(Vec::new());
    *r.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn with_params(base: &str, params: &[(&str, &str)]) -> String {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        ser.append_pair(k, v);
    }
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}{}", ser.finish())
}

/// Redirects an error to the client (RFC 6749 §4.1.2.1 with RFC 9207 `iss`), or shows it on
/// mcpgate's own page when the redirect URI is not trusted yet.
fn redirect_error(issuer: &str, t: &Trusted, error: AuthorizeError, description: &str) -> Response {
    let code = error.code();
    if !t.redirect_errors {
        return ui::error_page(
            StatusCode::BAD_REQUEST,
            "Cannot continue",
            &format!("The application's request was refused ({code}): {description}."),
        );
    }
    let mut p = vec![("error", code), ("error_description", description)];
    if let Some(s) = &t.state {
        p.push(("state", s));
    }
    p.push(("iss", issuer));
    see_other(&with_params(&t.redirect_uri, &p))
}

fn cookie_header(req: &Request) -> Option<&str> {
    req.headers()
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
}

pub(crate) fn set_cookie(resp: &mut Response, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// The CSRF token from the cookie, or a fresh one to set.
pub(crate) fn csrf_token(
    keys: &Keys,
    req: &Request,
    rng: &mut dyn CryptoRngCore,
) -> (String, bool) {
    match session::cookie(cookie_header(req), keys.csrf_cookie()) {
        Some(v) if v.len() >= 20 => (v.to_owned(), false),
        _ => (crate::secret::random_b64(rng, 24), true),
    }
}

/// Checks the double-submitted CSRF token and the `Origin` of a form post.
fn check_form_post(
    svc_issuer: &str,
    keys: &Keys,
    req: &Request,
    form: &Params,
) -> Result<(), Response> {
    if let Some(origin) = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    {
        let ours = origin_of(svc_issuer).unwrap_or_default();
        if origin != ours {
            return Err(ui::error_page(
                StatusCode::FORBIDDEN,
                "Request refused",
                "The form was posted from another site.",
            ));
        }
    }
    let cookie = session::cookie(cookie_header(req), keys.csrf_cookie()).unwrap_or_default();
    let field = form.get("csrf").unwrap_or_default();
    if cookie.is_empty() || !crate::secret::ct_eq(cookie.as_bytes(), field.as_bytes()) {
        return Err(ui::error_page(
            StatusCode::FORBIDDEN,
            "Request refused",
            "The form expired or did not come from this page. Go back to the application and start again.",
        ));
    }
    Ok(())
}

/// Reads one of the pages' form posts: a form body, a double-submitted CSRF token and our own
/// `Origin`. Failures are pages.
pub(crate) fn read_form_post(issuer: &str, keys: &Keys, req: &Request) -> Result<Params, Response> {
    let form = super::form_body(req).map_err(|_| {
        ui::error_page(
            StatusCode::BAD_REQUEST,
            "Cannot continue",
            "The form could not be read.",
        )
    })?;
    check_form_post(issuer, keys, req, &form)?;
    Ok(form)
}

/// Phase 1: the client and redirect URI. Failures render a page.
async fn trust<S: Store + ?Sized>(
    db: &S,
    p: &Params,
    policy: &crate::config::Registration,
    source: &str,
    now: i64,
) -> Result<Trusted, Response> {
    let bad = |msg: &str| ui::error_page(StatusCode::BAD_REQUEST, "Cannot continue", msg);
    let unavailable = || {
        ui::error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Something went wrong",
            "Please try again later.",
        )
    };
    let client_id = p
        .get("client_id")
        .ok_or_else(|| bad("The request has no client_id."))?;
    let client = if super::cimd::is_document_url(client_id) {
        // A Client ID Metadata Document: fetched (or cached) and recorded.
        Some(
            super::cimd::resolve(db, client_id, policy, source, now)
                .await
                .map_err(|e| match e {
                    super::cimd::CimdError::Refused(why) => bad(&why),
                    super::cimd::CimdError::Unavailable => unavailable(),
                })?,
        )
    } else {
        clients::get_row(db, client_id)
            .await
            .map_err(|_| unavailable())?
    };
    let client = client
        .filter(|c| c.status == Status::Active)
        .ok_or_else(|| bad("The application is unknown or disabled."))?;
    let redirect_uri = match p.get("redirect_uri") {
        Some(r) if client.redirect_matches(r) => r.to_owned(),
        Some(_) => {
            return Err(bad(
                "The redirect URI is not registered for this application.",
            ))
        }
        None => match client.redirect_uris.as_slice() {
            [only] => only.clone(),
            _ => return Err(bad("The request has no redirect_uri.")),
        },
    };
    Ok(Trusted {
        redirect_errors: !client.is_self_registered(),
        client,
        redirect_uri,
        state: p.get("state").map(str::to_owned),
    })
}

/// Phase 2: everything else; failures redirect to the client (see [`redirect_error`]).
async fn validate<S: Store + ?Sized>(
    db: &S,
    config: &crate::config::Config,
    p: &Params,
    t: Trusted,
) -> Result<Valid, Response> {
    let issuer = &config.issuer;
    let fail =
        |t: &Trusted, code: AuthorizeError, desc: &str| redirect_error(issuer, t, code, desc);
    if p.get("response_type") != Some("code") {
        return Err(fail(
            &t,
            AuthorizeError::UnsupportedResponseType,
            "only response_type=code is supported",
        ));
    }
    if !t.client.allows_grant(GRANT_CODE) {
        return Err(fail(
            &t,
            AuthorizeError::UnauthorizedClient,
            "this client may not use the authorization code grant",
        ));
    }
    let challenge =
        match pkce::check_challenge(p.get("code_challenge"), p.get("code_challenge_method")) {
            Ok(c) => c,
            Err(why) => return Err(fail(&t, AuthorizeError::InvalidRequest, why)),
        };
    let requested = match scopes::parse(p.get("scope")) {
        Ok(s) => s,
        Err(_) => {
            return Err(fail(
                &t,
                AuthorizeError::InvalidScope,
                "malformed scope parameter",
            ))
        }
    };
    let resource = match target::resource_param(p) {
        Ok(Some(r)) => r,
        Ok(None) => {
            let rows = db.query(target::sole_resource_stmt(&t.client.id)).await;
            match rows
                .ok()
                .and_then(|r| target::restriction_from_rows(r).ok())
                .as_deref()
            {
                Some([only]) => only.clone(),
                _ => {
                    return Err(fail(
                        &t,
                        AuthorizeError::InvalidTarget,
                        "the resource parameter (RFC 8707) is required",
                    ))
                }
            }
        }
        Err(_) => {
            return Err(fail(
                &t,
                AuthorizeError::InvalidTarget,
                "the resource parameter is not a valid resource identifier",
            ))
        }
    };
    let target = match db
        .batch(target::stmts_with_descriptions(&t.client.id, &resource).to_vec())
        .await
    {
        Ok(rows) => match target::from_rows(&t.client, &mut crate::store::Results::new(rows)) {
            Ok(target) => target,
            Err(e) => {
                let desc = e.to_wire().description.unwrap_or_default();
                return Err(fail(&t, AuthorizeError::InvalidTarget, &desc));
            }
        },
        Err(_) => {
            return Err(fail(
                &t,
                AuthorizeError::TemporarilyUnavailable,
                "storage is temporarily unavailable",
            ))
        }
    };
    let requested = requested.map(|r| scopes::and(&r, &target.all_scopes));
    if requested.as_ref().is_some_and(|r| r.is_empty()) {
        return Err(fail(
            &t,
            AuthorizeError::InvalidScope,
            "none of the requested scopes exist on this resource server",
        ));
    }
    Ok(Valid {
        t,
        challenge,
        target,
        requested,
        prompt: p.get("prompt").map(str::to_owned),
    })
}

/// The signed-in user: a session cookie whose MAC verifies, naming a live session of an active
/// user (one statement). Ended sessions (logout, password change, disabled user, "sign out
/// everywhere") are gone from the store, so a copied cookie stops working at once.
pub(crate) async fn session_user<S: Store + ?Sized>(
    db: &S,
    keys: &Keys,
    req: &Request,
    now: i64,
) -> Option<users::User> {
    let value = session::cookie(cookie_header(req), keys.session_cookie())?;
    let sid = keys.session_id(value)?;
    crate::store::sessions::user(db, sid, now)
        .await
        .ok()
        .flatten()
}

/// The session id of the request's session cookie, if its MAC verifies.
pub(crate) fn session_id<'r>(keys: &Keys, req: &'r Request) -> Option<&'r str> {
    keys.session_id(session::cookie(cookie_header(req), keys.session_cookie())?)
}

/// Every read a `GET /authorize` by a signed-in user for a registered client will make, from
/// the request alone: the client, the session, the resource server and the client's access to
/// it, the user's permissions and consent there, and the scopes' descriptions. Read in one
/// batch, they make the usual request (consent covering it) one D1 round trip.
/// The first `.1` statements read things that may have been created a moment ago (the client,
/// the session).
fn predicted_reads(
    keys: &Keys,
    req: &Request,
    p: &Params,
    now: i64,
) -> (Vec<crate::store::Stmt>, usize) {
    let mut stmts = Vec::new();
    let Some(client_id) = p
        .get("client_id")
        .filter(|c| !super::cimd::is_document_url(c))
    else {
        return (stmts, 0);
    };
    stmts.push(clients::get_stmt(client_id));
    let sid = session_id(keys, req).filter(|_| p.get("prompt") != Some("login"));
    if let Some(sid) = sid {
        stmts.push(crate::store::sessions::user_stmt(sid, now));
    }
    let new = stmts.len();
    if sid.is_none() {
        // Signed out: the login page offers the upstream identity providers (often none, so
        // not among the reads whose absence sends the request to the primary).
        stmts.push(crate::directory::identity_providers::active_stmt());
    }
    match target::resource_param(p) {
        Ok(Some(resource)) => {
            stmts.extend(target::stmts_with_descriptions(client_id, &resource));
            if let Some(user_id) = sid.and_then(Keys::session_user_hint) {
                stmts.push(crate::grants::user_view_stmt(user_id, client_id, &resource));
            }
        }
        Ok(None) => stmts.push(target::sole_resource_stmt(client_id)),
        Err(_) => {}
    }
    (stmts, new)
}

/// `GET /authorize`: its reads in one batch ([`predicted_reads`]; a read the prediction missed
/// still goes to the database) at the nearest read replica, and no write (the code is sealed).
/// A replica's answer may be seconds stale: a client or user disabled, consent withdrawn, a
/// session ended or a redirect URI removed that recently may still be issued a code, which its
/// redemption (at the primary) refuses.
pub async fn get<S: Store + ?Sized, C: Crypto>(
    svc: &Service<'_, S, C>,
    req: &Request,
    now: i64,
    rng: &mut dyn CryptoRngCore,
) -> Response {
    let p = match query_params(req) {
        Ok(p) => p,
        Err(_) => {
            return ui::error_page(
                StatusCode::BAD_REQUEST,
                "Cannot continue",
                "The request repeats a parameter.",
            )
        }
    };
    let keys = Keys::of(svc.config);
    let (reads, new) = predicted_reads(keys, req, &p, now);
    let mut snapshot = Prefetched::load(svc.store, reads.clone(), true).await;
    // A replica may not have what was just created (a client registered a moment ago, the
    // session the sign-in form just started): what it lacks, the primary is asked for.
    let lacks_new = reads.iter().take(new).any(|s| snapshot.found_nothing(s));
    if lacks_new {
        snapshot = Prefetched::load(svc.store, reads, false).await;
    }
    get_with(&svc.on(&snapshot), keys, req, p, now, rng).await
}

async fn get_with<S: Store + ?Sized, C: Crypto>(
    svc: &Service<'_, S, C>,
    keys: &Keys,
    req: &Request,
    p: Params,
    now: i64,
    rng: &mut dyn CryptoRngCore,
) -> Response {
    let mut t = match trust(
        svc.store,
        &p,
        &svc.config.registration,
        &crate::endpoints::source_address(req),
        now,
    )
    .await
    {
        Ok(t) => t,
        Err(resp) => return resp,
    };
    let user = if p.get("prompt") == Some("login") {
        None
    } else {
        session_user(svc.store, keys, req, now).await
    };
    t.redirect_errors |= user.is_some();
    let v = match validate(svc.store, svc.config, &p, t).await {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    let Some(user) = user else {
        if v.prompt.as_deref() == Some("none") {
            return redirect_error(
                &svc.config.issuer,
                &v.t,
                AuthorizeError::LoginRequired,
                "the user is not signed in",
            );
        }
        // prompt=login is honoured once: the login form continues without it.
        let continue_query = strip_prompt_login(req.uri().query().unwrap_or_default());
        let providers = login::offered(svc.store).await;
        let about = login::LoginFor {
            client_name: &v.t.client.name,
            continue_query: &continue_query,
            redirect_uri: &v.t.redirect_uri,
            providers: &providers,
            reauthenticate: v.prompt.as_deref() == Some("login"),
        };
        return login::login_page(svc, keys, req, rng, &about, (StatusCode::OK, None), "");
    };
    decide(svc, keys, req, v, &user, now, rng).await
}

fn strip_prompt_login(query: &str) -> String {
    let kept: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .filter(|(k, v)| !(k == "prompt" && v == "login"))
        .collect();
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(kept)
        .finish()
}

/// With a signed-in user: issue a code at once if everything requested is already consented,
/// otherwise show the consent page for what is new.
async fn decide<S: Store + ?Sized, C: Crypto>(
    svc: &Service<'_, S, C>,
    keys: &Keys,
    req: &Request,
    v: Valid,
    user: &users::User,
    now: i64,
    rng: &mut dyn CryptoRngCore,
) -> Response {
    let issuer = &svc.config.issuer;
    let stmt = crate::grants::user_view_stmt(&user.id, &v.t.client.id, &v.target.rs.identifier);
    let decoded = async {
        let view = crate::grants::user_view_from_rows(
            svc.store.query(stmt).await?,
            &v.target.implies,
            v.t.client.redirect_uris_changed_at,
        )?;
        Ok::<_, crate::store::StoreError>((view.held.unwrap_or_default(), view.consent))
    };
    let Ok((held, consent)) = decoded.await else {
        return redirect_error(
            issuer,
            &v.t,
            AuthorizeError::TemporarilyUnavailable,
            "storage is temporarily unavailable",
        );
    };
    // No scope parameter (RFC 6749 §3.3): the resource server's default scopes, else
    // everything the user may grant there through this client.
    let requested = match &v.requested {
        Some(r) => r.clone(),
        None => match &v.target.rs.default_scopes {
            Some(d) => d
                .iter()
                .filter(|s| v.target.all_scopes.contains(*s))
                .cloned()
                .collect(),
            None => scopes::and(&held, &v.target.ceiling),
        },
    };
    let consentable = scopes::and(&requested, &v.target.ceiling);
    let grantable_now = scopes::and(&consentable, &held);
    if grantable_now.is_empty() {
        return redirect_error(
            issuer,
            &v.t,
            AuthorizeError::InvalidScope,
            "none of the requested scopes can be granted to this user through this client",
        );
    }
    let new: Scopes = consentable.difference(&consent).cloned().collect();
    if new.is_empty() && v.prompt.as_deref() != Some("consent") {
        let session = session_id(keys, req)
            .map(crate::store::sessions::handle)
            .unwrap_or_default();
        return issue_code(
            svc,
            &v.t,
            &v.target,
            &session,
            &user.id,
            &requested,
            &v.challenge,
            now,
            rng,
        )
        .await;
    }
    if v.prompt.as_deref() == Some("none") {
        return redirect_error(
            issuer,
            &v.t,
            AuthorizeError::ConsentRequired,
            "the user has not consented to these scopes",
        );
    }
    let pending = Pending {
        c: v.t.client.id.clone(),
        r: v.t.redirect_uri.clone(),
        a: v.target.rs.identifier.clone(),
        s: requested.iter().cloned().collect(),
        g: consentable.iter().cloned().collect(),
        st: v.t.state.clone(),
        cc: v.challenge.clone(),
        u: user.id.clone(),
    };
    let sealed = keys.seal(&pending, now + session::REQUEST_TTL_SECS);
    let (csrf, fresh) = csrf_token(keys, req, rng);
    let shown: Vec<&String> = if new.is_empty() {
        consentable.iter().collect()
    } else {
        new.iter().collect()
    };
    let lines: Vec<ui::ScopeLine<'_>> = shown
        .iter()
        .map(|name| ui::ScopeLine {
            name,
            description: v.target.descriptions.get(*name).map_or("", String::as_str),
            held: held.contains(*name),
        })
        .collect();
    let kept: Vec<&str> = if new.is_empty() {
        vec![]
    } else {
        consentable
            .intersection(&consent)
            .map(String::as_str)
            .collect()
    };
    let redirect = AbsoluteUri::parse(&v.t.redirect_uri).ok();
    let redirect_host = redirect
        .as_ref()
        .map(|u| {
            u.host
                .clone()
                .map(|h| match u.port {
                    Some(p) => format!("{h}:{p}"),
                    None => h,
                })
                .unwrap_or_else(|| format!("{}:", u.scheme))
        })
        .unwrap_or_default();
    let redirect_local = redirect
        .as_ref()
        .is_none_or(|u| u.is_loopback() || u.host.is_none());
    let action = format!("{issuer}{CONSENT_PATH}");
    let warning =
        v.t.client.is_self_registered().then_some(
            "This application registered itself; mcpgate has not verified who operates it.",
        );
    let targets: Vec<String> = origin_of(&v.t.redirect_uri).into_iter().collect();
    let mut resp = ui::consent(
        &ui::Consent {
            client_name: &v.t.client.name,
            client_id: &v.t.client.id,
            redirect_host: &redirect_host,
            redirect_local,
            resource_name: &v.target.rs.name,
            resource: &v.target.rs.identifier,
            new_scopes: lines,
            kept,
            request: &sealed,
            csrf: &csrf,
            action: &action,
            user: &user.display_name,
            warning,
        },
        &targets,
    );
    if fresh {
        set_cookie(&mut resp, &keys.csrf_set_cookie(&csrf));
    }
    resp
}

/// Redirects to the client with a code (RFC 6749 §4.1.2, RFC 9207 `iss`). The code is sealed:
/// it carries the authorization, so nothing is written here.
#[allow(clippy::too_many_arguments)]
async fn issue_code<S: Store + ?Sized, C: Crypto>(
    svc: &Service<'_, S, C>,
    t: &Trusted,
    target: &Target,
    session: &str,
    user_id: &str,
    requested: &Scopes,
    challenge: &str,
    now: i64,
    rng: &mut dyn CryptoRngCore,
) -> Response {
    let code = svc.config.derived.code.seal(
        &Sealed {
            c: t.client.id.clone(),
            u: user_id.to_owned(),
            a: target.rs.identifier.clone(),
            r: t.redirect_uri.clone(),
            s: scopes::to_json(requested),
            cc: challenge.to_owned(),
            sh: session.to_owned(),
            iat: now,
            exp: now + CODE_TTL_SECS,
        },
        rng,
    );
    let mut p = vec![("code", code.expose())];
    if let Some(s) = &t.state {
        p.push(("state", s));
    }
    p.push(("iss", &svc.config.issuer));
    see_other(&with_params(&t.redirect_uri, &p))
}
