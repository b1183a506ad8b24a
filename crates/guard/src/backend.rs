//! ES256 signature backends (RFC 7518 §3.4: ECDSA over P-256 with SHA-256, signature encoded as
//! the 64-byte `r || s`).
//!
//! - [`Backend::P256`], always available: the pure-Rust RustCrypto `p256` crate. It builds for
//!   every target, including `wasm32-unknown-unknown` (Cloudflare Workers).
//! - [`Backend::Ring`], with the `ring` feature: ring's `ECDSA_P256_SHA256_FIXED`, whose
//!   hand-tuned assembly verifies several times faster on x86_64 and aarch64. ring was chosen
//!   over aws-lc-rs because it builds with nothing but a C compiler (aws-lc-rs needs CMake or a
//!   pre-generated build and is a far larger dependency), it is already what rustls and
//!   therefore the `native` fetcher use, and 0.17 has a stable verification API.
//! - `Backend::WebCrypto`, with the `workers` feature on `wasm32-unknown-unknown` only: the
//!   runtime's `crypto.subtle.verify` (module `backend::webcrypto`), which inside workerd runs natively and is
//!   far cheaper than p256 compiled to WebAssembly. WebCrypto is asynchronous, so it is used by
//!   the async paths ([`AsyncVerifier`], [`Validator::validate_async`],
//!   [`Validator::apply_revocation_feed_async`] and therefore [`Guard`](crate::guard::Guard));
//!   the synchronous [`Validator::validate`] and [`Validator::apply_revocation_feed`] cannot
//!   await it and verify with p256 instead (same results, slower).
//!
//! [`Backend::default`] is the fastest backend compiled in: WebCrypto on `wasm32` with the
//! `workers` feature, else ring with the `ring` feature, else p256. A validator can select
//! another one through [`ValidatorConfig::backend`](crate::validator::ValidatorConfig::backend).
//! All backends accept and reject exactly the same signatures (the crate's tests cross-check
//! them, natively and in Node for WebCrypto).
//!
//! [`Validator::validate`]: crate::validator::Validator::validate
//! [`Validator::validate_async`]: crate::validator::Validator::validate_async
//! [`Validator::apply_revocation_feed`]: crate::validator::Validator::apply_revocation_feed
//! [`Validator::apply_revocation_feed_async`]: crate::validator::Validator::apply_revocation_feed_async

use std::future::Future;

use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};

use crate::jwk::{EcPublicJwk, JwkSet};

#[cfg(all(feature = "workers", target_arch = "wasm32"))]
pub mod webcrypto;

/// Which implementation verifies ES256 signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// RustCrypto `p256` (pure Rust, every target).
    P256,
    /// ring's `ECDSA_P256_SHA256_FIXED` (feature `ring`, native targets).
    #[cfg(feature = "ring")]
    Ring,
    /// The runtime's WebCrypto `crypto.subtle.verify` (feature `workers`, `wasm32` only), used
    /// by the async paths; the synchronous ones fall back to p256 (see the module
    /// documentation).
    #[cfg(all(feature = "workers", target_arch = "wasm32"))]
    WebCrypto,
}

impl Default for Backend {
    /// The fastest backend compiled in: WebCrypto on `wasm32` with the `workers` feature, else
    /// ring with the `ring` feature, else p256.
    fn default() -> Self {
        #[cfg(all(feature = "workers", target_arch = "wasm32"))]
        {
            Backend::WebCrypto
        }
        #[cfg(all(
            feature = "ring",
            not(all(feature = "workers", target_arch = "wasm32"))
        ))]
        {
            Backend::Ring
        }
        #[cfg(not(any(feature = "ring", all(feature = "workers", target_arch = "wasm32"))))]
        {
            Backend::P256
        }
    }
}

impl Backend {
    /// A short name for logs and benchmarks.
    pub fn name(self) -> &'static str {
        match self {
            Backend::P256 => "p256",
            #[cfg(feature = "ring")]
            Backend::Ring => "ring",
            #[cfg(all(feature = "workers", target_arch = "wasm32"))]
            Backend::WebCrypto => "webcrypto",
        }
    }
}

/// The signature check could not be made (the platform's crypto failed, e.g. no
/// `crypto.subtle`): nothing is known about the signature. Validation then fails closed with
/// [`TokenError::Unavailable`](crate::token::TokenError::Unavailable) (a 503, not a 401), and a
/// feed with [`RefreshError::VerifierUnavailable`](crate::error::RefreshError::VerifierUnavailable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VerifierUnavailable;

impl std::fmt::Display for VerifierUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("signature verifier unavailable")
    }
}

impl std::error::Error for VerifierUnavailable {}

/// An ES256 verifier that may be asynchronous (WebCrypto is), plugged into
/// [`Validator::validate_with`](crate::validator::Validator::validate_with) and
/// [`Validator::apply_revocation_feed_with`](crate::validator::Validator::apply_revocation_feed_with).
///
/// Like [`Fetch`](crate::fetch::Fetch), the returned future has no `Send` bound (WebCrypto's
/// is `!Send`); an implementation whose future is `Send` keeps its callers `Send`.
/// [`Backend`] implements it: the synchronous backends answer at once, `Backend::WebCrypto`
/// awaits `crypto.subtle.verify`.
pub trait AsyncVerifier {
    /// `Ok(true)` if `signature` (64-byte `r || s`) is a valid ES256 signature of `message`
    /// under `key`, `Ok(false)` if it is not, [`VerifierUnavailable`] if that could not be
    /// determined. Must not look at anything but its arguments (in particular it is called
    /// before any claim is decoded).
    fn verify_es256(
        &self,
        key: &VerifierKey,
        message: &[u8],
        signature: &[u8],
    ) -> impl Future<Output = Result<bool, VerifierUnavailable>>;
}

impl AsyncVerifier for Backend {
    async fn verify_es256(
        &self,
        key: &VerifierKey,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, VerifierUnavailable> {
        match *self {
            #[cfg(all(feature = "workers", target_arch = "wasm32"))]
            Backend::WebCrypto => {
                webcrypto::WebCrypto
                    .verify_es256(key, message, signature)
                    .await
            }
            sync => Ok(key.verify(sync, message, signature)),
        }
    }
}

/// A P-256 public key prepared for every compiled-in backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    p256: VerifyingKey,
    /// SEC1 uncompressed point (`0x04 || x || y`): what ring takes, and the identity under
    /// which WebCrypto caches its imported key.
    sec1: [u8; 65],
}

impl VerifierKey {
    /// Prepares `key` for verification.
    pub fn new(key: VerifyingKey) -> Self {
        let point = key.to_encoded_point(false);
        let mut sec1 = [0u8; 65];
        // An uncompressed P-256 point is always 65 bytes.
        if let Some(dst) = sec1.get_mut(..point.len()) {
            dst.copy_from_slice(point.as_bytes());
        }
        VerifierKey { p256: key, sec1 }
    }

    /// The key as a p256 verifying key.
    pub fn p256(&self) -> &VerifyingKey {
        &self.p256
    }

    /// The key as a SEC1 uncompressed point, `0x04 || x || y` (65 bytes).
    pub fn sec1(&self) -> &[u8; 65] {
        &self.sec1
    }

    /// True if `signature` (64-byte `r || s`) is a valid ES256 signature of `message`.
    ///
    /// Synchronous: with `Backend::WebCrypto`, which can only be awaited, this verifies with
    /// p256 (use [`AsyncVerifier`] to go through WebCrypto).
    pub fn verify(&self, backend: Backend, message: &[u8], signature: &[u8]) -> bool {
        match backend {
            Backend::P256 => verify_p256(&self.p256, message, signature),
            #[cfg(all(feature = "workers", target_arch = "wasm32"))]
            Backend::WebCrypto => verify_p256(&self.p256, message, signature),
            #[cfg(feature = "ring")]
            Backend::Ring => ring::signature::UnparsedPublicKey::new(
                &ring::signature::ECDSA_P256_SHA256_FIXED,
                &self.sec1[..],
            )
            .verify(message, signature)
            .is_ok(),
        }
    }
}

/// ES256 verification with the p256 crate.
pub(crate) fn verify_p256(key: &VerifyingKey, message: &[u8], signature: &[u8]) -> bool {
    Signature::from_slice(signature).is_ok_and(|sig| key.verify(message, &sig).is_ok())
}

/// The usable keys of a JWKS, looked up by `kid`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeySet {
    /// `(kid, key)` in JWKS order; a JWKS holds a handful of keys, so a scan beats hashing.
    keys: Vec<(String, VerifierKey)>,
}

impl KeySet {
    /// The ES256 keys with a `kid` in `set` (others are skipped, see [`JwkSet::es256_keys`]).
    /// When two keys share a `kid`, the first wins.
    pub fn from_jwks(set: &JwkSet) -> Self {
        let mut keys: Vec<(String, VerifierKey)> = Vec::new();
        for (kid, key) in set.es256_keys() {
            if !keys.iter().any(|(k, _)| *k == kid) {
                keys.push((kid, VerifierKey::new(key)));
            }
        }
        KeySet { keys }
    }

    /// A key set from explicit `(kid, key)` pairs.
    pub fn from_keys(keys: impl IntoIterator<Item = (String, VerifyingKey)>) -> Self {
        let set = JwkSet {
            keys: keys
                .into_iter()
                .filter_map(|(kid, key)| {
                    let mut jwk = EcPublicJwk::from_key(&key);
                    jwk.kid = Some(kid);
                    serde_json::to_value(jwk).ok()
                })
                .collect(),
        };
        KeySet::from_jwks(&set)
    }

    /// The key named `kid`.
    pub fn get(&self, kid: &str) -> Option<&VerifierKey> {
        self.keys.iter().find(|(k, _)| k == kid).map(|(_, key)| key)
    }

    /// The key ids, in JWKS order.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|(k, _)| k.as_str())
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True if there is no usable key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}
