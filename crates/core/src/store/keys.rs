//! Signing keys (table `signing_keys`, migrations/0001). At most one key is `active` and at
//! most one is `next` at any time; the partial unique index enforces it.

use serde::Deserialize;

use super::{decode, Database, StoreError};
use crate::keys::{KeyState, StoredKey};
use crate::stmt;

#[derive(Deserialize)]
struct KeyRow {
    kid: String,
    state: String,
    public_jwk: String,
    sealed_private: String,
    created_at: i64,
    activated_at: Option<i64>,
    publish_until: Option<i64>,
}

const INSERT: &str = "INSERT INTO signing_keys \
    (kid, state, public_jwk, sealed_private, created_at, activated_at, publish_until) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

fn insert(k: &StoredKey) -> super::Stmt {
    stmt!(
        INSERT,
        &k.kid,
        k.state.as_str(),
        &k.public_jwk,
        &k.sealed_private,
        k.created_at,
        k.activated_at,
        k.publish_until
    )
}

const LIST: &str = "SELECT * FROM signing_keys ORDER BY created_at, kid";

/// Every stored key.
pub async fn list<D: Database + ?Sized>(db: &D) -> Result<Vec<StoredKey>, StoreError> {
    from_rows(db.query(stmt!(LIST)).await?)
}

/// Every stored key, as a read replica has them (seconds stale at most: a key is published
/// long before it signs, see `endpoints::jwks`).
pub async fn list_at_replica<D: Database + ?Sized>(db: &D) -> Result<Vec<StoredKey>, StoreError> {
    let mut sets = db.batch_replica(vec![stmt!(LIST)]).await?;
    from_rows(sets.pop().unwrap_or_default())
}

fn from_rows(rows: Vec<super::Row>) -> Result<Vec<StoredKey>, StoreError> {
    let rows: Vec<KeyRow> = decode(rows)?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            Some(StoredKey {
                state: KeyState::parse(&r.state)?,
                kid: r.kid,
                public_jwk: r.public_jwk,
                sealed_private: r.sealed_private,
                created_at: r.created_at,
                activated_at: r.activated_at,
                publish_until: r.publish_until,
            })
        })
        .collect())
}

/// Inserts the first active and next keys, both or neither. `Conflict` if an active or next
/// key already exists.
pub async fn insert_initial<D: Database + ?Sized>(
    db: &D,
    active: &StoredKey,
    next: &StoredKey,
) -> Result<(), StoreError> {
    db.batch(vec![insert(active), insert(next)]).await.map(drop)
}

/// Inserts a next key. `Conflict` if one exists.
pub async fn insert_next<D: Database + ?Sized>(db: &D, next: &StoredKey) -> Result<(), StoreError> {
    db.query(insert(next)).await.map(drop)
}

/// In one transaction: `active_kid` retires (published until `retired_until`), `next_kid`
/// becomes active (from `now`), `new_next` is inserted as next. If another rotation already
/// ran, the updates match nothing and the insert violates the one-next-key index: `Conflict`,
/// nothing written.
pub async fn rotate<D: Database + ?Sized>(
    db: &D,
    active_kid: &str,
    next_kid: &str,
    now: i64,
    retired_until: i64,
    new_next: &StoredKey,
) -> Result<(), StoreError> {
    db.batch(vec![
        stmt!(
            "UPDATE signing_keys SET state = 'retired', publish_until = ?2 \
             WHERE kid = ?1 AND state = 'active'",
            active_kid,
            retired_until
        ),
        stmt!(
            "UPDATE signing_keys SET state = 'active', activated_at = ?2 \
             WHERE kid = ?1 AND state = 'next'",
            next_kid,
            now
        ),
        insert(new_next),
    ])
    .await
    .map(drop)
}

/// Deletes retired keys whose publication window ended at or before `now`; returns how many.
pub async fn delete_expired<D: Database + ?Sized>(db: &D, now: i64) -> Result<u64, StoreError> {
    let rows = db
        .query(stmt!(
            "DELETE FROM signing_keys WHERE state = 'retired' AND publish_until <= ?1 \
             RETURNING kid",
            now
        ))
        .await?;
    Ok(rows.len() as u64)
}
