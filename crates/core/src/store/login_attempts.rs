//! Sign-in attempt counters (table `login_failures`, migrations/0003): fixed windows per key.
//!
//! Atomicity contract: [`count_stmts`] counts an attempt on every key *before* the password is
//! checked, each key in one upsert that returns the new count, all keys in one batch. Parallel
//! guesses therefore each see a distinct count, and no more than the limit ever reach the
//! password check. A successful sign-in gives the attempt back ([`success_stmts`]).

use serde::Deserialize;

use super::{decode, Row, Stmt, StoreError};
use crate::stmt;

/// One counter after counting.
#[derive(Debug, Clone, Deserialize)]
pub struct Counted {
    /// The key.
    pub key: String,
    /// Attempts in the current window, this one included.
    pub failures: i64,
    /// Start of the window.
    pub window_start: i64,
}

/// Counts one attempt on each key (a window of `window` seconds); each statement returns the
/// key's [`Counted`] row.
pub fn count_stmts(keys: &[&str], window: i64, now: i64) -> Vec<Stmt> {
    keys.iter()
        .map(|k| {
            stmt!(
                "INSERT INTO login_failures (key, window_start, failures) VALUES (?1, ?2, 1) \
                 ON CONFLICT (key) DO UPDATE SET \
                   failures = CASE WHEN window_start > ?3 THEN failures + 1 ELSE 1 END, \
                   window_start = CASE WHEN window_start > ?3 THEN window_start ELSE ?2 END \
                 RETURNING key, failures, window_start",
                *k,
                now,
                now - window
            )
        })
        .collect()
}

/// Decodes the results of [`count_stmts`].
pub fn counted(results: Vec<Vec<Row>>) -> Result<Vec<Counted>, StoreError> {
    let mut out = Vec::new();
    for rows in results {
        out.extend(decode::<Counted>(rows)?);
    }
    Ok(out)
}

/// After a successful sign-in: `forget` keys are cleared (the attempts of this user from this
/// source), `give_back` keys get this attempt back (shared counters: the source, the account).
pub fn success_stmts(forget: &[&str], give_back: &[&str]) -> Vec<Stmt> {
    let mut v: Vec<Stmt> = forget
        .iter()
        .map(|k| stmt!("DELETE FROM login_failures WHERE key = ?1", *k))
        .collect();
    v.extend(give_back.iter().map(|k| {
        stmt!(
            "UPDATE login_failures SET failures = max(failures - 1, 0) WHERE key = ?1",
            *k
        )
    }));
    v
}

/// Removes counters whose window ended before `before`, at most `limit` (the cron); one row
/// per counter removed.
pub fn prune_stmt(before: i64, limit: i64) -> Stmt {
    stmt!(
        "DELETE FROM login_failures WHERE rowid IN (SELECT rowid FROM login_failures WHERE window_start <= ?1 LIMIT ?2) RETURNING 1 AS n",
        before,
        limit
    )
}
