//! Directory and admin API requirements, natively through `Service::handle`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::Harness;
use http::Method;
use mcpgate_core::directory::permissions::{self, Principal};
use mcpgate_core::stmt;
use mcpgate_core::testing::block_on;
use serde_json::{json, Value};

const NOTES: &str = "https://notes.example.com/mcp";
const FILES: &str = "https://files.example.com/mcp";

fn ok(h: &Harness, method: Method, path: &str, body: Option<Value>) -> Value {
    let r = h.admin(method.clone(), path, body);
    assert!(
        r.status < 300,
        "{method} {path}: {} {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    r.json()
}

fn notes_rs(h: &Harness) -> Value {
    ok(
        h,
        Method::POST,
        "/admin/v1/resource-servers",
        Some(json!({
            "identifier": NOTES,
            "name": "Notes",
            "scopes": [
                { "name": "notes.read", "description": "Read notes" },
                { "name": "notes.write", "description": "Write notes", "implies": ["notes.read"] },
                { "name": "notes.delete", "description": "Delete notes" },
                { "name": "notes.admin", "description": "Everything", "implies": ["notes.write", "notes.delete"] }
            ]
        })),
    )
}

fn files_rs(h: &Harness) -> Value {
    ok(
        h,
        Method::POST,
        "/admin/v1/resource-servers",
        Some(json!({ "identifier": FILES, "name": "Files", "scopes": [{ "name": "files.read" }] })),
    )
}

fn role(h: &Harness, name: &str, scopes: &[(&str, &str)]) -> String {
    let scopes: Vec<Value> = scopes
        .iter()
        .map(|(r, s)| json!({ "resource": r, "scope": s }))
        .collect();
    ok(
        h,
        Method::POST,
        "/admin/v1/roles",
        Some(json!({ "name": name, "scopes": scopes })),
    )["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn user(h: &Harness, name: &str) -> String {
    ok(
        h,
        Method::POST,
        "/admin/v1/users",
        Some(json!({ "username": name, "password": "correct horse battery" })),
    )["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn held(h: &Harness, p: Principal, rs_id: &str) -> Vec<String> {
    let rs = h
        .admin(
            Method::GET,
            &format!("/admin/v1/resource-servers/{rs_id}"),
            None,
        )
        .json();
    let ident = rs["identifier"].as_str().unwrap().to_owned();
    let (_, eff) = block_on(permissions::load(&h.store, &p, &ident))
        .unwrap()
        .unwrap();
    let explained: Vec<String> = eff.keys().cloned().collect();
    assert_eq!(
        held_by_token_statements(h, &p, &ident),
        explained,
        "the token endpoints' statements and explain hold the same scopes"
    );
    explained
}

/// What the token endpoints' own statements (the target's, the user view's) say `p` holds.
fn held_by_token_statements(h: &Harness, p: &Principal, ident: &str) -> Vec<String> {
    use mcpgate_core::store::{decode, Database};
    #[derive(serde::Deserialize)]
    struct Edge {
        scope: String,
        implied: String,
    }
    let [_, edges] = permissions::load_stmts(p, ident);
    let edges: Vec<Edge> = decode(block_on(h.store.query(edges)).unwrap()).unwrap();
    let implies: Vec<(String, String)> = edges.into_iter().map(|e| (e.scope, e.implied)).collect();
    let held = match p {
        Principal::User(id) => {
            // /authorize's user view, and the target row with the user the token endpoints read.
            let rows = block_on(
                h.store
                    .query(mcpgate_core::grants::user_view_stmt(id, "any", ident)),
            )
            .unwrap();
            let viewed = mcpgate_core::grants::user_view_from_rows(rows, &implies, None)
                .unwrap()
                .held
                .unwrap_or_default();
            let [target] = mcpgate_core::endpoints::target::stmts_with_user("any", ident, id);
            let rows = block_on(h.store.query(target)).unwrap();
            let row = rows.first().unwrap();
            let status = serde_json::from_value(row["status"].clone()).unwrap();
            let with_target =
                permissions::from_parts(status, row["grants"].as_str().unwrap(), &implies)
                    .unwrap()
                    .filter(|(s, _)| *s == mcpgate_core::directory::Status::Active)
                    .map(|(_, eff)| permissions::names(&eff))
                    .unwrap_or_default();
            assert_eq!(viewed, with_target, "both statements hold the same scopes");
            viewed
        }
        Principal::Client(id) => {
            let [target] = mcpgate_core::endpoints::target::stmts(id, ident);
            let rows = block_on(h.store.query(target)).unwrap();
            let row = rows.first().unwrap();
            let status = serde_json::from_value(row["client_status"].clone()).unwrap();
            let grants = row["client_grants"].as_str().unwrap();
            permissions::from_parts(status, grants, &implies)
                .unwrap()
                .map(|(_, eff)| permissions::names(&eff))
                .unwrap_or_default()
        }
    };
    held.into_iter().collect()
}

fn count(h: &Harness, table: &'static str) -> usize {
    let sql: &'static str = match table {
        "user_roles" => "SELECT * FROM user_roles",
        "group_users" => "SELECT * FROM group_users",
        "group_agents" => "SELECT * FROM group_agents",
        "group_roles" => "SELECT * FROM group_roles",
        "client_roles" => "SELECT * FROM client_roles WHERE role_id <> 'rol_mcpgate_admin'",
        "client_resources" => {
            "SELECT * FROM client_resources WHERE resource_server_id <> 'rs_mcpgate_admin'"
        }
        "role_scopes" => "SELECT * FROM role_scopes WHERE role_id <> 'rol_mcpgate_admin'",
        "scope_implies" => {
            "SELECT * FROM scope_implies WHERE scope_id NOT LIKE 'scp_mcpgate_admin%'"
        }
        "scopes" => "SELECT * FROM scopes WHERE resource_server_id <> 'rs_mcpgate_admin'",
        _ => panic!("table"),
    };
    h.store.db.inspect(stmt!(sql)).len()
}

mod effective_permissions {
    use super::*;

    #[test]
    fn a_directly_assigned_role_grants_its_scopes() {
        let h = Harness::new();
        let rs = notes_rs(&h);
        let reader = role(&h, "reader", &[(NOTES, "notes.read")]);
        let u = user(&h, "alice");
        ok(
            &h,
            Method::PUT,
            &format!("/admin/v1/users/{u}/roles/{reader}"),
            None,
        );
        assert_eq!(
            held(&h, Principal::User(u), rs["id"].as_str().unwrap()),
            ["notes.read"]
        );
    }

    #[test]
    fn a_group_role_is_held_by_its_members_and_explained() {
        let h = Harness::new();
        let rs = notes_rs(&h);
        let editor = role(&h, "editor", &[(NOTES, "notes.write")]);
        let u = user(&h, "bob");
        let g = ok(
            &h,
            Method::POST,
            "/admin/v1/groups",
            Some(json!({ "name": "staff" })),
        )["id"]
            .as_str()
            .unwrap()
            .to_owned();
        ok(
            &h,
            Method::PUT,
            &format!("/admin/v1/groups/{g}/roles/{editor}"),
            None,
        );
        ok(
            &h,
            Method::PUT,
            &format!("/admin/v1/groups/{g}/users/{u}"),
            None,
        );
        // notes.write implies notes.read.
        assert_eq!(
            held(&h, Principal::User(u.clone()), rs["id"].as_str().unwrap()),
            ["notes.read", "notes.write"]
        );
        let ex = ok(
            &h,
            Method::GET,
            &format!("/admin/v1/explain?principal={u}&resource={NOTES}"),
            None,
        );
        let read = ex["scopes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["scope"] == "notes.read")
            .unwrap();
        assert_eq!(read["via"][0]["role"], "editor");
        assert_eq!(read["via"][0]["group"], "staff");
        assert_eq!(read["via"][0]["implied_by"], "notes.write");
    }

    #[test]
    fn implied_scopes_are_held_transitively() {
        let h = Harness::new();
        let rs = notes_rs(&h);
        let admin = role(&h, "admin", &[(NOTES, "notes.admin")]);
        let u = user(&h, "carol");
        ok(
            &h,
            Method::PUT,
            &format!("/admin/v1/users/{u}/roles/{admin}"),
            None,
        );
        assert_eq!(
            held(&h, Principal::User(u), rs["id"].as_str().unwrap()),
            ["notes.admin", "notes.delete", "notes.read", "notes.write"]
        );
    }

    #[test]
    fn a_role_across_resource_servers_grants_on_each_only_its_own_scopes() {
        let h = Harness::new();
        let notes = notes_rs(&h);
        let files = files_rs(&h);
        let both = role(&h, "both", &[(NOTES, "notes.read"), (FILES, "files.read")]);
        let u = user(&h, "dave");
        ok(
            &h,
            Method::PUT,
            &format!("/admin/v1/users/{u}/roles/{both}"),
            None,
        );
        assert_eq!(
            held(
                &h,
                Principal::User(u.clone()),
                notes["id"].as_str().unwrap()
            ),
            ["notes.read"]
        );
        assert_eq!(
            held(&h, Principal::User(u), files["id"].as_str().unwrap()),
            ["files.read"]
        );
    }

    #[test]
    fn agents_hold_roles_through_their_groups_and_applications_their_own() {
        let h = Harness::new();
        let rs = notes_rs(&h);
        let rs_id = rs["id"].as_str().unwrap();
        let reader = role(&h, "reader", &[(NOTES, "notes.read")]);
        let g = ok(
            &h,
            Method::POST,
            "/admin/v1/groups",
            Some(json!({ "name": "bots" })),
        )["id"]
            .as_str()
            .unwrap()
            .to_owned();
        ok(
            &h,
            Method::PUT,
            &format!("/admin/v1/groups/{g}/roles/{reader}"),
            None,
        );
        let agent = ok(
            &h,
            Method::POST,
            "/admin/v1/agents",
            Some(json!({ "name": "summariser", "owner": "ops", "groups": [g] })),
        );
        let agent_id = agent["client_id"].as_str().unwrap().to_owned();
        assert!(agent["client_secret"].as_str().unwrap().len() >= 43);
        assert_eq!(
            held(&h, Principal::Client(agent_id.clone()), rs_id),
            ["notes.read"]
        );
        // Agents cannot be given roles directly.
        let r = h.admin(
            Method::PUT,
            &format!("/admin/v1/clients/{agent_id}/roles/{reader}"),
            None,
        );
        assert_eq!(r.status, 409);
        let app = ok(
            &h,
            Method::POST,
            "/admin/v1/applications",
            Some(
                json!({ "name": "desk", "client_type": "public", "redirect_uris": ["http://127.0.0.1/cb"], "roles": [reader] }),
            ),
        );
        assert!(
            app.get("client_secret").is_none(),
            "public clients get no secret"
        );
        assert_eq!(
            held(
                &h,
                Principal::Client(app["client_id"].as_str().unwrap().into()),
                rs_id
            ),
            ["notes.read"]
        );
    }

    #[test]
    fn disabled_principals_hold_nothing() {
        let h = Harness::new();
        let rs = notes_rs(&h);
        let rs_id = rs["id"].as_str().unwrap();
        let reader = role(&h, "reader", &[(NOTES, "notes.read")]);
        let u = user(&h, "erin");
        ok(
            &h,
            Method::PUT,
            &format!("/admin/v1/users/{u}/roles/{reader}"),
            None,
        );
        ok(
            &h,
            Method::PATCH,
            &format!("/admin/v1/users/{u}"),
            Some(json!({ "status": "disabled" })),
        );
        assert!(held(&h, Principal::User(u.clone()), rs_id).is_empty());
        ok(
            &h,
            Method::PATCH,
            &format!("/admin/v1/users/{u}"),
            Some(json!({ "status": "active" })),
        );
        assert_eq!(held(&h, Principal::User(u), rs_id), ["notes.read"]);
        let app = ok(
            &h,
            Method::POST,
            "/admin/v1/applications",
            Some(
                json!({ "name": "m2m", "client_type": "confidential", "grant_types": ["client_credentials"], "roles": [reader] }),
            ),
        );
        let id = app["client_id"].as_str().unwrap();
        ok(
            &h,
            Method::PATCH,
            &format!("/admin/v1/clients/{id}"),
            Some(json!({ "status": "disabled" })),
        );
        assert!(held(&h, Principal::Client(id.into()), rs_id).is_empty());
    }
}

mod admin_api {
    use super::*;

    #[test]
    fn resource_identifiers_are_stored_canonically_and_duplicates_conflict() {
        let h = Harness::new();
        let rs = ok(
            &h,
            Method::POST,
            "/admin/v1/resource-servers",
            Some(json!({ "identifier": "HTTPS://Notes.Example.com/mcp/", "name": "n" })),
        );
        assert_eq!(rs["identifier"], NOTES);
        assert_eq!(rs["access_token_ttl"], 600);
        let dup = h.admin(
            Method::POST,
            "/admin/v1/resource-servers",
            Some(json!({ "identifier": NOTES, "name": "again" })),
        );
        assert_eq!(dup.status, 409);
        assert_eq!(dup.json()["error"], "conflict");
    }

    #[test]
    fn invalid_input_names_the_field() {
        let h = Harness::new();
        let cases = [
            (
                json!({ "identifier": "http://notes.example.com/", "name": "n" }),
                "identifier",
            ),
            (
                json!({ "identifier": "https://a.example/#x", "name": "n" }),
                "identifier",
            ),
            (json!({ "identifier": NOTES, "name": "" }), "name"),
            (
                json!({ "identifier": NOTES, "name": "n", "scopes": [{ "name": "bad scope" }] }),
                "scopes[0].name",
            ),
            (
                json!({ "identifier": NOTES, "name": "n", "colour": "red" }),
                "colour",
            ),
            (json!({ "identifier": NOTES, "name": 5 }), "name"),
            (
                json!({ "identifier": NOTES, "name": "n", "access_token_ttl": 10 }),
                "access_token_ttl",
            ),
            (
                json!({ "identifier": NOTES, "name": "n", "scopes": [{ "name": "a", "implies": ["b"] }] }),
                "scopes[0].implies[0]",
            ),
        ];
        for (body, field) in cases {
            let r = h.admin(
                Method::POST,
                "/admin/v1/resource-servers",
                Some(body.clone()),
            );
            assert_eq!(r.status, 400, "{body}");
            assert_eq!(r.json()["error"], "invalid_request");
            assert_eq!(r.json()["field"], field, "{body}");
        }
        let r = h.request(
            Method::POST,
            "/admin/v1/users",
            &[
                (
                    "authorization",
                    &format!("Bearer {}", h.admin_access_token()),
                ),
                ("content-type", "text/plain"),
            ],
            b"{}",
        );
        assert_eq!(r.status, 415);
        let r = h.request(
            Method::POST,
            "/admin/v1/users",
            &[
                (
                    "authorization",
                    &format!("Bearer {}", h.admin_access_token()),
                ),
                ("content-type", "application/json"),
            ],
            b"{not json",
        );
        assert_eq!(r.status, 400);
        assert_eq!(r.json()["field"], "body");
    }

    #[test]
    fn scope_implication_cycles_are_rejected() {
        let h = Harness::new();
        let rs = notes_rs(&h);
        let id = rs["id"].as_str().unwrap();
        let r = h.admin(
            Method::PATCH,
            &format!("/admin/v1/resource-servers/{id}/scopes/notes.read"),
            Some(json!({ "implies": ["notes.admin"] })),
        );
        assert_eq!(r.status, 400, "{:?}", r.json());
        assert_eq!(r.json()["field"], "implies");
    }

    #[test]
    fn unknown_ids_are_404() {
        let h = Harness::new();
        for path in [
            "/admin/v1/users/usr_nope",
            "/admin/v1/roles/rol_nope",
            "/admin/v1/groups/grp_x",
            "/admin/v1/agents/agt_x",
            "/admin/v1/resource-servers/rs_x",
        ] {
            let r = h.admin(Method::GET, path, None);
            assert_eq!(r.status, 404, "{path}");
            assert_eq!(r.json()["error"], "not_found");
        }
        let r = role(&h, "r", &[]);
        assert_eq!(
            h.admin(
                Method::PUT,
                &format!("/admin/v1/users/usr_nope/roles/{r}"),
                None
            )
            .status,
            404
        );
        let u = user(&h, "x");
        assert_eq!(
            h.admin(
                Method::PUT,
                &format!("/admin/v1/users/{u}/roles/rol_nope"),
                None
            )
            .status,
            404
        );
        assert_eq!(
            h.admin(
                Method::DELETE,
                &format!("/admin/v1/users/{u}/roles/{r}"),
                None
            )
            .status,
            404
        );
    }

    #[test]
    fn deleting_a_role_in_use_is_refused_until_unassigned() {
        let h = Harness::new();
        notes_rs(&h);
        let reader = role(&h, "reader", &[(NOTES, "notes.read")]);
        let u = user(&h, "frank");
        ok(
            &h,
            Method::PUT,
            &format!("/admin/v1/users/{u}/roles/{reader}"),
            None,
        );
        let r = h.admin(Method::DELETE, &format!("/admin/v1/roles/{reader}"), None);
        assert_eq!(r.status, 409);
        assert!(r.json()["error_description"]
            .as_str()
            .unwrap()
            .contains("unassign"));
        ok(
            &h,
            Method::DELETE,
            &format!("/admin/v1/users/{u}/roles/{reader}"),
            None,
        );
        assert_eq!(
            h.admin(Method::DELETE, &format!("/admin/v1/roles/{reader}"), None)
                .status,
            204
        );
        assert_eq!(count(&h, "role_scopes"), 0);
    }

    #[test]
    fn cascading_deletes_leave_no_orphans() {
        let h = Harness::new();
        let rs = notes_rs(&h);
        let reader = role(
            &h,
            "reader",
            &[(NOTES, "notes.read"), (NOTES, "notes.write")],
        );
        let u = user(&h, "gina");
        let g = ok(
            &h,
            Method::POST,
            "/admin/v1/groups",
            Some(json!({ "name": "g" })),
        )["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let agent = ok(
            &h,
            Method::POST,
            "/admin/v1/agents",
            Some(json!({ "name": "a", "owner": "o", "groups": [g], "resources": [NOTES] })),
        );
        let app = ok(
            &h,
            Method::POST,
            "/admin/v1/applications",
            Some(
                json!({ "name": "p", "client_type": "confidential", "grant_types": ["client_credentials"], "roles": [reader], "resources": [NOTES] }),
            ),
        );
        ok(
            &h,
            Method::PUT,
            &format!("/admin/v1/users/{u}/roles/{reader}"),
            None,
        );
        ok(
            &h,
            Method::PUT,
            &format!("/admin/v1/groups/{g}/users/{u}"),
            None,
        );
        ok(
            &h,
            Method::PUT,
            &format!("/admin/v1/groups/{g}/roles/{reader}"),
            None,
        );
        assert!(count(&h, "client_resources") == 2 && count(&h, "group_agents") == 1);

        ok(&h, Method::DELETE, &format!("/admin/v1/users/{u}"), None);
        assert_eq!(count(&h, "user_roles"), 0);
        assert_eq!(count(&h, "group_users"), 0);
        ok(
            &h,
            Method::DELETE,
            &format!("/admin/v1/agents/{}", agent["client_id"].as_str().unwrap()),
            None,
        );
        assert_eq!(count(&h, "group_agents"), 0);
        ok(&h, Method::DELETE, &format!("/admin/v1/groups/{g}"), None);
        assert_eq!(count(&h, "group_roles"), 0);
        ok(
            &h,
            Method::DELETE,
            &format!("/admin/v1/resource-servers/{}", rs["id"].as_str().unwrap()),
            None,
        );
        assert_eq!(count(&h, "scopes"), 0);
        assert_eq!(count(&h, "scope_implies"), 0);
        assert_eq!(count(&h, "role_scopes"), 0);
        assert_eq!(count(&h, "client_resources"), 0);
        ok(
            &h,
            Method::DELETE,
            &format!(
                "/admin/v1/applications/{}",
                app["client_id"].as_str().unwrap()
            ),
            None,
        );
        assert_eq!(count(&h, "client_roles"), 0);
    }

    #[test]
    fn a_failed_create_writes_nothing() {
        let h = Harness::new();
        notes_rs(&h);
        let before = count(&h, "scopes");
        // Same identifier: the resource-server insert fails, so its scopes must not appear.
        let r = h.admin(
            Method::POST,
            "/admin/v1/resource-servers",
            Some(json!({ "identifier": NOTES, "name": "n", "scopes": [{ "name": "other" }] })),
        );
        assert_eq!(r.status, 409);
        assert_eq!(count(&h, "scopes"), before);
        let audit = ok(&h, Method::GET, "/admin/v1/audit", None);
        let actions: Vec<&str> = audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(
            actions,
            ["resource_server.create", "admin.bootstrap"],
            "only the first create is audited"
        );
    }

    #[test]
    fn secrets_are_shown_once_and_rotation_replaces_them() {
        let h = Harness::new();
        let agent = ok(
            &h,
            Method::POST,
            "/admin/v1/agents",
            Some(json!({ "name": "a", "owner": "o" })),
        );
        let id = agent["client_id"].as_str().unwrap();
        let secret = agent["client_secret"].as_str().unwrap().to_owned();
        let again = ok(&h, Method::GET, &format!("/admin/v1/agents/{id}"), None);
        assert!(again.get("client_secret").is_none());
        assert!(!again.to_string().contains(&secret));
        let rotated = ok(
            &h,
            Method::POST,
            &format!("/admin/v1/agents/{id}/secret"),
            None,
        );
        assert_ne!(rotated["client_secret"].as_str().unwrap(), secret);
        let user = ok(
            &h,
            Method::POST,
            "/admin/v1/users",
            Some(json!({ "username": "gen" })),
        );
        assert!(
            user["password"].as_str().unwrap().len() >= 16,
            "generated password shown once"
        );
        let shown = ok(
            &h,
            Method::GET,
            &format!("/admin/v1/users/{}", user["id"].as_str().unwrap()),
            None,
        );
        assert!(shown.get("password").is_none() && shown.get("password_hash").is_none());
    }

    #[test]
    fn every_change_is_audited_with_actor_and_time() {
        let h = Harness::new();
        notes_rs(&h);
        let r = role(&h, "reader", &[(NOTES, "notes.read")]);
        let u = user(&h, "hal");
        ok(
            &h,
            Method::PUT,
            &format!("/admin/v1/users/{u}/roles/{r}"),
            None,
        );
        let audit = ok(&h, Method::GET, "/admin/v1/audit", None);
        let actions: Vec<&str> = audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(
            actions,
            [
                "role.assign",
                "user.create",
                "role.create",
                "resource_server.create",
                "admin.bootstrap"
            ]
        );
        let admin_client = h.admin_creds.borrow().clone().unwrap().0;
        assert_eq!(audit["items"][0]["actor"], admin_client.as_str());
        assert_eq!(audit["items"][4]["actor"], "bootstrap");
        assert_eq!(audit["items"][0]["at"], common::T0);
    }

    #[test]
    fn the_audit_log_filters_by_actor_target_action_prefix_and_time() {
        let h = Harness::new();
        notes_rs(&h);
        let r = role(&h, "reader", &[(NOTES, "notes.read")]);
        let u = user(&h, "hal");
        let v = user(&h, "ivy");
        ok(
            &h,
            Method::PUT,
            &format!("/admin/v1/users/{u}/roles/{r}"),
            None,
        );
        let actions = |q: &str| -> Vec<(String, String)> {
            let page = ok(&h, Method::GET, &format!("/admin/v1/audit?{q}"), None);
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    (
                        e["action"].as_str().unwrap().to_owned(),
                        e["target_id"].as_str().unwrap().to_owned(),
                    )
                })
                .collect()
        };
        assert_eq!(
            actions(&format!("target={u}")),
            [
                ("role.assign".to_owned(), u.clone()),
                ("user.create".to_owned(), u.clone())
            ]
        );
        assert_eq!(actions("action=user.create").len(), 2);
        assert_eq!(
            actions("action=user."),
            [
                ("user.create".to_owned(), v.clone()),
                ("user.create".to_owned(), u.clone())
            ],
            "a prefix ending in '.' matches the actions it starts"
        );
        assert!(
            actions("action=user").is_empty(),
            "without the dot: exact match"
        );
        assert_eq!(actions("actor=bootstrap").len(), 1);
        assert_eq!(actions("actor=bootstrap&action=user.").len(), 0);
        let admin_client = h.admin_creds.borrow().clone().unwrap().0;
        assert_eq!(
            actions(&format!("actor={admin_client}&target={u}&action=role.")),
            [("role.assign".to_owned(), u.clone())]
        );
        assert_eq!(actions(&format!("since={}", common::T0)).len(), 6);
        assert!(actions(&format!("until={}", common::T0)).is_empty());
        assert!(actions(&format!("since={}", common::T0 + 1)).is_empty());
        let bad = h.admin(Method::GET, "/admin/v1/audit?since=yesterday", None);
        assert_eq!(bad.status, 400);
        assert_eq!(bad.json()["field"], "since");
    }

    #[test]
    fn lists_search_by_name_prefix_and_page_through_the_matches() {
        let h = Harness::new();
        for name in ["ann", "anna", "annabel", "anne", "bob"] {
            user(&h, name);
        }
        let names = |path: &str| -> (Vec<String>, Option<String>) {
            let page = ok(&h, Method::GET, path, None);
            (
                page["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|u| u["username"].as_str().unwrap().to_owned())
                    .collect(),
                page["next_cursor"].as_str().map(str::to_owned),
            )
        };
        let (first, cursor) = names("/admin/v1/users?q=ann&limit=2");
        assert_eq!(first, ["ann", "anna"]);
        let (second, cursor) = names(&format!(
            "/admin/v1/users?q=ann&limit=2&cursor={}",
            cursor.unwrap()
        ));
        assert_eq!(second, ["annabel", "anne"]);
        assert!(cursor.is_none());
        assert_eq!(names("/admin/v1/users?q=b").0, ["bob"]);
        assert!(names("/admin/v1/users?q=z").0.is_empty());
        // Names that are not unique (clients) page by name and id.
        for _ in 0..3 {
            ok(
                &h,
                Method::POST,
                "/admin/v1/agents",
                Some(json!({ "name": "twin", "owner": "ops@example.com" })),
            );
        }
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/admin/v1/clients?q=tw&limit=2&cursor={c}"),
                None => "/admin/v1/clients?q=tw&limit=2".into(),
            };
            let page = ok(&h, Method::GET, &path, None);
            for c in page["items"].as_array().unwrap() {
                seen.push(c["client_id"].as_str().unwrap().to_owned());
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        assert_eq!(seen.len(), 3, "every twin once: {seen:?}");
        seen.dedup();
        assert_eq!(seen.len(), 3);
        let groups = ok(&h, Method::GET, "/admin/v1/groups?q=x", None);
        assert!(groups["items"].as_array().unwrap().is_empty());
        let roles = ok(&h, Method::GET, "/admin/v1/roles?q=x", None);
        assert!(roles["items"].as_array().unwrap().is_empty());
        let long = h.admin(
            Method::GET,
            &format!("/admin/v1/users?q={}", "a".repeat(201)),
            None,
        );
        assert_eq!(long.status, 400);
        assert_eq!(long.json()["field"], "q");
    }

    #[test]
    fn lists_are_cursor_paginated() {
        let h = Harness::new();
        for i in 0..5 {
            user(&h, &format!("u{i}"));
        }
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/admin/v1/users?limit=2&cursor={c}"),
                None => "/admin/v1/users?limit=2".into(),
            };
            let page = ok(&h, Method::GET, &path, None);
            for u in page["items"].as_array().unwrap() {
                seen.push(u["username"].as_str().unwrap().to_owned());
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        seen.sort();
        assert_eq!(seen, ["u0", "u1", "u2", "u3", "u4"]);
        assert_eq!(
            h.admin(Method::GET, "/admin/v1/users?limit=0", None).status,
            400
        );
        assert_eq!(
            h.admin(Method::GET, "/admin/v1/users?cursor=%%%", None)
                .status,
            400
        );
    }

    #[test]
    fn redirect_uris_are_validated_at_registration() {
        let h = Harness::new();
        for uri in [
            "https://app.example/cb#frag",
            "javascript:alert(1)",
            "http://app.example/cb",
            "https://*.example/cb",
        ] {
            let r = h.admin(
                Method::POST,
                "/admin/v1/applications",
                Some(json!({ "name": "x", "client_type": "public", "redirect_uris": [uri] })),
            );
            assert_eq!(r.status, 400, "{uri}");
            assert_eq!(r.json()["field"], "redirect_uris[0]");
        }
        let r = h.admin(
            Method::POST,
            "/admin/v1/applications",
            Some(json!({ "name": "x", "client_type": "public" })),
        );
        assert_eq!(r.status, 400, "authorization_code needs a redirect URI");
        let r = h.admin(
            Method::POST,
            "/admin/v1/applications",
            Some(json!({ "name": "x", "client_type": "public", "grant_types": ["client_credentials"] })),
        );
        assert_eq!(r.json()["field"], "grant_types[0]");
    }
}

mod openapi {
    use super::*;
    use common::{Browser, Resp, ADMIN, NOTES};
    use mcpgate_core::endpoints::admin::ROUTES;

    #[test]
    fn the_document_lists_every_route_and_every_route_is_wired() {
        let h = Harness::new();
        let doc = h.get("/admin/v1/openapi.json");
        assert_eq!(doc.status, 200, "public, no credential needed");
        let doc = doc.json();
        assert_eq!(doc["openapi"], "3.1.0");
        let paths = doc["paths"].as_object().unwrap();
        let mut ops = 0;
        for (path, item) in paths {
            for (method, op) in item.as_object().unwrap() {
                ops += 1;
                if let Some(body) = op.get("requestBody") {
                    let r = body["content"]["application/json"]["schema"]["$ref"]
                        .as_str()
                        .unwrap();
                    let name = r.rsplit('/').next().unwrap();
                    assert!(doc["components"]["schemas"].get(name).is_some(), "{name}");
                }
                // Request every documented operation with placeholder ids: it must be routed
                // (no "no such endpoint" 404, no 405).
                let concrete = path
                    .replace("{id}", "x")
                    .replace("{name}", "x")
                    .replace("{role}", "x")
                    .replace("{member}", "x");
                let m = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
                let r = h.admin(m, &concrete, Some(json!({})));
                assert_ne!(r.status, 405, "{method} {path}");
                assert!(
                    !(r.status == 404 && r.json()["error_description"] == "no such endpoint"),
                    "{method} {path} is documented but not routed"
                );
            }
        }
        assert_eq!(ops, ROUTES.len());
        assert_eq!(
            h.admin(Method::GET, "/admin/v1/nothing-here", None).status,
            404
        );
        assert_eq!(h.admin(Method::PUT, "/admin/v1/users", None).status, 405);
    }

    #[test]
    fn every_request_schema_lists_exactly_the_fields_its_type_accepts() {
        let h = Harness::new();
        let f = h.fixture();
        let doc = h.get("/admin/v1/openapi.json").json();
        let mut checked = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let Some(body) = op.get("requestBody") else {
                    continue;
                };
                let name = body["content"]["application/json"]["schema"]["$ref"]
                    .as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap();
                let schema = &doc["components"]["schemas"][name];
                let documented: std::collections::BTreeSet<String> = schema["properties"]
                    .as_object()
                    .map(|p| p.keys().cloned().collect())
                    .unwrap_or_default();
                assert_eq!(
                    schema["additionalProperties"], false,
                    "{name} rejects unknown fields"
                );
                // Real ids, so the request reaches the body's own parsing.
                let concrete = with_ids(path, &f, &f.public_app);
                let m = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
                let r = h.admin(m, &concrete, Some(json!({ "__probe": 1 })));
                assert_eq!(r.status, 400, "{method} {path}: {:?}", r.json());
                assert_eq!(r.json()["field"], "__probe", "{method} {path}");
                let desc = r.json()["error_description"].as_str().unwrap().to_owned();
                let accepted: std::collections::BTreeSet<String> = desc
                    .split_once("accepted fields: ")
                    .map(|(_, l)| l.split(", ").map(str::to_owned).collect())
                    .unwrap_or_default();
                assert_eq!(
                    accepted, documented,
                    "{method} {path} ({name}): the type vs the document"
                );
                checked += 1;
            }
        }
        assert!(checked >= 10, "{checked} request bodies checked");
    }

    /// A documented path with the fixture's ids in place of its parameters.
    fn with_ids(path: &str, f: &common::Fixture, application: &str) -> String {
        path.replace(
            "/resource-servers/{id}",
            &format!("/resource-servers/{}", f.notes_rs),
        )
        .replace(
            "/applications/{id}",
            &format!("/applications/{application}"),
        )
        .replace("/agents/{id}", &format!("/agents/{}", f.agent))
        .replace("/clients/{id}", &format!("/clients/{}", f.conf_app))
        .replace("/users/{id}", &format!("/users/{}", f.alice))
        .replace("/groups/{id}", &format!("/groups/{}", f.bots))
        .replace("/roles/{id}", &format!("/roles/{}", f.reader))
        .replace("{name}", "notes.read")
    }

    /// A small JSON Schema checker for the subset the document uses: `$ref`, `type` (one or a
    /// list), `enum`, `oneOf`, `properties`, `required`, `additionalProperties: false`, `items`.
    fn conforms(doc: &Value, schema: &Value, v: &Value, at: &str) -> Result<(), String> {
        if let Some(r) = schema["$ref"].as_str() {
            let name = r.rsplit('/').next().unwrap();
            return conforms(doc, &doc["components"]["schemas"][name], v, at);
        }
        if let Some(options) = schema["oneOf"].as_array() {
            return match options
                .iter()
                .filter(|o| conforms(doc, o, v, at).is_ok())
                .count()
            {
                1 => Ok(()),
                n => Err(format!("{at}: {v} matches {n} of oneOf")),
            };
        }
        if let Some(allowed) = schema["enum"].as_array() {
            if !allowed.contains(v) {
                return Err(format!("{at}: {v} not in {allowed:?}"));
            }
        }
        let types: Vec<&str> = match &schema["type"] {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !types.is_empty() {
            let actual = match v {
                Value::Null => "null",
                Value::Bool(_) => "boolean",
                Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
                Value::Number(_) => "number",
                Value::String(_) => "string",
                Value::Array(_) => "array",
                Value::Object(_) => "object",
            };
            if !types.contains(&actual) {
                return Err(format!("{at}: {actual} where {types:?} is documented"));
            }
        }
        if let Value::Object(o) = v {
            let props = schema["properties"].as_object();
            for req in schema["required"].as_array().into_iter().flatten() {
                let req = req.as_str().unwrap();
                if !o.contains_key(req) {
                    return Err(format!("{at}: required `{req}` missing"));
                }
            }
            for (k, val) in o {
                match props.and_then(|p| p.get(k)) {
                    Some(s) => conforms(doc, s, val, &format!("{at}.{k}"))?,
                    None if schema["additionalProperties"] == false => {
                        return Err(format!("{at}: `{k}` is not documented"))
                    }
                    None => {}
                }
            }
        }
        if let (Value::Array(items), Some(s)) = (v, schema.get("items")) {
            for (i, item) in items.iter().enumerate() {
                conforms(doc, s, item, &format!("{at}[{i}]"))?;
            }
        }
        Ok(())
    }

    #[test]
    fn every_success_response_matches_its_documented_schema() {
        use mcpgate_core::endpoints::admin::response_schema;
        let h = Harness::new();
        let f = h.fixture();
        // Give the lists something to show: a consent and a session for alice.
        let mut b = Browser::default();
        h.code_for(&mut b, &f.public_app, Some("notes.read"));
        // An identity provider with a group mapping, and an upstream identity linked to alice.
        let idp = h.ok(
            Method::POST,
            "/admin/v1/identity-providers",
            Some(
                json!({ "issuer": "https://idp.example", "display_name": "Example",
                "client_id": "mcpgate", "client_secret": "s3cret",
                "group_mappings": [{ "value": "eng", "group_id": f.bots }] }),
            ),
        )["id"]
            .as_str()
            .unwrap()
            .to_owned();
        h.ok(
            Method::POST,
            &format!("/admin/v1/users/{}/identities", f.alice),
            Some(json!({ "provider_id": idp, "subject": "alice-at-idp" })),
        );
        let doc = h.get("/admin/v1/openapi.json").json();
        let mut checked = std::collections::BTreeSet::new();
        let mut check = |method: &str, pattern: &str, r: &Resp| {
            let route = ROUTES
                .iter()
                .find(|x| x.method.as_str() == method && x.pattern == pattern)
                .unwrap_or_else(|| panic!("no route {method} {pattern}"));
            assert_eq!(r.status, route.status, "{method} {pattern}: {:?}", r.json());
            let name = response_schema(route.op).unwrap();
            let op = &doc["paths"][format!("/admin/v1{pattern}")][method.to_ascii_lowercase()];
            assert_eq!(
                op["responses"][route.status.to_string()]["content"]["application/json"]["schema"]
                    ["$ref"],
                format!("#/components/schemas/{name}"),
                "{method} {pattern}"
            );
            let schema = json!({ "$ref": format!("#/components/schemas/{name}") });
            if name.ends_with("Page") {
                let items = r.json()["items"].as_array().map_or(0, Vec::len);
                assert!(
                    items > 0,
                    "{method} {pattern}: an empty page checks no item"
                );
            }
            if let Err(e) = conforms(&doc, &schema, &r.json(), name) {
                panic!("{method} {pattern}: {e}\n{}", r.json());
            }
            checked.insert(format!("{:?}", route.op));
        };
        let ids = |p: &str| {
            with_ids(p, &f, &f.conf_app).replace(
                "/identity-providers/{id}",
                &format!("/identity-providers/{idp}"),
            )
        };
        for route in ROUTES.iter().filter(|r| r.method == Method::GET) {
            if response_schema(route.op).is_none() {
                continue;
            }
            let mut path = format!("/admin/v1{}", ids(route.pattern));
            if route.pattern == "/explain" {
                path = format!("{path}?principal={}&resource={NOTES}", f.alice);
            }
            check("GET", route.pattern, &h.admin(Method::GET, &path, None));
        }
        let writes: &[(&str, &str, Value)] = &[
            (
                "POST",
                "/resource-servers",
                json!({ "identifier": "https://new.example/mcp", "name": "New",
                "scopes": [{ "name": "a" }] }),
            ),
            (
                "PATCH",
                "/resource-servers/{id}",
                json!({ "description": "notes" }),
            ),
            (
                "POST",
                "/resource-servers/{id}/scopes",
                json!({ "name": "notes.share" }),
            ),
            (
                "PATCH",
                "/resource-servers/{id}/scopes/{name}",
                json!({ "description": "Read" }),
            ),
            (
                "POST",
                "/roles",
                json!({ "name": "sharer", "scopes": [{ "resource": NOTES, "scope": "notes.share" }] }),
            ),
            ("PATCH", "/roles/{id}", json!({ "description": "Reads" })),
            ("POST", "/users", json!({ "username": "bob" })),
            (
                "PATCH",
                "/users/{id}",
                json!({ "display_name": "Alice A." }),
            ),
            ("POST", "/groups", json!({ "name": "people" })),
            (
                "PATCH",
                "/groups/{id}",
                json!({ "description": "Machines" }),
            ),
            (
                "POST",
                "/applications",
                json!({ "name": "Web", "client_type": "confidential",
                "redirect_uris": ["https://web.example/cb"] }),
            ),
            (
                "PATCH",
                "/applications/{id}",
                json!({ "description": "Server" }),
            ),
            ("POST", "/applications/{id}/secret", Value::Null),
            (
                "POST",
                "/agents",
                json!({ "name": "Indexer", "owner": "ops" }),
            ),
            (
                "PATCH",
                "/agents/{id}",
                json!({ "description": "Summaries" }),
            ),
            ("POST", "/agents/{id}/secret", Value::Null),
            (
                "PATCH",
                "/clients/{id}",
                json!({ "description": "Server app" }),
            ),
            ("POST", "/keys/rotate", Value::Null),
            (
                "POST",
                "/identity-providers",
                json!({ "issuer": "https://login.example", "display_name": "Login",
                "client_id": "c", "email_domains": ["example.org"], "provisioning": "existing" }),
            ),
            (
                "PATCH",
                "/identity-providers/{id}",
                json!({ "client_secret": null, "status": "disabled" }),
            ),
            (
                "PUT",
                "/identity-providers/{id}/group-mappings",
                json!({ "group_mappings": [] }),
            ),
            (
                "POST",
                "/users/{id}/identities",
                json!({ "provider_id": idp, "subject": "alice-2" }),
            ),
        ];
        for (method, pattern, body) in writes {
            let m = Method::from_bytes(method.as_bytes()).unwrap();
            let body = (!body.is_null()).then(|| body.clone());
            check(
                method,
                pattern,
                &h.admin(m, &format!("/admin/v1{}", ids(pattern)), body),
            );
        }
        // The bootstrap answer, on a fresh deployment.
        let fresh = Harness::new();
        let boot = format!("Bearer {ADMIN}");
        let r = fresh.request(
            Method::POST,
            "/admin/v1/bootstrap",
            &[("authorization", &boot)],
            b"",
        );
        check("POST", "/bootstrap", &r);
        let documented: std::collections::BTreeSet<String> = ROUTES
            .iter()
            .filter(|r| response_schema(r.op).is_some())
            .map(|r| format!("{:?}", r.op))
            .collect();
        assert_eq!(
            checked, documented,
            "every documented response is checked against a real one"
        );
    }
}

fn policy(h: &Harness, resource: &str) -> common::Resp {
    let q: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("resource", resource)
        .finish();
    h.get(&format!("/resource-policy?{q}"))
}

#[test]
fn the_tool_map_is_kept_in_the_directory_and_published_without_credentials() {
    let h = Harness::new();
    let rs = ok(
        &h,
        Method::POST,
        "/admin/v1/resource-servers",
        Some(json!({
            "identifier": NOTES,
            "name": "Notes",
            "unmapped_tools": "allow",
            "scopes": [
                { "name": "notes.read", "tools": ["list_notes", "get_*"] },
                { "name": "notes.write", "implies": ["notes.read"], "tools": ["create_note"] }
            ]
        })),
    );
    assert_eq!(rs["unmapped_tools"], "allow");
    assert_eq!(rs["scopes"][0]["tools"], json!(["list_notes", "get_*"]));
    let r = policy(&h, NOTES);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control"), Some("public, max-age=10"));
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let doc: mcpgate_guard::mcp::PolicyDocument = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(doc.resource, NOTES);
    assert_eq!(doc.scopes_supported, ["notes.read", "notes.write"]);
    assert_eq!(doc.unmapped_tools, mcpgate_guard::mcp::Unmapped::Allow);
    let p = mcpgate_guard::mcp::ToolPolicy::new(&doc);
    assert_eq!(p.decide("get_note", ["notes.write"]), Ok(()));
    assert!(p.decide("create_note", ["notes.read"]).is_err());

    // A conditional request for an unchanged policy is answered 304 without a body.
    let etag = r.header("etag").unwrap().to_owned();
    let q = format!(
        "/resource-policy?resource={}",
        NOTES.replace(':', "%3A").replace('/', "%2F")
    );
    let same = h.request(Method::GET, &q, &[("if-none-match", &etag)], b"");
    assert_eq!(same.status, 304);
    assert!(same.body.is_empty());

    // Changing a scope's tools changes the policy and its ETag.
    let rs_id = rs["id"].as_str().unwrap();
    let s = ok(
        &h,
        Method::PATCH,
        &format!("/admin/v1/resource-servers/{rs_id}/scopes/notes.read"),
        Some(json!({ "tools": ["list_notes"] })),
    );
    assert_eq!(s["tools"], json!(["list_notes"]));
    let changed = h.request(Method::GET, &q, &[("if-none-match", &etag)], b"");
    assert_eq!(changed.status, 200);
    assert_ne!(changed.header("etag"), Some(etag.as_str()));
    let doc: mcpgate_guard::mcp::PolicyDocument = serde_json::from_slice(&changed.body).unwrap();
    let p = mcpgate_guard::mcp::ToolPolicy::new(&doc);
    assert_eq!(
        p.decide("get_note", ["notes.write"]),
        Ok(()),
        "unmapped now, and allowed"
    );
    ok(
        &h,
        Method::PATCH,
        &format!("/admin/v1/resource-servers/{rs_id}"),
        Some(json!({ "unmapped_tools": "deny" })),
    );
    let doc: mcpgate_guard::mcp::PolicyDocument =
        serde_json::from_slice(&policy(&h, NOTES).body).unwrap();
    assert_eq!(
        mcpgate_guard::mcp::ToolPolicy::new(&doc).decide("get_note", ["notes.write"]),
        Err(mcpgate_guard::mcp::ToolDenied::Unmapped)
    );
}

#[test]
fn bad_tool_patterns_and_policy_lookups_are_refused_with_the_field_named() {
    let h = Harness::new();
    for (tools, field) in [
        (json!(["a b"]), "scopes[0].tools[0]"),
        (json!(["ok", "*x*"]), "scopes[0].tools[1]"),
        (json!([""]), "scopes[0].tools[0]"),
    ] {
        let r = h.admin(
            Method::POST,
            "/admin/v1/resource-servers",
            Some(json!({ "identifier": NOTES, "name": "N", "scopes": [{ "name": "s", "tools": tools }] })),
        );
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
        assert!(
            String::from_utf8_lossy(&r.body).contains(field),
            "{field}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    let r = h.admin(
        Method::POST,
        "/admin/v1/resource-servers",
        Some(json!({ "identifier": NOTES, "name": "N", "unmapped_tools": "maybe" })),
    );
    assert_eq!(r.status, 400);
    assert!(String::from_utf8_lossy(&r.body).contains("unmapped_tools"));
    assert_eq!(policy(&h, "https://nowhere.example.com/mcp").status, 404);
    assert_eq!(h.get("/resource-policy").status, 400);
    assert_eq!(h.get("/resource-policy?resource=x&resource=y").status, 400);
    assert_eq!(
        h.get("/resource-policy?resource=javascript:alert(1)")
            .status,
        400
    );
}
