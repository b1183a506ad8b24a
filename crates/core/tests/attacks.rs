//! Attacks on the README's promises, each refused: the tests are named after the attack and
//! listed in `tests/README.md`'s attack table. Concurrency is exercised by joining two flows
//! on the in-memory store, which interleaves them at every statement as D1 would.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use http::Method;
use mcpgate_guard::TokenError;
use serde_json::json;

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const AT: &str = "urn:ietf:params:oauth:token-type:access_token";

fn exchange(
    h: &Harness,
    client: (&str, &str),
    subject: &str,
    resource: &str,
    scope: Option<&str>,
) -> Resp {
    let mut form = vec![
        ("grant_type", EXCHANGE),
        ("subject_token", subject),
        ("subject_token_type", AT),
        ("resource", resource),
    ];
    if let Some(s) = scope {
        form.push(("scope", s));
    }
    h.token(&form, Some(client))
}

mod token_exchange {
    use super::*;

    /// A confidential application that may use the exchange grant (and the code flow from the
    /// test redirect URI), with the admin role (every notes scope) as its ceiling.
    fn exchanging_app(h: &Harness, f: &Fixture) -> (String, String) {
        let app = h.ok(
            Method::POST,
            "/admin/v1/applications",
            Some(
                json!({ "name": "Exchanger", "client_type": "confidential", "redirect_uris": [CB],
                "grant_types": ["authorization_code", "refresh_token", EXCHANGE],
                "roles": [f.admin_role] }),
            ),
        );
        (
            app["client_id"].as_str().unwrap().to_owned(),
            app["client_secret"].as_str().unwrap().to_owned(),
        )
    }

    /// Alice (who holds every notes scope) consents to `notes.read` only, through `app`.
    fn alice_consents_to_read(h: &Harness, f: &Fixture, app: &(String, String)) -> Value {
        h.ok(
            Method::PUT,
            &format!("/admin/v1/users/{}/roles/{}", f.alice, f.admin_role),
            None,
        );
        let r = h.authorize(
            &mut Browser::default(),
            &authorize_query(&app.0, Some("notes.read"), NOTES, "s"),
            "alice",
            PASSWORD,
        );
        let code = param(&location_params(&r), "code").unwrap();
        let t = h.token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CB),
                ("code_verifier", VERIFIER),
            ],
            Some((&app.0, &app.1)),
        );
        assert_eq!(t.json()["scope"], "notes.read", "{:?}", t.json());
        t.json()
    }

    use serde_json::Value;

    #[test]
    fn an_application_cannot_exchange_a_users_token_without_a_delegation_an_admin_configured() {
        let h = Harness::new();
        let f = h.fixture();
        let app = exchanging_app(&h, &f);
        let t = alice_consents_to_read(&h, &f, &app);
        let subject = t["access_token"].as_str().unwrap();
        let r = exchange(
            &h,
            (&app.0, &app.1),
            subject,
            NOTES,
            Some("notes.read notes.write"),
        );
        assert_eq!(r.json()["error"], "unauthorized_client", "{:?}", r.json());
        let r = exchange(&h, (&app.0, &app.1), subject, FILES, None);
        assert_eq!(r.json()["error"], "unauthorized_client");
    }

    #[test]
    fn exchanging_for_the_same_audience_cannot_add_scopes_the_user_never_consented_to() {
        let h = Harness::new();
        let f = h.fixture();
        let app = exchanging_app(&h, &f);
        h.ok(
            Method::PATCH,
            &format!("/admin/v1/applications/{}", app.0),
            Some(json!({ "exchange": [{ "from": NOTES, "to": NOTES }] })),
        );
        let t = alice_consents_to_read(&h, &f, &app);
        let subject = t["access_token"].as_str().unwrap();
        // Alice holds notes.admin and the app's ceiling is everything: only the subject
        // token's own scope bounds the result.
        let r = exchange(
            &h,
            (&app.0, &app.1),
            subject,
            NOTES,
            Some("notes.read notes.write"),
        );
        assert_eq!(r.status, 200, "{:?}", r.json());
        assert_eq!(r.json()["scope"], "notes.read");
        let r = exchange(&h, (&app.0, &app.1), subject, NOTES, None);
        assert_eq!(r.json()["scope"], "notes.read");
        let r = exchange(&h, (&app.0, &app.1), subject, NOTES, Some("notes.admin"));
        assert_eq!(r.json()["error"], "invalid_scope");
    }

    #[test]
    fn exchanging_for_another_resource_server_is_refused_unless_that_delegation_was_configured() {
        let h = Harness::new();
        let f = h.fixture();
        let app = exchanging_app(&h, &f);
        h.ok(
            Method::PATCH,
            &format!("/admin/v1/applications/{}", app.0),
            Some(json!({ "exchange": [{ "from": NOTES, "to": NOTES }] })),
        );
        let files_role = h.ok(
            Method::POST,
            "/admin/v1/roles",
            Some(json!({ "name": "files", "scopes": [{ "resource": FILES, "scope": "files.read" }] })),
        )["id"]
            .as_str()
            .unwrap()
            .to_owned();
        for path in [
            format!("/admin/v1/users/{}/roles/{files_role}", f.alice),
            format!("/admin/v1/applications/{}/roles/{files_role}", app.0),
        ] {
            h.ok(Method::PUT, &path, None);
        }
        let t = alice_consents_to_read(&h, &f, &app);
        let subject = t["access_token"].as_str().unwrap();
        // Alice holds files.read and so does the app, but she never consented to files for it
        // and no admin configured notes → files for this client.
        let r = exchange(&h, (&app.0, &app.1), subject, FILES, None);
        assert_eq!(r.json()["error"], "invalid_target", "{:?}", r.json());
        h.ok(
            Method::PATCH,
            &format!("/admin/v1/applications/{}", app.0),
            Some(json!({ "exchange": [{ "from": NOTES, "to": FILES }] })),
        );
        let r = exchange(&h, (&app.0, &app.1), subject, FILES, None);
        assert_eq!(r.status, 200, "configured: {:?}", r.json());
        assert_eq!(r.json()["scope"], "files.read");
        let r = exchange(&h, (&app.0, &app.1), subject, NOTES, None);
        assert_eq!(r.json()["error"], "invalid_target", "notes → notes is gone");
    }

    #[test]
    fn only_clients_an_admin_allowed_to_exchange_may_exchange() {
        let h = Harness::new();
        let f = h.fixture();
        let subject = h.user_token_for_agent(&f);
        let agent = (f.agent.as_str(), f.agent_secret.as_str());
        assert_eq!(exchange(&h, agent, &subject, NOTES, None).status, 200);
        // A confidential app without the grant, then with the grant but no delegation.
        let r = exchange(&h, (&f.conf_app, &f.conf_secret), &subject, NOTES, None);
        assert_eq!(r.json()["error"], "unauthorized_client");
        let app = exchanging_app(&h, &f);
        let r = exchange(&h, (&app.0, &app.1), &subject, NOTES, None);
        assert_eq!(r.json()["error"], "unauthorized_client");
        // The agent loses its delegation.
        h.ok(
            Method::PATCH,
            &format!("/admin/v1/agents/{}", f.agent),
            Some(json!({ "exchange": [] })),
        );
        let r = exchange(&h, agent, &subject, NOTES, None);
        assert_eq!(r.json()["error"], "unauthorized_client");
    }

    /// The agent's delegated token for alice, from a subject token alice obtained through the
    /// public app with a refresh token.
    fn delegated(h: &Harness, f: &Fixture) -> (String, Value) {
        h.user_token_for_agent(f);
        let r = h.authorize(
            &mut Browser::default(),
            &authorize_query(&f.public_app, Some("agent.use"), AGENT_RS, "s"),
            "alice",
            PASSWORD,
        );
        let code = param(&location_params(&r), "code").unwrap();
        let subject = h.redeem(&f.public_app, &code).json();
        let d = exchange(
            h,
            (&f.agent, &f.agent_secret),
            subject["access_token"].as_str().unwrap(),
            NOTES,
            None,
        );
        (access_token(&d), subject)
    }

    #[test]
    fn an_exchanged_token_dies_with_the_refresh_family_of_its_subject_token() {
        let h = Harness::new();
        let f = h.fixture();
        let (token, subject) = delegated(&h, &f);
        let v = validator(&h);
        assert!(active(&h, &f, &token) && v.validate(&token, h.now.get()).is_ok());
        h.advance(1);
        let r = h.token_at(
            "/revoke",
            &[
                ("token", subject["refresh_token"].as_str().unwrap()),
                ("client_id", &f.public_app),
            ],
            None,
        );
        assert_eq!(r.status, 200);
        assert!(!active(&h, &f, &token), "at mcpgate at once");
        poll(&h, &v);
        assert_eq!(
            v.validate(&token, h.now.get()).unwrap_err(),
            TokenError::Revoked
        );
    }

    #[test]
    fn an_exchanged_token_dies_when_the_user_withdraws_consent() {
        let h = Harness::new();
        let f = h.fixture();
        let (token, _) = delegated(&h, &f);
        let rs = h.ok(Method::GET, "/admin/v1/resource-servers?limit=10", None)["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["identifier"] == AGENT_RS)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        h.advance(1);
        let r = h.admin(
            Method::DELETE,
            &format!(
                "/admin/v1/users/{}/grants?client_id={}&resource_server_id={rs}",
                f.alice, f.public_app
            ),
            None,
        );
        assert!(r.status < 300, "{}", r.status);
        assert!(!active(&h, &f, &token));
        let v = validator(&h);
        assert_eq!(
            v.validate(&token, h.now.get()).unwrap_err(),
            TokenError::Revoked
        );
    }

    #[test]
    fn an_exchanged_token_dies_with_the_user_and_with_every_client_in_its_chain() {
        for who in ["user", "public_app", "agent"] {
            let h = Harness::new();
            let f = h.fixture();
            let (token, _) = delegated(&h, &f);
            h.advance(1);
            let path = match who {
                "user" => format!("/admin/v1/users/{}", f.alice),
                "public_app" => format!("/admin/v1/clients/{}", f.public_app),
                _ => format!("/admin/v1/clients/{}", f.agent),
            };
            h.ok(Method::PATCH, &path, Some(json!({ "status": "disabled" })));
            assert!(!active(&h, &f, &token), "{who}");
            let v = validator(&h);
            assert_eq!(
                v.validate(&token, h.now.get()).unwrap_err(),
                TokenError::Revoked,
                "{who}"
            );
        }
    }

    #[test]
    fn an_exchanged_token_obtained_from_a_machine_token_dies_with_that_machine_client() {
        let h = Harness::new();
        let f = h.fixture();
        // The confidential app's own token, exchanged by the agent (same audience).
        h.ok(
            Method::PATCH,
            &format!("/admin/v1/agents/{}", f.agent),
            Some(json!({ "exchange": [{ "from": NOTES, "to": NOTES }] })),
        );
        let machine = access_token(&h.token(
            &[("grant_type", "client_credentials"), ("resource", NOTES)],
            Some((&f.conf_app, &f.conf_secret)),
        ));
        let token = access_token(&exchange(
            &h,
            (&f.agent, &f.agent_secret),
            &machine,
            NOTES,
            None,
        ));
        h.advance(1);
        h.ok(
            Method::PATCH,
            &format!("/admin/v1/clients/{}", f.conf_app),
            Some(json!({ "status": "disabled" })),
        );
        assert!(!active(&h, &f, &token));
        assert_eq!(
            validator(&h).validate(&token, h.now.get()).unwrap_err(),
            TokenError::Revoked
        );
    }

    #[test]
    fn re_exchanging_cannot_extend_a_tokens_life_past_its_origins() {
        let h = Harness::new();
        let f = h.fixture();
        let (token, subject) = delegated(&h, &f);
        let origin_exp = h.now.get() + subject["expires_in"].as_i64().unwrap();
        h.ok(
            Method::PATCH,
            &format!("/admin/v1/agents/{}", f.agent),
            Some(json!({ "exchange": [{ "from": AGENT_RS, "to": NOTES }, { "from": NOTES, "to": NOTES }] })),
        );
        let mut current = token;
        for _ in 0..3 {
            h.advance(200);
            let r = exchange(&h, (&f.agent, &f.agent_secret), &current, NOTES, None);
            if h.now.get() >= origin_exp {
                assert_eq!(
                    r.json()["error"],
                    "invalid_request",
                    "the origin has expired"
                );
                return;
            }
            let exp = h.now.get() + r.json()["expires_in"].as_i64().unwrap();
            assert!(exp <= origin_exp, "{exp} > {origin_exp}");
            current = access_token(&r);
        }
        panic!("the chain outlived its origin");
    }
}

mod races {
    use super::*;

    /// Alice's code-flow tokens through the public app.
    fn user_tokens(h: &Harness, f: &Fixture) -> serde_json::Value {
        let code = h.code_for(&mut Browser::default(), &f.public_app, Some("notes.read"));
        h.redeem(&f.public_app, &code).json()
    }

    fn refresh_request(f: &Fixture, rt: &str) -> mcpgate_core::wire::Request {
        form_request(
            "/token",
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &f.public_app),
                ("refresh_token", rt),
            ],
            &[],
        )
    }

    /// Nothing issued from the family of `first` (its access token, its refresh token, and
    /// whatever `issued` holds) works, at mcpgate or at an offline validator.
    fn nothing_from_the_family_works(h: &Harness, f: &Fixture, tokens: &[&serde_json::Value]) {
        let v = validator(h);
        for t in tokens {
            if let Some(at) = t["access_token"].as_str() {
                assert!(!active(h, f, at), "an access token is still honoured");
                assert_eq!(
                    v.validate(at, h.now.get()).unwrap_err(),
                    TokenError::Revoked
                );
            }
            if let Some(rt) = t["refresh_token"].as_str() {
                let r = h.send(refresh_request(f, rt));
                assert_eq!(
                    r.json()["error"],
                    "invalid_grant",
                    "a refresh token still works"
                );
            }
        }
    }

    #[test]
    fn a_refresh_racing_the_revocation_of_its_family_never_leaves_a_live_token() {
        let mut refreshed_first = 0;
        for delay in 0..12 {
            let h = Harness::new();
            let f = h.fixture();
            let t = user_tokens(&h, &f);
            let rt = t["refresh_token"].as_str().unwrap();
            h.advance(1);
            let revoke = form_request(
                "/revoke",
                &[("token", rt), ("client_id", &f.public_app)],
                &[],
            );
            let (refreshed, revoked) = h.race(refresh_request(&f, rt), revoke, delay);
            assert_eq!(revoked.status, 200);
            let issued = refreshed.json();
            if refreshed.status == 200 {
                refreshed_first += 1;
            } else {
                assert_eq!(issued["error"], "invalid_grant");
            }
            nothing_from_the_family_works(&h, &f, &[&t, &issued]);
        }
        assert!(
            refreshed_first > 0,
            "no interleaving let the refresh land first"
        );
    }

    #[test]
    fn a_code_replay_racing_the_first_redemption_never_leaves_a_live_token() {
        for delay in 0..12 {
            let h = Harness::new();
            let f = h.fixture();
            let code = h.code_for(&mut Browser::default(), &f.public_app, Some("notes.read"));
            let redeem = || {
                form_request(
                    "/token",
                    &[
                        ("grant_type", "authorization_code"),
                        ("client_id", &f.public_app),
                        ("code", &code),
                        ("redirect_uri", CB),
                        ("code_verifier", VERIFIER),
                    ],
                    &[],
                )
            };
            let (a, b) = h.race(redeem(), redeem(), delay);
            let statuses = [a.status, b.status];
            assert!(
                statuses.contains(&400),
                "{statuses:?}: one of them is the replay"
            );
            nothing_from_the_family_works(&h, &f, &[&a.json(), &b.json()]);
        }
    }

    #[test]
    fn two_concurrent_step_up_consents_both_land_in_the_grant() {
        for delay in 0..8 {
            let h = Harness::new();
            let f = h.fixture();
            h.ok(
                Method::PUT,
                &format!("/admin/v1/users/{}/roles/{}", f.alice, f.admin_role),
                None,
            );
            let mut b = Browser::default();
            // Two tabs, one asking for notes.write, one for notes.delete.
            let page = |b: &mut Browser, scope: &str| {
                let r = h.sign_in(
                    b,
                    &authorize_query(&f.public_app, Some(scope), NOTES, "s"),
                    "alice",
                    PASSWORD,
                );
                let body = String::from_utf8_lossy(&r.body).to_string();
                (
                    hidden(&body, "csrf").unwrap(),
                    hidden(&body, "request").unwrap(),
                )
            };
            let (csrf, write) = page(&mut b, "notes.write");
            let (_, delete) = page(&mut b, "notes.delete");
            let cookie = b.cookie_header();
            let consent = |request: &str| {
                form_request(
                    "/authorize/consent",
                    &[("csrf", &csrf), ("request", request), ("decision", "allow")],
                    &[("cookie", &cookie)],
                )
            };
            let (x, y) = h.race(consent(&write), consent(&delete), delay);
            assert_eq!((x.status, y.status), (303, 303));
            let grants = h.ok(
                Method::GET,
                &format!("/admin/v1/users/{}/grants", f.alice),
                None,
            );
            let scopes = &grants["items"][0]["scopes"];
            for s in ["notes.write", "notes.delete"] {
                assert!(
                    scopes.as_array().unwrap().iter().any(|v| v == s),
                    "delay {delay}: {s} lost from {scopes}"
                );
            }
        }
    }
}

mod sign_in {
    use super::*;

    /// A login form post for the account page from `address`, with the browser's cookies.
    fn login_request(
        b: &mut Browser,
        h: &Harness,
        user: &str,
        password: &str,
        address: &str,
    ) -> mcpgate_core::wire::Request {
        let page = b.get(h, "/account");
        let body = String::from_utf8_lossy(&page.body).to_string();
        let csrf = hidden(&body, "csrf").unwrap();
        let cookie = b.cookie_header();
        form_request(
            "/authorize/login",
            &[
                ("csrf", &csrf),
                ("continue", "@account"),
                ("username", user),
                ("password", password),
            ],
            &[("cookie", &cookie), ("cf-connecting-ip", address)],
        )
    }

    fn login(b: &mut Browser, h: &Harness, user: &str, password: &str, address: &str) -> Resp {
        let req = login_request(b, h, user, password, address);
        let r = h.send(req);
        b.absorb(&r);
        r
    }

    #[test]
    fn forty_parallel_wrong_passwords_get_no_more_than_five_answers() {
        let h = Harness::new();
        h.fixture();
        let mut b = Browser::default();
        let reqs: Vec<_> = (0..40)
            .map(|i| login_request(&mut b, &h, "alice", &format!("guess {i}"), "203.0.113.66"))
            .collect();
        let answers = h.all_at_once(reqs);
        let checked = answers.iter().filter(|r| r.status == 401).count();
        let limited = answers.iter().filter(|r| r.status == 429).count();
        assert_eq!(checked, 5, "password checks: {checked}");
        assert_eq!(limited, 35);
        // And the right password from there waits too.
        assert_eq!(
            login(&mut b, &h, "alice", PASSWORD, "203.0.113.66").status,
            429
        );
    }

    #[test]
    fn guessing_from_many_addresses_meets_a_per_account_ceiling_but_not_the_users_own_browser() {
        let h = Harness::new();
        h.fixture();
        let mut known = Browser::default();
        assert_eq!(
            login(&mut known, &h, "alice", PASSWORD, "198.51.100.1").status,
            303
        );
        // A botnet: one guess per address.
        let mut refused = 0;
        for i in 0..30 {
            let r = login(
                &mut Browser::default(),
                &h,
                "alice",
                "guess",
                &format!("203.0.113.{i}"),
            );
            if r.status == 429 {
                refused += 1;
            }
        }
        assert_eq!(
            refused, 10,
            "the ceiling is 20 untrusted attempts per account and window"
        );
        // A new browser is slowed down too, even with the right password...
        assert_eq!(
            login(&mut Browser::default(), &h, "alice", PASSWORD, "192.0.2.5").status,
            429
        );
        // ...but the browser alice signed in from before is not locked out.
        let mut again = Browser {
            cookies: known
                .cookies
                .iter()
                .filter(|(k, _)| k.contains("device"))
                .cloned()
                .collect(),
        };
        assert_eq!(
            login(&mut again, &h, "alice", PASSWORD, "192.0.2.5").status,
            303
        );
    }

    #[test]
    fn a_device_cookie_for_another_user_or_a_forged_one_earns_no_trust() {
        let h = Harness::new();
        let f = h.fixture();
        h.ok(
            Method::POST,
            "/admin/v1/users",
            Some(json!({ "username": "mallory", "password": PASSWORD })),
        );
        let _ = f;
        let mut m = Browser::default();
        assert_eq!(
            login(&mut m, &h, "mallory", PASSWORD, "198.51.100.2").status,
            303
        );
        let device: Vec<(String, String)> = m
            .cookies
            .iter()
            .filter(|(k, _)| k.contains("device"))
            .cloned()
            .collect();
        assert_eq!(device.len(), 1);
        // Mallory's device cookie does not lift alice's per-account ceiling.
        for i in 0..20 {
            login(
                &mut Browser::default(),
                &h,
                "alice",
                "guess",
                &format!("203.0.113.{i}"),
            );
        }
        let mut with_mallorys = Browser {
            cookies: device.clone(),
        };
        assert_eq!(
            login(&mut with_mallorys, &h, "alice", PASSWORD, "192.0.2.9").status,
            429
        );
        let mut forged = Browser {
            cookies: vec![(device[0].0.clone(), device[0].1.replace('.', "x."))],
        };
        assert_eq!(
            login(&mut forged, &h, "alice", PASSWORD, "192.0.2.9").status,
            429
        );
    }

    #[test]
    fn guesses_from_one_ipv6_64_share_one_limit() {
        let h = Harness::new();
        h.fixture();
        for i in 1..=5 {
            let r = login(
                &mut Browser::default(),
                &h,
                "alice",
                "guess",
                &format!("2001:db8:7:7::{i:x}"),
            );
            assert_eq!(r.status, 401);
        }
        let r = login(
            &mut Browser::default(),
            &h,
            "alice",
            "guess",
            "2001:db8:7:7:ffff::1",
        );
        assert_eq!(r.status, 429, "another address in the same /64");
        let r = login(
            &mut Browser::default(),
            &h,
            "alice",
            PASSWORD,
            "2001:db8:7:8::1",
        );
        assert_eq!(r.status, 303, "another /64 is another source");
    }

    #[test]
    fn an_overlong_username_is_refused_before_any_storage_access() {
        let h = Harness::new();
        h.fixture();
        let mut b = Browser::default();
        let req = login_request(&mut b, &h, &"a".repeat(60_000), "x", "203.0.113.1");
        let before = h.store.db.round_trips.get();
        let r = h.send(req);
        assert_eq!(r.status, 401);
        assert_eq!(h.store.db.round_trips.get(), before, "no statement was run");
        assert!(
            r.body.len() < 10_000,
            "the page does not echo it back in full"
        );
    }

    /// Alice signed in on the account page; returns her browser and a copy of its cookies (what
    /// a thief would hold).
    fn signed_in(h: &Harness) -> (Browser, Browser) {
        let mut b = Browser::default();
        assert_eq!(
            login(&mut b, h, "alice", PASSWORD, "198.51.100.1").status,
            303
        );
        let stolen = Browser {
            cookies: b.cookies.clone(),
        };
        (b, stolen)
    }

    fn opens_the_account_page(h: &Harness, b: &mut Browser) -> bool {
        let r = b.get(h, "/account");
        let body = String::from_utf8_lossy(&r.body);
        r.status == 200 && body.contains("Your account")
    }

    fn logout_form(h: &Harness, b: &mut Browser, extra: &[(&str, &str)]) -> Resp {
        let page = b.get(h, "/account");
        let csrf = hidden(&String::from_utf8_lossy(&page.body), "csrf").unwrap();
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend_from_slice(extra);
        b.post(h, "/account/logout", &form)
    }

    #[test]
    fn a_cookie_saved_before_logout_no_longer_opens_the_account_page() {
        let h = Harness::new();
        h.fixture();
        let (mut b, mut stolen) = signed_in(&h);
        assert!(opens_the_account_page(&h, &mut stolen));
        assert_eq!(logout_form(&h, &mut b, &[]).status, 303);
        assert!(!opens_the_account_page(&h, &mut stolen));
        assert!(!opens_the_account_page(&h, &mut b));
    }

    #[test]
    fn a_stolen_session_cookie_dies_with_a_password_change_a_disabled_or_deleted_user_and_sign_out_everywhere(
    ) {
        for how in [
            "password",
            "disable",
            "delete",
            "everywhere",
            "user-everywhere",
        ] {
            let h = Harness::new();
            let f = h.fixture();
            let (mut b, mut stolen) = signed_in(&h);
            assert!(opens_the_account_page(&h, &mut stolen), "{how}");
            let user = format!("/admin/v1/users/{}", f.alice);
            match how {
                "password" => {
                    h.ok(
                        Method::PATCH,
                        &user,
                        Some(json!({ "password": "a brand new passphrase" })),
                    );
                }
                "disable" => {
                    h.ok(Method::PATCH, &user, Some(json!({ "status": "disabled" })));
                }
                "delete" => {
                    h.ok(Method::DELETE, &user, None);
                }
                "everywhere" => {
                    h.ok(Method::DELETE, &format!("{user}/sessions"), None);
                }
                _ => {
                    assert_eq!(logout_form(&h, &mut b, &[("everywhere", "1")]).status, 303);
                }
            }
            assert!(!opens_the_account_page(&h, &mut stolen), "{how}");
            if how == "disable" {
                h.ok(Method::PATCH, &user, Some(json!({ "status": "active" })));
                assert!(
                    !opens_the_account_page(&h, &mut stolen),
                    "re-enabling does not revive it"
                );
            }
        }
    }

    #[test]
    fn the_account_page_lists_sessions_and_ends_another_one() {
        let h = Harness::new();
        let f = h.fixture();
        let (mut laptop, _) = signed_in(&h);
        let (_, mut phone) = signed_in(&h);
        let sessions = h.ok(
            Method::GET,
            &format!("/admin/v1/users/{}/sessions", f.alice),
            None,
        );
        assert_eq!(sessions["items"].as_array().unwrap().len(), 2);
        let page = String::from_utf8_lossy(&laptop.get(&h, "/account").body).to_string();
        assert!(page.contains("(this browser)") && page.contains("198.51.100.1"));
        let other = hidden(&page, "session").expect("the other session can be ended");
        assert_eq!(
            logout_form(&h, &mut laptop, &[("session", &other)]).status,
            303
        );
        assert!(!opens_the_account_page(&h, &mut phone));
        assert!(opens_the_account_page(&h, &mut laptop), "this one goes on");
        // Another user's session handle cannot be ended from here.
        let sessions = h.ok(
            Method::GET,
            &format!("/admin/v1/users/{}/sessions", f.alice),
            None,
        );
        assert_eq!(sessions["items"].as_array().unwrap().len(), 1);
    }
}

mod client_metadata_and_redirects {
    use super::*;

    const DOC: &str = "https://ide.example.com/oauth/client.json";

    fn publish(h: &Harness, url: &str, doc: serde_json::Value) {
        h.store.web.borrow_mut().insert(
            url.to_owned(),
            (
                200,
                Some("max-age=600".into()),
                doc.to_string().into_bytes(),
            ),
        );
    }

    fn doc_with(url: &str, redirect_uris: serde_json::Value) -> serde_json::Value {
        json!({ "client_id": url, "client_name": "Doc IDE", "redirect_uris": redirect_uris })
    }

    fn authorize_with(
        h: &Harness,
        client_id: &str,
        redirect: &str,
        extra: &str,
        from: &str,
    ) -> Resp {
        let q = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("response_type", "code"),
                ("client_id", client_id),
                ("redirect_uri", redirect),
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "S256"),
                ("resource", NOTES),
                ("state", "s"),
            ])
            .finish();
        h.request(
            Method::GET,
            &format!("/authorize?{q}{extra}"),
            &[("cf-connecting-ip", from)],
            b"",
        )
    }

    #[test]
    fn ip_literal_hosts_in_any_notation_are_refused_before_any_fetch() {
        let h = Harness::new();
        h.fixture();
        for host in [
            "127.1",
            "0x7f.0.0.1",
            "0x7f.1",
            "2130706433",
            "017700000001",
            "127.0.0.1.",
            "169.254.169.254",
            "0xa9fea9fe",
            "[::ffff:127.0.0.1]",
            "[::ffff:7f00:1]",
            "ide.example.com.",
        ] {
            let url = format!("https://{host}/client.json");
            publish(&h, &url, doc_with(&url, json!([CB])));
            let r = authorize_with(&h, &url, CB, "", "203.0.113.1");
            assert_eq!(r.status, 400, "{host}");
            assert!(r.header("location").is_none(), "{host}");
        }
        assert_eq!(h.store.fetches.get(), 0, "nothing was fetched");
    }

    #[test]
    fn the_error_page_never_repeats_the_upstreams_status_or_network_error() {
        let h = Harness::new();
        h.fixture();
        let probes = [
            (
                "https://intranet-probe.example.com/a.json",
                Some((503u16, b"internal admin panel v2.3".to_vec())),
            ),
            ("https://gone.example.com/a.json", None),
            (
                "https://teapot.example.com/a.json",
                Some((418, b"{\"client_id\": 7}".to_vec())),
            ),
            (
                "https://json.example.com/a.json",
                Some((200, b"{\"client_id\": \"secret-from-the-body\"".to_vec())),
            ),
        ];
        for (url, answer) in probes {
            if let Some((status, body)) = answer {
                h.store
                    .web
                    .borrow_mut()
                    .insert(url.into(), (status, None, body));
            }
            let r = authorize_with(&h, url, CB, "", "203.0.113.2");
            let page = String::from_utf8_lossy(&r.body).to_string();
            assert_eq!(r.status, 400);
            for leak in [
                "503",
                "418",
                "internal admin",
                "no such host",
                "secret-from-the-body",
                "EOF",
                "line 1",
            ] {
                assert!(!page.contains(leak), "{url}: the page shows {leak:?}");
            }
            assert!(page.contains("could not be retrieved"), "{url}");
        }
    }

    #[test]
    fn a_metadata_document_with_a_dangerous_redirect_uri_is_refused() {
        let h = Harness::new();
        h.fixture();
        for (i, bad) in [
            "javascript:alert(document.cookie)",
            "data:text/html,<script>alert(1)</script>",
            "https://app.example.com/cb#frag",
            "http://app.example.com/cb",
            "https://*.example.com/cb",
            "myapp:/cb",
        ]
        .iter()
        .enumerate()
        {
            let url = format!("https://ide{i}.example.com/client.json");
            publish(&h, &url, doc_with(&url, json!([bad])));
            let r = authorize_with(&h, &url, bad, "", "203.0.113.3");
            assert_eq!(r.status, 400, "{bad}");
            assert!(r.header("location").is_none(), "{bad}");
        }
    }

    #[test]
    fn metadata_fetches_are_rate_limited_per_source_and_failures_are_cached() {
        let h = Harness::new();
        h.fixture();
        for i in 0..31 {
            let url = format!("https://tool{i}.example.com/client.json");
            let r = authorize_with(&h, &url, CB, "", "203.0.113.4");
            assert_eq!(r.status, 400);
            if i == 30 {
                assert!(String::from_utf8_lossy(&r.body).contains("Too many"));
            }
        }
        assert_eq!(
            h.store.fetches.get(),
            30,
            "the 31st lookup from one source fetched nothing"
        );
        // Another source may still look up; a failing document is fetched once a minute.
        let url = "https://tool0.example.com/client.json";
        for _ in 0..5 {
            authorize_with(&h, url, CB, "", "198.51.100.4");
        }
        assert_eq!(h.store.fetches.get(), 30, "tool0's failure is cached");
        h.advance(61);
        authorize_with(&h, url, CB, "", "198.51.100.4");
        assert_eq!(h.store.fetches.get(), 31);
    }

    #[test]
    fn a_cached_metadata_document_writes_nothing_to_d1() {
        let h = Harness::new();
        h.fixture();
        publish(&h, DOC, doc_with(DOC, json!([CB])));
        assert_eq!(authorize_with(&h, DOC, CB, "", "203.0.113.5").status, 200);
        let mark = h.store.db.log.borrow().len();
        for _ in 0..3 {
            assert_eq!(authorize_with(&h, DOC, CB, "", "203.0.113.5").status, 200);
        }
        assert_eq!(h.store.fetches.get(), 1);
        assert_eq!(h.store.db.writes_since(mark), Vec::<&str>::new());
    }

    fn register(h: &Harness, redirect: &str) -> serde_json::Value {
        let r = h.request(
            Method::POST,
            "/register",
            &[("content-type", "application/json")],
            json!({ "client_name": "Evil", "redirect_uris": [redirect], "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"] })
            .to_string()
            .as_bytes(),
        );
        assert_eq!(r.status, 201, "{:?}", r.json());
        r.json()
    }

    #[test]
    fn a_self_registered_client_cannot_use_mcpgate_as_an_open_redirector_before_sign_in() {
        let h = Harness::new();
        h.fixture();
        let evil = "https://evil.example/x";
        let c = register(&h, evil);
        let id = c["client_id"].as_str().unwrap();
        for (name, value, code) in [
            ("response_type", "token", "unsupported_response_type"),
            ("code_challenge_method", "plain", "invalid_request"),
            (
                "resource",
                "https://unknown.example.com/mcp",
                "invalid_target",
            ),
            ("prompt", "none", "login_required"),
        ] {
            let mut pairs: Vec<(&str, &str)> = vec![
                ("response_type", "code"),
                ("client_id", id),
                ("redirect_uri", evil),
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "S256"),
                ("resource", NOTES),
            ];
            pairs.retain(|(k, _)| *k != name);
            pairs.push((name, value));
            let q = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs)
                .finish();
            let r = h.get(&format!("/authorize?{q}"));
            assert_refused_on_our_page(&r, code);
        }
        // A signed-in user has seen mcpgate's pages: errors then go back to the client.
        let mut b = Browser::default();
        let r = h.sign_in(
            &mut b,
            &authorize_query(&f_public(&h), Some("notes.read"), NOTES, "s"),
            "alice",
            PASSWORD,
        );
        assert!(r.status == 200 || r.status == 303);
        let q = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("response_type", "token"),
                ("client_id", id),
                ("redirect_uri", evil),
            ])
            .finish();
        let r = b.get(&h, &format!("/authorize?{q}"));
        assert_eq!(r.status, 303);
        assert!(r.header("location").unwrap().starts_with(evil));
    }

    /// The fixture's public application.
    fn f_public(h: &Harness) -> String {
        h.ok(Method::GET, "/admin/v1/applications?limit=10", None)["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["client_type"] == "public")
            .unwrap()["client_id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn a_disabled_registered_client_cannot_update_read_or_delete_its_registration() {
        let h = Harness::new();
        h.fixture();
        let c = register(&h, CB);
        let id = c["client_id"].as_str().unwrap();
        let rat = format!(
            "Bearer {}",
            c["registration_access_token"].as_str().unwrap()
        );
        h.ok(
            Method::PATCH,
            &format!("/admin/v1/clients/{id}"),
            Some(json!({ "status": "disabled" })),
        );
        let path = format!("/register/{id}");
        let body = json!({ "client_id": id, "client_name": "Evil", "redirect_uris": ["https://evil.example/x"],
            "token_endpoint_auth_method": "none" })
        .to_string();
        for m in [Method::PUT, Method::GET, Method::DELETE] {
            let r = h.request(
                m.clone(),
                &path,
                &[
                    ("authorization", &rat),
                    ("content-type", "application/json"),
                ],
                body.as_bytes(),
            );
            assert_eq!(r.status, 401, "{m}");
        }
        let after = h.ok(Method::GET, &format!("/admin/v1/clients/{id}"), None);
        assert_eq!(after["redirect_uris"], json!([CB]));
        assert_eq!(after["status"], "disabled");
    }

    #[test]
    fn a_redirect_uri_added_by_an_rfc7592_update_needs_new_consent() {
        let h = Harness::new();
        h.fixture();
        let c = register(&h, CB);
        let id = c["client_id"].as_str().unwrap();
        let mut b = Browser::default();
        let q = authorize_query(id, Some("notes.read"), NOTES, "s");
        assert_eq!(h.authorize(&mut b, &q, "alice", PASSWORD).status, 303);
        // Remembered: no consent page the second time.
        assert_eq!(b.get(&h, &format!("/authorize?{q}")).status, 303);
        h.advance(1);
        let evil = "https://evil.example/x";
        let r = h.request(
            Method::PUT,
            &format!("/register/{id}"),
            &[
                ("authorization", &format!("Bearer {}", c["registration_access_token"].as_str().unwrap())),
                ("content-type", "application/json"),
            ],
            json!({ "client_id": id, "client_name": "Some IDE", "redirect_uris": [CB, evil],
                "token_endpoint_auth_method": "none", "grant_types": ["authorization_code", "refresh_token"] })
            .to_string()
            .as_bytes(),
        );
        assert_eq!(r.status, 200, "{:?}", r.json());
        let q = q.replace(
            &form_urlencoded::byte_serialize(CB.as_bytes()).collect::<String>(),
            &form_urlencoded::byte_serialize(evil.as_bytes()).collect::<String>(),
        );
        let r = b.get(&h, &format!("/authorize?{q}"));
        assert_eq!(
            r.status, 200,
            "the consent page again, not a code sent to the new URI"
        );
        assert!(String::from_utf8_lossy(&r.body).contains("name=\"decision\""));
    }
}

mod introspection {
    use super::*;

    #[test]
    fn a_confidential_client_cannot_introspect_another_clients_token() {
        let h = Harness::new();
        let f = h.fixture();
        let agent_token = access_token(&h.token(
            &[("grant_type", "client_credentials"), ("resource", NOTES)],
            Some((&f.agent, &f.agent_secret)),
        ));
        // A confidential client registered by anyone through DCR.
        let r = h.request(
            Method::POST,
            "/register",
            &[("content-type", "application/json")],
            json!({ "client_name": "Snoop", "redirect_uris": ["https://snoop.example/cb"],
                "token_endpoint_auth_method": "client_secret_basic" })
            .to_string()
            .as_bytes(),
        );
        let snoop = r.json();
        let creds = (
            snoop["client_id"].as_str().unwrap(),
            snoop["client_secret"].as_str().unwrap(),
        );
        let i = h.token_at("/introspect", &[("token", &agent_token)], Some(creds));
        assert_eq!(i.status, 200);
        assert_eq!(
            i.json(),
            json!({ "active": false }),
            "nothing about the token"
        );
        let i = h.token_at(
            "/introspect",
            &[("token", &agent_token)],
            Some((&f.conf_app, &f.conf_secret)),
        );
        assert_eq!(
            i.json(),
            json!({ "active": false }),
            "nor to an unrelated confidential app"
        );
        // The client it was issued to, and a client an admin linked to the notes server, may.
        let own = h.token_at(
            "/introspect",
            &[("token", &agent_token)],
            Some((&f.agent, &f.agent_secret)),
        );
        assert_eq!(own.json()["active"], true);
        h.ok(
            Method::PATCH,
            &format!("/admin/v1/applications/{}", f.conf_app),
            Some(json!({ "introspect": [NOTES] })),
        );
        let linked = h.token_at(
            "/introspect",
            &[("token", &agent_token)],
            Some((&f.conf_app, &f.conf_secret)),
        );
        assert_eq!(linked.json()["active"], true);
        assert_eq!(linked.json()["sub"], f.agent.as_str());
    }
}

mod revocation_feed {
    use super::*;

    #[test]
    fn feed_requests_cannot_be_varied_to_dodge_caches_or_force_new_work() {
        let h = Harness::new();
        let f = h.fixture();
        h.ok(
            Method::PATCH,
            &format!("/admin/v1/clients/{}", f.conf_app),
            Some(json!({ "status": "disabled" })),
        );
        for bad in [
            "/revocations?x=1",
            "/revocations?since=1&since=2",
            "/revocations?since=1&cb=9",
            "/revocations?since=-1",
        ] {
            assert_eq!(h.get(bad).status, 400, "{bad}");
        }
        // Every cursor within one segment gets the same page (same ETag, same `since`), and
        // every cursor ahead of the log gets the same full snapshot: the answers, and the keys
        // they are kept at the edge under, are as few as the pages.
        let etag = |since: u64| {
            let r = h.get(&format!("/revocations?since={since}"));
            assert_eq!(r.status, 200);
            r.header("etag").unwrap().to_owned()
        };
        let seq = h.store.kv.head().unwrap().seq;
        assert!(seq >= 2);
        let within: std::collections::BTreeSet<String> = (0..=seq).map(etag).collect();
        assert_eq!(within.len(), 1, "{within:?}");
        let full = h.get("/revocations").header("etag").unwrap().to_owned();
        let ahead: std::collections::BTreeSet<String> =
            [seq + 1, 77_777, u64::from(u32::MAX), T0 as u64]
                .map(etag)
                .into();
        assert_eq!(
            ahead,
            [full].into(),
            "one full snapshot for every unknown cursor"
        );
    }
}
