//! OAuth clients: applications (public or confidential MCP clients, registered by admins),
//! agents (confidential machine clients with an owner, roles through groups), and clients that
//! registered themselves (RFC 7591 `dynamic`, or Client ID Metadata Documents `metadata`).
//!
//! Secrets are 256-bit random values generated here, returned once (at creation or rotation)
//! and stored as SHA-256 digests.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::validate::{self, FieldError};
use super::{audit, int_bool, json_list, to_json_list, Status};
use crate::crypto::Crypto;
use crate::endpoints::admin::{self, Ctx};
use crate::policy::redirect::{self, AppType};
use crate::revocation::{self, Principal as RevokedPrincipal};
use crate::secret::generate_secret;
use crate::stmt;
use crate::store::{decode, decode_first, Database, Stmt, Store, StoreError};
use crate::wire::{Error, Request, Response};

/// `authorization_code`.
pub const GRANT_CODE: &str = "authorization_code";
/// `refresh_token`.
pub const GRANT_REFRESH: &str = "refresh_token";
/// `client_credentials`.
pub const GRANT_CLIENT_CREDENTIALS: &str = "client_credentials";
/// RFC 8693 token exchange.
pub const GRANT_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

const ALL_GRANTS: &[&str] = &[
    GRANT_CODE,
    GRANT_REFRESH,
    GRANT_CLIENT_CREDENTIALS,
    GRANT_TOKEN_EXCHANGE,
];

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

    /// True for clients that registered themselves.
    pub fn is_self_registered(&self) -> bool {
        matches!(self.kind, ClientKind::Dynamic | ClientKind::Metadata)
    }
}

#[derive(Serialize)]
struct View<'a> {
    client_id: &'a str,
    kind: ClientKind,
    name: &'a str,
    description: &'a str,
    client_type: ClientType,
    token_endpoint_auth_method: AuthMethod,
    redirect_uris: &'a [String],
    grant_types: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    owner: Option<&'a str>,
    status: Status,
    resources: &'a [String],
    metadata: Value,
    created_at: i64,
    updated_at: i64,
    last_used_at: Option<i64>,
    disabled_at: Option<i64>,
    secret_rotated_at: Option<i64>,
}

fn view(c: &Client, resources: &[String]) -> Value {
    serde_json::to_value(View {
        client_id: &c.id,
        kind: c.kind,
        name: &c.name,
        description: &c.description,
        client_type: c.client_type,
        token_endpoint_auth_method: c.token_endpoint_auth_method,
        redirect_uris: &c.redirect_uris,
        grant_types: &c.grant_types,
        owner: c.owner.as_deref(),
        status: c.status,
        resources,
        metadata: serde_json::from_str(&c.metadata).unwrap_or_else(|_| json!({})),
        created_at: c.created_at,
        updated_at: c.updated_at,
        last_used_at: c.last_used_at,
        disabled_at: c.disabled_at,
        secret_rotated_at: c.secret_rotated_at,
    })
    .unwrap_or_default()
}

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

/// The resource servers a client is restricted to (empty: not restricted).
pub async fn resources<D: Database + ?Sized>(db: &D, id: &str) -> Result<Vec<String>, StoreError> {
    identifiers(db, restriction_stmt(id)).await
}

/// The identifiers of the resource servers a client is restricted to (none: not restricted).
pub fn restriction_stmt(client_id: &str) -> Stmt {
    stmt!(
        "SELECT r.identifier FROM client_resources cr JOIN resource_servers r ON r.id = cr.resource_server_id \
         WHERE cr.client_id = ?1 ORDER BY r.identifier",
        client_id
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
    identifiers(
        db,
        stmt!(
            "SELECT r.identifier FROM introspection_rights i JOIN resource_servers r ON r.id = i.resource_server_id \
             WHERE i.client_id = ?1 ORDER BY r.identifier",
            id
        ),
    )
    .await
}

/// The `identifier` column of `query`'s rows.
async fn identifiers<D: Database + ?Sized>(db: &D, query: Stmt) -> Result<Vec<String>, StoreError> {
    let rows: Vec<Identifier> = decode(db.query(query).await?)?;
    Ok(rows.into_iter().map(|r| r.identifier).collect())
}

/// Statements restricting a client to resource servers, after checking they exist.
async fn resource_stmts<D: Database + ?Sized>(
    db: &D,
    client_id: &str,
    list: &[String],
) -> Result<Vec<Stmt>, Error> {
    link_stmts(db, "resources", list, link_resource_stmt, client_id).await
}

/// Statements recording a client's token-exchange delegations, after checking every resource
/// server exists.
async fn exchange_stmts<D: Database + ?Sized>(
    db: &D,
    client_id: &str,
    list: &[ExchangeRule],
) -> Result<Vec<Stmt>, Error> {
    if list.len() > validate::MAX_LIST {
        return Err(FieldError::new("exchange", "too many items").into());
    }
    let mut out = Vec::new();
    for (i, rule) in list.iter().enumerate() {
        let mut ids = [String::new(), String::new()];
        for (slot, (end, value)) in ids.iter_mut().zip([("from", &rule.from), ("to", &rule.to)]) {
            let field = format!("exchange[{i}].{end}");
            let ident = validate::resource_identifier(&field, value)?;
            *slot = super::resource_servers::get_by_identifier(db, &ident)
                .await?
                .ok_or_else(|| FieldError::new(field, "no such resource server"))?
                .id;
        }
        let [from, to] = ids;
        out.push(stmt!(
            "INSERT OR IGNORE INTO exchange_rules (client_id, from_resource_server_id, to_resource_server_id) \
             VALUES (?1, ?2, ?3)",
            client_id,
            from,
            to
        ));
    }
    Ok(out)
}

/// Statements naming the resource servers whose tokens a client may introspect.
async fn introspect_stmts<D: Database + ?Sized>(
    db: &D,
    client_id: &str,
    list: &[String],
) -> Result<Vec<Stmt>, Error> {
    link_stmts(db, "introspect", list, introspection_right_stmt, client_id).await
}

/// Lets a client introspect tokens of a resource server.
fn introspection_right_stmt(client_id: &str, rs_id: &str) -> Stmt {
    stmt!(
        "INSERT OR IGNORE INTO introspection_rights (client_id, resource_server_id) VALUES (?1, ?2)",
        client_id,
        rs_id
    )
}

/// `insert(client, resource server id)` for each resource server named in
/// `list` (the request's `field`), after checking each exists.
async fn link_stmts<D: Database + ?Sized>(
    db: &D,
    field: &str,
    list: &[String],
    insert: fn(&str, &str) -> Stmt,
    client_id: &str,
) -> Result<Vec<Stmt>, Error> {
    let idents = validate::list(field, list, validate::resource_identifier)?;
    let mut out = Vec::new();
    for (i, ident) in idents.iter().enumerate() {
        let rs = super::resource_servers::get_by_identifier(db, ident)
            .await?
            .ok_or_else(|| FieldError::new(format!("{field}[{i}]"), "no such resource server"))?;
        out.push(insert(client_id, &rs.id));
    }
    Ok(out)
}

async fn role_stmts<D: Database + ?Sized>(
    db: &D,
    client_id: &str,
    roles: &[String],
) -> Result<Vec<Stmt>, Error> {
    if roles.len() > validate::MAX_LIST {
        return Err(FieldError::new("roles", "too many items").into());
    }
    let mut out = Vec::new();
    for (i, r) in roles.iter().enumerate() {
        if super::roles::get_row(db, r).await?.is_none() {
            return Err(FieldError::new(format!("roles[{i}]"), "no such role").into());
        }
        out.push(super::roles::assign_stmt(
            super::roles::Holder::Client,
            client_id,
            r,
        ));
    }
    Ok(out)
}

async fn group_stmts<D: Database + ?Sized>(
    db: &D,
    client_id: &str,
    groups: &[String],
) -> Result<Vec<Stmt>, Error> {
    if groups.len() > validate::MAX_LIST {
        return Err(FieldError::new("groups", "too many items").into());
    }
    let mut out = Vec::new();
    for (i, g) in groups.iter().enumerate() {
        if super::groups::get_row(db, g).await?.is_none() {
            return Err(FieldError::new(format!("groups[{i}]"), "no such group").into());
        }
        out.push(super::groups::add_member_stmt(
            g,
            super::groups::Member::Agent,
            client_id,
        ));
    }
    Ok(out)
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateApp {
    name: String,
    #[serde(default)]
    description: String,
    client_type: String,
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    grant_types: Option<Vec<String>>,
    #[serde(default)]
    token_endpoint_auth_method: Option<String>,
    #[serde(default)]
    application_type: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    resources: Vec<String>,
    #[serde(default)]
    exchange: Vec<ExchangeRule>,
    #[serde(default)]
    introspect: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateAgent {
    name: String,
    #[serde(default)]
    description: String,
    owner: String,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    resources: Vec<String>,
    #[serde(default)]
    exchange: Vec<ExchangeRule>,
    #[serde(default)]
    introspect: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Patch {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    status: Option<Status>,
    #[serde(default)]
    redirect_uris: Option<Vec<String>>,
    #[serde(default)]
    owner: Option<String>,
    #[serde(default)]
    resources: Option<Vec<String>>,
    #[serde(default)]
    exchange: Option<Vec<ExchangeRule>>,
    #[serde(default)]
    introspect: Option<Vec<String>>,
    /// Why (recorded in the audit log when the client is disabled).
    #[serde(default)]
    reason: Option<String>,
}

fn grant_types(
    field: &str,
    list: &[String],
    confidential: bool,
) -> Result<Vec<String>, FieldError> {
    let mut out: Vec<String> = Vec::new();
    for (i, g) in list.iter().enumerate() {
        let f = format!("{field}[{i}]");
        if !ALL_GRANTS.contains(&g.as_str()) {
            return Err(FieldError::new(f, format!("unsupported grant type {g}")));
        }
        if !confidential && (g == GRANT_CLIENT_CREDENTIALS || g == GRANT_TOKEN_EXCHANGE) {
            return Err(FieldError::new(
                f,
                format!("{g} needs a confidential client"),
            ));
        }
        if !out.contains(g) {
            out.push(g.clone());
        }
    }
    if out.is_empty() {
        return Err(FieldError::new(field, "at least one grant type"));
    }
    Ok(out)
}

/// Validates redirect URIs for a client that uses the authorization endpoint.
pub fn redirect_uris(
    field: &str,
    list: &[String],
    app: AppType,
    required: bool,
) -> Result<Vec<String>, FieldError> {
    if required && list.is_empty() {
        return Err(FieldError::new(
            field,
            "at least one redirect URI is required for authorization_code",
        ));
    }
    validate::list(field, list, |f, v| {
        redirect::check_registration(v, app).map_err(|m| FieldError::new(f, m))
    })
}

fn secret_response(mut v: Value, secret: Option<&crate::secret::Secret>) -> Value {
    if let (Some(o), Some(s)) = (v.as_object_mut(), secret) {
        o.insert("client_secret".into(), Value::String(s.expose().to_owned()));
        o.insert("client_secret_expires_at".into(), json!(0));
    }
    v
}

async fn full_view<D: Database + ?Sized>(db: &D, id: &str) -> Result<Value, Error> {
    let c = get_row(db, id).await?.ok_or(Error::NoSuch("client"))?;
    let r = resources(db, id).await?;
    let mut v = view(&c, &r);
    if c.is_confidential() {
        let x = exchange_rules(db, id).await?;
        let i = introspection_rights(db, id).await?;
        if let Some(o) = v.as_object_mut() {
            o.insert("exchange".into(), json!(x));
            o.insert("introspect".into(), json!(i));
        }
    }
    Ok(v)
}

/// `POST /applications`.
pub async fn create_application<D: Database + ?Sized, C: Crypto>(
    ctx: &mut Ctx<'_, D, C>,
    req: &Request,
) -> Result<Response, Error> {
    let input: CreateApp = admin::body(req)?;
    let name = validate::name("name", &input.name)?;
    let description = validate::description("description", &input.description)?;
    let confidential = match input.client_type.as_str() {
        "confidential" => true,
        "public" => false,
        _ => {
            return Err(
                FieldError::new("client_type", "must be \"public\" or \"confidential\"").into(),
            )
        }
    };
    let app = match input.application_type.as_deref().unwrap_or("web") {
        "web" => AppType::Web,
        "native" => AppType::Native,
        _ => {
            return Err(FieldError::new("application_type", "must be \"web\" or \"native\"").into())
        }
    };
    let grants = grant_types(
        "grant_types",
        &input
            .grant_types
            .unwrap_or_else(|| vec![GRANT_CODE.into(), GRANT_REFRESH.into()]),
        confidential,
    )?;
    let uses_code = grants.iter().any(|g| g == GRANT_CODE);
    let uris = redirect_uris("redirect_uris", &input.redirect_uris, app, uses_code)?;
    let (method, strict) = match (confidential, input.token_endpoint_auth_method.as_deref()) {
        (false, None | Some("none")) => (AuthMethod::None, true),
        (false, Some(_)) => {
            return Err(FieldError::new(
                "token_endpoint_auth_method",
                "public clients use \"none\"",
            )
            .into())
        }
        (true, None) => (AuthMethod::ClientSecretBasic, false),
        (true, Some("client_secret_basic")) => (AuthMethod::ClientSecretBasic, true),
        (true, Some("client_secret_post")) => (AuthMethod::ClientSecretPost, true),
        (true, Some(_)) => {
            return Err(FieldError::new(
                "token_endpoint_auth_method",
                "client_secret_basic or client_secret_post",
            )
            .into())
        }
    };
    let id = ctx.id("app");
    let secret = confidential.then(|| generate_secret(ctx.rng));
    let mut stmts = vec![insert_stmt(&NewClient {
        id: &id,
        kind: ClientKind::Application,
        name: &name,
        description: &description,
        client_type: if confidential {
            ClientType::Confidential
        } else {
            ClientType::Public
        },
        auth_method: method,
        strict,
        secret_hash: secret.as_ref().map(|s| s.digest()),
        redirect_uris: &uris,
        grant_types: &grants,
        owner: None,
        metadata: json!({ "application_type": if app == AppType::Native { "native" } else { "web" } }),
        registration_token_hash: None,
        now: ctx.now,
    })];
    stmts.extend(role_stmts(ctx.db, &id, &input.roles).await?);
    stmts.extend(resource_stmts(ctx.db, &id, &input.resources).await?);
    if !input.exchange.is_empty() && !grants.iter().any(|g| g == GRANT_TOKEN_EXCHANGE) {
        return Err(FieldError::new("exchange", "needs the token-exchange grant type").into());
    }
    if !confidential && !input.introspect.is_empty() {
        return Err(FieldError::new("introspect", "public clients cannot introspect").into());
    }
    stmts.extend(exchange_stmts(ctx.db, &id, &input.exchange).await?);
    stmts.extend(introspect_stmts(ctx.db, &id, &input.introspect).await?);
    stmts.push(audit::record(
        ctx.now,
        &ctx.actor,
        "application.create",
        "client",
        &id,
        json!({ "name": name }),
    ));
    ctx.db.batch(stmts).await?;
    Ok(admin::created(secret_response(
        full_view(ctx.db, &id).await?,
        secret.as_ref(),
    )))
}

/// `POST /agents`.
pub async fn create_agent<D: Database + ?Sized, C: Crypto>(
    ctx: &mut Ctx<'_, D, C>,
    req: &Request,
) -> Result<Response, Error> {
    let input: CreateAgent = admin::body(req)?;
    let name = validate::name("name", &input.name)?;
    let description = validate::description("description", &input.description)?;
    let owner = validate::name("owner", &input.owner)?;
    let id = ctx.id("agt");
    let secret = generate_secret(ctx.rng);
    let grants = vec![
        GRANT_CLIENT_CREDENTIALS.to_owned(),
        GRANT_TOKEN_EXCHANGE.to_owned(),
    ];
    let mut stmts = vec![insert_stmt(&NewClient {
        id: &id,
        kind: ClientKind::Agent,
        name: &name,
        description: &description,
        client_type: ClientType::Confidential,
        auth_method: AuthMethod::ClientSecretBasic,
        strict: false,
        secret_hash: Some(secret.digest()),
        redirect_uris: &[],
        grant_types: &grants,
        owner: Some(&owner),
        metadata: json!({}),
        registration_token_hash: None,
        now: ctx.now,
    })];
    stmts.extend(group_stmts(ctx.db, &id, &input.groups).await?);
    stmts.extend(resource_stmts(ctx.db, &id, &input.resources).await?);
    stmts.extend(exchange_stmts(ctx.db, &id, &input.exchange).await?);
    stmts.extend(introspect_stmts(ctx.db, &id, &input.introspect).await?);
    stmts.push(audit::record(
        ctx.now,
        &ctx.actor,
        "agent.create",
        "client",
        &id,
        json!({ "name": name, "owner": owner }),
    ));
    ctx.db.batch(stmts).await?;
    Ok(admin::created(secret_response(
        full_view(ctx.db, &id).await?,
        Some(&secret),
    )))
}

/// Loads a client of an expected kind (`None`: any kind).
async fn require_kind<D: Database + ?Sized>(
    db: &D,
    id: &str,
    kind: Option<ClientKind>,
) -> Result<Client, Error> {
    let noun = kind.map_or("client", ClientKind::noun);
    let c = get_row(db, id).await?.ok_or(Error::NoSuch(noun))?;
    match kind {
        Some(k) if c.kind != k => Err(Error::NoSuch(noun)),
        _ => Ok(c),
    }
}

/// `GET /{applications|agents|clients}/{id}`.
pub async fn get<D: Database + ?Sized>(
    db: &D,
    id: &str,
    kind: Option<ClientKind>,
) -> Result<Response, Error> {
    require_kind(db, id, kind).await?;
    Ok(admin::ok(full_view(db, id).await?))
}

/// `GET /{applications|agents|clients}`; `/clients` takes `?kind=`.
pub async fn list<D: Database + ?Sized>(
    db: &D,
    req: &Request,
    kind: Option<ClientKind>,
) -> Result<Response, Error> {
    let page = admin::page(req)?;
    let filter = match kind {
        Some(k) => Some(k),
        None => match admin::query_param(req, "kind") {
            None => None,
            Some(k) if ClientKind::parse(&k).is_some() => ClientKind::parse(&k),
            Some(_) => {
                return Err(
                    FieldError::new("kind", "application, agent, dynamic or metadata").into(),
                )
            }
        },
    };
    let rows: Vec<Client> = decode(
        db.query(stmt!(
            "SELECT * FROM clients WHERE id > ?1 AND (?2 IS NULL OR kind = ?2) ORDER BY id LIMIT ?3",
            &page.after,
            filter.map(ClientKind::as_str),
            page.limit + 1
        ))
        .await?,
    )?;
    let views: Vec<Value> = rows.iter().map(|c| view(c, &[])).collect();
    Ok(admin::page_response(views, &page, |v| {
        v["client_id"].as_str().unwrap_or_default().to_owned()
    }))
}

/// `PATCH /{applications|agents|clients}/{id}`.
pub async fn update<D: Store + ?Sized, C: Crypto>(
    ctx: &mut Ctx<'_, D, C>,
    req: &Request,
    id: &str,
    kind: Option<ClientKind>,
) -> Result<Response, Error> {
    let input: Patch = admin::body(req)?;
    let cur = require_kind(ctx.db, id, kind).await?;
    let name = validate::patched(
        "name",
        input.name.as_deref(),
        cur.name.clone(),
        validate::name,
    )?;
    let description = validate::patched(
        "description",
        input.description.as_deref(),
        cur.description.clone(),
        validate::description,
    )?;
    let owner = match (&input.owner, cur.kind) {
        (Some(o), ClientKind::Agent) => Some(validate::name("owner", o)?),
        (Some(_), _) => return Err(FieldError::new("owner", "only agents have an owner").into()),
        (None, _) => cur.owner.clone(),
    };
    let uris = match &input.redirect_uris {
        Some(list) => {
            let app = if cur.metadata.contains("\"native\"") {
                AppType::Native
            } else {
                AppType::Web
            };
            redirect_uris("redirect_uris", list, app, cur.allows_grant(GRANT_CODE))?
        }
        None => cur.redirect_uris.clone(),
    };
    let status = input.status.unwrap_or(cur.status);
    let disabled_at = match (cur.status, status) {
        (Status::Active, Status::Disabled) => Some(ctx.now),
        _ => cur.disabled_at,
    };
    let mut stmts = vec![stmt!(
        "UPDATE clients SET name = ?2, description = ?3, owner = ?4, redirect_uris = ?5, status = ?6, disabled_at = ?7, \
         updated_at = ?8, redirect_uris_changed_at = ?9 WHERE id = ?1",
        id,
        name,
        description,
        owner,
        to_json_list(&uris),
        status.as_str(),
        disabled_at,
        ctx.now,
        redirects_changed_at(&cur, &uris, ctx.now)
    )];
    if let Some(list) = &input.resources {
        stmts.push(stmt!(
            "DELETE FROM client_resources WHERE client_id = ?1",
            id
        ));
        stmts.extend(resource_stmts(ctx.db, id, list).await?);
    }
    if let Some(list) = &input.exchange {
        if !list.is_empty() && !cur.allows_grant(GRANT_TOKEN_EXCHANGE) {
            return Err(FieldError::new("exchange", "needs the token-exchange grant type").into());
        }
        stmts.push(stmt!("DELETE FROM exchange_rules WHERE client_id = ?1", id));
        stmts.extend(exchange_stmts(ctx.db, id, list).await?);
    }
    if let Some(list) = &input.introspect {
        if !cur.is_confidential() && !list.is_empty() {
            return Err(FieldError::new("introspect", "public clients cannot introspect").into());
        }
        stmts.push(stmt!(
            "DELETE FROM introspection_rights WHERE client_id = ?1",
            id
        ));
        stmts.extend(introspect_stmts(ctx.db, id, list).await?);
    }
    let mut detail = serde_json::Map::new();
    if status != cur.status {
        detail.insert("status".into(), json!(status.as_str()));
    }
    if status == Status::Disabled && cur.status == Status::Active {
        // Disabling revokes every token issued through the client (revocation.rs).
        let radius =
            revocation::blast_radius(ctx.db, RevokedPrincipal::Client(id), ctx.now).await?;
        let reason = reason(input.reason.as_deref())?;
        detail.insert("reason".into(), json!(reason));
        detail.insert("blast_radius".into(), json!(radius));
        stmts.push(audit::record(
            ctx.now,
            &ctx.actor,
            "client.disable",
            "client",
            id,
            Value::Object(detail),
        ));
        revocation::revoke_principal(
            ctx.db,
            RevokedPrincipal::Client(id),
            ctx.config.max_token_ttl,
            &reason,
            stmts,
            ctx.now,
        )
        .await?;
    } else {
        stmts.push(audit::record(
            ctx.now,
            &ctx.actor,
            "client.update",
            "client",
            id,
            Value::Object(detail),
        ));
        ctx.db.batch(stmts).await?;
    }
    Ok(admin::ok(full_view(ctx.db, id).await?))
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

/// The audit reason for a revocation: given, or a default; at most 500 characters.
pub fn reason(given: Option<&str>) -> Result<String, Error> {
    match given {
        None => Ok("disabled by an admin".into()),
        Some(r) if r.chars().count() <= 500 => Ok(r.to_owned()),
        Some(_) => Err(FieldError::new("reason", "at most 500 characters").into()),
    }
}

/// `GET /{clients|...}/{id}/blast-radius`: what revoking the client would affect.
pub async fn blast_radius<D: Database + ?Sized>(
    db: &D,
    id: &str,
    now: i64,
) -> Result<Response, Error> {
    get_row(db, id).await?.ok_or(Error::NoSuch("client"))?;
    let r = revocation::blast_radius(db, RevokedPrincipal::Client(id), now).await?;
    Ok(admin::ok(json!(r)))
}

/// `DELETE /{applications|agents|clients}/{id}`: role assignments, memberships and resource
/// restrictions go with it.
pub async fn delete<D: Store + ?Sized, C: Crypto>(
    ctx: &mut Ctx<'_, D, C>,
    id: &str,
    kind: Option<ClientKind>,
    query_reason: Option<String>,
) -> Result<Response, Error> {
    let cur = require_kind(ctx.db, id, kind).await?;
    let radius = revocation::blast_radius(ctx.db, RevokedPrincipal::Client(id), ctx.now).await?;
    let reason = reason(query_reason.as_deref())?;
    let stmts = vec![
        delete_stmt(id),
        audit::record(
            ctx.now,
            &ctx.actor,
            "client.delete",
            "client",
            id,
            json!({ "kind": cur.kind, "name": cur.name, "reason": reason, "blast_radius": radius }),
        ),
    ];
    // Deleting revokes too: the entry outlives the row, so offline validators learn of it.
    revocation::revoke_principal(
        ctx.db,
        RevokedPrincipal::Client(id),
        ctx.config.max_token_ttl,
        &reason,
        stmts,
        ctx.now,
    )
    .await?;
    Ok(admin::no_content())
}

/// `POST /{applications|agents}/{id}/secret`: a new secret, shown once; the old one stops
/// working at once.
pub async fn rotate_secret<D: Database + ?Sized, C: Crypto>(
    ctx: &mut Ctx<'_, D, C>,
    id: &str,
    kind: Option<ClientKind>,
) -> Result<Response, Error> {
    let cur = require_kind(ctx.db, id, kind).await?;
    if !cur.is_confidential() {
        return Err(Error::Conflict("public clients have no secret".into()));
    }
    let secret = generate_secret(ctx.rng);
    ctx.db
        .batch(vec![
            stmt!(
                "UPDATE clients SET secret_hash = ?2, secret_rotated_at = ?3, updated_at = ?3 WHERE id = ?1",
                id,
                secret.digest(),
                ctx.now
            ),
            audit::record(ctx.now, &ctx.actor, "client.rotate_secret", "client", id, json!({})),
        ])
        .await?;
    Ok(admin::ok(json!({
        "client_id": id,
        "client_secret": secret.expose(),
        "client_secret_expires_at": 0,
    })))
}

/// Restricts a client to one more resource server.
pub fn link_resource_stmt(client_id: &str, rs_id: &str) -> Stmt {
    stmt!(
        "INSERT OR IGNORE INTO client_resources (client_id, resource_server_id) VALUES (?1, ?2)",
        client_id,
        rs_id
    )
}

/// Restricts a client seen for the first time to the resource servers that accept
/// self-registered clients now (nothing if it is already restricted).
pub fn link_self_registration_servers_stmt(client_id: &str) -> Stmt {
    stmt!(
        "INSERT OR IGNORE INTO client_resources (client_id, resource_server_id) \
         SELECT ?1, id FROM resource_servers WHERE allow_self_registered = 1 \
         AND NOT EXISTS (SELECT 1 FROM client_resources WHERE client_id = ?1)",
        client_id
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
