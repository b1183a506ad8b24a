//! The admin route table. Routing and the OpenAPI document are both derived from [`ROUTES`],
//! so they cannot disagree; a test requests every entry to prove each one is wired.

use http::Method;

use super::clients;
use super::groups;
use super::identity_providers as idp;
use super::resource_servers as rs;
use super::roles;
use super::users;
use super::{keys, Ctx};
use crate::crypto::Crypto;
use crate::directory::clients::ClientKind;
use crate::directory::groups::Member;
use crate::directory::roles::Holder;
use crate::directory::{audit, permissions};
use crate::store::decode;
use crate::wire::{Error, Request, Response};

/// What a route does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Op {
    RsList,
    RsCreate,
    RsGet,
    RsUpdate,
    RsDelete,
    ScopeList,
    ScopeCreate,
    ScopeGet,
    ScopeUpdate,
    ScopeDelete,
    ScopeHolders,
    RoleList,
    RoleCreate,
    RoleGet,
    RoleUpdate,
    RoleDelete,
    UserList,
    UserCreate,
    UserGet,
    UserUpdate,
    UserDelete,
    UserRoles,
    UserRoleAdd,
    UserRoleRemove,
    GroupList,
    GroupCreate,
    GroupGet,
    GroupUpdate,
    GroupDelete,
    GroupMembers,
    GroupUserAdd,
    GroupUserRemove,
    GroupAgentAdd,
    GroupAgentRemove,
    GroupRoles,
    GroupRoleAdd,
    GroupRoleRemove,
    AppList,
    AppCreate,
    AppGet,
    AppUpdate,
    AppDelete,
    AppSecret,
    AppRoles,
    AppRoleAdd,
    AppRoleRemove,
    AgentList,
    AgentCreate,
    AgentGet,
    AgentUpdate,
    AgentDelete,
    AgentSecret,
    ClientList,
    ClientGet,
    ClientUpdate,
    ClientDelete,
    ClientRoles,
    ClientRoleAdd,
    ClientRoleRemove,
    Explain,
    Audit,
    Keys,
    KeysRotate,
    OpenApi,
    Bootstrap,
    UserGrants,
    UserGrantRevoke,
    UserBlastRadius,
    UserSessions,
    UserSessionsEnd,
    ClientBlastRadius,
    IdpList,
    IdpCreate,
    IdpGet,
    IdpUpdate,
    IdpDelete,
    IdpMappings,
    UserIdentities,
    UserIdentityLink,
    UserIdentityUnlink,
    Settings,
}

/// One route: method, path pattern below `/admin/v1` (`{name}` segments are parameters), the
/// operation, a summary, and the name of its request body schema (if it takes one).
pub struct Route {
    /// HTTP method.
    pub method: Method,
    /// Path pattern.
    pub pattern: &'static str,
    /// Operation.
    pub op: Op,
    /// One-line summary for the OpenAPI document.
    pub summary: &'static str,
    /// Request body schema name in the OpenAPI components, if any.
    pub body: Option<&'static str>,
    /// Success status.
    pub status: u16,
}

macro_rules! r {
    ($m:ident, $p:expr, $op:ident, $s:expr, $body:expr, $status:expr) => {
        Route {
            method: Method::$m,
            pattern: $p,
            op: Op::$op,
            summary: $s,
            body: $body,
            status: $status,
        }
    };
}

/// Every admin route.
pub static ROUTES: &[Route] = &[
    r!(
        GET,
        "/resource-servers",
        RsList,
        "List resource servers",
        None,
        200
    ),
    r!(
        POST,
        "/resource-servers",
        RsCreate,
        "Register a resource server (MCP server) with its scopes",
        Some("ResourceServerCreate"),
        201
    ),
    r!(
        GET,
        "/resource-servers/{id}",
        RsGet,
        "Get a resource server and its scopes",
        None,
        200
    ),
    r!(
        PATCH,
        "/resource-servers/{id}",
        RsUpdate,
        "Update a resource server",
        Some("ResourceServerPatch"),
        200
    ),
    r!(
        DELETE,
        "/resource-servers/{id}",
        RsDelete,
        "Delete a resource server and its scopes",
        None,
        204
    ),
    r!(
        GET,
        "/resource-servers/{id}/scopes",
        ScopeList,
        "List the scopes of a resource server",
        None,
        200
    ),
    r!(
        POST,
        "/resource-servers/{id}/scopes",
        ScopeCreate,
        "Add a scope",
        Some("ScopeCreate"),
        201
    ),
    r!(
        GET,
        "/resource-servers/{id}/scopes/{name}",
        ScopeGet,
        "Get a scope",
        None,
        200
    ),
    r!(
        PATCH,
        "/resource-servers/{id}/scopes/{name}",
        ScopeUpdate,
        "Update a scope",
        Some("ScopePatch"),
        200
    ),
    r!(
        DELETE,
        "/resource-servers/{id}/scopes/{name}",
        ScopeDelete,
        "Delete a scope (removed from every role)",
        None,
        204
    ),
    r!(
        GET,
        "/resource-servers/{id}/scopes/{name}/holders",
        ScopeHolders,
        "Who holds a scope: users, groups and clients through roles (directly or by implication)",
        None,
        200
    ),
    r!(GET, "/roles", RoleList, "List roles", None, 200),
    r!(
        POST,
        "/roles",
        RoleCreate,
        "Create a role",
        Some("RoleCreate"),
        201
    ),
    r!(
        GET,
        "/roles/{id}",
        RoleGet,
        "Get a role and its scopes",
        None,
        200
    ),
    r!(
        PATCH,
        "/roles/{id}",
        RoleUpdate,
        "Update a role (scopes replaces the set)",
        Some("RolePatch"),
        200
    ),
    r!(
        DELETE,
        "/roles/{id}",
        RoleDelete,
        "Delete a role that is not assigned",
        None,
        204
    ),
    r!(GET, "/users", UserList, "List users", None, 200),
    r!(
        POST,
        "/users",
        UserCreate,
        "Create a user (a generated password is returned once)",
        Some("UserCreate"),
        201
    ),
    r!(GET, "/users/{id}", UserGet, "Get a user", None, 200),
    r!(
        PATCH,
        "/users/{id}",
        UserUpdate,
        "Update a user (status, password, display name)",
        Some("UserPatch"),
        200
    ),
    r!(
        DELETE,
        "/users/{id}",
        UserDelete,
        "Delete a user",
        None,
        204
    ),
    r!(
        GET,
        "/users/{id}/roles",
        UserRoles,
        "Roles assigned to a user directly",
        None,
        200
    ),
    r!(
        PUT,
        "/users/{id}/roles/{role}",
        UserRoleAdd,
        "Assign a role to a user",
        None,
        204
    ),
    r!(
        DELETE,
        "/users/{id}/roles/{role}",
        UserRoleRemove,
        "Unassign a role from a user",
        None,
        204
    ),
    r!(
        GET,
        "/users/{id}/grants",
        UserGrants,
        "Consents the user gave (client, resource server, scopes)",
        None,
        200
    ),
    r!(
        DELETE,
        "/users/{id}/grants",
        UserGrantRevoke,
        "Revoke a consent (?client_id=&resource_server_id=) and its refresh tokens",
        None,
        204
    ),
    r!(
        GET,
        "/users/{id}/sessions",
        UserSessions,
        "The user's live browser sessions (started, address, browser)",
        None,
        200
    ),
    r!(
        DELETE,
        "/users/{id}/sessions",
        UserSessionsEnd,
        "Sign the user out everywhere: every session ends at once",
        None,
        204
    ),
    r!(
        GET,
        "/users/{id}/identities",
        UserIdentities,
        "The upstream identities (provider, subject) linked to the user",
        None,
        200
    ),
    r!(
        POST,
        "/users/{id}/identities",
        UserIdentityLink,
        "Link an upstream identity to the user",
        Some("IdentityLink"),
        201
    ),
    r!(
        DELETE,
        "/users/{id}/identities",
        UserIdentityUnlink,
        "Unlink an upstream identity (query: provider_id, subject)",
        None,
        204
    ),
    r!(
        GET,
        "/identity-providers",
        IdpList,
        "List upstream identity providers",
        None,
        200
    ),
    r!(
        POST,
        "/identity-providers",
        IdpCreate,
        "Add an upstream OpenID Connect provider people sign in with",
        Some("IdentityProviderCreate"),
        201
    ),
    r!(
        GET,
        "/identity-providers/{id}",
        IdpGet,
        "Get an identity provider (never its client secret)",
        None,
        200
    ),
    r!(
        PATCH,
        "/identity-providers/{id}",
        IdpUpdate,
        "Change an identity provider (client_secret: null removes it)",
        Some("IdentityProviderPatch"),
        200
    ),
    r!(
        DELETE,
        "/identity-providers/{id}",
        IdpDelete,
        "Delete an identity provider, its links and the memberships its mappings made",
        None,
        204
    ),
    r!(
        PUT,
        "/identity-providers/{id}/group-mappings",
        IdpMappings,
        "Replace the provider's group mappings",
        Some("GroupMappings"),
        200
    ),
    r!(
        GET,
        "/users/{id}/blast-radius",
        UserBlastRadius,
        "What disabling or deleting the user would revoke",
        None,
        200
    ),
    r!(GET, "/groups", GroupList, "List groups", None, 200),
    r!(
        POST,
        "/groups",
        GroupCreate,
        "Create a group",
        Some("GroupCreate"),
        201
    ),
    r!(GET, "/groups/{id}", GroupGet, "Get a group", None, 200),
    r!(
        PATCH,
        "/groups/{id}",
        GroupUpdate,
        "Update a group",
        Some("GroupPatch"),
        200
    ),
    r!(
        DELETE,
        "/groups/{id}",
        GroupDelete,
        "Delete a group",
        None,
        204
    ),
    r!(
        GET,
        "/groups/{id}/members",
        GroupMembers,
        "Users and agents in a group",
        None,
        200
    ),
    r!(
        PUT,
        "/groups/{id}/users/{member}",
        GroupUserAdd,
        "Add a user to a group",
        None,
        204
    ),
    r!(
        DELETE,
        "/groups/{id}/users/{member}",
        GroupUserRemove,
        "Remove a user from a group",
        None,
        204
    ),
    r!(
        PUT,
        "/groups/{id}/agents/{member}",
        GroupAgentAdd,
        "Add an agent to a group",
        None,
        204
    ),
    r!(
        DELETE,
        "/groups/{id}/agents/{member}",
        GroupAgentRemove,
        "Remove an agent from a group",
        None,
        204
    ),
    r!(
        GET,
        "/groups/{id}/roles",
        GroupRoles,
        "Roles assigned to a group",
        None,
        200
    ),
    r!(
        PUT,
        "/groups/{id}/roles/{role}",
        GroupRoleAdd,
        "Assign a role to a group",
        None,
        204
    ),
    r!(
        DELETE,
        "/groups/{id}/roles/{role}",
        GroupRoleRemove,
        "Unassign a role from a group",
        None,
        204
    ),
    r!(
        GET,
        "/applications",
        AppList,
        "List applications",
        None,
        200
    ),
    r!(
        POST,
        "/applications",
        AppCreate,
        "Register an application (secret returned once)",
        Some("ApplicationCreate"),
        201
    ),
    r!(
        GET,
        "/applications/{id}",
        AppGet,
        "Get an application",
        None,
        200
    ),
    r!(
        PATCH,
        "/applications/{id}",
        AppUpdate,
        "Update an application",
        Some("ClientPatch"),
        200
    ),
    r!(
        DELETE,
        "/applications/{id}",
        AppDelete,
        "Delete an application",
        None,
        204
    ),
    r!(
        POST,
        "/applications/{id}/secret",
        AppSecret,
        "Rotate an application's secret (returned once)",
        None,
        200
    ),
    r!(
        GET,
        "/applications/{id}/roles",
        AppRoles,
        "Roles assigned to an application",
        None,
        200
    ),
    r!(
        PUT,
        "/applications/{id}/roles/{role}",
        AppRoleAdd,
        "Assign a role to an application",
        None,
        204
    ),
    r!(
        DELETE,
        "/applications/{id}/roles/{role}",
        AppRoleRemove,
        "Unassign a role from an application",
        None,
        204
    ),
    r!(GET, "/agents", AgentList, "List agents", None, 200),
    r!(
        POST,
        "/agents",
        AgentCreate,
        "Register an agent (secret returned once)",
        Some("AgentCreate"),
        201
    ),
    r!(GET, "/agents/{id}", AgentGet, "Get an agent", None, 200),
    r!(
        PATCH,
        "/agents/{id}",
        AgentUpdate,
        "Update an agent",
        Some("ClientPatch"),
        200
    ),
    r!(
        DELETE,
        "/agents/{id}",
        AgentDelete,
        "Delete an agent",
        None,
        204
    ),
    r!(
        POST,
        "/agents/{id}/secret",
        AgentSecret,
        "Rotate an agent's secret (returned once)",
        None,
        200
    ),
    r!(
        GET,
        "/clients",
        ClientList,
        "List every client (filter with ?kind=)",
        None,
        200
    ),
    r!(GET, "/clients/{id}", ClientGet, "Get any client", None, 200),
    r!(
        PATCH,
        "/clients/{id}",
        ClientUpdate,
        "Update any client (e.g. disable)",
        Some("ClientPatch"),
        200
    ),
    r!(
        DELETE,
        "/clients/{id}",
        ClientDelete,
        "Delete any client",
        None,
        204
    ),
    r!(
        GET,
        "/clients/{id}/roles",
        ClientRoles,
        "Roles assigned to a client",
        None,
        200
    ),
    r!(
        PUT,
        "/clients/{id}/roles/{role}",
        ClientRoleAdd,
        "Assign a role to a (self-registered) client",
        None,
        204
    ),
    r!(
        DELETE,
        "/clients/{id}/roles/{role}",
        ClientRoleRemove,
        "Unassign a role from a client",
        None,
        204
    ),
    r!(
        GET,
        "/clients/{id}/blast-radius",
        ClientBlastRadius,
        "What disabling or deleting the client would revoke",
        None,
        200
    ),
    r!(
        GET,
        "/explain",
        Explain,
        "Effective scopes of a principal on a resource server, and why",
        None,
        200
    ),
    r!(
        GET,
        "/audit",
        Audit,
        "The audit log, newest first",
        None,
        200
    ),
    r!(
        GET,
        "/keys",
        Keys,
        "The signing-key ring (no private material)",
        None,
        200
    ),
    r!(
        POST,
        "/keys/rotate",
        KeysRotate,
        "Rotate the signing key",
        None,
        200
    ),
    r!(
        GET,
        "/openapi.json",
        OpenApi,
        "This document (public)",
        None,
        200
    ),
    r!(
        POST,
        "/bootstrap",
        Bootstrap,
        "Create the first admin client (bootstrap credential only, once)",
        None,
        201
    ),
    r!(
        GET,
        "/settings",
        Settings,
        "The deployment's registration and sign-in settings (from its variables; read-only)",
        None,
        200
    ),
];

/// Matches `path` (below the prefix, already split) against a pattern; returns parameters.
fn matches(pattern: &str, segs: &[String]) -> Option<Vec<String>> {
    let pat: Vec<&str> = pattern.trim_start_matches('/').split('/').collect();
    if pat.len() != segs.len() {
        return None;
    }
    let mut params = Vec::new();
    for (p, s) in pat.iter().zip(segs) {
        if p.starts_with('{') {
            if s.is_empty() {
                return None;
            }
            params.push(s.clone());
        } else if p != s {
            return None;
        }
    }
    Some(params)
}

/// Splits and percent-decodes the path below `/admin/v1`.
fn segments(rest: &str) -> Option<Vec<String>> {
    rest.trim_start_matches('/')
        .split('/')
        .map(percent_decode)
        .collect()
}

fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b.get(i) {
            Some(b'%') => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            Some(&c) => {
                out.push(c);
                i += 1;
            }
            None => break,
        }
    }
    String::from_utf8(out).ok()
}

/// Finds the route for a request path below the prefix: `Ok((route, params))`, or the error to
/// answer (404 unknown path, 405 known path with another method).
pub fn find(method: &Method, rest: &str) -> Result<(&'static Route, Vec<String>), Error> {
    let segs = segments(rest).ok_or(Error::NotFound)?;
    let mut methods = Vec::new();
    for r in ROUTES {
        if let Some(params) = matches(r.pattern, &segs) {
            if r.method == *method {
                return Ok((r, params));
            }
            methods.push(r.method.clone());
        }
    }
    if methods.is_empty() {
        Err(Error::NotFound)
    } else {
        Err(Error::MethodNotAllowed(super::allowed_methods(&methods)))
    }
}

fn p(params: &[String], i: usize) -> &str {
    params.get(i).map(String::as_str).unwrap_or_default()
}

/// Runs the admin operation for an authenticated request.
pub async fn dispatch<D: crate::store::Store + ?Sized, C: Crypto>(
    ctx: &mut Ctx<'_, D, C>,
    req: &Request,
    route: &Route,
    params: &[String],
) -> Result<Response, Error> {
    let (a, b) = (p(params, 0), p(params, 1));
    let db = ctx.db;
    match route.op {
        Op::RsList => rs::list(db, req).await,
        Op::RsCreate => rs::create(ctx, req).await,
        Op::RsGet => rs::get(db, a).await,
        Op::RsUpdate => rs::update(ctx, req, a).await,
        Op::RsDelete => rs::delete(ctx, a).await,
        Op::ScopeList => rs::list_scopes(db, a).await,
        Op::ScopeCreate => rs::create_scope(ctx, req, a).await,
        Op::ScopeGet => rs::get_scope(db, a, b).await,
        Op::ScopeUpdate => rs::update_scope(ctx, req, a, b).await,
        Op::ScopeDelete => rs::delete_scope(ctx, a, b).await,
        Op::ScopeHolders => rs::scope_holders(db, a, b).await,
        Op::Settings => Ok(super::ok(ctx.config.settings_view())),
        Op::RoleList => roles::list(db, req).await,
        Op::RoleCreate => roles::create(ctx, req).await,
        Op::RoleGet => roles::get(db, a).await,
        Op::RoleUpdate => roles::update(ctx, req, a).await,
        Op::RoleDelete => roles::delete(ctx, a).await,
        Op::UserList => users::list(db, req).await,
        Op::UserCreate => users::create(ctx, req).await,
        Op::UserGet => users::get(db, a).await,
        Op::UserUpdate => users::update(ctx, req, a).await,
        Op::UserDelete => users::delete(ctx, a, super::query_param(req, "reason")).await,
        Op::UserRoles => {
            crate::directory::users::get_row(db, a)
                .await?
                .ok_or(Error::NoSuch("user"))?;
            roles::list_assigned(db, Holder::User, a).await
        }
        Op::UserRoleAdd => roles::assign(ctx, Holder::User, a, b).await,
        Op::UserRoleRemove => roles::unassign(ctx, Holder::User, a, b).await,
        Op::GroupList => groups::list(db, req).await,
        Op::GroupCreate => groups::create(ctx, req).await,
        Op::GroupGet => groups::get(db, a).await,
        Op::GroupUpdate => groups::update(ctx, req, a).await,
        Op::GroupDelete => groups::delete(ctx, a).await,
        Op::GroupMembers => groups::members(db, a).await,
        Op::GroupUserAdd => groups::add(ctx, a, Member::User, b).await,
        Op::GroupUserRemove => groups::remove(ctx, a, Member::User, b).await,
        Op::GroupAgentAdd => groups::add(ctx, a, Member::Agent, b).await,
        Op::GroupAgentRemove => groups::remove(ctx, a, Member::Agent, b).await,
        Op::GroupRoles => {
            crate::directory::groups::get_row(db, a)
                .await?
                .ok_or(Error::NoSuch("group"))?;
            roles::list_assigned(db, Holder::Group, a).await
        }
        Op::GroupRoleAdd => roles::assign(ctx, Holder::Group, a, b).await,
        Op::GroupRoleRemove => roles::unassign(ctx, Holder::Group, a, b).await,
        Op::AppList => clients::list(db, req, Some(ClientKind::Application)).await,
        Op::AppCreate => clients::create_application(ctx, req).await,
        Op::AppGet => clients::get(db, a, Some(ClientKind::Application)).await,
        Op::AppUpdate => clients::update(ctx, req, a, Some(ClientKind::Application)).await,
        Op::AppDelete => {
            clients::delete(
                ctx,
                a,
                Some(ClientKind::Application),
                super::query_param(req, "reason"),
            )
            .await
        }
        Op::AppSecret => clients::rotate_secret(ctx, a, Some(ClientKind::Application)).await,
        Op::AppRoles | Op::AppRoleAdd | Op::AppRoleRemove => {
            client_roles(ctx, route.op, a, b, Some(ClientKind::Application)).await
        }
        Op::AgentList => clients::list(db, req, Some(ClientKind::Agent)).await,
        Op::AgentCreate => clients::create_agent(ctx, req).await,
        Op::AgentGet => clients::get(db, a, Some(ClientKind::Agent)).await,
        Op::AgentUpdate => clients::update(ctx, req, a, Some(ClientKind::Agent)).await,
        Op::AgentDelete => {
            clients::delete(
                ctx,
                a,
                Some(ClientKind::Agent),
                super::query_param(req, "reason"),
            )
            .await
        }
        Op::AgentSecret => clients::rotate_secret(ctx, a, Some(ClientKind::Agent)).await,
        Op::ClientList => clients::list(db, req, None).await,
        Op::ClientGet => clients::get(db, a, None).await,
        Op::ClientUpdate => clients::update(ctx, req, a, None).await,
        Op::ClientDelete => clients::delete(ctx, a, None, super::query_param(req, "reason")).await,
        Op::ClientRoles | Op::ClientRoleAdd | Op::ClientRoleRemove => {
            client_roles(ctx, route.op, a, b, None).await
        }
        Op::Explain => permissions::explain(db, req).await,
        Op::Audit => audit_list(db, req).await,
        Op::Keys => keys::list_keys(db, ctx.kek, ctx.rng, ctx.now).await,
        Op::KeysRotate => keys::rotate_keys(db, ctx.config, ctx.kek, ctx.rng, ctx.now).await,
        Op::OpenApi => Ok(super::openapi::document(ctx.config)),
        Op::Bootstrap => super::bootstrap::bootstrap(ctx).await,
        Op::UserGrants => {
            crate::directory::users::get_row(db, a)
                .await?
                .ok_or(Error::NoSuch("user"))?;
            let list = crate::grants::list(db, a).await?;
            Ok(super::ok(
                serde_json::json!({ "items": list, "next_cursor": null }),
            ))
        }
        Op::UserGrantRevoke => grant_revoke(ctx, req, a).await,
        Op::UserBlastRadius => users::blast_radius(db, a, ctx.now).await,
        Op::UserSessions => users::sessions(db, a, ctx.now).await,
        Op::UserSessionsEnd => users::end_sessions(ctx, a).await,
        Op::ClientBlastRadius => clients::blast_radius(db, a, ctx.now).await,
        Op::IdpList => idp::list(db, &ctx.config.issuer, req).await,
        Op::IdpCreate => idp::create(ctx, req).await,
        Op::IdpGet => idp::get(db, &ctx.config.issuer, a).await,
        Op::IdpUpdate => idp::update(ctx, req, a).await,
        Op::IdpDelete => idp::delete(ctx, a).await,
        Op::IdpMappings => idp::put_mappings(ctx, req, a).await,
        Op::UserIdentities => idp::identities(db, a).await,
        Op::UserIdentityLink => idp::link(ctx, req, a).await,
        Op::UserIdentityUnlink => idp::unlink(ctx, req, a).await,
    }
}

/// Role operations on clients. Agents hold roles only through groups.
async fn client_roles<D: crate::store::Store + ?Sized, C: Crypto>(
    ctx: &mut Ctx<'_, D, C>,
    op: Op,
    id: &str,
    role: &str,
    kind: Option<ClientKind>,
) -> Result<Response, Error> {
    let noun = kind.map_or("client", ClientKind::noun);
    let c = crate::directory::clients::get_row(ctx.db, id)
        .await?
        .ok_or(Error::NoSuch(noun))?;
    if kind.is_some_and(|k| c.kind != k) {
        return Err(Error::NoSuch(noun));
    }
    if c.kind == ClientKind::Agent {
        return Err(Error::Conflict(
            "agents hold roles through group membership; add the agent to a group".into(),
        ));
    }
    match op {
        Op::AppRoles | Op::ClientRoles => roles::list_assigned(ctx.db, Holder::Client, id).await,
        Op::AppRoleAdd | Op::ClientRoleAdd => roles::assign(ctx, Holder::Client, id, role).await,
        _ => roles::unassign(ctx, Holder::Client, id, role).await,
    }
}

async fn grant_revoke<D: crate::store::Store + ?Sized, C: Crypto>(
    ctx: &mut Ctx<'_, D, C>,
    req: &Request,
    user: &str,
) -> Result<Response, Error> {
    use crate::directory::validate::FieldError;
    let client = super::query_param(req, "client_id")
        .ok_or_else(|| FieldError::new("client_id", "required"))?;
    let rs = super::query_param(req, "resource_server_id")
        .ok_or_else(|| FieldError::new("resource_server_id", "required"))?;
    let (existed, families) = crate::grants::revoke(
        ctx.db,
        user,
        &client,
        &rs,
        "consent revoked by an admin",
        ctx.config.max_token_ttl,
        ctx.now,
    )
    .await?;
    if !existed {
        return Err(Error::NoSuch("grant"));
    }
    ctx.db
        .query(audit::record(
            ctx.now,
            &ctx.actor,
            "grant.revoke",
            "user",
            user,
            serde_json::json!({ "client_id": client, "resource_server_id": rs, "refresh_families_revoked": families }),
        ))
        .await?;
    Ok(super::no_content())
}

async fn audit_list<D: crate::store::Store + ?Sized>(
    db: &D,
    req: &Request,
) -> Result<Response, Error> {
    let page = super::page(req)?;
    let before =
        if page.after.is_empty() {
            None
        } else {
            Some(page.after.parse::<i64>().map_err(|_| {
                crate::directory::validate::FieldError::new("cursor", "invalid cursor")
            })?)
        };
    let text = |name: &str| super::query_param(req, name).filter(|v| !v.is_empty());
    let time = |name: &'static str| {
        text(name)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| crate::directory::validate::FieldError::new(name, "unix seconds"))
            })
            .transpose()
    };
    let filter = audit::Filter {
        actor: text("actor"),
        target: text("target"),
        action: text("action"),
        since: time("since")?,
        until: time("until")?,
    };
    let rows: Vec<audit::Entry> = decode(
        db.query(audit::list_stmt(before, &filter, page.limit + 1))
            .await?,
    )?;
    Ok(super::page_response(rows, &page, |e| e.id.to_string()))
}
