//! The latency model: how long each endpoint takes for a client far from the D1 primary.
//!
//! Runs every flow against the native store (real migrations, real statements) and counts its
//! sequential D1 round trips, split into those that must reach the primary and those a read
//! replica may answer (D1's Sessions API). Each is charged a configurable round-trip time from
//! the Worker's edge location: `LATENCY_PRIMARY_MS` (default 80) and `LATENCY_REPLICA_MS`
//! (default 5). The model leaves out what is the same for every server (the client's own trip
//! to the edge) and CPU (see `make bench` for that). Prints, never asserts.
//!
//! `cargo run -p mcpgate-core --example latency`

// A measuring tool, not a service: it shares the tests' harness and their lints.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::cell::{Cell, RefCell};

use common::*;
use http::Method;

struct Trips {
    primary: u64,
    replica: u64,
    /// Statements run (reads, writes).
    reads: usize,
    writes: usize,
}

fn measure(h: &Harness, f: impl FnOnce() -> Resp, ok: impl Fn(u16) -> bool) -> Trips {
    let (all, replica) = (
        h.store.db.round_trips.get(),
        h.store.db.replica_round_trips.get(),
    );
    let mark = h.store.db.log.borrow().len();
    let r = f();
    let run = h.store.db.log.borrow().len() - mark;
    let writes = h.store.db.writes_since(mark).len();
    assert!(ok(r.status), "flow failed: {} {:?}", r.status, r.json());
    let replica = h.store.db.replica_round_trips.get() - replica;
    Trips {
        primary: h.store.db.round_trips.get() - all - replica,
        replica,
        reads: run - writes,
        writes,
    }
}

fn env_ms(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let primary_ms = env_ms("LATENCY_PRIMARY_MS", 80.0);
    let replica_ms = env_ms("LATENCY_REPLICA_MS", 5.0);
    let h = Harness::new();
    let f = h.fixture();
    let mut b = Browser::default();
    let code = h.code_for(&mut b, &f.public_app, Some("notes.read"));
    h.redeem(&f.public_app, &code);
    let q = authorize_query(&f.public_app, Some("notes.read"), NOTES, "xyz");
    let ok = |s: u16| s < 400;
    let mut rows: Vec<(&str, Trips)> = Vec::new();

    rows.push((
        "metadata (RFC 8414)",
        measure(&h, || h.get("/.well-known/oauth-authorization-server"), ok),
    ));
    h.get("/.well-known/jwks.json");
    rows.push((
        "JWKS (warm isolate)",
        measure(&h, || h.get("/.well-known/jwks.json"), ok),
    ));
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
    rows.push((
        "dynamic registration",
        measure(&h, || register("http://127.0.0.1/a"), ok),
    ));
    let mut fresh = Browser::default();
    rows.push((
        "authorize, signed out (login page)",
        measure(&h, || fresh.get(&h, &format!("/authorize?{q}")), ok),
    ));
    let mut code = String::new();
    rows.push((
        "authorize, signed in and consented",
        measure(
            &h,
            || {
                let r = b.clone().get(&h, &format!("/authorize?{q}"));
                code = param(&location_params(&r), "code").unwrap_or_default();
                r
            },
            ok,
        ),
    ));
    h.store.replica_behind.set(true);
    rows.push((
        "  same, replica not caught up",
        measure(&h, || b.clone().get(&h, &format!("/authorize?{q}")), ok),
    ));
    h.store.replica_behind.set(false);
    let mut refresh_token = String::new();
    rows.push((
        "code redemption",
        measure(
            &h,
            || {
                let r = h.redeem(&f.public_app, &code);
                refresh_token = r.json()["refresh_token"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                r
            },
            ok,
        ),
    ));
    let mut access_token = String::new();
    rows.push((
        "refresh (rotating)",
        measure(
            &h,
            || {
                let r = h.token(
                    &[
                        ("grant_type", "refresh_token"),
                        ("client_id", &f.public_app),
                        ("refresh_token", &refresh_token),
                    ],
                    None,
                );
                access_token = r.json()["access_token"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                r
            },
            ok,
        ),
    ));
    let cc = || {
        h.token(
            &[("grant_type", "client_credentials"), ("resource", NOTES)],
            Some((&f.conf_app, &f.conf_secret)),
        )
    };
    cc();
    rows.push(("client_credentials", measure(&h, cc, ok)));
    rows.push((
        "introspection (RFC 7662)",
        measure(
            &h,
            || {
                h.token_at(
                    "/introspect",
                    &[("token", &access_token)],
                    Some((&f.conf_app, &f.conf_secret)),
                )
            },
            ok,
        ),
    ));
    rows.push((
        "revocation (RFC 7009)",
        measure(
            &h,
            || {
                h.token_at(
                    "/revoke",
                    &[("token", &refresh_token), ("client_id", &f.public_app)],
                    None,
                )
            },
            |s| s < 500,
        ),
    ));

    println!(
        "== latency model: a Worker {primary_ms} ms from the D1 primary, {replica_ms} ms from a read replica"
    );
    println!(
        "   (LATENCY_PRIMARY_MS / LATENCY_REPLICA_MS; sequential D1 round trips of each request, counted on the native store)"
    );
    println!(
        "  {:<38} {:>8} {:>8} {:>10}   statements (reads + writes)",
        "flow", "primary", "replica", "latency"
    );
    for (name, t) in rows {
        let ms = t.primary as f64 * primary_ms + t.replica as f64 * replica_ms;
        println!(
            "  {:<38} {:>8} {:>8} {:>7.0} ms   {} + {}",
            name, t.primary, t.replica, ms, t.reads, t.writes
        );
    }
    if std::env::var("SCALE").as_deref() != Ok("0") {
        scale_run();
    }
}

/// The directory the scale run asks for, bulk-loaded with SQL (the statements the
/// service issues are the ones measured; these only fill the tables).
const BULK: &[&str] = &[
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000) \
     INSERT INTO users (id, username, display_name, status, created_at, updated_at) \
     SELECT 'usr_bulk' || i, 'bulk' || i, 'Bulk ' || i, 'active', 0, 0 FROM n",
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) \
     INSERT INTO clients (id, kind, name, client_type, token_endpoint_auth_method, redirect_uris, \
     grant_types, status, created_at, updated_at) \
     SELECT 'cli_bulk' || i, 'application', 'Bulk ' || i, 'public', 'none', '[\"http://127.0.0.1/cb\"]', \
     '[\"authorization_code\",\"refresh_token\"]', 'active', 0, 0 FROM n",
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000) \
     INSERT INTO resource_servers (id, kind, identifier, name, access_token_ttl, allow_self_registered, created_at, updated_at) \
     SELECT 'rs_bulk' || i, 'mcp', 'https://rs' || i || '.bulk.example/mcp', 'Bulk ' || i, 300, 0, 0, 0 FROM n",
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000) \
     INSERT INTO scopes (id, resource_server_id, name, created_at) \
     SELECT 'sc_bulk' || i, 'rs_bulk' || ((i % 1000) + 1), 'scope' || (i / 1000), 0 FROM n",
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000) \
     INSERT INTO audit_log (at, actor, action, target_type, target_id) \
     SELECT i, 'admin', 'user.update', 'user', 'usr_bulk' || ((i % 100000) + 1) FROM n",
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000) \
     INSERT INTO refresh_families (id, client_id, user_id, resource_server_id, scopes, generation, \
     access_jti, access_exp, created_at, last_used_at, expires_at) \
     SELECT 'rf_bulk' || i, 'cli_bulk' || ((i % 20000) + 1), 'usr_bulk' || i, 'rs_bulk' || ((i % 1000) + 1), \
     '[]', 1, 'jti' || i, 4000000000, 0, 0, 4000000000 FROM n",
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000) \
     INSERT INTO refresh_tokens (token_hash, family_id, generation, created_at) \
     SELECT 'bulk' || i, 'rf_bulk' || i, 1, 0 FROM n",
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000) \
     INSERT INTO grants (user_id, client_id, resource_server_id, scopes, created_at, updated_at) \
     SELECT 'usr_bulk' || i, 'cli_bulk' || ((i % 20000) + 1), 'rs_bulk' || ((i % 1000) + 1), '[]', 0, 0 FROM n",
];

/// Median wall time (µs) of `f` over `n` runs.
fn median_us(n: usize, mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..n)
        .map(|_| {
            let t0 = std::time::Instant::now();
            f();
            t0.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// Each flow's native time (the service's code and SQLite, no network) on the fixture's small
/// directory, then after loading 100,000 users, 20,000 clients, 1,000 resource servers,
/// 1,000,000 audit records, 100,000 live refresh families and 100,000 consents.
fn scale_run() {
    let n: usize = std::env::var("SCALE_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let h = Harness::with_config(config_with(
        "https://auth.example.com",
        &[
            ("MCPGATE_REGISTRATION_PER_SOURCE_PER_HOUR", "1000000"),
            ("MCPGATE_REGISTRATION_GLOBAL_PER_HOUR", "1000000"),
        ],
    ));
    let f = h.fixture();
    let mut b = Browser::default();
    let code = h.code_for(&mut b, &f.public_app, Some("notes.read"));
    let first = h.redeem(&f.public_app, &code);
    let refresh = RefCell::new(first.json()["refresh_token"].as_str().unwrap().to_owned());
    let q = authorize_query(&f.public_app, Some("notes.read"), NOTES, "xyz");
    let registered = Cell::new(0u32);
    let flows = |label: &str| -> Vec<(String, f64)> {
        let authorize = median_us(n, || {
            assert_eq!(b.clone().get(&h, &format!("/authorize?{q}")).status, 303);
        });
        let redeem = median_us(n, || {
            let r = b.clone().get(&h, &format!("/authorize?{q}"));
            let code = param(&location_params(&r), "code").unwrap();
            assert_eq!(h.redeem(&f.public_app, &code).status, 200);
        }) - authorize;
        let rotate = median_us(n, || {
            let r = h.token(
                &[
                    ("grant_type", "refresh_token"),
                    ("client_id", &f.public_app),
                    ("refresh_token", &refresh.borrow()),
                ],
                None,
            );
            assert_eq!(r.status, 200, "{:?}", r.json());
            *refresh.borrow_mut() = r.json()["refresh_token"].as_str().unwrap().to_owned();
        });
        let cc = median_us(n, || {
            let r = h.token(
                &[("grant_type", "client_credentials"), ("resource", NOTES)],
                Some((&f.conf_app, &f.conf_secret)),
            );
            assert_eq!(r.status, 200);
        });
        let register = median_us(n, || {
            registered.set(registered.get() + 1);
            let body = serde_json::json!({
                "redirect_uris": [format!("http://127.0.0.1/{label}/{}", registered.get())],
                "token_endpoint_auth_method": "none"
            });
            let r = h.request(
                Method::POST,
                "/register",
                &[("content-type", "application/json")],
                body.to_string().as_bytes(),
            );
            assert_eq!(r.status, 201, "{:?}", r.json());
        });
        vec![
            ("authorize, signed in and consented".into(), authorize),
            ("code redemption".into(), redeem),
            ("refresh (rotating)".into(), rotate),
            ("client_credentials".into(), cc),
            ("dynamic registration".into(), register),
        ]
    };
    // A first pass warms the process (allocator, caches) and is not reported.
    flows("warm");
    let small = flows("small");
    let t0 = std::time::Instant::now();
    // SCALE_BULK=0 runs the second pass without the bulk load: a control for what the passes
    // themselves add (families, codes, registrations) and for the machine's noise.
    if std::env::var("SCALE_BULK").as_deref() != Ok("0") {
        for sql in BULK {
            h.store
                .db
                .inspect(mcpgate_core::store::Stmt::new(sql, vec![]));
        }
    }
    let loaded = t0.elapsed().as_secs_f64();
    let large = flows("large");
    // The bulk servers do not accept self-registered clients; opening all 1,000 of them must
    // not change what a registration costs (a self-registered client reaches the servers open
    // since before it registered, with no row per server).
    h.store.db.inspect(mcpgate_core::store::Stmt::new(
        "UPDATE resource_servers SET allow_self_registered = 1, self_registration_opened_at = 0 \
         WHERE id LIKE 'rs_bulk%'",
        vec![],
    ));
    let open = flows("open");
    println!();
    println!(
        "== scale: native time per request (service + SQLite, median of {n}; {} build), small directory vs \
         100,000 users / 20,000 clients / 1,000 servers / 1,000,000 audit records / 100,000 families and consents (loaded in {loaded:.1} s)",
        if cfg!(debug_assertions) { "debug" } else { "release" }
    );
    println!(
        "  {:<38} {:>10} {:>10} {:>8}",
        "flow", "small", "large", "large/small"
    );
    for ((name, s), (_, l)) in small.iter().zip(&large) {
        println!("  {:<38} {:>7.0} µs {:>7.0} µs {:>8.2}", name, s, l, l / s);
    }
    if let (Some((_, s)), Some((_, o))) = (small.last(), open.last()) {
        println!(
            "  {:<38} {:>7.0} µs {:>7.0} µs {:>8.2}   (small directory vs large, all 1,000 open)",
            "registration, 1,000 servers open to it",
            s,
            o,
            o / s
        );
    }
}
