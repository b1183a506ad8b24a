//! `/admin/v1/groups`: create, read, update, delete groups and their members. The SQL is
//! `directory/groups.rs`'s.

use serde::Deserialize;
use serde_json::json;

use super::Ctx;
use crate::crypto::Crypto;
use crate::directory::groups::{self as store, Group, Member, MemberRow};
use crate::directory::{audit, clients, users, validate};
use crate::endpoints::admin;
use crate::store::{decode, Database, Results};
use crate::wire::{Error, Request, Response};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Create {
    name: String,
    #[serde(default)]
    description: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Patch {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

async fn require<D: Database + ?Sized>(db: &D, id: &str) -> Result<Group, Error> {
    store::get_row(db, id).await?.ok_or(Error::NoSuch("group"))
}

/// `POST /groups`.
pub async fn create<D: Database + ?Sized, C: Crypto>(
    ctx: &mut Ctx<'_, D, C>,
    req: &Request,
) -> Result<Response, Error> {
    let input: Create = admin::body(req)?;
    let name = validate::name("name", &input.name)?;
    let description = validate::description("description", &input.description)?;
    let id = ctx.id("grp");
    ctx.db
        .batch(vec![
            store::insert_stmt(&id, &name, &description, ctx.now),
            audit::record(
                ctx.now,
                &ctx.actor,
                "group.create",
                "group",
                &id,
                json!({ "name": name }),
            ),
        ])
        .await
        .map_err(admin::conflict("a group with this name already exists"))?;
    let g = require(ctx.db, &id).await?;
    Ok(admin::created(serde_json::to_value(g).unwrap_or_default()))
}

/// `GET /groups/{id}`.
pub async fn get<D: Database + ?Sized>(db: &D, id: &str) -> Result<Response, Error> {
    let g = require(db, id).await?;
    Ok(admin::ok(serde_json::to_value(g).unwrap_or_default()))
}

/// `GET /groups`.
pub async fn list<D: Database + ?Sized>(db: &D, req: &Request) -> Result<Response, Error> {
    let (rows, page, searching) =
        admin::page_searched::<_, Group>(db, req, store::LIST_PAGE, store::SEARCH_PAGE).await?;
    Ok(admin::page_response(rows, &page, |r| {
        admin::list_key(searching, &r.name, &r.id)
    }))
}

/// `PATCH /groups/{id}`.
pub async fn update<D: Database + ?Sized, C: Crypto>(
    ctx: &mut Ctx<'_, D, C>,
    req: &Request,
    id: &str,
) -> Result<Response, Error> {
    let input: Patch = admin::body(req)?;
    let cur = require(ctx.db, id).await?;
    let name = validate::patched("name", input.name.as_deref(), cur.name, validate::name)?;
    let description = validate::patched(
        "description",
        input.description.as_deref(),
        cur.description,
        validate::description,
    )?;
    ctx.db
        .batch(vec![
            store::update_stmt(id, &name, &description, ctx.now),
            audit::record(
                ctx.now,
                &ctx.actor,
                "group.update",
                "group",
                id,
                json!({ "name": name }),
            ),
        ])
        .await
        .map_err(admin::conflict("a group with this name already exists"))?;
    get(ctx.db, id).await
}

/// `DELETE /groups/{id}`: memberships and role assignments go with it.
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
                "group.delete",
                "group",
                id,
                json!({ "name": cur.name }),
            ),
        ])
        .await?;
    Ok(admin::no_content())
}

/// `GET /groups/{id}/members`.
pub async fn members<D: Database + ?Sized>(db: &D, id: &str) -> Result<Response, Error> {
    require(db, id).await?;
    let [users, agents] =
        Results::new(db.batch(store::members_stmts(id).to_vec()).await?).take()?;
    let users: Vec<MemberRow> = decode(users)?;
    let agents: Vec<MemberRow> = decode(agents)?;
    Ok(admin::ok(json!({ "users": users, "agents": agents })))
}

fn noun(kind: Member) -> &'static str {
    match kind {
        Member::User => "user",
        Member::Agent => "agent",
    }
}

/// `PUT /groups/{id}/{users|agents}/{member}`: idempotent.
pub async fn add<D: Database + ?Sized, C: Crypto>(
    ctx: &mut Ctx<'_, D, C>,
    id: &str,
    kind: Member,
    member: &str,
) -> Result<Response, Error> {
    require(ctx.db, id).await?;
    match kind {
        Member::User => {
            users::get_row(ctx.db, member)
                .await?
                .ok_or(Error::NoSuch("user"))?;
        }
        Member::Agent => {
            let c = clients::get_row(ctx.db, member).await?;
            if c.is_none_or(|c| c.kind != clients::ClientKind::Agent) {
                return Err(Error::NoSuch("agent"));
            }
        }
    }
    ctx.db
        .batch(vec![
            store::add_member_stmt(id, kind, member),
            audit::record(
                ctx.now,
                &ctx.actor,
                "group.add_member",
                "group",
                id,
                json!({ noun(kind): member }),
            ),
        ])
        .await?;
    Ok(admin::no_content())
}

/// `DELETE /groups/{id}/{users|agents}/{member}`.
pub async fn remove<D: Database + ?Sized, C: Crypto>(
    ctx: &mut Ctx<'_, D, C>,
    id: &str,
    kind: Member,
    member: &str,
) -> Result<Response, Error> {
    if ctx
        .db
        .query(store::membership_stmt(id, kind, member))
        .await?
        .is_empty()
    {
        return Err(Error::NoSuch("group membership"));
    }
    ctx.db
        .batch(vec![
            store::remove_member_stmt(id, kind, member),
            audit::record(
                ctx.now,
                &ctx.actor,
                "group.remove_member",
                "group",
                id,
                json!({ noun(kind): member }),
            ),
        ])
        .await?;
    Ok(admin::no_content())
}
