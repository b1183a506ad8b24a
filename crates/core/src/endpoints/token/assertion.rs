//! The JWT bearer grant (RFC 7523 §2.1) with Identity Assertion JWT Authorization Grants
//! (ID-JAG, draft-ietf-oauth-identity-assertion-authz-grant; MCP Enterprise-Managed
//! Authorization): an enterprise identity provider the admin trusts (an identity provider with
//! `id_jag` on) has already decided that this client may act for this user, and says so in a
//! short-lived JWT it signed. mcpgate checks the assertion — `typ`, signature against the
//! provider's JWKS, issuer, audience (mcpgate's issuer), expiry, single use of its `jti`,
//! `client_id` equal to the authenticated client, `resource` and `scope` — maps its subject to
//! a user through the same federation link as browser sign-in, and issues an access token by
//! the usual grant model: requested ∩ held by the user ∩ the client's ceiling. No consent page
//! (the enterprise decided) and no refresh token (the client asks its provider for a fresh
//! assertion).

use mcpgate_guard::Actor;
use rand_core::CryptoRngCore;
use serde_json::Value;

use super::{after_issue, load_target, require_grant, sign, Issued};
use crate::crypto::Crypto;
use crate::directory::clients::{Client, GRANT_JWT_BEARER};
use crate::directory::identity_providers::{self as idp, Provider};
use crate::directory::permissions::{self, Principal};
use crate::directory::validate::canonical_resource;
use crate::directory::Status;
use crate::endpoints::target;
use crate::federation::oidc;
use crate::federation::upstream::{self, UpstreamError};
use crate::issue::{self, Mint};
use crate::policy::scopes::{self, Scopes};
use crate::service::Service;
use crate::store::{assertions, decode_first, Store, StoreError};
use crate::wire::form::Params;
use crate::wire::{Error, Response};

/// The media type of an identity assertion (`typ` header).
pub const ID_JAG_TYP: &str = "oauth-id-jag+jwt";
/// Assertions that live longer than this are refused (seconds): they are meant to be used at once.
pub const MAX_ASSERTION_LIFETIME_SECS: i64 = 3600;

fn bad(why: impl Into<String>) -> Error {
    Error::InvalidAssertion(why.into())
}

/// `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` with an ID-JAG `assertion`.
pub(super) async fn grant<S: Store + ?Sized, C: Crypto>(
    svc: &Service<'_, S, C>,
    client: &Client,
    params: &Params,
    now: i64,
    rng: &mut dyn CryptoRngCore,
) -> Result<Response, Error> {
    require_grant(client, GRANT_JWT_BEARER)?;
    let assertion = params.require("assertion")?;
    let jws = oidc::split(assertion).map_err(|e| bad(e.0))?;
    let typ = jws
        .header
        .typ
        .as_deref()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if typ != ID_JAG_TYP && typ != format!("application/{ID_JAG_TYP}") {
        return Err(bad(format!("typ must be {ID_JAG_TYP}")));
    }
    // The issuer names the provider whose keys must have signed it; nothing else of the
    // payload is believed before the signature is checked.
    let unverified: Value = serde_json::from_slice(&jws.payload).map_err(|_| bad("not JSON"))?;
    let iss = unverified
        .get("iss")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("no iss"))?;
    let provider = decode_first::<Provider>(svc.store.query(idp::by_issuer_stmt(iss)).await?)?
        .filter(|p| p.status == Status::Active && p.id_jag == 1)
        .ok_or_else(|| bad("its issuer is not a trusted identity provider"))?;
    let d = upstream::discovery(svc.store, &provider.issuer, now)
        .await
        .map_err(unreachable)?;
    let (_, payload) = upstream::verify_jws(svc.store, svc.crypto, &d.jwks_uri, assertion, now)
        .await
        .map_err(unreachable)?;
    let c: Value = serde_json::from_slice(&payload).map_err(|_| bad("not JSON"))?;
    let text = |name: &str| {
        c.get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty() && s.len() <= 255)
    };
    if text("iss") != Some(provider.issuer.as_str()) {
        return Err(bad("its issuer is not a trusted identity provider"));
    }
    // One audience: this authorization server (an assertion several servers accept could be
    // spent at each, every one with its own record of used ids).
    let single = match c.get("aud") {
        Some(Value::String(a)) => Some(a.as_str()),
        Some(Value::Array(a)) => match a.as_slice() {
            [Value::String(one)] => Some(one.as_str()),
            _ => None,
        },
        _ => None,
    };
    if single != Some(svc.config.issuer.as_str()) {
        return Err(bad("its audience is not this authorization server alone"));
    }
    let exp = oidc::check_times(&c, now, true).map_err(|e| bad(e.0))?;
    if exp - now > MAX_ASSERTION_LIFETIME_SECS {
        return Err(bad("it lives longer than an hour"));
    }
    if text("client_id") != Some(client.id.as_str()) {
        return Err(bad("it was issued for another client"));
    }
    let jti = text("jti").ok_or_else(|| bad("no jti"))?;
    let subject = text("sub").ok_or_else(|| bad("no sub"))?;
    // The resource: the assertion's and the request's must agree; one of them is needed.
    let claimed = match c.get("resource") {
        None => None,
        Some(Value::String(r)) => Some(canonical(r)?),
        Some(Value::Array(a)) => match a.as_slice() {
            [Value::String(r)] => Some(canonical(r)?),
            _ => return Err(bad("resource must name one resource server")),
        },
        Some(_) => return Err(bad("resource must be a string")),
    };
    let resource =
        match (claimed, target::resource_param(params)?) {
            (Some(a), Some(p)) if a != p => {
                return Err(Error::InvalidTarget(
                    "the resource differs from the assertion's".into(),
                ))
            }
            (Some(r), _) | (None, Some(r)) => r,
            (None, None) => return Err(Error::InvalidTarget(
                "the resource parameter (RFC 8707) or the assertion's resource claim is required"
                    .into(),
            )),
        };
    let user = match idp::linked(svc.store, &provider.id, subject).await? {
        Some(l) if l.status == Status::Active => l.user_id,
        Some(_) => return Err(bad("the user is disabled")),
        None => return Err(bad("its subject is not linked to a user here")),
    };
    let (t, covered) = load_target(svc.store, client, &resource, &user).await?;
    let held = match permissions::load(svc.store, &Principal::User(user.clone()), &resource).await?
    {
        Some((Status::Active, eff)) => permissions::names(&eff),
        _ => Scopes::new(),
    };
    let mut granted = scopes::and(&held, &t.ceiling);
    let claimed_scope = match c.get("scope") {
        None => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => return Err(bad("scope must be a string")),
    };
    for asked in [
        scopes::parse(claimed_scope)?,
        scopes::parse(params.get("scope"))?,
    ]
    .into_iter()
    .flatten()
    {
        granted = scopes::and(&granted, &asked);
    }
    let granted = scopes::non_empty(
        granted,
        "the user holds none of the requested scopes there through this client",
    )?;
    // Single use, recorded before the token exists: a replay (or a parallel second use)
    // finds the row.
    match svc
        .store
        .query(assertions::claim_stmt(
            &provider.issuer,
            jti,
            exp + oidc::LEEWAY_SECS,
        ))
        .await
    {
        Ok(_) => {}
        Err(StoreError::Conflict(_)) => return Err(bad("it was used before")),
        Err(e) => return Err(e.into()),
    }
    let m = sign(
        svc,
        Mint {
            sub: &user,
            aud: &t.rs.identifier,
            client_id: &client.id,
            scopes: &granted,
            act: Some(Actor::new(client.id.clone())),
            fam: None,
            ttl: t.rs.access_token_ttl,
            jti: None,
        },
        now,
        rng,
    )
    .await?;
    let issued = Issued {
        vias: vec![client.id.as_str()],
        rs_id: &t.rs.id,
        subject: &user,
        exp: m.exp,
        covered,
    };
    after_issue(svc.store, client, issued, now).await;
    Ok(issue::response(&m, now, None, None))
}

fn canonical(r: &str) -> Result<String, Error> {
    canonical_resource(r).map_err(|m| Error::InvalidTarget(format!("resource: {m}")))
}

fn unreachable(e: UpstreamError) -> Error {
    match e {
        // The provider's keys could not be read: temporarily unavailable, not the client's fault.
        UpstreamError::Unreachable(m) => {
            Error::Store(StoreError::Backend(format!("identity provider: {m}")))
        }
        UpstreamError::Refused(r) => bad(r.0),
    }
}
