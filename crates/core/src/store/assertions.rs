//! Identity assertions seen (table `assertion_jtis`): an assertion grant (RFC 7523 §3 item 7,
//! ID-JAG) is accepted once per (issuer, `jti`), remembered until it expires.

use crate::stmt;
use crate::store::Stmt;

/// Records an assertion as used; `Conflict` if it was used before (a replay).
pub fn claim_stmt(issuer: &str, jti: &str, expires_at: i64) -> Stmt {
    stmt!(
        "INSERT INTO assertion_jtis (issuer, jti, expires_at) VALUES (?1, ?2, ?3)",
        issuer,
        jti,
        expires_at
    )
}

/// Forgets expired assertions (the cron), at most `limit`; one row per assertion removed.
pub fn prune_stmt(now: i64, limit: i64) -> Stmt {
    stmt!(
        "DELETE FROM assertion_jtis WHERE rowid IN (SELECT rowid FROM assertion_jtis WHERE expires_at <= ?1 LIMIT ?2) RETURNING 1 AS n",
        now,
        limit
    )
}
