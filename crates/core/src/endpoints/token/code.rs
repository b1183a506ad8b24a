//! The authorization_code grant (RFC 6749 §4.1.3, OAuth 2.1 §4.1.3) with PKCE (RFC 7636).
//!
//! A code is single use, atomically: one statement claims it and records the id of the
//! authorization (refresh family) the redemption will create. A replay — even one racing the
//! first redemption — revokes that family by id, and the family is created only if no such
//! revocation exists at write time, so a replayed code never leaves a live token behind
//! (RFC 6749 §4.1.2, RFC 9700 §4.5.3.1).

use rand_core::CryptoRngCore;

use super::{require_grant, sign_for_user, REFRESH_TTL_SECS};
use crate::crypto::Crypto;
use crate::directory::clients::{Client, GRANT_CODE, GRANT_REFRESH};
use crate::endpoints::target;
use crate::issue;
use crate::policy::{pkce, scopes};
use crate::revocation;
use crate::secret::{generate_secret, sha256_b64};
use crate::service::Service;
use crate::store::families::{self, NewFamily};
use crate::store::{codes, Store, StoreError};
use crate::wire::error::GrantError;
use crate::wire::form::Params;
use crate::wire::{Error, Response};

pub(super) async fn grant<S: Store + ?Sized, C: Crypto>(
    svc: &Service<'_, S, C>,
    client: &Client,
    params: &Params,
    now: i64,
    rng: &mut dyn CryptoRngCore,
) -> Result<Response, Error> {
    require_grant(client, GRANT_CODE)?;
    let code = params.require("code")?;
    let verifier = params
        .get("code_verifier")
        .ok_or_else(|| Error::InvalidRequest("code_verifier is required (PKCE)".into()))?;
    let redirect_uri = params.require("redirect_uri")?;
    let resource = target::resource_param(params)?;
    let digest = sha256_b64(code.as_bytes());
    let family_id = crate::directory::new_id("rf", rng);
    let Some(code_row) = codes::claim(svc.store, &digest, &family_id, now).await? else {
        return Err(refused(svc, &digest, now).await?);
    };
    if code_row.client_id != client.id {
        return Err(Error::InvalidGrant(GrantError::CodeOtherClient));
    }
    if code_row.redirect_uri != redirect_uri {
        return Err(Error::InvalidGrant(GrantError::RedirectMismatch));
    }
    if !pkce::verify(verifier, &code_row.code_challenge) {
        return Err(Error::InvalidGrant(GrantError::PkceMismatch));
    }
    if resource.as_ref().is_some_and(|r| *r != code_row.resource) {
        return Err(Error::InvalidTarget(
            "resource differs from the authorization request".into(),
        ));
    }
    let bound = scopes::from_json(&code_row.scopes);
    let (t, m) = sign_for_user(
        svc,
        client,
        &code_row.user_id,
        &code_row.resource,
        &bound,
        &family_id,
        now,
        rng,
    )
    .await?;
    // Every redemption creates a family, refresh tokens or not: it is the authorization that
    // consent revocation and replay detection revoke.
    let refresh = client.allows_grant(GRANT_REFRESH).then(|| {
        super::refresh::compose(&code_row.user_id, &code_row.resource, &generate_secret(rng))
    });
    let mut stmts = families::create_stmts(&NewFamily {
        id: &family_id,
        client_id: &client.id,
        user_id: &code_row.user_id,
        resource_server_id: &t.rs.id,
        scopes: &code_row.scopes,
        access_jti: &m.jti,
        access_exp: m.exp,
        refresh_digest: refresh.as_ref().map(|s| s.digest()),
        expires_at: now + REFRESH_TTL_SECS,
        now,
    });
    stmts.push(codes::record_access_stmt(&digest, &m.jti, m.exp));
    stmts.push(crate::directory::clients::touch_stmt(&client.id, now));
    let rows = match svc.store.batch(stmts).await {
        Ok(rows) => rows,
        Err(StoreError::Conflict(_)) => return Err(replayed()),
        Err(e) => return Err(e.into()),
    };
    if !rows.first().is_some_and(|r| families::created(r)) {
        // A replay revoked this authorization between the claim and now: issue nothing.
        return Err(replayed());
    }
    Ok(issue::response(
        &m,
        now,
        refresh.as_ref().map(|s| s.expose()),
        None,
    ))
}

fn replayed() -> Error {
    Error::InvalidGrant(GrantError::CodeReplayed)
}

/// Why a code could not be claimed; a replay revokes what the code issued (or will issue).
async fn refused<S: Store + ?Sized, C: Crypto>(
    svc: &Service<'_, S, C>,
    digest: &str,
    now: i64,
) -> Result<Error, Error> {
    Ok(match codes::get(svc.store, digest).await? {
        Some(c) if c.redeemed_at.is_some() => {
            if let Some(f) = &c.family_id {
                revocation::revoke_family(
                    svc.store,
                    f,
                    "authorization code replayed",
                    svc.config.max_token_ttl,
                    vec![],
                    now,
                )
                .await?;
            }
            replayed()
        }
        Some(c) if c.expires_at <= now => Error::InvalidGrant(GrantError::CodeExpired),
        _ => Error::InvalidGrant(GrantError::CodeUnknown),
    })
}
