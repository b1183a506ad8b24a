//! Browser sessions (table `sessions`, migrations/0005). The cookie carries a random session id
//! (with a MAC, see `session.rs`); only its SHA-256 digest is stored, and that digest is also the
//! session's public handle on the account page and in the admin API.
//!
//! A session is valid while its row exists, is unexpired and its user is active; ending a session
//! deletes its row, so a copied cookie stops working at once.

use serde::{Deserialize, Serialize};

use super::{decode, decode_first, Database, Stmt, StoreError};
use crate::directory::users::User;
use crate::secret::sha256_b64;
use crate::stmt;

/// Most sessions a user keeps; starting one more ends the oldest.
pub const MAX_PER_USER: i64 = 20;

/// A session as listed (to its user and to admins).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionView {
    /// Public handle: the SHA-256 digest of the session id.
    pub id: String,
    /// Started (unix seconds).
    pub created_at: i64,
    /// Ends.
    pub expires_at: i64,
    /// Where it was started.
    pub address: String,
    /// With which browser (truncated).
    pub user_agent: String,
}

/// What a new session records.
pub struct NewSession<'a> {
    /// The session id from the cookie (hashed here).
    pub sid: &'a str,
    /// User.
    pub user_id: &'a str,
    /// Now.
    pub now: i64,
    /// End.
    pub expires_at: i64,
    /// Source address.
    pub address: &'a str,
    /// User agent.
    pub user_agent: &'a str,
}

/// The handle of a session id.
pub fn handle(sid: &str) -> String {
    sha256_b64(sid.as_bytes())
}

/// Starts a session; beyond [`MAX_PER_USER`] the oldest ones end, and expired rows of the user
/// are removed.
pub fn create_stmts(s: &NewSession<'_>) -> Vec<Stmt> {
    let ua: String = s.user_agent.chars().take(200).collect();
    vec![
        stmt!(
            "INSERT INTO sessions (id_hash, user_id, created_at, expires_at, address, user_agent) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            handle(s.sid),
            s.user_id,
            s.now,
            s.expires_at,
            s.address,
            ua
        ),
        stmt!(
            "DELETE FROM sessions WHERE user_id = ?1 AND (expires_at <= ?2 OR id_hash IN \
             (SELECT id_hash FROM sessions WHERE user_id = ?1 ORDER BY created_at DESC, id_hash LIMIT -1 OFFSET ?3))",
            s.user_id,
            s.now,
            MAX_PER_USER
        ),
    ]
}

/// Reads the active user of a live session.
pub fn user_stmt(sid: &str, now: i64) -> Stmt {
    stmt!(
        "SELECT u.* FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.id_hash = ?1 AND s.expires_at > ?2 AND u.status = 'active'",
        handle(sid),
        now
    )
}

/// The active user of a live session (one statement).
pub async fn user<D: Database + ?Sized>(
    db: &D,
    sid: &str,
    now: i64,
) -> Result<Option<User>, StoreError> {
    decode_first(db.query(user_stmt(sid, now)).await?)
}

/// A user's live sessions, newest first.
pub async fn list<D: Database + ?Sized>(
    db: &D,
    user_id: &str,
    now: i64,
) -> Result<Vec<SessionView>, StoreError> {
    decode(
        db.query(stmt!(
            "SELECT id_hash AS id, created_at, expires_at, address, user_agent FROM sessions \
             WHERE user_id = ?1 AND expires_at > ?2 ORDER BY created_at DESC, id_hash",
            user_id,
            now
        ))
        .await?,
    )
}

/// Ends one session of a user (by handle).
pub fn end_stmt(user_id: &str, handle: &str) -> Stmt {
    stmt!(
        "DELETE FROM sessions WHERE user_id = ?1 AND id_hash = ?2",
        user_id,
        handle
    )
}

/// Ends every session of a user; returns the handles ended.
pub fn end_all_stmt(user_id: &str) -> Stmt {
    stmt!(
        "DELETE FROM sessions WHERE user_id = ?1 RETURNING id_hash",
        user_id
    )
}

/// Removes expired sessions (the cron), at most `limit`; one row per session removed.
pub fn prune_stmt(now: i64, limit: i64) -> Stmt {
    stmt!(
        "DELETE FROM sessions WHERE rowid IN (SELECT rowid FROM sessions WHERE expires_at <= ?1 LIMIT ?2) RETURNING 1 AS n",
        now,
        limit
    )
}
