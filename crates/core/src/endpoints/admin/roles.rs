//! `/admin/v1/roles` and role assignments (`/{holders}/{id}/roles/{role}`). The SQL is
//! `directory/roles.rs`'s.

use serde::Deserialize;
use serde_json::{json, Value};

use super::Ctx;
use crate::crypto::Crypto;
use crate::directory::audit;
use crate::directory::roles::{self as store, Holder, Role, ScopeRef};
use crate::directory::validate::{self, FieldError};
use crate::endpoints::admin;
use crate::store::{decode, decode_first, Database, Results, StoreError};
use crate::wire::{Error, Request, Response};

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
        stmts.push(store::scope_id_stmt(&resource, &r.scope));
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

async fn view<D: Database + ?Sized>(db: &D, id: &str) -> Result<Value, Error> {
    let [role, scopes] = Results::new(
        db.batch(vec![store::get_stmt(id), store::scopes_stmt(id)])
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
    let mut stmts = vec![store::insert_stmt(&id, &name, &description, ctx.now)];
    stmts.extend(scope_ids.iter().map(|s| store::role_scope_stmt(&id, s)));
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
    let (rows, page, searching) =
        admin::page_searched::<_, Role>(db, req, store::LIST_PAGE, store::SEARCH_PAGE).await?;
    Ok(admin::page_response(rows, &page, |r| {
        admin::list_key(searching, &r.name, &r.id)
    }))
}

/// `PATCH /roles/{id}`; `scopes`, when given, replaces the role's scopes.
pub async fn update<D: Database + ?Sized, C: Crypto>(
    ctx: &mut Ctx<'_, D, C>,
    req: &Request,
    id: &str,
) -> Result<Response, Error> {
    let input: Patch = admin::body(req)?;
    let cur = store::get_row(ctx.db, id)
        .await?
        .ok_or(Error::NoSuch("role"))?;
    let name = validate::patched("name", input.name.as_deref(), cur.name, validate::name)?;
    let description = validate::patched(
        "description",
        input.description.as_deref(),
        cur.description,
        validate::description,
    )?;
    let mut stmts = vec![store::update_stmt(id, &name, &description, ctx.now)];
    if let Some(refs) = &input.scopes {
        let ids = resolve(ctx.db, refs).await?;
        stmts.push(store::clear_scopes_stmt(id));
        stmts.extend(ids.iter().map(|s| store::role_scope_stmt(id, s)));
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
    let cur = store::get_row(ctx.db, id)
        .await?
        .ok_or(Error::NoSuch("role"))?;
    ctx.db
        .batch(vec![
            store::delete_stmt(id),
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

/// `PUT /{holders}/{id}/roles/{role_id}`: idempotent.
pub async fn assign<D: Database + ?Sized, C: Crypto>(
    ctx: &mut Ctx<'_, D, C>,
    holder: Holder,
    holder_id: &str,
    role_id: &str,
) -> Result<Response, Error> {
    store::get_row(ctx.db, role_id)
        .await?
        .ok_or(Error::NoSuch("role"))?;
    ctx.db
        .batch(vec![
            store::assign_stmt(holder, holder_id, role_id),
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
    if ctx
        .db
        .query(store::assignment_stmt(holder, holder_id, role_id))
        .await?
        .is_empty()
    {
        return Err(Error::NoSuch("role assignment"));
    }
    ctx.db
        .batch(vec![
            store::unassign_stmt(holder, holder_id, role_id),
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
    let rows: Vec<Role> = decode(db.query(store::assigned_stmt(holder, holder_id)).await?)?;
    Ok(admin::ok(json!({ "items": rows, "next_cursor": null })))
}
