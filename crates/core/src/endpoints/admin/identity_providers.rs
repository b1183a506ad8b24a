//! `/admin/v1/identity-providers`: the upstream OpenID Connect providers people sign in with,
//! their group mappings, and the upstream identities linked to users. The client secret is
//! sealed at rest (AES-256-GCM under a key derived from `MCPGATE_SECRET`, bound to the provider)
//! and never returned. The SQL is `directory/identity_providers.rs`'s.

use serde::Deserialize;
use serde_json::{json, Value};

use super::Ctx;
use crate::crypto::Crypto;
use crate::directory::identity_providers::{self as store, Mapping, Provider, Provisioning};
use crate::directory::validate::{self, FieldError};
use crate::directory::{audit, groups, users, Status};
use crate::endpoints::admin;
use crate::endpoints::authorize::upstream;
use crate::federation::oidc;
use crate::store::{Database, Stmt};
use crate::wire::{Error, Request, Response};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    #[serde(default)]
    issuer: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    /// `Some(None)` (JSON null) goes back to "Sign in with <display name>".
    #[serde(default, deserialize_with = "some")]
    button_label: Option<Option<String>>,
    /// `Some(None)` (JSON null) removes the secret.
    #[serde(default, deserialize_with = "some")]
    client_secret: Option<Option<String>>,
    #[serde(default)]
    scopes: Option<String>,
    #[serde(default)]
    email_domains: Option<Vec<String>>,
    #[serde(default)]
    provisioning: Option<Provisioning>,
    #[serde(default)]
    link_verified_email: Option<bool>,
    #[serde(default)]
    groups_claim: Option<String>,
    #[serde(default)]
    id_jag: Option<bool>,
    #[serde(default)]
    status: Option<Status>,
    #[serde(default)]
    group_mappings: Option<Vec<Mapping>>,
}

fn some<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Mappings {
    group_mappings: Vec<Mapping>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Link {
    provider_id: String,
    subject: String,
}

fn issuer(v: &str) -> Result<String, FieldError> {
    let v = v.trim();
    oidc::check_endpoint(v).map_err(|e| FieldError::new("issuer", e.0))?;
    if v.contains('?') || v.len() > 512 {
        return Err(FieldError::new(
            "issuer",
            "an https URL without query (http only for loopback hosts)",
        ));
    }
    Ok(v.to_owned())
}

fn text(field: &str, v: &str, max: usize) -> Result<String, FieldError> {
    let v = v.trim();
    if v.is_empty() || v.len() > max || v.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            format!("1 to {max} printable characters"),
        ));
    }
    Ok(v.to_owned())
}

fn scopes(v: &str) -> Result<String, FieldError> {
    let list: Vec<&str> = v.split_whitespace().collect();
    for s in &list {
        validate::scope_token("scopes", s)?;
    }
    if !list.contains(&"openid") {
        return Err(FieldError::new("scopes", "must include openid"));
    }
    Ok(list.join(" "))
}

fn domains(v: &[String]) -> Result<String, FieldError> {
    let mut out = Vec::new();
    for (i, d) in v.iter().enumerate() {
        let d = d.trim().to_ascii_lowercase();
        let ok = !d.is_empty()
            && d.len() <= 253
            && d.contains('.')
            && d.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if !ok {
            return Err(FieldError::new(
                format!("email_domains[{i}]"),
                "a domain name",
            ));
        }
        out.push(d);
    }
    Ok(serde_json::to_string(&out).unwrap_or_else(|_| "[]".into()))
}

fn mappings(v: &[Mapping]) -> Result<(), FieldError> {
    if v.len() > 200 {
        return Err(FieldError::new("group_mappings", "at most 200"));
    }
    for (i, m) in v.iter().enumerate() {
        text(&format!("group_mappings[{i}].value"), &m.value, 255)?;
    }
    Ok(())
}

/// The admin view of a provider (never the secret).
fn view(p: &Provider, issuer_url: &str, maps: &[Mapping]) -> Value {
    json!({
        "id": p.id,
        "issuer": p.issuer,
        "display_name": p.display_name,
        "button_label": p.button_label,
        "client_id": p.client_id,
        "has_client_secret": p.client_secret_sealed.is_some(),
        "scopes": p.scopes,
        "email_domains": p.domains(),
        "provisioning": p.provisioning,
        "link_verified_email": p.link_verified_email == 1,
        "groups_claim": p.groups_claim,
        "id_jag": p.id_jag == 1,
        "status": p.status,
        "redirect_uri": upstream::redirect_uri(issuer_url, &p.id),
        "group_mappings": maps,
        "created_at": p.created_at,
        "updated_at": p.updated_at,
    })
}

async fn require<D: Database + ?Sized>(db: &D, id: &str) -> Result<Provider, Error> {
    store::get_row(db, id)
        .await?
        .ok_or(Error::NoSuch("identity provider"))
}

/// Checks the groups of mappings exist (the insert would fail on the foreign key, without
/// naming the field).
async fn check_groups<D: Database + ?Sized>(db: &D, v: &[Mapping]) -> Result<(), Error> {
    for (i, m) in v.iter().enumerate() {
        if groups::get_row(db, &m.group_id).await?.is_none() {
            return Err(
                FieldError::new(format!("group_mappings[{i}].group_id"), "no such group").into(),
            );
        }
    }
    Ok(())
}

/// A provider's admin view, with its mappings.
async fn current<D: Database + ?Sized>(db: &D, issuer_url: &str, id: &str) -> Result<Value, Error> {
    let p = require(db, id).await?;
    let maps = store::mappings(db, id).await?;
    Ok(view(&p, issuer_url, &maps))
}

/// `GET /identity-providers/{id}`.
pub async fn get<D: Database + ?Sized>(
    db: &D,
    issuer_url: &str,
    id: &str,
) -> Result<Response, Error> {
    Ok(admin::ok(current(db, issuer_url, id).await?))
}

/// `GET /identity-providers`.
pub async fn list<D: Database + ?Sized>(
    db: &D,
    issuer_url: &str,
    req: &Request,
) -> Result<Response, Error> {
    let (rows, page) = admin::page_by_id::<_, Provider>(db, req, store::LIST_PAGE).await?;
    let mut items = Vec::with_capacity(rows.len());
    for p in &rows {
        items.push(view(p, issuer_url, &store::mappings(db, &p.id).await?));
    }
    Ok(admin::page_response(items, &page, |v| {
        v.get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    }))
}

/// The settings an input makes of the current ones (or of the defaults).
fn settings<'a>(
    ctx_now: i64,
    id: &'a str,
    cur: Option<&'a Provider>,
    input: &Input,
    sealed: Option<&'a str>,
    owned: &'a mut Owned,
) -> Result<store::Settings<'a>, FieldError> {
    let pick = |v: &Option<String>, c: Option<&str>, field: &str| -> Result<String, FieldError> {
        match (v, c) {
            (Some(v), _) => Ok(v.clone()),
            (None, Some(c)) => Ok(c.to_owned()),
            (None, None) => Err(FieldError::new(field, "required")),
        }
    };
    owned.issuer = issuer(&pick(
        &input.issuer,
        cur.map(|c| c.issuer.as_str()),
        "issuer",
    )?)?;
    owned.display_name = text(
        "display_name",
        &pick(
            &input.display_name,
            cur.map(|c| c.display_name.as_str()),
            "display_name",
        )?,
        100,
    )?;
    owned.button_label = match &input.button_label {
        Some(Some(l)) => Some(text("button_label", l, 100)?),
        Some(None) => None,
        None => cur.and_then(|c| c.button_label.clone()),
    };
    owned.client_id = text(
        "client_id",
        &pick(
            &input.client_id,
            cur.map(|c| c.client_id.as_str()),
            "client_id",
        )?,
        255,
    )?;
    owned.scopes = scopes(
        &input
            .scopes
            .clone()
            .unwrap_or_else(|| cur.map_or("openid email profile".into(), |c| c.scopes.clone())),
    )?;
    owned.email_domains = match &input.email_domains {
        Some(d) => domains(d)?,
        None => cur.map_or("[]".into(), |c| c.email_domains.clone()),
    };
    owned.groups_claim = text(
        "groups_claim",
        &input
            .groups_claim
            .clone()
            .unwrap_or_else(|| cur.map_or("groups".into(), |c| c.groups_claim.clone())),
        64,
    )?;
    let flag = |v: Option<bool>, c: Option<i64>| v.unwrap_or(c == Some(1));
    Ok(store::Settings {
        id,
        issuer: &owned.issuer,
        display_name: &owned.display_name,
        button_label: owned.button_label.as_deref(),
        client_id: &owned.client_id,
        client_secret_sealed: sealed,
        scopes: &owned.scopes,
        email_domains: &owned.email_domains,
        provisioning: input
            .provisioning
            .or(cur.map(|c| c.provisioning))
            .unwrap_or(Provisioning::Jit),
        link_verified_email: flag(
            input.link_verified_email,
            cur.map(|c| c.link_verified_email),
        ),
        groups_claim: &owned.groups_claim,
        id_jag: flag(input.id_jag, cur.map(|c| c.id_jag)),
        status: input
            .status
            .or(cur.map(|c| c.status))
            .unwrap_or(Status::Active),
        now: ctx_now,
    })
}

#[derive(Default)]
struct Owned {
    issuer: String,
    display_name: String,
    button_label: Option<String>,
    client_id: String,
    scopes: String,
    email_domains: String,
    groups_claim: String,
}

fn seal<D: ?Sized, C>(
    ctx: &mut Ctx<'_, D, C>,
    id: &str,
    secret: &str,
) -> Result<String, FieldError> {
    let secret = text("client_secret", secret, 512)?;
    Ok(ctx
        .config
        .derived
        .code
        .seal_text(&upstream::secret_purpose(id), secret.as_bytes(), ctx.rng))
}

/// `POST /identity-providers`.
pub async fn create<D: Database + ?Sized, C: Crypto>(
    ctx: &mut Ctx<'_, D, C>,
    req: &Request,
) -> Result<Response, Error> {
    let input: Input = admin::body(req)?;
    let id = ctx.id("idp");
    let sealed = match &input.client_secret {
        Some(Some(s)) => Some(seal(ctx, &id, s)?),
        _ => None,
    };
    let maps = input.group_mappings.clone().unwrap_or_default();
    mappings(&maps)?;
    check_groups(ctx.db, &maps).await?;
    let mut owned = Owned::default();
    let s = settings(ctx.now, &id, None, &input, sealed.as_deref(), &mut owned)?;
    let mut stmts = vec![store::insert_stmt(&s)];
    stmts.extend(store::replace_mappings_stmts(&id, &maps));
    stmts.push(audit::record(
        ctx.now,
        &ctx.actor,
        "identity_provider.create",
        "identity_provider",
        &id,
        json!({ "issuer": s.issuer, "display_name": s.display_name }),
    ));
    ctx.db.batch(stmts).await.map_err(admin::conflict(
        "an identity provider with this issuer already exists",
    ))?;
    Ok(admin::created(
        current(ctx.db, &ctx.config.issuer, &id).await?,
    ))
}

/// `PATCH /identity-providers/{id}`.
pub async fn update<D: Database + ?Sized, C: Crypto>(
    ctx: &mut Ctx<'_, D, C>,
    req: &Request,
    id: &str,
) -> Result<Response, Error> {
    let input: Input = admin::body(req)?;
    let cur = require(ctx.db, id).await?;
    // Links (provider, subject) and the sealed secret belong to this issuer: another issuer is
    // another provider, added as one.
    if input
        .issuer
        .as_deref()
        .is_some_and(|i| i.trim() != cur.issuer)
    {
        return Err(FieldError::new(
            "issuer",
            "cannot change: add a new identity provider for another issuer",
        )
        .into());
    }
    let sealed = match &input.client_secret {
        Some(Some(s)) => Some(seal(ctx, id, s)?),
        Some(None) => None,
        None => cur.client_secret_sealed.clone(),
    };
    let mut stmts: Vec<Stmt> = Vec::new();
    if let Some(maps) = &input.group_mappings {
        mappings(maps)?;
        check_groups(ctx.db, maps).await?;
    }
    let mut owned = Owned::default();
    let s = settings(
        ctx.now,
        id,
        Some(&cur),
        &input,
        sealed.as_deref(),
        &mut owned,
    )?;
    stmts.push(store::update_stmt(&s));
    if let Some(maps) = &input.group_mappings {
        stmts.extend(store::replace_mappings_stmts(id, maps));
    }
    stmts.push(audit::record(
        ctx.now,
        &ctx.actor,
        "identity_provider.update",
        "identity_provider",
        id,
        json!({ "issuer": s.issuer, "status": s.status, "secret_changed": input.client_secret.is_some() }),
    ));
    ctx.db.batch(stmts).await.map_err(admin::conflict(
        "an identity provider with this issuer already exists",
    ))?;
    get(ctx.db, &ctx.config.issuer, id).await
}

/// `PUT /identity-providers/{id}/group-mappings`: replaces the mappings.
pub async fn put_mappings<D: Database + ?Sized, C: Crypto>(
    ctx: &mut Ctx<'_, D, C>,
    req: &Request,
    id: &str,
) -> Result<Response, Error> {
    let input: Mappings = admin::body(req)?;
    require(ctx.db, id).await?;
    mappings(&input.group_mappings)?;
    check_groups(ctx.db, &input.group_mappings).await?;
    let mut stmts = store::replace_mappings_stmts(id, &input.group_mappings);
    stmts.push(audit::record(
        ctx.now,
        &ctx.actor,
        "identity_provider.group_mappings",
        "identity_provider",
        id,
        json!({ "group_mappings": input.group_mappings }),
    ));
    ctx.db.batch(stmts).await?;
    get(ctx.db, &ctx.config.issuer, id).await
}

/// `DELETE /identity-providers/{id}`: its links, its mappings and the memberships they made go
/// with it; users stay.
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
                "identity_provider.delete",
                "identity_provider",
                id,
                json!({ "issuer": cur.issuer }),
            ),
        ])
        .await?;
    Ok(admin::no_content())
}

/// `GET /users/{id}/identities`.
pub async fn identities<D: Database + ?Sized>(db: &D, user: &str) -> Result<Response, Error> {
    users::get_row(db, user)
        .await?
        .ok_or(Error::NoSuch("user"))?;
    let list = store::user_identities(db, user).await?;
    Ok(admin::ok(json!({ "items": list, "next_cursor": null })))
}

/// `POST /users/{id}/identities`: links an upstream identity to the user (the explicit admin
/// action; `Conflict` if it is linked to someone already).
pub async fn link<D: Database + ?Sized, C: Crypto>(
    ctx: &mut Ctx<'_, D, C>,
    req: &Request,
    user: &str,
) -> Result<Response, Error> {
    let input: Link = admin::body(req)?;
    users::get_row(ctx.db, user)
        .await?
        .ok_or(Error::NoSuch("user"))?;
    require(ctx.db, &input.provider_id)
        .await
        .map_err(|_| Error::from(FieldError::new("provider_id", "no such identity provider")))?;
    let subject = text("subject", &input.subject, 255)?;
    ctx.db
        .batch(vec![
            store::link_stmt(&input.provider_id, &subject, user, None, ctx.now),
            audit::record(
                ctx.now,
                &ctx.actor,
                "user.link_identity",
                "user",
                user,
                json!({ "provider_id": input.provider_id, "subject": subject }),
            ),
        ])
        .await
        .map_err(admin::conflict(
            "this upstream identity is linked to a user already",
        ))?;
    identities(ctx.db, user).await.map(|r| {
        let mut r = r;
        *r.status_mut() = http::StatusCode::CREATED;
        r
    })
}

/// `DELETE /users/{id}/identities?provider_id=…&subject=…`.
pub async fn unlink<D: Database + ?Sized, C: Crypto>(
    ctx: &mut Ctx<'_, D, C>,
    req: &Request,
    user: &str,
) -> Result<Response, Error> {
    let provider = admin::query_param(req, "provider_id")
        .ok_or_else(|| FieldError::new("provider_id", "required"))?;
    let subject =
        admin::query_param(req, "subject").ok_or_else(|| FieldError::new("subject", "required"))?;
    let linked = store::user_identities(ctx.db, user).await?;
    if !linked
        .iter()
        .any(|i| i.provider_id == provider && i.subject == subject)
    {
        return Err(Error::NoSuch("linked identity"));
    }
    ctx.db
        .batch(vec![
            store::unlink_stmt(&provider, &subject, user),
            audit::record(
                ctx.now,
                &ctx.actor,
                "user.unlink_identity",
                "user",
                user,
                json!({ "provider_id": provider, "subject": subject }),
            ),
        ])
        .await?;
    Ok(admin::no_content())
}
