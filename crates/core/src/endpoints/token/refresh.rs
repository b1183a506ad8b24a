//! The refresh_token grant (RFC 6749 §6, OAuth 2.1 §4.3) with rotation and reuse detection
//! (RFC 9700 §4.14.2), in one D1 round trip.
//!
//! A refresh token names, in clear, the user and the resource server of its authorization
//! (`<user id>~<base64url resource>~<secret>`: `~`, not `.`, so it never looks like a JWT; both are already known to the client that holds
//! it, and the token's digest covers them, so changing either makes an unknown token). So one
//! batch can hold every read the answer needs — the client, the family, the target, the user's
//! permissions and consent — and the rotation itself, which the database writes only if
//! everything it can check holds at write time (see
//! [`families::rotate_presented_stmts`]). The few checks only Rust can make come after; if one
//! refuses a rotation that was written, the rotation is undone (a second round trip, on that
//! failure path only). A token without coordinates (issued before this format) costs one
//! lookup first.
//!
//! Races: the rotation is conditional on the family being unrevoked and at the presented
//! generation at write time, so a refresh racing a revocation of its family either lands
//! before it (and the revocation then cuts what it issued: the new access token carries the
//! family in `fam`) or finds it revoked and issues nothing; two refreshes with one token rotate
//! once.

use rand_core::CryptoRngCore;

use super::{effective_for_user, require_grant, sign};
use crate::crypto::Crypto;
use crate::directory::clients::{self, GRANT_REFRESH};
use crate::endpoints::client_auth::{self, Presented};
use crate::endpoints::target;
use crate::issue::{self, Mint};
use crate::policy::scopes;
use crate::revocation;
use crate::secret::{coordinates, generate_secret, sha256_b64, with_coordinates};
use crate::service::Service;
use crate::store::families::{self, FamilyRow, PresentedRotation, Rotated};
use crate::store::{decode_first, Results, Store};
use crate::wire::error::GrantError;
use crate::wire::form::Params;
use crate::wire::{Error, Response};

pub(super) async fn grant<S: Store + ?Sized, C: Crypto>(
    svc: &Service<'_, S, C>,
    presented: &Presented,
    params: &Params,
    now: i64,
    rng: &mut dyn CryptoRngCore,
) -> Result<Response, Error> {
    let token = params.require("refresh_token")?;
    let digest = sha256_b64(token.as_bytes());
    let requested = scopes::parse(params.get("scope"))?;
    let resource_param = target::resource_param(params)?;
    let (user_id, resource) = match coordinates(token) {
        Some(c) => c,
        // An older token: look its coordinates up (an unknown one reads nothing below).
        None => families::by_token(svc.store, token)
            .await?
            .map(|f| (f.user_id, f.resource))
            .unwrap_or_default(),
    };
    let jti = issue::new_jti(rng);
    let next = with_coordinates(&user_id, &resource, &generate_secret(rng));
    let next_digest = next.digest();
    let secret_digest = presented.secret_digest();
    let requested_json = scopes::to_json(&requested.clone().unwrap_or_default());
    // A request for another resource writes nothing; it is refused below.
    let write = resource_param.as_ref().is_none_or(|r| *r == resource);
    let mut stmts = vec![
        clients::get_stmt(&presented.client_id),
        families::by_digest_stmt(&digest),
    ];
    if write {
        stmts.extend(families::rotate_presented_stmts(&PresentedRotation {
            presented_digest: &digest,
            client_id: &presented.client_id,
            secret_digest: secret_digest.as_deref(),
            auth_method: presented.method.as_str(),
            requested_scopes: &requested_json,
            access_jti: &jti,
            refresh_digest: &next_digest,
            now,
        }));
        stmts.push(clients::touch_after_refresh_stmt(
            &presented.client_id,
            &next_digest,
            now,
        ));
    }
    stmts.extend(target::stmts_with_user(
        &presented.client_id,
        &resource,
        &user_id,
    ));
    let mut r = Results::new(svc.store.batch(stmts).await?);
    let client_row = decode_first(r.next_rows()?)?;
    let family: Option<FamilyRow> = decode_first(r.next_rows()?)?;
    let rotated: Option<Rotated> = if write {
        let [rotation, _insert, _touch] = r.take()?;
        decode_first(rotation)?
    } else {
        None
    };
    // From here, a refusal must not leave a rotation behind.
    let undo = |e: Error| async {
        if let (Some(rot), Some(f)) = (&rotated, &family) {
            let stmts = families::unrotate_stmts(rot, &jti, &next_digest, f.latest_access());
            if let Err(store) = svc.store.batch(stmts.to_vec()).await {
                return store.into();
            }
        }
        e
    };
    let client = match client_auth::check(presented, client_row) {
        Ok(c) => c,
        Err(e) => return Err(undo(e).await),
    };
    if let Err(e) = require_grant(&client, GRANT_REFRESH) {
        return Err(undo(e).await);
    }
    let Some(f) = family
        .as_ref()
        .filter(|f| f.user_id == user_id && f.resource == resource)
    else {
        return Err(undo(Error::InvalidGrant(GrantError::RefreshUnknown)).await);
    };
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
    if !write {
        return Err(Error::InvalidTarget(
            "a refresh keeps the resource of the original authorization".into(),
        ));
    }
    let authorized = scopes::from_json(&f.scopes);
    let bound = match requested {
        Some(req) if !req.is_subset(&authorized) => {
            return Err(undo(Error::InvalidScope(
                "a refresh may narrow the scope, never widen it".into(),
            ))
            .await)
        }
        Some(req) => req,
        None => authorized,
    };
    if f.user_status != "active" {
        return Err(undo(Error::InvalidGrant(GrantError::UserDisabled)).await);
    }
    let Some(rot) = &rotated else {
        // Everything checked out when read, yet the write did not happen: a concurrent
        // refresh or revocation got there first.
        return Err(Error::InvalidGrant(GrantError::RefreshRaced));
    };
    let (t, view) = match target::from_rows_with_user(&client, &mut r, None) {
        Ok(v) => v,
        Err(e) => return Err(undo(e).await),
    };
    let (held, consent) = (view.held, view.consent);
    let Some(held) = held else {
        return Err(undo(Error::InvalidGrant(GrantError::UserDisabled)).await);
    };
    let granted = match scopes::non_empty(
        effective_for_user(&bound, &consent, &held, &t),
        "none of the authorized scopes are held any more",
    ) {
        Ok(g) => g,
        Err(e) => return Err(undo(e).await),
    };
    let m = sign(
        svc,
        Mint {
            sub: &user_id,
            aud: &t.rs.identifier,
            client_id: &client.id,
            scopes: &granted,
            act: Some(mcpgate_guard::Actor::new(client.id.clone())),
            fam: Some(&f.id),
            ttl: rot.access_exp - now,
            jti: Some(&jti),
        },
        now,
        rng,
    )
    .await;
    let m = match m {
        Ok(m) => m,
        Err(e) => return Err(undo(e).await),
    };
    Ok(issue::response(&m, now, Some(next.expose()), None))
}
