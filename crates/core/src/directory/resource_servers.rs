//! Resource servers (MCP servers and plain APIs) and their scopes (tables `resource_servers`,
//! `scopes`, `scope_implies`): the rows and every statement that reads or writes them. The
//! admin API's handlers are in `endpoints/admin/resource_servers.rs`.
//!
//! A resource server's `identifier` is its canonical URL and the `aud` of every token for it
//! (RFC 8707, RFC 9068 §2.2); it is fixed at creation. Each scope names a tool or group of
//! tools; `implies` builds hierarchies (`notes.admin` implies `notes.write`).

use serde::{Deserialize, Serialize};

use super::{int_bool, json_list_opt, to_json_list};
use crate::stmt;
use crate::store::{decode, decode_first, Database, Stmt, StoreError};

/// Default access-token lifetime for a new resource server (seconds): short, as RFC 9700
/// §2.2.2 advises for bearer tokens.
pub const DEFAULT_TOKEN_TTL: i64 = 600;

/// Shortest access-token lifetime accepted (seconds).
pub const MIN_TOKEN_TTL: i64 = 60;

/// A resource server as stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceServer {
    /// Opaque id (`rs_...`).
    pub id: String,
    /// `mcp` or `api`.
    pub kind: String,
    /// Canonical URL, the token audience.
    pub identifier: String,
    /// Display name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Access-token lifetime, seconds.
    pub access_token_ttl: i64,
    /// Whether self-registered (DCR / metadata-document) clients may obtain tokens for it.
    #[serde(deserialize_with = "int_bool")]
    pub allow_self_registered: bool,
    /// The most a self-registered client may get (scope names); `None`: no cap beyond the
    /// user's roles and consent.
    #[serde(deserialize_with = "json_list_opt")]
    pub self_registered_max_scopes: Option<Vec<String>>,
    /// Scopes granted when a request names none (RFC 6749 §3.3); `None`: everything the
    /// subject may grant, bounded by the client's ceiling.
    #[serde(deserialize_with = "json_list_opt")]
    pub default_scopes: Option<Vec<String>>,
    /// Since when it has accepted self-registered clients without a break (`None`: it does
    /// not). A self-registered client reaches it only if registered at or after this time (see
    /// [`ResourceServer::reachable_by_self_registered`]).
    #[serde(default, skip_serializing)]
    pub self_registration_opened_at: Option<i64>,
    /// What a gateway does with a tool no scope covers: `deny` or `allow` (to any valid token).
    pub unmapped_tools: String,
    /// Created (unix seconds).
    pub created_at: i64,
    /// Last changed.
    pub updated_at: i64,
}

impl ResourceServer {
    /// Whether a self-registered client registered at `registered_at`, and not restricted to
    /// named servers by an admin, may obtain tokens for this server: it must have been open to
    /// self-registered clients then, and without a break since.
    pub fn reachable_by_self_registered(&self, registered_at: i64) -> bool {
        self.allow_self_registered
            && self
                .self_registration_opened_at
                .is_some_and(|since| since <= registered_at)
    }
}

/// A scope as shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScopeView {
    /// Scope token.
    pub name: String,
    /// Human description (shown on the consent page).
    pub description: String,
    /// Scopes this one implies (direct edges).
    pub implies: Vec<String>,
    /// MCP tools it covers: exact names, or prefixes ending in `*`.
    pub tools: Vec<String>,
}

#[derive(Deserialize)]
struct ScopeRow {
    name: String,
    description: String,
    #[serde(deserialize_with = "super::json_list")]
    tools: Vec<String>,
}

#[derive(Deserialize)]
struct EdgeRow {
    scope: String,
    implied: String,
}

/// Loads a resource server by id.
pub async fn get_by_id<D: Database + ?Sized>(
    db: &D,
    id: &str,
) -> Result<Option<ResourceServer>, StoreError> {
    decode_first(
        db.query(stmt!("SELECT * FROM resource_servers WHERE id = ?1", id))
            .await?,
    )
}

/// Loads a resource server by its canonical identifier.
pub async fn get_by_identifier<D: Database + ?Sized>(
    db: &D,
    identifier: &str,
) -> Result<Option<ResourceServer>, StoreError> {
    decode_first(db.query(by_identifier_stmt(identifier)).await?)
}

/// The scopes of a resource server with their `implies` edges.
pub async fn scopes<D: Database + ?Sized>(
    db: &D,
    rs_id: &str,
) -> Result<Vec<ScopeView>, StoreError> {
    let [rows, edges] = crate::store::Results::new(
        db.batch(vec![scope_descriptions_stmt(rs_id), implies_stmt(rs_id)])
            .await?,
    )
    .take()?;
    Ok(with_edges(decode(rows)?, decode(edges)?))
}

/// Scope rows with their `implies` edges.
fn with_edges(rows: Vec<ScopeRow>, edges: Vec<EdgeRow>) -> Vec<ScopeView> {
    rows.into_iter()
        .map(|s| ScopeView {
            implies: edges
                .iter()
                .filter(|e| e.scope == s.name)
                .map(|e| e.implied.clone())
                .collect(),
            name: s.name,
            description: s.description,
            tools: s.tools,
        })
        .collect()
}

/// `implies` edges (scope name, implied scope name) of one resource server.
pub fn implies_stmt(rs_id: &str) -> Stmt {
    stmt!(
        "SELECT a.name AS scope, b.name AS implied FROM scope_implies i \
         JOIN scopes a ON a.id = i.scope_id JOIN scopes b ON b.id = i.implied_id \
         WHERE a.resource_server_id = ?1 ORDER BY a.name, b.name",
        rs_id
    )
}

/// `implies` edges (scope name, implied scope name) of the resource server with this canonical
/// identifier.
pub fn implies_by_identifier_stmt(identifier: &str) -> Stmt {
    stmt!(
        "SELECT a.name AS scope, b.name AS implied FROM scope_implies i \
         JOIN scopes a ON a.id = i.scope_id JOIN scopes b ON b.id = i.implied_id \
         JOIN resource_servers r ON r.id = a.resource_server_id WHERE r.identifier = ?1",
        identifier
    )
}

pub fn edge_insert(rs_id: &str, from: &str, to: &str) -> Stmt {
    stmt!(
        "INSERT INTO scope_implies (scope_id, implied_id) \
         SELECT a.id, b.id FROM scopes a, scopes b \
         WHERE a.resource_server_id = ?1 AND b.resource_server_id = ?1 AND a.name = ?2 AND b.name = ?3",
        rs_id,
        from,
        to
    )
}

/// A resource server mcpgate provides itself (the admin API).
pub struct Builtin<'a> {
    /// Fixed id.
    pub id: &'a str,
    /// Its identifier (follows the issuer).
    pub identifier: &'a str,
    /// Name.
    pub name: &'a str,
    /// Description.
    pub description: &'a str,
    /// Access-token lifetime (seconds).
    pub access_token_ttl: i64,
    /// Scopes: (id, name, description).
    pub scopes: &'a [(&'a str, &'a str, &'a str)],
    /// Implications between them: (scope id, implied scope id).
    pub implies: &'a [(&'a str, &'a str)],
    /// Now.
    pub now: i64,
}

/// Creates a built-in resource server (or points it at the current issuer), its scopes and
/// their implications; never accepts self-registered clients.
pub fn ensure_builtin_stmts(b: &Builtin<'_>) -> Vec<Stmt> {
    let mut v = vec![stmt!(
        "INSERT INTO resource_servers (id, kind, identifier, name, description, access_token_ttl, \
         allow_self_registered, created_at, updated_at) VALUES (?1, 'api', ?2, ?3, ?4, ?5, 0, ?6, ?6) \
         ON CONFLICT (id) DO UPDATE SET identifier = excluded.identifier, updated_at = excluded.updated_at",
        b.id,
        b.identifier,
        b.name,
        b.description,
        b.access_token_ttl,
        b.now
    )];
    v.extend(b.scopes.iter().map(|(id, name, description)| {
        stmt!(
            "INSERT OR IGNORE INTO scopes (id, resource_server_id, name, description, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            *id,
            b.id,
            *name,
            *description,
            b.now
        )
    }));
    v.extend(b.implies.iter().map(|(from, to)| {
        stmt!(
            "INSERT OR IGNORE INTO scope_implies (scope_id, implied_id) VALUES (?1, ?2)",
            *from,
            *to
        )
    }));
    v
}

/// A scope as created.
pub struct NewScope<'a> {
    /// Id.
    pub id: &'a str,
    /// Its resource server's id.
    pub rs_id: &'a str,
    /// Scope token.
    pub name: &'a str,
    /// Description.
    pub description: &'a str,
    /// Tools it covers.
    pub tools: &'a [String],
    /// Now.
    pub now: i64,
}

/// Inserts a scope.
pub fn insert_scope_stmt(s: &NewScope<'_>) -> Stmt {
    stmt!(
        "INSERT INTO scopes (id, resource_server_id, name, description, tools, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        s.id,
        s.rs_id,
        s.name,
        s.description,
        to_json_list(s.tools),
        s.now
    )
}

/// Loads a resource server by its identifier.
pub fn by_identifier_stmt(identifier: &str) -> Stmt {
    stmt!(
        "SELECT * FROM resource_servers WHERE identifier = ?1",
        identifier
    )
}

/// A resource server's scopes (`name`, `description`, `tools`), by name.
pub fn scope_descriptions_stmt(rs_id: &str) -> Stmt {
    stmt!(
        "SELECT name, description, tools FROM scopes WHERE resource_server_id = ?1 ORDER BY name",
        rs_id
    )
}

/// One page of resource servers after `after` (keyset by id): `?1` after, `?2` limit.
pub const LIST_PAGE: &str = "SELECT * FROM resource_servers WHERE id > ?1 ORDER BY id LIMIT ?2";

/// A resource server's settings, as created or updated (kind and identifier are fixed at
/// creation: an update leaves them).
pub struct NewResourceServer<'a> {
    /// Id.
    pub id: &'a str,
    /// `mcp` or `api`.
    pub kind: &'a str,
    /// Canonical identifier.
    pub identifier: &'a str,
    /// Name.
    pub name: &'a str,
    /// Description.
    pub description: &'a str,
    /// Access-token lifetime (seconds).
    pub access_token_ttl: i64,
    /// Whether self-registered clients may reach it.
    pub allow_self_registered: bool,
    /// The most self-registered clients may get (`None`: no cap).
    pub self_registered_max_scopes: Option<&'a [String]>,
    /// Scopes for requests without `scope` (`None`: all the subject may grant).
    pub default_scopes: Option<&'a [String]>,
    /// `deny` or `allow`: tools no scope covers.
    pub unmapped_tools: &'a str,
    /// Now.
    pub now: i64,
}

/// Inserts a resource server (`Conflict` on a duplicate identifier). Open to self-registered
/// clients, its window starts now: a client registered in the same second, perhaps just before,
/// reaches it, which gives it nothing a registration a moment later would not. (Windows compare
/// the Worker clocks of the two requests, not the order their writes committed in: a skew of a
/// second or more can let a client registered while a server was closed reach it after it
/// reopens, which again gives nothing a new registration would not.)
pub fn insert_stmt(r: &NewResourceServer<'_>) -> Stmt {
    stmt!(
        "INSERT INTO resource_servers (id, kind, identifier, name, description, access_token_ttl, \
         allow_self_registered, self_registered_max_scopes, default_scopes, created_at, updated_at, \
         self_registration_opened_at, unmapped_tools) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, CASE WHEN ?7 THEN ?10 END, ?11)",
        r.id,
        r.kind,
        r.identifier,
        r.name,
        r.description,
        r.access_token_ttl,
        r.allow_self_registered,
        r.self_registered_max_scopes.map(to_json_list),
        r.default_scopes.map(to_json_list),
        r.now,
        r.unmapped_tools
    )
}

/// Updates a resource server's settings. Opening it to self-registered clients starts a new
/// window (clients registered while it was closed do not reach it), from the next second, so a
/// client registered in the same second, perhaps before the change, is not let in; closing it
/// ends the window.
pub fn update_stmt(r: &NewResourceServer<'_>) -> Stmt {
    stmt!(
        "UPDATE resource_servers SET name = ?2, description = ?3, access_token_ttl = ?4, \
         allow_self_registered = ?5, self_registered_max_scopes = ?6, default_scopes = ?7, updated_at = ?8, \
         unmapped_tools = ?9, \
         self_registration_opened_at = CASE WHEN NOT ?5 THEN NULL \
         WHEN allow_self_registered = 1 THEN self_registration_opened_at ELSE ?8 + 1 END \
         WHERE id = ?1",
        r.id,
        r.name,
        r.description,
        r.access_token_ttl,
        r.allow_self_registered,
        r.self_registered_max_scopes.map(to_json_list),
        r.default_scopes.map(to_json_list),
        r.now,
        r.unmapped_tools
    )
}

/// Deletes a resource server; scopes, role scopes, grants, codes and families cascade.
pub fn delete_stmt(id: &str) -> Stmt {
    stmt!("DELETE FROM resource_servers WHERE id = ?1", id)
}

/// Sets a scope's description and tools.
pub fn update_scope_stmt(rs_id: &str, name: &str, description: &str, tools: &[String]) -> Stmt {
    stmt!(
        "UPDATE scopes SET description = ?3, tools = ?4 WHERE resource_server_id = ?1 AND name = ?2",
        rs_id,
        name,
        description,
        to_json_list(tools)
    )
}

/// A resource server's published policy: the server (`?1` identifier) and its scopes with
/// their tools; [`implies_by_identifier_stmt`] gives the edges.
pub fn policy_stmts(identifier: &str) -> [Stmt; 3] {
    [
        stmt!(
            "SELECT identifier, unmapped_tools FROM resource_servers WHERE identifier = ?1",
            identifier
        ),
        stmt!(
            "SELECT s.name, s.description, s.tools FROM scopes s \
             JOIN resource_servers r ON r.id = s.resource_server_id WHERE r.identifier = ?1 ORDER BY s.name",
            identifier
        ),
        implies_by_identifier_stmt(identifier),
    ]
}

/// Removes what a scope implies (before setting it anew).
pub fn clear_implies_stmt(rs_id: &str, name: &str) -> Stmt {
    stmt!(
        "DELETE FROM scope_implies WHERE scope_id = (SELECT id FROM scopes WHERE resource_server_id = ?1 AND name = ?2)",
        rs_id,
        name
    )
}

/// Deletes a scope; role scopes and implications cascade.
pub fn delete_scope_stmt(rs_id: &str, name: &str) -> Stmt {
    stmt!(
        "DELETE FROM scopes WHERE resource_server_id = ?1 AND name = ?2",
        rs_id,
        name
    )
}

#[derive(Deserialize)]
struct PolicyRow {
    identifier: String,
    unmapped_tools: String,
}

/// The policy of the resource server `identifier` as gateways read it (`None`: no such
/// server), in one round trip.
pub async fn policy<D: Database + ?Sized>(
    db: &D,
    identifier: &str,
) -> Result<Option<mcpgate_guard::mcp::PolicyDocument>, StoreError> {
    use mcpgate_guard::mcp::{PolicyDocument, PolicyScope, Unmapped};
    let [rs, rows, edges] =
        crate::store::Results::new(db.batch(policy_stmts(identifier).to_vec()).await?).take()?;
    let Some(rs) = decode_first::<PolicyRow>(rs)? else {
        return Ok(None);
    };
    let scopes: Vec<PolicyScope> = with_edges(decode(rows)?, decode(edges)?)
        .into_iter()
        .map(|s| PolicyScope {
            name: s.name,
            implies: s.implies,
            tools: s.tools,
        })
        .collect();
    Ok(Some(PolicyDocument {
        resource: rs.identifier,
        scopes_supported: scopes.iter().map(|s| s.name.clone()).collect(),
        scopes,
        unmapped_tools: if rs.unmapped_tools == "allow" {
            Unmapped::Allow
        } else {
            Unmapped::Deny
        },
    }))
}

/// Whether a resource server with this id exists (one row, `id`, or none).
pub fn exists_stmt(id: &str) -> Stmt {
    stmt!("SELECT id FROM resource_servers WHERE id = ?1", id)
}
