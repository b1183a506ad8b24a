//! Resource servers (MCP servers and plain APIs) and their scopes.
//!
//! A resource server's `identifier` is its canonical URL and the `aud` of every token for it
//! (RFC 8707, RFC 9068 §2.2); it is fixed at creation. Each scope names a tool or group of
//! tools; `implies` builds hierarchies (`notes.admin` implies `notes.write`).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::validate::{self, FieldError};
use super::{audit, int_bool, json_list_opt, to_json_list};
use crate::crypto::Crypto;
use crate::endpoints::admin::{self, Ctx};
use crate::stmt;
use crate::store::{decode, decode_first, Database, Stmt, StoreError};
use crate::wire::{Error, Request, Response};

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
    /// Created (unix seconds).
    pub created_at: i64,
    /// Last changed.
    pub updated_at: i64,
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
}

#[derive(Deserialize)]
struct ScopeRow {
    name: String,
    description: String,
}

#[derive(Deserialize)]
struct EdgeRow {
    scope: String,
    implied: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateScope {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    implies: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Create {
    #[serde(default)]
    kind: Option<String>,
    identifier: String,
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    access_token_ttl: Option<i64>,
    #[serde(default)]
    allow_self_registered: Option<bool>,
    #[serde(default)]
    self_registered_max_scopes: Option<Vec<String>>,
    #[serde(default)]
    default_scopes: Option<Vec<String>>,
    #[serde(default)]
    scopes: Vec<CreateScope>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Patch {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    access_token_ttl: Option<i64>,
    #[serde(default)]
    allow_self_registered: Option<bool>,
    #[serde(default, deserialize_with = "double_option")]
    self_registered_max_scopes: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "double_option")]
    default_scopes: Option<Option<Vec<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchScope {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    implies: Option<Vec<String>>,
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

fn kind(field: &str, v: Option<&str>) -> Result<String, FieldError> {
    match v.unwrap_or("mcp") {
        k @ ("mcp" | "api") => Ok(k.to_owned()),
        _ => Err(FieldError::new(field, "must be \"mcp\" or \"api\"")),
    }
}

fn ttl(config_max: i64, v: i64) -> Result<i64, FieldError> {
    if (MIN_TOKEN_TTL..=config_max).contains(&v) {
        Ok(v)
    } else {
        Err(FieldError::new(
            "access_token_ttl",
            format!("seconds from {MIN_TOKEN_TTL} to {config_max} (MCPGATE_MAX_TOKEN_TTL_SECS)"),
        ))
    }
}

/// Checks that every name in `list` is one of `known`.
fn names_known(
    field: &str,
    list: &[String],
    known: &BTreeSet<String>,
) -> Result<Vec<String>, FieldError> {
    let checked = validate::list(field, list, validate::scope_token)?;
    for (i, n) in checked.iter().enumerate() {
        if !known.contains(n) {
            return Err(FieldError::new(
                format!("{field}[{i}]"),
                format!("no scope named {n} on this resource server"),
            ));
        }
    }
    Ok(checked)
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

async fn require<D: Database + ?Sized>(db: &D, id: &str) -> Result<ResourceServer, Error> {
    get_by_id(db, id)
        .await?
        .ok_or(Error::NoSuch("resource server"))
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
    let rows: Vec<ScopeRow> = decode(rows)?;
    let edges: Vec<EdgeRow> = decode(edges)?;
    Ok(rows
        .into_iter()
        .map(|s| ScopeView {
            implies: edges
                .iter()
                .filter(|e| e.scope == s.name)
                .map(|e| e.implied.clone())
                .collect(),
            name: s.name,
            description: s.description,
        })
        .collect())
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

/// Rejects `implies` edges that would close a cycle (a scope implying itself, transitively).
fn check_acyclic(field: &str, edges: &[(String, String)]) -> Result<(), FieldError> {
    for (start, _) in edges {
        let mut stack = vec![start.clone()];
        let mut seen = BTreeSet::new();
        while let Some(s) = stack.pop() {
            for (_, to) in edges.iter().filter(|(from, _)| *from == s) {
                if to == start {
                    return Err(FieldError::new(
                        field,
                        format!("implies would form a cycle through {start}"),
                    ));
                }
                if seen.insert(to.clone()) {
                    stack.push(to.clone());
                }
            }
        }
    }
    Ok(())
}

fn view(rs: &ResourceServer, scopes: &[ScopeView]) -> Value {
    let mut v = serde_json::to_value(rs).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert(
            "scopes".into(),
            serde_json::to_value(scopes).unwrap_or_default(),
        );
    }
    v
}

/// `POST /resource-servers`.
pub async fn create<D: Database + ?Sized, C: Crypto>(
    ctx: &mut Ctx<'_, D, C>,
    req: &Request,
) -> Result<Response, Error> {
    let input: Create = admin::body(req)?;
    let identifier = validate::resource_identifier("identifier", &input.identifier)?;
    let kind = kind("kind", input.kind.as_deref())?;
    let name = validate::name("name", &input.name)?;
    let description = validate::description("description", &input.description)?;
    let ttl = ttl(
        ctx.config.max_token_ttl,
        input
            .access_token_ttl
            .unwrap_or(DEFAULT_TOKEN_TTL.min(ctx.config.max_token_ttl)),
    )?;
    if input.scopes.len() > validate::MAX_LIST {
        return Err(
            FieldError::new("scopes", format!("at most {} items", validate::MAX_LIST)).into(),
        );
    }
    let mut known = BTreeSet::new();
    let mut scope_rows = Vec::new();
    for (i, s) in input.scopes.iter().enumerate() {
        let n = validate::scope_token(&format!("scopes[{i}].name"), &s.name)?;
        if !known.insert(n.clone()) {
            return Err(
                FieldError::new(format!("scopes[{i}].name"), "duplicate scope name").into(),
            );
        }
        let d = validate::description(&format!("scopes[{i}].description"), &s.description)?;
        scope_rows.push((ctx.id("scp"), n, d));
    }
    let mut edges = Vec::new();
    for (i, s) in input.scopes.iter().enumerate() {
        for to in names_known(&format!("scopes[{i}].implies"), &s.implies, &known)? {
            if to == s.name {
                return Err(FieldError::new(
                    format!("scopes[{i}].implies"),
                    "a scope cannot imply itself",
                )
                .into());
            }
            edges.push((s.name.clone(), to));
        }
    }
    check_acyclic("scopes", &edges)?;
    let max = input
        .self_registered_max_scopes
        .as_deref()
        .map(|l| names_known("self_registered_max_scopes", l, &known))
        .transpose()?;
    let defaults = input
        .default_scopes
        .as_deref()
        .map(|l| names_known("default_scopes", l, &known))
        .transpose()?;
    let id = ctx.id("rs");
    let now = ctx.now;
    let mut stmts = vec![stmt!(
        "INSERT INTO resource_servers (id, kind, identifier, name, description, access_token_ttl, \
         allow_self_registered, self_registered_max_scopes, default_scopes, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
        &id,
        kind,
        &identifier,
        name,
        description,
        ttl,
        input.allow_self_registered.unwrap_or(true),
        max.as_deref().map(to_json_list),
        defaults.as_deref().map(to_json_list),
        now
    )];
    for (sid, n, d) in &scope_rows {
        stmts.push(insert_scope_stmt(sid, &id, n, d, now));
    }
    for (from, to) in &edges {
        stmts.push(edge_insert(&id, from, to));
    }
    stmts.push(audit::record(
        now,
        &ctx.actor,
        "resource_server.create",
        "resource_server",
        &id,
        json!({ "identifier": identifier }),
    ));
    ctx.db.batch(stmts).await.map_err(admin::conflict(
        "a resource server with this identifier already exists",
    ))?;
    let rs = require(ctx.db, &id).await?;
    let sc = scopes(ctx.db, &id).await?;
    Ok(admin::created(view(&rs, &sc)))
}

fn edge_insert(rs_id: &str, from: &str, to: &str) -> Stmt {
    stmt!(
        "INSERT INTO scope_implies (scope_id, implied_id) \
         SELECT a.id, b.id FROM scopes a, scopes b \
         WHERE a.resource_server_id = ?1 AND b.resource_server_id = ?1 AND a.name = ?2 AND b.name = ?3",
        rs_id,
        from,
        to
    )
}

/// `GET /resource-servers/{id}`.
pub async fn get<D: Database + ?Sized>(db: &D, id: &str) -> Result<Response, Error> {
    let rs = require(db, id).await?;
    let sc = scopes(db, id).await?;
    Ok(admin::ok(view(&rs, &sc)))
}

/// `GET /resource-servers`.
pub async fn list<D: Database + ?Sized>(db: &D, req: &Request) -> Result<Response, Error> {
    let (rows, page) = admin::page_by_id::<_, ResourceServer>(
        db,
        req,
        "SELECT * FROM resource_servers WHERE id > ?1 ORDER BY id LIMIT ?2",
    )
    .await?;
    Ok(admin::page_response(rows, &page, |r| r.id.clone()))
}

/// `PATCH /resource-servers/{id}`.
pub async fn update<D: Database + ?Sized, C: Crypto>(
    ctx: &mut Ctx<'_, D, C>,
    req: &Request,
    id: &str,
) -> Result<Response, Error> {
    let input: Patch = admin::body(req)?;
    let cur = require(ctx.db, id).await?;
    let known: BTreeSet<String> = scopes(ctx.db, id)
        .await?
        .into_iter()
        .map(|s| s.name)
        .collect();
    let name = validate::patched("name", input.name.as_deref(), cur.name, validate::name)?;
    let description = validate::patched(
        "description",
        input.description.as_deref(),
        cur.description,
        validate::description,
    )?;
    let ttl = input
        .access_token_ttl
        .map(|t| ttl(ctx.config.max_token_ttl, t))
        .transpose()?
        .unwrap_or(cur.access_token_ttl);
    let max = match input.self_registered_max_scopes {
        None => cur.self_registered_max_scopes,
        Some(None) => None,
        Some(Some(l)) => Some(names_known("self_registered_max_scopes", &l, &known)?),
    };
    let defaults = match input.default_scopes {
        None => cur.default_scopes,
        Some(None) => None,
        Some(Some(l)) => Some(names_known("default_scopes", &l, &known)?),
    };
    let allow = input
        .allow_self_registered
        .unwrap_or(cur.allow_self_registered);
    ctx.db
        .batch(vec![
            stmt!(
                "UPDATE resource_servers SET name = ?2, description = ?3, access_token_ttl = ?4, \
                 allow_self_registered = ?5, self_registered_max_scopes = ?6, default_scopes = ?7, updated_at = ?8 \
                 WHERE id = ?1",
                id,
                name,
                description,
                ttl,
                allow,
                max.as_deref().map(to_json_list),
                defaults.as_deref().map(to_json_list),
                ctx.now
            ),
            audit::record(ctx.now, &ctx.actor, "resource_server.update", "resource_server", id, json!({})),
        ])
        .await?;
    get(ctx.db, id).await
}

/// `DELETE /resource-servers/{id}`: its scopes, their role memberships and client
/// restrictions go with it.
pub async fn delete<D: Database + ?Sized, C: Crypto>(
    ctx: &mut Ctx<'_, D, C>,
    id: &str,
) -> Result<Response, Error> {
    let cur = require(ctx.db, id).await?;
    ctx.db
        .batch(vec![
            stmt!("DELETE FROM resource_servers WHERE id = ?1", id),
            audit::record(
                ctx.now,
                &ctx.actor,
                "resource_server.delete",
                "resource_server",
                id,
                json!({ "identifier": cur.identifier }),
            ),
        ])
        .await?;
    Ok(admin::no_content())
}

/// `GET /resource-servers/{id}/scopes`.
pub async fn list_scopes<D: Database + ?Sized>(db: &D, id: &str) -> Result<Response, Error> {
    require(db, id).await?;
    let sc = scopes(db, id).await?;
    Ok(admin::ok(json!({ "items": sc, "next_cursor": null })))
}

fn one_scope(all: Vec<ScopeView>, name: &str) -> Result<ScopeView, Error> {
    all.into_iter()
        .find(|s| s.name == name)
        .ok_or(Error::NoSuch("scope"))
}

/// `GET /resource-servers/{id}/scopes/{name}`.
pub async fn get_scope<D: Database + ?Sized>(
    db: &D,
    id: &str,
    name: &str,
) -> Result<Response, Error> {
    require(db, id).await?;
    let s = one_scope(scopes(db, id).await?, name)?;
    Ok(admin::ok(serde_json::to_value(s).unwrap_or_default()))
}

/// `POST /resource-servers/{id}/scopes`.
pub async fn create_scope<D: Database + ?Sized, C: Crypto>(
    ctx: &mut Ctx<'_, D, C>,
    req: &Request,
    id: &str,
) -> Result<Response, Error> {
    let input: CreateScope = admin::body(req)?;
    require(ctx.db, id).await?;
    let existing = scopes(ctx.db, id).await?;
    let name = validate::scope_token("name", &input.name)?;
    let description = validate::description("description", &input.description)?;
    let mut known: BTreeSet<String> = existing.iter().map(|s| s.name.clone()).collect();
    if !known.insert(name.clone()) {
        return Err(Error::Conflict(format!(
            "scope {name} already exists on this resource server"
        )));
    }
    let implies = names_known("implies", &input.implies, &known)?;
    if implies.contains(&name) {
        return Err(FieldError::new("implies", "a scope cannot imply itself").into());
    }
    let sid = ctx.id("scp");
    let mut stmts = vec![insert_scope_stmt(&sid, id, &name, &description, ctx.now)];
    stmts.extend(implies.iter().map(|to| edge_insert(id, &name, to)));
    stmts.push(audit::record(
        ctx.now,
        &ctx.actor,
        "scope.create",
        "resource_server",
        id,
        json!({ "scope": name }),
    ));
    ctx.db.batch(stmts).await.map_err(admin::conflict(
        "a scope with this name already exists on this resource server",
    ))?;
    let s = one_scope(scopes(ctx.db, id).await?, &name)?;
    Ok(admin::created(serde_json::to_value(s).unwrap_or_default()))
}

/// `PATCH /resource-servers/{id}/scopes/{name}`.
pub async fn update_scope<D: Database + ?Sized, C: Crypto>(
    ctx: &mut Ctx<'_, D, C>,
    req: &Request,
    id: &str,
    name: &str,
) -> Result<Response, Error> {
    let input: PatchScope = admin::body(req)?;
    require(ctx.db, id).await?;
    let all = scopes(ctx.db, id).await?;
    let cur = one_scope(all.clone(), name)?;
    let known: BTreeSet<String> = all.iter().map(|s| s.name.clone()).collect();
    let description = validate::patched(
        "description",
        input.description.as_deref(),
        cur.description,
        validate::description,
    )?;
    let mut stmts = vec![stmt!(
        "UPDATE scopes SET description = ?3 WHERE resource_server_id = ?1 AND name = ?2",
        id,
        name,
        description
    )];
    if let Some(list) = input.implies {
        let implies = names_known("implies", &list, &known)?;
        if implies.iter().any(|n| n == name) {
            return Err(FieldError::new("implies", "a scope cannot imply itself").into());
        }
        let mut edges: Vec<(String, String)> = all
            .iter()
            .filter(|s| s.name != name)
            .flat_map(|s| s.implies.iter().map(|t| (s.name.clone(), t.clone())))
            .collect();
        edges.extend(implies.iter().map(|t| (name.to_owned(), t.clone())));
        check_acyclic("implies", &edges)?;
        stmts.push(stmt!(
            "DELETE FROM scope_implies WHERE scope_id = (SELECT id FROM scopes WHERE resource_server_id = ?1 AND name = ?2)",
            id,
            name
        ));
        stmts.extend(implies.iter().map(|to| edge_insert(id, name, to)));
    }
    stmts.push(audit::record(
        ctx.now,
        &ctx.actor,
        "scope.update",
        "resource_server",
        id,
        json!({ "scope": name }),
    ));
    ctx.db.batch(stmts).await?;
    get_scope(ctx.db, id, name).await
}

/// `DELETE /resource-servers/{id}/scopes/{name}`: removed from every role that had it.
pub async fn delete_scope<D: Database + ?Sized, C: Crypto>(
    ctx: &mut Ctx<'_, D, C>,
    id: &str,
    name: &str,
) -> Result<Response, Error> {
    require(ctx.db, id).await?;
    one_scope(scopes(ctx.db, id).await?, name)?;
    ctx.db
        .batch(vec![
            stmt!(
                "DELETE FROM scopes WHERE resource_server_id = ?1 AND name = ?2",
                id,
                name
            ),
            audit::record(
                ctx.now,
                &ctx.actor,
                "scope.delete",
                "resource_server",
                id,
                json!({ "scope": name }),
            ),
        ])
        .await?;
    Ok(admin::no_content())
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

/// Inserts a scope.
fn insert_scope_stmt(id: &str, rs_id: &str, name: &str, description: &str, now: i64) -> Stmt {
    stmt!(
        "INSERT INTO scopes (id, resource_server_id, name, description, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        id,
        rs_id,
        name,
        description,
        now
    )
}

/// Loads a resource server by its identifier.
pub fn by_identifier_stmt(identifier: &str) -> Stmt {
    stmt!(
        "SELECT * FROM resource_servers WHERE identifier = ?1",
        identifier
    )
}

/// A resource server's scopes with their descriptions (`name`, `description`), by name.
pub fn scope_descriptions_stmt(rs_id: &str) -> Stmt {
    stmt!(
        "SELECT name, description FROM scopes WHERE resource_server_id = ?1 ORDER BY name",
        rs_id
    )
}
