//! The token endpoint (RFC 6749 §3.2, OAuth 2.1 §3.2): one module per grant —
//! [`code`] (authorization_code with PKCE), [`refresh`] (rotation with reuse detection),
//! [`client_credentials`], [`exchange`] (RFC 8693) and [`assertion`] (RFC 7523 with
//! identity assertions, ID-JAG). Every token is bound to exactly one
//! resource server (RFC 8707) and carries only scopes that survive every bound: requested ∩
//! held now ∩ the client's ceiling ∩ consent.

mod assertion;
mod client_credentials;
mod code;
mod exchange;
mod refresh;

use rand_core::CryptoRngCore;

use super::client_auth;
use super::target::{self, Target};
use crate::crypto::Crypto;
use crate::directory::clients::{
    Client, GRANT_CLIENT_CREDENTIALS, GRANT_CODE, GRANT_REFRESH, GRANT_TOKEN_EXCHANGE,
};
use crate::issue::{self, Mint, Minted};
use crate::policy::scopes::{self, Scopes};
use crate::service::Service;
use crate::store::{decode_first, issuances, Results, Store};
use crate::wire::form::Params;
use crate::wire::{Error, Request, Response};

pub use assertion::{ID_JAG_TYP, MAX_ASSERTION_LIFETIME_SECS};
pub use exchange::{MAX_ACTOR_DEPTH, TOKEN_TYPE_ACCESS, TOKEN_TYPE_JWT};

/// Absolute lifetime of a refresh-token family (seconds): 30 days.
pub const REFRESH_TTL_SECS: i64 = 30 * 86_400;

/// `POST /token`.
pub async fn handle<S: Store + ?Sized, C: Crypto>(
    svc: &Service<'_, S, C>,
    req: &Request,
    now: i64,
    rng: &mut dyn CryptoRngCore,
) -> Result<Response, Error> {
    let params = super::form_body(req)?;
    let grant = params.require("grant_type")?.to_owned();
    let presented = client_auth::presented(req, &params)?;
    // These two load the client in their own single batch.
    if grant == GRANT_REFRESH {
        return refresh::grant(svc, &presented, &params, now, rng).await;
    }
    if grant == GRANT_CODE {
        return code::grant(svc, &presented, &params, now, rng).await;
    }
    if grant == GRANT_CLIENT_CREDENTIALS {
        if let Some(resource) = target::resource_param(&params)? {
            // The hot path: the client and everything about the target in one D1 batch.
            let id = &presented.client_id;
            let mut stmts = vec![crate::directory::clients::get_stmt(id)];
            stmts.extend(target::stmts(id, &resource));
            stmts.push(issuances::get_stmt(id, &resource, id));
            let mut r = Results::new(svc.store.batch(stmts).await?);
            let client = client_auth::check(&presented, decode_first(r.next_rows()?)?)?;
            client_credentials::preconditions(&client)?;
            let t = target::from_rows(&client, &mut r)?;
            let covered = issuances::covered_until(r.next_rows()?)?;
            return client_credentials::grant(svc, &client, &params, (t, covered), now, rng).await;
        }
    }
    let client = client_auth::check(
        &presented,
        crate::directory::clients::get_row(svc.store, &presented.client_id).await?,
    )?;
    match grant.as_str() {
        GRANT_CLIENT_CREDENTIALS => {
            client_credentials::preconditions(&client)?;
            let resource = resolve_resource(svc.store, &client, &params).await?;
            let t = load_target(svc.store, &client, &resource, &client.id).await?;
            client_credentials::grant(svc, &client, &params, t, now, rng).await
        }
        GRANT_TOKEN_EXCHANGE => exchange::grant(svc, &client, &params, now, rng).await,
        crate::directory::clients::GRANT_JWT_BEARER => {
            assertion::grant(svc, &client, &params, now, rng).await
        }
        _ => Err(Error::UnsupportedGrantType),
    }
}

fn require_grant(client: &Client, grant: &str) -> Result<(), Error> {
    if client.allows_grant(grant) {
        Ok(())
    } else {
        Err(Error::UnauthorizedClient(format!(
            "this client may not use {grant}"
        )))
    }
}

/// Loads the target for a client, and until when the issuance record of (client, target,
/// `subject`) covers tokens (one round trip).
async fn load_target<S: Store + ?Sized>(
    db: &S,
    client: &Client,
    identifier: &str,
    subject: &str,
) -> Result<(Target, Option<i64>), Error> {
    let mut stmts = target::stmts(&client.id, identifier).to_vec();
    stmts.push(issuances::get_stmt(&client.id, identifier, subject));
    let mut r = Results::new(db.batch(stmts).await?);
    let t = target::from_rows(client, &mut r)?;
    Ok((t, issuances::covered_until(r.next_rows()?)?))
}

/// The resource a client_credentials request targets: the parameter, or the one resource
/// server a client is restricted to.
async fn resolve_resource<S: Store + ?Sized>(
    db: &S,
    client: &Client,
    params: &Params,
) -> Result<String, Error> {
    if let Some(r) = target::resource_param(params)? {
        return Ok(r);
    }
    let restriction =
        target::restriction_from_rows(db.query(target::sole_resource_stmt(&client.id)).await?)?;
    match restriction.as_slice() {
        [only] => Ok(only.clone()),
        _ => Err(Error::InvalidTarget(
            "the resource parameter (RFC 8707) is required".into(),
        )),
    }
}

/// After a token without a refresh family is issued (client_credentials, exchange): records the
/// issuance if the token outlives what its record covers, and marks the client as used (for
/// unused-registration cleanup), each at most about once an hour, in one batch or none. Best
/// effort: the token is already issued, so a failure here must not turn the answer into an
/// error.
async fn after_issue<S: Store + ?Sized>(db: &S, client: &Client, issued: Issued<'_>, now: i64) {
    let mut stmts = Vec::new();
    if client.last_used_at.is_none_or(|t| now - t >= 3600) {
        stmts.push(crate::directory::clients::touch_stmt(&client.id, now));
    }
    if issuances::needs_record(issued.covered, issued.exp) {
        stmts.push(issuances::record_stmt(
            &issued.vias,
            issued.rs_id,
            issued.subject,
            now,
            issued.exp,
        ));
    }
    if !stmts.is_empty() {
        let _ = db.batch(stmts).await;
    }
}

/// A token just issued, for [`after_issue`].
struct Issued<'a> {
    /// The clients it went through: the one it was issued to, then its actors.
    vias: Vec<&'a str>,
    rs_id: &'a str,
    subject: &'a str,
    exp: i64,
    /// Until when the issuance record already covers tokens.
    covered: Option<i64>,
}

async fn sign<S: Store + ?Sized, C: Crypto>(
    svc: &Service<'_, S, C>,
    m: Mint<'_>,
    now: i64,
    rng: &mut dyn CryptoRngCore,
) -> Result<Minted, Error> {
    let key = svc.key_cache.get(svc.store, svc.kek, rng, now).await?;
    issue::mint(svc.crypto, &key, &svc.config.issuer, m, now, rng).await
}

// ---------------------------------------------------------------- a user's tokens

/// What a user may get through a client on a target now: grant ∩ held ∩ ceiling, bounded by
/// `bound` (the authorization's requested scopes or a narrower refresh request).
fn effective_for_user(bound: &Scopes, consent: &Scopes, held: &Scopes, t: &Target) -> Scopes {
    let s = scopes::and(bound, consent);
    let s = scopes::and(&s, held);
    scopes::and(&s, &t.ceiling)
}
