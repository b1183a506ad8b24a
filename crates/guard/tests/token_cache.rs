//! Verified-token cache requirements: hits equal the full result, entries end at `exp`, any
//! revocation or key change applies to cached tokens, capacity is bounded.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use mcpgate_guard::revocation::RevocationKind::{Client, Jti};
use mcpgate_guard::TokenError;

mod verified_token_cache {
    use super::*;

    #[test]
    fn hit_returns_the_same_result_as_full_validation() {
        let k = Key::new(1);
        let v = validator(&[&k]);
        let uncached = validator_with(&[&k], |c| c.cache_capacity = 0);
        let t = token(&k);
        let first = v.validate(&t, T0).unwrap();
        assert_eq!(v.cached_tokens(), 1);
        let hit = v.validate(&t, T0 + 1).unwrap();
        assert_eq!(hit, first);
        assert_eq!(hit, uncached.validate(&t, T0 + 1).unwrap());
        assert_eq!(uncached.cached_tokens(), 0);
    }

    #[test]
    fn failures_are_not_cached() {
        let k = Key::new(1);
        let v = validator(&[&k]);
        let mut c = claims();
        c.iss = "https://evil.example.com".into();
        let t = mint(&k, c, T0, T0 + 600);
        assert_eq!(v.validate(&t, T0), Err(TokenError::WrongIssuer));
        assert_eq!(v.cached_tokens(), 0);
    }

    #[test]
    fn entry_is_dropped_at_the_token_exp() {
        let k = Key::new(1);
        let v = validator(&[&k]);
        let t = mint(&k, claims(), T0, T0 + 100);
        v.validate(&t, T0).unwrap();
        assert_eq!(v.cached_tokens(), 1);
        v.validate(&t, T0 + 99).unwrap();
        assert_eq!(v.cached_tokens(), 1);
        // At exp the entry is gone; the full path still applies the leeway...
        assert!(v.validate(&t, T0 + 100).is_ok());
        assert_eq!(v.cached_tokens(), 0);
        // ...and then the token expires as usual.
        assert_eq!(v.validate(&t, T0 + 130), Err(TokenError::Expired));
    }

    #[test]
    fn entry_is_not_used_before_the_token_is_valid() {
        let k = Key::new(1);
        let v = validator(&[&k]);
        let t = mint(&k, claims(), T0 + 20, T0 + 600);
        v.validate(&t, T0).unwrap();
        // A caller whose clock is behind gets the full check, not the cached acceptance.
        assert_eq!(v.validate(&t, T0 - 20), Err(TokenError::BadIssuedAt));
    }

    #[test]
    fn a_revocation_change_evicts_cached_tokens() {
        let k = Key::new(1);
        let v = validator(&[&k]);
        v.apply_revocation_feed(&sign_feed(&k, &full_feed(1, vec![])), T0)
            .unwrap();
        let t = token(&k);
        let mut c = claims();
        c.jti = "jti-2".into();
        let t2 = mint(&k, c, T0, T0 + 600);
        v.validate(&t, T0).unwrap();
        v.validate(&t2, T0).unwrap();
        assert_eq!(v.cached_tokens(), 2);
        let d = delta_feed(1, 2, vec![entry(Jti, "jti-1", T0, T0 + 3600)]);
        v.apply_revocation_feed(&sign_feed(&k, &d), T0 + 1).unwrap();
        assert_eq!(v.cached_tokens(), 0);
        assert_eq!(v.validate(&t, T0 + 1), Err(TokenError::Revoked));
        assert!(v.validate(&t2, T0 + 1).is_ok());
    }

    #[test]
    fn revocation_of_a_client_applies_to_its_cached_tokens() {
        let k = Key::new(1);
        let v = validator(&[&k]);
        v.apply_revocation_feed(&sign_feed(&k, &full_feed(1, vec![])), T0)
            .unwrap();
        let mut c = claims();
        c.act = actor_chain(&["agent-1", "app-1"]);
        let t = mint(&k, c, T0, T0 + 600);
        v.validate(&t, T0).unwrap();
        v.validate(&t, T0 + 1).unwrap();
        let d = delta_feed(1, 2, vec![entry(Client, "app-1", T0 + 1, T0 + 3600)]);
        v.apply_revocation_feed(&sign_feed(&k, &d), T0 + 2).unwrap();
        assert_eq!(v.validate(&t, T0 + 2), Err(TokenError::Revoked));
    }

    #[test]
    fn an_unchanged_feed_keeps_the_cache() {
        let k = Key::new(1);
        let v = validator(&[&k]);
        v.apply_revocation_feed(&sign_feed(&k, &full_feed(1, vec![])), T0)
            .unwrap();
        v.validate(&token(&k), T0).unwrap();
        let out = v
            .apply_revocation_feed(&sign_feed(&k, &delta_feed(1, 1, vec![])), T0 + 1)
            .unwrap();
        assert!(!out.changed);
        let out = v
            .apply_revocation_feed(&sign_feed(&k, &full_feed(1, vec![])), T0 + 2)
            .unwrap();
        assert!(!out.changed);
        assert_eq!(v.cached_tokens(), 1);
    }

    #[test]
    fn removing_a_key_evicts_tokens_it_signed() {
        let k1 = Key::new(1);
        let k2 = Key::new(2);
        let v = validator(&[&k1, &k2]);
        let t = token(&k1);
        v.validate(&t, T0).unwrap();
        // Adding a key (rotation pre-publication) keeps the cache.
        let k3 = Key::new(3);
        v.apply_jwks_json(&jwks(&[&k1, &k2, &k3])).unwrap();
        assert_eq!(v.cached_tokens(), 1);
        // Withdrawing the key that signed it does not.
        v.apply_jwks_json(&jwks(&[&k2, &k3])).unwrap();
        assert_eq!(v.cached_tokens(), 0);
        assert_eq!(
            v.validate(&t, T0),
            Err(TokenError::UnknownKeyId(k1.kid.clone()))
        );
    }

    #[test]
    fn capacity_bound_is_respected() {
        let k = Key::new(1);
        let v = validator_with(&[&k], |c| c.cache_capacity = 3);
        let tokens: Vec<String> = (0..10)
            .map(|i| {
                let mut c = claims();
                c.jti = format!("jti-{i}");
                mint(&k, c, T0, T0 + 600)
            })
            .collect();
        for t in &tokens {
            v.validate(t, T0).unwrap();
            assert!(v.cached_tokens() <= 3);
        }
        assert_eq!(v.cached_tokens(), 3);
        // Re-validating the same tokens many times never exceeds the bound.
        for _ in 0..5 {
            for t in &tokens {
                v.validate(t, T0).unwrap();
            }
        }
        assert_eq!(v.cached_tokens(), 3);
    }

    #[test]
    fn cache_is_keyed_by_the_whole_token() {
        let k = Key::new(1);
        let v = validator(&[&k]);
        let t = token(&k);
        v.validate(&t, T0).unwrap();
        let (input, _) = t.rsplit_once('.').unwrap();
        let forged = format!("{input}.{}", "A".repeat(86));
        assert_eq!(v.validate(&forged, T0), Err(TokenError::BadSignature));
    }
}
