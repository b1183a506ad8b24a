//! Users (table `users`): the row and every statement that reads or writes it. Users sign in
//! on the login page and consent; passwords are stored as PBKDF2-SHA256 hashes
//! ([`crate::password`]). The admin API's handlers are in `endpoints/admin/users.rs`.

use serde::Deserialize;

use super::Status;
use crate::stmt;
use crate::store::{decode_first, Database, Stmt, StoreError};

/// A user as stored (the hash never leaves this module's callers).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct User {
    /// Opaque id (`usr_...`), the `sub` of their tokens.
    pub id: String,
    /// Unique, lower-case.
    pub username: String,
    /// Shown on pages.
    pub display_name: String,
    /// `active` or `disabled`.
    pub status: Status,
    /// PBKDF2 hash, if a password is set.
    pub password_hash: Option<String>,
    /// Created (unix seconds).
    pub created_at: i64,
    /// Last changed.
    pub updated_at: i64,
    /// When last disabled.
    pub disabled_at: Option<i64>,
}

/// Loads a user by id.
pub async fn get_row<D: Database + ?Sized>(db: &D, id: &str) -> Result<Option<User>, StoreError> {
    decode_first(
        db.query(stmt!("SELECT * FROM users WHERE id = ?1", id))
            .await?,
    )
}

/// Loads a user by username (case-insensitive).
pub async fn by_username<D: Database + ?Sized>(
    db: &D,
    username: &str,
) -> Result<Option<User>, StoreError> {
    decode_first(
        db.query(stmt!(
            "SELECT * FROM users WHERE username = ?1",
            username.trim().to_ascii_lowercase()
        ))
        .await?,
    )
}

/// One page of users after `after` (keyset by id): `?1` after, `?2` limit.
pub const LIST_PAGE: &str = "SELECT * FROM users WHERE id > ?1 ORDER BY id LIMIT ?2";

/// A page of the users whose username starts with a prefix (see `admin::page_searched`).
pub const SEARCH_PAGE: &str =
    "SELECT * FROM users WHERE username >= ?1 AND username < ?2 AND (username, id) > (?3, ?4) \
     ORDER BY username, id LIMIT ?5";

/// What a new user records.
pub struct NewUser<'a> {
    /// Id.
    pub id: &'a str,
    /// Lower-cased username.
    pub username: &'a str,
    /// Display name.
    pub display_name: &'a str,
    /// Status.
    pub status: Status,
    /// PBKDF2 hash (`None`: signs in only through an upstream identity provider).
    pub password_hash: Option<&'a str>,
    /// Now.
    pub now: i64,
}

/// Inserts a user (`Conflict` on a duplicate username).
pub fn insert_stmt(u: &NewUser<'_>) -> Stmt {
    stmt!(
        "INSERT INTO users (id, username, display_name, status, password_hash, created_at, updated_at, disabled_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7)",
        u.id,
        u.username,
        u.display_name,
        u.status.as_str(),
        u.password_hash,
        u.now,
        (u.status == Status::Disabled).then_some(u.now)
    )
}

/// A user's changed fields (all written; unchanged ones carry their current value).
pub struct UserUpdate<'a> {
    /// Id.
    pub id: &'a str,
    /// Display name.
    pub display_name: &'a str,
    /// PBKDF2 hash.
    pub password_hash: Option<&'a str>,
    /// Status.
    pub status: Status,
    /// When last disabled.
    pub disabled_at: Option<i64>,
    /// Now.
    pub now: i64,
}

/// Updates a user.
pub fn update_stmt(u: &UserUpdate<'_>) -> Stmt {
    stmt!(
        "UPDATE users SET display_name = ?2, password_hash = ?3, status = ?4, disabled_at = ?5, updated_at = ?6 WHERE id = ?1",
        u.id,
        u.display_name,
        u.password_hash,
        u.status.as_str(),
        u.disabled_at,
        u.now
    )
}

/// Deletes a user; memberships, role assignments, grants, sessions and families cascade.
pub fn delete_stmt(id: &str) -> Stmt {
    stmt!("DELETE FROM users WHERE id = ?1", id)
}
