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

/// Verifies an mcpgate access token presented as a subject or actor token, for introspection
/// or to the admin API: signature against the published keys (claims are read only after it
/// verifies), issuer, expiry, the revocation list, and that its subject and client are still
/// active.
pub async fn verify_own_token<S: Store + ?Sized, C: Crypto>(
    svc: &Service<'_, S, C>,
    token: &str,
    now: i64,
    rng: &mut dyn CryptoRngCore,
) -> Result<OwnToken, TokenRejection> {
    let parsed = mcpgate_guard::ParsedToken::parse(token).map_err(|_| TokenRejection::Malformed)?;
    let ring = crate::keys::ensure(svc.store, &svc.kek, rng, now)
        .await
        .map_err(|_| TokenRejection::KeysUnavailable)?;
    let key = ring
        .published(now)
        .into_iter()
        .find(|k| k.kid.as_deref() == Some(parsed.kid()))
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
    let c = claims.custom;
    if c.iss != svc.config.issuer {
        return Err(TokenRejection::OtherIssuer);
    }
    let [revocations, sub, client] = crate::store::Results::new(
        svc.store
            .batch(vec![
                revocation::lookup_stmt(&c, now),
                stmt!(
                    "SELECT (SELECT count(*) FROM users WHERE id = ?1 AND status = 'active') + \
                 (SELECT count(*) FROM clients WHERE id = ?1 AND status = 'active') AS n",
                    &c.sub
                ),
                stmt!(
                    "SELECT count(*) AS n FROM clients WHERE id = ?1 AND status = 'active'",
                    &c.client_id
                ),
            ])
            .await
            .map_err(|_| TokenRejection::StoreUnavailable)?,
    )
    .take()
    .map_err(|_| TokenRejection::StoreUnavailable)?;
    if revocation::revokes(revocations, iat).map_err(|_| TokenRejection::StoreUnavailable)? {
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
        claims: c,
        iat,
        exp,
    })
}
