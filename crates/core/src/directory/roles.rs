//! Roles: named bundles of scopes, possibly across resource servers. A role that is assigned
//! to anyone cannot be deleted (the schema restricts it); unassign it first.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::audit;
use super::validate::{self, FieldError};
use crate::crypto::Crypto;
use crate::endpoints::admin::{self, Ctx};
use crate::stmt;
use crate::store::{decode, decode_first, Database, Stmt, StoreError};
use crate::wire::{Error, Request, Response};

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Create {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    scopes: Vec<ScopeRef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Patch {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    scopes: Option<Vec<ScopeRef>>,
}

#[derive(Deserialize)]
struct IdRow {
    id: String,
}

/// Resolves scope references to scope ids, naming the first unknown one.
async fn resolve<D: Database + ?Sized>(db: &D, refs: &[ScopeRef]) -> Result<Vec<String>, Error> {
    if refs.len() > validate::MAX_LIST {
        return Err(
            FieldError::new("scopes", format!("at most {} items", validate::MAX_LIST)).into(),
        );
    }
    let mut stmts = Vec::new();
    for (i, r) in refs.iter().enumerate() {
        let resource =
            validate::resource_identifier(&format!("scopes[{i}].resource"), &r.resource)?;
        validate::scope_token(&format!("scopes[{i}].scope"), &r.scope)?;
        stmts.push(stmt!(
            "SELECT s.id FROM scopes s JOIN resource_servers r ON r.id = s.resource_server_id \
             WHERE r.identifier = ?1 AND s.name = ?2",
            resource,
            &r.scope
        ));
    }
    if stmts.is_empty() {
        return Ok(Vec::new());
    }
    let mut ids = Vec::new();
    for (i, rows) in db.batch(stmts).await?.into_iter().enumerate() {
        let row: Option<IdRow> = decode_first(rows)?;
        match row {
            Some(r) if !ids.contains(&r.id) => ids.push(r.id),
            Some(_) => {}
            None => {
                return Err(FieldError::new(
                    format!("scopes[{i}]"),
                    "no such scope on that resource server",
                )
                .into())
            }
        }
    }
    Ok(ids)
}

/// The statement loading a role.
fn get_stmt(id: &str) -> Stmt {
    stmt!("SELECT * FROM roles WHERE id = ?1", id)
}

/// Adds a scope (by id) to a role.
fn role_scope_stmt(role_id: &str, scope_id: &str) -> Stmt {
    stmt!(
        "INSERT INTO role_scopes (role_id, scope_id) VALUES (?1, ?2)",
        role_id,
        scope_id
    )
}

/// Loads a role.
pub async fn get_row<D: Database + ?Sized>(db: &D, id: &str) -> Result<Option<Role>, StoreError> {
    decode_first(db.query(get_stmt(id)).await?)
}

async fn view<D: Database + ?Sized>(db: &D, id: &str) -> Result<Value, Error> {
    let [role, scopes] = crate::store::Results::new(
        db.batch(vec![
            get_stmt(id),
            stmt!(
                "SELECT r.identifier AS resource, s.name AS scope FROM role_scopes rs \
                 JOIN scopes s ON s.id = rs.scope_id JOIN resource_servers r ON r.id = s.resource_server_id \
                 WHERE rs.role_id = ?1 ORDER BY r.identifier, s.name",
                id
            ),
        ])
        .await?,
    )
    .take()?;
    let role: Role = decode_first(role)?.ok_or(Error::NoSuch("role"))?;
    let scopes: Vec<ScopeRef> = decode(scopes)?;
    let mut v = serde_json::to_value(role).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert(
            "scopes".into(),
            serde_json::to_value(scopes).unwrap_or_default(),
        );
    }
    Ok(v)
}

/// `POST /roles`.
pub async fn create<D: Database + ?Sized, C: Crypto>(
    ctx: &mut Ctx<'_, D, C>,
    req: &Request,
) -> Result<Response, Error> {
    let input: Create = admin::body(req)?;
    let name = validate::name("name", &input.name)?;
    let description = validate::description("description", &input.description)?;
    let scope_ids = resolve(ctx.db, &input.scopes).await?;
    let id = ctx.id("rol");
    let mut stmts = vec![stmt!(
        "INSERT INTO roles (id, name, description, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
        &id,
        &name,
        description,
        ctx.now
    )];
    stmts.extend(scope_ids.iter().map(|s| role_scope_stmt(&id, s)));
    stmts.push(audit::record(
        ctx.now,
        &ctx.actor,
        "role.create",
        "role",
        &id,
        json!({ "name": name }),
    ));
    ctx.db
        .batch(stmts)
        .await
        .map_err(admin::conflict("a role with this name already exists"))?;
    Ok(admin::created(view(ctx.db, &id).await?))
}

/// `GET /roles/{id}`.
pub async fn get<D: Database + ?Sized>(db: &D, id: &str) -> Result<Response, Error> {
    Ok(admin::ok(view(db, id).await?))
}

/// `GET /roles`.
pub async fn list<D: Database + ?Sized>(db: &D, req: &Request) -> Result<Response, Error> {
    let (rows, page) = admin::page_by_id::<_, Role>(
        db,
        req,
        "SELECT * FROM roles WHERE id > ?1 ORDER BY id LIMIT ?2",
    )
    .await?;
    Ok(admin::page_response(rows, &page, |r| r.id.clone()))
}

/// `PATCH /roles/{id}`; `scopes`, when given, replaces the role's scopes.
pub async fn update<D: Database + ?Sized, C: Crypto>(
    ctx: &mut Ctx<'_, D, C>,
    req: &Request,
    id: &str,
) -> Result<Response, Error> {
    let input: Patch = admin::body(req)?;
    let cur = get_row(ctx.db, id).await?.ok_or(Error::NoSuch("role"))?;
    let name = validate::patched("name", input.name.as_deref(), cur.name, validate::name)?;
    let description = validate::patched(
        "description",
        input.description.as_deref(),
        cur.description,
        validate::description,
    )?;
    let mut stmts = vec![stmt!(
        "UPDATE roles SET name = ?2, description = ?3, updated_at = ?4 WHERE id = ?1",
        id,
        &name,
        description,
        ctx.now
    )];
    if let Some(refs) = &input.scopes {
        let ids = resolve(ctx.db, refs).await?;
        stmts.push(stmt!("DELETE FROM role_scopes WHERE role_id = ?1", id));
        stmts.extend(ids.iter().map(|s| role_scope_stmt(id, s)));
    }
    stmts.push(audit::record(
        ctx.now,
        &ctx.actor,
        "role.update",
        "role",
        id,
        json!({ "name": name }),
    ));
    ctx.db
        .batch(stmts)
        .await
        .map_err(admin::conflict("a role with this name already exists"))?;
    get(ctx.db, id).await
}

/// `DELETE /roles/{id}`: refused with 409 while the role is assigned.
pub async fn delete<D: Database + ?Sized, C: Crypto>(
    ctx: &mut Ctx<'_, D, C>,
    id: &str,
) -> Result<Response, Error> {
    let cur = get_row(ctx.db, id).await?.ok_or(Error::NoSuch("role"))?;
    ctx.db
        .batch(vec![
            stmt!("DELETE FROM roles WHERE id = ?1", id),
            audit::record(
                ctx.now,
                &ctx.actor,
                "role.delete",
                "role",
                id,
                json!({ "name": cur.name }),
            ),
        ])
        .await
        .map_err(admin::conflict(
            "the role is assigned to users, groups or clients; unassign it first",
        ))?;
    Ok(admin::no_content())
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
    fn noun(self) -> &'static str {
        match self {
            Holder::User => "user",
            Holder::Group => "group",
            Holder::Client => "client",
        }
    }
}

/// Assigns a role to a holder (idempotent).
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

/// Holders of a role among clients (the bootstrap checks whether an admin client exists).
pub fn clients_holding_stmt(role_id: &str) -> Stmt {
    stmt!(
        "SELECT client_id FROM client_roles WHERE role_id = ?1 LIMIT 1",
        role_id
    )
}

/// `PUT /{holders}/{id}/roles/{role_id}`: idempotent.
pub async fn assign<D: Database + ?Sized, C: Crypto>(
    ctx: &mut Ctx<'_, D, C>,
    holder: Holder,
    holder_id: &str,
    role_id: &str,
) -> Result<Response, Error> {
    get_row(ctx.db, role_id)
        .await?
        .ok_or(Error::NoSuch("role"))?;
    let insert = assign_stmt(holder, holder_id, role_id);
    ctx.db
        .batch(vec![
            insert,
            audit::record(
                ctx.now,
                &ctx.actor,
                "role.assign",
                holder.noun(),
                holder_id,
                json!({ "role": role_id }),
            ),
        ])
        .await
        .map_err(|e| match e {
            // The only foreign key left to fail is the holder's.
            StoreError::Conflict(_) => Error::NoSuch(holder.noun()),
            other => other.into(),
        })?;
    Ok(admin::no_content())
}

/// `DELETE /{holders}/{id}/roles/{role_id}`.
pub async fn unassign<D: Database + ?Sized, C: Crypto>(
    ctx: &mut Ctx<'_, D, C>,
    holder: Holder,
    holder_id: &str,
    role_id: &str,
) -> Result<Response, Error> {
    let (check, del) = match holder {
        Holder::User => (
            stmt!(
                "SELECT role_id FROM user_roles WHERE user_id = ?1 AND role_id = ?2",
                holder_id,
                role_id
            ),
            stmt!(
                "DELETE FROM user_roles WHERE user_id = ?1 AND role_id = ?2",
                holder_id,
                role_id
            ),
        ),
        Holder::Group => (
            stmt!(
                "SELECT role_id FROM group_roles WHERE group_id = ?1 AND role_id = ?2",
                holder_id,
                role_id
            ),
            stmt!(
                "DELETE FROM group_roles WHERE group_id = ?1 AND role_id = ?2",
                holder_id,
                role_id
            ),
        ),
        Holder::Client => (
            stmt!(
                "SELECT role_id FROM client_roles WHERE client_id = ?1 AND role_id = ?2",
                holder_id,
                role_id
            ),
            stmt!(
                "DELETE FROM client_roles WHERE client_id = ?1 AND role_id = ?2",
                holder_id,
                role_id
            ),
        ),
    };
    if ctx.db.query(check).await?.is_empty() {
        return Err(Error::NoSuch("role assignment"));
    }
    ctx.db
        .batch(vec![
            del,
            audit::record(
                ctx.now,
                &ctx.actor,
                "role.unassign",
                holder.noun(),
                holder_id,
                json!({ "role": role_id }),
            ),
        ])
        .await?;
    Ok(admin::no_content())
}

/// `GET /{holders}/{id}/roles`: the roles held directly.
pub async fn list_assigned<D: Database + ?Sized>(
    db: &D,
    holder: Holder,
    holder_id: &str,
) -> Result<Response, Error> {
    let q = match holder {
        Holder::User => stmt!("SELECT r.* FROM user_roles a JOIN roles r ON r.id = a.role_id WHERE a.user_id = ?1 ORDER BY r.name", holder_id),
        Holder::Group => stmt!("SELECT r.* FROM group_roles a JOIN roles r ON r.id = a.role_id WHERE a.group_id = ?1 ORDER BY r.name", holder_id),
        Holder::Client => stmt!("SELECT r.* FROM client_roles a JOIN roles r ON r.id = a.role_id WHERE a.client_id = ?1 ORDER BY r.name", holder_id),
    };
    let rows: Vec<Role> = decode(db.query(q).await?)?;
    Ok(admin::ok(json!({ "items": rows, "next_cursor": null })))
}
