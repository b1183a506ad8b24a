//! The signature step, passed in like the clock and the RNG.
//!
//! The core decides *what* to sign and verify; an implementation of [`Crypto`] decides *how*.
//! [`SoftwareCrypto`] uses the pure-Rust `p256` crate (native tests, tools); the Worker passes
//! an implementation backed by the platform's WebCrypto, which is far cheaper inside workerd.
//! Both produce and accept the same raw `r || s` ES256 signatures (RFC 7518 §3.4), so tokens
//! signed by either verify with the other.

use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};

use mcpgate_guard::EcPublicJwk;

/// A private ES256 signing key, decrypted from storage. `Debug` is redacted; not `Clone`.
pub struct PrivateKey {
    /// The key id (RFC 7638 thumbprint of the public key).
    pub kid: String,
    /// The public half, as published.
    pub public: EcPublicJwk,
    scalar: [u8; 32],
}

impl PrivateKey {
    /// Builds a private key from its 32-byte scalar, checking it is valid.
    pub fn from_scalar(scalar: [u8; 32]) -> Option<Self> {
        let sk = SigningKey::from_slice(&scalar).ok()?;
        let public = EcPublicJwk::from_key(sk.verifying_key());
        Some(PrivateKey {
            kid: public.kid.clone().unwrap_or_default(),
            public,
            scalar,
        })
    }

    /// The 32-byte private scalar (`d`), for storage encryption and key import only.
    pub fn scalar(&self) -> &[u8; 32] {
        &self.scalar
    }
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// Why a cryptographic operation failed (never because of a bad signature: that is `false`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CryptoError(pub String);

impl std::fmt::Display for CryptoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "crypto: {}", self.0)
    }
}

/// ES256 signing and verification.
#[allow(async_fn_in_trait)] // Workers futures are !Send; callers never need Send.
pub trait Crypto {
    /// Signs `message` (SHA-256 + ECDSA P-256), returning the raw 64-byte `r || s`.
    async fn sign_es256(&self, key: &PrivateKey, message: &[u8]) -> Result<[u8; 64], CryptoError>;

    /// Verifies a raw `r || s` signature. Malformed keys or signatures verify as `false`.
    async fn verify_es256(&self, key: &EcPublicJwk, message: &[u8], signature: &[u8]) -> bool;
}

/// Pure-Rust ES256 with the `p256` crate.
#[derive(Debug, Default, Clone, Copy)]
pub struct SoftwareCrypto;

impl Crypto for SoftwareCrypto {
    async fn sign_es256(&self, key: &PrivateKey, message: &[u8]) -> Result<[u8; 64], CryptoError> {
        let sk = SigningKey::from_slice(key.scalar())
            .map_err(|_| CryptoError("invalid private scalar".into()))?;
        let sig: Signature = sk.sign(message);
        Ok(sig.to_bytes().into())
    }

    async fn verify_es256(&self, key: &EcPublicJwk, message: &[u8], signature: &[u8]) -> bool {
        let Ok(vk) = key.to_key() else { return false };
        verify_p256(&vk, message, signature)
    }
}

/// Synchronous p256 verification of a raw `r || s` signature.
pub fn verify_p256(key: &VerifyingKey, message: &[u8], signature: &[u8]) -> bool {
    match Signature::from_slice(signature) {
        Ok(sig) => key.verify(message, &sig).is_ok(),
        Err(_) => false,
    }
}
