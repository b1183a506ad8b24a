//! mcpgate's admin API is itself a resource server of mcpgate: callers present access tokens
//! for `{issuer}/admin/v1` with scope `admin.read` (reads) or `admin.write` (changes), obtained
//! with client_credentials. The bootstrap credential (`MCPGATE_ADMIN_TOKEN`) does one thing:
//! `POST /admin/v1/bootstrap` creates that resource server, an admin role and the first admin
//! client, once.

use serde_json::json;

use super::Ctx;
use crate::crypto::Crypto;
use crate::directory::clients::{
    insert_stmt, link_resource_stmt, AuthMethod, ClientKind, ClientType, NewClient,
    GRANT_CLIENT_CREDENTIALS,
};
use crate::directory::{audit, resource_servers, roles};
use crate::secret::generate_secret;
use crate::store::Database;
use crate::wire::{Error, Response};

/// Path of the admin API (and its resource identifier, below the issuer).
pub const ADMIN_RS_ID: &str = "rs_mcpgate_admin";
/// Id of the admin role.
pub const ADMIN_ROLE_ID: &str = "rol_mcpgate_admin";
/// Read scope.
pub const SCOPE_READ: &str = "admin.read";
/// Write scope (implies read).
pub const SCOPE_WRITE: &str = "admin.write";

/// The admin API's protected resource metadata (RFC 9728): what a client that met its 401
/// needs to find mcpgate and the scopes to ask for.
pub fn metadata(issuer: &str) -> mcpgate_guard::ProtectedResourceMetadata {
    mcpgate_guard::ProtectedResourceMetadata::new(identifier(issuer), issuer)
        .with_scopes([SCOPE_READ, SCOPE_WRITE])
        .with_resource_name("mcpgate admin API")
}

/// The admin API's `WWW-Authenticate` challenges, pointing at [`metadata`]'s well-known URL.
pub fn challenges(issuer: &str) -> mcpgate_guard::Challenges {
    mcpgate_guard::Challenges::for_resource(&identifier(issuer))
        .unwrap_or_else(|_| mcpgate_guard::Challenges::new(""))
}

/// The path (below the issuer's origin) where [`metadata`] is served.
pub fn metadata_path(issuer: &str) -> Option<String> {
    let url = metadata(issuer).well_known_url().ok()?;
    let after_scheme = url.split_once("://")?.1;
    Some(
        after_scheme
            .find('/')
            .map_or("/".into(), |i| after_scheme[i..].to_owned()),
    )
}

/// The admin API's resource identifier for an issuer.
pub fn identifier(issuer: &str) -> String {
    format!("{issuer}{}", super::PREFIX)
}

/// `POST /admin/v1/bootstrap`.
pub async fn bootstrap<D: Database + ?Sized, C: Crypto>(
    ctx: &mut Ctx<'_, D, C>,
) -> Result<Response, Error> {
    let existing = ctx
        .db
        .query(roles::clients_holding_stmt(ADMIN_ROLE_ID))
        .await?;
    if !existing.is_empty() {
        return Err(Error::Conflict(
            "already bootstrapped: an admin client exists. Use an admin access token (rotate its secret with \
             POST /admin/v1/applications/{id}/secret)."
                .into(),
        ));
    }
    let ident = identifier(&ctx.config.issuer);
    let now = ctx.now;
    let (read_id, write_id) = ("scp_mcpgate_admin_read", "scp_mcpgate_admin_write");
    let id = ctx.id("app");
    let secret = generate_secret(ctx.rng);
    let grants = vec![GRANT_CLIENT_CREDENTIALS.to_owned()];
    let mut stmts = resource_servers::ensure_builtin_stmts(&resource_servers::Builtin {
        id: ADMIN_RS_ID,
        identifier: &ident,
        name: "mcpgate admin API",
        description: "Manage mcpgate itself",
        access_token_ttl: 300,
        scopes: &[
            (
                read_id,
                SCOPE_READ,
                "Read the directory, keys and audit log",
            ),
            (write_id, SCOPE_WRITE, "Change the directory and keys"),
        ],
        implies: &[(write_id, read_id)],
        now,
    });
    stmts.extend(roles::ensure_stmts(
        ADMIN_ROLE_ID,
        "mcpgate-admin",
        "Full access to the admin API",
        &[write_id],
        now,
    ));
    stmts.extend([
        insert_stmt(&NewClient {
            id: &id,
            kind: ClientKind::Application,
            name: "mcpgate admin",
            description: "Created by POST /admin/v1/bootstrap",
            client_type: ClientType::Confidential,
            auth_method: AuthMethod::ClientSecretBasic,
            strict: false,
            secret_hash: Some(secret.digest()),
            redirect_uris: &[],
            grant_types: &grants,
            owner: None,
            metadata: json!({}),
            registration_token_hash: None,
            now,
        }),
        roles::assign_stmt(roles::Holder::Client, &id, ADMIN_ROLE_ID),
        link_resource_stmt(&id, ADMIN_RS_ID),
    ]);
    stmts.extend(crate::endpoints::console::client_stmts(
        &ctx.config.issuer,
        now,
    ));
    stmts.push(audit::record(
        now,
        &ctx.actor,
        "admin.bootstrap",
        "client",
        &id,
        json!({ "resource": ident }),
    ));
    ctx.db.batch(stmts).await?;
    Ok(super::created(json!({
        "client_id": id,
        "client_secret": secret.expose(),
        "client_secret_expires_at": 0,
        "token_endpoint": format!("{}{}", ctx.config.issuer, crate::endpoints::metadata::TOKEN_PATH),
        "resource": ident,
        "scope": "admin.read admin.write",
    })))
}
