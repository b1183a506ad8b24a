//! Admin API: signing-key operations.

use http::StatusCode;
use rand_core::CryptoRngCore;
use serde_json::json;

use crate::config::Config;
use crate::keys::{self, KeyEncryptionKey, KeyRing};
use crate::store::Database;
use crate::wire::{json as json_response, no_store, Error, Response};

fn key_summary(ring: &KeyRing) -> serde_json::Value {
    let all = ring
        .active
        .iter()
        .chain(ring.next.iter())
        .chain(ring.retired.iter());
    let keys: Vec<_> = all
        .map(|k| {
            json!({
                "kid": k.kid,
                "state": k.state.as_str(),
                "created_at": k.created_at,
                "activated_at": k.activated_at,
                "publish_until": k.publish_until,
            })
        })
        .collect();
    json!({ "keys": keys })
}

/// `GET /admin/v1/keys`: the key ring without private material.
pub async fn list_keys<S: Database + ?Sized>(
    store: &S,
    kek: &KeyEncryptionKey,
    rng: &mut dyn CryptoRngCore,
    now: i64,
) -> Result<Response, Error> {
    let ring = keys::ensure(store, kek, rng, now).await?;
    Ok(no_store(json_response(StatusCode::OK, &key_summary(&ring))))
}

/// `POST /admin/v1/keys/rotate`: next key starts signing, active key retires.
pub async fn rotate_keys<S: Database + ?Sized>(
    store: &S,
    config: &Config,
    kek: &KeyEncryptionKey,
    rng: &mut dyn CryptoRngCore,
    now: i64,
) -> Result<Response, Error> {
    let rotation = keys::rotate(store, kek, rng, now, config.max_token_ttl).await?;
    Ok(no_store(json_response(
        StatusCode::OK,
        &json!({
            "active": rotation.active_kid,
            "next": rotation.next_kid,
            "retired": rotation.retired_kid,
            "retired_published_until": rotation.retired_until,
        }),
    )))
}
