//! Groups of users and agents. Roles assigned to a group are held by every member; this is how
//! agents get roles.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::audit;
use super::validate;
use crate::crypto::Crypto;
use crate::endpoints::admin::{self, Ctx};
use crate::stmt;
use crate::store::{decode, decode_first, Database, Stmt, StoreError};
use crate::wire::{Error, Request, Response};

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

/// Kind of group member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Member {
    /// A user.
    User,
    /// An agent (a client of kind `agent`).
    Agent,
}

/// Loads a group.
pub async fn get_row<D: Database + ?Sized>(db: &D, id: &str) -> Result<Option<Group>, StoreError> {
    decode_first(
        db.query(stmt!("SELECT * FROM groups WHERE id = ?1", id))
            .await?,
    )
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
            stmt!(
                "INSERT INTO groups (id, name, description, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
                &id,
                &name,
                description,
                ctx.now
            ),
            audit::record(ctx.now, &ctx.actor, "group.create", "group", &id, json!({ "name": name })),
        ])
        .await
        .map_err(admin::conflict("a group with this name already exists"))?;
    get(ctx.db, &id)
        .await
        .map(|r| with_status(r, http::StatusCode::CREATED))
}

fn with_status(mut r: Response, s: http::StatusCode) -> Response {
    *r.status_mut() = s;
    r
}

/// `GET /groups/{id}`.
pub async fn get<D: Database + ?Sized>(db: &D, id: &str) -> Result<Response, Error> {
    let g = get_row(db, id).await?.ok_or(Error::NoSuch("group"))?;
    Ok(admin::ok(serde_json::to_value(g).unwrap_or_default()))
}

/// `GET /groups`.
pub async fn list<D: Database + ?Sized>(db: &D, req: &Request) -> Result<Response, Error> {
    let (rows, page) = admin::page_by_id::<_, Group>(
        db,
        req,
        "SELECT * FROM groups WHERE id > ?1 ORDER BY id LIMIT ?2",
    )
    .await?;
    Ok(admin::page_response(rows, &page, |r| r.id.clone()))
}

/// `PATCH /groups/{id}`.
pub async fn update<D: Database + ?Sized, C: Crypto>(
    ctx: &mut Ctx<'_, D, C>,
    req: &Request,
    id: &str,
) -> Result<Response, Error> {
    let input: Patch = admin::body(req)?;
    let cur = get_row(ctx.db, id).await?.ok_or(Error::NoSuch("group"))?;
    let name = validate::patched("name", input.name.as_deref(), cur.name, validate::name)?;
    let description = validate::patched(
        "description",
        input.description.as_deref(),
        cur.description,
        validate::description,
    )?;
    ctx.db
        .batch(vec![
            stmt!(
                "UPDATE groups SET name = ?2, description = ?3, updated_at = ?4 WHERE id = ?1",
                id,
                &name,
                description,
                ctx.now
            ),
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
    let cur = get_row(ctx.db, id).await?.ok_or(Error::NoSuch("group"))?;
    ctx.db
        .batch(vec![
            stmt!("DELETE FROM groups WHERE id = ?1", id),
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

#[derive(Serialize, Deserialize)]
struct MemberRow {
    id: String,
    name: String,
}

/// `GET /groups/{id}/members`.
pub async fn members<D: Database + ?Sized>(db: &D, id: &str) -> Result<Response, Error> {
    get_row(db, id).await?.ok_or(Error::NoSuch("group"))?;
    let [users, agents] = crate::store::Results::new(
        db.batch(vec![
            stmt!(
                "SELECT u.id, u.username AS name FROM group_users m JOIN users u ON u.id = m.user_id WHERE m.group_id = ?1 ORDER BY u.username",
                id
            ),
            stmt!(
                "SELECT c.id, c.name FROM group_agents m JOIN clients c ON c.id = m.client_id WHERE m.group_id = ?1 ORDER BY c.name",
                id
            ),
        ])
        .await?,
    )
    .take()?;
    let users: Vec<MemberRow> = decode(users)?;
    let agents: Vec<MemberRow> = decode(agents)?;
    Ok(admin::ok(json!({ "users": users, "agents": agents })))
}

/// Adds a member to a group (idempotent).
pub fn add_member_stmt(group_id: &str, kind: Member, member: &str) -> Stmt {
    match kind {
        Member::User => stmt!(
            "INSERT OR IGNORE INTO group_users (group_id, user_id) VALUES (?1, ?2)",
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

/// `PUT /groups/{id}/{users|agents}/{member}`: idempotent.
pub async fn add<D: Database + ?Sized, C: Crypto>(
    ctx: &mut Ctx<'_, D, C>,
    id: &str,
    kind: Member,
    member: &str,
) -> Result<Response, Error> {
    get_row(ctx.db, id).await?.ok_or(Error::NoSuch("group"))?;
    let noun = match kind {
        Member::User => {
            super::users::get_row(ctx.db, member)
                .await?
                .ok_or(Error::NoSuch("user"))?;
            "user"
        }
        Member::Agent => {
            let c = super::clients::get_row(ctx.db, member).await?;
            if c.is_none_or(|c| c.kind != super::clients::ClientKind::Agent) {
                return Err(Error::NoSuch("agent"));
            }
            "agent"
        }
    };
    let insert = add_member_stmt(id, kind, member);
    ctx.db
        .batch(vec![
            insert,
            audit::record(
                ctx.now,
                &ctx.actor,
                "group.add_member",
                "group",
                id,
                json!({ noun: member }),
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
    let (check, del, noun) = match kind {
        Member::User => (
            stmt!(
                "SELECT user_id FROM group_users WHERE group_id = ?1 AND user_id = ?2",
                id,
                member
            ),
            stmt!(
                "DELETE FROM group_users WHERE group_id = ?1 AND user_id = ?2",
                id,
                member
            ),
            "user",
        ),
        Member::Agent => (
            stmt!(
                "SELECT client_id FROM group_agents WHERE group_id = ?1 AND client_id = ?2",
                id,
                member
            ),
            stmt!(
                "DELETE FROM group_agents WHERE group_id = ?1 AND client_id = ?2",
                id,
                member
            ),
            "agent",
        ),
    };
    if ctx.db.query(check).await?.is_empty() {
        return Err(Error::NoSuch("group membership"));
    }
    ctx.db
        .batch(vec![
            del,
            audit::record(
                ctx.now,
                &ctx.actor,
                "group.remove_member",
                "group",
                id,
                json!({ noun: member }),
            ),
        ])
        .await?;
    Ok(admin::no_content())
}
