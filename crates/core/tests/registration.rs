//! MCP client registration: RFC 7591/7592 dynamic registration and Client ID Metadata
//! Documents, with the per-server policy for self-registered clients.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use http::Method;
use serde_json::{json, Value};

fn register(h: &Harness, body: Value) -> Resp {
    h.request(
        Method::POST,
        "/register",
        &[("content-type", "application/json")],
        body.to_string().as_bytes(),
    )
}

fn public_registration() -> Value {
    json!({
        "client_name": "Some IDE",
        "redirect_uris": [CB],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "application_type": "native",
        "software_id": "ide", "software_version": "1.2.3",
        "contacts": ["dev@ide.example"],
        "logo_uri": "https://ide.example/logo.png"
    })
}

/// Alice holds notes.read; self-registered clients may get anything on NOTES (default policy).
fn flow(h: &Harness, client_id: &str, basic: Option<(&str, &str)>) -> Value {
    let r = h.authorize(
        &mut Browser::default(),
        &authorize_query(client_id, Some("notes.read"), NOTES, "s"),
        "alice",
        PASSWORD,
    );
    assert_eq!(r.status, 303, "{}", String::from_utf8_lossy(&r.body));
    let code =
        param(&location_params(&r), "code").unwrap_or_else(|| panic!("{:?}", location_params(&r)));
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CB),
        ("code_verifier", VERIFIER),
    ];
    if basic.is_none() {
        form.push(("client_id", client_id));
    }
    let t = h.token(&form, basic);
    assert_eq!(t.status, 200, "{:?}", t.json());
    t.json()
}

mod dynamic_registration {
    use super::*;

    #[test]
    fn a_public_client_registers_and_completes_the_code_flow() {
        let h = Harness::new();
        h.fixture();
        let r = register(&h, public_registration());
        assert_eq!(r.status, 201, "{:?}", r.json());
        assert_eq!(r.header("cache-control"), Some("no-store"));
        let c = r.json();
        let id = c["client_id"].as_str().unwrap();
        assert!(id.starts_with("dcr_"));
        assert!(c.get("client_secret").is_none());
        assert!(c["client_id_issued_at"].as_i64().unwrap() > 0);
        assert!(c["registration_access_token"].as_str().unwrap().len() >= 43);
        assert_eq!(
            c["registration_client_uri"],
            format!("{}/register/{id}", h.config.issuer)
        );
        assert_eq!(c["client_name"], "Some IDE");
        assert_eq!(c["software_version"], "1.2.3");
        let t = flow(&h, id, None);
        assert_eq!(t["scope"], "notes.read");
        assert!(t["refresh_token"].is_string());
        let v = verify_token(&h, t["access_token"].as_str().unwrap(), NOTES);
        assert_eq!(v.claims.client_id, id);
    }

    #[test]
    fn a_confidential_client_gets_a_secret_and_authenticates_with_it() {
        let h = Harness::new();
        h.fixture();
        let mut body = public_registration();
        body["token_endpoint_auth_method"] = json!("client_secret_basic");
        let c = register(&h, body).json();
        let secret = c["client_secret"].as_str().unwrap();
        assert_eq!(c["client_secret_expires_at"], 0);
        let id = c["client_id"].as_str().unwrap();
        flow(&h, id, Some((id, secret)));
    }

    #[test]
    fn bad_redirect_uris_are_invalid_redirect_uri_with_a_description() {
        let h = Harness::new();
        h.fixture();
        for (uris, app) in [
            (json!(["https://ide.example/cb#frag"]), "web"),
            (json!(["javascript:alert(1)"]), "native"),
            (json!(["data:text/html,hi"]), "native"),
            (json!(["http://ide.example/cb"]), "web"),
            (json!(["https://*.ide.example/cb"]), "web"),
            (json!(["com.ide.app:/cb"]), "web"),
            (json!(["myapp:/cb"]), "native"),
            (json!([]), "native"),
        ] {
            let mut body = public_registration();
            body["redirect_uris"] = uris.clone();
            body["application_type"] = json!(app);
            let r = register(&h, body);
            assert_eq!(r.status, 400, "{uris}");
            assert_eq!(r.json()["error"], "invalid_redirect_uri", "{uris}");
            assert!(!r.json()["error_description"].as_str().unwrap().is_empty());
        }
        let mut ok = public_registration();
        ok["redirect_uris"] = json!([
            "com.ide.app:/oauth2redirect",
            "http://[::1]/cb",
            "http://localhost:1234/cb"
        ]);
        assert_eq!(register(&h, ok).status, 201);
    }

    #[test]
    fn bad_metadata_is_invalid_client_metadata() {
        let h = Harness::new();
        h.fixture();
        for (k, v) in [
            ("grant_types", json!(["client_credentials"])),
            ("grant_types", json!(["refresh_token"])),
            ("response_types", json!(["token"])),
            ("token_endpoint_auth_method", json!("private_key_jwt")),
            ("logo_uri", json!("http://ide.example/logo.png")),
            ("application_type", json!("desktop")),
            ("client_name", json!("x".repeat(300))),
        ] {
            let mut body = public_registration();
            body[k] = v.clone();
            let r = register(&h, body);
            assert_eq!(r.json()["error"], "invalid_client_metadata", "{k}={v}");
        }
        let r = h.request(
            Method::POST,
            "/register",
            &[("content-type", "application/json")],
            b"{nope",
        );
        assert_eq!(r.json()["error"], "invalid_client_metadata");
    }

    #[test]
    fn rfc7592_read_update_delete_with_the_registration_access_token() {
        let h = Harness::new();
        h.fixture();
        let c = register(&h, public_registration()).json();
        let id = c["client_id"].as_str().unwrap();
        let path = format!("/register/{id}");
        let auth = format!(
            "Bearer {}",
            c["registration_access_token"].as_str().unwrap()
        );
        let read = h.request(Method::GET, &path, &[("authorization", &auth)], b"");
        assert_eq!(read.status, 200);
        assert_eq!(read.json()["client_name"], "Some IDE");
        assert_eq!(
            h.request(
                Method::GET,
                &path,
                &[("authorization", "Bearer wrong")],
                b""
            )
            .status,
            401
        );
        assert_eq!(h.request(Method::GET, &path, &[], b"").status, 401);
        let mut update = public_registration();
        update["client_id"] = json!(id);
        update["client_name"] = json!("Renamed IDE");
        let r = h.request(
            Method::PUT,
            &path,
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            update.to_string().as_bytes(),
        );
        assert_eq!(r.status, 200, "{:?}", r.json());
        assert_eq!(r.json()["client_name"], "Renamed IDE");
        let mut no_id = public_registration();
        no_id["client_name"] = json!("x");
        let r = h.request(
            Method::PUT,
            &path,
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            no_id.to_string().as_bytes(),
        );
        assert_eq!(r.json()["error"], "invalid_client_metadata");
        let t = flow(&h, id, None);
        assert_eq!(
            h.request(Method::DELETE, &path, &[("authorization", &auth)], b"")
                .status,
            204
        );
        assert_eq!(
            h.request(Method::GET, &path, &[("authorization", &auth)], b"")
                .status,
            401
        );
        let refresh = h.token(
            &[
                ("grant_type", "refresh_token"),
                ("client_id", id),
                ("refresh_token", t["refresh_token"].as_str().unwrap()),
            ],
            None,
        );
        assert_eq!(refresh.status, 401, "the client is gone");
    }

    #[test]
    fn registrations_are_rate_limited_per_source() {
        let h = Harness::with_config(config_with(
            "https://auth.example.com",
            &[("MCPGATE_REGISTRATION_PER_SOURCE_PER_HOUR", "2")],
        ));
        h.fixture();
        let reg = |ip: &str| {
            h.request(
                Method::POST,
                "/register",
                &[
                    ("content-type", "application/json"),
                    ("cf-connecting-ip", ip),
                ],
                public_registration().to_string().as_bytes(),
            )
        };
        assert_eq!(reg("198.51.100.1").status, 201);
        assert_eq!(reg("198.51.100.1").status, 201);
        let limited = reg("198.51.100.1");
        assert_eq!(limited.status, 429);
        assert_eq!(limited.json()["error"], "temporarily_unavailable");
        assert!(limited.header("retry-after").is_some());
        assert_eq!(
            reg("198.51.100.2").status,
            201,
            "another source is unaffected"
        );
        h.advance(3600);
        assert_eq!(reg("198.51.100.1").status, 201, "the window passes");
    }

    #[test]
    fn parallel_registrations_past_the_limit_store_exactly_the_limit_and_nothing_more() {
        let h = Harness::with_config(config_with(
            "https://auth.example.com",
            &[("MCPGATE_REGISTRATION_PER_SOURCE_PER_HOUR", "3")],
        ));
        h.fixture();
        let count = |sql: &'static str| {
            h.store.db.inspect(mcpgate_core::stmt!(sql))[0]["n"]
                .as_i64()
                .unwrap()
        };
        let reqs = (0..10)
            .map(|_| {
                let mut r = http::Request::new(public_registration().to_string().into_bytes());
                *r.method_mut() = Method::POST;
                *r.uri_mut() = "/register".parse().unwrap();
                r.headers_mut()
                    .insert("content-type", "application/json".parse().unwrap());
                r.headers_mut()
                    .insert("cf-connecting-ip", "198.51.100.7".parse().unwrap());
                r
            })
            .collect();
        let statuses: Vec<u16> = h.all_at_once(reqs).iter().map(|r| r.status).collect();
        assert_eq!(
            statuses.iter().filter(|s| **s == 201).count(),
            3,
            "{statuses:?}"
        );
        assert_eq!(
            statuses.iter().filter(|s| **s == 429).count(),
            7,
            "{statuses:?}"
        );
        assert_eq!(
            count("SELECT count(*) AS n FROM clients WHERE kind = 'dynamic'"),
            3
        );
        assert_eq!(
            count("SELECT count(*) AS n FROM audit_log WHERE action = 'client.register'"),
            3,
            "a refused registration leaves no audit record"
        );
    }

    #[test]
    fn registrations_are_rate_limited_globally() {
        let h = Harness::with_config(config_with(
            "https://auth.example.com",
            &[("MCPGATE_REGISTRATION_GLOBAL_PER_HOUR", "2")],
        ));
        h.fixture();
        for (i, expect) in [(1, 201), (2, 201), (3, 429)] {
            let r = h.request(
                Method::POST,
                "/register",
                &[
                    ("content-type", "application/json"),
                    ("cf-connecting-ip", &format!("203.0.113.{i}")),
                ],
                public_registration().to_string().as_bytes(),
            );
            assert_eq!(r.status, expect);
        }
    }

    #[test]
    fn an_initial_access_token_can_be_required() {
        let h = Harness::with_config(config_with(
            "https://auth.example.com",
            &[("MCPGATE_REGISTRATION_TOKEN", "let-me-register-0123456789")],
        ));
        h.fixture();
        assert_eq!(register(&h, public_registration()).status, 401);
        let r = h.request(
            Method::POST,
            "/register",
            &[
                ("content-type", "application/json"),
                ("authorization", "Bearer let-me-register-0123456789"),
            ],
            public_registration().to_string().as_bytes(),
        );
        assert_eq!(r.status, 201);
    }

    #[test]
    fn a_resource_server_can_refuse_self_registered_clients() {
        let h = Harness::new();
        let f = h.fixture();
        h.ok(
            Method::PATCH,
            &format!("/admin/v1/resource-servers/{}", f.notes_rs),
            Some(json!({ "allow_self_registered": false })),
        );
        let c = register(&h, public_registration()).json();
        let r = h.authorize(
            &mut Browser::default(),
            &authorize_query(
                c["client_id"].as_str().unwrap(),
                Some("notes.read"),
                NOTES,
                "s",
            ),
            "alice",
            PASSWORD,
        );
        // Not signed in yet, and nobody verified this client's redirect URI: the refusal is
        // shown on mcpgate's page, not redirected.
        assert_refused_on_our_page(&r, "invalid_target");
    }

    #[test]
    fn a_client_registered_while_only_one_server_allowed_it_cannot_reach_another() {
        let h = Harness::new();
        let f = h.fixture();
        // Only FILES accepts self-registered clients at registration time.
        h.ok(
            Method::PATCH,
            &format!("/admin/v1/resource-servers/{}", f.notes_rs),
            Some(json!({ "allow_self_registered": false })),
        );
        let c = register(&h, public_registration()).json();
        h.ok(
            Method::PATCH,
            &format!("/admin/v1/resource-servers/{}", f.notes_rs),
            Some(json!({ "allow_self_registered": true })),
        );
        let r = h.authorize(
            &mut Browser::default(),
            &authorize_query(
                c["client_id"].as_str().unwrap(),
                Some("notes.read"),
                NOTES,
                "s",
            ),
            "alice",
            PASSWORD,
        );
        // Not signed in yet, and nobody verified this client's redirect URI: the refusal is
        // shown on mcpgate's page, not redirected.
        assert_refused_on_our_page(&r, "invalid_target");
    }

    #[test]
    fn registration_writes_the_same_rows_however_many_servers_are_open() {
        let h = Harness::new();
        h.fixture();
        let writes = |h: &Harness| {
            let mark = h.store.db.log.borrow().len();
            let c = register(h, public_registration()).json();
            (h.store.db.writes_since(mark).len(), c)
        };
        let (few, _) = writes(&h);
        for i in 0..40 {
            h.ok(
                Method::POST,
                "/admin/v1/resource-servers",
                Some(json!({ "identifier": format!("https://mcp{i}.example.com/mcp"), "name": format!("S{i}"),
                             "scopes": [{ "name": "s.read" }] })),
            );
        }
        h.advance(1);
        let (many, c) = writes(&h);
        assert_eq!(few, many, "one row per open server would grow with them");
        let id = c["client_id"].as_str().unwrap();
        let listed = h
            .store
            .db
            .inspect(mcpgate_core::directory::clients::restriction_stmt(id));
        assert!(listed.is_empty(), "{listed:?}");
        // Yet it reaches every server open when it registered, the last one created included.
        let r = h.authorize(
            &mut Browser::default(),
            &authorize_query(id, Some("s.read"), "https://mcp39.example.com/mcp", "s"),
            "alice",
            PASSWORD,
        );
        assert_ne!(
            param(&location_params(&r), "error").as_deref(),
            Some("invalid_target")
        );
        let admin = h.ok(Method::GET, &format!("/admin/v1/clients/{id}"), None);
        assert_eq!(
            admin["resources"].as_array().map(Vec::len),
            Some(42),
            "{admin}"
        );
    }

    #[test]
    fn a_server_closed_and_reopened_does_not_take_back_clients_registered_before() {
        let h = Harness::new();
        let f = h.fixture();
        let c = register(&h, public_registration()).json();
        let id = c["client_id"].as_str().unwrap();
        assert_eq!(flow(&h, id, None)["token_type"], "Bearer");
        for open in [false, true] {
            h.advance(60);
            h.ok(
                Method::PATCH,
                &format!("/admin/v1/resource-servers/{}", f.notes_rs),
                Some(json!({ "allow_self_registered": open })),
            );
        }
        h.advance(60);
        let r = h.authorize(
            &mut Browser::default(),
            &authorize_query(id, Some("notes.read"), NOTES, "s"),
            "alice",
            PASSWORD,
        );
        assert_refused_on_our_page(&r, "invalid_target");
        // A client registered after the reopening gets in.
        let later = register(&h, public_registration()).json();
        assert_eq!(
            flow(&h, later["client_id"].as_str().unwrap(), None)["token_type"],
            "Bearer"
        );
    }

    #[test]
    fn the_server_cap_bounds_what_a_self_registered_client_gets() {
        let h = Harness::new();
        let f = h.fixture();
        h.ok(
            Method::PUT,
            &format!("/admin/v1/users/{}/roles/{}", f.alice, f.admin_role),
            None,
        );
        h.ok(
            Method::PATCH,
            &format!("/admin/v1/resource-servers/{}", f.notes_rs),
            Some(json!({ "self_registered_max_scopes": ["notes.read"] })),
        );
        let c = register(&h, public_registration()).json();
        let id = c["client_id"].as_str().unwrap();
        let r = h.authorize(
            &mut Browser::default(),
            &authorize_query(id, Some("notes.read notes.delete"), NOTES, "s"),
            "alice",
            PASSWORD,
        );
        let code = param(&location_params(&r), "code").unwrap();
        let t = h.token(
            &[
                ("grant_type", "authorization_code"),
                ("client_id", id),
                ("code", &code),
                ("redirect_uri", CB),
                ("code_verifier", VERIFIER),
            ],
            None,
        );
        assert_eq!(t.json()["scope"], "notes.read");
    }

    #[test]
    fn admins_see_assign_roles_to_and_disable_registered_clients() {
        let h = Harness::new();
        let f = h.fixture();
        let c = register(&h, public_registration()).json();
        let id = c["client_id"].as_str().unwrap();
        let list = h.ok(Method::GET, "/admin/v1/clients?kind=dynamic", None);
        assert_eq!(list["items"][0]["client_id"], id);
        h.ok(
            Method::PUT,
            &format!("/admin/v1/clients/{id}/roles/{}", f.reader),
            None,
        );
        h.ok(
            Method::PATCH,
            &format!("/admin/v1/clients/{id}"),
            Some(json!({ "status": "disabled" })),
        );
        let r = h.get(&format!(
            "/authorize?{}",
            authorize_query(id, Some("notes.read"), NOTES, "s")
        ));
        assert_eq!(r.status, 400, "a disabled client gets the error page");
    }

    #[test]
    fn never_used_registrations_are_cleaned_up_by_the_scheduled_task() {
        let h = Harness::new();
        h.fixture();
        let unused = register(&h, public_registration()).json();
        let used = register(&h, public_registration()).json();
        flow(&h, used["client_id"].as_str().unwrap(), None);
        h.advance(31 * 86_400);
        let report = mcpgate_core::testing::block_on(
            h.service()
                .scheduled(h.now.get(), &mut mcpgate_core::testing::TestRng::new(1)),
        )
        .unwrap();
        assert!(
            report.contains("deleted 1 never-used registrations"),
            "{report}"
        );
        let all = h.ok(Method::GET, "/admin/v1/clients?kind=dynamic", None);
        let ids: Vec<&str> = all["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["client_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [used["client_id"].as_str().unwrap()]);
        assert_ne!(ids[0], unused["client_id"].as_str().unwrap());
    }

    #[test]
    fn metadata_advertises_registration_and_metadata_documents() {
        let h = Harness::new();
        let m = h.get("/.well-known/oauth-authorization-server").json();
        assert_eq!(
            m["registration_endpoint"],
            "https://auth.example.com/register"
        );
        assert_eq!(m["client_id_metadata_document_supported"], true);
        let closed = Harness::with_config(config_with(
            "https://auth.example.com",
            &[("MCPGATE_REGISTRATION_OPEN", "false")],
        ));
        assert!(closed
            .get("/.well-known/oauth-authorization-server")
            .json()
            .get("registration_endpoint")
            .is_none());
        assert_eq!(register(&closed, public_registration()).status, 403);
    }
}

mod metadata_documents {
    use super::*;

    const DOC: &str = "https://ide.example.com/oauth/client.json";

    fn publish(h: &Harness, url: &str, doc: Value, cache_control: Option<&str>) {
        h.store.web.borrow_mut().insert(
            url.to_owned(),
            (
                200,
                cache_control.map(str::to_owned),
                doc.to_string().into_bytes(),
            ),
        );
    }

    fn doc() -> Value {
        json!({ "client_id": DOC, "client_name": "Doc IDE", "redirect_uris": [CB], "grant_types": ["authorization_code", "refresh_token"], "token_endpoint_auth_method": "none" })
    }

    #[test]
    fn an_https_client_id_is_resolved_and_completes_the_flow() {
        let h = Harness::new();
        h.fixture();
        publish(&h, DOC, doc(), Some("max-age=600"));
        let t = flow(&h, DOC, None);
        assert!(t["refresh_token"].is_string());
        assert_eq!(
            verify_token(&h, t["access_token"].as_str().unwrap(), NOTES)
                .claims
                .client_id,
            DOC
        );
        let c = h.ok(
            Method::GET,
            &format!(
                "/admin/v1/clients/{}",
                form_urlencoded::byte_serialize(DOC.as_bytes()).collect::<String>()
            ),
            None,
        );
        assert_eq!(c["kind"], "metadata");
        assert_eq!(c["name"], "Doc IDE");
    }

    #[test]
    fn the_consent_page_names_the_redirect_host_and_warns_for_localhost() {
        let h = Harness::new();
        h.fixture();
        publish(&h, DOC, doc(), None);
        let mut b = Browser::default();
        let r = h.authorize(
            &mut b,
            &authorize_query(DOC, Some("notes.read"), NOTES, "s"),
            "alice",
            "wrong",
        );
        assert_eq!(r.status, 401);
        let q = authorize_query(DOC, Some("notes.read"), NOTES, "s");
        let consent =
            String::from_utf8_lossy(&h.sign_in(&mut b, &q, "alice", PASSWORD).body).to_string();
        assert!(consent.contains("<strong>127.0.0.1</strong>"), "{consent}");
        assert!(consent.contains("on this device only"));
        assert!(consent.contains("registered itself"));
        assert!(
            consent.contains("Read notes"),
            "each scope is shown with its description"
        );
    }

    #[test]
    fn the_document_is_cached_within_its_max_age() {
        let h = Harness::new();
        h.fixture();
        publish(&h, DOC, doc(), Some("max-age=600"));
        let q = authorize_query(DOC, Some("notes.read"), NOTES, "s");
        h.get(&format!("/authorize?{q}"));
        h.get(&format!("/authorize?{q}"));
        assert_eq!(h.store.fetches.get(), 1);
        h.advance(601);
        h.get(&format!("/authorize?{q}"));
        assert_eq!(h.store.fetches.get(), 2);
    }

    #[test]
    fn a_document_naming_another_client_id_is_refused_with_a_page() {
        let h = Harness::new();
        h.fixture();
        let mut d = doc();
        d["client_id"] = json!("https://other.example.com/client.json");
        publish(&h, DOC, d, None);
        let r = h.get(&format!(
            "/authorize?{}",
            authorize_query(DOC, Some("notes.read"), NOTES, "s")
        ));
        assert_eq!(r.status, 400);
        assert!(r.header("location").is_none());
        assert!(String::from_utf8_lossy(&r.body).contains("does not match"));
    }

    #[test]
    fn an_unlisted_redirect_uri_is_refused_with_a_page() {
        let h = Harness::new();
        h.fixture();
        let mut d = doc();
        d["redirect_uris"] = json!(["https://ide.example.com/cb"]);
        publish(&h, DOC, d, None);
        let r = h.get(&format!(
            "/authorize?{}",
            authorize_query(DOC, Some("notes.read"), NOTES, "s")
        ));
        assert_eq!(r.status, 400);
        assert!(r.header("location").is_none());
    }

    #[test]
    fn private_hosts_redirects_and_oversized_documents_are_refused() {
        let h = Harness::new();
        h.fixture();
        for url in [
            "https://10.0.0.1/c.json",
            "https://localhost/c.json",
            "http://ide.example.com/c.json",
        ] {
            let r = h.get(&format!(
                "/authorize?{}",
                authorize_query(url, Some("notes.read"), NOTES, "s")
            ));
            assert_eq!(r.status, 400, "{url}");
        }
        assert_eq!(h.store.fetches.get(), 0, "never fetched");
        h.store
            .web
            .borrow_mut()
            .insert(DOC.into(), (302, None, vec![]));
        assert_eq!(
            h.get(&format!(
                "/authorize?{}",
                authorize_query(DOC, Some("notes.read"), NOTES, "s")
            ))
            .status,
            400
        );
        // The failure is remembered for a minute, then the document is fetched again.
        h.advance(61);
        h.store
            .web
            .borrow_mut()
            .insert(DOC.into(), (200, None, vec![b' '; 6000]));
        let fetches = h.store.fetches.get();
        let r = h.get(&format!(
            "/authorize?{}",
            authorize_query(DOC, Some("notes.read"), NOTES, "s")
        ));
        assert_eq!(r.status, 400);
        assert_eq!(h.store.fetches.get(), fetches + 1);
        let page = String::from_utf8_lossy(&r.body);
        assert!(page.contains("could not be retrieved") && !page.contains("too large"));
    }

    #[test]
    fn domain_deny_lists_apply() {
        let h = Harness::with_config(config_with(
            "https://auth.example.com",
            &[("MCPGATE_CLIENT_DOMAINS_DENY", "ide.example.com")],
        ));
        h.fixture();
        publish(&h, DOC, doc(), None);
        assert_eq!(
            h.get(&format!(
                "/authorize?{}",
                authorize_query(DOC, Some("notes.read"), NOTES, "s")
            ))
            .status,
            400
        );
    }

    #[test]
    fn an_admin_disabled_document_client_stays_disabled_after_a_refetch() {
        let h = Harness::new();
        h.fixture();
        publish(&h, DOC, doc(), Some("no-store"));
        flow(&h, DOC, None);
        let enc: String = form_urlencoded::byte_serialize(DOC.as_bytes()).collect();
        h.ok(
            Method::PATCH,
            &format!("/admin/v1/clients/{enc}"),
            Some(json!({ "status": "disabled" })),
        );
        let r = h.get(&format!(
            "/authorize?{}",
            authorize_query(DOC, Some("notes.read"), NOTES, "s")
        ));
        assert_eq!(r.status, 400);
        assert!(
            h.store.fetches.get() >= 2,
            "refetched (no-store) yet still disabled"
        );
    }
}
