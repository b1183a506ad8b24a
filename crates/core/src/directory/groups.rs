//! Groups of users and agents (tables `groups`, `group_users`, `group_agents`): the rows and
//! every statement that reads or writes them. Roles assigned to a group are held by every
//! member; this is how agents get roles. The admin API's handlers are in
//! `endpoints/admin/groups.rs`.

use serde::{Deserialize, Serialize};

use crate::stmt;
use crate::store::{decode_first, Database, Stmt, StoreError};

/// A group as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// Opaque id (`grp_...`).
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Created (unix seconds).
    pub created_at: i64,
    /// Last changed.
    pub updated_at: i64,
}

/// Kind of group member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Member {
    /// A user.
    User,
    /// An agent (a client of kind `agent`).
    Agent,
}

/// A member as listed: id and display name.
#[derive(Debug, Serialize, Deserialize)]
pub struct MemberRow {
    /// User id or client id.
    pub id: String,
    /// Username or client name.
    pub name: String,
}

/// Loads a group.
pub async fn get_row<D: Database + ?Sized>(db: &D, id: &str) -> Result<Option<Group>, StoreError> {
    decode_first(
        db.query(stmt!("SELECT * FROM groups WHERE id = ?1", id))
            .await?,
    )
}

/// One page of groups after `after` (keyset by id): `?1` after, `?2` limit.
pub const LIST_PAGE: &str = "SELECT * FROM groups WHERE id > ?1 ORDER BY id LIMIT ?2";

/// A page of the groups whose name starts with a prefix (see `admin::page_searched`).
pub const SEARCH_PAGE: &str =
    "SELECT * FROM groups WHERE name >= ?1 AND name < ?2 AND (name, id) > (?3, ?4) \
     ORDER BY name, id LIMIT ?5";

/// Inserts a group (`Conflict` on a duplicate name).
pub fn insert_stmt(id: &str, name: &str, description: &str, now: i64) -> Stmt {
    stmt!(
        "INSERT INTO groups (id, name, description, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
        id,
        name,
        description,
        now
    )
}

/// Renames or re-describes a group (`Conflict` on a duplicate name).
pub fn update_stmt(id: &str, name: &str, description: &str, now: i64) -> Stmt {
    stmt!(
        "UPDATE groups SET name = ?2, description = ?3, updated_at = ?4 WHERE id = ?1",
        id,
        name,
        description,
        now
    )
}

/// Deletes a group; memberships and role assignments cascade.
pub fn delete_stmt(id: &str) -> Stmt {
    stmt!("DELETE FROM groups WHERE id = ?1", id)
}

/// The members of a group, users then agents (two statements, [`MemberRow`]s each).
pub fn members_stmts(id: &str) -> [Stmt; 2] {
    [
        stmt!(
            "SELECT u.id, u.username AS name FROM group_users m JOIN users u ON u.id = m.user_id WHERE m.group_id = ?1 ORDER BY u.username",
            id
        ),
        stmt!(
            "SELECT c.id, c.name FROM group_agents m JOIN clients c ON c.id = m.client_id WHERE m.group_id = ?1 ORDER BY c.name",
            id
        ),
    ]
}

/// Adds a member to a group (idempotent).
pub fn add_member_stmt(group_id: &str, kind: Member, member: &str) -> Stmt {
    match kind {
        // An admin's membership: if a provider's mapping made it before, it is the admin's now
        // (a later sign-in without the claim no longer removes it).
        Member::User => stmt!(
            "INSERT INTO group_users (group_id, user_id) VALUES (?1, ?2) \
             ON CONFLICT (group_id, user_id) DO UPDATE SET via_provider = NULL",
            group_id,
            member
        ),
        Member::Agent => stmt!(
            "INSERT OR IGNORE INTO group_agents (group_id, client_id) VALUES (?1, ?2)",
            group_id,
            member
        ),
    }
}

/// Whether a membership exists (a row when it does).
pub fn membership_stmt(group_id: &str, kind: Member, member: &str) -> Stmt {
    match kind {
        Member::User => stmt!(
            "SELECT user_id FROM group_users WHERE group_id = ?1 AND user_id = ?2",
            group_id,
            member
        ),
        Member::Agent => stmt!(
            "SELECT client_id FROM group_agents WHERE group_id = ?1 AND client_id = ?2",
            group_id,
            member
        ),
    }
}

/// Removes a member from a group.
pub fn remove_member_stmt(group_id: &str, kind: Member, member: &str) -> Stmt {
    match kind {
        Member::User => stmt!(
            "DELETE FROM group_users WHERE group_id = ?1 AND user_id = ?2",
            group_id,
            member
        ),
        Member::Agent => stmt!(
            "DELETE FROM group_agents WHERE group_id = ?1 AND client_id = ?2",
            group_id,
            member
        ),
    }
}

/// Re-applies a provider's group mappings to a user at sign-in: the user joins every group a
/// mapping gives one of `values` (the groups claim), and leaves those groups this provider's
/// mappings put the user in before whose value is gone. Memberships an admin made are never
/// removed by a provider.
pub fn apply_mappings_stmts(user: &str, provider: &str, values: &[String]) -> Vec<Stmt> {
    let json = serde_json::to_string(values).unwrap_or_else(|_| "[]".into());
    vec![
        stmt!(
            "DELETE FROM group_users WHERE user_id = ?1 AND via_provider = ?2 AND group_id NOT IN \
             (SELECT m.group_id FROM group_mappings m WHERE m.provider_id = ?2 \
              AND m.value IN (SELECT j.value FROM json_each(?3) AS j))",
            user,
            provider,
            json.clone()
        ),
        stmt!(
            "INSERT OR IGNORE INTO group_users (group_id, user_id, via_provider) \
             SELECT DISTINCT m.group_id, ?1, ?2 FROM group_mappings m \
             WHERE m.provider_id = ?2 AND m.value IN (SELECT j.value FROM json_each(?3) AS j)",
            user,
            provider,
            json
        ),
    ]
}
