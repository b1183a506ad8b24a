//! `/admin/v1/users`: create, read, update, delete users and their sessions; a user created
//! without a password gets a generated one, shown once. The SQL is `directory/users.rs`'s.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::Ctx;
use crate::crypto::Crypto;
use crate::directory::users::{self as store, User};
use crate::directory::validate::{self, FieldError};
use crate::directory::{audit, Status};
use crate::endpoints::admin;
use crate::password;
use crate::revocation::{self, Principal as RevokedPrincipal};
use crate::store::{sessions, Database, Store};
use crate::wire::{Error, Request, Response};

/// The public view of a user.
#[derive(Debug, Serialize)]
struct View<'a> {
    id: &'a str,
    username: &'a str,
    display_name: &'a str,
    status: Status,
    has_password: bool,
    created_at: i64,
    updated_at: i64,
    disabled_at: Option<i64>,
}

fn view(u: &User) -> Value {
    serde_json::to_value(View {
        id: &u.id,
        username: &u.username,
        display_name: &u.display_name,
        status: u.status,
        has_password: u.password_hash.is_some(),
        created_at: u.created_at,
        updated_at: u.updated_at,
        disabled_at: u.disabled_at,
    })
    .unwrap_or_default()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Create {
    username: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    status: Option<Status>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Patch {
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    status: Option<Status>,
    /// Why (recorded in the audit log when the user is disabled).
    #[serde(default)]
    reason: Option<String>,
}

fn password_field(field: &str, p: &str) -> Result<(), FieldError> {
    password::acceptable(p).map_err(|m| FieldError::new(field, m))
}

/// `POST /users`.
pub async fn create<D: Database + ?Sized, C: Crypto>(
    ctx: &mut Ctx<'_, D, C>,
    req: &Request,
) -> Result<Response, Error> {
    let input: Create = admin::body(req)?;
    let username = validate::username("username", &input.username)?;
    let display_name = if input.display_name.trim().is_empty() {
        username.clone()
    } else {
        validate::name("display_name", &input.display_name)?
    };
    let (pw, generated) = match input.password {
        Some(p) => {
            password_field("password", &p)?;
            (p, false)
        }
        None => (crate::secret::random_b64(ctx.rng, 12), true),
    };
    let hash = password::hash(ctx.crypto, ctx.rng, &pw)
        .await
        .map_err(|e| Error::Internal(e.to_string()))?;
    let status = input.status.unwrap_or(Status::Active);
    let id = ctx.id("usr");
    ctx.db
        .batch(vec![
            store::insert_stmt(&store::NewUser {
                id: &id,
                username: &username,
                display_name: &display_name,
                status,
                password_hash: Some(&hash),
                now: ctx.now,
            }),
            audit::record(
                ctx.now,
                &ctx.actor,
                "user.create",
                "user",
                &id,
                json!({ "username": username }),
            ),
        ])
        .await
        .map_err(admin::conflict("a user with this username already exists"))?;
    let user = store::get_row(ctx.db, &id)
        .await?
        .ok_or(Error::NoSuch("user"))?;
    let mut v = view(&user);
    if generated {
        if let Some(o) = v.as_object_mut() {
            // Shown once; only the hash is stored.
            o.insert("password".into(), Value::String(pw));
        }
    }
    Ok(admin::created(v))
}

/// `GET /users/{id}`.
pub async fn get<D: Database + ?Sized>(db: &D, id: &str) -> Result<Response, Error> {
    let u = store::get_row(db, id).await?.ok_or(Error::NoSuch("user"))?;
    Ok(admin::ok(view(&u)))
}

/// `GET /users`.
pub async fn list<D: Database + ?Sized>(db: &D, req: &Request) -> Result<Response, Error> {
    let (rows, page, searching) =
        admin::page_searched::<_, User>(db, req, store::LIST_PAGE, store::SEARCH_PAGE).await?;
    let views: Vec<Value> = rows.iter().map(view).collect();
    Ok(admin::page_response(views, &page, |v| {
        admin::list_key(
            searching,
            v["username"].as_str().unwrap_or_default(),
            v["id"].as_str().unwrap_or_default(),
        )
    }))
}

/// `PATCH /users/{id}`. Disabling records `disabled_at`.
pub async fn update<D: Store + ?Sized, C: Crypto>(
    ctx: &mut Ctx<'_, D, C>,
    req: &Request,
    id: &str,
) -> Result<Response, Error> {
    let input: Patch = admin::body(req)?;
    let cur = store::get_row(ctx.db, id)
        .await?
        .ok_or(Error::NoSuch("user"))?;
    let display_name = validate::patched(
        "display_name",
        input.display_name.as_deref(),
        cur.display_name,
        validate::name,
    )?;
    let hash = match input.password.as_deref() {
        Some(p) => {
            password_field("password", p)?;
            Some(
                password::hash(ctx.crypto, ctx.rng, p)
                    .await
                    .map_err(|e| Error::Internal(e.to_string()))?,
            )
        }
        None => cur.password_hash,
    };
    let status = input.status.unwrap_or(cur.status);
    let disabled_at = match (cur.status, status) {
        (Status::Active, Status::Disabled) => Some(ctx.now),
        _ => cur.disabled_at,
    };
    let mut detail = serde_json::Map::new();
    if input.status.is_some() && status != cur.status {
        detail.insert("status".into(), json!(status.as_str()));
    }
    if input.password.is_some() {
        detail.insert("password".into(), json!("changed"));
    }
    // A new password or a disabled account ends every browser session at once.
    let end_sessions = (input.password.is_some() || status == Status::Disabled)
        .then(|| sessions::end_all_stmt(id));
    let update = store::update_stmt(&store::UserUpdate {
        id,
        display_name: &display_name,
        password_hash: hash.as_deref(),
        status,
        disabled_at,
        now: ctx.now,
    });
    if status == Status::Disabled && cur.status == Status::Active {
        // Disabling revokes every token whose subject the user is.
        let radius = revocation::blast_radius(ctx.db, RevokedPrincipal::User(id), ctx.now).await?;
        let reason = super::clients::reason(input.reason.as_deref())?;
        detail.insert("reason".into(), json!(reason));
        detail.insert("blast_radius".into(), json!(radius));
        let audit = audit::record(
            ctx.now,
            &ctx.actor,
            "user.disable",
            "user",
            id,
            Value::Object(detail),
        );
        revocation::revoke_principal(
            ctx.db,
            RevokedPrincipal::User(id),
            ctx.config.max_token_ttl,
            &reason,
            [update, audit].into_iter().chain(end_sessions).collect(),
            ctx.now,
        )
        .await?;
    } else {
        let audit = audit::record(
            ctx.now,
            &ctx.actor,
            "user.update",
            "user",
            id,
            Value::Object(detail),
        );
        ctx.db
            .batch([update, audit].into_iter().chain(end_sessions).collect())
            .await?;
    }
    get(ctx.db, id).await
}

/// `DELETE /users/{id}`: memberships and role assignments go with the user.
pub async fn delete<D: Store + ?Sized, C: Crypto>(
    ctx: &mut Ctx<'_, D, C>,
    id: &str,
    query_reason: Option<String>,
) -> Result<Response, Error> {
    let cur = store::get_row(ctx.db, id)
        .await?
        .ok_or(Error::NoSuch("user"))?;
    let radius = revocation::blast_radius(ctx.db, RevokedPrincipal::User(id), ctx.now).await?;
    let reason = super::clients::reason(query_reason.as_deref())?;
    let stmts = vec![
        store::delete_stmt(id),
        audit::record(
            ctx.now,
            &ctx.actor,
            "user.delete",
            "user",
            id,
            json!({ "username": cur.username, "reason": reason, "blast_radius": radius }),
        ),
    ];
    revocation::revoke_principal(
        ctx.db,
        RevokedPrincipal::User(id),
        ctx.config.max_token_ttl,
        &reason,
        stmts,
        ctx.now,
    )
    .await?;
    Ok(admin::no_content())
}

/// `GET /users/{id}/blast-radius`: what disabling the user would affect.
pub async fn blast_radius<D: Database + ?Sized>(
    db: &D,
    id: &str,
    now: i64,
) -> Result<Response, Error> {
    store::get_row(db, id).await?.ok_or(Error::NoSuch("user"))?;
    let r = revocation::blast_radius(db, RevokedPrincipal::User(id), now).await?;
    Ok(admin::ok(json!(r)))
}

/// `GET /users/{id}/sessions`: the user's live browser sessions.
pub async fn sessions<D: Database + ?Sized>(db: &D, id: &str, now: i64) -> Result<Response, Error> {
    store::get_row(db, id).await?.ok_or(Error::NoSuch("user"))?;
    let list = sessions::list(db, id, now).await?;
    Ok(admin::ok(json!({ "items": list, "next_cursor": null })))
}

/// `DELETE /users/{id}/sessions`: signs the user out everywhere, audited in the same
/// transaction.
pub async fn end_sessions<D: Database + ?Sized, C: Crypto>(
    ctx: &mut Ctx<'_, D, C>,
    id: &str,
) -> Result<Response, Error> {
    store::get_row(ctx.db, id)
        .await?
        .ok_or(Error::NoSuch("user"))?;
    ctx.db
        .batch(vec![
            sessions::end_all_stmt(id),
            audit::record(
                ctx.now,
                &ctx.actor,
                "user.sign_out_everywhere",
                "user",
                id,
                json!({}),
            ),
        ])
        .await?;
    Ok(admin::no_content())
}
