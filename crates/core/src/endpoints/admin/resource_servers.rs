//! `/admin/v1/resource-servers`: create, read, update, delete resource servers and their
//! scopes. The SQL is `directory/resource_servers.rs`'s.

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::{json, Value};

use super::Ctx;
use crate::crypto::Crypto;
use crate::directory::audit;
use crate::directory::resource_servers::{
    self as store, ResourceServer, ScopeView, DEFAULT_TOKEN_TTL, MIN_TOKEN_TTL,
};
use crate::directory::validate::{self, FieldError};
use crate::endpoints::admin;
use crate::store::Database;
use crate::wire::{Error, Request, Response};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateScope {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    implies: Vec<String>,
    #[serde(default)]
    tools: Vec<String>,
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
    unmapped_tools: Option<String>,
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
    #[serde(default)]
    unmapped_tools: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchScope {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    implies: Option<Vec<String>>,
    #[serde(default)]
    tools: Option<Vec<String>>,
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

async fn require<D: Database + ?Sized>(db: &D, id: &str) -> Result<ResourceServer, Error> {
    store::get_by_id(db, id)
        .await?
        .ok_or(Error::NoSuch("resource server"))
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
        let t = validate::list(
            &format!("scopes[{i}].tools"),
            &s.tools,
            validate::tool_pattern,
        )?;
        scope_rows.push((ctx.id("scp"), n, d, t));
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
    let unmapped = validate::unmapped_tools(
        "unmapped_tools",
        input.unmapped_tools.as_deref().unwrap_or("deny"),
    )?;
    let id = ctx.id("rs");
    let now = ctx.now;
    let mut stmts = vec![store::insert_stmt(&store::NewResourceServer {
        id: &id,
        kind: &kind,
        identifier: &identifier,
        name: &name,
        description: &description,
        access_token_ttl: ttl,
        allow_self_registered: input.allow_self_registered.unwrap_or(true),
        self_registered_max_scopes: max.as_deref(),
        default_scopes: defaults.as_deref(),
        unmapped_tools: &unmapped,
        now,
    })];
    for (sid, n, d, t) in &scope_rows {
        stmts.push(store::insert_scope_stmt(&store::NewScope {
            id: sid,
            rs_id: &id,
            name: n,
            description: d,
            tools: t,
            now,
        }));
    }
    for (from, to) in &edges {
        stmts.push(store::edge_insert(&id, from, to));
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
    let sc = store::scopes(ctx.db, &id).await?;
    Ok(admin::created(view(&rs, &sc)))
}

/// `GET /resource-servers/{id}`.
pub async fn get<D: Database + ?Sized>(db: &D, id: &str) -> Result<Response, Error> {
    let rs = require(db, id).await?;
    let sc = store::scopes(db, id).await?;
    Ok(admin::ok(view(&rs, &sc)))
}

/// `GET /resource-servers`.
pub async fn list<D: Database + ?Sized>(db: &D, req: &Request) -> Result<Response, Error> {
    let (rows, page) = admin::page_by_id::<_, ResourceServer>(db, req, store::LIST_PAGE).await?;
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
    let known: BTreeSet<String> = store::scopes(ctx.db, id)
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
    let unmapped = validate::patched(
        "unmapped_tools",
        input.unmapped_tools.as_deref(),
        cur.unmapped_tools,
        validate::unmapped_tools,
    )?;
    ctx.db
        .batch(vec![
            store::update_stmt(&store::NewResourceServer {
                id,
                kind: &cur.kind,
                identifier: &cur.identifier,
                name: &name,
                description: &description,
                access_token_ttl: ttl,
                allow_self_registered: allow,
                self_registered_max_scopes: max.as_deref(),
                default_scopes: defaults.as_deref(),
                unmapped_tools: &unmapped,
                now: ctx.now,
            }),
            audit::record(
                ctx.now,
                &ctx.actor,
                "resource_server.update",
                "resource_server",
                id,
                json!({}),
            ),
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
            store::delete_stmt(id),
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
    let sc = store::scopes(db, id).await?;
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
    let s = one_scope(store::scopes(db, id).await?, name)?;
    Ok(admin::ok(serde_json::to_value(s).unwrap_or_default()))
}

/// Most holders [`scope_holders`] lists.
const MAX_HOLDERS: i64 = 500;

/// `GET /resource-servers/{id}/scopes/{name}/holders`.
pub async fn scope_holders<D: Database + ?Sized>(
    db: &D,
    id: &str,
    name: &str,
) -> Result<Response, Error> {
    require(db, id).await?;
    one_scope(store::scopes(db, id).await?, name)?;
    let mut rows = db
        .query(crate::directory::roles::scope_holders_stmt(
            id,
            name,
            MAX_HOLDERS + 1,
        ))
        .await?;
    let truncated = rows.len() as i64 > MAX_HOLDERS;
    rows.truncate(MAX_HOLDERS as usize);
    Ok(admin::ok(
        json!({ "scope": name, "items": rows, "truncated": truncated }),
    ))
}

/// `POST /resource-servers/{id}/scopes`.
pub async fn create_scope<D: Database + ?Sized, C: Crypto>(
    ctx: &mut Ctx<'_, D, C>,
    req: &Request,
    id: &str,
) -> Result<Response, Error> {
    let input: CreateScope = admin::body(req)?;
    require(ctx.db, id).await?;
    let existing = store::scopes(ctx.db, id).await?;
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
    let tools = validate::list("tools", &input.tools, validate::tool_pattern)?;
    let sid = ctx.id("scp");
    let mut stmts = vec![store::insert_scope_stmt(&store::NewScope {
        id: &sid,
        rs_id: id,
        name: &name,
        description: &description,
        tools: &tools,
        now: ctx.now,
    })];
    stmts.extend(implies.iter().map(|to| store::edge_insert(id, &name, to)));
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
    let s = one_scope(store::scopes(ctx.db, id).await?, &name)?;
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
    let all = store::scopes(ctx.db, id).await?;
    let cur = one_scope(all.clone(), name)?;
    let known: BTreeSet<String> = all.iter().map(|s| s.name.clone()).collect();
    let description = validate::patched(
        "description",
        input.description.as_deref(),
        cur.description,
        validate::description,
    )?;
    let tools = match input.tools {
        Some(list) => validate::list("tools", &list, validate::tool_pattern)?,
        None => cur.tools,
    };
    let mut stmts = vec![store::update_scope_stmt(id, name, &description, &tools)];
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
        stmts.push(store::clear_implies_stmt(id, name));
        stmts.extend(implies.iter().map(|to| store::edge_insert(id, name, to)));
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
    one_scope(store::scopes(ctx.db, id).await?, name)?;
    ctx.db
        .batch(vec![
            store::delete_scope_stmt(id, name),
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
