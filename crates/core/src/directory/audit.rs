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

/// What the audit log is filtered by (every part optional).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Who acted (a user id, client id, `bootstrap`, `system`).
    pub actor: Option<String>,
    /// What was acted on (its id).
    pub target: Option<String>,
    /// The action; one ending in `.` matches every action it starts (`user.`).
    pub action: Option<String>,
    /// At or after (unix seconds).
    pub since: Option<i64>,
    /// Before (unix seconds).
    pub until: Option<i64>,
}

/// Lists records, newest first, before the record `before`. An actor or target filter walks
/// its own index (`audit_log_actor`, `audit_log_target`); the others filter the walk.
pub fn list_stmt(before: Option<i64>, filter: &Filter, limit: i64) -> Stmt {
    let before = before.unwrap_or(i64::MAX);
    let (since, until) = (
        filter.since.unwrap_or(i64::MIN),
        filter.until.unwrap_or(i64::MAX),
    );
    let action = filter.action.as_deref();
    if let Some(actor) = &filter.actor {
        stmt!(
            "SELECT * FROM audit_log WHERE actor = ?3 AND id < ?1 \
             AND (?4 IS NULL OR target_id = ?4) AND (?5 IS NULL OR action = ?5 \
             OR (substr(?5, -1) = '.' AND substr(action, 1, length(?5)) = ?5)) \
             AND at >= ?6 AND at < ?7 ORDER BY id DESC LIMIT ?2",
            before,
            limit,
            actor.as_str(),
            filter.target.as_deref(),
            action,
            since,
            until
        )
    } else if let Some(target) = &filter.target {
        stmt!(
            "SELECT * FROM audit_log WHERE target_id = ?3 AND id < ?1 \
             AND (?4 IS NULL OR action = ?4 OR (substr(?4, -1) = '.' AND substr(action, 1, length(?4)) = ?4)) \
             AND at >= ?5 AND at < ?6 ORDER BY id DESC LIMIT ?2",
            before,
            limit,
            target.as_str(),
            action,
            since,
            until
        )
    } else {
        stmt!(
            "SELECT * FROM audit_log WHERE id < ?1 \
             AND (?3 IS NULL OR action = ?3 OR (substr(?3, -1) = '.' AND substr(action, 1, length(?3)) = ?3)) \
             AND at >= ?4 AND at < ?5 ORDER BY id DESC LIMIT ?2",
            before,
            limit,
            action,
            since,
            until
        )
    }
}
