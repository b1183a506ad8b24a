//! `/admin/v1/applications`, `/agents` and `/clients`: create, read, update, disable, delete
//! clients, rotate secrets, see what revoking one would cut. Secrets are 256-bit random values
//! generated here, returned once (at creation or rotation) and stored as SHA-256 digests. The
//! SQL is `directory/clients.rs`'s.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::Ctx;
use crate::crypto::Crypto;
use crate::directory::clients::{
    self as store, AuthMethod, Client, ClientKind, ClientType, ExchangeRule, NewClient,
    GRANT_CLIENT_CREDENTIALS, GRANT_CODE, GRANT_REFRESH, GRANT_TOKEN_EXCHANGE,
};
use crate::directory::validate::{self, FieldError};
use crate::directory::{audit, Status};
use crate::endpoints::admin;
use crate::policy::redirect::{self, AppType};
use crate::revocation::{self, Principal as RevokedPrincipal};
use crate::secret::generate_secret;
use crate::store::{decode, Database, Stmt, Store};
use crate::wire::{Error, Request, Response};

const ALL_GRANTS: &[&str] = &[
    GRANT_CODE,
    GRANT_REFRESH,
    GRANT_CLIENT_CREDENTIALS,
    GRANT_TOKEN_EXCHANGE,
    crate::directory::clients::GRANT_JWT_BEARER,
];

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

/// Statements restricting a client to resource servers, after checking they exist.
async fn resource_stmts<D: Database + ?Sized>(
    db: &D,
    client_id: &str,
    list: &[String],
) -> Result<Vec<Stmt>, Error> {
    link_stmts(db, "resources", list, store::link_resource_stmt, client_id).await
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
            *slot = crate::directory::resource_servers::get_by_identifier(db, &ident)
                .await?
                .ok_or_else(|| FieldError::new(field, "no such resource server"))?
                .id;
        }
        let [from, to] = ids;
        out.push(store::exchange_rule_stmt(client_id, &from, &to));
    }
    Ok(out)
}

/// Statements naming the resource servers whose tokens a client may introspect.
async fn introspect_stmts<D: Database + ?Sized>(
    db: &D,
    client_id: &str,
    list: &[String],
) -> Result<Vec<Stmt>, Error> {
    link_stmts(
        db,
        "introspect",
        list,
        store::introspection_right_stmt,
        client_id,
    )
    .await
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
        let rs = crate::directory::resource_servers::get_by_identifier(db, ident)
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
        if crate::directory::roles::get_row(db, r).await?.is_none() {
            return Err(FieldError::new(format!("roles[{i}]"), "no such role").into());
        }
        out.push(crate::directory::roles::assign_stmt(
            crate::directory::roles::Holder::Client,
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
        if crate::directory::groups::get_row(db, g).await?.is_none() {
            return Err(FieldError::new(format!("groups[{i}]"), "no such group").into());
        }
        out.push(crate::directory::groups::add_member_stmt(
            g,
            crate::directory::groups::Member::Agent,
            client_id,
        ));
    }
    Ok(out)
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
        if !confidential
            && (g == GRANT_CLIENT_CREDENTIALS
                || g == GRANT_TOKEN_EXCHANGE
                || g == crate::directory::clients::GRANT_JWT_BEARER)
        {
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
    let c = store::get_row(db, id)
        .await?
        .ok_or(Error::NoSuch("client"))?;
    let r = store::resources(db, &c).await?;
    let mut v = view(&c, &r);
    if c.is_confidential() {
        let x = store::exchange_rules(db, id).await?;
        let i = store::introspection_rights(db, id).await?;
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
    let mut stmts = vec![store::insert_stmt(&NewClient {
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
    let mut stmts = vec![store::insert_stmt(&NewClient {
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
    let c = store::get_row(db, id).await?.ok_or(Error::NoSuch(noun))?;
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
    let prefix = admin::search_prefix(req)?;
    let stmt = match &prefix {
        Some(p) => {
            store::search_page_stmt(admin::search_bounds(p, &page.after), filter, page.limit + 1)
        }
        None => store::list_page_stmt(&page.after, filter, page.limit + 1),
    };
    let rows: Vec<Client> = decode(db.query(stmt).await?)?;
    let views: Vec<Value> = rows.iter().map(|c| view(c, &[])).collect();
    Ok(admin::page_response(views, &page, |v| {
        admin::list_key(
            prefix.is_some(),
            v["name"].as_str().unwrap_or_default(),
            v["client_id"].as_str().unwrap_or_default(),
        )
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
    let mut stmts = vec![store::admin_update_stmt(&store::AdminUpdate {
        id,
        name: &name,
        description: &description,
        owner: owner.as_deref(),
        redirect_uris: &uris,
        status,
        disabled_at,
        redirect_uris_changed_at: store::redirects_changed_at(&cur, &uris, ctx.now),
        now: ctx.now,
    })];
    if let Some(list) = &input.resources {
        stmts.push(store::clear_resources_stmt(id));
        stmts.extend(resource_stmts(ctx.db, id, list).await?);
    }
    if let Some(list) = &input.exchange {
        if !list.is_empty() && !cur.allows_grant(GRANT_TOKEN_EXCHANGE) {
            return Err(FieldError::new("exchange", "needs the token-exchange grant type").into());
        }
        stmts.push(store::clear_exchange_rules_stmt(id));
        stmts.extend(exchange_stmts(ctx.db, id, list).await?);
    }
    if let Some(list) = &input.introspect {
        if !cur.is_confidential() && !list.is_empty() {
            return Err(FieldError::new("introspect", "public clients cannot introspect").into());
        }
        stmts.push(store::clear_introspection_rights_stmt(id));
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
    store::get_row(db, id)
        .await?
        .ok_or(Error::NoSuch("client"))?;
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
    if id == store::CONSOLE_CLIENT_ID {
        return Err(Error::Conflict(
            "the admin console's built-in client cannot be deleted; disable it to turn the console off"
                .into(),
        ));
    }
    let radius = revocation::blast_radius(ctx.db, RevokedPrincipal::Client(id), ctx.now).await?;
    let reason = reason(query_reason.as_deref())?;
    let stmts = vec![
        store::delete_stmt(id),
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
            store::set_secret_stmt(id, &secret.digest(), ctx.now),
            audit::record(
                ctx.now,
                &ctx.actor,
                "client.rotate_secret",
                "client",
                id,
                json!({}),
            ),
        ])
        .await?;
    Ok(admin::ok(json!({
        "client_id": id,
        "client_secret": secret.expose(),
        "client_secret_expires_at": 0,
    })))
}
