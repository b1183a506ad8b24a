//! The JSON Web Key Set (RFC 7517 §5): active, next and still-published retired keys.

use http::StatusCode;
use rand_core::CryptoRngCore;
use serde_json::json;

use crate::keys::{self, KeyEncryptionKey};
use crate::store::Database;
use crate::wire::{cors, json as json_response, public_cache, Error, Response};

/// Seconds validators may cache the JWKS. Far shorter than the time a next key is published
/// before it signs, so a cached set always already contains the next signing key.
pub const JWKS_MAX_AGE: u32 = 300;

/// GET handler.
pub async fn get<S: Database + ?Sized>(
    store: &S,
    kek: &KeyEncryptionKey,
    rng: &mut dyn CryptoRngCore,
    now: i64,
) -> Result<Response, Error> {
    // The nearest read replica answers; only a deployment without its keys yet (or a replica
    // that has not seen them) reaches the primary, where they are created.
    let ring = match crate::store::keys::list_at_replica(store).await {
        Ok(stored) => Some(keys::KeyRing::from_keys(stored)),
        Err(_) => None,
    }
    .filter(|r| r.active.is_some() && r.next.is_some());
    let ring = match ring {
        Some(ring) => ring,
        None => keys::ensure(store, kek, rng, now).await?,
    };
    let body = json!({ "keys": ring.published(now) });
    Ok(cors(public_cache(
        json_response(StatusCode::OK, &body),
        JWKS_MAX_AGE,
    )))
}
