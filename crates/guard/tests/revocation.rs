//! Revocation feed requirements: semantics of client / sub / jti entries, full and incremental
//! application, verification of the feed, expiry of entries.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use mcpgate_guard::revocation::RevocationKind::{Client, Family, Jti, Sub};
use mcpgate_guard::{AccessClaims, RefreshError, TokenError, Validator};
use serde_json::json;

/// A validator with key 1 and an applied (empty) full feed at cursor 1.
fn fresh() -> (Key, Validator) {
    let k = Key::new(1);
    let v = validator(&[&k]);
    v.apply_revocation_feed(&sign_feed(&k, &full_feed(1, vec![])), T0)
        .unwrap();
    (k, v)
}

fn tok(k: &Key, f: impl FnOnce(&mut AccessClaims), iat: i64) -> String {
    let mut c = claims();
    f(&mut c);
    mint(k, c, iat, iat + 600)
}

mod revocation_feed {
    use super::*;

    #[test]
    fn client_entry_revokes_tokens_issued_to_that_client() {
        let (k, v) = fresh();
        let t = tok(&k, |c| c.client_id = "agent-7".into(), T0);
        let other = tok(&k, |c| c.client_id = "agent-8".into(), T0);
        let feed = delta_feed(1, 2, vec![entry(Client, "agent-7", T0 + 5, T0 + 3600)]);
        v.apply_revocation_feed(&sign_feed(&k, &feed), T0 + 10)
            .unwrap();
        assert_eq!(v.validate(&t, T0 + 10), Err(TokenError::Revoked));
        assert!(v.validate(&other, T0 + 10).is_ok());
    }

    #[test]
    fn client_entry_revokes_tokens_with_that_client_anywhere_in_the_actor_chain() {
        let (k, v) = fresh();
        let outer = tok(&k, |c| c.act = actor_chain(&["agent-7", "app-1"]), T0);
        let nested = tok(
            &k,
            |c| c.act = actor_chain(&["agent-1", "agent-2", "agent-7"]),
            T0,
        );
        let unrelated = tok(&k, |c| c.act = actor_chain(&["agent-1", "agent-2"]), T0);
        let feed = delta_feed(1, 2, vec![entry(Client, "agent-7", T0 + 5, T0 + 3600)]);
        v.apply_revocation_feed(&sign_feed(&k, &feed), T0 + 10)
            .unwrap();
        assert_eq!(v.validate(&outer, T0 + 10), Err(TokenError::Revoked));
        assert_eq!(v.validate(&nested, T0 + 10), Err(TokenError::Revoked));
        assert!(v.validate(&unrelated, T0 + 10).is_ok());
    }

    #[test]
    fn client_entry_spares_tokens_issued_after_revoked_at() {
        let (k, v) = fresh();
        let at = tok(&k, |c| c.client_id = "agent-7".into(), T0 + 5);
        let after = tok(&k, |c| c.client_id = "agent-7".into(), T0 + 6);
        let delegated_after = tok(&k, |c| c.act = actor_chain(&["x", "agent-7"]), T0 + 6);
        let feed = delta_feed(1, 2, vec![entry(Client, "agent-7", T0 + 5, T0 + 3600)]);
        v.apply_revocation_feed(&sign_feed(&k, &feed), T0 + 10)
            .unwrap();
        assert_eq!(v.validate(&at, T0 + 10), Err(TokenError::Revoked));
        assert!(v.validate(&after, T0 + 10).is_ok());
        assert!(v.validate(&delegated_after, T0 + 10).is_ok());
    }

    #[test]
    fn sub_entry_revokes_the_subjects_tokens_issued_until_revoked_at() {
        let (k, v) = fresh();
        let before = tok(&k, |_| {}, T0);
        let after = tok(&k, |c| c.jti = "jti-2".into(), T0 + 6);
        let bob = tok(&k, |c| c.sub = "user:bob".into(), T0);
        let feed = delta_feed(1, 2, vec![entry(Sub, "user:alice", T0 + 5, T0 + 3600)]);
        v.apply_revocation_feed(&sign_feed(&k, &feed), T0 + 10)
            .unwrap();
        assert_eq!(v.validate(&before, T0 + 10), Err(TokenError::Revoked));
        assert!(v.validate(&after, T0 + 10).is_ok());
        assert!(v.validate(&bob, T0 + 10).is_ok());
        // A sub entry names subjects only, never clients.
        let mut c = claims();
        c.sub = "user:carol".into();
        c.client_id = "user:alice".into();
        assert!(v.validate(&mint(&k, c, T0, T0 + 600), T0 + 10).is_ok());
    }

    #[test]
    fn family_entry_revokes_every_token_of_the_authorization_whatever_its_iat() {
        let (k, v) = fresh();
        let of_family = tok(&k, |c| c.fam = Some("rf_1".into()), T0 + 100);
        let other = tok(&k, |c| c.fam = Some("rf_2".into()), T0);
        let none = tok(&k, |_| {}, T0);
        let d = delta_feed(1, 2, vec![entry(Family, "rf_1", T0, T0 + 3600)]);
        v.apply_revocation_feed(&sign_feed(&k, &d), T0 + 100)
            .unwrap();
        assert_eq!(
            v.validate(&of_family, T0 + 100),
            Err(TokenError::Revoked),
            "issued after revoked_at, still cut"
        );
        assert!(v.validate(&other, T0 + 100).is_ok());
        assert!(v.validate(&none, T0 + 100).is_ok());
    }

    #[test]
    fn jti_entry_revokes_exactly_that_token() {
        let (k, v) = fresh();
        let t1 = tok(&k, |_| {}, T0);
        let t2 = tok(&k, |c| c.jti = "jti-2".into(), T0);
        let feed = delta_feed(1, 2, vec![entry(Jti, "jti-1", T0 - 100, T0 + 3600)]);
        v.apply_revocation_feed(&sign_feed(&k, &feed), T0 + 10)
            .unwrap();
        assert_eq!(v.validate(&t1, T0 + 10), Err(TokenError::Revoked));
        assert!(v.validate(&t2, T0 + 10).is_ok());
    }

    #[test]
    fn incremental_feeds_merge_into_the_state() {
        let (k, v) = fresh();
        let t1 = tok(&k, |_| {}, T0);
        let t2 = tok(&k, |c| c.jti = "jti-2".into(), T0);
        let d1 = delta_feed(1, 3, vec![entry(Jti, "jti-1", T0, T0 + 3600)]);
        let out = v.apply_revocation_feed(&sign_feed(&k, &d1), T0).unwrap();
        assert!(out.changed && !out.full);
        let d2 = delta_feed(3, 4, vec![entry(Jti, "jti-2", T0, T0 + 3600)]);
        v.apply_revocation_feed(&sign_feed(&k, &d2), T0).unwrap();
        assert_eq!(v.revocation_cursor(), Some(4));
        assert_eq!(v.revocation_entries(), 2);
        assert_eq!(v.validate(&t1, T0), Err(TokenError::Revoked));
        assert_eq!(v.validate(&t2, T0), Err(TokenError::Revoked));
    }

    #[test]
    fn a_full_feed_replaces_the_state() {
        let (k, v) = fresh();
        let t1 = tok(&k, |_| {}, T0);
        let d = delta_feed(1, 2, vec![entry(Jti, "jti-1", T0, T0 + 3600)]);
        v.apply_revocation_feed(&sign_feed(&k, &d), T0).unwrap();
        assert_eq!(v.validate(&t1, T0), Err(TokenError::Revoked));
        let f = full_feed(3, vec![entry(Jti, "jti-9", T0, T0 + 3600)]);
        let out = v.apply_revocation_feed(&sign_feed(&k, &f), T0).unwrap();
        assert!(out.full && out.changed);
        assert_eq!(v.revocation_entries(), 1);
        assert!(v.validate(&t1, T0).is_ok());
    }

    #[test]
    fn incremental_feed_that_does_not_continue_the_cursor_is_refused() {
        let (k, v) = fresh();
        let gap = delta_feed(5, 6, vec![entry(Jti, "jti-1", T0, T0 + 3600)]);
        assert_eq!(
            v.apply_revocation_feed(&sign_feed(&k, &gap), T0),
            Err(RefreshError::CursorMismatch {
                expected: Some(1),
                received: 5
            })
        );
        assert_eq!(v.revocation_cursor(), Some(1));
        assert_eq!(v.revocation_entries(), 0);

        let never_full = validator(&[&k]);
        assert!(matches!(
            never_full.apply_revocation_feed(&sign_feed(&k, &delta_feed(0, 1, vec![])), T0),
            Err(RefreshError::CursorMismatch { expected: None, .. })
        ));
    }

    #[test]
    fn an_older_full_feed_is_refused_as_rollback() {
        let (k, v) = fresh();
        let d = delta_feed(1, 5, vec![entry(Jti, "jti-1", T0, T0 + 3600)]);
        v.apply_revocation_feed(&sign_feed(&k, &d), T0).unwrap();
        let old = full_feed(3, vec![]);
        assert_eq!(
            v.apply_revocation_feed(&sign_feed(&k, &old), T0),
            Err(RefreshError::Rollback {
                current: 5,
                received: 3
            })
        );
        assert_eq!(v.revocation_entries(), 1);
    }

    #[test]
    fn feed_with_bad_signature_is_ignored() {
        let (k, v) = fresh();
        let t = tok(&k, |_| {}, T0);
        let jws = sign_feed(
            &k,
            &delta_feed(1, 2, vec![entry(Jti, "jti-1", T0, T0 + 3600)]),
        );
        let (input, sig) = jws.rsplit_once('.').unwrap();
        let mut sig: Vec<char> = sig.chars().collect();
        sig[5] = if sig[5] == 'A' { 'B' } else { 'A' };
        let tampered = format!("{input}.{}", sig.into_iter().collect::<String>());
        assert_eq!(
            v.apply_revocation_feed(&tampered, T0 + 1),
            Err(RefreshError::BadSignature)
        );
        let forged_by_other_key = {
            let mut evil = Key::new(9);
            evil.kid = k.kid.clone();
            sign_feed(
                &evil,
                &delta_feed(1, 2, vec![entry(Jti, "jti-1", T0, T0 + 3600)]),
            )
        };
        assert_eq!(
            v.apply_revocation_feed(&forged_by_other_key, T0 + 1),
            Err(RefreshError::BadSignature)
        );
        assert_eq!(v.revocation_cursor(), Some(1));
        assert_eq!(v.revocations_fresh_at(), Some(T0));
        assert!(v.validate(&t, T0 + 1).is_ok());
    }

    #[test]
    fn feed_signed_with_an_unknown_key_is_reported_for_a_jwks_refetch() {
        let (k, v) = fresh();
        let _ = k;
        let other = Key::new(2);
        assert_eq!(
            v.apply_revocation_feed(&sign_feed(&other, &full_feed(2, vec![])), T0),
            Err(RefreshError::UnknownKeyId)
        );
    }

    #[test]
    fn feed_for_another_issuer_or_with_a_wrong_header_is_ignored() {
        let (k, v) = fresh();
        let mut f = full_feed(2, vec![entry(Jti, "jti-1", T0, T0 + 3600)]);
        f.iss = "https://evil.example.com".into();
        assert_eq!(
            v.apply_revocation_feed(&sign_feed(&k, &f), T0),
            Err(RefreshError::WrongIssuer)
        );
        let payload = serde_json::to_value(full_feed(2, vec![])).unwrap();
        for header in [
            json!({"alg": "ES256", "typ": "at+jwt", "kid": k.kid}),
            json!({"alg": "ES256", "kid": k.kid}),
            json!({"alg": "HS256", "typ": "revocations+jwt", "kid": k.kid}),
            json!({"alg": "ES256", "typ": "revocations+jwt"}),
        ] {
            assert_eq!(
                v.apply_revocation_feed(&sign_raw(&k, &header, &payload), T0),
                Err(RefreshError::BadHeader),
                "{header}"
            );
        }
        let bad_kind = json!({"iss": ISS, "iat": T0, "seq": 2, "full": true, "since": 0,
            "entries": [{"kind": "device", "id": "d", "revoked_at": T0, "expires_at": T0 + 9}]});
        assert_eq!(
            v.apply_revocation_feed(
                &sign_raw(
                    &k,
                    &json!({"alg": "ES256", "typ": "revocations+jwt", "kid": k.kid}),
                    &bad_kind
                ),
                T0
            ),
            Err(RefreshError::Malformed)
        );
        assert_eq!(v.revocation_cursor(), Some(1));
    }

    #[test]
    fn accepts_application_media_type_and_surrounding_whitespace() {
        let (k, v) = fresh();
        let jws = sign_raw(
            &k,
            &json!({"alg": "ES256", "typ": "application/revocations+jwt", "kid": k.kid}),
            &serde_json::to_value(full_feed(2, vec![])).unwrap(),
        );
        assert!(v.apply_revocation_feed(&format!("\n{jws}\r\n"), T0).is_ok());
    }

    #[test]
    fn entries_expire_after_expires_at_plus_leeway() {
        let (k, v) = fresh();
        // A token valid until T0+600 is accepted until T0+630 with the 30 s leeway, so an entry
        // expiring at T0+600 must hold until then.
        let t = tok(&k, |_| {}, T0);
        let d = delta_feed(1, 2, vec![entry(Jti, "jti-1", T0, T0 + 600)]);
        v.apply_revocation_feed(&sign_feed(&k, &d), T0).unwrap();
        assert_eq!(v.validate(&t, T0 + 629), Err(TokenError::Revoked));
        // Purged on the next feed after expiry (feeds produced when they are applied).
        let mut next = delta_feed(2, 3, vec![]);
        next.iat = T0 + 631;
        v.apply_revocation_feed(&sign_feed(&k, &next), T0 + 631)
            .unwrap();
        assert_eq!(v.revocation_entries(), 0);
        // Entries already expired are not even stored.
        let mut stale = delta_feed(3, 4, vec![entry(Sub, "user:alice", T0, T0 + 600)]);
        stale.iat = T0 + 631;
        v.apply_revocation_feed(&sign_feed(&k, &stale), T0 + 631)
            .unwrap();
        assert_eq!(v.revocation_entries(), 0);
    }

    #[test]
    fn an_applied_feed_makes_the_state_fresh() {
        let k = Key::new(1);
        let v = Validator::new(mcpgate_guard::ValidatorConfig::new(ISS, AUD));
        v.apply_jwks_json(&jwks(&[&k])).unwrap();
        assert_eq!(v.validate(&token(&k), T0), Err(TokenError::Unavailable));
        v.apply_revocation_feed(&sign_feed(&k, &full_feed(1, vec![])), T0)
            .unwrap();
        assert!(v.validate(&token(&k), T0).is_ok());
        assert_eq!(v.revocations_fresh_at(), Some(T0));
    }
}

mod feed_freshness {
    use super::*;
    use mcpgate_guard::{RefreshError, ValidatorConfig};

    fn validator(config: ValidatorConfig, k: &Key) -> Validator {
        let v = Validator::new(config);
        v.apply_jwks_json(&jwks(&[k])).unwrap();
        v
    }

    #[test]
    fn a_replayed_old_feed_is_refused_so_it_cannot_hide_newer_revocations() {
        let k = Key::new(1);
        let v = validator(ValidatorConfig::new(ISS, AUD), &k);
        // Captured at T0 (before a revocation), replayed ten minutes later.
        let old = sign_feed(&k, &full_feed(1, vec![]));
        let err = v.apply_revocation_feed(&old, T0 + 600).unwrap_err();
        assert!(matches!(err, RefreshError::Stale { .. }), "{err:?}");
        assert_eq!(v.revocation_cursor(), None, "nothing applied");
        // Within the limit it is accepted; a feed claiming to come from the future is not.
        assert!(v.apply_revocation_feed(&old, T0 + 299).is_ok());
        let mut future = full_feed(2, vec![]);
        future.iat = T0 + 3600;
        let err = v
            .apply_revocation_feed(&sign_feed(&k, &future), T0 + 300)
            .unwrap_err();
        assert!(matches!(err, RefreshError::Stale { .. }));
    }

    #[test]
    fn a_persisted_cursor_keeps_the_state_from_moving_backwards_across_a_restart() {
        let k = Key::new(1);
        let before = validator(ValidatorConfig::new(ISS, AUD), &k);
        let revoked = full_feed(7, vec![entry(Jti, "jti-1", T0, T0 + 3600)]);
        before
            .apply_revocation_feed(&sign_feed(&k, &revoked), T0)
            .unwrap();
        let persisted = before.revocation_cursor().unwrap();
        // Restarted with the persisted cursor, an attacker (or a stale cache) serves an older
        // full feed from before the revocation, freshly dated.
        let mut config = ValidatorConfig::new(ISS, AUD);
        config.revocation_cursor_floor = Some(persisted);
        let after = validator(config, &k);
        let mut rollback = full_feed(6, vec![]);
        rollback.iat = T0 + 10;
        let err = after
            .apply_revocation_feed(&sign_feed(&k, &rollback), T0 + 10)
            .unwrap_err();
        assert_eq!(
            err,
            RefreshError::Rollback {
                current: 7,
                received: 6
            }
        );
        assert_eq!(
            after.validate(&token(&k), T0 + 10),
            Err(TokenError::Unavailable)
        );
        let mut current = revoked.clone();
        current.iat = T0 + 10;
        after
            .apply_revocation_feed(&sign_feed(&k, &current), T0 + 10)
            .unwrap();
        assert_eq!(
            after.validate(&token(&k), T0 + 10),
            Err(TokenError::Revoked)
        );
    }

    #[test]
    fn an_incremental_feed_may_start_before_the_cursor_but_not_after_it() {
        let k = Key::new(1);
        let v = validator(ValidatorConfig::new(ISS, AUD), &k);
        v.apply_revocation_feed(&sign_feed(&k, &full_feed(10, vec![])), T0)
            .unwrap();
        // Snapped down to a boundary: re-sent entries merge harmlessly.
        let early = delta_feed(5, 12, vec![entry(Jti, "jti-1", T0, T0 + 3600)]);
        v.apply_revocation_feed(&sign_feed(&k, &early), T0).unwrap();
        assert_eq!(v.revocation_cursor(), Some(12));
        assert_eq!(v.validate(&token(&k), T0), Err(TokenError::Revoked));
        // A gap (changes between 12 and 13 missing) is refused.
        let gap = delta_feed(13, 14, vec![]);
        assert!(matches!(
            v.apply_revocation_feed(&sign_feed(&k, &gap), T0),
            Err(RefreshError::CursorMismatch { .. })
        ));
        // And so is a delta that would move the cursor backwards.
        let back = delta_feed(5, 11, vec![]);
        assert!(matches!(
            v.apply_revocation_feed(&sign_feed(&k, &back), T0),
            Err(RefreshError::CursorMismatch { .. })
        ));
    }
}

mod paged_snapshots {
    use super::*;
    use mcpgate_guard::revocation::RevocationFeed;

    fn paged(first: bool, since: u64, seq: u64, more: bool, ids: &[&str]) -> RevocationFeed {
        let entries = ids.iter().map(|id| entry(Jti, id, T0, T0 + 3600)).collect();
        let mut f = if first {
            full_feed(seq, entries)
        } else {
            delta_feed(since, seq, entries)
        };
        f.more = more;
        f
    }

    #[test]
    fn a_paged_snapshot_is_in_force_only_once_its_last_page_applied() {
        let k = Key::new(1);
        let v = validator(&[&k]);
        v.apply_revocation_feed(
            &sign_feed(&k, &full_feed(3, vec![entry(Jti, "old", T0, T0 + 3600)])),
            T0,
        )
        .unwrap();
        let fresh_before = v.revocations_fresh_at();
        // Page 1 of a new snapshot: assembled aside; the state in force is untouched.
        let out = v
            .apply_revocation_feed(&sign_feed(&k, &paged(true, 0, 500, true, &["a"])), T0 + 1)
            .unwrap();
        assert!(out.more);
        assert_eq!(v.revocation_entries(), 1, "still the previous state");
        assert_eq!(
            v.revocations_fresh_at(),
            fresh_before,
            "not fresh on a partial snapshot"
        );
        assert_eq!(
            v.revocation_cursor(),
            Some(500),
            "the next page is asked from here"
        );
        // The last page swaps the whole snapshot in.
        v.apply_revocation_feed(
            &sign_feed(&k, &paged(false, 500, 1000, false, &["b"])),
            T0 + 2,
        )
        .unwrap();
        assert_eq!(v.revocation_entries(), 2, "a and b, not old");
        assert_eq!(v.revocations_fresh_at(), Some(T0 + 2));
    }

    #[test]
    fn a_restarted_validator_with_a_persisted_cursor_accepts_a_paged_snapshot_ending_past_it() {
        let k = Key::new(1);
        let v = validator_with(&[&k], |c| c.revocation_cursor_floor = Some(1200));
        v.apply_revocation_feed(&sign_feed(&k, &paged(true, 0, 500, true, &["a"])), T0)
            .unwrap();
        v.apply_revocation_feed(&sign_feed(&k, &paged(false, 500, 1000, true, &["b"])), T0)
            .unwrap();
        v.apply_revocation_feed(&sign_feed(&k, &paged(false, 1000, 1300, false, &["c"])), T0)
            .unwrap();
        assert_eq!(v.revocation_cursor(), Some(1300));
        assert_eq!(v.revocation_entries(), 3);
        // A snapshot that ends behind the persisted cursor is still a rollback.
        let w = validator_with(&[&k], |c| c.revocation_cursor_floor = Some(1200));
        w.apply_revocation_feed(&sign_feed(&k, &paged(true, 0, 500, true, &["a"])), T0)
            .unwrap();
        assert!(matches!(
            w.apply_revocation_feed(&sign_feed(&k, &paged(false, 500, 1000, false, &["b"])), T0),
            Err(RefreshError::Rollback { .. })
        ));
        assert_eq!(w.revocation_entries(), 0);
    }

    #[test]
    fn the_push_channel_cannot_carry_a_full_or_paged_document() {
        let k = Key::new(1);
        let v = validator(&[&k]);
        v.apply_revocation_feed(&sign_feed(&k, &full_feed(3, vec![])), T0)
            .unwrap();
        let full = sign_feed(&k, &full_feed(9, vec![]));
        assert_eq!(
            block_on(v.apply_revocation_push_async(&full, T0)),
            Err(RefreshError::Malformed),
            "a full document pushed would replace the state"
        );
        let more = sign_feed(&k, &paged(false, 3, 500, true, &["x"]));
        assert_eq!(
            block_on(v.apply_revocation_push_async(&more, T0)),
            Err(RefreshError::Malformed)
        );
        let ok = sign_feed(&k, &paged(false, 3, 4, false, &["x"]));
        assert!(block_on(v.apply_revocation_push_async(&ok, T0)).is_ok());
        assert_eq!(v.revocation_entries(), 1);
    }
}
