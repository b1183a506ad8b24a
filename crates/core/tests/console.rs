//! The admin console's client: a person signs in to the console with their own admin scopes
//! and no more; the built-in client is created once and then left as the admins keep it; its
//! redirect URI is exact even on loopback; it does not close the bootstrap.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use http::Method;
use serde_json::json;

const CONSOLE: &str = "app_mcpgate_console";

/// An authorization request of the console's, with `redirect_uri` as given.
fn console_query(h: &Harness, redirect_uri: &str) -> String {
    let resource = format!("{}/admin/v1", h.config.issuer);
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", CONSOLE),
            ("redirect_uri", redirect_uri),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
            ("resource", resource.as_str()),
            ("state", "s"),
            ("scope", "admin.read admin.write"),
        ])
        .finish()
}

/// A user with a password and a role holding `scopes` of the admin API.
fn admin_person(h: &Harness, name: &str, scopes: &[&str]) -> (String, String) {
    let resource = format!("{}/admin/v1", h.config.issuer);
    let refs: Vec<_> = scopes
        .iter()
        .map(|s| json!({ "resource": resource, "scope": s }))
        .collect();
    let role = h.ok(
        Method::POST,
        "/admin/v1/roles",
        Some(json!({ "name": format!("{name}-role"), "scopes": refs })),
    );
    let user = h.ok(
        Method::POST,
        "/admin/v1/users",
        Some(json!({ "username": name, "password": PASSWORD })),
    );
    let (uid, rid) = (user["id"].as_str().unwrap(), role["id"].as_str().unwrap());
    h.ok(
        Method::PUT,
        &format!("/admin/v1/users/{uid}/roles/{rid}"),
        None,
    );
    (uid.to_owned(), name.to_owned())
}

fn console_token(h: &Harness, username: &str) -> serde_json::Value {
    let redirect = format!("{}/console", h.config.issuer);
    let mut b = Browser::default();
    let r = h.authorize(&mut b, &console_query(h, &redirect), username, PASSWORD);
    assert_eq!(r.status, 303, "{}", String::from_utf8_lossy(&r.body));
    let loc = r.header("location").unwrap().to_owned();
    assert!(loc.starts_with(&redirect), "{loc}");
    let code = param(&location_params(&r), "code").unwrap();
    let t = h.token(
        &[
            ("grant_type", "authorization_code"),
            ("client_id", CONSOLE),
            ("code", &code),
            ("redirect_uri", &redirect),
            ("code_verifier", VERIFIER),
        ],
        None,
    );
    assert_eq!(t.status, 200, "{}", String::from_utf8_lossy(&t.body));
    t.json()
}

#[test]
fn a_person_signs_in_to_the_console_with_their_own_admin_scopes_and_no_more() {
    let h = Harness::new();
    h.admin_access_token();
    admin_person(&h, "reader", &["admin.read"]);
    let t = console_token(&h, "reader");
    assert_eq!(
        t["scope"], "admin.read",
        "the console's ceiling is not the person's"
    );
    let access = t["access_token"].as_str().unwrap();
    let bearer = format!("Bearer {access}");
    let read = h.request(
        Method::GET,
        "/admin/v1/users",
        &[("authorization", &bearer)],
        b"",
    );
    assert_eq!(read.status, 200);
    let write = h.request(
        Method::POST,
        "/admin/v1/groups",
        &[
            ("authorization", &bearer),
            ("content-type", "application/json"),
        ],
        br#"{"name":"nope"}"#,
    );
    assert_eq!(write.status, 403);
    // Someone with no admin scope gets no console token at all.
    h.ok(
        Method::POST,
        "/admin/v1/users",
        Some(json!({ "username": "nobody", "password": PASSWORD })),
    );
    let redirect = format!("{}/console", h.config.issuer);
    let mut b = Browser::default();
    let r = h.authorize(&mut b, &console_query(&h, &redirect), "nobody", PASSWORD);
    let p = location_params(&r);
    assert_eq!(
        param(&p, "error").as_deref(),
        Some("invalid_scope"),
        "{p:?}"
    );
    // The public console client has no grant of its own.
    let cc = h.token(
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CONSOLE),
            ("resource", &format!("{}/admin/v1", h.config.issuer)),
        ],
        None,
    );
    assert_eq!(cc.status, 400, "{}", String::from_utf8_lossy(&cc.body));
    assert_eq!(cc.json()["error"], "unauthorized_client");
}

#[test]
fn the_console_client_is_created_once_then_kept_as_the_admins_keep_it() {
    let h = Harness::new();
    h.admin_access_token();
    let doc = h.get("/console");
    assert_eq!(doc.status, 200);
    // An admin removes its admin role and disables it: visits to /console change neither.
    h.ok(
        Method::DELETE,
        &format!("/admin/v1/clients/{CONSOLE}/roles/rol_mcpgate_admin"),
        None,
    );
    h.ok(
        Method::PATCH,
        &format!("/admin/v1/clients/{CONSOLE}"),
        Some(json!({ "status": "disabled", "reason": "no console here" })),
    );
    assert_eq!(h.get("/console").status, 200);
    let c = h.ok(Method::GET, &format!("/admin/v1/clients/{CONSOLE}"), None);
    assert_eq!(c["status"], "disabled");
    let roles = h.ok(
        Method::GET,
        &format!("/admin/v1/clients/{CONSOLE}/roles"),
        None,
    );
    assert!(roles["items"].as_array().unwrap().is_empty(), "{roles}");
    // It cannot be deleted (deleting would have the next visit make it again).
    let del = h.admin(
        Method::DELETE,
        &format!("/admin/v1/clients/{CONSOLE}"),
        None,
    );
    assert_eq!(del.status, 409);
    // Visits did not write: only the bootstrap created it.
    let audit = h.ok(
        Method::GET,
        &format!("/admin/v1/audit?target={CONSOLE}"),
        None,
    );
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        !actions.iter().any(|a| a.starts_with("console.client")),
        "{actions:?}"
    );
}

#[test]
fn a_deployment_bootstrapped_before_the_console_gets_its_client_at_the_first_visit() {
    let h = Harness::new();
    h.admin_access_token();
    // As before the console existed: no client.
    h.store.db.inspect(mcpgate_core::stmt!(
        "DELETE FROM clients WHERE id = ?1",
        CONSOLE
    ));
    let before = h.admin(Method::GET, &format!("/admin/v1/clients/{CONSOLE}"), None);
    assert_eq!(before.status, 404);
    assert_eq!(h.get("/console").status, 200);
    let c = h.ok(Method::GET, &format!("/admin/v1/clients/{CONSOLE}"), None);
    assert_eq!(c["client_type"], "public");
    assert_eq!(
        c["redirect_uris"],
        json!(["https://auth.example.com/console"])
    );
    assert_eq!(c["resources"], json!(["https://auth.example.com/admin/v1"]));
    assert_eq!(
        c["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    // A second visit writes nothing more.
    assert_eq!(h.get("/console").status, 200);
    let audit = h.ok(
        Method::GET,
        &format!("/admin/v1/audit?target={CONSOLE}"),
        None,
    );
    let creates = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "console.client.create")
        .count();
    assert_eq!(creates, 1);
}

#[test]
fn the_console_gains_the_new_issuers_redirect_uri_and_keeps_the_others() {
    let mut h = Harness::new();
    h.admin_access_token();
    // The operator moves the deployment to another issuer, same database.
    h.config = config_with("https://login.example.com", &[]);
    assert_eq!(h.get("/console").status, 200);
    let rows = h.store.db.inspect(mcpgate_core::stmt!(
        "SELECT redirect_uris FROM clients WHERE id = ?1",
        CONSOLE
    ));
    let uris: serde_json::Value =
        serde_json::from_str(rows[0]["redirect_uris"].as_str().unwrap()).unwrap();
    assert_eq!(
        uris,
        json!([
            "https://auth.example.com/console",
            "https://login.example.com/console"
        ])
    );
}

#[test]
fn the_consoles_redirect_uri_matches_exactly_even_on_loopback() {
    let h = Harness::with_config(config_with("http://127.0.0.1:8787", &[]));
    h.admin_access_token();
    admin_person(&h, "root", &["admin.write"]);
    // Another local port (a hostile local process) cannot receive the console's code, though
    // loopback redirect URIs of native applications match on any port.
    let mut b = Browser::default();
    let r = h.sign_in(
        &mut b,
        &console_query(&h, "http://127.0.0.1:9999/console"),
        "root",
        PASSWORD,
    );
    assert_refused_on_our_page(&r, "redirect URI is not registered");
    let t = console_token(&h, "root");
    assert_eq!(t["scope"], "admin.read admin.write");
}

#[test]
fn the_console_client_does_not_close_the_bootstrap() {
    let h = Harness::new();
    h.admin_access_token();
    let admin_client = h.admin_creds.borrow().clone().unwrap().0;
    h.ok(
        Method::DELETE,
        &format!("/admin/v1/applications/{admin_client}"),
        None,
    );
    let boot = format!("Bearer {ADMIN}");
    let r = h.request(
        Method::POST,
        "/admin/v1/bootstrap",
        &[("authorization", &boot)],
        b"",
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
}
