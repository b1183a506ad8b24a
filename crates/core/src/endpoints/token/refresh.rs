//! The refresh_token grant (RFC 6749 §6, OAuth 2.1 §4.3) with rotation and reuse detection
//! (RFC 9700 §4.14.2).
//!
//! Rotation is conditional on the family being unrevoked and still at the presented generation
//! at write time: a refresh racing a revocation of its family either lands before it (and the
//! family revocation then cuts what it issued: the new access token carries the family in
//! `fam`, the new refresh token belongs to the revoked family) or finds the family revoked and
//! issues nothing.

use rand_core::CryptoRngCore;

use super::{require_grant, sign_for_user, touch};
use crate::crypto::Crypto;
use crate::directory::clients::{Client, GRANT_REFRESH};
use crate::endpoints::target;
use crate::issue;
use crate::policy::scopes;
use crate::revocation;
use crate::secret::generate_secret;
use crate::service::Service;
use crate::store::families::{self, Rotation};
use crate::store::{Store, StoreError};
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
    require_grant(client, GRANT_REFRESH)?;
    let presented = params.require("refresh_token")?;
    let f = families::by_token(svc.store, presented)
        .await?
        .ok_or(Error::InvalidGrant(GrantError::RefreshUnknown))?;
    if f.client_id != client.id {
        return Err(Error::InvalidGrant(GrantError::RefreshOtherClient));
    }
    if f.revoked_at.is_some() {
        return Err(Error::InvalidGrant(GrantError::FamilyRevoked));
    }
    if f.token_generation != f.generation {
        // RFC 9700 §4.14.2: a rotated token used again means it leaked; revoke the family.
        revocation::revoke_family(
            svc.store,
            &f.id,
            "refresh token reused",
            svc.config.max_token_ttl,
            vec![],
            now,
        )
        .await?;
        return Err(Error::InvalidGrant(GrantError::RefreshReused));
    }
    if f.expires_at <= now {
        return Err(Error::InvalidGrant(GrantError::RefreshExpired));
    }
    if target::resource_param(params)?.is_some_and(|r| r != f.resource) {
        return Err(Error::InvalidTarget(
            "a refresh keeps the resource of the original authorization".into(),
        ));
    }
    let authorized = scopes::from_json(&f.scopes);
    let bound = match scopes::parse(params.get("scope"))? {
        Some(req) if !req.is_subset(&authorized) => {
            return Err(Error::InvalidScope(
                "a refresh may narrow the scope, never widen it".into(),
            ))
        }
        Some(req) => req,
        None => authorized,
    };
    let (_, m) = sign_for_user(
        svc,
        client,
        &f.user_id,
        &f.resource,
        &bound,
        &f.id,
        now,
        rng,
    )
    .await?;
    let secret = generate_secret(rng);
    let rotation = families::rotate_stmts(&Rotation {
        id: &f.id,
        generation: f.generation,
        access_jti: &m.jti,
        access_exp: m.exp,
        refresh_digest: secret.digest(),
        now,
    });
    let lost = || Error::InvalidGrant(GrantError::RefreshRaced);
    match svc.store.batch(rotation).await {
        Ok(rows) if rows.first().is_some_and(|r| families::rotated(r)) => {}
        Ok(_) | Err(StoreError::Conflict(_)) => return Err(lost()),
        Err(e) => return Err(e.into()),
    }
    touch(svc.store, client, now).await;
    Ok(issue::response(&m, now, Some(secret.expose()), None))
}
