//! The revocation feed for offline validators (contract: `mcpgate_guard::revocation`).
//!
//! `GET /revocations` serves the KV revocation list as a JWS signed with the token-signing key
//! (`typ: revocations+jwt`), verifiable with the JWKS. `?since=<seq>` serves only entries
//! revoked after the cursor, minus [`KV_PROPAGATION_SECS`] of overlap: KV is eventually
//! consistent, so an entry written elsewhere can appear here late with an older `revoked_at`;
//! re-sending recent entries is harmless (clients merge them). `since` is rounded down to a
//! [`SINCE_STEP_SECS`] boundary so callers cannot multiply distinct answers. Responses carry a
//! content `ETag` (a conditional request is answered 304 without signing) and a short public
//! max-age. The payload is the contract's own type, `mcpgate_guard::revocation::RevocationFeed`.

use http::{header, HeaderValue, StatusCode};
use mcpgate_guard::revocation::{RevocationFeed, REVOCATIONS_PATH, REVOCATIONS_TYP};
use rand_core::CryptoRngCore;

use crate::crypto::Crypto;
use crate::service::Service;
use crate::store::Store;
use crate::wire::{Error, Request, Response};

/// Path of the feed below the issuer (the contract's).
pub const PATH: &str = REVOCATIONS_PATH;
/// Seconds validators and the edge may cache a feed response.
pub const FEED_MAX_AGE: u32 = 15;
/// How late a KV write may become visible at another location (seconds, Cloudflare's stated
/// upper bound for KV propagation).
pub const KV_PROPAGATION_SECS: i64 = 60;
/// `since` is rounded down to a multiple of this (seconds): however a caller varies it, the
/// answers fall on few distinct, cacheable cursors (validators accept a feed that starts at or
/// before their cursor).
pub const SINCE_STEP_SECS: u64 = 60;

/// `GET /revocations[?since=<seq>]`. No other parameter is accepted, so a request cannot be
/// varied to dodge caches.
pub async fn get<S: Store + ?Sized, C: Crypto>(
    svc: &Service<'_, S, C>,
    req: &Request,
    now: i64,
    rng: &mut dyn CryptoRngCore,
) -> Result<Response, Error> {
    let params = crate::endpoints::admin::query(req);
    if params.iter().any(|(k, _)| k != "since") || params.len() > 1 {
        return Err(Error::InvalidRequest(
            "the only parameter is since, at most once".into(),
        ));
    }
    let since =
        match params.first() {
            None => None,
            Some((_, s)) => Some(s.parse::<u64>().map_err(|_| {
                Error::InvalidRequest("since must be a non-negative integer".into())
            })?),
        };
    let high = u64::try_from(svc.store.high_water().await?).unwrap_or(0);
    let mut entries = svc.store.list(now).await?;
    // A cursor ahead of ours means the client saw a different history: give it the full state.
    let since = since
        .filter(|s| *s <= high)
        .map(|s| s - s % SINCE_STEP_SECS);
    if let Some(s) = since {
        let from = i64::try_from(s).unwrap_or(i64::MAX) - KV_PROPAGATION_SECS;
        entries.retain(|e| e.revoked_at > from);
    }
    entries.sort_by(|a, b| {
        (a.revoked_at, a.kind.as_str(), &a.id).cmp(&(b.revoked_at, b.kind.as_str(), &b.id))
    });
    let seq = entries
        .iter()
        .filter_map(|e| u64::try_from(e.revoked_at).ok())
        .max()
        .unwrap_or(0)
        .max(high);
    let digest = crate::secret::sha256_b64(
        serde_json::to_string(&(since, seq, &entries))
            .unwrap_or_default()
            .as_bytes(),
    );
    let etag = format!("\"{}\"", digest.get(..27).unwrap_or(&digest));
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().trim_start_matches("W/") == etag)
        });
    let mut resp = if matches {
        let mut r = Response::new(Vec::new());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        let key = svc.key_cache.get(svc.store, svc.kek, rng, now).await?;
        let feed = RevocationFeed {
            iss: svc.config.issuer.clone(),
            iat: now,
            seq,
            full: since.is_none(),
            since: since.unwrap_or(0),
            entries,
        };
        let jws = crate::jwt::sign_compact(svc.crypto, &key, REVOCATIONS_TYP, &feed)
            .await
            .map_err(|e| Error::Internal(e.to_string()))?;
        let mut r = Response::new(jws.into_bytes());
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/revocations+jwt"),
        );
        r
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={FEED_MAX_AGE}")) {
        h.insert(header::CACHE_CONTROL, v);
    }
    Ok(resp)
}
