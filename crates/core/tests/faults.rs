//! Never half-writes: every flow is run once per store call it makes, with that call failing
//! (`TestStore::fail_nth_call`), and afterwards the invariants must hold — a code is usable at
//! most once, a refresh family never forks, consent is never lost, an audit row exists exactly
//! when the change landed — and the caller got either the normal answer or a clean 503
//! (`temporarily_unavailable`, or the page / redirect saying so), never a 500.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use http::Method;
use mcpgate_core::stmt;
use mcpgate_core::testing::block_on;
use serde_json::{json, Value};

/// Runs `act` after `setup` once without faults to count its store calls, then once per call
/// with that call failing (each on a fresh service), and hands every outcome to `check`.
fn for_every_fault<S>(
    setup: impl Fn(&Harness) -> S,
    act: impl Fn(&Harness, &S) -> Resp,
    check: impl Fn(&Harness, &S, &Resp, Option<u64>),
) {
    let h = Harness::new();
    let s = setup(&h);
    let before = h.store.store_calls.get();
    let r = act(&h, &s);
    let calls = h.store.store_calls.get() - before;
    assert!(calls > 0, "the flow touched no store");
    check(&h, &s, &r, None);
    for k in 0..calls {
        let h = Harness::new();
        let s = setup(&h);
        h.store.fail_nth_call(k);
        let r = act(&h, &s);
        assert_clean(&r, k);
        check(&h, &s, &r, Some(k));
    }
}

/// The normal answer, or a clean "try again": 503, or a redirect carrying
/// `temporarily_unavailable`. Never a 500.
fn assert_clean(r: &Resp, k: u64) {
    assert_ne!(
        r.status,
        500,
        "fault at call {k}: {}",
        String::from_utf8_lossy(&r.body)
    );
    if r.status == 503 {
        let body = String::from_utf8_lossy(&r.body);
        assert!(
            body.contains("temporarily_unavailable") || body.contains("try again later"),
            "fault at call {k}: {body}"
        );
    }
    if let Some(loc) = r.header("location") {
        if loc.contains("error=") {
            assert!(
                loc.contains("error=temporarily_unavailable"),
                "fault at call {k}: {loc}"
            );
        }
    }
}

fn count(h: &Harness, sql: &'static str, p: &str) -> i64 {
    let rows = h.store.db.inspect(stmt!(sql, p));
    rows[0]["n"].as_i64().unwrap()
}

#[test]
fn an_admin_change_is_audited_exactly_when_it_lands() {
    for_every_fault(
        |h| {
            h.fixture();
            h.admin_access_token()
        },
        |h, _| {
            h.admin(
                Method::POST,
                "/admin/v1/applications",
                Some(json!({ "name": "Faulty", "client_type": "confidential", "grant_types": ["client_credentials"] })),
            )
        },
        |h, _, r, k| {
            let clients = count(
                h,
                "SELECT count(*) AS n FROM clients WHERE name = ?1",
                "Faulty",
            );
            let audits = count(
                h,
                "SELECT count(*) AS n FROM audit_log WHERE action = 'application.create' AND json_extract(detail, '$.name') = ?1",
                "Faulty",
            );
            assert_eq!(
                clients, audits,
                "fault at {k:?}: client and audit row land together"
            );
            if r.status == 201 {
                assert_eq!(clients, 1);
            }
        },
    );
}

#[test]
fn disabling_a_client_revokes_and_audits_together_or_not_at_all() {
    for_every_fault(
        |h| {
            let f = h.fixture();
            h.admin_access_token();
            f
        },
        |h, f| {
            h.admin(
                Method::PATCH,
                &format!("/admin/v1/clients/{}", f.conf_app),
                Some(json!({ "status": "disabled", "reason": "compromised" })),
            )
        },
        |h, f, r, k| {
            let disabled = count(
                h,
                "SELECT count(*) AS n FROM clients WHERE id = ?1 AND status = 'disabled'",
                &f.conf_app,
            );
            let audits = count(
                h,
                "SELECT count(*) AS n FROM audit_log WHERE action = ?1",
                "client.disable",
            );
            let entries = count(
                h,
                "SELECT count(*) AS n FROM revocations WHERE kind = 'client' AND id = ?1",
                &f.conf_app,
            );
            assert_eq!((disabled, audits), (entries, entries), "fault at {k:?}");
            if r.status == 200 {
                assert_eq!(disabled, 1);
            }
            if disabled == 1 {
                // Whatever happened to the KV mirror, the scheduled task repairs it.
                block_on(h.service().scheduled(h.now.get(), &mut *h.rng.borrow_mut())).unwrap();
                let kv =
                    block_on(mcpgate_core::revocation::snapshot(&h.store, h.now.get())).unwrap();
                assert!(
                    kv.iter()
                        .any(|e| e.id == f.conf_app
                            && e.kind == mcpgate_core::revocation::Kind::Client),
                    "fault at {k:?}: the KV mirror lacks the revocation"
                );
            }
        },
    );
}

#[test]
fn a_code_is_redeemed_at_most_once_whatever_fails() {
    for_every_fault(
        |h| {
            let f = h.fixture();
            let code = h.code_for(&mut Browser::default(), &f.public_app, Some("notes.read"));
            (f, code)
        },
        |h, (f, code)| h.redeem(&f.public_app, code),
        |h, (f, code), first, k| {
            // The client retries (or an attacker replays).
            let again = h.redeem(&f.public_app, code);
            let successes = [first.status, again.status]
                .iter()
                .filter(|s| **s == 200)
                .count();
            assert!(successes <= 1, "fault at {k:?}: redeemed twice");
            let live = count(
                h,
                "SELECT count(*) AS n FROM refresh_families WHERE user_id = ?1 AND revoked_at IS NULL",
                &f.alice,
            );
            if first.status == 200 {
                assert_eq!(live, 0, "fault at {k:?}: the replay left a live family");
            } else {
                // Nothing was handed out before the retry: at most what the retry got lives.
                assert!(
                    live <= i64::from(again.status == 200),
                    "fault at {k:?}: {live} live families"
                );
            }
        },
    );
}

#[test]
fn a_refresh_family_never_forks_whatever_fails() {
    for_every_fault(
        |h| {
            let f = h.fixture();
            let code = h.code_for(&mut Browser::default(), &f.public_app, Some("notes.read"));
            let t = h.redeem(&f.public_app, &code).json();
            (f, t["refresh_token"].as_str().unwrap().to_owned())
        },
        |h, (f, rt)| {
            h.token(
                &[
                    ("grant_type", "refresh_token"),
                    ("client_id", &f.public_app),
                    ("refresh_token", rt),
                ],
                None,
            )
        },
        |h, (f, rt), first, k| {
            let usable = |h: &Harness| {
                count(
                    h,
                    "SELECT count(*) AS n FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id \
                     WHERE f.user_id = ?1 AND f.revoked_at IS NULL AND t.generation = f.generation",
                    &f.alice,
                )
            };
            assert!(usable(h) <= 1, "fault at {k:?}: two usable refresh tokens");
            if first.status == 200 {
                let next = first.json()["refresh_token"].as_str().unwrap().to_owned();
                let r = h.token(
                    &[
                        ("grant_type", "refresh_token"),
                        ("client_id", &f.public_app),
                        ("refresh_token", &next),
                    ],
                    None,
                );
                assert_eq!(r.status, 200, "fault at {k:?}: the rotated token works");
            } else {
                // Nothing was rotated: the client retries with the same token.
                let r = h.token(
                    &[
                        ("grant_type", "refresh_token"),
                        ("client_id", &f.public_app),
                        ("refresh_token", rt),
                    ],
                    None,
                );
                assert_eq!(
                    r.status,
                    200,
                    "fault at {k:?}: the retry works: {:?}",
                    r.json()
                );
            }
            assert!(usable(h) <= 1);
        },
    );
}

#[test]
fn step_up_consent_never_loses_what_was_consented_before() {
    for_every_fault(
        |h| {
            let f = h.fixture();
            h.ok(
                Method::PUT,
                &format!("/admin/v1/users/{}/roles/{}", f.alice, f.admin_role),
                None,
            );
            let mut b = Browser::default();
            h.code_for(&mut b, &f.public_app, Some("notes.read"));
            let page = h.sign_in(
                &mut b,
                &authorize_query(&f.public_app, Some("notes.write"), NOTES, "s"),
                "alice",
                PASSWORD,
            );
            let body = String::from_utf8_lossy(&page.body).to_string();
            (
                f,
                b,
                hidden(&body, "csrf").unwrap(),
                hidden(&body, "request").unwrap(),
            )
        },
        |h, (_, b, csrf, request)| {
            let c = b.cookie_header();
            h.post_form(
                "/authorize/consent",
                &[("csrf", csrf), ("request", request), ("decision", "allow")],
                &[("cookie", &c)],
            )
        },
        |h, (f, ..), r, k| {
            let grants = h.ok(
                Method::GET,
                &format!("/admin/v1/users/{}/grants", f.alice),
                None,
            );
            let scopes: Vec<Value> = grants["items"][0]["scopes"].as_array().unwrap().clone();
            assert!(
                scopes.contains(&json!("notes.read")),
                "fault at {k:?}: consent lost"
            );
            if r.header("location").is_some_and(|l| l.contains("code=")) {
                assert!(scopes.contains(&json!("notes.write")), "fault at {k:?}");
            }
        },
    );
}

#[test]
fn disabling_a_user_ends_sessions_revokes_and_audits_together() {
    for_every_fault(
        |h| {
            let f = h.fixture();
            h.admin_access_token();
            let mut b = Browser::default();
            h.code_for(&mut b, &f.public_app, Some("notes.read"));
            f
        },
        |h, f| {
            h.admin(
                Method::PATCH,
                &format!("/admin/v1/users/{}", f.alice),
                Some(json!({ "status": "disabled" })),
            )
        },
        |h, f, _, k| {
            let disabled = count(
                h,
                "SELECT count(*) AS n FROM users WHERE id = ?1 AND status = 'disabled'",
                &f.alice,
            );
            let sessions = count(
                h,
                "SELECT count(*) AS n FROM sessions WHERE user_id = ?1",
                &f.alice,
            );
            let entries = count(
                h,
                "SELECT count(*) AS n FROM revocations WHERE kind = 'sub' AND id = ?1",
                &f.alice,
            );
            let audits = count(
                h,
                "SELECT count(*) AS n FROM audit_log WHERE action = ?1",
                "user.disable",
            );
            assert_eq!(
                (disabled, entries, audits, 1 - sessions),
                (disabled, disabled, disabled, disabled),
                "fault at {k:?}"
            );
        },
    );
}

#[test]
fn a_failed_sign_in_starts_no_session() {
    for_every_fault(
        |h| {
            h.fixture();
            let mut b = Browser::default();
            let page = b.get(h, "/account");
            let csrf = hidden(&String::from_utf8_lossy(&page.body), "csrf").unwrap();
            (b, csrf)
        },
        |h, (b, csrf)| {
            let c = b.cookie_header();
            h.post_form(
                "/authorize/login",
                &[
                    ("csrf", csrf),
                    ("continue", "@account"),
                    ("username", "alice"),
                    ("password", PASSWORD),
                ],
                &[("cookie", &c), ("cf-connecting-ip", "203.0.113.9")],
            )
        },
        |h, _, r, k| {
            let sessions = count(h, "SELECT count(*) AS n FROM sessions WHERE ?1 = ?1", "");
            assert_eq!(sessions, i64::from(r.status == 303), "fault at {k:?}");
        },
    );
}
