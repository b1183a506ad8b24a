//! Roles (tables `roles`, `role_scopes`, and the assignments `user_roles`, `group_roles`,
//! `client_roles`): the rows and every statement that reads or writes them. A role bundles
//! scopes, possibly across resource servers; a role that is assigned to anyone cannot be
//! deleted (the schema restricts it). The admin API's handlers are in
//! `endpoints/admin/roles.rs`.

use serde::{Deserialize, Serialize};

use crate::stmt;
use crate::store::{decode_first, Database, Stmt, StoreError};

/// A role as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    /// Opaque id (`rol_...`).
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

/// A scope reference: resource server identifier and scope name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeRef {
    /// Canonical identifier of the resource server.
    pub resource: String,
    /// Scope name.
    pub scope: String,
}

/// Which table holds assignments of roles to a kind of holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// `user_roles`.
    User,
    /// `group_roles`.
    Group,
    /// `client_roles` (applications, registered clients).
    Client,
}

impl Holder {
    /// The holder's noun (audit, errors).
    pub fn noun(self) -> &'static str {
        match self {
            Holder::User => "user",
            Holder::Group => "group",
            Holder::Client => "client",
        }
    }
}

/// The statement loading a role.
pub fn get_stmt(id: &str) -> Stmt {
    stmt!("SELECT * FROM roles WHERE id = ?1", id)
}

/// Loads a role.
pub async fn get_row<D: Database + ?Sized>(db: &D, id: &str) -> Result<Option<Role>, StoreError> {
    decode_first(db.query(get_stmt(id)).await?)
}

/// One page of roles after `after` (keyset by id): `?1` after, `?2` limit.
pub const LIST_PAGE: &str = "SELECT * FROM roles WHERE id > ?1 ORDER BY id LIMIT ?2";

/// A page of the roles whose name starts with a prefix (see `admin::page_searched`).
pub const SEARCH_PAGE: &str =
    "SELECT * FROM roles WHERE name >= ?1 AND name < ?2 AND (name, id) > (?3, ?4) \
     ORDER BY name, id LIMIT ?5";

/// A role's scopes as [`ScopeRef`]s.
pub fn scopes_stmt(id: &str) -> Stmt {
    stmt!(
        "SELECT r.identifier AS resource, s.name AS scope FROM role_scopes rs \
         JOIN scopes s ON s.id = rs.scope_id JOIN resource_servers r ON r.id = s.resource_server_id \
         WHERE rs.role_id = ?1 ORDER BY r.identifier, s.name",
        id
    )
}

/// The id of the scope a [`ScopeRef`] names (`id`), if it exists.
pub fn scope_id_stmt(resource: &str, scope: &str) -> Stmt {
    stmt!(
        "SELECT s.id FROM scopes s JOIN resource_servers r ON r.id = s.resource_server_id \
         WHERE r.identifier = ?1 AND s.name = ?2",
        resource,
        scope
    )
}

/// Inserts a role (`Conflict` on a duplicate name).
pub fn insert_stmt(id: &str, name: &str, description: &str, now: i64) -> Stmt {
    stmt!(
        "INSERT INTO roles (id, name, description, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
        id,
        name,
        description,
        now
    )
}

/// Renames or re-describes a role (`Conflict` on a duplicate name).
pub fn update_stmt(id: &str, name: &str, description: &str, now: i64) -> Stmt {
    stmt!(
        "UPDATE roles SET name = ?2, description = ?3, updated_at = ?4 WHERE id = ?1",
        id,
        name,
        description,
        now
    )
}

/// Deletes a role (`Conflict` while it is assigned).
pub fn delete_stmt(id: &str) -> Stmt {
    stmt!("DELETE FROM roles WHERE id = ?1", id)
}

/// Adds a scope (by id) to a role.
pub fn role_scope_stmt(role_id: &str, scope_id: &str) -> Stmt {
    stmt!(
        "INSERT INTO role_scopes (role_id, scope_id) VALUES (?1, ?2)",
        role_id,
        scope_id
    )
}

/// Removes every scope from a role (before setting new ones).
pub fn clear_scopes_stmt(role_id: &str) -> Stmt {
    stmt!("DELETE FROM role_scopes WHERE role_id = ?1", role_id)
}

/// Assigns a role to a holder (idempotent; `Conflict` if the holder does not exist).
pub fn assign_stmt(holder: Holder, holder_id: &str, role_id: &str) -> Stmt {
    match holder {
        Holder::User => stmt!(
            "INSERT OR IGNORE INTO user_roles (user_id, role_id) VALUES (?1, ?2)",
            holder_id,
            role_id
        ),
        Holder::Group => stmt!(
            "INSERT OR IGNORE INTO group_roles (group_id, role_id) VALUES (?1, ?2)",
            holder_id,
            role_id
        ),
        Holder::Client => stmt!(
            "INSERT OR IGNORE INTO client_roles (client_id, role_id) VALUES (?1, ?2)",
            holder_id,
            role_id
        ),
    }
}

/// Whether an assignment exists (a row when it does).
pub fn assignment_stmt(holder: Holder, holder_id: &str, role_id: &str) -> Stmt {
    match holder {
        Holder::User => stmt!(
            "SELECT role_id FROM user_roles WHERE user_id = ?1 AND role_id = ?2",
            holder_id,
            role_id
        ),
        Holder::Group => stmt!(
            "SELECT role_id FROM group_roles WHERE group_id = ?1 AND role_id = ?2",
            holder_id,
            role_id
        ),
        Holder::Client => stmt!(
            "SELECT role_id FROM client_roles WHERE client_id = ?1 AND role_id = ?2",
            holder_id,
            role_id
        ),
    }
}

/// Removes an assignment.
pub fn unassign_stmt(holder: Holder, holder_id: &str, role_id: &str) -> Stmt {
    match holder {
        Holder::User => stmt!(
            "DELETE FROM user_roles WHERE user_id = ?1 AND role_id = ?2",
            holder_id,
            role_id
        ),
        Holder::Group => stmt!(
            "DELETE FROM group_roles WHERE group_id = ?1 AND role_id = ?2",
            holder_id,
            role_id
        ),
        Holder::Client => stmt!(
            "DELETE FROM client_roles WHERE client_id = ?1 AND role_id = ?2",
            holder_id,
            role_id
        ),
    }
}

/// The roles a holder holds directly, by name.
pub fn assigned_stmt(holder: Holder, holder_id: &str) -> Stmt {
    match holder {
        Holder::User => stmt!("SELECT r.* FROM user_roles a JOIN roles r ON r.id = a.role_id WHERE a.user_id = ?1 ORDER BY r.name", holder_id),
        Holder::Group => stmt!("SELECT r.* FROM group_roles a JOIN roles r ON r.id = a.role_id WHERE a.group_id = ?1 ORDER BY r.name", holder_id),
        Holder::Client => stmt!("SELECT r.* FROM client_roles a JOIN roles r ON r.id = a.role_id WHERE a.client_id = ?1 ORDER BY r.name", holder_id),
    }
}

/// A role (and its scopes, by id) that is created unless it exists (the bootstrap's admin role).
pub fn ensure_stmts(
    id: &str,
    name: &str,
    description: &str,
    scope_ids: &[&str],
    now: i64,
) -> Vec<Stmt> {
    let mut v = vec![stmt!(
        "INSERT OR IGNORE INTO roles (id, name, description, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
        id,
        name,
        description,
        now
    )];
    v.extend(scope_ids.iter().map(|s| {
        stmt!(
            "INSERT OR IGNORE INTO role_scopes (role_id, scope_id) VALUES (?1, ?2)",
            id,
            *s
        )
    }));
    v
}

/// Holders of a role among clients other than the built-in console, whose role is only a
/// ceiling (the bootstrap checks whether an admin client exists).
pub fn clients_holding_stmt(role_id: &str) -> Stmt {
    stmt!(
        "SELECT client_id FROM client_roles WHERE role_id = ?1 AND client_id != ?2 LIMIT 1",
        role_id,
        crate::directory::clients::CONSOLE_CLIENT_ID
    )
}

/// Who holds a scope of a resource server (`?1`, by id; the scope `?2`), at most `?3` rows:
/// users, groups and clients with a role granting it or a scope implying it (transitively),
/// and the users and agents in those groups. Columns: `type`, `id`, `name`, `role_id`,
/// `role`, `implied_by` (the role's scope that implies it, or null), `via_group`, `status` (a
/// disabled user or client is listed, marked: it holds nothing while disabled).
pub fn scope_holders_stmt(rs_id: &str, scope: &str, limit: i64) -> Stmt {
    stmt!(
        "WITH RECURSIVE granting(scope_id) AS ( \
           SELECT id FROM scopes WHERE resource_server_id = ?1 AND name = ?2 \
           UNION SELECT si.scope_id FROM granting g CROSS JOIN scope_implies si ON si.implied_id = g.scope_id \
         ), held(role_id, implied_by) AS ( \
           SELECT rs.role_id, CASE WHEN SUM(s.name = ?2) > 0 THEN NULL ELSE MIN(s.name) END \
           FROM granting g CROSS JOIN role_scopes rs ON rs.scope_id = g.scope_id \
           CROSS JOIN scopes s ON s.id = g.scope_id GROUP BY rs.role_id \
         ), named(role_id, role, implied_by) AS ( \
           SELECT h.role_id, r.name, h.implied_by FROM held h CROSS JOIN roles r ON r.id = h.role_id \
         ) \
         SELECT 'user' AS type, u.id, u.username AS name, h.role_id, h.role, h.implied_by, NULL AS via_group, u.status \
           FROM named h CROSS JOIN user_roles ur ON ur.role_id = h.role_id CROSS JOIN users u ON u.id = ur.user_id \
         UNION ALL SELECT 'group', g.id, g.name, h.role_id, h.role, h.implied_by, NULL, 'active' \
           FROM named h CROSS JOIN group_roles gr ON gr.role_id = h.role_id CROSS JOIN groups g ON g.id = gr.group_id \
         UNION ALL SELECT 'user', u.id, u.username, h.role_id, h.role, h.implied_by, g.name, u.status \
           FROM named h CROSS JOIN group_roles gr ON gr.role_id = h.role_id CROSS JOIN groups g ON g.id = gr.group_id \
           CROSS JOIN group_users gu ON gu.group_id = g.id CROSS JOIN users u ON u.id = gu.user_id \
         UNION ALL SELECT 'client', c.id, c.name, h.role_id, h.role, h.implied_by, g.name, c.status \
           FROM named h CROSS JOIN group_roles gr ON gr.role_id = h.role_id CROSS JOIN groups g ON g.id = gr.group_id \
           CROSS JOIN group_agents ga ON ga.group_id = g.id CROSS JOIN clients c ON c.id = ga.client_id \
         UNION ALL SELECT 'client', c.id, c.name, h.role_id, h.role, h.implied_by, NULL, c.status \
           FROM named h CROSS JOIN client_roles cr ON cr.role_id = h.role_id CROSS JOIN clients c ON c.id = cr.client_id \
         ORDER BY 1, 3 LIMIT ?3",
        rs_id,
        scope,
        limit
    )
}
