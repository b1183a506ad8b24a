//! The revocation feed for offline validators (contract: `mcpgate_guard::revocation`).
//!
//! `GET /revocations` serves the KV revocation list as a JWS signed with the token-signing key
//! (`typ: revocations+jwt`), verifiable with the JWKS. `?since=<seq>` serves only entries
//! revoked after the cursor, minus [`KV_PROPAGATION_SECS`] of overlap: KV is eventually
//! consistent, so an entry written elsewhere can appear here late with an older `revoked_at`;
//! re-sending recent entries is harmless (clients merge them). Responses carry a content
//! `ETag` (a conditional request is answered 304 without signing) and a short public max-age.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use http::{header, HeaderValue, StatusCode};
use rand_core::CryptoRngCore;
use serde::Serialize;

use crate::crypto::Crypto;
use crate::revocation::Entry;
use crate::service::Service;
use crate::store::Store;
use crate::wire::{Error, Request, Response};

/// Path of the feed below the issuer.
pub const PATH: &str = "/revocations";
/// Seconds validators and the edge may cache a feed response.
pub const FEED_MAX_AGE: u32 = 15;
/// How late a KV write may become visible at another location (seconds, Cloudflare's stated
/// upper bound for KV propagation).
pub const KV_PROPAGATION_SECS: i64 = 60;

#[derive(Serialize)]
struct Header<'a> {
    alg: &'static str,
    typ: &'static str,
    kid: &'a str,
}

#[derive(Serialize)]
struct Payload<'a> {
    iss: &'a str,
    iat: i64,
    seq: i64,
    full: bool,
    since: i64,
    entries: &'a [Entry],
}

/// `GET /revocations[?since=<seq>]`.
pub async fn get<S: Store + ?Sized, C: Crypto>(
    svc: &Service<'_, S, C>,
    req: &Request,
    now: i64,
    rng: &mut dyn CryptoRngCore,
) -> Result<Response, Error> {
    let since =
        match crate::endpoints::admin::query_param(req, "since") {
            None => None,
            Some(s) => Some(s.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                Error::InvalidRequest("since must be a non-negative integer".into())
            })?),
        };
    let high = svc.store.high_water().await?;
    let mut entries = svc.store.list(now).await?;
    // A cursor ahead of ours means the client saw a different history: give it the full state.
    let since = since.filter(|s| *s <= high);
    if let Some(s) = since {
        entries.retain(|e| e.revoked_at > s - KV_PROPAGATION_SECS);
    }
    entries.sort_by(|a, b| {
        (a.revoked_at, a.kind.as_str(), &a.id).cmp(&(b.revoked_at, b.kind.as_str(), &b.id))
    });
    let seq = entries
        .iter()
        .map(|e| e.revoked_at)
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
        let key = svc.key_cache.get(svc.store, &svc.kek, rng, now).await?;
        let header = serde_json::to_vec(&Header {
            alg: "ES256",
            typ: "revocations+jwt",
            kid: &key.kid,
        })
        .map_err(|e| Error::Internal(e.to_string()))?;
        let payload = serde_json::to_vec(&Payload {
            iss: &svc.config.issuer,
            iat: now,
            seq,
            full: since.is_none(),
            since: since.unwrap_or(0),
            entries: &entries,
        })
        .map_err(|e| Error::Internal(e.to_string()))?;
        let mut jws = B64.encode(header);
        jws.push('.');
        jws.push_str(&B64.encode(payload));
        let sig = svc
            .crypto
            .sign_es256(&key, jws.as_bytes())
            .await
            .map_err(|e| Error::Internal(e.to_string()))?;
        jws.push('.');
        jws.push_str(&B64.encode(sig));
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
