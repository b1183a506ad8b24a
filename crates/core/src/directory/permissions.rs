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

/// A principal's row: its status and its role grants on one resource server, as a JSON array
/// of `[role, group or null, scope]`.
#[derive(serde::Deserialize)]
struct PrincipalRow {
    status: crate::directory::Status,
    grants: String,
}

#[derive(serde::Deserialize)]
struct EdgeRow {
    scope: String,
    implied: String,
}

/// A principal's role grants on a resource server (`?2`, its canonical identifier): those of
/// its own roles (`$own`, keyed by `$key` = `?1`), then those of its groups (`$members`).
macro_rules! role_grants {
    ($own:literal, $members:literal, $key:literal) => {
        concat!(
            "SELECT r.name AS role, NULL AS group_name, s.name AS scope FROM ", $own, " a \
              JOIN roles r ON r.id = a.role_id JOIN role_scopes rs ON rs.role_id = r.id JOIN scopes s ON s.id = rs.scope_id \
              WHERE a.", $key, " = ?1 AND s.resource_server_id = (SELECT id FROM resource_servers WHERE identifier = ?2) \
            UNION ALL \
            SELECT r.name, g.name, s.name FROM ", $members, " m JOIN groups g ON g.id = m.group_id \
              JOIN group_roles a ON a.group_id = g.id JOIN roles r ON r.id = a.role_id \
              JOIN role_scopes rs ON rs.role_id = r.id JOIN scopes s ON s.id = rs.scope_id \
              WHERE m.", $key, " = ?1 AND s.resource_server_id = (SELECT id FROM resource_servers WHERE identifier = ?2)"
        )
    };
}

/// A principal's role grants on a resource server as one JSON value, `[[role, group or null,
/// scope], ...]`, for a column of a larger statement: `grants_json!(user)` (`?1` the user id:
/// their own roles, then their groups') or `grants_json!(client)` (`?1` the client id: its own
/// roles, then its groups' for an agent), `?2` the server's canonical identifier. Decoded by
/// [`from_parts`].
macro_rules! grants_json {
    (user) => {
        $crate::directory::permissions::grants_json!(@ "user_roles", "group_users", "user_id")
    };
    (client) => {
        $crate::directory::permissions::grants_json!(@ "client_roles", "group_agents", "client_id")
    };
    (@ $own:literal, $members:literal, $key:literal) => {
        concat!(
            "(SELECT json_group_array(json_array(role, group_name, scope)) FROM (",
            $crate::directory::permissions::role_grants!($own, $members, $key),
            "))"
        )
    };
}
/// [`grants_json!`] for the token endpoints, which need only the scopes' names: each grant is
/// `["", null, scope]` (the role and group that grant it left out) and comes from one lookup of
/// the principal's roles, which costs the database about half as much to prepare as the joins
/// that name them. `held_scopes_json!(user, "<server id>")` (`?1` the user id: their own roles
/// and their groups') or `held_scopes_json!(client, "<server id>")` (`?1` the client id), where
/// the second argument is an SQL expression for the server's *id* (a column of the enclosing
/// row); a third argument names another parameter for the principal's id (`"?4"`). Decoded by
/// [`from_parts`], whose scope names are then those of `grants_json!`.
macro_rules! held_scopes_json {
    (user, $rs:literal) => {
        $crate::directory::permissions::held_scopes_json!(user, $rs, "?1")
    };
    (client, $rs:literal) => {
        $crate::directory::permissions::held_scopes_json!(client, $rs, "?1")
    };
    (user, $rs:literal, $id:literal) => {
        $crate::directory::permissions::held_scopes_json!(@ "user_roles", "group_users", "user_id", $rs, $id)
    };
    (client, $rs:literal, $id:literal) => {
        $crate::directory::permissions::held_scopes_json!(@ "client_roles", "group_agents", "client_id", $rs, $id)
    };
    (@ $own:literal, $members:literal, $key:literal, $rs:literal, $id:literal) => {
        concat!(
            "(SELECT json_group_array(json_array('', NULL, s.name)) FROM role_scopes rs JOIN scopes s ON s.id = rs.scope_id \
              WHERE s.resource_server_id = ", $rs, " AND rs.role_id IN (SELECT role_id FROM ", $own,
            " WHERE ", $key, " = ", $id, " UNION SELECT a.role_id FROM ", $members, " m \
              JOIN group_roles a ON a.group_id = m.group_id WHERE m.", $key, " = ", $id, "))"
        )
    };
}
pub(crate) use {grants_json, held_scopes_json, role_grants};

/// One statement for a principal on a resource server (by canonical identifier): one row with
/// its `status` and its role `grants` there, or none if it does not exist. Decoded by
/// [`from_principal_rows`] with the server's `implies` edges.
pub fn principal_stmt(principal: &Principal, resource: &str) -> crate::store::Stmt {
    use crate::stmt;
    macro_rules! principal_sql {
        ($kind:ident, $table:literal) => {
            concat!(
                "SELECT status, ",
                grants_json!($kind),
                " AS grants FROM ",
                $table,
                " WHERE id = ?1"
            )
        };
    }
    match principal {
        Principal::User(id) => stmt!(principal_sql!(user, "users"), id, resource),
        Principal::Client(id) => stmt!(principal_sql!(client, "clients"), id, resource),
    }
}

/// How many statements [`load_stmts`] returns.
pub const LOAD_STMTS: usize = 2;

/// The statements [`from_rows`] needs, to be run in one batch (one round trip): the principal
/// with its role grants on the resource server (by canonical identifier), and the server's
/// `implies` edges.
pub fn load_stmts(principal: &Principal, resource: &str) -> [crate::store::Stmt; LOAD_STMTS] {
    [
        principal_stmt(principal, resource),
        crate::directory::resource_servers::implies_by_identifier_stmt(resource),
    ]
}

/// Effective scopes from the rows of [`load_stmts`]; `None` if the principal does not exist.
pub fn from_rows(
    [principal, edges]: [Vec<crate::store::Row>; LOAD_STMTS],
) -> Result<Option<(crate::directory::Status, Effective)>, crate::store::StoreError> {
    let edges: Vec<EdgeRow> = crate::store::decode(edges)?;
    let edges: Vec<(String, String)> = edges.into_iter().map(|e| (e.scope, e.implied)).collect();
    from_principal_rows(principal, &edges)
}

/// Effective scopes from the rows of [`principal_stmt`] and the resource server's `implies`
/// edges; `None` if the principal does not exist. A disabled principal holds nothing.
pub fn from_principal_rows(
    rows: Vec<crate::store::Row>,
    implies: &[(String, String)],
) -> Result<Option<(crate::directory::Status, Effective)>, crate::store::StoreError> {
    match crate::store::decode_first::<PrincipalRow>(rows)? {
        Some(p) => from_parts(Some(p.status), &p.grants, implies),
        None => Ok(None),
    }
}

/// Effective scopes from a principal's status (`None`: it does not exist), its
/// [`grants_json!`] value and the resource server's `implies` edges. A disabled principal holds
/// nothing.
pub fn from_parts(
    status: Option<crate::directory::Status>,
    grants: &str,
    implies: &[(String, String)],
) -> Result<Option<(crate::directory::Status, Effective)>, crate::store::StoreError> {
    let Some(status) = status else {
        return Ok(None);
    };
    if status == crate::directory::Status::Disabled {
        return Ok(Some((status, Effective::new())));
    }
    let grants: Vec<(String, Option<String>, String)> = serde_json::from_str(grants)
        .map_err(|e| crate::store::StoreError::Backend(format!("grants decode: {e}")))?;
    let grants: Vec<RoleGrant> = grants
        .into_iter()
        .map(|(role, group, scope)| RoleGrant { role, group, scope })
        .collect();
    Ok(Some((status, effective(&grants, implies))))
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
