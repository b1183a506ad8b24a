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
//!
//! When the `ring` feature is on, [`Backend::default`] is [`Backend::Ring`]; a validator can
//! still select [`Backend::P256`] through
//! [`ValidatorConfig::backend`](crate::validator::ValidatorConfig::backend). Both backends
//! accept and reject exactly the same signatures (the crate's tests cross-check them).

use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};

use crate::jwk::{EcPublicJwk, JwkSet};

/// Which implementation verifies ES256 signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// RustCrypto `p256` (pure Rust, every target).
    P256,
    /// ring's `ECDSA_P256_SHA256_FIXED` (feature `ring`, native targets).
    #[cfg(feature = "ring")]
    Ring,
}

impl Default for Backend {
    /// The fastest backend compiled in: ring with the `ring` feature, p256 otherwise.
    fn default() -> Self {
        #[cfg(feature = "ring")]
        {
            Backend::Ring
        }
        #[cfg(not(feature = "ring"))]
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
        }
    }
}

/// A P-256 public key prepared for every compiled-in backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    p256: VerifyingKey,
    /// SEC1 uncompressed point, the form ring takes.
    #[cfg(feature = "ring")]
    sec1: [u8; 65],
}

impl VerifierKey {
    /// Prepares `key` for verification.
    pub fn new(key: VerifyingKey) -> Self {
        #[cfg(feature = "ring")]
        let sec1 = {
            let point = key.to_encoded_point(false);
            let mut sec1 = [0u8; 65];
            // An uncompressed P-256 point is always 65 bytes.
            if let Some(dst) = sec1.get_mut(..point.len()) {
                dst.copy_from_slice(point.as_bytes());
            }
            sec1
        };
        VerifierKey {
            p256: key,
            #[cfg(feature = "ring")]
            sec1,
        }
    }

    /// The key as a p256 verifying key.
    pub fn p256(&self) -> &VerifyingKey {
        &self.p256
    }

    /// True if `signature` (64-byte `r || s`) is a valid ES256 signature of `message`.
    pub fn verify(&self, backend: Backend, message: &[u8], signature: &[u8]) -> bool {
        match backend {
            Backend::P256 => verify_p256(&self.p256, message, signature),
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
