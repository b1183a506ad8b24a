//! Foundation requirements: discovery (RFC 8414), JWKS (RFC 7517/7638), the signing-key
//! lifecycle, and the error behaviour every endpoint shares.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{config_with, Harness, ADMIN, T0};
use http::Method;
use mcpgate_core::keys::{self, KeyEncryptionKey};
use mcpgate_core::testing::{block_on, join, TestRng};
use mcpgate_guard::{AccessClaims, Audience, EcPublicJwk, JwkSet, ParsedToken};

fn mint(h: &Harness, sub: &str) -> String {
    let kek = KeyEncryptionKey::derive(common::SECRET);
    let key = block_on(keys::active_key(
        &h.store,
        &kek,
        &mut TestRng::new(99),
        h.now.get(),
    ))
    .unwrap();
    let claims = AccessClaims {
        iss: h.config.issuer.clone(),
        sub: sub.into(),
        aud: Audience::One("https://mcp.example.com/mcp".into()),
        client_id: "app".into(),
        scope: "notes.read".into(),
        jti: format!("jti-{sub}"),
        act: None,
        fam: None,
    };
    let now = h.now.get();
    block_on(mcpgate_core::jwt::sign_access_token(
        &h.crypto,
        &key,
        claims,
        now,
        now + 600,
    ))
    .unwrap()
}

fn jwks(h: &Harness) -> JwkSet {
    serde_json::from_value(h.get("/.well-known/jwks.json").json()).unwrap()
}

fn verifies(token: &str, set: &JwkSet) -> bool {
    let parsed = ParsedToken::parse(token).unwrap();
    set.es256_keys()
        .iter()
        .find(|(kid, _)| kid == parsed.kid())
        .is_some_and(|(_, key)| parsed.verify_p256(key).is_ok())
}

mod rfc8414_metadata {
    use super::*;

    #[test]
    fn both_well_known_documents_carry_one_identical_issuer() {
        let h = Harness::new();
        let a = h.get("/.well-known/oauth-authorization-server");
        let b = h.get("/.well-known/openid-configuration");
        assert_eq!(a.status, 200);
        assert_eq!(b.status, 200);
        assert_eq!(a.json()["issuer"], "https://auth.example.com");
        assert_eq!(a.json()["issuer"], b.json()["issuer"]);
        assert_eq!(
            a.json()["jwks_uri"],
            "https://auth.example.com/.well-known/jwks.json"
        );
        assert_eq!(a.header("content-type"), Some("application/json"));
    }

    #[test]
    fn issuer_with_a_path_is_served_at_the_path_inserted_locations() {
        let h = Harness::with_config(config_with("https://auth.example.com/tenant-a/", &[]));
        for path in [
            "/.well-known/oauth-authorization-server/tenant-a",
            "/.well-known/openid-configuration/tenant-a",
            "/tenant-a/.well-known/openid-configuration",
        ] {
            let r = h.get(path);
            assert_eq!(r.status, 200, "{path}");
            assert_eq!(
                r.json()["issuer"],
                "https://auth.example.com/tenant-a",
                "{path}"
            );
        }
        assert_eq!(h.get("/.well-known/oauth-authorization-server").status, 404);
        assert_eq!(h.get("/tenant-a/.well-known/jwks.json").status, 200);
        assert_eq!(h.get("/.well-known/jwks.json").status, 404);
    }

    #[test]
    fn every_advertised_endpoint_is_routed() {
        let h = Harness::with_config(config_with("https://auth.example.com/t", &[]));
        let doc = h.get("/.well-known/oauth-authorization-server/t").json();
        let obj = doc.as_object().unwrap();
        let mut checked = 0;
        for (name, value) in obj {
            if !(name.ends_with("_endpoint") || name == "jwks_uri") {
                continue;
            }
            let url = value.as_str().unwrap();
            let path = url.strip_prefix("https://auth.example.com").unwrap();
            let get = h.get(path);
            let post = h.request(Method::POST, path, &[], b"");
            assert!(
                get.status != 404 || post.status != 404,
                "{name} -> {path} is not routed"
            );
            checked += 1;
        }
        assert!(checked >= 1);
    }

    #[test]
    fn a_fixed_answer_kept_by_the_runtime_is_exactly_what_the_service_answers() {
        use mcpgate_core::service::fixed_response;
        let h = Harness::with_config(config_with("https://auth.example.com/t", &[]));
        let admin_metadata = "/.well-known/oauth-protected-resource/t/admin/v1";
        let fixed_paths = [
            "/.well-known/oauth-authorization-server/t",
            "/.well-known/openid-configuration/t",
            "/t/.well-known/openid-configuration",
            admin_metadata,
        ];
        for path in fixed_paths {
            for method in [Method::GET, Method::HEAD] {
                let kept = fixed_response(&h.config, &method, path)
                    .unwrap_or_else(|| panic!("{method} {path} has a fixed answer"));
                let served = h.request(method.clone(), path, &[], b"");
                assert_eq!(kept.status().as_u16(), served.status, "{method} {path}");
                assert_eq!(kept.headers(), &served.headers, "{method} {path}");
                assert_eq!(kept.body(), &served.body, "{method} {path}");
            }
        }
        assert_eq!(h.get(admin_metadata).status, 200);
        // Anything that depends on more than the path is never fixed.
        for (method, path) in [
            (Method::POST, "/.well-known/oauth-authorization-server/t"),
            (Method::OPTIONS, "/.well-known/oauth-authorization-server/t"),
            (Method::GET, "/.well-known/oauth-authorization-server"),
            (Method::GET, "/t/.well-known/jwks.json"),
            (Method::GET, "/t/authorize"),
            (Method::GET, "/t/admin/v1/users"),
        ] {
            assert!(
                fixed_response(&h.config, &method, path).is_none(),
                "{method} {path}"
            );
        }
    }

    #[test]
    fn discovery_is_cacheable_and_cors_enabled() {
        let h = Harness::new();
        let r = h.get("/.well-known/oauth-authorization-server");
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
        assert!(r.header("cache-control").unwrap().contains("max-age"));
        let pre = h.request(
            Method::OPTIONS,
            "/.well-known/oauth-authorization-server",
            &[],
            b"",
        );
        assert_eq!(pre.status, 204);
        assert!(pre
            .header("access-control-allow-headers")
            .unwrap()
            .contains("MCP-Protocol-Version"));
        assert!(pre.header("access-control-allow-credentials").is_none());
    }
}

mod jwks {
    use super::*;

    #[test]
    fn publishes_active_and_next_es256_keys_with_thumbprint_kids() {
        let h = Harness::new();
        let r = h.get("/.well-known/jwks.json");
        assert_eq!(r.status, 200);
        assert!(r.header("cache-control").unwrap().contains("max-age=300"));
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
        let keys = r.json()["keys"].as_array().unwrap().clone();
        assert_eq!(keys.len(), 2, "active and next");
        for k in keys {
            let jwk: EcPublicJwk = serde_json::from_value(k.clone()).unwrap();
            assert_eq!(jwk.kid.as_deref(), Some(jwk.thumbprint().as_str()));
            assert_eq!(k["alg"], "ES256");
            assert_eq!(k["use"], "sig");
            assert!(k.get("d").is_none(), "private half must never be published");
        }
    }

    #[test]
    fn keys_are_generated_once_and_reused() {
        let h = Harness::new();
        let a = jwks(&h);
        h.advance(3600);
        let b = jwks(&h);
        assert_eq!(a, b);
    }

    #[test]
    fn token_signed_by_the_server_verifies_against_the_jwks_and_fails_after_tampering() {
        let h = Harness::new();
        let token = mint(&h, "alice");
        let set = jwks(&h);
        assert!(verifies(&token, &set));
        let mut tampered = token.clone();
        let dot = tampered.find('.').unwrap();
        tampered.replace_range(dot + 1..dot + 3, "ey");
        tampered.replace_range(
            dot + 3..dot + 4,
            if &token[dot + 3..dot + 4] == "A" {
                "B"
            } else {
                "A"
            },
        );
        assert!(!verifies(&tampered, &set));
    }
}

mod key_lifecycle {
    use super::*;

    fn rotate(h: &Harness) -> serde_json::Value {
        let r = h.admin(Method::POST, "/admin/v1/keys/rotate", None);
        assert_eq!(r.status, 200, "{:?}", r.json());
        r.json()
    }

    #[test]
    fn next_key_is_published_before_it_signs_and_signs_after_rotation() {
        let h = Harness::new();
        let before = h.admin(Method::GET, "/admin/v1/keys", None).json();
        let next_kid = before["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["state"] == "next")
            .unwrap()["kid"]
            .clone();
        let published: Vec<_> = jwks(&h).keys.iter().map(|k| k["kid"].clone()).collect();
        assert!(published.contains(&next_kid));
        let r = rotate(&h);
        assert_eq!(r["active"], next_kid);
        let token = mint(&h, "bob");
        assert_eq!(
            ParsedToken::parse(&token).unwrap().kid(),
            next_kid.as_str().unwrap()
        );
    }

    #[test]
    fn rotation_keeps_tokens_signed_by_the_old_key_verifiable() {
        let h = Harness::new();
        let old = mint(&h, "alice");
        rotate(&h);
        h.advance(60);
        let set = jwks(&h);
        assert_eq!(set.keys.len(), 3, "active, next and retired");
        assert!(verifies(&old, &set));
        assert!(verifies(&mint(&h, "carol"), &set));
    }

    #[test]
    fn retired_key_drops_out_after_every_token_it_signed_has_expired() {
        let h = Harness::new();
        let old = mint(&h, "alice");
        let r = rotate(&h);
        let until = r["retired_published_until"].as_i64().unwrap();
        assert!(
            until >= T0 + h.config.max_token_ttl,
            "published for at least the max lifetime"
        );
        h.now.set(until - 1);
        assert!(verifies(&old, &jwks(&h)));
        h.now.set(until);
        let set = jwks(&h);
        assert_eq!(set.keys.len(), 2);
        assert!(!verifies(&old, &set));
        // The scheduled task deletes it from storage too.
        let report = block_on(h.service().scheduled(h.now.get(), &mut TestRng::new(5))).unwrap();
        assert!(report.contains("deleted 1 expired"), "{report}");
    }

    #[test]
    fn scheduled_task_rotates_only_when_the_active_key_is_due() {
        let h = Harness::new();
        let kid0 = ParsedToken::parse(&mint(&h, "a")).unwrap().kid().to_owned();
        let report = block_on(h.service().scheduled(h.now.get(), &mut TestRng::new(5))).unwrap();
        assert!(!report.contains("rotated"), "{report}");
        h.advance(h.config.key_rotation_period);
        let report = block_on(h.service().scheduled(h.now.get(), &mut TestRng::new(6))).unwrap();
        assert!(report.contains("rotated"), "{report}");
        assert_ne!(ParsedToken::parse(&mint(&h, "a")).unwrap().kid(), kid0);
    }

    #[test]
    fn concurrent_first_use_yields_a_single_active_key() {
        let h = Harness::new();
        let kek = KeyEncryptionKey::derive(common::SECRET);
        let (mut r1, mut r2) = (TestRng::new(1), TestRng::new(2));
        let (a, b) = block_on(join(
            keys::ensure(&h.store, &kek, &mut r1, T0),
            keys::ensure(&h.store, &kek, &mut r2, T0),
        ));
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.active.unwrap().kid, b.active.unwrap().kid);
        assert_eq!(jwks(&h).keys.len(), 2);
    }

    #[test]
    fn concurrent_rotations_rotate_once() {
        let h = Harness::new();
        let kek = KeyEncryptionKey::derive(common::SECRET);
        jwks(&h);
        let (mut r1, mut r2) = (TestRng::new(1), TestRng::new(2));
        let (a, b) = block_on(join(
            keys::rotate(&h.store, &kek, &mut r1, T0, 3600),
            keys::rotate(&h.store, &kek, &mut r2, T0, 3600),
        ));
        assert!(a.is_ok() != b.is_ok(), "exactly one rotation wins");
        assert_eq!(jwks(&h).keys.len(), 3);
    }

    #[test]
    fn a_different_root_secret_cannot_open_stored_keys() {
        let h = Harness::new();
        mint(&h, "a");
        let wrong = KeyEncryptionKey::derive("another-root-secret-0123456789abcdef");
        let err =
            block_on(keys::active_key(&h.store, &wrong, &mut TestRng::new(1), T0)).unwrap_err();
        assert!(err.to_string().contains("MCPGATE_SECRET"), "{err}");
    }
}

mod errors {
    use super::*;
    use mcpgate_core::wire::MAX_BODY_BYTES;

    #[test]
    fn unknown_route_is_a_json_404() {
        let h = Harness::new();
        let r = h.get("/no/such/thing");
        assert_eq!(r.status, 404);
        assert_eq!(r.json()["error"], "not_found");
        assert_eq!(r.header("content-type"), Some("application/json"));
    }

    #[test]
    fn wrong_method_is_a_json_405_with_allow() {
        let h = Harness::new();
        let r = h.request(Method::DELETE, "/.well-known/jwks.json", &[], b"");
        assert_eq!(r.status, 405);
        assert_eq!(r.json()["error"], "method_not_allowed");
        assert!(r.header("allow").unwrap().contains("GET"));
    }

    #[test]
    fn oversized_body_is_rejected_before_parsing() {
        let h = Harness::new();
        let body = vec![b'a'; MAX_BODY_BYTES + 1];
        let auth = format!("Bearer {ADMIN}");
        let r = h.request(
            Method::POST,
            "/admin/v1/keys/rotate",
            &[("authorization", &auth)],
            &body,
        );
        assert_eq!(r.status, 413);
        assert_eq!(r.json()["error"], "invalid_request");
    }

    #[test]
    fn admin_endpoints_require_the_admin_credential() {
        let h = Harness::new();
        let none = h.get("/admin/v1/keys");
        assert_eq!(none.status, 401);
        assert!(none
            .header("www-authenticate")
            .unwrap()
            .starts_with("Bearer"));
        let wrong = h.request(
            Method::GET,
            "/admin/v1/keys",
            &[("authorization", "Bearer nope")],
            b"",
        );
        assert_eq!(wrong.status, 401);
        assert_eq!(wrong.header("cache-control"), Some("no-store"));
        let basic = h.request(
            Method::GET,
            "/admin/v1/keys",
            &[("authorization", &format!("Basic {ADMIN}"))],
            b"",
        );
        assert_eq!(basic.status, 401);
    }
}

mod housekeeping {
    use super::*;
    use mcpgate_core::service::{PRUNE_BATCH, PRUNE_ROUNDS};
    use mcpgate_core::stmt;

    fn count(h: &Harness, sql: &'static str) -> i64 {
        h.store.db.inspect(stmt!(sql))[0]["n"].as_i64().unwrap()
    }

    fn run_cron(h: &Harness) -> String {
        block_on(h.service().scheduled(h.now.get(), &mut TestRng::new(5))).unwrap()
    }

    #[test]
    fn the_cron_prunes_a_backlog_in_bounded_rounds_and_finishes_it_on_later_runs() {
        let h = Harness::new();
        let bound = PRUNE_BATCH * i64::try_from(PRUNE_ROUNDS).unwrap();
        let backlog = bound + 700;
        // Stale counters from long ago, plus one from this hour that must survive.
        h.store.db.inspect(stmt!(
            "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < ?1) \
             INSERT INTO rate_counters (key, window_start, count) SELECT 'old:' || i, 0, 1 FROM c",
            backlog
        ));
        h.store.db.inspect(stmt!(
            "INSERT INTO rate_counters (key, window_start, count) VALUES ('now', ?1, 1)",
            h.now.get()
        ));
        let before = h.store.db.round_trips.get();
        let report = run_cron(&h);
        let left = count(&h, "SELECT count(*) AS n FROM rate_counters");
        assert_eq!(
            left,
            backlog - bound + 1,
            "one run deletes at most the bound: {report}"
        );
        assert!(
            h.store.db.round_trips.get() - before <= 20 + PRUNE_ROUNDS as u64,
            "a run is a bounded number of round trips"
        );
        run_cron(&h);
        assert_eq!(
            count(&h, "SELECT count(*) AS n FROM rate_counters"),
            1,
            "the next run finishes the backlog and keeps the live counter"
        );
    }

    #[test]
    fn audit_records_past_the_configured_retention_are_pruned_and_recent_ones_kept() {
        let h = Harness::with_config(config_with(
            "https://auth.example.com",
            &[("MCPGATE_AUDIT_RETENTION_DAYS", "30")],
        ));
        h.fixture();
        let made = count(&h, "SELECT count(*) AS n FROM audit_log");
        assert!(made > 5);
        h.advance(31 * 86_400);
        h.admin(
            Method::POST,
            "/admin/v1/groups",
            Some(serde_json::json!({ "name": "recent" })),
        );
        run_cron(&h);
        let left: Vec<String> = h
            .store
            .db
            .inspect(stmt!("SELECT action FROM audit_log"))
            .iter()
            .map(|r| r["action"].as_str().unwrap().to_owned())
            .collect();
        assert!(left.contains(&"group.create".to_owned()), "{left:?}");
        assert!(
            i64::try_from(left.len()).unwrap() < made,
            "records older than 30 days are gone: {left:?}"
        );
    }

    #[test]
    fn with_retention_zero_audit_records_are_kept_forever() {
        let h = Harness::with_config(config_with(
            "https://auth.example.com",
            &[("MCPGATE_AUDIT_RETENTION_DAYS", "0")],
        ));
        h.fixture();
        let made = count(&h, "SELECT count(*) AS n FROM audit_log");
        h.advance(3650 * 86_400);
        run_cron(&h);
        assert_eq!(count(&h, "SELECT count(*) AS n FROM audit_log"), made);
    }
}
