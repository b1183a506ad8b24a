//! Verifying mcpgate's own access tokens where they come back to it: as RFC 8693 subject and
//! actor tokens, at introspection (RFC 7662) and revocation (RFC 7009), and as admin API
//! credentials.

use rand_core::CryptoRngCore;
use serde::Deserialize;

use crate::crypto::Crypto;
use crate::revocation;
use crate::service::Service;
use crate::stmt;
use crate::store::{decode_first, Store};
use crate::wire::error::TokenRejection;

/// An mcpgate access token that passed [`verify_own_token`].
pub struct OwnToken {
    /// Its claims.
    pub claims: mcpgate_guard::AccessClaims,
    /// `iat`.
    pub iat: i64,
    /// `exp`.
    pub exp: i64,
}

/// An mcpgate access token whose signature, issuer and lifetime verified; whether it is revoked
/// or its subject or client disabled is [`check_standing`]'s question.
pub struct Signed {
    claims: mcpgate_guard::AccessClaims,
    iat: i64,
    exp: i64,
}

impl Signed {
    /// The reads [`check_standing`] makes: the revocation list for the token, and whether its
    /// subject and client are active. (Handlers batch them with their own reads.)
    pub fn standing_stmts(&self, now: i64) -> Vec<crate::store::Stmt> {
        let c = &self.claims;
        vec![
            revocation::lookup_stmt(c, now),
            stmt!(
                "SELECT (SELECT count(*) FROM users WHERE id = ?1 AND status = 'active') + \
                 (SELECT count(*) FROM clients WHERE id = ?1 AND status = 'active') AS n",
                &c.sub
            ),
            stmt!(
                "SELECT count(*) AS n FROM clients WHERE id = ?1 AND status = 'active'",
                &c.client_id
            ),
        ]
    }
}

/// Step one of [`verify_own_token`]: signature against the published keys (claims are read only
/// after it verifies; the keys come from the isolate's cache), issuer and expiry. No D1 read on
/// a warm isolate.
pub async fn verify_signature<S: Store + ?Sized, C: Crypto>(
    svc: &Service<'_, S, C>,
    token: &str,
    now: i64,
    rng: &mut dyn CryptoRngCore,
) -> Result<Signed, TokenRejection> {
    let parsed = mcpgate_guard::ParsedToken::parse(token).map_err(|_| TokenRejection::Malformed)?;
    let key = svc
        .key_cache
        .published(svc.store, svc.kek, rng, now, parsed.kid())
        .await
        .map_err(|_| TokenRejection::KeysUnavailable)?
        .ok_or(TokenRejection::UnknownKey)?;
    let ok = svc
        .crypto
        .verify_es256(&key, parsed.signing_input(), parsed.signature())
        .await;
    // Claims are read only after the signature verified.
    let claims = parsed
        .claims_if_verified(ok)
        .map_err(|_| TokenRejection::BadSignature)?;
    mcpgate_guard::token::check_times(&claims, mcpgate_guard::token::DEFAULT_LEEWAY_SECS, now)
        .map_err(|_| TokenRejection::Expired)?;
    let iat = claims.issued_at.map(|t| t.timestamp()).unwrap_or_default();
    let exp = claims.expiration.map(|t| t.timestamp()).unwrap_or_default();
    let claims = claims.custom;
    if claims.iss != svc.config.issuer {
        return Err(TokenRejection::OtherIssuer);
    }
    Ok(Signed { claims, iat, exp })
}

/// Step two of [`verify_own_token`]: not revoked, subject and client still active (one batch).
pub async fn check_standing<S: Store + ?Sized>(
    db: &S,
    signed: Signed,
    now: i64,
) -> Result<OwnToken, TokenRejection> {
    let [revocations, sub, client] = crate::store::Results::new(
        db.batch(signed.standing_stmts(now))
            .await
            .map_err(|_| TokenRejection::StoreUnavailable)?,
    )
    .take()
    .map_err(|_| TokenRejection::StoreUnavailable)?;
    if revocation::revokes(revocations, signed.iat).map_err(|_| TokenRejection::StoreUnavailable)? {
        return Err(TokenRejection::Revoked);
    }
    #[derive(Deserialize)]
    struct N {
        n: i64,
    }
    let sub_ok: Option<N> = decode_first(sub).map_err(|_| TokenRejection::StoreUnavailable)?;
    let client_ok: Option<N> =
        decode_first(client).map_err(|_| TokenRejection::StoreUnavailable)?;
    if sub_ok.is_none_or(|n| n.n == 0) || client_ok.is_none_or(|n| n.n == 0) {
        return Err(TokenRejection::Disabled);
    }
    Ok(OwnToken {
        claims: signed.claims,
        iat: signed.iat,
        exp: signed.exp,
    })
}

/// Verifies an mcpgate access token presented as a subject or actor token, for introspection
/// or to the admin API: signature against the published keys, issuer, expiry, the revocation
/// list, and that its subject and client are still active.
pub async fn verify_own_token<S: Store + ?Sized, C: Crypto>(
    svc: &Service<'_, S, C>,
    token: &str,
    now: i64,
    rng: &mut dyn CryptoRngCore,
) -> Result<OwnToken, TokenRejection> {
    let signed = verify_signature(svc, token, now, rng).await?;
    check_standing(svc.store, signed, now).await
}
