//! Fixed-window rate counters (table `rate_counters`, migrations/0004): registrations and
//! metadata-document fetches, per source and overall. D1 counters hold across locations,
//! unlike the per-location rate-limiting binding.
//!
//! Atomicity contract: [`count`] increments every key and reads the counts back in one batch,
//! so concurrent requests each see a distinct count.

use serde::Deserialize;

use super::{decode, Database, StoreError};
use crate::stmt;

#[derive(Deserialize)]
struct Count {
    key: String,
    count: i64,
}

/// Counts one event on each `(key, limit)` in the current window of `window_secs`. `Ok(None)`
/// when within every limit, `Ok(Some(seconds))` to wait when over one (the event still counts).
pub async fn count<D: Database + ?Sized>(
    db: &D,
    keys: &[(&str, i64)],
    window_secs: i64,
    now: i64,
) -> Result<Option<u32>, StoreError> {
    let stmts = count_stmts(keys, window_secs, now);
    if stmts.is_empty() {
        return Ok(None);
    }
    over_limit(db.batch(stmts).await?, keys, window_secs, now)
}

/// The statements of [`count`] (one per key, in order), for a batch that also does the
/// counted work: a later statement can gate its write on `within_stmt_sql` conditions.
pub fn count_stmts(keys: &[(&str, i64)], window_secs: i64, now: i64) -> Vec<super::Stmt> {
    let window = now - now.rem_euclid(window_secs);
    keys.iter()
        .map(|(k, _)| {
            stmt!(
                "INSERT INTO rate_counters (key, window_start, count) VALUES (?1, ?2, 1) \
                 ON CONFLICT (key) DO UPDATE SET count = CASE WHEN window_start = ?2 THEN count + 1 ELSE 1 END, \
                 window_start = ?2 RETURNING key, count",
                *k,
                window
            )
        })
        .collect()
}

/// The decision from the results of [`count_stmts`]: `None` within every limit, else the
/// seconds to wait.
pub fn over_limit(
    rows: Vec<Vec<super::Row>>,
    keys: &[(&str, i64)],
    window_secs: i64,
    now: i64,
) -> Result<Option<u32>, StoreError> {
    let window = now - now.rem_euclid(window_secs);
    let mut over = false;
    for r in rows {
        for c in decode::<Count>(r)? {
            over |= keys
                .iter()
                .any(|(k, limit)| *k == c.key && c.count > *limit);
        }
    }
    Ok(over.then(|| u32::try_from((window + window_secs - now).max(1)).unwrap_or(u32::MAX)))
}

/// Removes counters whose window started before `before` (the cron), at most `limit`; one row
/// per counter removed.
pub fn prune_stmt(before: i64, limit: i64) -> super::Stmt {
    stmt!(
        "DELETE FROM rate_counters WHERE rowid IN (SELECT rowid FROM rate_counters WHERE window_start < ?1 LIMIT ?2) RETURNING 1 AS n",
        before,
        limit
    )
}
