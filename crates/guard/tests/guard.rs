//! Async layer requirements: JWKS caching and rotation, rate-limited unknown-kid refetches,
//! revocation polling, single-flight refreshes, failure handling.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::pin::pin;
use std::sync::atomic::Ordering;
use std::task::Poll;

use common::*;
use mcpgate_guard::revocation::RevocationKind::Jti;
use mcpgate_guard::{Guard, GuardConfig, RefreshError, TokenError};

fn config() -> GuardConfig {
    let mut c = GuardConfig::new(ISS, AUD);
    c.revocation_poll_secs = 5;
    // These fakes serve one signed feed for hours of simulated time; the feed age limit has
    // its own tests (`feed_freshness`).
    c.validator.feed_max_age_secs = i64::MAX / 4;
    c
}

/// A guard over a fake serving `keys` (max-age 600) and an empty full feed signed by the first.
fn guard(keys: &[&Key]) -> Guard<FakeFetch> {
    let fetch = FakeFetch::new();
    fetch.jwks(keys, Some("public, max-age=600"));
    fetch.feed(
        FEED_URL,
        &sign_feed(keys[0], &full_feed(1, vec![])),
        Some("\"f1\""),
    );
    Guard::new(config(), fetch)
}

/// A token valid for an hour.
fn long_lived(k: &Key) -> String {
    mint(k, claims(), T0, T0 + 3600)
}

mod guard_setup {
    use super::*;

    #[test]
    fn default_urls_derive_from_the_issuer() {
        let c = GuardConfig::new("https://auth.example.com/tenant/", AUD);
        assert_eq!(
            c.jwks_url,
            "https://auth.example.com/tenant/.well-known/jwks.json"
        );
        assert_eq!(
            c.revocations_url.as_deref(),
            Some("https://auth.example.com/tenant/revocations")
        );
        assert_eq!(c.revocation_poll_secs, 10);
    }

    #[test]
    fn first_validation_loads_keys_and_revocations_once() {
        let k = Key::new(1);
        let g = guard(&[&k]);
        let t = token(&k);
        assert!(block_on(g.validate(&t, T0)).is_ok());
        assert!(block_on(g.validate(&t, T0 + 1)).is_ok());
        assert_eq!(g.fetcher().jwks_calls(), 1);
        assert_eq!(g.fetcher().feed_calls(), 1);
        let s = g.status();
        assert_eq!(s.keys, 1);
        assert_eq!(s.revocation_cursor, Some(1));
        assert_eq!(s.jwks_fetched_at, Some(T0));
        assert_eq!(s.jwks_next_refresh_at, T0 + 600);
        assert_eq!((s.jwks_error, s.revocation_error), (None, None));
    }

    #[test]
    fn unreachable_issuer_at_start_is_unavailable_not_invalid() {
        let k = Key::new(1);
        let g = Guard::new(config(), FakeFetch::new());
        let err = block_on(g.validate(&token(&k), T0)).unwrap_err();
        assert_eq!(err, TokenError::Unavailable);
        assert!(matches!(
            g.status().jwks_error,
            Some(RefreshError::Fetch(_))
        ));
        // Retries are spaced (retry_secs = 10), not made by every request.
        block_on(g.validate(&token(&k), T0 + 1)).unwrap_err();
        assert_eq!(g.fetcher().jwks_calls(), 1);
        g.fetcher().jwks(&[&k], None);
        g.fetcher()
            .feed(FEED_URL, &sign_feed(&k, &full_feed(1, vec![])), None);
        assert!(block_on(g.validate(&token(&k), T0 + 10)).is_ok());
        assert_eq!(g.fetcher().jwks_calls(), 2);
        assert_eq!(g.status().jwks_error, None);
    }

    #[test]
    fn without_a_feed_no_revocation_state_is_required() {
        let k = Key::new(1);
        let fetch = FakeFetch::new();
        fetch.jwks(&[&k], None);
        let mut c = config();
        c.revocations_url = None;
        let g = Guard::new(c, fetch);
        assert!(block_on(g.validate(&token(&k), T0)).is_ok());
        assert_eq!(g.fetcher().feed_calls(), 0);
    }
}

mod jwks_cache {
    use super::*;

    #[test]
    fn unknown_kid_triggers_one_refetch_and_then_succeeds_after_rotation() {
        let k1 = Key::new(1);
        let k2 = Key::new(2);
        let g = guard(&[&k1]);
        assert!(block_on(g.validate(&token(&k1), T0)).is_ok());
        // mcpgate rotates: the JWKS now has k2, and a token signed by k2 arrives.
        g.fetcher().jwks(&[&k1, &k2], Some("max-age=600"));
        let t2 = token(&k2);
        assert!(block_on(g.validate(&t2, T0 + 1)).is_ok());
        assert_eq!(g.fetcher().jwks_calls(), 2);
        assert!(block_on(g.validate(&t2, T0 + 2)).is_ok());
        assert_eq!(g.fetcher().jwks_calls(), 2);
    }

    #[test]
    fn forged_kids_cause_at_most_one_refetch_per_window() {
        let k1 = Key::new(1);
        let g = guard(&[&k1]);
        block_on(g.validate(&token(&k1), T0)).unwrap();
        assert_eq!(g.fetcher().jwks_calls(), 1);
        let forged = |i: u32| {
            let mut f = Key::new(66);
            f.kid = format!("forged-{i}");
            token(&f)
        };
        for i in 0..50 {
            let err = block_on(g.validate(&forged(i), T0 + 1 + i64::from(i % 29))).unwrap_err();
            assert!(matches!(err, TokenError::UnknownKeyId(_)));
        }
        assert_eq!(
            g.fetcher().jwks_calls(),
            2,
            "one refetch in the 30 s window"
        );
        block_on(g.validate(&forged(99), T0 + 31)).unwrap_err();
        assert_eq!(
            g.fetcher().jwks_calls(),
            3,
            "the next window allows one more"
        );
        block_on(g.validate(&forged(100), T0 + 32)).unwrap_err();
        assert_eq!(g.fetcher().jwks_calls(), 3);
        // Good tokens keep validating throughout.
        assert!(block_on(g.validate(&token(&k1), T0 + 33)).is_ok());
    }

    #[test]
    fn jwks_max_age_is_honoured() {
        let k = Key::new(1);
        let g = guard(&[&k]);
        let t = long_lived(&k);
        block_on(g.validate(&t, T0)).unwrap();
        block_on(g.validate(&t, T0 + 599)).unwrap();
        assert_eq!(g.fetcher().jwks_calls(), 1);
        block_on(g.validate(&t, T0 + 600)).unwrap();
        assert_eq!(g.fetcher().jwks_calls(), 2);
    }

    #[test]
    fn jwks_max_age_is_clamped_to_floor_and_ceiling() {
        let k = Key::new(1);
        let g = guard(&[&k]);
        g.fetcher().jwks(&[&k], Some("max-age=1"));
        block_on(g.refresh(T0)).unwrap();
        assert_eq!(g.status().jwks_next_refresh_at, T0 + 60);
        g.fetcher().jwks(&[&k], Some("no-store"));
        block_on(g.refresh(T0)).unwrap();
        assert_eq!(g.status().jwks_next_refresh_at, T0 + 60);
        g.fetcher().jwks(&[&k], Some("public, max-age=31536000"));
        block_on(g.refresh(T0)).unwrap();
        assert_eq!(g.status().jwks_next_refresh_at, T0 + 3600);
        g.fetcher().jwks(&[&k], None);
        block_on(g.refresh(T0)).unwrap();
        assert_eq!(g.status().jwks_next_refresh_at, T0 + 300);
    }

    #[test]
    fn jwks_is_revalidated_with_its_etag() {
        let k = Key::new(1);
        let g = guard(&[&k]);
        g.fetcher().route(
            JWKS_URL,
            ok(jwks(&[&k]), Some("max-age=600"), Some("\"v1\"")),
        );
        let t = long_lived(&k);
        block_on(g.validate(&t, T0)).unwrap();
        block_on(g.validate(&t, T0 + 600)).unwrap();
        let calls = g.fetcher().calls(JWKS_URL);
        assert_eq!(calls[0].1, None);
        assert_eq!(calls[1].1.as_deref(), Some("\"v1\""));
        assert_eq!(g.status().jwks_next_refresh_at, T0 + 1200);
        assert_eq!(g.status().keys, 1);
    }

    #[test]
    fn failed_refresh_keeps_the_previous_keys() {
        let k = Key::new(1);
        let g = guard(&[&k]);
        let t = long_lived(&k);
        block_on(g.validate(&t, T0)).unwrap();
        g.fetcher().route(JWKS_URL, status(503));
        assert!(block_on(g.validate(&t, T0 + 600)).is_ok());
        assert_eq!(g.status().jwks_error, Some(RefreshError::HttpStatus(503)));
        assert_eq!(g.status().jwks_next_refresh_at, T0 + 610);
        g.fetcher()
            .route(JWKS_URL, ok(br#"{"keys":[]}"#.to_vec(), None, None));
        assert!(block_on(g.validate(&t, T0 + 610)).is_ok());
        assert_eq!(g.status().jwks_error, Some(RefreshError::NoUsableKeys));
        g.fetcher()
            .route(JWKS_URL, ok(b"<html>".to_vec(), None, None));
        assert!(block_on(g.validate(&t, T0 + 620)).is_ok());
        assert_eq!(g.status().jwks_error, Some(RefreshError::Malformed));
    }

    #[test]
    fn requests_arriving_during_a_rotation_refetch_wait_for_it_instead_of_failing() {
        let k1 = Key::new(1);
        let k2 = Key::new(2);
        let g = guard(&[&k1]);
        block_on(g.validate(&token(&k1), T0)).unwrap();
        g.fetcher().jwks(&[&k1, &k2], Some("max-age=600"));
        let gate = g.fetcher().close_gate();
        let t2 = token(&k2);
        let mut c = claims();
        c.jti = "jti-2".into();
        let t2b = mint(&k2, c, T0, T0 + 600);
        let mut first = pin!(g.validate(&t2, T0 + 1));
        let mut second = pin!(g.validate(&t2b, T0 + 1));
        assert!(poll_once(first.as_mut()).is_pending(), "refetch in flight");
        assert!(poll_once(second.as_mut()).is_pending(), "waits for it");
        gate.store(true, Ordering::SeqCst);
        assert!(matches!(poll_once(first.as_mut()), Poll::Ready(Ok(_))));
        assert!(matches!(poll_once(second.as_mut()), Poll::Ready(Ok(_))));
        assert_eq!(g.fetcher().jwks_calls(), 2);
    }

    #[test]
    fn a_cancelled_refresh_does_not_wedge_the_guard() {
        let k1 = Key::new(1);
        let k2 = Key::new(2);
        let g = guard(&[&k1]);
        block_on(g.validate(&token(&k1), T0)).unwrap();
        g.fetcher().jwks(&[&k1, &k2], None);
        let gate = g.fetcher().close_gate();
        let t2 = token(&k2);
        {
            let mut fut = pin!(g.validate(&t2, T0 + 1));
            assert!(poll_once(fut.as_mut()).is_pending());
        } // dropped mid-fetch
        gate.store(true, Ordering::SeqCst);
        assert!(block_on(g.refresh(T0 + 2)).is_ok());
        assert!(block_on(g.validate(&t2, T0 + 2)).is_ok());
    }
}

mod revocation_polling {
    use super::*;

    #[test]
    fn feed_is_polled_at_the_configured_interval_with_cursor_and_etag() {
        let k = Key::new(1);
        let g = guard(&[&k]);
        let t = token(&k);
        block_on(g.validate(&t, T0)).unwrap();
        block_on(g.validate(&t, T0 + 4)).unwrap();
        assert_eq!(g.fetcher().feed_calls(), 1);
        // The incremental URL is new: the stored ETag belongs to the base URL, so no
        // If-None-Match is sent.
        let delta = sign_feed(&k, &delta_feed(1, 2, vec![]));
        g.fetcher()
            .feed(&format!("{FEED_URL}?since=1"), &delta, Some("\"d2\""));
        block_on(g.validate(&t, T0 + 5)).unwrap();
        let calls = g.fetcher().calls(FEED_URL);
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0], (FEED_URL.to_owned(), None));
        assert_eq!(calls[1], (format!("{FEED_URL}?since=1"), None));
        assert_eq!(g.status().revocation_cursor, Some(2));
        // Next poll: since=2, a new URL, so no If-None-Match either; then a repeat of the same
        // URL revalidates with the stored ETag and gets a 304.
        g.fetcher().feed(
            &format!("{FEED_URL}?since=2"),
            &sign_feed(&k, &delta_feed(2, 2, vec![])),
            Some("\"d3\""),
        );
        block_on(g.validate(&t, T0 + 10)).unwrap();
        block_on(g.validate(&t, T0 + 15)).unwrap();
        let calls = g.fetcher().calls(FEED_URL);
        assert_eq!(calls.len(), 4);
        assert_eq!(
            calls[3],
            (format!("{FEED_URL}?since=2"), Some("\"d3\"".into()))
        );
        assert_eq!(g.status().revocations_fresh_at, Some(T0 + 15));
    }

    #[test]
    fn a_paged_snapshot_is_followed_page_by_page_within_one_poll() {
        let k = Key::new(1);
        let fetch = FakeFetch::new();
        fetch.jwks(&[&k], Some("public, max-age=600"));
        let mut first = full_feed(500, vec![entry(Jti, "a", T0, T0 + 3600)]);
        first.more = true;
        fetch.feed(FEED_URL, &sign_feed(&k, &first), None);
        let mut second = delta_feed(500, 1000, vec![entry(Jti, "b", T0, T0 + 3600)]);
        second.more = true;
        fetch.feed(
            &format!("{FEED_URL}?since=500"),
            &sign_feed(&k, &second),
            None,
        );
        let last = delta_feed(1000, 1003, vec![entry(Jti, "c", T0, T0 + 3600)]);
        fetch.feed(
            &format!("{FEED_URL}?since=1000"),
            &sign_feed(&k, &last),
            None,
        );
        let g = Guard::new(config(), fetch);
        block_on(g.validate(&token(&k), T0)).unwrap();
        assert_eq!(g.fetcher().feed_calls(), 3, "every page, at once");
        assert_eq!(g.status().revocation_cursor, Some(1003));
        assert_eq!(g.validator().revocation_entries(), 3);
        // The next poll asks from the last page's cursor only.
        g.fetcher().feed(
            &format!("{FEED_URL}?since=1003"),
            &sign_feed(&k, &delta_feed(1000, 1003, vec![])),
            None,
        );
        block_on(g.validate(&token(&k), T0 + 5)).unwrap();
        assert_eq!(g.fetcher().feed_calls(), 4);
    }

    #[test]
    fn a_polled_revocation_rejects_the_token() {
        let k = Key::new(1);
        let g = guard(&[&k]);
        let t = token(&k);
        block_on(g.validate(&t, T0)).unwrap();
        let delta = delta_feed(1, 2, vec![entry(Jti, "jti-1", T0 + 1, T0 + 3600)]);
        g.fetcher()
            .feed(&format!("{FEED_URL}?since=1"), &sign_feed(&k, &delta), None);
        assert!(block_on(g.validate(&t, T0 + 4)).is_ok(), "not polled yet");
        assert_eq!(block_on(g.validate(&t, T0 + 5)), Err(TokenError::Revoked));
    }

    #[test]
    fn bad_feed_is_ignored_and_reported() {
        let k = Key::new(1);
        let g = guard(&[&k]);
        let t = token(&k);
        block_on(g.validate(&t, T0)).unwrap();
        let mut evil = Key::new(9);
        evil.kid = k.kid.clone();
        let forged = delta_feed(1, 2, vec![entry(Jti, "jti-1", T0, T0 + 3600)]);
        g.fetcher().feed(
            &format!("{FEED_URL}?since=1"),
            &sign_feed(&evil, &forged),
            None,
        );
        assert!(block_on(g.validate(&t, T0 + 5)).is_ok());
        let s = g.status();
        assert_eq!(s.revocation_error, Some(RefreshError::BadSignature));
        assert_eq!(s.revocation_cursor, Some(1));
        assert_eq!(s.revocations_fresh_at, Some(T0));
    }

    #[test]
    fn feed_signed_with_a_newly_published_key_triggers_a_jwks_refetch() {
        let k1 = Key::new(1);
        let k2 = Key::new(2);
        let g = guard(&[&k1]);
        block_on(g.validate(&token(&k1), T0)).unwrap();
        g.fetcher().jwks(&[&k1, &k2], None);
        let delta = delta_feed(1, 2, vec![entry(Jti, "jti-1", T0, T0 + 3600)]);
        g.fetcher().feed(
            &format!("{FEED_URL}?since=1"),
            &sign_feed(&k2, &delta),
            None,
        );
        assert_eq!(
            block_on(g.validate(&token(&k1), T0 + 5)),
            Err(TokenError::Revoked)
        );
        assert_eq!(g.fetcher().jwks_calls(), 2);
    }

    #[test]
    fn lost_cursor_falls_back_to_a_full_fetch() {
        let k = Key::new(1);
        let g = guard(&[&k]);
        block_on(g.validate(&token(&k), T0)).unwrap();
        // The server answers since=1 with a delta from another cursor, then serves a new full.
        g.fetcher().feed(
            &format!("{FEED_URL}?since=1"),
            &sign_feed(&k, &delta_feed(7, 8, vec![])),
            None,
        );
        let full = full_feed(8, vec![entry(Jti, "jti-1", T0, T0 + 3600)]);
        g.fetcher().feed(FEED_URL, &sign_feed(&k, &full), None);
        assert_eq!(
            block_on(g.validate(&token(&k), T0 + 5)),
            Err(TokenError::Revoked)
        );
        assert_eq!(g.status().revocation_cursor, Some(8));
        assert_eq!(g.status().revocation_error, None);
    }

    #[test]
    fn a_feed_that_stays_unreachable_fails_closed_after_max_age_and_recovers() {
        let k = Key::new(1);
        let g = guard(&[&k]);
        let t = token(&k);
        block_on(g.validate(&t, T0)).unwrap();
        g.fetcher().route(FEED_URL, status(500));
        assert!(block_on(g.validate(&t, T0 + 300)).is_ok());
        assert_eq!(
            g.status().revocation_error,
            Some(RefreshError::HttpStatus(500))
        );
        let err = block_on(g.validate(&t, T0 + 301)).unwrap_err();
        assert_eq!(err, TokenError::Unavailable);
        g.fetcher()
            .feed(FEED_URL, &sign_feed(&k, &full_feed(1, vec![])), None);
        assert!(block_on(g.validate(&t, T0 + 306)).is_ok());
    }
}

mod push {
    use super::*;

    #[test]
    fn a_pushed_event_that_follows_the_cursor_applies_at_once_without_a_poll() {
        let k = Key::new(1);
        let g = guard(&[&k]);
        let t = token(&k);
        block_on(g.validate(&t, T0)).unwrap();
        let event = sign_feed(
            &k,
            &delta_feed(1, 2, vec![entry(Jti, "jti-1", T0, T0 + 3600)]),
        );
        block_on(g.apply_push(&event, T0 + 1)).unwrap();
        assert_eq!(block_on(g.validate(&t, T0 + 1)), Err(TokenError::Revoked));
        assert_eq!(g.fetcher().feed_calls(), 1, "no poll was needed");
        assert_eq!(g.status().pushed_events, 1);
        assert_eq!(g.status().revocation_cursor, Some(2));
    }

    #[test]
    fn a_forged_or_tampered_push_changes_nothing() {
        let k = Key::new(1);
        let g = guard(&[&k]);
        let t = token(&k);
        block_on(g.validate(&t, T0)).unwrap();
        let revoke = delta_feed(1, 2, vec![entry(Jti, "jti-1", T0, T0 + 3600)]);
        // Signed by a key mcpgate does not publish: refused even after refetching the JWKS.
        let forged = sign_feed(&Key::new(9), &revoke);
        assert!(block_on(g.apply_push(&forged, T0 + 1)).is_err());
        // A genuine event whose payload was changed on the way: the signature fails.
        let genuine = sign_feed(&k, &delta_feed(1, 2, vec![]));
        let mut parts: Vec<String> = genuine.split('.').map(str::to_owned).collect();
        parts[1] = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            serde_json::to_vec(&revoke).unwrap(),
        );
        assert_eq!(
            block_on(g.apply_push(&parts.join("."), T0 + 1)),
            Err(RefreshError::BadSignature)
        );
        assert!(
            block_on(g.validate(&t, T0 + 1)).is_ok(),
            "nothing was revoked"
        );
        assert_eq!(g.status().revocation_cursor, Some(1));
        assert_eq!(g.status().pushed_events, 0);
    }

    #[test]
    fn a_push_after_a_missed_one_makes_the_guard_read_what_it_missed_from_the_feed() {
        let k = Key::new(1);
        let g = guard(&[&k]);
        let t = token(&k);
        block_on(g.validate(&t, T0)).unwrap();
        // The feed has both changes; the push for 2..3 arrives, the one for 1..2 was lost.
        g.fetcher().feed(
            &format!("{FEED_URL}?since=1"),
            &sign_feed(
                &k,
                &delta_feed(
                    1,
                    3,
                    vec![
                        entry(Jti, "jti-1", T0, T0 + 3600),
                        entry(Jti, "x", T0, T0 + 3600),
                    ],
                ),
            ),
            None,
        );
        let late = sign_feed(&k, &delta_feed(2, 3, vec![entry(Jti, "x", T0, T0 + 3600)]));
        block_on(g.apply_push(&late, T0 + 1)).unwrap();
        assert_eq!(
            g.fetcher().feed_calls(),
            2,
            "the gap was read from the feed at once"
        );
        assert_eq!(block_on(g.validate(&t, T0 + 1)), Err(TokenError::Revoked));
        assert_eq!(g.status().revocation_cursor, Some(3));
    }
}
