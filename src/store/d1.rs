//! The core's store traits on D1. Multi-statement changes go through `batch`, which D1 runs as
//! one transaction; uniqueness is enforced by the schema (see migrations/) and surfaces as
//! `StoreError::Conflict`.

use mcpgate_core::keys::{KeyState, StoredKey};
use mcpgate_core::store::{KeyStore, StoreError};
use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement};

/// D1-backed store.
pub struct D1Store {
    db: D1Database,
}

impl D1Store {
    /// Wraps the `DB` binding.
    pub fn new(db: D1Database) -> Self {
        D1Store { db }
    }

    fn stmt(&self, sql: &str, args: &[JsValue]) -> Result<D1PreparedStatement, StoreError> {
        self.db.prepare(sql).bind(args).map_err(backend)
    }

    async fn batch(&self, stmts: Vec<D1PreparedStatement>) -> Result<(), StoreError> {
        self.db.batch(stmts).await.map(|_| ()).map_err(classify)
    }
}

fn backend(e: worker::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Maps D1 errors: constraint violations are conflicts (nothing was written: the statement or
/// batch rolled back), everything else is a backend failure.
fn classify(e: worker::Error) -> StoreError {
    let text = e.to_string();
    if text.contains("UNIQUE constraint failed") || text.contains("SQLITE_CONSTRAINT") {
        StoreError::Conflict(text)
    } else {
        StoreError::Backend(text)
    }
}

fn num(n: i64) -> JsValue {
    JsValue::from_f64(n as f64)
}

fn opt_num(n: Option<i64>) -> JsValue {
    n.map(num).unwrap_or(JsValue::NULL)
}

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

const INSERT_KEY: &str = "INSERT INTO signing_keys \
    (kid, state, public_jwk, sealed_private, created_at, activated_at, publish_until) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

impl D1Store {
    fn insert_key(&self, k: &StoredKey) -> Result<D1PreparedStatement, StoreError> {
        self.stmt(
            INSERT_KEY,
            &[
                k.kid.as_str().into(),
                k.state.as_str().into(),
                k.public_jwk.as_str().into(),
                k.sealed_private.as_str().into(),
                num(k.created_at),
                opt_num(k.activated_at),
                opt_num(k.publish_until),
            ],
        )
    }
}

impl KeyStore for D1Store {
    async fn list_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        let rows: Vec<KeyRow> = self
            .stmt("SELECT * FROM signing_keys ORDER BY created_at", &[])?
            .all()
            .await
            .map_err(backend)?
            .results()
            .map_err(backend)?;
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

    async fn insert_initial(&self, active: StoredKey, next: StoredKey) -> Result<(), StoreError> {
        self.batch(vec![self.insert_key(&active)?, self.insert_key(&next)?])
            .await
    }

    async fn insert_next(&self, next: StoredKey) -> Result<(), StoreError> {
        self.batch(vec![self.insert_key(&next)?]).await
    }

    async fn rotate(
        &self,
        active_kid: &str,
        next_kid: &str,
        now: i64,
        retired_until: i64,
        new_next: StoredKey,
    ) -> Result<(), StoreError> {
        // If another rotation already ran, the updates match nothing and the insert violates
        // the one-next-key index, rolling the whole batch back.
        self.batch(vec![
            self.stmt(
                "UPDATE signing_keys SET state = 'retired', publish_until = ?2 \
                 WHERE kid = ?1 AND state = 'active'",
                &[active_kid.into(), num(retired_until)],
            )?,
            self.stmt(
                "UPDATE signing_keys SET state = 'active', activated_at = ?2 \
                 WHERE kid = ?1 AND state = 'next'",
                &[next_kid.into(), num(now)],
            )?,
            self.insert_key(&new_next)?,
        ])
        .await
    }

    async fn delete_expired_keys(&self, now: i64) -> Result<u64, StoreError> {
        let result = self
            .stmt(
                "DELETE FROM signing_keys WHERE state = 'retired' AND publish_until <= ?1",
                &[num(now)],
            )?
            .run()
            .await
            .map_err(backend)?;
        let changes = result.meta().ok().flatten().and_then(|m| m.changes);
        Ok(changes.unwrap_or(0) as u64)
    }
}
