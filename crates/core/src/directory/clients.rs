//! OAuth clients (tables `clients`, `client_resources`, `exchange_rules`,
//! `introspection_rights`): the rows and every statement that reads or writes them.
//! Applications (public or confidential MCP clients, registered by admins), agents
//! (confidential machine clients with an owner, roles through groups), and clients that
//! registered themselves (RFC 7591 `dynamic`, or Client ID Metadata Documents `metadata`). The
//! admin API's handlers are in `endpoints/admin/clients.rs`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{int_bool, json_list, to_json_list, Status};
use crate::stmt;
use crate::store::{decode, decode_first, Database, Stmt, StoreError};

/// `authorization_code`.
pub const GRANT_CODE: &str = "authorization_code";

/// `refresh_token`.
pub const GRANT_REFRESH: &str = "refresh_token";

/// `client_credentials`.
pub const GRANT_CLIENT_CREDENTIALS: &str = "client_credentials";

/// RFC 8693 token exchange.
pub const GRANT_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// The JWT bearer grant (RFC 7523 §2.1), with identity assertions (ID-JAG) from a trusted
/// enterprise identity provider.
pub const GRANT_JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// What kind of client a row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientKind {
    /// Registered by an admin.
    Application,
    /// A machine client with an owner, roles through groups.
    Agent,
    /// Registered itself (RFC 7591).
    Dynamic,
    /// Named by a Client ID Metadata Document.
    Metadata,
}

impl ClientKind {
    /// Storage and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientKind::Application => "application",
            ClientKind::Agent => "agent",
            ClientKind::Dynamic => "dynamic",
            ClientKind::Metadata => "metadata",
        }
    }

    /// The kind named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        [
            ClientKind::Application,
            ClientKind::Agent,
            ClientKind::Dynamic,
            ClientKind::Metadata,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    /// The noun used in errors ("no such agent").
    pub fn noun(self) -> &'static str {
        self.as_str()
    }
}

/// OAuth 2.1 §2.1 client type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientType {
    /// Cannot keep a secret.
    Public,
    /// Authenticates with a secret.
    Confidential,
}

impl ClientType {
    /// Storage and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientType::Public => "public",
            ClientType::Confidential => "confidential",
        }
    }
}

/// Token endpoint authentication method (RFC 7591 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// Public clients.
    None,
    /// HTTP Basic.
    ClientSecretBasic,
    /// In the form body.
    ClientSecretPost,
}

impl AuthMethod {
    /// Storage and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::None => "none",
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
        }
    }

    /// The method named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        [
            AuthMethod::None,
            AuthMethod::ClientSecretBasic,
            AuthMethod::ClientSecretPost,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
    }
}

/// A client as stored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Client {
    /// The `client_id`.
    pub id: String,
    /// What kind of client.
    pub kind: ClientKind,
    /// Display name (shown on the consent page).
    pub name: String,
    /// Description.
    pub description: String,
    /// `public` or `confidential`.
    pub client_type: ClientType,
    /// Registered token endpoint authentication method.
    pub token_endpoint_auth_method: AuthMethod,
    /// Whether only the registered method is accepted (else either secret method).
    #[serde(deserialize_with = "int_bool")]
    pub auth_method_strict: bool,
    /// SHA-256 digest of the secret.
    pub secret_hash: Option<String>,
    /// When the secret was last set.
    pub secret_rotated_at: Option<i64>,
    /// Registered redirect URIs.
    #[serde(deserialize_with = "json_list")]
    pub redirect_uris: Vec<String>,
    /// Allowed grant types.
    #[serde(deserialize_with = "json_list")]
    pub grant_types: Vec<String>,
    /// Responsible party (agents).
    pub owner: Option<String>,
    /// `active` or `disabled`.
    pub status: Status,
    /// RFC 7591 metadata as registered (JSON text).
    pub metadata: String,
    /// Digest of the RFC 7592 registration access token.
    pub registration_token_hash: Option<String>,
    /// Created (unix seconds).
    pub created_at: i64,
    /// Last changed.
    pub updated_at: i64,
    /// Last time it obtained a token.
    pub last_used_at: Option<i64>,
    /// When last disabled.
    pub disabled_at: Option<i64>,
    /// When the redirect URIs last gained an entry (earlier consent no longer counts).
    #[serde(default)]
    pub redirect_uris_changed_at: Option<i64>,
}

impl Client {
    /// True for confidential clients.
    pub fn is_confidential(&self) -> bool {
        self.client_type == ClientType::Confidential
    }

    /// True if the grant type is allowed.
    pub fn allows_grant(&self, grant: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant)
    }

    /// True if `requested` is one of its redirect URIs. Loopback http redirect URIs match on
    /// everything but the port (RFC 8252 §7.3), except for the built-in console, a web
    /// application served at exactly one address.
    pub fn redirect_matches(&self, requested: &str) -> bool {
        if self.id == CONSOLE_CLIENT_ID {
            return self.redirect_uris.iter().any(|r| r == requested);
        }
        crate::policy::redirect::matches(&self.redirect_uris, requested)
    }

    /// True for clients that registered themselves.
    pub fn is_self_registered(&self) -> bool {
        matches!(self.kind, ClientKind::Dynamic | ClientKind::Metadata)
    }
}

/// Adds a redirect URI to a client that lacks it (the others are kept).
pub fn add_redirect_uri_stmt(id: &str, uri: &str, now: i64) -> Stmt {
    stmt!(
        "UPDATE clients SET redirect_uris = json_insert(redirect_uris, '$[#]', ?2), updated_at = ?3, \
         redirect_uris_changed_at = ?3 WHERE id = ?1 \
         AND NOT EXISTS (SELECT 1 FROM json_each(clients.redirect_uris) WHERE value = ?2)",
        id,
        uri,
        now
    )
}

/// The built-in admin console's client id.
pub const CONSOLE_CLIENT_ID: &str = "app_mcpgate_console";

/// The statement loading a client.
pub fn get_stmt(id: &str) -> Stmt {
    stmt!("SELECT * FROM clients WHERE id = ?1", id)
}

/// Loads a client.
pub async fn get_row<D: Database + ?Sized>(db: &D, id: &str) -> Result<Option<Client>, StoreError> {
    decode_first(db.query(get_stmt(id)).await?)
}

#[derive(Deserialize)]
struct Identifier {
    identifier: String,
}

/// The resource servers a client is restricted to (empty: not restricted): those an admin
/// named, or for a self-registered client without such a list, those it reaches.
pub async fn resources<D: Database + ?Sized>(
    db: &D,
    client: &Client,
) -> Result<Vec<String>, StoreError> {
    let named = identifiers(db, restriction_stmt(&client.id)).await?;
    if named.is_empty() && client.is_self_registered() {
        let mut reach = identifiers(db, self_registered_reach_stmt(client.created_at)).await?;
        reach.sort();
        return Ok(reach);
    }
    Ok(named)
}

/// The identifiers of the resource servers a client is restricted to (none: not restricted).
pub fn restriction_stmt(client_id: &str) -> Stmt {
    stmt!(
        "SELECT r.identifier FROM client_resources cr JOIN resource_servers r ON r.id = cr.resource_server_id \
         WHERE cr.client_id = ?1 ORDER BY r.identifier",
        client_id
    )
}

/// Up to two resource servers the client may reach, for a request that names none (a client
/// that reaches exactly one needs no `resource` parameter): those an admin restricted it to, or,
/// for a self-registered client without such a list, those open to self-registered clients
/// since before it was registered. Nothing for an unrestricted application or agent.
pub fn sole_resource_stmt(client_id: &str) -> Stmt {
    stmt!(
        "SELECT identifier FROM (SELECT r.identifier FROM client_resources cr \
         JOIN resource_servers r ON r.id = cr.resource_server_id WHERE cr.client_id = ?1 LIMIT 2) \
         UNION ALL SELECT identifier FROM (SELECT r.identifier FROM clients c \
         JOIN resource_servers r ON r.self_registration_opened_at <= c.created_at \
         AND r.allow_self_registered = 1 WHERE c.id = ?1 AND c.kind IN ('dynamic', 'metadata') \
         AND NOT EXISTS (SELECT 1 FROM client_resources WHERE client_id = ?1) LIMIT 2)",
        client_id
    )
}

/// The resource servers a self-registered client registered at `registered_at` reaches when an
/// admin has not restricted it (see `ResourceServer::reachable_by_self_registered`).
pub fn self_registered_reach_stmt(registered_at: i64) -> Stmt {
    stmt!(
        "SELECT identifier FROM resource_servers WHERE self_registration_opened_at <= ?1 \
         AND allow_self_registered = 1",
        registered_at
    )
}

/// A delegation an admin configured for token exchange (RFC 8693): the client may exchange
/// subject tokens issued for resource server `from` into tokens for `to` (`from = to`: the same
/// audience, which only narrows).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExchangeRule {
    /// The subject token's audience (a resource server identifier).
    pub from: String,
    /// The audience of the token it may be exchanged for.
    pub to: String,
}

/// The token-exchange delegations configured for a client.
pub async fn exchange_rules<D: Database + ?Sized>(
    db: &D,
    id: &str,
) -> Result<Vec<ExchangeRule>, StoreError> {
    decode(
        db.query(stmt!(
            "SELECT f.identifier AS \"from\", t.identifier AS \"to\" FROM exchange_rules e \
             JOIN resource_servers f ON f.id = e.from_resource_server_id \
             JOIN resource_servers t ON t.id = e.to_resource_server_id \
             WHERE e.client_id = ?1 ORDER BY f.identifier, t.identifier",
            id
        ))
        .await?,
    )
}

/// The resource servers whose tokens a client may introspect (besides its own tokens).
pub async fn introspection_rights<D: Database + ?Sized>(
    db: &D,
    id: &str,
) -> Result<Vec<String>, StoreError> {
    identifiers(db, introspection_rights_stmt(id)).await
}

/// Reads [`introspection_rights`].
pub fn introspection_rights_stmt(id: &str) -> Stmt {
    stmt!(
        "SELECT r.identifier FROM introspection_rights i JOIN resource_servers r ON r.id = i.resource_server_id \
         WHERE i.client_id = ?1 ORDER BY r.identifier",
        id
    )
}

/// The `identifier` column of `query`'s rows.
async fn identifiers<D: Database + ?Sized>(db: &D, query: Stmt) -> Result<Vec<String>, StoreError> {
    let rows: Vec<Identifier> = decode(db.query(query).await?)?;
    Ok(rows.into_iter().map(|r| r.identifier).collect())
}

/// Lets a client introspect tokens of a resource server.
pub fn introspection_right_stmt(client_id: &str, rs_id: &str) -> Stmt {
    stmt!(
        "INSERT OR IGNORE INTO introspection_rights (client_id, resource_server_id) VALUES (?1, ?2)",
        client_id,
        rs_id
    )
}

/// What is needed to insert a client row.
pub struct NewClient<'a> {
    /// client_id.
    pub id: &'a str,
    /// Kind.
    pub kind: ClientKind,
    /// Name.
    pub name: &'a str,
    /// Description.
    pub description: &'a str,
    /// Public or confidential.
    pub client_type: ClientType,
    /// Auth method.
    pub auth_method: AuthMethod,
    /// Strict auth method.
    pub strict: bool,
    /// Secret digest.
    pub secret_hash: Option<String>,
    /// Redirect URIs.
    pub redirect_uris: &'a [String],
    /// Grant types.
    pub grant_types: &'a [String],
    /// Owner.
    pub owner: Option<&'a str>,
    /// Metadata JSON.
    pub metadata: Value,
    /// RFC 7592 token digest.
    pub registration_token_hash: Option<String>,
    /// Now.
    pub now: i64,
}

/// The insert statement for a new client.
pub fn insert_stmt(c: &NewClient<'_>) -> Stmt {
    stmt!(
        "INSERT INTO clients (id, kind, name, description, client_type, token_endpoint_auth_method, auth_method_strict, \
         secret_hash, secret_rotated_at, redirect_uris, grant_types, owner, status, metadata, registration_token_hash, \
         created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 'active', ?13, ?14, ?15, ?15)",
        c.id,
        c.kind.as_str(),
        c.name,
        c.description,
        c.client_type.as_str(),
        c.auth_method.as_str(),
        c.strict,
        c.secret_hash.clone(),
        c.secret_hash.as_ref().map(|_| c.now),
        to_json_list(c.redirect_uris),
        to_json_list(c.grant_types),
        c.owner,
        c.metadata.to_string(),
        c.registration_token_hash.clone(),
        c.now
    )
}

/// Inserts a self-registered client only if both rate counters (`(key, limit)`, counted
/// earlier in the same batch) are within their limits and some resource server accepts
/// self-registered clients; returns the row when it inserted.
pub fn insert_registration_stmt(
    c: &NewClient<'_>,
    limits: crate::store::rate_counters::Limits<'_>,
) -> Stmt {
    let [(k1, l1), (k2, l2)] = limits;
    stmt!(
        "INSERT INTO clients (id, kind, name, description, client_type, token_endpoint_auth_method, auth_method_strict, \
         secret_hash, secret_rotated_at, redirect_uris, grant_types, owner, status, metadata, registration_token_hash, \
         created_at, updated_at) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 'active', ?13, ?14, ?15, ?15 \
         WHERE (SELECT count FROM rate_counters WHERE key = ?16) <= ?17 \
         AND (SELECT count FROM rate_counters WHERE key = ?18) <= ?19 \
         AND EXISTS (SELECT 1 FROM resource_servers WHERE self_registration_opened_at IS NOT NULL \
         AND allow_self_registered = 1) RETURNING id",
        c.id,
        c.kind.as_str(),
        c.name,
        c.description,
        c.client_type.as_str(),
        c.auth_method.as_str(),
        c.strict,
        c.secret_hash.clone(),
        c.secret_hash.as_ref().map(|_| c.now),
        to_json_list(c.redirect_uris),
        to_json_list(c.grant_types),
        c.owner,
        c.metadata.to_string(),
        c.registration_token_hash.clone(),
        c.now,
        k1,
        l1,
        k2,
        l2
    )
}

/// `redirect_uris_changed_at` after an update to `uris`: now if a URI was added (consent given
/// before no longer counts at the authorization endpoint), else unchanged.
pub fn redirects_changed_at(cur: &Client, uris: &[String], now: i64) -> Option<i64> {
    if uris.iter().any(|u| !cur.redirect_uris.contains(u)) {
        Some(now)
    } else {
        cur.redirect_uris_changed_at
    }
}

/// Restricts a client to one more resource server.
pub fn link_resource_stmt(client_id: &str, rs_id: &str) -> Stmt {
    stmt!(
        "INSERT OR IGNORE INTO client_resources (client_id, resource_server_id) VALUES (?1, ?2)",
        client_id,
        rs_id
    )
}

/// Marks a client as used now (last_used_at: unused-registration cleanup).
pub fn touch_stmt(client_id: &str, now: i64) -> Stmt {
    stmt!(
        "UPDATE clients SET last_used_at = ?2 WHERE id = ?1",
        client_id,
        now
    )
}

/// Marks the client as used, unless it was marked within the last hour, when the redemption
/// batched before it created family `family_id` with access token `jti` (a refused request
/// marks nothing).
pub fn touch_after_redemption_stmt(client_id: &str, family_id: &str, jti: &str, now: i64) -> Stmt {
    stmt!(
        "UPDATE clients SET last_used_at = ?2 WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at <= ?2 - 3600) \
         AND EXISTS (SELECT 1 FROM refresh_families WHERE id = ?3 AND access_jti = ?4)",
        client_id,
        now,
        family_id,
        jti
    )
}

/// Marks the client as used, unless it was marked within the last hour, when the rotation
/// batched before it inserted the refresh token with digest `refresh_digest`.
pub fn touch_after_refresh_stmt(client_id: &str, refresh_digest: &str, now: i64) -> Stmt {
    stmt!(
        "UPDATE clients SET last_used_at = ?2 WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at <= ?2 - 3600) \
         AND EXISTS (SELECT 1 FROM refresh_tokens WHERE token_hash = ?3)",
        client_id,
        now,
        refresh_digest
    )
}

/// Deletes a client; rows that belong to it cascade.
pub fn delete_stmt(client_id: &str) -> Stmt {
    stmt!("DELETE FROM clients WHERE id = ?1", client_id)
}

/// A self-registered client's own update of its registration (RFC 7592), only while active.
pub struct RegistrationUpdate<'a> {
    /// client_id.
    pub id: &'a str,
    /// Name.
    pub name: &'a str,
    /// Auth method.
    pub auth_method: AuthMethod,
    /// Redirect URIs.
    pub redirect_uris: &'a [String],
    /// Grant types.
    pub grant_types: &'a [String],
    /// Metadata JSON.
    pub metadata: Value,
    /// See [`redirects_changed_at`].
    pub redirect_uris_changed_at: Option<i64>,
    /// Now.
    pub now: i64,
}

/// The statement for a [`RegistrationUpdate`].
pub fn registration_update_stmt(u: &RegistrationUpdate<'_>) -> Stmt {
    stmt!(
        "UPDATE clients SET name = ?2, token_endpoint_auth_method = ?3, redirect_uris = ?4, grant_types = ?5, \
         metadata = ?6, updated_at = ?7, redirect_uris_changed_at = ?8 WHERE id = ?1 AND status = 'active'",
        u.id,
        u.name,
        u.auth_method.as_str(),
        to_json_list(u.redirect_uris),
        to_json_list(u.grant_types),
        u.metadata.to_string(),
        u.now,
        u.redirect_uris_changed_at
    )
}

/// Deletes self-registered clients never used and created before `before`; returns their ids.
pub fn delete_unused_stmt(before: i64) -> Stmt {
    stmt!(
        "DELETE FROM clients WHERE kind IN ('dynamic', 'metadata') AND last_used_at IS NULL AND created_at < ?1 RETURNING id",
        before
    )
}

/// A metadata-document client as its document describes it now.
pub struct MetadataClient<'a> {
    /// Its URL (the client_id).
    pub url: &'a str,
    /// Display name.
    pub name: &'a str,
    /// Redirect URIs.
    pub redirect_uris: &'a [String],
    /// Grant types.
    pub grant_types: &'a [String],
    /// Metadata JSON.
    pub metadata: Value,
    /// See [`redirects_changed_at`].
    pub redirect_uris_changed_at: Option<i64>,
    /// Now.
    pub now: i64,
}

/// Records or refreshes a metadata-document client (status and restrictions an admin set are
/// kept).
pub fn upsert_metadata_client_stmt(c: &MetadataClient<'_>) -> Stmt {
    stmt!(
        "INSERT INTO clients (id, kind, name, client_type, token_endpoint_auth_method, auth_method_strict, \
         redirect_uris, grant_types, status, metadata, created_at, updated_at) \
         VALUES (?1, 'metadata', ?2, 'public', 'none', 1, ?3, ?4, 'active', ?5, ?6, ?6) \
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, redirect_uris = excluded.redirect_uris, \
         grant_types = excluded.grant_types, metadata = excluded.metadata, updated_at = excluded.updated_at, \
         redirect_uris_changed_at = ?7",
        c.url,
        c.name,
        to_json_list(c.redirect_uris),
        to_json_list(c.grant_types),
        c.metadata.to_string(),
        c.now,
        c.redirect_uris_changed_at
    )
}

/// One page of clients after `after` (keyset by id), of one kind or all.
pub fn list_page_stmt(after: &str, kind: Option<ClientKind>, limit: i64) -> Stmt {
    stmt!(
        "SELECT * FROM clients WHERE id > ?1 AND (?2 IS NULL OR kind = ?2) ORDER BY id LIMIT ?3",
        after,
        kind.map(ClientKind::as_str),
        limit
    )
}

/// A page of the clients (of one kind or all) whose name starts with a prefix, by (name, id):
/// `from`, `to`, `after` as `admin::search_bounds` makes them.
pub fn search_page_stmt(
    bounds: (String, String, String, String),
    kind: Option<ClientKind>,
    limit: i64,
) -> Stmt {
    let (from, to, name, id) = bounds;
    stmt!(
        "SELECT * FROM clients WHERE name >= ?1 AND name < ?2 AND (name, id) > (?3, ?4) \
         AND (?5 IS NULL OR kind = ?5) ORDER BY name, id LIMIT ?6",
        from,
        to,
        name,
        id,
        kind.map(ClientKind::as_str),
        limit
    )
}

/// Lets a client exchange subject tokens of resource server `from_rs` for tokens of `to_rs`.
pub fn exchange_rule_stmt(client_id: &str, from_rs: &str, to_rs: &str) -> Stmt {
    stmt!(
        "INSERT OR IGNORE INTO exchange_rules (client_id, from_resource_server_id, to_resource_server_id) \
         VALUES (?1, ?2, ?3)",
        client_id,
        from_rs,
        to_rs
    )
}

/// Removes a client's resource-server restriction (before setting a new one).
pub fn clear_resources_stmt(client_id: &str) -> Stmt {
    stmt!(
        "DELETE FROM client_resources WHERE client_id = ?1",
        client_id
    )
}

/// Removes a client's exchange delegations (before setting new ones).
pub fn clear_exchange_rules_stmt(client_id: &str) -> Stmt {
    stmt!("DELETE FROM exchange_rules WHERE client_id = ?1", client_id)
}

/// Removes a client's introspection rights (before setting new ones).
pub fn clear_introspection_rights_stmt(client_id: &str) -> Stmt {
    stmt!(
        "DELETE FROM introspection_rights WHERE client_id = ?1",
        client_id
    )
}

/// An admin's update of a client.
pub struct AdminUpdate<'a> {
    /// client_id.
    pub id: &'a str,
    /// Name.
    pub name: &'a str,
    /// Description.
    pub description: &'a str,
    /// Owner (agents).
    pub owner: Option<&'a str>,
    /// Redirect URIs.
    pub redirect_uris: &'a [String],
    /// Status.
    pub status: Status,
    /// When last disabled.
    pub disabled_at: Option<i64>,
    /// See [`redirects_changed_at`].
    pub redirect_uris_changed_at: Option<i64>,
    /// Now.
    pub now: i64,
}

/// The statement for an [`AdminUpdate`].
pub fn admin_update_stmt(u: &AdminUpdate<'_>) -> Stmt {
    stmt!(
        "UPDATE clients SET name = ?2, description = ?3, owner = ?4, redirect_uris = ?5, status = ?6, disabled_at = ?7, \
         updated_at = ?8, redirect_uris_changed_at = ?9 WHERE id = ?1",
        u.id,
        u.name,
        u.description,
        u.owner,
        to_json_list(u.redirect_uris),
        u.status.as_str(),
        u.disabled_at,
        u.now,
        u.redirect_uris_changed_at
    )
}

/// Sets a new secret (digest); the old one stops working.
pub fn set_secret_stmt(id: &str, digest: &str, now: i64) -> Stmt {
    stmt!(
        "UPDATE clients SET secret_hash = ?2, secret_rotated_at = ?3, updated_at = ?3 WHERE id = ?1",
        id,
        digest,
        now
    )
}

/// Creates a built-in public client if it does not exist (an existing one is left as it is).
pub fn create_builtin_public_stmt(
    id: &str,
    name: &str,
    description: &str,
    redirect_uris: &[String],
    grant_types: &[String],
    now: i64,
) -> Stmt {
    stmt!(
        "INSERT INTO clients (id, kind, name, description, client_type, token_endpoint_auth_method, auth_method_strict, \
         redirect_uris, grant_types, status, metadata, created_at, updated_at) \
         VALUES (?1, 'application', ?2, ?3, 'public', 'none', 1, ?4, ?5, 'active', '{}', ?6, ?6) \
         ON CONFLICT (id) DO NOTHING",
        id,
        name,
        description,
        to_json_list(redirect_uris),
        to_json_list(grant_types),
        now
    )
}
