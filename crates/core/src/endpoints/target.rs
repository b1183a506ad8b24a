//! Which resource server a request targets (RFC 8707 resource indicators) and the most a client
//! may obtain there (its ceiling).
//!
//! A client may reach a resource server only if (a) it is not restricted to other resource
//! servers (`client_resources`; a self-registered client without such a list is restricted to
//! the servers open to self-registered clients, without a break, since it was registered), and
//! (b) its ceiling there is not empty. The ceiling is the
//! scopes of the client's own roles on that server; a self-registered client without roles gets
//! the server's policy for self-registered clients instead (nothing if the server refuses them,
//! else its cap, or every scope of the server).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::directory::clients::Client;
use crate::directory::permissions;
use crate::directory::resource_servers::ResourceServer;
use crate::directory::validate::canonical_resource;
use crate::policy::scopes::Scopes;
use crate::stmt;
use crate::store::{decode, decode_first, Results, Row, Stmt, StoreError};
use crate::wire::form::Params;
use crate::wire::Error;

/// The resolved target of a token request.
#[derive(Debug, Clone)]
pub struct Target {
    /// The resource server.
    pub rs: ResourceServer,
    /// Every scope it defines.
    pub all_scopes: Scopes,
    /// Its scopes, by name, with their descriptions from [`stmts_with_descriptions`] (the
    /// consent page's text; empty from [`stmts`]).
    pub descriptions: BTreeMap<String, String>,
    /// Its `implies` edges (scope, implied scope): what a principal's role grants there bring.
    pub implies: Vec<(String, String)>,
    /// The most the client may get there.
    pub ceiling: Scopes,
    /// The client's own effective scopes there (client_credentials, agents).
    pub client_held: Scopes,
}

/// The `resource` parameter, or its alias `audience` (RFC 8693), canonicalised; `None` if
/// neither is present. Both present and different is `invalid_target`.
pub fn resource_param(params: &Params) -> Result<Option<String>, Error> {
    let canon =
        |v: &str| canonical_resource(v).map_err(|m| Error::InvalidTarget(format!("resource: {m}")));
    match (params.get("resource"), params.get("audience")) {
        (None, None) => Ok(None),
        (Some(r), None) | (None, Some(r)) => canon(r).map(Some),
        (Some(r), Some(a)) => {
            let (r, a) = (canon(r)?, canon(a)?);
            if r == a {
                Ok(Some(r))
            } else {
                Err(Error::InvalidTarget("resource and audience name different resource servers; exactly one audience is bound".into()))
            }
        }
    }
}

#[derive(Deserialize)]
struct IdentRow {
    identifier: String,
}

/// What the target's row carries besides the resource server's own columns.
#[derive(Deserialize)]
struct TargetExtras {
    scope_descriptions: String,
    implies: String,
    restricted: i64,
    listed: i64,
    client_status: Option<crate::directory::Status>,
    client_grants: String,
}

pub use crate::directory::clients::{restriction_stmt, sole_resource_stmt};

/// Decodes [`restriction_stmt`] rows.
pub fn restriction_from_rows(rows: Vec<Row>) -> Result<Vec<String>, Error> {
    let r: Vec<IdentRow> = decode(rows)?;
    Ok(r.into_iter().map(|r| r.identifier).collect())
}

/// How many statements [`stmts`] returns.
pub const STMTS: usize = 1;

/// The statement [`from_rows`] needs (it can share a batch with others): one row with the
/// resource server (by canonical identifier), its scope names (with empty descriptions) and its
/// `implies` edges, whether the client is restricted to a list of servers and this one is on
/// it, and the client's status and the scopes its roles grant there.
pub fn stmts(client_id: &str, identifier: &str) -> [Stmt; STMTS] {
    target_stmts(client_id, identifier, false)
}

/// [`stmts`], and the scopes' descriptions (up to 2,000 characters each: only `/authorize`
/// reads them, for the consent page).
pub fn stmts_with_descriptions(client_id: &str, identifier: &str) -> [Stmt; STMTS] {
    target_stmts(client_id, identifier, true)
}

/// The target's row: `r.*` and its columns (`?1` the client, `?2` the server's canonical
/// identifier, `?3` whether to read the scopes' descriptions), then `$more` columns.
macro_rules! target_sql {
    ($more:expr) => {
        concat!(
            "SELECT r.*, \
             (SELECT json_group_object(s.name, CASE WHEN ?3 THEN s.description ELSE '' END) FROM scopes s \
               WHERE s.resource_server_id = r.id) AS scope_descriptions, \
             (SELECT json_group_array(json_array(a.name, b.name)) FROM scope_implies i \
               JOIN scopes a ON a.id = i.scope_id JOIN scopes b ON b.id = i.implied_id \
               WHERE a.resource_server_id = r.id) AS implies, \
             EXISTS (SELECT 1 FROM client_resources WHERE client_id = ?1) AS restricted, \
             EXISTS (SELECT 1 FROM client_resources WHERE client_id = ?1 AND resource_server_id = r.id) AS listed, \
             (SELECT status FROM clients WHERE id = ?1) AS client_status, ",
            permissions::held_scopes_json!(client, "r.id"),
            " AS client_grants",
            $more,
            " FROM resource_servers r WHERE r.identifier = ?2"
        )
    };
}

fn target_stmts(client_id: &str, identifier: &str, descriptions: bool) -> [Stmt; STMTS] {
    [stmt!(target_sql!(""), client_id, identifier, descriptions)]
}

/// [`stmts`] with, in the same row, a user's view of the server through the client: their
/// status, the scopes their roles grant there and their consent for the client there (the
/// columns of [`crate::grants::user_view_stmt`], under the same names: the server's row has
/// none of them). The token endpoints that issue to a user read both: one statement where two
/// were. Decoded by [`from_rows_with_user`].
pub fn stmts_with_user(client_id: &str, identifier: &str, user_id: &str) -> [Stmt; STMTS] {
    [stmt!(
        target_sql!(concat!(
            ", (SELECT status FROM users WHERE id = ?4) AS status, ",
            permissions::held_scopes_json!(user, "r.id", "?4"),
            " AS grants, (SELECT json_object('scopes', g.scopes, 'updated_at', g.updated_at) \
             FROM grants g WHERE g.user_id = ?4 AND g.client_id = ?1 AND g.resource_server_id = r.id) \
             AS consent"
        )),
        client_id,
        identifier,
        false,
        user_id
    )]
}

/// Resolves the target and the user's view from the results of [`stmts_with_user`], taking
/// exactly those; the view's consent counts only if given at or after `stale_before`.
pub fn from_rows_with_user(
    client: &Client,
    results: &mut Results,
    stale_before: Option<i64>,
) -> Result<(Target, crate::grants::UserView), Error> {
    let [rows] = results.take()?;
    let view = rows.clone();
    let target = from_rows(client, &mut Results::new(vec![rows]))?;
    let view = crate::grants::user_view_from_rows(view, &target.implies, stale_before)?;
    Ok((target, view))
}

/// Resolves the target from the results of [`stmts`], taking exactly those.
pub fn from_rows(client: &Client, results: &mut Results) -> Result<Target, Error> {
    let [rows] = results.take()?;
    let rs: Option<ResourceServer> = decode_first(rows.clone())?;
    let rs = rs.ok_or_else(|| Error::InvalidTarget("unknown resource server".into()))?;
    let extras: Option<TargetExtras> = decode_first(rows)?;
    let extras = extras.ok_or_else(|| Error::InvalidTarget("unknown resource server".into()))?;
    let bad = |e: serde_json::Error| StoreError::Backend(format!("target decode: {e}"));
    let descriptions: BTreeMap<String, String> =
        serde_json::from_str(&extras.scope_descriptions).map_err(bad)?;
    let implies: Vec<(String, String)> = serde_json::from_str(&extras.implies).map_err(bad)?;
    let all_scopes: Scopes = descriptions.keys().cloned().collect();
    let client_held: Scopes =
        permissions::from_parts(extras.client_status, &extras.client_grants, &implies)?
            .map(|(_, eff)| permissions::names(&eff))
            .unwrap_or_default();
    // An admin's list decides; without one, a self-registered client reaches the servers open
    // to self-registered clients since before it was registered.
    let reachable = if extras.restricted == 0 {
        !client.is_self_registered() || rs.reachable_by_self_registered(client.created_at)
    } else {
        extras.listed != 0
    };
    if !reachable {
        return Err(Error::InvalidTarget(
            "this client may not obtain tokens for that resource server".into(),
        ));
    }
    let ceiling = if !client_held.is_empty() {
        client_held.clone()
    } else if client.is_self_registered() {
        if !rs.allow_self_registered {
            Scopes::new()
        } else {
            match &rs.self_registered_max_scopes {
                Some(cap) => cap
                    .iter()
                    .filter(|s| all_scopes.contains(*s))
                    .cloned()
                    .collect(),
                None => all_scopes.clone(),
            }
        }
    } else {
        Scopes::new()
    };
    if ceiling.is_empty() {
        return Err(Error::InvalidTarget(
            "this client may not obtain tokens for that resource server".into(),
        ));
    }
    Ok(Target {
        rs,
        all_scopes,
        descriptions,
        implies,
        ceiling,
        client_held,
    })
}
