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

use serde::Deserialize;

use crate::directory::clients::Client;
use crate::directory::permissions::{self, Principal};
use crate::directory::resource_servers::ResourceServer;
use crate::directory::validate::canonical_resource;
use crate::policy::scopes::Scopes;
use crate::stmt;
use crate::store::{decode, decode_first, Results, Row, Stmt};
use crate::wire::form::Params;
use crate::wire::Error;

/// The resolved target of a token request.
#[derive(Debug, Clone)]
pub struct Target {
    /// The resource server.
    pub rs: ResourceServer,
    /// Every scope it defines.
    pub all_scopes: Scopes,
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

#[derive(Deserialize)]
struct NameRow {
    name: String,
}

pub use crate::directory::clients::{restriction_stmt, sole_resource_stmt};

/// Decodes [`restriction_stmt`] rows.
pub fn restriction_from_rows(rows: Vec<Row>) -> Result<Vec<String>, Error> {
    let r: Vec<IdentRow> = decode(rows)?;
    Ok(r.into_iter().map(|r| r.identifier).collect())
}

/// The statements [`from_rows`] needs (one round trip; they can share a batch with others).
pub fn stmts(client_id: &str, identifier: &str) -> Vec<Stmt> {
    let mut v = vec![
        crate::directory::resource_servers::by_identifier_stmt(identifier),
        restriction_stmt(client_id),
        stmt!(
            "SELECT s.name FROM scopes s JOIN resource_servers r ON r.id = s.resource_server_id WHERE r.identifier = ?1",
            identifier
        ),
    ];
    v.extend(permissions::load_stmts(
        &Principal::Client(client_id.to_owned()),
        identifier,
    ));
    v
}

/// Resolves the target from the results of [`stmts`], taking exactly those.
pub fn from_rows(client: &Client, results: &mut Results) -> Result<Target, Error> {
    let [rs, restriction, names] = results.take()?;
    let rs: Option<ResourceServer> = decode_first(rs)?;
    let rs = rs.ok_or_else(|| Error::InvalidTarget("unknown resource server".into()))?;
    let restriction = restriction_from_rows(restriction)?;
    let names: Vec<NameRow> = decode(names)?;
    let all_scopes: Scopes = names.into_iter().map(|n| n.name).collect();
    let client_held: Scopes = permissions::from_rows(results.take()?)?
        .map(|(_, eff)| permissions::names(&eff))
        .unwrap_or_default();
    // An admin's list decides; without one, a self-registered client reaches the servers open
    // to self-registered clients since before it was registered.
    let reachable = if restriction.is_empty() {
        !client.is_self_registered() || rs.reachable_by_self_registered(client.created_at)
    } else {
        restriction.contains(&rs.identifier)
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
        ceiling,
        client_held,
    })
}
