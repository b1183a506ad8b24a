//! The authorization_code grant (RFC 6749 §4.1.3, OAuth 2.1 §4.1.3) with PKCE (RFC 7636), in
//! one D1 round trip.
//!
//! A code is sealed: it carries the authorization it stands for (see
//! [`crate::store::codes::CodeKey`]), so one batch writes its row and holds the client, the claim of the code,
//! the creation of its family (refresh tokens or not: the family is the authorization that
//! consent revocation and replay detection revoke), and every read the token needs. The claim
//! is written only for the client the code was issued to, with its credential; the family only
//! if the code matches the request (redirect URI, PKCE, resource) and the user is active. A
//! check only Rust can make that refuses afterwards deletes the family before anything was
//! issued (a second round trip, on that failure path only).
//!
//! Single use, atomically: the claim records the id of the family the redemption creates. A
//! replay — even one racing the first redemption — revokes that family by id, and the family is
//! created only if no such revocation exists at write time, so a replayed code never leaves a
//! live token behind (RFC 6749 §4.1.2, RFC 9700 §4.5.3.1).

use rand_core::CryptoRngCore;

use super::REFRESH_TTL_SECS;
use super::{effective_for_user, require_grant, sign};
use crate::crypto::Crypto;
use crate::directory::clients::{self, GRANT_CODE, GRANT_REFRESH};
use crate::endpoints::client_auth::{self, Presented};
use crate::endpoints::target;
use crate::issue::{self, Mint};
use crate::policy::{pkce, scopes};
use crate::revocation;
use crate::secret::{generate_secret, with_coordinates};
use crate::service::Service;
use crate::store::codes::{self, Claim, CodeRow};
use crate::store::families::{self, FromCode, Rotated};
use crate::store::{decode_first, Results, Store, StoreError};
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
    let code = params.require("code")?;
    let verifier = params
        .get("code_verifier")
        .ok_or_else(|| Error::InvalidRequest("code_verifier is required (PKCE)".into()))?;
    let redirect_uri = params.require("redirect_uri")?;
    let resource_param = target::resource_param(params)?;
    let Some((digest, sealed)) = svc.config.derived.code.open(code) else {
        return Err(Error::InvalidGrant(GrantError::CodeUnknown));
    };
    if sealed.exp <= now {
        // An authentic code past its expiry: if it was redeemed, this is a replay and revokes
        // what it issued (RFC 6749 §4.1.2), however late it comes.
        return Err(
            match refused(svc, &digest, &presented.client_id, redirect_uri, now).await? {
                Error::InvalidGrant(GrantError::CodeUnknown) => {
                    Error::InvalidGrant(GrantError::CodeExpired)
                }
                e => e,
            },
        );
    }
    let (user_id, resource) = (sealed.u.clone(), sealed.a.clone());
    // A malformed verifier answers no challenge: the family below is then never created.
    let challenge = pkce::challenge_of(verifier).unwrap_or_default();
    let family_id = crate::directory::new_id("rf", rng);
    let jti = issue::new_jti(rng);
    let refresh = with_coordinates(&user_id, &resource, &generate_secret(rng));
    let refresh_digest = refresh.digest();
    let secret_digest = presented.secret_digest();
    let mut stmts = vec![
        codes::materialize_stmt(&digest, &sealed, now),
        clients::get_stmt(&presented.client_id),
        codes::claim_stmt(&Claim {
            digest: &digest,
            family_id: &family_id,
            client_id: &presented.client_id,
            secret_digest: secret_digest.as_deref(),
            auth_method: presented.method.as_str(),
            redirect_uri,
            pkce_challenge: &challenge,
            now,
        }),
    ];
    stmts.extend(families::create_from_code_stmts(&FromCode {
        id: &family_id,
        code_digest: &digest,
        client_id: &presented.client_id,
        redirect_uri,
        pkce_challenge: &challenge,
        resource: resource_param.as_deref(),
        access_jti: &jti,
        refresh_digest: &refresh_digest,
        expires_at: now + REFRESH_TTL_SECS,
        now,
    }));
    stmts.push(codes::record_access_stmt(&digest, &family_id, &jti));
    stmts.push(clients::touch_after_redemption_stmt(
        &presented.client_id,
        &family_id,
        &jti,
        now,
    ));
    stmts.extend(target::stmts_with_user(
        &presented.client_id,
        &resource,
        &user_id,
    ));
    let mut r = match svc.store.batch(stmts).await {
        Ok(rows) => Results::new(rows),
        Err(StoreError::Conflict(_)) => return Err(replayed()),
        Err(e) => return Err(e.into()),
    };
    let _materialized = r.next_rows()?;
    let client_row = decode_first(r.next_rows()?)?;
    let claimed: Option<CodeRow> = decode_first(r.next_rows()?)?;
    let [family, _refresh, _record, _touch] = r.take()?;
    let created: Option<Rotated> = decode_first(family)?;
    // From here, a refusal must not leave a family that could be mistaken for an issued one.
    let undo = |e: Error| async {
        if created.is_some() {
            let forget = families::forget_unissued_stmt(&family_id, &jti);
            if let Err(store) = svc.store.query(forget).await {
                return store.into();
            }
        }
        e
    };
    let client = match client_auth::check(presented, client_row) {
        Ok(c) => c,
        Err(e) => return Err(undo(e).await),
    };
    if let Err(e) = require_grant(&client, GRANT_CODE) {
        return Err(undo(e).await);
    }
    let Some(code_row) = claimed else {
        return Err(refused(svc, &digest, &client.id, redirect_uri, now).await?);
    };
    if code_row.user_id != user_id || code_row.resource != resource {
        return Err(undo(Error::InvalidGrant(GrantError::CodeUnknown)).await);
    }
    if code_row.redirect_uri != redirect_uri {
        return Err(Error::InvalidGrant(GrantError::RedirectMismatch));
    }
    // `/authorize` may have read a replica that had not seen the client's redirect URIs change:
    // the code's must still be registered now.
    if !client.redirect_matches(&code_row.redirect_uri) {
        return Err(undo(Error::InvalidGrant(GrantError::RedirectMismatch)).await);
    }
    if !pkce::verify(verifier, &code_row.code_challenge) {
        return Err(undo(Error::InvalidGrant(GrantError::PkceMismatch)).await);
    }
    if resource_param
        .as_ref()
        .is_some_and(|r| *r != code_row.resource)
    {
        return Err(Error::InvalidTarget(
            "resource differs from the authorization request".into(),
        ));
    }
    let (t, view) =
        match target::from_rows_with_user(&client, &mut r, client.redirect_uris_changed_at) {
            Ok(v) => v,
            Err(e) => return Err(undo(e).await),
        };
    let (held, consent) = (view.held, view.consent);
    let Some(held) = held else {
        return Err(undo(Error::InvalidGrant(GrantError::UserDisabled)).await);
    };
    let Some(created) = &created else {
        // The code matched and the user is active, so a replay revoked this authorization
        // between the claim and the creation: issue nothing.
        return Err(replayed());
    };
    let bound = scopes::from_json(&code_row.scopes);
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
            fam: Some(&created.id),
            ttl: created.access_exp - now,
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
    let refresh = client.allows_grant(GRANT_REFRESH).then(|| refresh.expose());
    Ok(issue::response(&m, now, refresh, None))
}

fn replayed() -> Error {
    Error::InvalidGrant(GrantError::CodeReplayed)
}

/// Why a code could not be claimed; a replay revokes what the code issued (or will issue).
async fn refused<S: Store + ?Sized, C: Crypto>(
    svc: &Service<'_, S, C>,
    digest: &str,
    client_id: &str,
    redirect_uri: &str,
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
        // Not spent by a request that is not its client's, or lacks its redirect URI or
        // verifier: such a request may hold an intercepted code.
        Some(c) if c.client_id != client_id => Error::InvalidGrant(GrantError::CodeOtherClient),
        Some(c) if c.expires_at <= now => Error::InvalidGrant(GrantError::CodeExpired),
        Some(c) if c.redirect_uri != redirect_uri => {
            Error::InvalidGrant(GrantError::RedirectMismatch)
        }
        Some(_) => Error::InvalidGrant(GrantError::PkceMismatch),
        _ => Error::InvalidGrant(GrantError::CodeUnknown),
    })
}
