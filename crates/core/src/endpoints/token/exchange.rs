//! Token exchange (RFC 8693): a client acting for the subject of a token it was given.
//!
//! Only along delegations an admin configured ([`crate::directory::clients::exchange_rules`]):
//! a client may exchange subject tokens issued for resource server `from` into tokens for `to`.
//! What comes out never exceeds what went in:
//! - same audience (`from = to`): only narrows — the result ⊆ the subject token's scope;
//! - another audience: what the subject holds there now;
//! - always ∩ the caller's own roles there (its ceiling) ∩ the requested scope;
//! - the new token expires no later than the subject token, carries the subject token's
//!   authorization (`fam`) so revoking that authorization (refresh family, consent) cuts it, and
//!   names every client in its `act` chain so disabling any of them cuts it; re-exchanging
//!   cannot extend a token's life past its origin's.

use mcpgate_guard::Actor;
use rand_core::CryptoRngCore;

use super::{after_issue, load_target, require_grant, sign, Issued};
use crate::crypto::Crypto;
use crate::directory::clients::{self, Client, GRANT_TOKEN_EXCHANGE};
use crate::directory::permissions::{self, Principal};
use crate::endpoints::own_token::verify_own_token;
use crate::endpoints::target;
use crate::issue::{self, Mint};
use crate::policy::scopes::{self, Scopes};
use crate::service::Service;
use crate::store::Store;
use crate::wire::form::Params;
use crate::wire::{Error, Response};

/// RFC 8693 token type of an access token.
pub const TOKEN_TYPE_ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";
/// RFC 8693 token type of a JWT.
pub const TOKEN_TYPE_JWT: &str = "urn:ietf:params:oauth:token-type:jwt";

/// Longest delegation chain accepted in token exchange (actors).
pub const MAX_ACTOR_DEPTH: usize = 8;

pub(super) async fn grant<S: Store + ?Sized, C: Crypto>(
    svc: &Service<'_, S, C>,
    client: &Client,
    params: &Params,
    now: i64,
    rng: &mut dyn CryptoRngCore,
) -> Result<Response, Error> {
    require_grant(client, GRANT_TOKEN_EXCHANGE)?;
    if !client.is_confidential() {
        return Err(Error::UnauthorizedClient(
            "token exchange needs a confidential client".into(),
        ));
    }
    let rules = clients::exchange_rules(svc.store, &client.id).await?;
    if rules.is_empty() {
        return Err(Error::UnauthorizedClient(
            "no administrator has allowed this client to exchange tokens".into(),
        ));
    }
    let subject_token = params.require("subject_token")?;
    match params.require("subject_token_type")? {
        TOKEN_TYPE_ACCESS | TOKEN_TYPE_JWT => {}
        _ => {
            return Err(Error::InvalidRequest(
                "unsupported subject_token_type".into(),
            ))
        }
    }
    if let Some(t) = params.get("requested_token_type") {
        if t != TOKEN_TYPE_ACCESS {
            return Err(Error::InvalidRequest(
                "only access tokens can be requested".into(),
            ));
        }
    }
    // RFC 8693 §2.2.2: an unacceptable subject token is invalid_request.
    let subject = verify_own_token(svc, subject_token, now, rng)
        .await
        .map_err(|why| Error::BadSubjectToken("subject_token", why))?;
    let from = subject.claims.aud.single().unwrap_or_default().to_owned();
    let targets: Vec<&str> = rules
        .iter()
        .filter(|r| r.from == from)
        .map(|r| r.to.as_str())
        .collect();
    if targets.is_empty() {
        return Err(Error::InvalidRequest(
            "subject_token: its audience is not a resource server this client may exchange tokens from".into(),
        ));
    }
    let resource = match target::resource_param(params)? {
        Some(r) => r,
        None => match targets.as_slice() {
            [only] => (*only).to_owned(),
            _ => {
                return Err(Error::InvalidTarget(
                    "the resource parameter (RFC 8707) is required".into(),
                ))
            }
        },
    };
    if !targets.contains(&resource.as_str()) {
        return Err(Error::InvalidTarget(
            "this client may not exchange tokens from that audience for this resource server"
                .into(),
        ));
    }
    check_actor_token(svc, client, params, now, rng).await?;
    let chain_depth = subject.claims.act.as_ref().map_or(0, |a| a.depth());
    if chain_depth + 1 > MAX_ACTOR_DEPTH {
        return Err(Error::InvalidRequest("delegation chain too long".into()));
    }
    let (t, covered) = load_target(svc.store, client, &resource, &subject.claims.sub).await?;
    let subject_held = held_by_subject(svc.store, &subject.claims.sub, &resource).await?;
    let mut bound = scopes::and(&subject_held, &t.client_held);
    if resource == from {
        // Same audience: the subject token's own scope is the most it may carry.
        let carried: Scopes = subject.claims.scopes().map(str::to_owned).collect();
        bound = scopes::and(&bound, &carried);
    }
    let granted = match scopes::parse(params.get("scope"))? {
        Some(r) => scopes::and(&r, &bound),
        None => bound,
    };
    let granted = scopes::non_empty(
        granted,
        "neither the subject nor this client holds the requested scopes there",
    )?;
    let claims = subject.claims;
    // Every client a revocation of which will cut the new token: its client_id and its actors.
    let actors: Vec<String> = claims.actors().map(|a| a.sub.clone()).collect();
    let act = Actor {
        sub: client.id.clone(),
        act: claims.act.map(Box::new),
    };
    // Never outlives its origin: re-exchanging cannot extend a token's life.
    let ttl = t.rs.access_token_ttl.min(subject.exp - now);
    if ttl <= 0 {
        return Err(Error::InvalidRequest("subject_token: expired".into()));
    }
    let m = sign(
        svc,
        Mint {
            sub: &claims.sub,
            aud: &t.rs.identifier,
            client_id: &client.id,
            scopes: &granted,
            act: Some(act),
            fam: claims.fam.as_deref(),
            ttl,
            jti: None,
        },
        now,
        rng,
    )
    .await?;
    let mut vias = vec![client.id.as_str()];
    vias.extend(actors.iter().map(String::as_str));
    let issued = Issued {
        vias,
        rs_id: &t.rs.id,
        subject: &claims.sub,
        exp: m.exp,
        covered,
    };
    after_issue(svc.store, client, issued, now).await;
    Ok(issue::response(&m, now, None, Some(TOKEN_TYPE_ACCESS)))
}

/// An `actor_token`, if present, must be a valid token of the authenticated client itself.
async fn check_actor_token<S: Store + ?Sized, C: Crypto>(
    svc: &Service<'_, S, C>,
    client: &Client,
    params: &Params,
    now: i64,
    rng: &mut dyn CryptoRngCore,
) -> Result<(), Error> {
    let Some(actor_token) = params.get("actor_token") else {
        if params.get("actor_token_type").is_some() {
            return Err(Error::InvalidRequest(
                "actor_token_type without actor_token".into(),
            ));
        }
        return Ok(());
    };
    match params.get("actor_token_type") {
        Some(TOKEN_TYPE_ACCESS | TOKEN_TYPE_JWT) => {}
        _ => {
            return Err(Error::InvalidRequest(
                "actor_token_type is required with actor_token".into(),
            ))
        }
    }
    let actor = verify_own_token(svc, actor_token, now, rng)
        .await
        .map_err(|why| Error::BadSubjectToken("actor_token", why))?
        .claims;
    if actor.sub != client.id {
        return Err(Error::InvalidRequest(
            "actor_token must identify the authenticated client".into(),
        ));
    }
    Ok(())
}

/// What the subject (a user, or a client acting for itself) holds on a resource server now.
async fn held_by_subject<S: Store + ?Sized>(
    db: &S,
    sub: &str,
    resource: &str,
) -> Result<Scopes, Error> {
    for p in [
        Principal::User(sub.to_owned()),
        Principal::Client(sub.to_owned()),
    ] {
        if let Some((status, eff)) = permissions::load(db, &p, resource).await? {
            return Ok(if status == crate::directory::Status::Active {
                permissions::names(&eff)
            } else {
                Scopes::new()
            });
        }
    }
    Ok(Scopes::new())
}
