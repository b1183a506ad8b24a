//! Token introspection (RFC 7662) and revocation (RFC 7009).
//!
//! Introspection answers authenticated confidential clients and admins, and says `active: true`
//! only to callers entitled to the token: the client it was issued to, an admin, or a client an
//! admin allowed to introspect tokens of the token's resource server (the client's
//! `introspect` list: typically the resource server's own client). Everyone else learns
//! nothing (`active: false`). Access tokens are checked exactly as token exchange checks subject
//! tokens: signature, issuer, expiry, the revocation list and the current status of their
//! subject and client. A refresh token is described only to the client it was issued to (or an
//! admin).
//!
//! Both are one D1 round trip for a client caller on a warm isolate (revocation adds its
//! write): the signature is checked first against the cached keys, which names every read the
//! request will make (the caller, the token's standing or its family, the caller's
//! introspection rights), and those are read as one batch ([`Prefetched`]).

use http::StatusCode;
use rand_core::CryptoRngCore;
use serde_json::{json, Value};

use super::client_auth;
use super::own_token::{self, verify_own_token, Signed};
use crate::crypto::Crypto;
use crate::directory::clients;
use crate::directory::clients::Client;
use crate::revocation::{self, Entry, Kind};
use crate::service::Service;
use crate::store::prefetch::Prefetched;
use crate::store::{families, Stmt, Store};
use crate::wire::error::TokenRejection;
use crate::wire::{json as json_response, no_store, Error, Request, Response};

fn inactive() -> Response {
    no_store(json_response(StatusCode::OK, &json!({ "active": false })))
}

/// Who may introspect: a confidential client, or the admin API's credential.
async fn caller<S: Store + ?Sized, C: Crypto>(
    svc: &Service<'_, S, C>,
    req: &Request,
    params: &crate::wire::form::Params,
    now: i64,
    rng: &mut dyn CryptoRngCore,
) -> Result<Option<Client>, Error> {
    let bearer = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(mcpgate_guard::bearer_token)
        .map(str::to_owned);
    if let Some(token) = bearer {
        svc.admin_principal(&token, true, now, rng).await?;
        return Ok(None);
    }
    let client = client_auth::authenticate(svc.store, req, params).await?;
    if !client.is_confidential() {
        return Err(Error::InvalidClient { basic: false });
    }
    Ok(Some(client))
}

fn is_jwt(token: &str) -> bool {
    token.matches('.').count() == 2
}

/// The reads an introspection or revocation request will make, named before any of them: the
/// presented client (not yet authenticated: that is [`caller`]'s decision, on these rows), and
/// for an access token whose signature verified its standing (and, at introspection, the
/// caller's rights), for a refresh token its family.
struct Predicted {
    reads: Vec<Stmt>,
    /// For an access token: the outcome of its signature check.
    signed: Option<Result<Signed, TokenRejection>>,
}

async fn predict<S: Store + ?Sized, C: Crypto>(
    svc: &Service<'_, S, C>,
    req: &Request,
    params: &crate::wire::form::Params,
    rights: bool,
    now: i64,
    rng: &mut dyn CryptoRngCore,
) -> Predicted {
    let mut reads = Vec::new();
    let admin = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .is_some_and(|v| {
            v.to_str()
                .is_ok_and(|v| mcpgate_guard::bearer_token(v).is_some())
        });
    let client_id = if admin {
        None
    } else {
        client_auth::presented(req, params)
            .ok()
            .map(|p| p.client_id)
    };
    if let Some(id) = &client_id {
        reads.push(clients::get_stmt(id));
    }
    let mut signed = None;
    match params.get("token") {
        Some(token) if is_jwt(token) => {
            let checked = own_token::verify_signature(svc, token, now, rng).await;
            if let Ok(s) = &checked {
                reads.extend(s.standing_stmts(now));
                if let (true, Some(id)) = (rights, &client_id) {
                    reads.push(clients::introspection_rights_stmt(id));
                }
            }
            signed = Some(checked);
        }
        Some(token) => reads.push(families::by_digest_stmt(&crate::secret::sha256_b64(
            token.as_bytes(),
        ))),
        None => {}
    }
    Predicted { reads, signed }
}

/// `POST /introspect`.
pub async fn introspect<S: Store + ?Sized, C: Crypto>(
    svc: &Service<'_, S, C>,
    req: &Request,
    now: i64,
    rng: &mut dyn CryptoRngCore,
) -> Result<Response, Error> {
    let params = super::form_body(req)?;
    let predicted = predict(svc, req, &params, true, now, rng).await;
    let snapshot = Prefetched::load(svc.store, predicted.reads, false).await;
    let svc = &svc.on(&snapshot);
    let who = caller(svc, req, &params, now, rng).await?;
    let token = params.require("token")?;
    if is_jwt(token) {
        let own = match predicted.signed {
            Some(Ok(signed)) => own_token::check_standing(svc.store, signed, now).await,
            Some(Err(rejected)) => Err(rejected),
            None => verify_own_token(svc, token, now, rng).await,
        };
        return Ok(match own {
            Ok(own) if entitled(svc.store, who.as_ref(), &own.claims).await? => {
                let c = own.claims;
                let mut v = json!({
                    "active": true,
                    "token_type": "Bearer",
                    "scope": c.scope,
                    "client_id": c.client_id,
                    "sub": c.sub,
                    "aud": c.aud,
                    "iss": c.iss,
                    "jti": c.jti,
                    "iat": own.iat,
                    "exp": own.exp,
                });
                if let (Some(act), Some(o)) = (c.act, v.as_object_mut()) {
                    o.insert(
                        "act".into(),
                        serde_json::to_value(act).unwrap_or(Value::Null),
                    );
                }
                no_store(json_response(StatusCode::OK, &v))
            }
            _ => inactive(),
        });
    }
    let Some(f) = families::by_token(svc.store, token).await? else {
        return Ok(inactive());
    };
    let owner = who.as_ref().is_none_or(|c| c.id == f.client_id);
    let live = f.usable(now) && f.user_status == "active";
    if !owner || !live {
        return Ok(inactive());
    }
    Ok(no_store(json_response(
        StatusCode::OK,
        &json!({
            "active": true,
            "token_type": "refresh_token",
            "scope": crate::policy::scopes::join(&crate::policy::scopes::from_json(&f.scopes)),
            "client_id": f.client_id,
            "sub": f.user_id,
            "aud": f.resource,
            "iss": svc.config.issuer,
            "iat": f.created_at,
            "exp": f.expires_at,
        }),
    )))
}

/// True if `caller` (`None`: an admin) may learn about a valid access token: it was issued to
/// the caller, or an admin allowed the caller to introspect tokens of its resource server.
async fn entitled<S: Store + ?Sized>(
    db: &S,
    caller: Option<&Client>,
    claims: &mcpgate_guard::AccessClaims,
) -> Result<bool, Error> {
    let Some(c) = caller else {
        return Ok(true);
    };
    if c.id == claims.client_id {
        return Ok(true);
    }
    let aud = claims.aud.single().unwrap_or_default();
    Ok(clients::introspection_rights(db, &c.id)
        .await?
        .iter()
        .any(|r| r == aud))
}

/// `POST /revoke`: a refresh token revokes its family; an access token is put on the
/// revocation list until it expires. Unknown tokens and other clients' tokens are ignored
/// (RFC 7009 §2.2: the answer is 200 either way).
pub async fn revoke<S: Store + ?Sized, C: Crypto>(
    svc: &Service<'_, S, C>,
    req: &Request,
    now: i64,
    rng: &mut dyn CryptoRngCore,
) -> Result<Response, Error> {
    let params = super::form_body(req)?;
    let predicted = predict(svc, req, &params, false, now, rng).await;
    let snapshot = Prefetched::load(svc.store, predicted.reads, false).await;
    let svc = &svc.on(&snapshot);
    let client = client_auth::authenticate(svc.store, req, &params).await?;
    let token = params.require("token")?;
    if is_jwt(token) {
        let own = match predicted.signed {
            Some(Ok(signed)) => own_token::check_standing(svc.store, signed, now).await,
            Some(Err(rejected)) => Err(rejected),
            None => verify_own_token(svc, token, now, rng).await,
        };
        if let Ok(own) = own {
            if own.claims.client_id == client.id {
                let entry = Entry {
                    kind: Kind::Jti,
                    id: own.claims.jti,
                    revoked_at: now,
                    expires_at: own.exp,
                };
                revocation::record(svc.store, &[entry], vec![], now).await?;
            }
        }
    } else if let Some(f) = families::by_token(svc.store, token).await? {
        // Any refresh token of the family, current or rotated, revokes the whole family and
        // every token descending from it (the `family` entry), whatever raced with it.
        if f.client_id == client.id {
            revocation::revoke_family(
                svc.store,
                &f.id,
                "revoked by the client (RFC 7009)",
                svc.config.max_token_ttl,
                vec![],
                now,
            )
            .await?;
        }
    }
    let mut r = Response::new(Vec::new());
    *r.status_mut() = StatusCode::OK;
    Ok(no_store(r))
}
