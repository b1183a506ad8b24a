//! Effective permissions: which scopes on a resource server a principal holds, and why.
//!
//! A principal holds a scope if one of its roles includes it, where a user's roles are its own
//! plus those of its groups, an agent's are those of its groups, and an application's (or a
//! registered client's) are its own; every scope then brings the scopes it implies,
//! transitively. A disabled principal holds nothing.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

/// One role grant of a scope, as loaded from the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleGrant {
    /// Role name.
    pub role: String,
    /// Group through which the role is held, if any.
    pub group: Option<String>,
    /// The scope the role includes.
    pub scope: String,
}

/// Why a scope is held.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Via {
    /// The role.
    pub role: String,
    /// The group, when the role is held through a group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The directly granted scope this one is implied by, if it is implied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub implied_by: Option<String>,
}

/// Scope name to the reasons it is held.
pub type Effective = BTreeMap<String, BTreeSet<Via>>;

/// Computes effective scopes from role grants and `implies` edges (scope, implied scope).
pub fn effective(grants: &[RoleGrant], implies: &[(String, String)]) -> Effective {
    let mut out: Effective = BTreeMap::new();
    for g in grants {
        out.entry(g.scope.clone()).or_default().insert(Via {
            role: g.role.clone(),
            group: g.group.clone(),
            implied_by: None,
        });
        // Transitive closure from this granted scope; cycles are harmless (visited set).
        let mut seen = BTreeSet::from([g.scope.clone()]);
        let mut stack = vec![g.scope.clone()];
        while let Some(s) = stack.pop() {
            for (_, implied) in implies.iter().filter(|(from, _)| *from == s) {
                if seen.insert(implied.clone()) {
                    out.entry(implied.clone()).or_default().insert(Via {
                        role: g.role.clone(),
                        group: g.group.clone(),
                        implied_by: Some(g.scope.clone()),
                    });
                    stack.push(implied.clone());
                }
            }
        }
    }
    out
}

/// The set of scope names in an [`Effective`] map.
pub fn names(e: &Effective) -> BTreeSet<String> {
    e.keys().cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(role: &str, group: Option<&str>, scope: &str) -> RoleGrant {
        RoleGrant {
            role: role.into(),
            group: group.map(Into::into),
            scope: scope.into(),
        }
    }

    fn edges(e: &[(&str, &str)]) -> Vec<(String, String)> {
        e.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn direct_role_grants_its_scopes() {
        let e = effective(&[grant("reader", None, "notes.read")], &[]);
        assert_eq!(names(&e), BTreeSet::from(["notes.read".to_string()]));
        let via = e["notes.read"].iter().next().unwrap();
        assert_eq!(via.role, "reader");
        assert_eq!(via.group, None);
    }

    #[test]
    fn group_role_is_reported_with_its_group() {
        let e = effective(&[grant("editor", Some("staff"), "notes.write")], &[]);
        assert_eq!(
            e["notes.write"].iter().next().unwrap().group.as_deref(),
            Some("staff")
        );
    }

    #[test]
    fn implied_scopes_are_held_transitively_with_their_origin() {
        let implies = edges(&[
            ("notes.admin", "notes.write"),
            ("notes.write", "notes.read"),
        ]);
        let e = effective(&[grant("admin", None, "notes.admin")], &implies);
        assert_eq!(names(&e).len(), 3);
        let read = e["notes.read"].iter().next().unwrap();
        assert_eq!(read.implied_by.as_deref(), Some("notes.admin"));
    }

    #[test]
    fn implication_cycles_terminate() {
        let implies = edges(&[("a", "b"), ("b", "a")]);
        let e = effective(&[grant("r", None, "a")], &implies);
        assert_eq!(names(&e).len(), 2);
    }

    #[test]
    fn several_routes_to_one_scope_are_all_reported() {
        let e = effective(
            &[
                grant("reader", None, "notes.read"),
                grant("reader", Some("staff"), "notes.read"),
            ],
            &[],
        );
        assert_eq!(e["notes.read"].len(), 2);
    }
}

/// A principal whose permissions can be computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A user (own roles and group roles).
    User(String),
    /// A client: applications and registered clients hold their own roles, agents their
    /// groups' roles.
    Client(String),
}

#[derive(serde::Deserialize)]
struct GrantRow {
    role: String,
    group_name: Option<String>,
    scope: String,
}

#[derive(serde::Deserialize)]
struct StatusRow {
    status: crate::directory::Status,
}

#[derive(serde::Deserialize)]
struct EdgeRow {
    scope: String,
    implied: String,
}

const USER_GRANTS: &str = "\
    SELECT r.name AS role, NULL AS group_name, s.name AS scope FROM user_roles a \
      JOIN roles r ON r.id = a.role_id JOIN role_scopes rs ON rs.role_id = r.id JOIN scopes s ON s.id = rs.scope_id \
      WHERE a.user_id = ?1 AND s.resource_server_id = (SELECT id FROM resource_servers WHERE identifier = ?2) \
    UNION ALL \
    SELECT r.name, g.name, s.name FROM group_users m JOIN groups g ON g.id = m.group_id \
      JOIN group_roles a ON a.group_id = g.id JOIN roles r ON r.id = a.role_id \
      JOIN role_scopes rs ON rs.role_id = r.id JOIN scopes s ON s.id = rs.scope_id \
      WHERE m.user_id = ?1 AND s.resource_server_id = (SELECT id FROM resource_servers WHERE identifier = ?2)";

const CLIENT_GRANTS: &str = "\
    SELECT r.name AS role, NULL AS group_name, s.name AS scope FROM client_roles a \
      JOIN roles r ON r.id = a.role_id JOIN role_scopes rs ON rs.role_id = r.id JOIN scopes s ON s.id = rs.scope_id \
      WHERE a.client_id = ?1 AND s.resource_server_id = (SELECT id FROM resource_servers WHERE identifier = ?2) \
    UNION ALL \
    SELECT r.name, g.name, s.name FROM group_agents m JOIN groups g ON g.id = m.group_id \
      JOIN group_roles a ON a.group_id = g.id JOIN roles r ON r.id = a.role_id \
      JOIN role_scopes rs ON rs.role_id = r.id JOIN scopes s ON s.id = rs.scope_id \
      WHERE m.client_id = ?1 AND s.resource_server_id = (SELECT id FROM resource_servers WHERE identifier = ?2)";

/// How many statements [`load_stmts`] returns.
pub const LOAD_STMTS: usize = 3;

/// The statements [`from_rows`] needs, to be run in one batch (one round trip): principal
/// status, role grants on the resource server (by canonical identifier), and its `implies`
/// edges.
pub fn load_stmts(principal: &Principal, resource: &str) -> [crate::store::Stmt; LOAD_STMTS] {
    use crate::stmt;
    let (status, grants) = match principal {
        Principal::User(id) => (
            stmt!("SELECT status FROM users WHERE id = ?1", id),
            stmt!(USER_GRANTS, id, resource),
        ),
        Principal::Client(id) => (
            stmt!("SELECT status FROM clients WHERE id = ?1", id),
            stmt!(CLIENT_GRANTS, id, resource),
        ),
    };
    [
        status,
        grants,
        crate::directory::resource_servers::implies_by_identifier_stmt(resource),
    ]
}

/// Effective scopes from the rows of [`load_stmts`]; `None` if the principal does not exist.
/// A disabled principal holds nothing.
pub fn from_rows(
    [status, grants, edges]: [Vec<crate::store::Row>; LOAD_STMTS],
) -> Result<Option<(crate::directory::Status, Effective)>, crate::store::StoreError> {
    use crate::store::{decode, decode_first};
    let status: Option<StatusRow> = decode_first(status)?;
    let grants: Vec<GrantRow> = decode(grants)?;
    let edges: Vec<EdgeRow> = decode(edges)?;
    let Some(StatusRow { status }) = status else {
        return Ok(None);
    };
    if status == crate::directory::Status::Disabled {
        return Ok(Some((status, Effective::new())));
    }
    let grants: Vec<RoleGrant> = grants
        .into_iter()
        .map(|g| RoleGrant {
            role: g.role,
            group: g.group_name,
            scope: g.scope,
        })
        .collect();
    let edges: Vec<(String, String)> = edges.into_iter().map(|e| (e.scope, e.implied)).collect();
    Ok(Some((status, effective(&grants, &edges))))
}

/// Effective scopes of a principal on a resource server, by its canonical identifier (one
/// round trip).
pub async fn load<D: crate::store::Database + ?Sized>(
    db: &D,
    principal: &Principal,
    resource: &str,
) -> Result<Option<(crate::directory::Status, Effective)>, crate::store::StoreError> {
    let mut r =
        crate::store::Results::new(db.batch(load_stmts(principal, resource).to_vec()).await?);
    from_rows(r.take()?)
}

/// `GET /admin/v1/explain?principal=<id>&resource=<identifier>`: which scopes the principal
/// holds on the resource server, and through which roles, groups and implications.
pub async fn explain<D: crate::store::Database + ?Sized>(
    db: &D,
    req: &crate::wire::Request,
) -> Result<crate::wire::Response, crate::wire::Error> {
    use crate::directory::validate::{canonical_resource, FieldError};
    use crate::endpoints::admin;
    use crate::wire::Error;
    let principal = admin::query_param(req, "principal")
        .ok_or_else(|| FieldError::new("principal", "required (a user id or a client_id)"))?;
    let resource = admin::query_param(req, "resource")
        .ok_or_else(|| FieldError::new("resource", "required (a resource server identifier)"))?;
    let ident = canonical_resource(&resource).map_err(|m| FieldError::new("resource", m))?;
    let rs = crate::directory::resource_servers::get_by_identifier(db, &ident)
        .await?
        .ok_or(Error::NoSuch("resource server"))?;
    let p = if principal.starts_with("usr_") {
        Principal::User(principal.clone())
    } else {
        Principal::Client(principal.clone())
    };
    let (status, eff) = load(db, &p, &rs.identifier)
        .await?
        .ok_or(Error::NoSuch("principal"))?;
    let scopes: Vec<serde_json::Value> = eff
        .iter()
        .map(|(name, via)| serde_json::json!({ "scope": name, "via": via }))
        .collect();
    Ok(admin::ok(serde_json::json!({
        "principal": principal,
        "principal_type": if matches!(p, Principal::User(_)) { "user" } else { "client" },
        "status": status,
        "resource": rs.identifier,
        "scopes": scopes,
    })))
}
