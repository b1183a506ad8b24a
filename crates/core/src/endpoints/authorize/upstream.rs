//! Sign-in through an upstream OpenID Connect provider: `GET /authorize/federate` sends the
//! browser there (authorization code + PKCE S256, `state` and `nonce`), and
//! `GET /authorize/callback/{provider}` takes it back: the answer must belong to the sign-in this
//! browser started (a sealed, `HttpOnly` cookie holds its state, nonce and verifier), come from
//! that provider (its own redirect URI, and RFC 9207 `iss` when sent or promised), and carry an ID
//! token the provider signed for mcpgate with this sign-in's nonce. The user is the one linked
//! to (provider, subject) — created just in time, or linked by a verified email when the admin
//! allows it — and the provider's group mappings are re-applied; then a session starts and the
//! authorization request continues to mcpgate's own consent page, as after a password sign-in.
//! The provider's access and refresh tokens are never kept nor passed on.

use http::StatusCode;
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{cookie_header, query_params, see_other, set_cookie, with_params};
use crate::crypto::Crypto;
use crate::directory::identity_providers::{self as idp, Provider, Provisioning};
use crate::directory::{audit, groups, users, validate, Status};
use crate::federation::oidc::{self, Person};
use crate::federation::upstream::{self, ClientAuth};
use crate::policy::pkce;
use crate::secret::{ct_eq, random_b64};
use crate::service::Service;
use crate::session::{self, Keys};
use crate::store::{Stmt, Store, StoreError};
use crate::ui;
use crate::wire::{Request, Response};

/// Path that starts an upstream sign-in.
pub const START_PATH: &str = "/authorize/federate";
/// Prefix of each provider's redirect URI (the provider id follows).
pub const CALLBACK_PREFIX: &str = "/authorize/callback/";
/// How long a browser may take at the provider (seconds).
pub const FLOW_TTL_SECS: i64 = 600;
/// The sealing purpose of the flow cookie.
const FLOW_PURPOSE: &[u8] = b"mcpgate/upstream-flow/v1";
/// Longest `continue` carried through a sign-in (the sealed cookie stays under browsers'
/// 4 KB limit).
const MAX_CONTINUE: usize = 2048;

/// The purpose a provider's client secret is sealed for (bound to the provider).
pub fn secret_purpose(provider_id: &str) -> Vec<u8> {
    format!("mcpgate/upstream-client-secret/v1/{provider_id}").into_bytes()
}

/// The URL that starts sign-in with `provider`, continuing to `continue_query` afterwards;
/// `reauthenticate` (the client sent `prompt=login`) asks the provider to authenticate again
/// rather than rely on its own session.
pub fn start_url(
    issuer: &str,
    provider: &str,
    continue_query: &str,
    hint: Option<&str>,
    reauthenticate: bool,
) -> String {
    let mut p = vec![("provider", provider), ("continue", continue_query)];
    if let Some(h) = hint {
        p.push(("login_hint", h));
    }
    if reauthenticate {
        p.push(("prompt", "login"));
    }
    with_params(&format!("{issuer}{START_PATH}"), &p)
}

/// The redirect URI registered at the provider for `provider`.
pub fn redirect_uri(issuer: &str, provider: &str) -> String {
    format!("{issuer}{CALLBACK_PREFIX}{provider}")
}

/// One sign-in in progress, sealed into the browser's cookie.
#[derive(Serialize, Deserialize)]
struct Flow {
    /// Provider id.
    p: String,
    /// `state`.
    s: String,
    /// `nonce`.
    n: String,
    /// PKCE verifier.
    v: String,
    /// Where to continue afterwards.
    c: String,
    /// Expiry (unix seconds).
    e: i64,
}

fn page(status: StatusCode, text: &str) -> Response {
    ui::error_page(status, "Cannot sign in", text)
}

fn unavailable() -> Response {
    ui::error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Something went wrong",
        "Please try again later.",
    )
}

async fn active_provider<S: Store + ?Sized>(store: &S, id: &str) -> Result<Provider, Response> {
    match idp::get_row(store, id).await {
        Ok(Some(p)) if p.status == Status::Active => Ok(p),
        Ok(_) => Err(page(
            StatusCode::NOT_FOUND,
            "This sign-in option is not available.",
        )),
        Err(_) => Err(unavailable()),
    }
}

fn unreachable_page(p: &Provider) -> Response {
    ui::error_page(
        StatusCode::BAD_GATEWAY,
        "Cannot sign in",
        &format!(
            "{} cannot be reached right now. Try again in a moment.",
            p.display_name
        ),
    )
}

/// `GET /authorize/federate?provider=…&continue=…[&login_hint=…]`.
pub async fn start<S: Store + ?Sized, C>(
    svc: &Service<'_, S, C>,
    req: &Request,
    now: i64,
    rng: &mut dyn CryptoRngCore,
) -> Response {
    // Started from mcpgate's own pages only: another site cannot push a browser through a
    // sign-in (browsers that say where a navigation came from are held to it).
    if matches!(
        req.headers()
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok()),
        Some("cross-site" | "same-site")
    ) {
        return page(
            StatusCode::FORBIDDEN,
            "Sign-in can only be started from the sign-in page.",
        );
    }
    let Ok(q) = query_params(req) else {
        return page(StatusCode::BAD_REQUEST, "The request repeats a parameter.");
    };
    let continue_query = q.get("continue").unwrap_or_default();
    if continue_query.len() > MAX_CONTINUE {
        return page(StatusCode::BAD_REQUEST, "The sign-in request is too long.");
    }
    let provider = match active_provider(svc.store, q.get("provider").unwrap_or_default()).await {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let Ok(d) = upstream::discovery(svc.store, &provider.issuer, now).await else {
        return unreachable_page(&provider);
    };
    let flow = Flow {
        p: provider.id.clone(),
        s: random_b64(rng, 32),
        n: random_b64(rng, 32),
        v: random_b64(rng, 32),
        c: continue_query.to_owned(),
        e: now + FLOW_TTL_SECS,
    };
    let challenge = pkce::challenge_of(&flow.v).unwrap_or_default();
    let redirect = redirect_uri(&svc.config.issuer, &provider.id);
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", provider.client_id.as_str()),
        ("redirect_uri", redirect.as_str()),
        ("scope", provider.scopes.as_str()),
        ("state", flow.s.as_str()),
        ("nonce", flow.n.as_str()),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let hint = q
        .get("login_hint")
        .filter(|h| !h.is_empty() && h.len() <= 256);
    if let Some(h) = hint {
        params.push(("login_hint", h));
    }
    if q.get("prompt") == Some("login") {
        params.push(("prompt", "login"));
    }
    let location = with_params(&d.authorization_endpoint, &params);
    let json = serde_json::to_vec(&flow).unwrap_or_default();
    let sealed = svc.config.derived.code.seal_text(FLOW_PURPOSE, &json, rng);
    let keys = Keys::of(svc.config);
    let mut resp = see_other(&location);
    set_cookie(&mut resp, &keys.upstream_set_cookie(&sealed, FLOW_TTL_SECS));
    resp
}

/// The sign-in this browser started, if its cookie opens and has not expired.
fn flow_of(
    svc_code: &crate::store::codes::CodeKey,
    keys: &Keys,
    req: &Request,
    now: i64,
) -> Option<Flow> {
    let sealed = session::cookie(cookie_header(req), keys.upstream_cookie())?;
    let json = svc_code.open_text(FLOW_PURPOSE, sealed)?;
    let flow: Flow = serde_json::from_slice(&json).ok()?;
    (now < flow.e).then_some(flow)
}

/// `GET /authorize/callback/{provider}`: the provider's answer.
pub async fn callback<S: Store + ?Sized, C: Crypto>(
    svc: &Service<'_, S, C>,
    req: &Request,
    provider_id: &str,
    now: i64,
    rng: &mut dyn CryptoRngCore,
) -> Response {
    let keys = Keys::of(svc.config);
    // The flow is single use: every answer clears it.
    let mut resp = answer(svc, keys, req, provider_id, now, rng).await;
    set_cookie(&mut resp, &keys.upstream_set_cookie("", 0));
    resp
}

async fn answer<S: Store + ?Sized, C: Crypto>(
    svc: &Service<'_, S, C>,
    keys: &Keys,
    req: &Request,
    provider_id: &str,
    now: i64,
    rng: &mut dyn CryptoRngCore,
) -> Response {
    let lost = || {
        page(
            StatusCode::BAD_REQUEST,
            "This sign-in expired or was started in another browser. Go back to the application and start again.",
        )
    };
    let Ok(q) = query_params(req) else {
        return page(StatusCode::BAD_REQUEST, "The answer repeats a parameter.");
    };
    let Some(flow) = flow_of(&svc.config.derived.code, keys, req, now) else {
        return lost();
    };
    // The answer must reach the redirect URI of the provider this browser was sent to, with
    // the state it was sent with (RFC 9700 §4.4.2: a per-provider redirect URI defeats mix-up).
    let state = q.get("state").unwrap_or_default();
    if flow.p != provider_id || !ct_eq(state.as_bytes(), flow.s.as_bytes()) {
        return lost();
    }
    let provider = match active_provider(svc.store, &flow.p).await {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    if let Some(error) = q.get("error") {
        let error: String = error.chars().take(64).collect();
        return page(
            StatusCode::FORBIDDEN,
            &format!("{} did not sign you in ({error}).", provider.display_name),
        );
    }
    let Ok(d) = upstream::discovery(svc.store, &provider.issuer, now).await else {
        return unreachable_page(&provider);
    };
    // RFC 9207: an `iss` that is not this provider's means the answer came from elsewhere.
    match q.get("iss") {
        Some(iss) if iss != provider.issuer => return lost(),
        None if d.authorization_response_iss_parameter_supported => return lost(),
        _ => {}
    }
    let Some(code) = q.get("code").filter(|c| !c.is_empty()) else {
        return lost();
    };
    let secret = match &provider.client_secret_sealed {
        None => None,
        Some(sealed) => match svc
            .config
            .derived
            .code
            .open_text(&secret_purpose(&provider.id), sealed)
            .and_then(|b| String::from_utf8(b).ok())
        {
            Some(s) => Some(s),
            None => return unavailable(),
        },
    };
    let auth = ClientAuth::choose(secret.as_deref(), &d.token_endpoint_auth_methods_supported);
    let redirect = redirect_uri(&svc.config.issuer, &provider.id);
    let refused = |why: &dyn std::fmt::Display| {
        page(
            StatusCode::FORBIDDEN,
            &format!(
                "{}'s answer could not be accepted: {why}.",
                provider.display_name
            ),
        )
    };
    let id_token = match upstream::redeem(
        svc.store,
        &d.token_endpoint,
        &provider.client_id,
        &auth,
        code,
        &redirect,
        &flow.v,
    )
    .await
    {
        Ok(t) => t,
        Err(upstream::UpstreamError::Unreachable(_)) => return unreachable_page(&provider),
        Err(e) => return refused(&e),
    };
    let payload =
        match upstream::verify_jws(svc.store, svc.crypto, &d.jwks_uri, &id_token, now).await {
            Ok((_, payload)) => payload,
            Err(upstream::UpstreamError::Unreachable(_)) => return unreachable_page(&provider),
            Err(e) => return refused(&e),
        };
    let person = match oidc::check_id_token(
        &payload,
        &oidc::Expect {
            issuer: &provider.issuer,
            client_id: &provider.client_id,
            nonce: &flow.n,
            groups_claim: &provider.groups_claim,
            now,
        },
    ) {
        Ok(p) => p,
        Err(e) => return refused(&e),
    };
    // A first sign-in that creates a user may race another (two tabs) or take a username
    // someone holds: the second try reads the link the first made, or picks another name.
    for attempt in 0..2 {
        let (user_id, mut stmts) =
            match resolve(svc.store, &provider, &person, attempt, now, rng).await {
                Ok(r) => r,
                Err(resp) => return resp,
            };
        stmts.push(idp::signed_in_stmt(
            &provider.id,
            &person.subject,
            person.email.as_deref(),
            now,
        ));
        stmts.extend(groups::apply_mappings_stmts(
            &user_id,
            &provider.id,
            &person.groups,
        ));
        stmts.push(audit::record(
            now,
            &user_id,
            "user.sign_in_upstream",
            "user",
            &user_id,
            json!({ "provider": provider.id, "subject": person.subject, "groups": person.groups }),
        ));
        match super::login::signed_in(svc, keys, req, &user_id, &flow.c, stmts, now, rng).await {
            Ok(resp) => return resp,
            Err(StoreError::Conflict(_)) if attempt == 0 => continue,
            Err(_) => return unavailable(),
        }
    }
    unavailable()
}

/// The user an upstream person is, and the writes that make it so (none for a linked identity;
/// a link to an existing user; a new user and its link).
async fn resolve<S: Store + ?Sized>(
    store: &S,
    provider: &Provider,
    person: &Person,
    attempt: u32,
    now: i64,
    rng: &mut dyn CryptoRngCore,
) -> Result<(String, Vec<Stmt>), Response> {
    let disabled = || page(StatusCode::FORBIDDEN, "Your account here is disabled.");
    let linked = idp::linked(store, &provider.id, &person.subject)
        .await
        .map_err(|_| unavailable())?;
    if let Some(l) = linked {
        return if l.status == Status::Active {
            Ok((l.user_id, Vec::new()))
        } else {
            Err(disabled())
        };
    }
    let verified_email = person.email.as_deref().filter(|_| person.email_verified);
    // Linking by email: only an address in one of the provider's own email domains (a provider
    // cannot vouch for addresses of domains it does not serve).
    let own_domain = verified_email.filter(|e| provider.serves_email(e));
    if provider.link_verified_email == 1 {
        if let Some(email) = own_domain {
            if let Some(u) = users::by_username(store, email)
                .await
                .map_err(|_| unavailable())?
            {
                // Only an account no upstream identity is linked to yet: a user created by
                // another provider is that provider's, never taken over by an email claim.
                let others = idp::user_identities(store, &u.id)
                    .await
                    .map_err(|_| unavailable())?;
                if others.is_empty() {
                    if u.status != Status::Active {
                        return Err(disabled());
                    }
                    let link = idp::link_stmt(
                        &provider.id,
                        &person.subject,
                        &u.id,
                        person.email.as_deref(),
                        now,
                    );
                    return Ok((u.id, vec![link]));
                }
            }
        }
    }
    if provider.provisioning == Provisioning::Existing {
        return Err(page(
            StatusCode::FORBIDDEN,
            &format!(
                "No account here is linked to your {} account. Ask an administrator for access.",
                provider.display_name
            ),
        ));
    }
    // A name that looks like an email is taken only from a verified email: an unverified
    // `preferred_username` cannot claim someone's address as a username.
    let unverified = person
        .preferred_username
        .as_deref()
        .filter(|n| !n.contains('@'));
    let base = [verified_email, unverified]
        .into_iter()
        .flatten()
        .find_map(|c| validate::username("username", c).ok())
        .unwrap_or_else(|| "user".to_owned());
    let username = if attempt == 0 && base != "user" {
        base
    } else {
        let suffix = random_b64(rng, 6).to_ascii_lowercase().replace(['_'], "-");
        let kept: String = base.chars().take(50).collect();
        format!("{kept}-{suffix}")
    };
    let username =
        validate::username("username", &username).unwrap_or_else(|_| format!("user-{}", now));
    let id = format!("usr_{}", random_b64(rng, 16));
    let display = person
        .name
        .clone()
        .or_else(|| person.email.clone())
        .unwrap_or_else(|| username.clone());
    let display: String = display.chars().take(100).collect();
    Ok((
        id.clone(),
        vec![
            users::insert_stmt(&users::NewUser {
                id: &id,
                username: &username,
                display_name: &display,
                status: Status::Active,
                password_hash: None,
                now,
            }),
            idp::link_stmt(
                &provider.id,
                &person.subject,
                &id,
                person.email.as_deref(),
                now,
            ),
        ],
    ))
}
