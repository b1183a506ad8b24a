//! What issuance records: for each (client a token went through, resource server, subject),
//! when a token was last issued and until when tokens issued through it may be live. The
//! blast-radius preview ([`crate::revocation::blast_radius`]) counts these rows, so a
//! revocation that cuts an agent's client_credentials token or an exchanged token says so
//! before it happens; refresh families alone miss both.
//!
//! Kept off the hot path: a row is rewritten only when a new token would outlive it, and then
//! covers [`COVER_SECS`] more, so a (client, server, subject) that keeps getting tokens costs at
//! most one write an hour; the client_credentials hot path reads the row in the batch it
//! already makes. Best effort, like `last_used_at`: the token is issued whether or not the
//! record is written (the preview is an upper bound for what it records, and says so).

use serde::Deserialize;

use crate::stmt;
use crate::store::{decode_first, Row, Stmt, StoreError};

/// How far past a new token's expiry a rewritten row reaches (seconds): tokens issued through
/// it during the next hour need no write.
pub const COVER_SECS: i64 = 3600;

/// The current row for (via, resource server by identifier, subject): one result set for
/// [`covered_until`].
pub fn get_stmt(via: &str, resource: &str, subject: &str) -> Stmt {
    stmt!(
        "SELECT i.expires_at FROM issuances i JOIN resource_servers r ON r.id = i.resource_server_id \
         WHERE i.via = ?1 AND r.identifier = ?2 AND i.subject = ?3",
        via,
        resource,
        subject
    )
}

#[derive(Deserialize)]
struct Covered {
    expires_at: i64,
}

/// Until when the row read by [`get_stmt`] covers tokens (`None`: no row).
pub fn covered_until(rows: Vec<Row>) -> Result<Option<i64>, StoreError> {
    Ok(decode_first::<Covered>(rows)?.map(|c| c.expires_at))
}

/// Whether a token expiring at `exp` needs a write, given what the row covers.
pub fn needs_record(covered: Option<i64>, exp: i64) -> bool {
    covered.is_none_or(|until| until < exp)
}

/// Records a token issued at `now`, expiring at `exp`, to `subject` on a resource server, for
/// every client it went through (`vias`: the client it was issued to first, then each actor in
/// its chain, marked `actor` so a subject's count sees each token once). A row only ever moves
/// forward.
pub fn record_stmt(vias: &[&str], rs_id: &str, subject: &str, now: i64, exp: i64) -> Stmt {
    stmt!(
        "INSERT INTO issuances (via, resource_server_id, subject, actor, last_issued_at, expires_at) \
         SELECT value, ?2, ?3, min(key, 1), ?4, ?5 FROM json_each(?1) WHERE true \
         ON CONFLICT (via, resource_server_id, subject) DO UPDATE SET \
         actor = min(actor, excluded.actor), \
         last_issued_at = max(last_issued_at, excluded.last_issued_at), \
         expires_at = max(expires_at, excluded.expires_at)",
        serde_json::to_string(vias).unwrap_or_else(|_| "[]".into()),
        rs_id,
        subject,
        now,
        exp + COVER_SECS
    )
}

/// Removes rows whose tokens have all expired (the scheduled task), at most `limit`.
pub fn prune_stmt(now: i64, limit: i64) -> Stmt {
    stmt!(
        "DELETE FROM issuances WHERE rowid IN (SELECT rowid FROM issuances WHERE expires_at < ?1 LIMIT ?2) RETURNING 1 AS n",
        now,
        limit
    )
}
