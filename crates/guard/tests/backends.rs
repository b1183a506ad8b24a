//! Signature backends agree: p256 and (feature `ring`) ring accept and reject the same tokens.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use common::*;
use mcpgate_guard::{Backend, KeySet, ParsedToken, TokenError};

fn backends() -> Vec<Backend> {
    #[allow(unused_mut)]
    let mut all = vec![Backend::P256];
    #[cfg(feature = "ring")]
    all.push(Backend::Ring);
    all
}

/// Variants of a valid token: the original and several tamperings.
fn variants(k: &Key) -> Vec<(String, bool)> {
    let t = token(k);
    let (input, sig) = t.rsplit_once('.').unwrap();
    let sig = B64.decode(sig).unwrap();
    let mut out = vec![(t.clone(), true)];
    for i in [0usize, 31, 32, 63] {
        let mut s = sig.clone();
        s[i] ^= 0x80;
        out.push((format!("{input}.{}", B64.encode(&s)), false));
    }
    // s replaced by n - s: the other valid ECDSA encoding, which both backends accept (JWS does
    // not require low-s; the token cache keys by the whole token, so this only makes another
    // cache entry).
    let parsed = p256::ecdsa::Signature::from_slice(&sig).unwrap();
    let (r, s) = parsed.split_scalars();
    let flipped = p256::ecdsa::Signature::from_scalars(r.to_bytes(), (-*s).to_bytes()).unwrap();
    out.push((format!("{input}.{}", B64.encode(flipped.to_bytes())), true));
    // Swapped r and s; all-zero r and s.
    let mut swapped = sig[32..].to_vec();
    swapped.extend_from_slice(&sig[..32]);
    out.push((format!("{input}.{}", B64.encode(&swapped)), false));
    out.push((format!("{input}.{}", B64.encode([0u8; 64])), false));
    // Another payload under the same signature.
    let other = mint(k, claims(), T0 + 1, T0 + 601);
    let (other_input, _) = other.rsplit_once('.').unwrap();
    out.push((format!("{other_input}.{}", B64.encode(&sig)), false));
    out
}

mod backends {
    use super::*;

    #[test]
    fn default_backend_is_the_fastest_compiled_in() {
        #[cfg(feature = "ring")]
        assert_eq!(Backend::default(), Backend::Ring);
        #[cfg(not(feature = "ring"))]
        assert_eq!(Backend::default(), Backend::P256);
    }

    #[test]
    fn every_backend_verifies_a_token_identically_and_rejects_tampering() {
        for seed in 1..=5u8 {
            let k = Key::new(seed);
            let keys = KeySet::from_keys([(k.kid.clone(), *k.sk.verifying_key())]);
            let key = keys.get(&k.kid).unwrap();
            for (t, expected) in variants(&k) {
                let p = ParsedToken::parse(&t).unwrap();
                for b in backends() {
                    assert_eq!(
                        key.verify(b, p.signing_input(), p.signature()),
                        expected,
                        "{} seed {seed}",
                        b.name()
                    );
                }
            }
        }
    }

    #[test]
    fn validators_on_each_backend_give_the_same_results() {
        let k = Key::new(1);
        for b in backends() {
            let v = validator_with(&[&k], |c| {
                c.backend = b;
                c.cache_capacity = 0;
            });
            assert_eq!(v.backend(), b);
            for (t, expected) in variants(&k) {
                let r = v.validate(&t, T0);
                if expected {
                    assert!(r.is_ok(), "{}", b.name());
                } else {
                    assert_eq!(r, Err(TokenError::BadSignature), "{}", b.name());
                }
            }
        }
    }

    #[test]
    fn feeds_verify_on_each_backend() {
        let k = Key::new(1);
        for b in backends() {
            let v = validator_with(&[&k], |c| c.backend = b);
            assert!(v
                .apply_revocation_feed(&sign_feed(&k, &full_feed(1, vec![])), T0)
                .is_ok());
        }
    }
}
