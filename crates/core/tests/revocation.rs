//! Revocation in one place: disabling or deleting a client, agent or user stops every token
//! issued through it at mcpgate at once, and at offline validators through the signed feed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use http::Method;
use mcpgate_core::testing::{block_on, TestRng};
use mcpgate_guard::validator::{Validator, ValidatorConfig};
use mcpgate_guard::TokenError;
use serde_json::json;

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const AT: &str = "urn:ietf:params:oauth:token-type:access_token";

struct Tokens {
    machine: String,
    user: String,
    user_refresh: String,
    delegated: String,
}

/// A token of each kind: the confidential app for itself, alice through the public app, and
/// the agent acting for alice (act chain: agent, public app).
fn tokens(h: &Harness, f: &Fixture) -> Tokens {
    let machine = h
        .token(
            &[("grant_type", "client_credentials"), ("resource", NOTES)],
            Some((&f.conf_app, &f.conf_secret)),
        )
        .json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = h.code_for(&mut Browser::default(), &f.public_app, Some("notes.read"));
    let t = h.redeem(&f.public_app, &code).json();
    let subject = h.user_token_for_agent(f);
    let delegated = h
        .token(
            &[
                ("grant_type", EXCHANGE),
                ("subject_token", &subject),
                ("subject_token_type", AT),
                ("resource", NOTES),
            ],
            Some((&f.agent, &f.agent_secret)),
        )
        .json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    Tokens {
        machine,
        user: t["access_token"].as_str().unwrap().to_owned(),
        user_refresh: t["refresh_token"].as_str().unwrap().to_owned(),
        delegated,
    }
}

#[test]
fn disabling_a_client_revokes_its_tokens_and_those_it_acts_in_at_once_and_offline() {
    let h = Harness::new();
    let f = h.fixture();
    let t = tokens(&h, &f);
    let v = validator(&h);
    for tok in [&t.machine, &t.user, &t.delegated] {
        assert!(active(&h, &f, tok));
        assert!(v.validate(tok, h.now.get()).is_ok());
    }
    h.advance(1);
    let radius = h.ok(
        Method::GET,
        &format!("/admin/v1/clients/{}/blast-radius", f.public_app),
        None,
    );
    assert_eq!(radius["active_refresh_families"], 2);
    assert_eq!(radius["distinct_users"], 1);
    assert_eq!(radius["resource_servers"], 2);
    h.ok(
        Method::PATCH,
        &format!("/admin/v1/clients/{}", f.public_app),
        Some(json!({ "status": "disabled", "reason": "laptop stolen" })),
    );
    // At mcpgate, at once: introspection, refresh.
    assert!(!active(&h, &f, &t.user), "client_id is the disabled app");
    assert!(
        !active(&h, &f, &t.delegated),
        "the disabled app is in the act chain"
    );
    assert!(
        active(&h, &f, &t.machine),
        "other clients' tokens are unaffected"
    );
    let refresh = h.token(
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &f.public_app),
            ("refresh_token", &t.user_refresh),
        ],
        None,
    );
    assert_eq!(refresh.status, 401, "the client itself is refused");
    // Offline, after the next poll.
    poll(&h, &v);
    assert_eq!(
        v.validate(&t.user, h.now.get()).unwrap_err(),
        TokenError::Revoked
    );
    assert_eq!(
        v.validate(&t.delegated, h.now.get()).unwrap_err(),
        TokenError::Revoked
    );
    assert!(v.validate(&t.machine, h.now.get()).is_ok());
    // Audited with actor, reason and the counts.
    let audit = h.ok(Method::GET, "/admin/v1/audit?limit=1", None);
    let e = &audit["items"][0];
    assert_eq!(e["action"], "client.disable");
    assert_eq!(e["detail"]["reason"], "laptop stolen");
    assert_eq!(e["detail"]["blast_radius"]["active_refresh_families"], 2);
}

#[test]
fn disabling_an_agent_revokes_its_own_and_delegated_tokens() {
    let h = Harness::new();
    let f = h.fixture();
    let t = tokens(&h, &f);
    let own = h
        .token(
            &[("grant_type", "client_credentials"), ("resource", NOTES)],
            Some((&f.agent, &f.agent_secret)),
        )
        .json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    h.advance(1);
    h.ok(
        Method::PATCH,
        &format!("/admin/v1/agents/{}", f.agent),
        Some(json!({ "status": "disabled" })),
    );
    let v = validator(&h);
    assert_eq!(
        v.validate(&own, h.now.get()).unwrap_err(),
        TokenError::Revoked
    );
    assert_eq!(
        v.validate(&t.delegated, h.now.get()).unwrap_err(),
        TokenError::Revoked
    );
    assert!(v.validate(&t.user, h.now.get()).is_ok());
    let cc = h.token(
        &[("grant_type", "client_credentials"), ("resource", NOTES)],
        Some((&f.agent, &f.agent_secret)),
    );
    assert_eq!(
        cc.json()["error"],
        "invalid_client",
        "client_credentials refuses at once"
    );
}

/// Issues a client_credentials token to the agent for itself.
fn agent_cc(h: &Harness, f: &Fixture) -> String {
    h.token(
        &[("grant_type", "client_credentials"), ("resource", NOTES)],
        Some((&f.agent, &f.agent_secret)),
    )
    .json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn the_blast_radius_of_an_agent_counts_the_client_credentials_token_it_just_got() {
    let h = Harness::new();
    let f = h.fixture();
    let path = format!("/admin/v1/clients/{}/blast-radius", f.agent);
    let before = h.ok(Method::GET, &path, None);
    assert_eq!(before["live_token_grants"], 0);
    assert_eq!(before["resource_servers"], 0);
    let own = agent_cc(&h, &f);
    let radius = h.ok(Method::GET, &path, None);
    assert_eq!(radius["active_refresh_families"], 0, "no refresh family");
    assert_eq!(radius["live_token_grants"], 1, "{radius}");
    assert_eq!(radius["resource_servers"], 1);
    assert_eq!(radius["distinct_subjects"], 1, "the agent itself");
    assert_eq!(radius["distinct_users"], 0);
    assert_eq!(
        radius["by_resource_server"],
        json!([{ "resource_server": NOTES, "refresh_families": 0, "live_token_grants": 1 }])
    );
    assert_eq!(radius["last_token_issued"], h.now.get());
    // What the preview promised is what the disable cuts, and the audit keeps the numbers.
    h.advance(1);
    h.ok(
        Method::PATCH,
        &format!("/admin/v1/agents/{}", f.agent),
        Some(json!({ "status": "disabled", "reason": "key leaked" })),
    );
    assert!(!active(&h, &f, &own));
    let audit = h.ok(Method::GET, "/admin/v1/audit?limit=1", None);
    assert_eq!(
        audit["items"][0]["detail"]["blast_radius"]["live_token_grants"],
        1
    );
}

#[test]
fn the_blast_radius_counts_exchanged_tokens_for_the_exchanging_client_and_for_their_subject() {
    let h = Harness::new();
    let f = h.fixture();
    let t = tokens(&h, &f);
    let agent = h.ok(
        Method::GET,
        &format!("/admin/v1/clients/{}/blast-radius", f.agent),
        None,
    );
    assert_eq!(
        agent["live_token_grants"], 1,
        "alice's token, through the agent: {agent}"
    );
    assert_eq!(agent["distinct_users"], 1);
    assert_eq!(agent["by_resource_server"][0]["resource_server"], NOTES);
    let alice = h.ok(
        Method::GET,
        &format!("/admin/v1/users/{}/blast-radius", f.alice),
        None,
    );
    assert_eq!(alice["live_token_grants"], 1, "{alice}");
    assert_eq!(alice["active_refresh_families"], 2);
    assert_eq!(alice["resource_servers"], 2);
    assert_eq!(alice["distinct_users"], 1);
    // A client in the exchanged token's act chain is cut with it, and its preview says so.
    let app = h.ok(
        Method::GET,
        &format!("/admin/v1/clients/{}/blast-radius", f.public_app),
        None,
    );
    assert_eq!(app["live_token_grants"], 1, "{app}");
    h.advance(1);
    h.ok(
        Method::PATCH,
        &format!("/admin/v1/users/{}", f.alice),
        Some(json!({ "status": "disabled" })),
    );
    assert!(!active(&h, &f, &t.delegated));
}

#[test]
fn the_blast_radius_forgets_tokens_once_they_can_no_longer_be_live() {
    let h = Harness::new();
    let f = h.fixture();
    agent_cc(&h, &f);
    let path = format!("/admin/v1/clients/{}/blast-radius", f.agent);
    // Still counted while a token issued within the record's hour could be live.
    h.advance(600 + 3599);
    assert_eq!(h.ok(Method::GET, &path, None)["live_token_grants"], 1);
    h.advance(2);
    assert_eq!(h.ok(Method::GET, &path, None)["live_token_grants"], 0);
    // The scheduled task removes the record.
    block_on(h.service().scheduled(h.now.get(), &mut TestRng::new(5))).unwrap();
    let left = h.store.db.inspect(mcpgate_core::stmt!(
        "SELECT count(*) AS n FROM issuances WHERE via = ?1",
        &f.agent
    ));
    assert_eq!(left[0]["n"], 0, "{left:?}");
}

#[test]
fn tokens_issued_within_the_hour_a_record_covers_write_nothing() {
    let h = Harness::new();
    let f = h.fixture();
    agent_cc(&h, &f);
    let mark = h.store.db.log.borrow().len();
    h.advance(1800);
    agent_cc(&h, &f);
    assert_eq!(h.store.db.writes_since(mark), Vec::<&str>::new());
    // Past the hour, the next token outlives the record: one write moves it forward.
    h.advance(1801);
    agent_cc(&h, &f);
    let writes = h.store.db.writes_since(mark);
    assert_eq!(
        writes
            .iter()
            .filter(|w| w.contains("INTO issuances"))
            .count(),
        1,
        "{writes:#?}"
    );
}

#[test]
fn disabling_a_user_revokes_tokens_whose_subject_they_are() {
    let h = Harness::new();
    let f = h.fixture();
    let t = tokens(&h, &f);
    h.advance(1);
    h.ok(
        Method::PATCH,
        &format!("/admin/v1/users/{}", f.alice),
        Some(json!({ "status": "disabled" })),
    );
    let v = validator(&h);
    assert_eq!(
        v.validate(&t.user, h.now.get()).unwrap_err(),
        TokenError::Revoked
    );
    assert_eq!(
        v.validate(&t.delegated, h.now.get()).unwrap_err(),
        TokenError::Revoked,
        "sub is alice"
    );
    assert!(v.validate(&t.machine, h.now.get()).is_ok());
    assert!(!active(&h, &f, &t.user));
}

#[test]
fn re_enabling_never_resurrects_earlier_tokens_but_new_ones_work() {
    let h = Harness::new();
    let f = h.fixture();
    let t = tokens(&h, &f);
    h.advance(1);
    h.ok(
        Method::PATCH,
        &format!("/admin/v1/clients/{}", f.conf_app),
        Some(json!({ "status": "disabled" })),
    );
    h.advance(1);
    h.ok(
        Method::PATCH,
        &format!("/admin/v1/clients/{}", f.conf_app),
        Some(json!({ "status": "active" })),
    );
    assert!(!active(&h, &f, &t.machine));
    let v = validator(&h);
    assert_eq!(
        v.validate(&t.machine, h.now.get()).unwrap_err(),
        TokenError::Revoked
    );
    h.advance(1);
    let fresh = h
        .token(
            &[("grant_type", "client_credentials"), ("resource", NOTES)],
            Some((&f.conf_app, &f.conf_secret)),
        )
        .json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(active(&h, &f, &fresh));
    assert!(v.validate(&fresh, h.now.get()).is_ok());
}

#[test]
fn deleting_a_client_revokes_too() {
    let h = Harness::new();
    let f = h.fixture();
    let t = tokens(&h, &f);
    h.advance(1);
    let r = h.admin(
        Method::DELETE,
        &format!("/admin/v1/applications/{}?reason=retired", f.conf_app),
        None,
    );
    assert_eq!(r.status, 204);
    let v = validator(&h);
    assert_eq!(
        v.validate(&t.machine, h.now.get()).unwrap_err(),
        TokenError::Revoked
    );
}

#[test]
fn the_feed_is_signed_cacheable_conditional_and_incremental() {
    let h = Harness::new();
    let f = h.fixture();
    let t = tokens(&h, &f);
    let first = h.get("/revocations");
    assert_eq!(
        first.header("content-type"),
        Some("application/revocations+jwt")
    );
    assert!(first.header("cache-control").unwrap().contains("max-age=5"));
    let etag = first.header("etag").unwrap().to_owned();
    let again = h.request(
        Method::GET,
        "/revocations",
        &[("if-none-match", &etag)],
        b"",
    );
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    let v = validator(&h);
    let cursor = v.revocation_cursor().unwrap();
    h.advance(120);
    h.ok(
        Method::PATCH,
        &format!("/admin/v1/users/{}", f.alice),
        Some(json!({ "status": "disabled" })),
    );
    let changed = h.request(
        Method::GET,
        "/revocations",
        &[("if-none-match", &etag)],
        b"",
    );
    assert_eq!(changed.status, 200, "a change invalidates the ETag");
    let inc = h.get(&format!("/revocations?since={cursor}"));
    let payload = feed_payload(&inc);
    assert_eq!(payload["full"], false);
    let since = payload["since"].as_u64().unwrap();
    assert!(
        since <= cursor && since % mcpgate_core::revocation::SEGMENT == 0,
        "snapped to the segment boundary at or before the cursor: {since} {cursor}"
    );
    let kinds: Vec<&str> = payload["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"sub"), "{payload}");
    v.apply_revocation_feed(std::str::from_utf8(&inc.body).unwrap(), h.now.get())
        .unwrap();
    assert_eq!(
        v.validate(&t.user, h.now.get()).unwrap_err(),
        TokenError::Revoked,
        "merged from the incremental feed"
    );
    assert!(v.validate(&t.machine, h.now.get()).is_ok());
    // A forged feed is refused by the validator.
    let forged = std::str::from_utf8(&first.body).unwrap().replace('.', ".x");
    assert!(v.apply_revocation_feed(&forged, h.now.get()).is_err());
}

#[test]
fn entries_expire_after_the_last_token_they_could_affect() {
    let h = Harness::new();
    let f = h.fixture();
    let t = tokens(&h, &f);
    let exp = verify_token(&h, &t.machine, NOTES).expires_at;
    h.advance(1);
    h.ok(
        Method::PATCH,
        &format!("/admin/v1/clients/{}", f.conf_app),
        Some(json!({ "status": "disabled" })),
    );
    let live = |h: &Harness| {
        mcpgate_core::testing::block_on(mcpgate_core::revocation::snapshot(&h.store, h.now.get()))
            .unwrap()
    };
    let entry = live(&h).into_iter().find(|e| e.id == f.conf_app).unwrap();
    assert!(entry.expires_at >= exp, "outlives the token");
    assert!(
        entry.expires_at >= h.now.get() + h.config.max_token_ttl,
        "and the longest lifetime"
    );
    h.now.set(entry.expires_at);
    assert!(live(&h).iter().all(|e| e.id != f.conf_app), "gone from KV");
    let feed = h.get("/revocations");
    assert!(!String::from_utf8_lossy(&feed.body).is_empty());
    let v = Validator::new(ValidatorConfig::new(h.config.issuer.clone(), NOTES));
    v.apply_jwks_json(&h.get("/.well-known/jwks.json").body)
        .unwrap();
    v.apply_revocation_feed(std::str::from_utf8(&feed.body).unwrap(), h.now.get())
        .unwrap();
    assert_eq!(v.revocation_entries(), 0);
    assert!(
        v.revocation_cursor().unwrap() > 0,
        "the cursor never goes back"
    );
}

/// `n` single-token revocations, committed and published one transaction at a time.
fn revoke_jtis(h: &Harness, n: usize, ttl: i64) {
    use mcpgate_core::revocation::{record, Entry, Kind};
    let now = h.now.get();
    let entries: Vec<Entry> = (0..n)
        .map(|i| Entry {
            kind: Kind::Jti,
            id: format!("jti-{now}-{i}"),
            revoked_at: now,
            expires_at: now + ttl,
        })
        .collect();
    for chunk in entries.chunks(100) {
        block_on(record(&h.store, chunk, vec![], now)).unwrap();
    }
}

fn feed_payload(r: &Resp) -> serde_json::Value {
    use base64::Engine as _;
    let p = std::str::from_utf8(&r.body)
        .unwrap()
        .split('.')
        .nth(1)
        .unwrap()
        .to_owned();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(p)
            .unwrap(),
    )
    .unwrap()
}

#[test]
fn a_feed_request_reads_the_head_and_at_most_one_segment_however_many_revocations_live() {
    use mcpgate_core::revocation::SEGMENT;
    let h = Harness::new();
    h.fixture();
    revoke_jtis(&h, 1_200, 3_600);
    let head = h.store.kv.head().unwrap();
    assert_eq!(head.sealed, 2, "1,200 numbers: two sealed segments");
    assert_eq!(head.open.len(), 200);
    let reads = |path: &str| {
        let before = h.store.kv.reads.get();
        let r = h.get(path);
        assert_eq!(r.status, 200);
        (h.store.kv.reads.get() - before, feed_payload(&r))
    };
    // Up to date: the head alone, and only the open segment's entries.
    let (n, latest) = reads(&format!("/revocations?since={}", head.seq));
    assert_eq!(n, 1);
    assert_eq!(latest["entries"].as_array().unwrap().len(), 200);
    assert_ne!(latest["more"], true, "the last page");
    // Behind by a segment: the head and that segment, one page of at most SEGMENT entries.
    let (n, page) = reads(&format!("/revocations?since={}", SEGMENT + 7));
    assert_eq!(n, 2);
    assert_eq!(page["since"], SEGMENT);
    assert_eq!(page["seq"], 2 * SEGMENT);
    assert_eq!(page["more"], true);
    assert_eq!(page["entries"].as_array().unwrap().len() as u64, SEGMENT);
    // Every cursor within a segment gets the same page: one cache entry, one ETag.
    let etag = |path: &str| h.get(path).header("etag").unwrap().to_owned();
    assert_eq!(
        etag(&format!("/revocations?since={}", SEGMENT + 1)),
        etag(&format!("/revocations?since={}", 2 * SEGMENT - 1))
    );
}

#[test]
fn a_validator_following_the_snapshot_pages_enforces_every_live_revocation() {
    use mcpgate_core::revocation::SEGMENT;
    let h = Harness::new();
    h.fixture();
    revoke_jtis(&h, 1_100, 60); // these expire before the validator reads them
    h.advance(1);
    revoke_jtis(&h, 1_300, 3_600);
    h.advance(120);
    let v = Validator::new(ValidatorConfig::new(h.config.issuer.clone(), NOTES));
    v.apply_jwks_json(&h.get("/.well-known/jwks.json").body)
        .unwrap();
    let mut path = "/revocations".to_owned();
    let mut pages = Vec::new();
    loop {
        let r = h.get(&path);
        let p = feed_payload(&r);
        let out = v
            .apply_revocation_feed(std::str::from_utf8(&r.body).unwrap(), h.now.get())
            .unwrap();
        pages.push(p["entries"].as_array().unwrap().len());
        if !out.more {
            break;
        }
        path = format!("/revocations?since={}", out.seq);
    }
    // The expired segments are skipped: the snapshot starts at the first live one.
    let first = 1_100 / SEGMENT;
    assert_eq!(
        pages.len() as u64,
        (2_400 / SEGMENT) - first + 1,
        "{pages:?}"
    );
    assert_eq!(pages.iter().sum::<usize>(), 1_300);
    assert_eq!(v.revocation_entries(), 1_300);
}

#[test]
fn the_hub_publishes_each_committed_revocation_once_in_log_order() {
    let h = Harness::new();
    let f = h.fixture();
    let t = tokens(&h, &f);
    h.advance(1);
    h.ok(
        Method::PATCH,
        &format!("/admin/v1/agents/{}", f.agent),
        Some(json!({ "status": "disabled" })),
    );
    h.ok(
        Method::PATCH,
        &format!("/admin/v1/users/{}", f.alice),
        Some(json!({ "status": "disabled" })),
    );
    let pushed = h.store.pushed.borrow().clone();
    let seqs: Vec<u64> = pushed.iter().map(|l| l.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert_eq!(seqs.first(), Some(&1));
    let ids: Vec<&str> = pushed.iter().map(|l| l.entry.id.as_str()).collect();
    assert!(ids.contains(&f.agent.as_str()) && ids.contains(&f.alice.as_str()));
    // Publishing again (the scheduled task) sends nothing twice.
    block_on(h.service().scheduled(h.now.get(), &mut TestRng::new(5))).unwrap();
    assert_eq!(h.store.pushed.borrow().len(), pushed.len());
    drop(t);
}

#[test]
fn pushed_events_are_signed_feed_pages_chained_by_cursor_that_a_validator_applies_in_turn() {
    use mcpgate_core::endpoints::feed::push_events;
    let h = Harness::new();
    let f = h.fixture();
    let t = tokens(&h, &f);
    let v = validator(&h);
    let late = validator(&h);
    let before = v.revocation_cursor().unwrap();
    let mark = h.store.pushed.borrow().len();
    h.advance(1);
    revoke_jtis(&h, 1_150, 3_600);
    h.ok(
        Method::PATCH,
        &format!("/admin/v1/clients/{}", f.conf_app),
        Some(json!({ "status": "disabled" })),
    );
    let fresh: Vec<_> = h.store.pushed.borrow()[mark..].to_vec();
    let events = block_on(push_events(
        &h.service(),
        before,
        &fresh,
        h.now.get(),
        &mut TestRng::new(9),
    ))
    .unwrap();
    assert_eq!(events.len(), 3, "at most one segment's worth per event");
    for e in &events {
        let out = v.apply_revocation_feed(e, h.now.get()).unwrap();
        assert!(!out.full);
    }
    assert_eq!(v.revocation_cursor(), fresh.last().map(|l| l.seq));
    assert_eq!(
        v.validate(&t.machine, h.now.get()).unwrap_err(),
        TokenError::Revoked
    );
    // Out of order, an event does not fit the cursor and is refused (the subscriber then reads
    // the feed); a forged one is refused whatever it says.
    assert!(late.apply_revocation_feed(&events[1], h.now.get()).is_err());
    let forged = events[0].replacen('.', ".e30", 1);
    assert!(late.apply_revocation_feed(&forged, h.now.get()).is_err());
    assert_eq!(late.revocation_cursor(), Some(before));
}

#[test]
fn feed_pages_are_kept_at_the_edge_by_page_so_no_cursor_forces_new_work_and_a_change_is_seen() {
    use mcpgate_core::endpoints::feed::FEED_MAX_AGE;
    use mcpgate_core::revocation::SEGMENT;
    let h = Harness::new();
    h.fixture();
    revoke_jtis(&h, 700, 3_600);
    let reads = |path: &str| {
        let before = h.store.kv.reads.get();
        let r = h.get(path);
        assert_eq!(r.status, 200);
        (h.store.kv.reads.get() - before, r)
    };
    let (n, first) = reads("/revocations?since=3");
    assert_eq!(n, 2, "head and segment 0");
    // Any cursor in the same segment: the kept page, without reading the segment or signing.
    let (n, again) = reads(&format!("/revocations?since={}", SEGMENT - 1));
    assert_eq!(n, 1, "the head only");
    assert!(again.body == first.body, "the kept page");
    // The open segment's page follows the head: a new revocation is a new page at once.
    let head = h.store.kv.head().unwrap();
    let (_, open) = reads(&format!("/revocations?since={}", head.seq));
    h.advance(1);
    revoke_jtis(&h, 1, 3_600);
    let (_, newer) = reads(&format!("/revocations?since={}", head.seq));
    assert!(newer.body != open.body, "not the kept page");
    assert_eq!(feed_payload(&newer)["seq"], head.seq + 1);
    // Past its max-age a page is built and signed again.
    h.advance(i64::from(FEED_MAX_AGE) + 1);
    let (n, rebuilt) = reads("/revocations?since=3");
    assert_eq!(n, 2);
    assert!(rebuilt.body != first.body, "a fresh iat");
    assert_eq!(rebuilt.header("etag"), first.header("etag"), "same content");
}

#[test]
fn a_segment_that_expired_between_live_ones_is_skipped_not_asked_for() {
    use mcpgate_core::revocation::SEGMENT;
    let h = Harness::new();
    h.fixture();
    // Segment 0 long-lived, segment 1 short-lived, segment 2 long-lived, then an open one.
    let start = h.store.kv.head().map_or(0, |hd| hd.seq);
    revoke_jtis(&h, usize::try_from(SEGMENT - start).unwrap(), 3_600);
    h.advance(1);
    revoke_jtis(&h, 500, 100);
    h.advance(1);
    revoke_jtis(&h, 600, 3_600);
    h.advance(200);
    // KV has dropped segment 1; the hub's head still lists it until its next publish.
    assert!(h.store.kv.segment(1, h.now.get()).is_none());
    let r = h.get(&format!("/revocations?since={}", SEGMENT + 3));
    assert_eq!(r.status, 200, "not a 503 for a segment that is gone");
    let p = feed_payload(&r);
    assert_eq!(p["since"], SEGMENT);
    assert_eq!(
        p["seq"],
        3 * SEGMENT,
        "covers the expired segment and the next live one"
    );
    assert_eq!(p["entries"].as_array().unwrap().len() as u64, SEGMENT);
    // A validator following every page holds exactly what is live.
    let v = validator(&h);
    assert_eq!(
        v.revocation_entries() as u64,
        SEGMENT + 600,
        "segment 0's entries, segment 2's and the open one's"
    );
}

#[test]
fn revoking_a_revoked_authorization_again_adds_nothing_to_the_log() {
    let h = Harness::new();
    let f = h.fixture();
    let code = h.code_for(&mut Browser::default(), &f.public_app, Some("notes.read"));
    let rt = h.redeem(&f.public_app, &code).json()["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let log = |h: &Harness| {
        h.store.db.inspect(mcpgate_core::stmt!(
            "SELECT count(*) AS n FROM revocation_log"
        ))[0]["n"]
            .as_i64()
            .unwrap()
    };
    let revoke = |h: &Harness| {
        let r = h.token_at(
            "/revoke",
            &[("token", rt.as_str()), ("client_id", f.public_app.as_str())],
            None,
        );
        assert_eq!(r.status, 200);
    };
    revoke(&h);
    let after_first = log(&h);
    let pushed = h.store.pushed.borrow().len();
    for _ in 0..20 {
        h.advance(1);
        revoke(&h);
    }
    assert_eq!(
        log(&h),
        after_first,
        "anyone holding the token could grow the log"
    );
    assert_eq!(
        h.store.pushed.borrow().len(),
        pushed,
        "and push to every subscriber"
    );
}
