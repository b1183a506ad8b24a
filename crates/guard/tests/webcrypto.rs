//! The WebCrypto backend (`workers` feature, wasm32 only), run for real: the test is compiled to
//! `wasm32-unknown-unknown` and executed in Node, whose `globalThis.crypto.subtle` is the same
//! WebCrypto API workerd provides. Tokens and feeds are signed in wasm with p256 / jwt-compact
//! (deterministic keys) and verified through `crypto.subtle.verify`.
//!
//! Run (needs `wasm-bindgen-test-runner` 0.2.130, the wasm-bindgen version, on `PATH`, and
//! Node 20+; wasm-bindgen-test runs in Node by default):
//!
//! ```text
//! CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
//!   cargo test -p mcpgate-guard --features workers --target wasm32-unknown-unknown --test webcrypto
//! ```
#![cfg(target_arch = "wasm32")]
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
use mcpgate_guard::backend::webcrypto::WebCrypto;
use mcpgate_guard::revocation::RevocationKind::Jti;
use mcpgate_guard::{
    AsyncVerifier, Backend, Guard, GuardConfig, KeySet, ParsedToken, RefreshError, TokenError,
    Validator, ValidatorConfig,
};
use wasm_bindgen_test::wasm_bindgen_test;

/// `token` with its signature replaced by `f(signature)`.
fn resigned(token: &str, f: impl FnOnce(&mut Vec<u8>)) -> String {
    let (input, sig) = token.rsplit_once('.').unwrap();
    let mut sig = B64.decode(sig).unwrap();
    f(&mut sig);
    format!("{input}.{}", B64.encode(&sig))
}

/// `token` with its payload replaced (signature kept).
fn with_payload(token: &str, payload: &serde_json::Value) -> String {
    let mut parts = token.split('.');
    let header = parts.next().unwrap();
    let sig = parts.nth(1).unwrap();
    let payload = B64.encode(serde_json::to_vec(payload).unwrap());
    format!("{header}.{payload}.{sig}")
}

/// Valid and tampered variants of a token, with the expected verdict.
fn variants(k: &Key) -> Vec<(String, bool)> {
    let t = token(k);
    let mut out = vec![(t.clone(), true)];
    for i in [0usize, 31, 32, 63] {
        out.push((resigned(&t, |s| s[i] ^= 0x80), false));
    }
    // s replaced by n - s, the other valid ECDSA encoding: p256 accepts it, so must WebCrypto.
    out.push((
        resigned(&t, |s| {
            let sig = p256::ecdsa::Signature::from_slice(s).unwrap();
            let (r, sv) = sig.split_scalars();
            let flipped =
                p256::ecdsa::Signature::from_scalars(r.to_bytes(), (-*sv).to_bytes()).unwrap();
            *s = flipped.to_bytes().to_vec();
        }),
        true,
    ));
    out.push((resigned(&t, |s| s.rotate_left(32)), false));
    out.push((resigned(&t, |s| s.fill(0)), false));
    out.push((with_payload(&t, &payload(T0 + 1, T0 + 601)), false));
    out
}

#[wasm_bindgen_test]
fn webcrypto_is_the_default_backend_on_workers() {
    assert_eq!(Backend::default(), Backend::WebCrypto);
    assert_eq!(Backend::WebCrypto.name(), "webcrypto");
    assert_eq!(validator(&[&Key::new(1)]).backend(), Backend::WebCrypto);
}

#[wasm_bindgen_test]
async fn webcrypto_agrees_with_p256_on_valid_and_tampered_signatures() {
    WebCrypto::clear_cache();
    for seed in 1..=3u8 {
        let k = Key::new(seed);
        let keys = KeySet::from_keys([(k.kid.clone(), *k.sk.verifying_key())]);
        let key = keys.get(&k.kid).unwrap();
        for (i, (t, expected)) in variants(&k).into_iter().enumerate() {
            let p = ParsedToken::parse(&t).unwrap();
            let p256 = key.verify(Backend::P256, p.signing_input(), p.signature());
            let webcrypto = WebCrypto
                .verify_es256(key, p.signing_input(), p.signature())
                .await;
            assert_eq!(p256, expected, "p256 seed {seed} variant {i}");
            assert_eq!(webcrypto, Ok(expected), "webcrypto seed {seed} variant {i}");
        }
        // Each key is imported once, then reused.
        assert_eq!(WebCrypto::cached_keys(), usize::from(seed));
    }
    let k = Key::new(1);
    let keys = KeySet::from_keys([(k.kid.clone(), *k.sk.verifying_key())]);
    let key = keys.get(&k.kid).unwrap();
    assert_eq!(
        WebCrypto.verify_es256(key, b"message", &[1u8; 63]).await,
        Ok(false)
    );
}

#[wasm_bindgen_test]
async fn a_token_validates_through_webcrypto_and_tampering_is_a_bad_signature() {
    WebCrypto::clear_cache();
    let k = Key::new(1);
    let v = validator(&[&k]);
    let t = token(&k);
    let verified = v.validate_async(&t, T0).await.unwrap();
    assert_eq!(verified.subject(), "user:alice");
    assert_eq!(verified.token_id(), "jti-1");
    // The signature went through crypto.subtle: the key was imported there.
    assert_eq!(WebCrypto::cached_keys(), 1);
    assert_eq!(v.cached_tokens(), 1);
    // A cache hit.
    assert_eq!(v.validate_async(&t, T0 + 1).await, Ok(verified));

    let tampered = resigned(&t, |s| s[10] ^= 1);
    assert_eq!(
        v.validate_async(&tampered, T0).await,
        Err(TokenError::BadSignature)
    );
    let mut forged = payload(T0, T0 + 600);
    forged["scope"] = "notes.admin".into();
    assert_eq!(
        v.validate_async(&with_payload(&t, &forged), T0).await,
        Err(TokenError::BadSignature)
    );
    // Claims are not even decoded without a valid signature...
    let garbage = format!(
        "{}.{}.{}",
        t.split('.').next().unwrap(),
        B64.encode("not json"),
        t.rsplit('.').next().unwrap()
    );
    assert_eq!(
        v.validate_async(&garbage, T0).await,
        Err(TokenError::BadSignature)
    );
    // ...and are checked once it verified.
    assert_eq!(
        v.validate_async(&mint(&k, claims(), T0 - 7200, T0 - 3600), T0)
            .await,
        Err(TokenError::Expired)
    );
    // The synchronous path (p256 fallback) gives the same answers.
    assert!(v.validate(&t, T0).is_ok());
    assert_eq!(v.validate(&tampered, T0), Err(TokenError::BadSignature));
}

#[wasm_bindgen_test]
async fn a_token_from_an_unknown_key_is_refused() {
    let k = Key::new(1);
    let stranger = Key::new(9);
    let v = validator(&[&k]);
    assert_eq!(
        v.validate_async(&token(&stranger), T0).await,
        Err(TokenError::UnknownKeyId(stranger.kid.clone()))
    );
    // The stranger's key under a published kid: verified with the published key, so refused.
    let lying = sign_raw(
        &stranger,
        &serde_json::json!({"alg": "ES256", "typ": "at+jwt", "kid": k.kid}),
        &payload(T0, T0 + 600),
    );
    assert_eq!(
        v.validate_async(&lying, T0).await,
        Err(TokenError::BadSignature)
    );
}

#[wasm_bindgen_test]
async fn imported_keys_are_cached_by_key_not_by_kid() {
    WebCrypto::clear_cache();
    let (a, b) = (Key::new(1), Key::new(2));
    let as_kid = |key: &Key, kid: &str| {
        let mut jwk = key.jwk();
        jwk["kid"] = kid.into();
        serde_json::to_vec(&serde_json::json!({ "keys": [jwk] })).unwrap()
    };
    let signed = |key: &Key| {
        sign_raw(
            key,
            &serde_json::json!({"alg": "ES256", "typ": "at+jwt", "kid": "k"}),
            &payload(T0, T0 + 600),
        )
    };
    let mut config = ValidatorConfig::new(ISS, AUD);
    config.revocation_max_age_secs = None;
    config.cache_capacity = 0;
    let v = Validator::new(config);
    v.apply_jwks_json(&as_kid(&a, "k")).unwrap();
    assert!(v.validate_async(&signed(&a), T0).await.is_ok());
    assert_eq!(
        v.validate_async(&signed(&b), T0).await,
        Err(TokenError::BadSignature)
    );
    // The same kid now names another key: the import cached for the first is not reused.
    v.apply_jwks_json(&as_kid(&b, "k")).unwrap();
    assert!(v.validate_async(&signed(&b), T0).await.is_ok());
    assert_eq!(
        v.validate_async(&signed(&a), T0).await,
        Err(TokenError::BadSignature)
    );
    assert_eq!(WebCrypto::cached_keys(), 2);
}

#[wasm_bindgen_test]
async fn a_feed_verifies_through_webcrypto_and_a_tampered_feed_is_refused() {
    WebCrypto::clear_cache();
    let k = Key::new(1);
    let v = validator(&[&k]);
    let t = token(&k);
    let feed = sign_feed(&k, &full_feed(1, vec![entry(Jti, "jti-1", T0, T0 + 3600)]));

    // Tampered: a payload that drops the entry, under the original signature.
    let emptied = with_payload(&feed, &serde_json::to_value(full_feed(1, vec![])).unwrap());
    assert_eq!(
        v.apply_revocation_feed_async(&emptied, T0).await,
        Err(RefreshError::BadSignature)
    );
    assert_eq!(
        v.apply_revocation_feed_async(&resigned(&feed, |s| s[40] ^= 4), T0)
            .await,
        Err(RefreshError::BadSignature)
    );
    // Signed by a key outside the JWKS.
    let stranger = Key::new(9);
    assert_eq!(
        v.apply_revocation_feed_async(&sign_feed(&stranger, &full_feed(1, vec![])), T0)
            .await,
        Err(RefreshError::UnknownKeyId)
    );
    assert_eq!(v.revocation_cursor(), None);
    assert_eq!(WebCrypto::cached_keys(), 1);

    let outcome = v.apply_revocation_feed_async(&feed, T0).await.unwrap();
    assert_eq!(
        (outcome.seq, outcome.full, outcome.changed),
        (1, true, true)
    );
    assert_eq!(v.revocation_cursor(), Some(1));
    assert_eq!(v.validate_async(&t, T0).await, Err(TokenError::Revoked));
}

#[wasm_bindgen_test]
async fn a_guard_on_workers_verifies_tokens_and_feeds_with_webcrypto() {
    WebCrypto::clear_cache();
    let (k, stranger) = (Key::new(1), Key::new(9));
    let fetch = FakeFetch::new();
    fetch.jwks(&[&k], Some("public, max-age=600"));
    fetch.feed(
        FEED_URL,
        &sign_feed(
            &k,
            &full_feed(1, vec![entry(Jti, "revoked", T0, T0 + 3600)]),
        ),
        None,
    );
    let guard = Guard::new(GuardConfig::new(ISS, AUD), fetch);
    assert_eq!(guard.validator().backend(), Backend::WebCrypto);

    let t = token(&k);
    assert!(guard.validate(&t, T0).await.is_ok());
    let status = guard.status();
    assert_eq!(status.revocation_cursor, Some(1));
    assert_eq!(status.revocation_error, None);
    assert_eq!(WebCrypto::cached_keys(), 1);

    let mut c = claims();
    c.jti = "revoked".into();
    assert_eq!(
        guard.validate(&mint(&k, c, T0, T0 + 600), T0).await,
        Err(TokenError::Revoked)
    );
    assert_eq!(
        guard.validate(&resigned(&t, |s| s[0] ^= 1), T0).await,
        Err(TokenError::BadSignature)
    );
    assert_eq!(
        guard.validate(&token(&stranger), T0).await,
        Err(TokenError::UnknownKeyId(stranger.kid.clone()))
    );

    // A tampered feed on the next poll is refused and reported; the state stays.
    let emptied = with_payload(
        &sign_feed(&k, &full_feed(2, vec![])),
        &serde_json::to_value(full_feed(3, vec![])).unwrap(),
    );
    guard.fetcher().feed(FEED_URL, &emptied, None);
    assert_eq!(
        guard.refresh(T0 + 60).await,
        Err(RefreshError::BadSignature)
    );
    assert_eq!(guard.status().revocation_cursor, Some(1));
}
