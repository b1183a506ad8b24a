//! mcpgate's admin API is itself a resource server of mcpgate: callers present access tokens
//! for `{issuer}/admin/v1` with scope `admin.read` (reads) or `admin.write` (changes), obtained
//! with client_credentials. The bootstrap credential (`MCPGATE_ADMIN_TOKEN`) does one thing:
//! `POST /admin/v1/bootstrap` creates that resource server, an admin role and the first admin
//! client, once.

use serde_json::json;

use super::Ctx;
use crate::crypto::Crypto;
use crate::directory::audit;
use crate::directory::clients::{insert_stmt, NewClient, GRANT_CLIENT_CREDENTIALS};
use crate::secret::generate_secret;
use crate::stmt;
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
        .query(stmt!(
            "SELECT client_id FROM client_roles WHERE role_id = ?1 LIMIT 1",
            ADMIN_ROLE_ID
        ))
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
    let stmts = vec![
        stmt!(
            "INSERT INTO resource_servers (id, kind, identifier, name, description, access_token_ttl, \
             allow_self_registered, created_at, updated_at) VALUES (?1, 'api', ?2, 'mcpgate admin API', \
             'Manage mcpgate itself', 300, 0, ?3, ?3) \
             ON CONFLICT (id) DO UPDATE SET identifier = excluded.identifier, updated_at = excluded.updated_at",
            ADMIN_RS_ID,
            &ident,
            now
        ),
        stmt!(
            "INSERT OR IGNORE INTO scopes (id, resource_server_id, name, description, created_at) VALUES \
             (?1, ?3, 'admin.read', 'Read the directory, keys and audit log', ?4), \
             (?2, ?3, 'admin.write', 'Change the directory and keys', ?4)",
            read_id,
            write_id,
            ADMIN_RS_ID,
            now
        ),
        stmt!("INSERT OR IGNORE INTO scope_implies (scope_id, implied_id) VALUES (?1, ?2)", write_id, read_id),
        stmt!(
            "INSERT OR IGNORE INTO roles (id, name, description, created_at, updated_at) \
             VALUES (?1, 'mcpgate-admin', 'Full access to the admin API', ?2, ?2)",
            ADMIN_ROLE_ID,
            now
        ),
        stmt!("INSERT OR IGNORE INTO role_scopes (role_id, scope_id) VALUES (?1, ?2)", ADMIN_ROLE_ID, write_id),
        insert_stmt(&NewClient {
            id: &id,
            kind: "application",
            name: "mcpgate admin",
            description: "Created by POST /admin/v1/bootstrap",
            client_type: "confidential",
            auth_method: "client_secret_basic",
            strict: false,
            secret_hash: Some(secret.digest()),
            redirect_uris: &[],
            grant_types: &grants,
            owner: None,
            metadata: json!({}),
            registration_token_hash: None,
            now,
        }),
        stmt!("INSERT INTO client_roles (client_id, role_id) VALUES (?1, ?2)", &id, ADMIN_ROLE_ID),
        stmt!("INSERT INTO client_resources (client_id, resource_server_id) VALUES (?1, ?2)", &id, ADMIN_RS_ID),
        audit::record(now, &ctx.actor, "admin.bootstrap", "client", &id, json!({ "resource": ident })),
    ];
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
