//! ES256 verification with the runtime's WebCrypto, `crypto.subtle.verify` (feature `workers`,
//! `wasm32-unknown-unknown` only). Inside workerd it runs natively, many times cheaper than
//! p256 compiled to WebAssembly. It works wherever `globalThis.crypto.subtle` exists: workerd,
//! Node 20+, browsers.
//!
//! - The algorithm is `{name: "ECDSA", hash: "SHA-256"}` over the JWS signing input. A JWS
//!   ES256 signature (RFC 7518 §3.4: 64-byte `r || s`) is exactly WebCrypto's ECDSA signature
//!   format, so it is passed through unchanged.
//! - Each public key is imported once per isolate (`importKey("jwk", …, false, ["verify"])`)
//!   and the `CryptoKey` cached, keyed by the key's SEC1 point: the key itself rather than its
//!   `kid`, so a `kid` reused for another key can never reach a stale entry (the RFC 7638
//!   thumbprint mcpgate uses as `kid` is a hash of the same coordinates). The cache is bounded
//!   ([`MAX_CACHED_KEYS`], oldest dropped first); a JWKS holds a handful of keys.
//! - A signature is valid only if `verify` resolved to `true`. A missing `crypto.subtle`, a
//!   failed import or a rejected `verify` is [`VerifierUnavailable`]: validation fails closed
//!   and says so ([`TokenError::Unavailable`](crate::token::TokenError::Unavailable)).
//!
//! No `RefCell` borrow is held across an `.await`: promises are created inside the borrow and
//! awaited after it.

use std::cell::RefCell;
use std::collections::VecDeque;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use js_sys::{Array, Object, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, SubtleCrypto};

use super::{AsyncVerifier, VerifierKey, VerifierUnavailable};

/// Most imported keys kept per isolate. Only keys of the installed JWKS are ever imported, so
/// this is a bound against misuse, not a working-set limit.
pub const MAX_CACHED_KEYS: usize = 16;

/// WebCrypto handles, looked up once per isolate.
struct Platform {
    subtle: SubtleCrypto,
    /// `{name: "ECDSA", hash: "SHA-256"}`, the `verify` parameters.
    verify_params: Object,
    /// `{name: "ECDSA", namedCurve: "P-256"}`, the `importKey` parameters.
    import_params: Object,
    /// `["verify"]`.
    usages: JsValue,
}

thread_local! {
    static PLATFORM: RefCell<Option<Platform>> = const { RefCell::new(None) };
    /// `(SEC1 point, imported key)`, oldest first.
    static KEYS: RefCell<VecDeque<([u8; 65], CryptoKey)>> = const { RefCell::new(VecDeque::new()) };
}

/// ES256 verification through `crypto.subtle` (see the module documentation).
/// [`Backend::WebCrypto`](super::Backend::WebCrypto) delegates to it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct WebCrypto;

impl WebCrypto {
    /// Number of keys imported and cached in this isolate.
    pub fn cached_keys() -> usize {
        KEYS.with(|k| k.borrow().len())
    }

    /// Drops every cached `CryptoKey` (they are imported again on next use).
    pub fn clear_cache() {
        KEYS.with(|k| k.borrow_mut().clear());
    }
}

impl AsyncVerifier for WebCrypto {
    async fn verify_es256(
        &self,
        key: &VerifierKey,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, VerifierUnavailable> {
        if signature.len() != 64 {
            return Ok(false);
        }
        let crypto_key = match cached(key.sec1()) {
            Some(k) => k,
            None => import(key.sec1()).await?,
        };
        let promise = with_platform(|p| {
            p.subtle.verify_with_object_and_u8_array_and_u8_array(
                &p.verify_params,
                &crypto_key,
                signature,
                message,
            )
        })?;
        let verdict = JsFuture::from(promise)
            .await
            .map_err(|_| VerifierUnavailable)?;
        Ok(verdict.as_bool() == Some(true))
    }
}

/// Runs `call` with the isolate's WebCrypto handles, looking them up on first use (a failed
/// lookup is not remembered, so a later call tries again).
fn with_platform(
    call: impl FnOnce(&Platform) -> Result<Promise, JsValue>,
) -> Result<Promise, VerifierUnavailable> {
    PLATFORM.with(|slot| {
        let mut slot = slot.borrow_mut();
        if slot.is_none() {
            *slot = Some(lookup().map_err(|_| VerifierUnavailable)?);
        }
        match slot.as_ref() {
            Some(p) => call(p).map_err(|_| VerifierUnavailable),
            None => Err(VerifierUnavailable),
        }
    })
}

fn lookup() -> Result<Platform, JsValue> {
    let crypto = Reflect::get(&js_sys::global(), &JsValue::from_str("crypto"))?;
    let subtle = Reflect::get(&crypto, &JsValue::from_str("subtle"))?.dyn_into::<SubtleCrypto>()?;
    Ok(Platform {
        subtle,
        verify_params: object(&[("name", "ECDSA"), ("hash", "SHA-256")])?,
        import_params: object(&[("name", "ECDSA"), ("namedCurve", "P-256")])?,
        usages: Array::of1(&JsValue::from_str("verify")).into(),
    })
}

fn object(members: &[(&str, &str)]) -> Result<Object, JsValue> {
    let o = Object::new();
    for (k, v) in members {
        Reflect::set(&o, &JsValue::from_str(k), &JsValue::from_str(v))?;
    }
    Ok(o)
}

fn cached(sec1: &[u8; 65]) -> Option<CryptoKey> {
    KEYS.with(|keys| {
        keys.borrow()
            .iter()
            .find(|(point, _)| point == sec1)
            .map(|(_, k)| k.clone())
    })
}

fn remember(sec1: &[u8; 65], key: &CryptoKey) {
    KEYS.with(|keys| {
        let mut keys = keys.borrow_mut();
        // Two requests may import the same key concurrently: keep one entry.
        if keys.iter().any(|(point, _)| point == sec1) {
            return;
        }
        while keys.len() >= MAX_CACHED_KEYS {
            keys.pop_front();
        }
        keys.push_back((*sec1, key.clone()));
    });
}

/// Imports a public key (`0x04 || x || y`) for `verify` and caches it.
async fn import(sec1: &[u8; 65]) -> Result<CryptoKey, VerifierUnavailable> {
    let (Some(x), Some(y)) = (sec1.get(1..33), sec1.get(33..65)) else {
        return Err(VerifierUnavailable);
    };
    let (x, y) = (B64.encode(x), B64.encode(y));
    let jwk = object(&[("kty", "EC"), ("crv", "P-256"), ("x", &x), ("y", &y)])
        .map_err(|_| VerifierUnavailable)?;
    let promise = with_platform(|p| {
        p.subtle
            .import_key_with_object("jwk", &jwk, &p.import_params, false, &p.usages)
    })?;
    let key = JsFuture::from(promise)
        .await
        .map_err(|_| VerifierUnavailable)?
        .dyn_into::<CryptoKey>()
        .map_err(|_| VerifierUnavailable)?;
    remember(sec1, &key);
    Ok(key)
}
