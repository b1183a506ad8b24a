//! Fixed-window rate counters (table `rate_counters`, migrations/0004): registrations and
//! metadata-document fetches, per source and overall. D1 counters hold across locations,
//! unlike the per-location rate-limiting binding.
//!
//! Atomicity contract: [`count`] increments both keys and reads the counts back in one
//! statement, so concurrent requests each see a distinct count.

use serde::Deserialize;

use super::{decode, Database, StoreError};
use crate::stmt;

#[derive(Deserialize)]
struct Count {
    key: String,
    count: i64,
}

/// The keys an event counts on, each with its limit per window: the event's source and
/// everyone together.
pub type Limits<'a> = [(&'a str, i64); 2];

/// Counts one event on each `(key, limit)` in the current window of `window_secs`. `Ok(None)`
/// when within every limit, `Ok(Some(seconds))` to wait when over one (the event still counts).
pub async fn count<D: Database + ?Sized>(
    db: &D,
    keys: &Limits<'_>,
    window_secs: i64,
    now: i64,
) -> Result<Option<u32>, StoreError> {
    let rows = db.query(count_stmt(keys, window_secs, now)).await?;
    over_limit(rows, keys, window_secs, now)
}

/// The statement of [`count`] (one statement for both keys), for a batch that also does the
/// counted work: a later statement can gate its write on the counts.
pub fn count_stmt(keys: &Limits<'_>, window_secs: i64, now: i64) -> super::Stmt {
    let window = now - now.rem_euclid(window_secs);
    let [(k1, _), (k2, _)] = *keys;
    stmt!(
        "INSERT INTO rate_counters (key, window_start, count) VALUES (?1, ?3, 1), (?2, ?3, 1) \
         ON CONFLICT (key) DO UPDATE SET count = CASE WHEN window_start = ?3 THEN count + 1 ELSE 1 END, \
         window_start = ?3 RETURNING key, count",
        k1,
        k2,
        window
    )
}

/// The decision from the rows of [`count_stmt`]: `None` within every limit, else the seconds
/// to wait.
pub fn over_limit(
    rows: Vec<super::Row>,
    keys: &Limits<'_>,
    window_secs: i64,
    now: i64,
) -> Result<Option<u32>, StoreError> {
    let window = now - now.rem_euclid(window_secs);
    let over = decode::<Count>(rows)?.iter().any(|c| {
        keys.iter()
            .any(|(k, limit)| *k == c.key && c.count > *limit)
    });
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
