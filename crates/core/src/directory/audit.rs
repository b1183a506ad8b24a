//! The audit log: every admin change, written in the same transaction as the change.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::stmt;
use crate::store::Stmt;

/// The statement recording one change; callers put it in the change's batch.
pub fn record(
    now: i64,
    actor: &str,
    action: &str,
    target_type: &str,
    target_id: &str,
    detail: Value,
) -> Stmt {
    stmt!(
        "INSERT INTO audit_log (at, actor, action, target_type, target_id, detail) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        now,
        actor,
        action,
        target_type,
        target_id,
        detail.to_string()
    )
}

/// [`record`] for a change to client `target_id` that an earlier statement of the batch may
/// have refused: recorded only if the client exists.
pub fn record_if_client_exists(
    now: i64,
    actor: &str,
    action: &str,
    target_id: &str,
    detail: Value,
) -> Stmt {
    stmt!(
        "INSERT INTO audit_log (at, actor, action, target_type, target_id, detail) \
         SELECT ?1, ?2, ?3, 'client', ?4, ?5 WHERE EXISTS (SELECT 1 FROM clients WHERE id = ?4)",
        now,
        actor,
        action,
        target_id,
        detail.to_string()
    )
}

/// An audit record as read back.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// Sequence number (newest is highest).
    pub id: i64,
    /// When (unix seconds).
    pub at: i64,
    /// Who (the admin principal).
    pub actor: String,
    /// What (`user.create`, `role.assign`, ...).
    pub action: String,
    /// Kind of the entity changed.
    pub target_type: String,
    /// Its id.
    pub target_id: String,
    /// Details (JSON text in storage, an object on the wire).
    #[serde(deserialize_with = "detail_from_text")]
    pub detail: Value,
}

fn detail_from_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
    let s = String::deserialize(d)?;
    Ok(serde_json::from_str(&s).unwrap_or(Value::String(s)))
}

/// Newest first, keyset-paginated by id.
/// Removes records made before `before` (the retention the deployment configured), oldest
/// first, at most `limit`; one row per record removed.
pub fn prune_stmt(before: i64, limit: i64) -> Stmt {
    stmt!(
        "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at < ?1 ORDER BY at LIMIT ?2) RETURNING 1 AS n",
        before,
        limit
    )
}

/// Lists records, newest first.
pub fn list_stmt(before: Option<i64>, limit: i64) -> Stmt {
    stmt!(
        "SELECT * FROM audit_log WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
        before.unwrap_or(i64::MAX),
        limit
    )
}
