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
}
