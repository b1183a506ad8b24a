//! Token service requirements (OAuth 2.1, RFC 7636, 8707, 8693, 9068, 9207, 9700), through
//! `Service::handle` with the in-memory store and a fixed clock. Each attack the issue lists
//! has a test named after it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use http::Method;
use mcpgate_core::testing::join;
use serde_json::json;

fn scopes_of(v: &mcpgate_guard::VerifiedToken) -> Vec<String> {
    v.claims.scopes().map(str::to_owned).collect()
}

mod client_credentials {
    use super::*;

    #[test]
    fn issues_an_rfc9068_token_with_the_clients_own_role_scopes() {
        let h = Harness::new();
        let f = h.fixture();
        let r = h.token(
            &[
                ("grant_type", "client_credentials"),
                ("resource", NOTES),
                ("scope", "notes.write notes.delete"),
            ],
            Some((&f.conf_app, &f.conf_secret)),
        );
        assert_eq!(r.status, 200, "{:?}", r.json());
        assert_eq!(r.header("cache-control"), Some("no-store"));
        let body = r.json();
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 600);
        assert_eq!(
            body["scope"], "notes.write",
            "unheld notes.delete is dropped, not an error"
        );
        assert!(body.get("refresh_token").is_none());
        let v = verify_token(&h, body["access_token"].as_str().unwrap(), NOTES);
        assert_eq!(v.claims.sub, f.conf_app);
        assert_eq!(v.claims.client_id, f.conf_app);
        assert!(v.claims.act.is_none(), "the subject is the client itself");
        assert_eq!(v.expires_at - v.issued_at, 600);
        let header =
            mcpgate_guard::ParsedToken::parse(body["access_token"].as_str().unwrap()).unwrap();
        assert!(!header.kid().is_empty());
    }

    #[test]
    fn a_warm_isolate_issues_a_client_credentials_token_in_one_d1_round_trip() {
        let h = Harness::new();
        let f = h.fixture();
        let cc = || {
            h.token(
                &[("grant_type", "client_credentials"), ("resource", NOTES)],
                Some((&f.conf_app, &f.conf_secret)),
            )
        };
        assert_eq!(cc().status, 200, "warms the key cache and records last use");
        let before = h.store.db.round_trips.get();
        assert_eq!(cc().status, 200);
        assert_eq!(h.store.db.round_trips.get() - before, 1);
    }

    #[test]
    fn without_a_scope_parameter_it_gets_everything_it_holds() {
        let h = Harness::new();
        let f = h.fixture();
        let r = h.token(
            &[("grant_type", "client_credentials"), ("resource", NOTES)],
            Some((&f.conf_app, &f.conf_secret)),
        );
        assert_eq!(r.json()["scope"], "notes.read notes.write");
    }

    #[test]
    fn agents_get_their_group_role_scopes_and_client_secret_post_works() {
        let h = Harness::new();
        let f = h.fixture();
        let r = h.token(
            &[
                ("grant_type", "client_credentials"),
                ("resource", NOTES),
                ("client_id", &f.agent),
                ("client_secret", &f.agent_secret),
            ],
            None,
        );
        assert_eq!(r.status, 200, "{:?}", r.json());
        assert_eq!(r.json()["scope"], "notes.read notes.write");
    }

    #[test]
    fn nothing_held_is_invalid_scope() {
        let h = Harness::new();
        let f = h.fixture();
        let r = h.token(
            &[
                ("grant_type", "client_credentials"),
                ("resource", NOTES),
                ("scope", "notes.delete"),
            ],
            Some((&f.conf_app, &f.conf_secret)),
        );
        assert_eq!(r.status, 400);
        assert_eq!(r.json()["error"], "invalid_scope");
    }

    #[test]
    fn wrong_secret_is_invalid_client_with_a_basic_challenge() {
        let h = Harness::new();
        let f = h.fixture();
        let r = h.token(
            &[("grant_type", "client_credentials"), ("resource", NOTES)],
            Some((&f.conf_app, "wrong")),
        );
        assert_eq!(r.status, 401);
        assert_eq!(r.json()["error"], "invalid_client");
        assert!(r.header("www-authenticate").unwrap().starts_with("Basic"));
        let post = h.token(
            &[
                ("grant_type", "client_credentials"),
                ("resource", NOTES),
                ("client_id", &f.conf_app),
                ("client_secret", "wrong"),
            ],
            None,
        );
        assert_eq!(post.status, 401);
        assert!(post.header("www-authenticate").is_none());
        let unknown = h.token(
            &[("grant_type", "client_credentials")],
            Some(("app_nobody", "x")),
        );
        assert_eq!(unknown.json()["error"], "invalid_client");
    }

    #[test]
    fn disabled_client_is_invalid_client() {
        let h = Harness::new();
        let f = h.fixture();
        h.ok(
            Method::PATCH,
            &format!("/admin/v1/clients/{}", f.conf_app),
            Some(json!({ "status": "disabled" })),
        );
        let r = h.token(
            &[("grant_type", "client_credentials"), ("resource", NOTES)],
            Some((&f.conf_app, &f.conf_secret)),
        );
        assert_eq!(r.status, 401);
        assert_eq!(r.json()["error"], "invalid_client");
    }

    #[test]
    fn unknown_or_unreachable_resource_is_invalid_target() {
        let h = Harness::new();
        let f = h.fixture();
        let unknown = h.token(
            &[
                ("grant_type", "client_credentials"),
                ("resource", "https://nowhere.example/mcp"),
            ],
            Some((&f.conf_app, &f.conf_secret)),
        );
        assert_eq!(unknown.json()["error"], "invalid_target");
        let no_roles_there = h.token(
            &[("grant_type", "client_credentials"), ("resource", FILES)],
            Some((&f.conf_app, &f.conf_secret)),
        );
        assert_eq!(no_roles_there.json()["error"], "invalid_target");
        let missing = h.token(
            &[("grant_type", "client_credentials")],
            Some((&f.conf_app, &f.conf_secret)),
        );
        assert_eq!(missing.json()["error"], "invalid_target");
    }

    #[test]
    fn a_client_restricted_to_one_server_cannot_get_tokens_for_another() {
        let h = Harness::new();
        let f = h.fixture();
        let files_role = h.ok(
            Method::POST,
            "/admin/v1/roles",
            Some(json!({ "name": "files", "scopes": [{ "resource": FILES, "scope": "files.read" }] })),
        )["id"]
            .as_str()
            .unwrap()
            .to_owned();
        h.ok(
            Method::PUT,
            &format!("/admin/v1/applications/{}/roles/{files_role}", f.conf_app),
            None,
        );
        h.ok(
            Method::PATCH,
            &format!("/admin/v1/applications/{}", f.conf_app),
            Some(json!({ "resources": [NOTES] })),
        );
        let r = h.token(
            &[("grant_type", "client_credentials"), ("resource", FILES)],
            Some((&f.conf_app, &f.conf_secret)),
        );
        assert_eq!(r.json()["error"], "invalid_target");
        // With one permitted server, the resource may be omitted.
        let r = h.token(
            &[("grant_type", "client_credentials")],
            Some((&f.conf_app, &f.conf_secret)),
        );
        assert_eq!(r.status, 200);
    }

    #[test]
    fn audience_is_an_alias_of_resource_and_conflicts_are_rejected() {
        let h = Harness::new();
        let f = h.fixture();
        let r = h.token(
            &[("grant_type", "client_credentials"), ("audience", NOTES)],
            Some((&f.conf_app, &f.conf_secret)),
        );
        assert_eq!(r.status, 200);
        let r = h.token(
            &[
                ("grant_type", "client_credentials"),
                ("audience", NOTES),
                ("resource", FILES),
            ],
            Some((&f.conf_app, &f.conf_secret)),
        );
        assert_eq!(r.json()["error"], "invalid_target");
    }

    #[test]
    fn public_clients_cannot_use_client_credentials() {
        let h = Harness::new();
        let f = h.fixture();
        let r = h.token(
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &f.public_app),
                ("resource", NOTES),
            ],
            None,
        );
        assert_eq!(r.json()["error"], "unauthorized_client");
    }
}

mod request_format {
    use super::*;

    #[test]
    fn duplicated_parameters_are_invalid_request() {
        let h = Harness::new();
        let f = h.fixture();
        let r = h.request(
            Method::POST,
            "/token",
            &[("content-type", "application/x-www-form-urlencoded")],
            format!("grant_type=client_credentials&grant_type=client_credentials&client_id={}&client_secret={}", f.conf_app, f.conf_secret).as_bytes(),
        );
        assert_eq!(r.status, 400);
        assert_eq!(r.json()["error"], "invalid_request");
    }

    #[test]
    fn non_form_bodies_are_invalid_request() {
        let h = Harness::new();
        let r = h.request(
            Method::POST,
            "/token",
            &[("content-type", "application/json")],
            br#"{"grant_type":"client_credentials"}"#,
        );
        assert_eq!(r.status, 400);
        assert_eq!(r.json()["error"], "invalid_request");
        assert_eq!(r.header("cache-control"), Some("no-store"));
    }

    #[test]
    fn oversized_bodies_are_refused() {
        let h = Harness::new();
        let body = format!(
            "grant_type=client_credentials&pad={}",
            "x".repeat(70 * 1024)
        );
        let r = h.request(
            Method::POST,
            "/token",
            &[("content-type", "application/x-www-form-urlencoded")],
            body.as_bytes(),
        );
        assert_eq!(r.status, 413);
    }

    #[test]
    fn unknown_grant_type_is_unsupported_grant_type() {
        let h = Harness::new();
        let f = h.fixture();
        let r = h.token(
            &[("grant_type", "password")],
            Some((&f.conf_app, &f.conf_secret)),
        );
        assert_eq!(r.json()["error"], "unsupported_grant_type");
    }

    #[test]
    fn two_client_authentication_methods_at_once_are_invalid_request() {
        let h = Harness::new();
        let f = h.fixture();
        let r = h.token(
            &[
                ("grant_type", "client_credentials"),
                ("client_secret", &f.conf_secret),
            ],
            Some((&f.conf_app, &f.conf_secret)),
        );
        assert_eq!(r.json()["error"], "invalid_request");
    }
}

mod authorization_code {
    use super::*;

    #[test]
    fn login_consent_and_redemption_yield_a_token_naming_user_and_client() {
        let h = Harness::new();
        let f = h.fixture();
        let mut b = Browser::default();
        let code = h.code_for(&mut b, &f.public_app, Some("notes.read notes.write"));
        let r = h.redeem(&f.public_app, &code);
        assert_eq!(r.status, 200, "{:?}", r.json());
        let body = r.json();
        assert_eq!(
            body["scope"], "notes.read",
            "notes.write is not held by alice: dropped"
        );
        assert!(body["refresh_token"].as_str().unwrap().len() >= 43);
        let v = verify_token(&h, body["access_token"].as_str().unwrap(), NOTES);
        assert_eq!(v.claims.sub, f.alice);
        assert_eq!(v.claims.client_id, f.public_app);
        assert_eq!(v.claims.act.as_ref().unwrap().sub, f.public_app);
    }

    #[test]
    fn pages_are_hardened_and_the_session_cookie_is_httponly_lax() {
        let h = Harness::new();
        let f = h.fixture();
        let mut b = Browser::default();
        let r = b.get(
            &h,
            &format!(
                "/authorize?{}",
                authorize_query(&f.public_app, Some("notes.read"), NOTES, "s")
            ),
        );
        assert_eq!(r.status, 200);
        let csp = r.header("content-security-policy").unwrap();
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(csp.contains("form-action 'self' http://127.0.0.1"), "{csp}");
        let body = String::from_utf8_lossy(&r.body).to_string();
        let csrf = hidden(&body, "csrf").unwrap();
        let cont = hidden(&body, "continue").unwrap();
        let r = b.post(
            &h,
            "/authorize/login",
            &[
                ("csrf", &csrf),
                ("continue", &cont),
                ("username", "alice"),
                ("password", PASSWORD),
            ],
        );
        assert_eq!(r.status, 303);
        let set = r
            .headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            set.contains("__Host-mcpgate-session="),
            "https issuer uses __Host- cookies: {set}"
        );
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.contains("Secure"));
    }

    #[test]
    fn login_without_the_csrf_token_is_refused() {
        let h = Harness::new();
        let f = h.fixture();
        let mut b = Browser::default();
        b.get(
            &h,
            &format!(
                "/authorize?{}",
                authorize_query(&f.public_app, None, NOTES, "s")
            ),
        );
        let q = authorize_query(&f.public_app, None, NOTES, "s");
        let r = b.post(
            &h,
            "/authorize/login",
            &[
                ("csrf", "forged-token-value-123456"),
                ("continue", &q),
                ("username", "alice"),
                ("password", PASSWORD),
            ],
        );
        assert_eq!(r.status, 403);
    }

    #[test]
    fn consent_is_remembered_per_user_client_and_resource() {
        let h = Harness::new();
        let f = h.fixture();
        let mut b = Browser::default();
        h.code_for(&mut b, &f.public_app, Some("notes.read"));
        // Same browser session, same request: no page at all, straight back with a code.
        let r = b.get(
            &h,
            &format!(
                "/authorize?{}",
                authorize_query(&f.public_app, Some("notes.read"), NOTES, "again")
            ),
        );
        assert_eq!(r.status, 303);
        assert!(param(&location_params(&r), "code").is_some());
    }

    #[test]
    fn missing_pkce_is_rejected_with_a_redirect() {
        let h = Harness::new();
        let f = h.fixture();
        let q = format!(
            "response_type=code&client_id={}&redirect_uri={}&resource={}&state=s",
            f.public_app, CB, NOTES
        );
        let r = h.get(&format!("/authorize?{q}"));
        assert_eq!(r.status, 303);
        let p = location_params(&r);
        assert_eq!(param(&p, "error").as_deref(), Some("invalid_request"));
        assert_eq!(param(&p, "state").as_deref(), Some("s"));
        assert_eq!(param(&p, "iss").as_deref(), Some(h.config.issuer.as_str()));
    }

    #[test]
    fn plain_pkce_is_rejected() {
        let h = Harness::new();
        let f = h.fixture();
        let q = authorize_query(&f.public_app, None, NOTES, "s").replace("S256", "plain");
        let r = h.get(&format!("/authorize?{q}"));
        assert_eq!(
            param(&location_params(&r), "error").as_deref(),
            Some("invalid_request")
        );
    }

    #[test]
    fn wrong_pkce_verifier_is_invalid_grant() {
        let h = Harness::new();
        let f = h.fixture();
        let code = h.code_for(&mut Browser::default(), &f.public_app, Some("notes.read"));
        let r = h.token(
            &[
                ("grant_type", "authorization_code"),
                ("client_id", &f.public_app),
                ("code", &code),
                ("redirect_uri", CB),
                (
                    "code_verifier",
                    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                ),
            ],
            None,
        );
        assert_eq!(r.json()["error"], "invalid_grant");
        let missing = h.token(
            &[
                ("grant_type", "authorization_code"),
                ("client_id", &f.public_app),
                ("code", &code),
                ("redirect_uri", CB),
            ],
            None,
        );
        assert_eq!(missing.json()["error"], "invalid_request");
    }

    #[test]
    fn unknown_client_and_unregistered_redirect_uri_render_a_page_and_never_redirect() {
        let h = Harness::new();
        let f = h.fixture();
        let r = h.get(&format!(
            "/authorize?{}",
            authorize_query("app_unknown", None, NOTES, "s")
        ));
        assert_eq!(r.status, 400);
        assert!(r.header("location").is_none());
        assert!(r.header("content-type").unwrap().starts_with("text/html"));
        let q = authorize_query(&f.public_app, None, NOTES, "s").replace("callback", "evil");
        let r = h.get(&format!("/authorize?{q}"));
        assert_eq!(r.status, 400);
        assert!(r.header("location").is_none());
    }

    #[test]
    fn rfc8252_loopback_redirect_matches_on_any_port() {
        let h = Harness::new();
        let f = h.fixture();
        let q = authorize_query(&f.public_app, None, NOTES, "s")
            .replace("127.0.0.1%2F", "127.0.0.1%3A49152%2F");
        let r = h.get(&format!("/authorize?{q}"));
        assert_eq!(r.status, 200, "login page, not an error");
    }

    #[test]
    fn code_replay_is_rejected_and_revokes_what_the_code_issued() {
        let h = Harness::new();
        let f = h.fixture();
        let code = h.code_for(&mut Browser::default(), &f.public_app, Some("notes.read"));
        let first = h.redeem(&f.public_app, &code).json();
        let again = h.redeem(&f.public_app, &code);
        assert_eq!(again.json()["error"], "invalid_grant");
        let refresh = h.token(
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &f.public_app),
                ("refresh_token", first["refresh_token"].as_str().unwrap()),
            ],
            None,
        );
        assert_eq!(
            refresh.json()["error"],
            "invalid_grant",
            "the family issued by the replayed code is revoked"
        );
        let rows = mcpgate_core::testing::block_on(mcpgate_core::store::Database::query(
            &h.store,
            mcpgate_core::stmt!("SELECT * FROM revocations WHERE kind = 'family'"),
        ))
        .unwrap();
        assert_eq!(
            rows.len(),
            1,
            "the authorization it issued, and so its access token, is on the revocation list"
        );
        assert_eq!(
            h.token_at(
                "/introspect",
                &[("token", first["access_token"].as_str().unwrap())],
                Some((&f.public_app, "")),
            )
            .json()["active"],
            serde_json::Value::Null,
            "public clients cannot introspect"
        );
    }

    #[test]
    fn a_code_is_single_use_under_concurrent_redemption() {
        let h = Harness::new();
        let f = h.fixture();
        let code = h.code_for(&mut Browser::default(), &f.public_app, Some("notes.read"));
        let req = |_: ()| {
            let body = form_urlencoded::Serializer::new(String::new())
                .extend_pairs([
                    ("grant_type", "authorization_code"),
                    ("client_id", f.public_app.as_str()),
                    ("code", &code),
                    ("redirect_uri", CB),
                    ("code_verifier", VERIFIER),
                ])
                .finish();
            http::Request::builder()
                .method(Method::POST)
                .uri("/token")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body.into_bytes())
                .unwrap()
        };
        let svc = h.service();
        let (mut r1, mut r2) = (
            mcpgate_core::testing::TestRng::new(1),
            mcpgate_core::testing::TestRng::new(2),
        );
        let (a, b) = mcpgate_core::testing::block_on(join(
            svc.handle(req(()), T0, &mut r1),
            svc.handle(req(()), T0, &mut r2),
        ));
        let ok = [a.status().as_u16(), b.status().as_u16()];
        assert!(
            ok.contains(&200) && ok.contains(&400),
            "exactly one redemption succeeds: {ok:?}"
        );
    }

    #[test]
    fn a_code_redeemed_by_another_client_is_invalid_grant() {
        let h = Harness::new();
        let f = h.fixture();
        let code = h.code_for(&mut Browser::default(), &f.public_app, Some("notes.read"));
        let r = h.token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CB),
                ("code_verifier", VERIFIER),
            ],
            Some((&f.conf_app, &f.conf_secret)),
        );
        assert_eq!(r.json()["error"], "invalid_grant");
    }

    fn redeem_as(h: &Harness, code: &str, basic: (&str, &str)) -> Resp {
        h.token(
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", CB),
                ("code_verifier", VERIFIER),
            ],
            Some(basic),
        )
    }

    #[test]
    fn a_redemption_without_the_clients_secret_does_not_spend_the_code() {
        let h = Harness::new();
        let f = h.fixture();
        let app = f.conf_app_for_code(&h);
        let code = h.code_for(&mut Browser::default(), &app, Some("notes.read"));
        let wrong = redeem_as(&h, &code, (&app, "not-the-secret"));
        assert_eq!(wrong.status, 401);
        assert_eq!(wrong.json()["error"], "invalid_client");
        let stranger = h.redeem(&f.public_app, &code);
        assert_eq!(
            stranger.json()["error"],
            "invalid_grant",
            "another client's code"
        );
        let ok = redeem_as(&h, &code, (&app, &f.conf_secret));
        assert_eq!(ok.status, 200, "the code is still unspent: {:?}", ok.json());
    }

    #[test]
    fn an_intercepted_code_without_the_verifier_or_redirect_uri_cannot_spend_it() {
        let h = Harness::new();
        let f = h.fixture();
        let code = h.code_for(&mut Browser::default(), &f.public_app, Some("notes.read"));
        let attempt = |redirect: &str, verifier: &str| {
            h.token(
                &[
                    ("grant_type", "authorization_code"),
                    ("client_id", &f.public_app),
                    ("code", &code),
                    ("redirect_uri", redirect),
                    ("code_verifier", verifier),
                ],
                None,
            )
        };
        let guess = "a-wrong-verifier-of-a-valid-length-0123456789abcdef";
        let r = attempt(CB, guess);
        assert_eq!(r.json()["error"], "invalid_grant");
        assert_eq!(r.json()["error_description"], "PKCE verification failed");
        let r = attempt("http://127.0.0.1/elsewhere", VERIFIER);
        assert_eq!(r.json()["error"], "invalid_grant");
        let ok = h.redeem(&f.public_app, &code);
        assert_eq!(
            ok.status,
            200,
            "the legitimate client still redeems: {:?}",
            ok.json()
        );
    }

    #[test]
    fn a_tampered_code_is_unknown_and_spends_nothing() {
        let h = Harness::new();
        let f = h.fixture();
        let code = h.code_for(&mut Browser::default(), &f.public_app, Some("notes.read"));
        // Flip one character of the sealed body (keeping it valid base64url).
        let mut forged: Vec<char> = code.chars().collect();
        let i = forged.len() / 2;
        forged[i] = if forged[i] == 'A' { 'B' } else { 'A' };
        let forged: String = forged.into_iter().collect();
        let r = h.redeem(&f.public_app, &forged);
        assert_eq!(r.json()["error"], "invalid_grant");
        let unsealed = format!("{}~x", f.alice);
        assert_eq!(
            h.redeem(&f.public_app, &unsealed).json()["error"],
            "invalid_grant"
        );
        assert_eq!(h.redeem(&f.public_app, &code).status, 200);
    }

    #[test]
    fn a_code_is_sealed_so_authorize_writes_nothing_and_the_code_reveals_nothing() {
        let h = Harness::new();
        let f = h.fixture();
        let code = h.code_for(&mut Browser::default(), &f.public_app, Some("notes.read"));
        for inside in [f.alice.as_str(), NOTES, "notes.read", f.public_app.as_str()] {
            assert!(!code.contains(inside), "{inside} readable in the code");
        }
        let rows = || {
            h.store
                .db
                .inspect(mcpgate_core::stmt!("SELECT count(*) AS n FROM auth_codes"))[0]["n"]
                .clone()
        };
        assert_eq!(rows(), 0, "issuing the code wrote nothing");
        assert_eq!(h.redeem(&f.public_app, &code).status, 200);
        assert_eq!(rows(), 1, "redeeming it recorded it, for single use");
    }

    #[test]
    fn a_code_sealed_under_another_secret_is_unknown() {
        let h = Harness::new();
        let f = h.fixture();
        let other =
            mcpgate_core::store::codes::CodeKey::derive("another secret, 32 characters long!");
        let forged = other.seal(
            &mcpgate_core::store::codes::Sealed {
                c: f.public_app.clone(),
                u: f.alice.clone(),
                a: NOTES.into(),
                r: CB.into(),
                s: r#"["notes.read"]"#.into(),
                cc: CHALLENGE.into(),
                sh: String::new(),
                iat: h.now.get(),
                exp: h.now.get() + 60,
            },
            &mut mcpgate_core::testing::TestRng::new(7),
        );
        let r = h.redeem(&f.public_app, forged.expose());
        assert_eq!(r.json()["error"], "invalid_grant");
    }

    #[test]
    fn a_redemption_refused_after_its_family_was_written_leaves_no_family() {
        let h = Harness::new();
        let f = h.fixture();
        let code = h.code_for(&mut Browser::default(), &f.public_app, Some("notes.read"));
        // Every check the database makes passes; only the scope computation refuses.
        let role = format!("/admin/v1/users/{}/roles/{}", f.alice, f.reader);
        assert_eq!(h.admin(Method::DELETE, &role, None).status, 204);
        let r = h.redeem(&f.public_app, &code);
        assert_eq!(r.status, 400, "{:?}", r.json());
        let families = h.store.db.inspect(mcpgate_core::stmt!(
            "SELECT count(*) AS n FROM refresh_families WHERE user_id = ?1",
            f.alice.as_str()
        ));
        assert_eq!(
            families[0]["n"], 0,
            "the family was deleted before anything was issued"
        );
    }

    #[test]
    fn a_changed_redirect_uri_at_the_token_endpoint_is_invalid_grant() {
        let h = Harness::new();
        let f = h.fixture();
        let code = h.code_for(&mut Browser::default(), &f.public_app, Some("notes.read"));
        let r = h.token(
            &[
                ("grant_type", "authorization_code"),
                ("client_id", &f.public_app),
                ("code", &code),
                ("redirect_uri", "http://127.0.0.1/other"),
                ("code_verifier", VERIFIER),
            ],
            None,
        );
        assert_eq!(r.json()["error"], "invalid_grant");
    }

    #[test]
    fn a_code_dies_with_the_browser_session_that_authorized_it() {
        // /authorize may read a replica that has not seen the sign-out yet; the redemption
        // checks the session at the primary.
        let h = Harness::new();
        let f = h.fixture();
        let code = h.code_for(&mut Browser::default(), &f.public_app, Some("notes.read"));
        h.ok(
            Method::DELETE,
            &format!("/admin/v1/users/{}/sessions", f.alice),
            None,
        );
        let r = h.redeem(&f.public_app, &code);
        assert_eq!(r.status, 400, "{:?}", r.json());
        assert_eq!(r.json()["error"], "invalid_grant");
    }

    #[test]
    fn a_code_for_a_redirect_uri_removed_since_is_not_redeemed() {
        let h = Harness::new();
        let f = h.fixture();
        let code = h.code_for(&mut Browser::default(), &f.public_app, Some("notes.read"));
        h.ok(
            Method::PATCH,
            &format!("/admin/v1/applications/{}", f.public_app),
            Some(serde_json::json!({ "redirect_uris": ["http://127.0.0.1/elsewhere"] })),
        );
        let r = h.redeem(&f.public_app, &code);
        assert_eq!(r.json()["error"], "invalid_grant", "{:?}", r.json());
        let families = h.store.db.inspect(mcpgate_core::stmt!(
            "SELECT count(*) AS n FROM refresh_families WHERE user_id = ?1",
            f.alice.as_str()
        ));
        assert_eq!(families[0]["n"], 0, "nothing was left behind");
    }

    #[test]
    fn a_code_replayed_after_it_expired_still_revokes_what_it_issued() {
        let h = Harness::new();
        let f = h.fixture();
        let code = h.code_for(&mut Browser::default(), &f.public_app, Some("notes.read"));
        let first = h.redeem(&f.public_app, &code);
        let rt = first.json()["refresh_token"].as_str().unwrap().to_owned();
        h.advance(120);
        let replay = h.redeem(&f.public_app, &code);
        assert_eq!(replay.json()["error"], "invalid_grant");
        let refresh = h.token(
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &f.public_app),
                ("refresh_token", &rt),
            ],
            None,
        );
        assert_eq!(
            refresh.json()["error"],
            "invalid_grant",
            "the family was revoked"
        );
    }

    #[test]
    fn an_expired_code_is_invalid_grant() {
        let h = Harness::new();
        let f = h.fixture();
        let code = h.code_for(&mut Browser::default(), &f.public_app, Some("notes.read"));
        h.advance(61);
        let r = h.redeem(&f.public_app, &code);
        assert_eq!(r.json()["error"], "invalid_grant");
        assert!(r.json()["error_description"]
            .as_str()
            .unwrap()
            .contains("expired"));
    }

    #[test]
    fn a_different_resource_at_the_token_endpoint_is_invalid_target() {
        let h = Harness::new();
        let f = h.fixture();
        let code = h.code_for(&mut Browser::default(), &f.public_app, Some("notes.read"));
        let r = h.token(
            &[
                ("grant_type", "authorization_code"),
                ("client_id", &f.public_app),
                ("code", &code),
                ("redirect_uri", CB),
                ("code_verifier", VERIFIER),
                ("resource", FILES),
            ],
            None,
        );
        assert_eq!(r.json()["error"], "invalid_target");
    }

    #[test]
    fn a_disabled_user_cannot_sign_in_or_redeem() {
        let h = Harness::new();
        let f = h.fixture();
        let code = h.code_for(&mut Browser::default(), &f.public_app, Some("notes.read"));
        h.ok(
            Method::PATCH,
            &format!("/admin/v1/users/{}", f.alice),
            Some(json!({ "status": "disabled" })),
        );
        assert_eq!(
            h.redeem(&f.public_app, &code).json()["error"],
            "invalid_grant"
        );
        let r = h.authorize(
            &mut Browser::default(),
            &authorize_query(&f.public_app, None, NOTES, "s"),
            "alice",
            PASSWORD,
        );
        assert_eq!(r.status, 401, "same answer as a wrong password");
    }

    #[test]
    fn failed_logins_are_limited_per_account_and_address_without_locking_out_other_addresses() {
        let h = Harness::new();
        let f = h.fixture();
        let q = authorize_query(&f.public_app, None, NOTES, "s");
        for _ in 0..5 {
            assert_eq!(
                h.authorize(&mut Browser::default(), &q, "alice", "wrong password")
                    .status,
                401
            );
        }
        let limited = h.authorize(&mut Browser::default(), &q, "alice", PASSWORD);
        assert_eq!(
            limited.status, 429,
            "even the right password waits from this address"
        );
        assert!(limited.header("retry-after").is_some());
        // From another address the user still gets in.
        let mut b = Browser::default();
        let r = b.get(&h, &format!("/authorize?{q}"));
        let body = String::from_utf8_lossy(&r.body).to_string();
        let csrf = hidden(&body, "csrf").unwrap();
        let c = b.cookie_header();
        let other = h.post_form(
            "/authorize/login",
            &[
                ("csrf", &csrf),
                ("continue", &q),
                ("username", "alice"),
                ("password", PASSWORD),
            ],
            &[("cookie", &c), ("cf-connecting-ip", "198.51.100.9")],
        );
        assert_eq!(other.status, 303);
        h.advance(15 * 60 + 1);
        assert_eq!(
            h.authorize(&mut Browser::default(), &q, "alice", PASSWORD)
                .status,
            303,
            "the window passes"
        );
    }

    #[test]
    fn deny_redirects_with_access_denied() {
        let h = Harness::new();
        let f = h.fixture();
        let mut b = Browser::default();
        let q = authorize_query(&f.public_app, Some("notes.read"), NOTES, "s");
        let r = h.sign_in(&mut b, &q, "alice", PASSWORD);
        let body = String::from_utf8_lossy(&r.body).to_string();
        let r = b.post(
            &h,
            "/authorize/consent",
            &[
                ("csrf", &hidden(&body, "csrf").unwrap()),
                ("request", &hidden(&body, "request").unwrap()),
                ("decision", "deny"),
            ],
        );
        assert_eq!(
            param(&location_params(&r), "error").as_deref(),
            Some("access_denied")
        );
    }

    #[test]
    fn a_tampered_consent_request_is_refused() {
        let h = Harness::new();
        let f = h.fixture();
        let mut b = Browser::default();
        let q = authorize_query(&f.public_app, Some("notes.read"), NOTES, "s");
        let body =
            String::from_utf8_lossy(&h.sign_in(&mut b, &q, "alice", PASSWORD).body).to_string();
        let mut request = hidden(&body, "request").unwrap();
        request.insert(0, 'A');
        let r = b.post(
            &h,
            "/authorize/consent",
            &[
                ("csrf", &hidden(&body, "csrf").unwrap()),
                ("request", &request),
                ("decision", "allow"),
            ],
        );
        assert_eq!(r.status, 400);
        assert!(r.header("location").is_none());
    }
}

mod refresh {
    use super::*;

    fn start(h: &Harness, f: &Fixture) -> String {
        let code = h.code_for(&mut Browser::default(), &f.public_app, Some("notes.read"));
        h.redeem(&f.public_app, &code).json()["refresh_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn refresh(h: &Harness, client: &str, token: &str, extra: &[(&str, &str)]) -> Resp {
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("client_id", client),
            ("refresh_token", token),
        ];
        form.extend_from_slice(extra);
        h.token(&form, None)
    }

    #[test]
    fn a_warm_refresh_is_one_d1_round_trip_reads_and_rotation_together() {
        let h = Harness::new();
        let f = h.fixture();
        let rt = start(&h, &f);
        let before = h.store.db.round_trips.get();
        let r = refresh(&h, &f.public_app, &rt, &[]);
        assert_eq!(r.status, 200, "{:?}", r.json());
        assert_eq!(h.store.db.round_trips.get() - before, 1);
    }

    #[test]
    fn a_refresh_with_a_wrong_client_secret_rotates_nothing() {
        let h = Harness::new();
        let f = h.fixture();
        let rt = f.conf_app_refresh_token(&h);
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", rt.as_str()),
        ];
        let before = h.store.db.round_trips.get();
        let wrong = h.token(&form, Some((&f.conf_app, "not-the-secret")));
        assert_eq!(wrong.status, 401);
        assert_eq!(
            h.store.db.round_trips.get() - before,
            1,
            "the rotation was never written (nothing to undo), so a legitimate refresh racing \
             this one cannot be taken for a reuse"
        );
        assert_eq!(wrong.json()["error"], "invalid_client");
        let none = refresh(&h, &f.conf_app, &rt, &[]);
        assert_eq!(none.status, 401, "a confidential client must authenticate");
        // Had either attempt rotated the family, this would be a reuse (and revoke it).
        let ok = h.token(&form, Some((&f.conf_app, &f.conf_secret)));
        assert_eq!(ok.status, 200, "{:?}", ok.json());
    }

    #[test]
    fn a_refresh_token_with_edited_coordinates_is_unknown() {
        let h = Harness::new();
        let f = h.fixture();
        let rt = start(&h, &f);
        let parts: Vec<&str> = rt.splitn(3, '~').collect();
        assert_eq!(parts.len(), 3, "user~resource~secret");
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let files = b64.encode(FILES);
        for forged in [
            format!("usr_someoneelse~{}~{}", parts[1], parts[2]),
            format!("{}~{files}~{}", parts[0], parts[2]),
        ] {
            let r = refresh(&h, &f.public_app, &forged, &[]);
            assert_eq!(r.status, 400);
            assert_eq!(r.json()["error"], "invalid_grant");
        }
        assert_eq!(refresh(&h, &f.public_app, &rt, &[]).status, 200);
    }

    #[test]
    fn a_refresh_refused_after_the_rotation_was_written_is_undone() {
        let h = Harness::new();
        let f = h.fixture();
        let rt = start(&h, &f);
        let role = format!("/admin/v1/users/{}/roles/{}", f.alice, f.reader);
        assert_eq!(h.admin(Method::DELETE, &role, None).status, 204);
        // The database checks pass (token current, user and client active), so the rotation
        // is written; only the scope computation refuses: nothing is held any more.
        let r = refresh(&h, &f.public_app, &rt, &[]);
        assert_eq!(r.status, 400, "{:?}", r.json());
        assert!(r.json().get("refresh_token").is_none());
        assert_eq!(h.admin(Method::PUT, &role, None).status, 204);
        let again = refresh(&h, &f.public_app, &rt, &[]);
        assert_eq!(
            again.status,
            200,
            "the refused rotation was undone, so the token is still the current one: {:?}",
            again.json()
        );
    }

    #[test]
    fn every_use_rotates_the_refresh_token() {
        let h = Harness::new();
        let f = h.fixture();
        let rt = start(&h, &f);
        let r = refresh(&h, &f.public_app, &rt, &[]);
        assert_eq!(r.status, 200, "{:?}", r.json());
        let next = r.json()["refresh_token"].as_str().unwrap().to_owned();
        assert_ne!(next, rt);
        assert_eq!(refresh(&h, &f.public_app, &next, &[]).status, 200);
    }

    #[test]
    fn reuse_of_a_rotated_token_revokes_the_whole_family() {
        let h = Harness::new();
        let f = h.fixture();
        let rt = start(&h, &f);
        let next = refresh(&h, &f.public_app, &rt, &[]).json()["refresh_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let reuse = refresh(&h, &f.public_app, &rt, &[]);
        assert_eq!(reuse.json()["error"], "invalid_grant");
        assert_eq!(
            refresh(&h, &f.public_app, &next, &[]).json()["error"],
            "invalid_grant",
            "the live token died with the family"
        );
    }

    #[test]
    fn a_refresh_by_another_client_is_invalid_grant() {
        let h = Harness::new();
        let f = h.fixture();
        let rt = start(&h, &f);
        let r = h.token(
            &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
            Some((&f.conf_app, &f.conf_secret)),
        );
        assert_eq!(r.json()["error"], "invalid_grant");
    }

    #[test]
    fn scope_may_narrow_but_never_widen() {
        let h = Harness::new();
        let f = h.fixture();
        let rt = start(&h, &f);
        let r = refresh(
            &h,
            &f.public_app,
            &rt,
            &[("scope", "notes.read notes.admin")],
        );
        assert_eq!(r.json()["error"], "invalid_scope");
        let r = refresh(&h, &f.public_app, &rt, &[("scope", "notes.read")]);
        assert_eq!(r.status, 200);
    }

    #[test]
    fn the_resource_cannot_be_switched() {
        let h = Harness::new();
        let f = h.fixture();
        let rt = start(&h, &f);
        let r = refresh(&h, &f.public_app, &rt, &[("resource", FILES)]);
        assert_eq!(r.json()["error"], "invalid_target");
    }

    #[test]
    fn two_concurrent_refreshes_with_one_token_succeed_exactly_once() {
        let h = Harness::new();
        let f = h.fixture();
        let rt = start(&h, &f);
        let req = || {
            let body = form_urlencoded::Serializer::new(String::new())
                .extend_pairs([
                    ("grant_type", "refresh_token"),
                    ("client_id", f.public_app.as_str()),
                    ("refresh_token", &rt),
                ])
                .finish();
            http::Request::builder()
                .method(Method::POST)
                .uri("/token")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body.into_bytes())
                .unwrap()
        };
        let svc = h.service();
        let (mut r1, mut r2) = (
            mcpgate_core::testing::TestRng::new(1),
            mcpgate_core::testing::TestRng::new(2),
        );
        let (a, b) = mcpgate_core::testing::block_on(join(
            svc.handle(req(), T0, &mut r1),
            svc.handle(req(), T0, &mut r2),
        ));
        let codes = [a.status().as_u16(), b.status().as_u16()];
        assert!(codes.contains(&200) && codes.contains(&400), "{codes:?}");
    }

    #[test]
    fn a_disabled_user_cannot_refresh() {
        let h = Harness::new();
        let f = h.fixture();
        let rt = start(&h, &f);
        h.ok(
            Method::PATCH,
            &format!("/admin/v1/users/{}", f.alice),
            Some(json!({ "status": "disabled" })),
        );
        assert_eq!(
            refresh(&h, &f.public_app, &rt, &[]).json()["error"],
            "invalid_grant"
        );
    }
}

mod token_exchange {
    use super::*;
    use base64::Engine as _;

    const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
    const AT: &str = "urn:ietf:params:oauth:token-type:access_token";
    fn exchange(h: &Harness, f: &Fixture, subject: &str, extra: &[(&str, &str)]) -> Resp {
        let mut form = vec![
            ("grant_type", EXCHANGE),
            ("subject_token", subject),
            ("subject_token_type", AT),
            ("resource", NOTES),
        ];
        form.extend_from_slice(extra);
        h.token(&form, Some((&f.agent, &f.agent_secret)))
    }

    #[test]
    fn the_agent_acts_for_the_user_with_a_nested_actor_chain() {
        let h = Harness::new();
        let f = h.fixture();
        let subject = h.user_token_for_agent(&f);
        let r = exchange(&h, &f, &subject, &[]);
        assert_eq!(r.status, 200, "{:?}", r.json());
        assert_eq!(r.json()["issued_token_type"], AT);
        // Bounded by the user (reader) and the agent (editor via group): notes.read.
        assert_eq!(r.json()["scope"], "notes.read");
        let v = verify_token(&h, r.json()["access_token"].as_str().unwrap(), NOTES);
        assert_eq!(v.claims.sub, f.alice);
        assert_eq!(v.claims.client_id, f.agent);
        let chain: Vec<&str> = v.claims.actors().map(|a| a.sub.as_str()).collect();
        assert_eq!(chain, [f.agent.as_str(), f.public_app.as_str()]);
    }

    #[test]
    fn a_subject_token_for_another_audience_is_refused() {
        let h = Harness::new();
        let f = h.fixture();
        // The agent may exchange tokens of its own server for notes tokens, not notes tokens.
        h.user_token_for_agent(&f);
        let code = h.code_for(&mut Browser::default(), &f.public_app, Some("notes.read"));
        let notes_token = h.redeem(&f.public_app, &code).json()["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let r = exchange(&h, &f, &notes_token, &[]);
        assert_eq!(r.json()["error"], "invalid_request");
        assert!(r.json()["error_description"]
            .as_str()
            .unwrap()
            .contains("audience"));
    }

    fn forge(alg: &str, subject: &str) -> String {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = b64.encode(format!(r#"{{"alg":"{alg}","typ":"at+jwt","kid":"x"}}"#));
        let payload = subject.split('.').nth(1).unwrap();
        let sig = if alg == "none" {
            String::new()
        } else {
            b64.encode([7u8; 32])
        };
        format!("{header}.{payload}.{sig}")
    }

    #[test]
    fn alg_none_subject_tokens_are_refused() {
        let h = Harness::new();
        let f = h.fixture();
        let subject = h.user_token_for_agent(&f);
        let r = exchange(&h, &f, &forge("none", &subject), &[]);
        assert_eq!(r.json()["error"], "invalid_request");
    }

    #[test]
    fn hs256_subject_tokens_are_refused() {
        let h = Harness::new();
        let f = h.fixture();
        let subject = h.user_token_for_agent(&f);
        let r = exchange(&h, &f, &forge("HS256", &subject), &[]);
        assert_eq!(r.json()["error"], "invalid_request");
    }

    #[test]
    fn a_tampered_or_expired_subject_token_is_refused() {
        let h = Harness::new();
        let f = h.fixture();
        let subject = h.user_token_for_agent(&f);
        let mut parts: Vec<String> = subject.split('.').map(str::to_owned).collect();
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut claims: serde_json::Value =
            serde_json::from_slice(&b64.decode(&parts[1]).unwrap()).unwrap();
        claims["scope"] = json!("agent.use notes.admin");
        parts[1] = b64.encode(claims.to_string());
        assert_eq!(
            exchange(&h, &f, &parts.join("."), &[]).json()["error"],
            "invalid_request"
        );
        h.advance(601 + 30);
        assert_eq!(
            exchange(&h, &f, &subject, &[]).json()["error"],
            "invalid_request"
        );
    }

    #[test]
    fn only_agents_with_the_grant_may_exchange() {
        let h = Harness::new();
        let f = h.fixture();
        let subject = h.user_token_for_agent(&f);
        let r = h.token(
            &[
                ("grant_type", EXCHANGE),
                ("subject_token", &subject),
                ("subject_token_type", AT),
                ("resource", NOTES),
            ],
            Some((&f.conf_app, &f.conf_secret)),
        );
        assert_eq!(r.json()["error"], "unauthorized_client");
    }

    #[test]
    fn a_subject_disabled_since_issuance_is_refused() {
        let h = Harness::new();
        let f = h.fixture();
        let subject = h.user_token_for_agent(&f);
        h.ok(
            Method::PATCH,
            &format!("/admin/v1/users/{}", f.alice),
            Some(json!({ "status": "disabled" })),
        );
        assert_eq!(
            exchange(&h, &f, &subject, &[]).json()["error"],
            "invalid_request"
        );
    }

    #[test]
    fn an_actor_token_must_name_the_authenticated_agent() {
        let h = Harness::new();
        let f = h.fixture();
        let subject = h.user_token_for_agent(&f);
        let own = h
            .token(
                &[("grant_type", "client_credentials"), ("resource", NOTES)],
                Some((&f.agent, &f.agent_secret)),
            )
            .json()["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let ok = exchange(
            &h,
            &f,
            &subject,
            &[("actor_token", &own), ("actor_token_type", AT)],
        );
        assert_eq!(ok.status, 200, "{:?}", ok.json());
        let other = h
            .token(
                &[("grant_type", "client_credentials"), ("resource", NOTES)],
                Some((&f.conf_app, &f.conf_secret)),
            )
            .json()["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let bad = exchange(
            &h,
            &f,
            &subject,
            &[("actor_token", &other), ("actor_token_type", AT)],
        );
        assert_eq!(bad.json()["error"], "invalid_request");
    }
}

mod grants {
    use super::*;

    #[test]
    fn no_scope_parameter_uses_the_servers_default_scopes() {
        let h = Harness::new();
        let f = h.fixture();
        h.ok(
            Method::PATCH,
            &format!("/admin/v1/resource-servers/{}", f.notes_rs),
            Some(json!({ "default_scopes": ["notes.read"] })),
        );
        let code = h.code_for(&mut Browser::default(), &f.public_app, None);
        assert_eq!(h.redeem(&f.public_app, &code).json()["scope"], "notes.read");
    }

    #[test]
    fn no_scope_parameter_without_defaults_grants_everything_the_user_may_grant() {
        let h = Harness::new();
        let f = h.fixture();
        h.ok(
            Method::PUT,
            &format!("/admin/v1/users/{}/roles/{}", f.alice, f.editor),
            None,
        );
        let code = h.code_for(&mut Browser::default(), &f.public_app, None);
        assert_eq!(
            h.redeem(&f.public_app, &code).json()["scope"],
            "notes.read notes.write"
        );
    }

    #[test]
    fn a_role_removed_between_refreshes_drops_its_scope() {
        let h = Harness::new();
        let f = h.fixture();
        h.ok(
            Method::PUT,
            &format!("/admin/v1/users/{}/roles/{}", f.alice, f.editor),
            None,
        );
        let code = h.code_for(
            &mut Browser::default(),
            &f.public_app,
            Some("notes.read notes.write"),
        );
        let first = h.redeem(&f.public_app, &code).json();
        assert_eq!(first["scope"], "notes.read notes.write");
        h.ok(
            Method::DELETE,
            &format!("/admin/v1/users/{}/roles/{}", f.alice, f.editor),
            None,
        );
        let r = h.token(
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &f.public_app),
                ("refresh_token", first["refresh_token"].as_str().unwrap()),
            ],
            None,
        );
        assert_eq!(r.json()["scope"], "notes.read");
    }

    #[test]
    fn a_role_added_later_appears_at_refresh_only_if_consented() {
        let h = Harness::new();
        let f = h.fixture();
        // Asked for read and write while holding only read: write is consented, not granted.
        let code = h.code_for(
            &mut Browser::default(),
            &f.public_app,
            Some("notes.read notes.write"),
        );
        let first = h.redeem(&f.public_app, &code).json();
        assert_eq!(first["scope"], "notes.read");
        h.ok(
            Method::PUT,
            &format!("/admin/v1/users/{}/roles/{}", f.alice, f.admin_role),
            None,
        );
        let r = h.token(
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &f.public_app),
                ("refresh_token", first["refresh_token"].as_str().unwrap()),
            ],
            None,
        );
        let scopes = scopes_of(&verify_token(
            &h,
            r.json()["access_token"].as_str().unwrap(),
            NOTES,
        ));
        assert_eq!(
            scopes,
            ["notes.read", "notes.write"],
            "notes.delete/admin are held now but were never consented"
        );
    }

    #[test]
    fn step_up_asks_only_for_what_is_new_and_unions_the_grant() {
        let h = Harness::new();
        let f = h.fixture();
        h.ok(
            Method::PUT,
            &format!("/admin/v1/users/{}/roles/{}", f.alice, f.admin_role),
            None,
        );
        let mut b = Browser::default();
        h.code_for(&mut b, &f.public_app, Some("notes.read"));
        let r = b.get(
            &h,
            &format!(
                "/authorize?{}",
                authorize_query(&f.public_app, Some("notes.read notes.delete"), NOTES, "up")
            ),
        );
        assert_eq!(r.status, 200, "consent page for the new scope");
        let body = String::from_utf8_lossy(&r.body).to_string();
        assert!(body.contains("<code>notes.delete</code>"));
        assert!(
            body.contains("Already allowed: <code>notes.read</code>"),
            "{body}"
        );
        let r = b.post(
            &h,
            "/authorize/consent",
            &[
                ("csrf", &hidden(&body, "csrf").unwrap()),
                ("request", &hidden(&body, "request").unwrap()),
                ("decision", "allow"),
            ],
        );
        let code = param(&location_params(&r), "code").unwrap();
        assert_eq!(
            h.redeem(&f.public_app, &code).json()["scope"],
            "notes.delete notes.read"
        );
        // The grant is now the union: asking for either set again needs no page.
        let r = b.get(
            &h,
            &format!(
                "/authorize?{}",
                authorize_query(&f.public_app, Some("notes.delete"), NOTES, "x")
            ),
        );
        assert_eq!(r.status, 303);
    }

    #[test]
    fn the_user_sees_their_consent_and_revoking_it_revokes_the_refresh_family() {
        let h = Harness::new();
        let f = h.fixture();
        let mut b = Browser::default();
        let code = h.code_for(&mut b, &f.public_app, Some("notes.read"));
        let t = h.redeem(&f.public_app, &code).json();
        let page = b.get(&h, "/account");
        assert_eq!(page.status, 200);
        let body = String::from_utf8_lossy(&page.body).to_string();
        assert!(body.contains("Desktop") && body.contains(NOTES), "{body}");
        let csrf = hidden(&body, "csrf").unwrap();
        let rs = hidden(&body, "resource_server_id").unwrap();
        let r = b.post(
            &h,
            "/account/revoke",
            &[
                ("csrf", &csrf),
                ("client_id", &f.public_app),
                ("resource_server_id", &rs),
            ],
        );
        assert_eq!(r.status, 303);
        let refresh = h.token(
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &f.public_app),
                ("refresh_token", t["refresh_token"].as_str().unwrap()),
            ],
            None,
        );
        assert_eq!(refresh.json()["error"], "invalid_grant");
        // Consent must be given again.
        let r = b.get(
            &h,
            &format!(
                "/authorize?{}",
                authorize_query(&f.public_app, Some("notes.read"), NOTES, "s")
            ),
        );
        assert_eq!(r.status, 200);
        assert!(String::from_utf8_lossy(&r.body).contains("name=\"decision\""));
    }

    #[test]
    fn the_account_page_asks_to_sign_in_first() {
        let h = Harness::new();
        h.fixture();
        let mut b = Browser::default();
        let r = b.get(&h, "/account");
        let body = String::from_utf8_lossy(&r.body).to_string();
        assert!(body.contains("name=\"password\""));
        let csrf = hidden(&body, "csrf").unwrap();
        let r = b.post(
            &h,
            "/authorize/login",
            &[
                ("csrf", &csrf),
                ("continue", "@account"),
                ("username", "alice"),
                ("password", PASSWORD),
            ],
        );
        assert_eq!(r.status, 303);
        assert!(r.header("location").unwrap().ends_with("/account"));
        assert!(String::from_utf8_lossy(&b.get(&h, "/account").body).contains("Your account"));
    }

    #[test]
    fn an_admin_can_list_and_revoke_a_users_consent() {
        let h = Harness::new();
        let f = h.fixture();
        let code = h.code_for(&mut Browser::default(), &f.public_app, Some("notes.read"));
        let t = h.redeem(&f.public_app, &code).json();
        let list = h.ok(
            Method::GET,
            &format!("/admin/v1/users/{}/grants", f.alice),
            None,
        );
        assert_eq!(list["items"][0]["client_id"], f.public_app.as_str());
        assert_eq!(list["items"][0]["scopes"], json!(["notes.read"]));
        let path = format!(
            "/admin/v1/users/{}/grants?client_id={}&resource_server_id={}",
            f.alice, f.public_app, f.notes_rs
        );
        assert_eq!(h.admin(Method::DELETE, &path, None).status, 204);
        assert_eq!(h.admin(Method::DELETE, &path, None).status, 404);
        let refresh = h.token(
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &f.public_app),
                ("refresh_token", t["refresh_token"].as_str().unwrap()),
            ],
            None,
        );
        assert_eq!(refresh.json()["error"], "invalid_grant");
    }

    #[test]
    fn scopes_the_user_does_not_hold_are_dropped_even_after_consent() {
        let h = Harness::new();
        let f = h.fixture();
        let code = h.code_for(
            &mut Browser::default(),
            &f.public_app,
            Some("notes.read notes.delete"),
        );
        assert_eq!(h.redeem(&f.public_app, &code).json()["scope"], "notes.read");
    }
}

mod admin_api_as_a_resource_server {
    use super::*;

    #[test]
    fn its_challenges_point_at_its_rfc9728_metadata_and_name_the_scope() {
        let h = Harness::with_config(config_with("https://auth.example.com/tenant", &[]));
        let r = h.get("/tenant/admin/v1/users");
        assert_eq!(r.status, 401);
        let challenge = r.header("www-authenticate").unwrap().to_owned();
        let prm_url =
            "https://auth.example.com/.well-known/oauth-protected-resource/tenant/admin/v1";
        assert_eq!(
            challenge,
            format!(r#"Bearer error="invalid_token", resource_metadata="{prm_url}""#)
        );
        let prm = h.get("/.well-known/oauth-protected-resource/tenant/admin/v1");
        assert_eq!(prm.status, 200);
        let doc = prm.json();
        assert_eq!(doc["resource"], "https://auth.example.com/tenant/admin/v1");
        assert_eq!(
            doc["authorization_servers"],
            json!(["https://auth.example.com/tenant"])
        );
        assert_eq!(
            doc["scopes_supported"],
            json!(["admin.read", "admin.write"])
        );
        // A read-only admin token asking to write: 403 naming the scope.
        let boot = format!("Bearer {ADMIN}");
        let c = h
            .request(
                Method::POST,
                "/tenant/admin/v1/bootstrap",
                &[("authorization", &boot)],
                b"",
            )
            .json();
        let t = h.token_at(
            "/tenant/token",
            &[
                ("grant_type", "client_credentials"),
                ("resource", "https://auth.example.com/tenant/admin/v1"),
                ("scope", "admin.read"),
            ],
            Some((
                c["client_id"].as_str().unwrap(),
                c["client_secret"].as_str().unwrap(),
            )),
        );
        let bearer = format!("Bearer {}", t.json()["access_token"].as_str().unwrap());
        let r = h.request(
            Method::POST,
            "/tenant/admin/v1/groups",
            &[
                ("authorization", &bearer),
                ("content-type", "application/json"),
            ],
            br#"{"name":"g"}"#,
        );
        assert_eq!(r.status, 403);
        assert_eq!(
            r.header("www-authenticate").unwrap(),
            format!(
                r#"Bearer error="insufficient_scope", scope="admin.write", resource_metadata="{prm_url}""#
            )
        );
    }

    #[test]
    fn the_bootstrap_credential_creates_the_first_admin_client_once_and_nothing_else() {
        let h = Harness::new();
        let boot = format!("Bearer {ADMIN}");
        let r = h.request(
            Method::GET,
            "/admin/v1/users",
            &[("authorization", &boot)],
            b"",
        );
        assert_eq!(r.status, 403, "the bootstrap secret is not an admin token");
        let created = h.request(
            Method::POST,
            "/admin/v1/bootstrap",
            &[("authorization", &boot)],
            b"",
        );
        assert_eq!(created.status, 201);
        let c = created.json();
        assert_eq!(c["resource"], format!("{}/admin/v1", h.config.issuer));
        let again = h.request(
            Method::POST,
            "/admin/v1/bootstrap",
            &[("authorization", &boot)],
            b"",
        );
        assert_eq!(again.status, 409);
        let wrong = h.request(
            Method::POST,
            "/admin/v1/bootstrap",
            &[("authorization", "Bearer nope")],
            b"",
        );
        assert_eq!(wrong.status, 401);
        let t = h.token(
            &[
                ("grant_type", "client_credentials"),
                ("resource", c["resource"].as_str().unwrap()),
            ],
            Some((
                c["client_id"].as_str().unwrap(),
                c["client_secret"].as_str().unwrap(),
            )),
        );
        assert_eq!(t.json()["scope"], "admin.read admin.write");
        let auth = format!("Bearer {}", t.json()["access_token"].as_str().unwrap());
        assert_eq!(
            h.request(
                Method::GET,
                "/admin/v1/users",
                &[("authorization", &auth)],
                b""
            )
            .status,
            200
        );
    }

    #[test]
    fn a_read_only_admin_token_cannot_change_anything() {
        let h = Harness::new();
        let f = h.fixture();
        let admin_rs = format!("{}/admin/v1", h.config.issuer);
        let role = h.ok(
            Method::POST,
            "/admin/v1/roles",
            Some(json!({ "name": "auditor", "scopes": [{ "resource": admin_rs, "scope": "admin.read" }] })),
        )["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let app = h.ok(
            Method::POST,
            "/admin/v1/applications",
            Some(json!({ "name": "auditor", "client_type": "confidential", "grant_types": ["client_credentials"], "roles": [role] })),
        );
        let t = h.token(
            &[
                ("grant_type", "client_credentials"),
                ("resource", &admin_rs),
            ],
            Some((
                app["client_id"].as_str().unwrap(),
                app["client_secret"].as_str().unwrap(),
            )),
        );
        assert_eq!(t.json()["scope"], "admin.read");
        let auth = format!("Bearer {}", t.json()["access_token"].as_str().unwrap());
        assert_eq!(
            h.request(
                Method::GET,
                "/admin/v1/audit",
                &[("authorization", &auth)],
                b""
            )
            .status,
            200
        );
        let w = h.request(
            Method::DELETE,
            &format!("/admin/v1/users/{}", f.alice),
            &[("authorization", &auth)],
            b"",
        );
        assert_eq!(w.status, 403);
        assert_eq!(w.json()["error"], "insufficient_scope");
        assert!(w
            .header("www-authenticate")
            .unwrap()
            .contains(r#"scope="admin.write""#));
        // A token for another audience is not an admin token.
        let notes = h.token(
            &[("grant_type", "client_credentials"), ("resource", NOTES)],
            Some((&f.conf_app, &f.conf_secret)),
        );
        let auth = format!("Bearer {}", notes.json()["access_token"].as_str().unwrap());
        assert_eq!(
            h.request(
                Method::GET,
                "/admin/v1/audit",
                &[("authorization", &auth)],
                b""
            )
            .status,
            401
        );
    }
}

mod introspection_and_revocation {
    use super::*;

    /// Introspection by the confidential app, which an admin allowed to introspect tokens of
    /// the notes server.
    fn introspect(h: &Harness, f: &Fixture, token: &str) -> serde_json::Value {
        h.ok(
            Method::PATCH,
            &format!("/admin/v1/applications/{}", f.conf_app),
            Some(json!({ "introspect": [NOTES] })),
        );
        let r = h.token_at(
            "/introspect",
            &[("token", token)],
            Some((&f.conf_app, &f.conf_secret)),
        );
        assert_eq!(r.status, 200);
        assert_eq!(r.header("cache-control"), Some("no-store"));
        r.json()
    }

    #[test]
    fn rfc7662_describes_active_access_tokens_with_their_actor() {
        let h = Harness::new();
        let f = h.fixture();
        let code = h.code_for(&mut Browser::default(), &f.public_app, Some("notes.read"));
        let t = h.redeem(&f.public_app, &code).json();
        let i = introspect(&h, &f, t["access_token"].as_str().unwrap());
        assert_eq!(i["active"], true);
        assert_eq!(i["sub"], f.alice.as_str());
        assert_eq!(i["client_id"], f.public_app.as_str());
        assert_eq!(i["aud"], NOTES);
        assert_eq!(i["scope"], "notes.read");
        assert_eq!(i["act"]["sub"], f.public_app.as_str());
        assert_eq!(introspect(&h, &f, "garbage")["active"], false);
        h.advance(601 + 30);
        assert_eq!(
            introspect(&h, &f, t["access_token"].as_str().unwrap())["active"],
            false
        );
    }

    #[test]
    fn introspection_needs_an_authenticated_confidential_client() {
        let h = Harness::new();
        let f = h.fixture();
        let r = h.token_at(
            "/introspect",
            &[("token", "x"), ("client_id", &f.public_app)],
            None,
        );
        assert_eq!(r.status, 401);
        let r = h.token_at(
            "/introspect",
            &[("token", "x")],
            Some((&f.conf_app, "wrong")),
        );
        assert_eq!(r.status, 401);
    }

    #[test]
    fn a_refresh_token_is_described_only_to_its_own_client() {
        let h = Harness::new();
        let f = h.fixture();
        let rt = f.conf_app_refresh_token(&h);
        assert_eq!(introspect(&h, &f, &rt)["active"], true);
        let other = h.token_at(
            "/introspect",
            &[("token", &rt)],
            Some((&f.agent, &f.agent_secret)),
        );
        assert_eq!(other.json()["active"], false);
    }

    #[test]
    fn revoking_an_access_token_puts_it_on_the_revocation_list() {
        let h = Harness::new();
        let f = h.fixture();
        let code = h.code_for(&mut Browser::default(), &f.public_app, Some("notes.read"));
        let t = h.redeem(&f.public_app, &code).json();
        let at = t["access_token"].as_str().unwrap();
        let r = h.token_at(
            "/revoke",
            &[("token", at), ("client_id", &f.public_app)],
            None,
        );
        assert_eq!(r.status, 200);
        assert_eq!(introspect(&h, &f, at)["active"], false);
        let kv = mcpgate_core::testing::block_on(mcpgate_core::revocation::snapshot(
            &h.store,
            h.now.get(),
        ))
        .unwrap();
        assert!(
            kv.iter()
                .any(|e| e.kind == mcpgate_core::revocation::Kind::Jti),
            "mirrored to KV for offline validators"
        );
        // The refresh token is unaffected by revoking the access token.
        let r = h.token(
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &f.public_app),
                ("refresh_token", t["refresh_token"].as_str().unwrap()),
            ],
            None,
        );
        assert_eq!(r.status, 200);
    }

    #[test]
    fn revoking_a_refresh_token_revokes_its_family() {
        let h = Harness::new();
        let f = h.fixture();
        let code = h.code_for(&mut Browser::default(), &f.public_app, Some("notes.read"));
        let t = h.redeem(&f.public_app, &code).json();
        let rt = t["refresh_token"].as_str().unwrap();
        assert_eq!(
            h.token_at(
                "/revoke",
                &[("token", rt), ("client_id", &f.public_app)],
                None
            )
            .status,
            200
        );
        let r = h.token(
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &f.public_app),
                ("refresh_token", rt),
            ],
            None,
        );
        assert_eq!(r.json()["error"], "invalid_grant");
        assert_eq!(
            introspect(&h, &f, t["access_token"].as_str().unwrap())["active"],
            false,
            "and its latest access token"
        );
    }

    #[test]
    fn another_clients_token_and_unknown_tokens_are_ignored_with_200() {
        let h = Harness::new();
        let f = h.fixture();
        let code = h.code_for(&mut Browser::default(), &f.public_app, Some("notes.read"));
        let t = h.redeem(&f.public_app, &code).json();
        let at = t["access_token"].as_str().unwrap();
        assert_eq!(
            h.token_at(
                "/revoke",
                &[("token", at)],
                Some((&f.conf_app, &f.conf_secret))
            )
            .status,
            200
        );
        assert_eq!(introspect(&h, &f, at)["active"], true);
        assert_eq!(
            h.token_at(
                "/revoke",
                &[("token", "unknown")],
                Some((&f.conf_app, &f.conf_secret))
            )
            .status,
            200
        );
    }
}

/// Sequential D1 round trips per request on a warm isolate, per flow: a ratchet (lower the
/// figure here when a flow gets faster; a flow that gets slower fails). Issue 15's target is one
/// for each of these.
mod round_trips {
    use super::*;

    #[test]
    fn a_replica_that_has_not_caught_up_sends_authorize_to_the_primary() {
        let h = Harness::new();
        let f = h.fixture();
        let mut b = Browser::default();
        h.code_for(&mut b, &f.public_app, Some("notes.read"));
        h.store.replica_behind.set(true);
        let q = authorize_query(&f.public_app, Some("notes.read"), NOTES, "xyz");
        let before = h.store.db.round_trips.get();
        let r = b.get(&h, &format!("/authorize?{q}"));
        assert_eq!(
            r.status, 303,
            "the client and session were found at the primary"
        );
        assert_eq!(h.store.db.round_trips.get() - before, 2);
        let code = param(&location_params(&r), "code").unwrap();
        assert_eq!(h.redeem(&f.public_app, &code).status, 200);
    }

    fn trips(h: &Harness, f: impl FnOnce() -> Resp) -> (Resp, u64) {
        let before = h.store.db.round_trips.get();
        let r = f();
        (r, h.store.db.round_trips.get() - before)
    }

    #[test]
    fn tokens_with_made_up_key_ids_do_not_make_each_request_read_the_keys() {
        use base64::Engine as _;
        let h = Harness::new();
        let f = h.fixture();
        let cc = h.token(
            &[("grant_type", "client_credentials"), ("resource", NOTES)],
            Some((&f.conf_app, &f.conf_secret)),
        );
        let token = access_token(&cc);
        // A verification fills the isolate's key cache.
        let ok = h.token_at(
            "/introspect",
            &[("token", &token)],
            Some((&f.conf_app, &f.conf_secret)),
        );
        assert_eq!(ok.json()["active"], true);
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(r#"{"alg":"ES256","typ":"at+jwt","kid":"made-up"}"#);
        let (_, rest) = token.split_once('.').unwrap();
        let forged = format!("{header}.{rest}");
        let before = h.store.db.round_trips.get();
        for _ in 0..3 {
            let r = h.token_at("/introspect", &[("token", &forged)], None);
            assert_eq!(r.status, 401);
        }
        assert_eq!(h.store.db.round_trips.get() - before, 0);
    }

    #[test]
    fn each_flow_stays_within_its_round_trip_budget() {
        let h = Harness::new();
        let f = h.fixture();
        let mut b = Browser::default();
        let code = h.code_for(&mut b, &f.public_app, Some("notes.read"));
        h.redeem(&f.public_app, &code);
        let cc = || {
            h.token(
                &[("grant_type", "client_credentials"), ("resource", NOTES)],
                Some((&f.conf_app, &f.conf_secret)),
            )
        };
        cc();
        let q = authorize_query(&f.public_app, Some("notes.read"), NOTES, "xyz");
        let replica_before = h.store.db.replica_round_trips.get();
        let (r, authorize) = trips(&h, || b.clone().get(&h, &format!("/authorize?{q}")));
        assert_eq!(r.status, 303, "signed in, consent covers the request");
        assert_eq!(
            h.store.db.replica_round_trips.get() - replica_before,
            authorize,
            "authorize only reads, so a read replica may answer"
        );
        let code = param(&location_params(&r), "code").unwrap();
        let (r, redeem) = trips(&h, || h.redeem(&f.public_app, &code));
        assert_eq!(r.status, 200);
        let rt = r.json()["refresh_token"].as_str().unwrap().to_owned();
        let (r, refresh) = trips(&h, || {
            h.token(
                &[
                    ("grant_type", "refresh_token"),
                    ("client_id", &f.public_app),
                    ("refresh_token", &rt),
                ],
                None,
            )
        });
        assert_eq!(r.status, 200);
        let (r, client_credentials) = trips(&h, cc);
        assert_eq!(r.status, 200);
        let register = |uri: &str| {
            let body =
                serde_json::json!({ "redirect_uris": [uri], "token_endpoint_auth_method": "none" });
            h.request(
                Method::POST,
                "/register",
                &[("content-type", "application/json")],
                body.to_string().as_bytes(),
            )
        };
        register("http://127.0.0.1/a");
        let (r, registration) = trips(&h, || register("http://127.0.0.1/b"));
        assert_eq!(r.status, 201);
        let (_, jwks) = trips(&h, || h.get("/.well-known/jwks.json"));
        let (_, metadata) = trips(&h, || h.get("/.well-known/oauth-authorization-server"));
        let measured = [
            ("authorize (signed in, consented)", authorize),
            ("code redemption", redeem),
            ("refresh", refresh),
            ("client_credentials", client_credentials),
            ("registration", registration),
            ("jwks", jwks),
            ("metadata", metadata),
        ];
        let budget = [1, 1, 1, 1, 1, 1, 0];
        for ((flow, n), max) in measured.iter().zip(budget) {
            assert!(*n <= max, "{flow}: {n} round trips, budget {max}");
        }
    }
}
