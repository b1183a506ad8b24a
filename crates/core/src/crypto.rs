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

    /// PBKDF2-HMAC-SHA256 (RFC 8018 §5.2) with a 32-byte output.
    async fn pbkdf2_sha256(
        &self,
        password: &[u8],
        salt: &[u8],
        iterations: u32,
    ) -> Result<[u8; 32], CryptoError>;

    /// Verifies an RS256 signature (RSASSA-PKCS1-v1_5 with SHA-256, RFC 7518 §3.3) with the
    /// public key `(n, e)` (big-endian, as in a JWK). Upstream identity providers sign with it;
    /// mcpgate never does. Keys outside [`RsaPublicKey::acceptable`], malformed keys and
    /// signatures verify as `false`.
    async fn verify_rs256(&self, key: &RsaPublicKey, message: &[u8], signature: &[u8]) -> bool;
}

/// An RSA public key from a JWK (`n`, `e`, big-endian bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsaPublicKey {
    /// Modulus.
    pub n: Vec<u8>,
    /// Public exponent.
    pub e: Vec<u8>,
}

impl RsaPublicKey {
    /// The modulus length in bits, leading zero bytes ignored.
    pub fn bits(&self) -> usize {
        let n = match self.n.iter().position(|b| *b != 0) {
            Some(i) => self.n.get(i..).unwrap_or_default(),
            None => return 0,
        };
        n.len() * 8 - n.first().map_or(8, |b| b.leading_zeros() as usize)
    }
}

/// The smallest RSA modulus accepted (RFC 7518 §3.3).
pub const MIN_RSA_BITS: usize = 2048;
/// The largest RSA modulus accepted (bounds the work a provider's key can cost).
pub const MAX_RSA_BITS: usize = 8192;

impl RsaPublicKey {
    /// Whether the key is one mcpgate verifies with: 2048 to 8192 bits, an odd exponent of at
    /// most 33 bits above 1 (the bounds ring applies natively; the Worker applies the same).
    pub fn acceptable(&self) -> bool {
        let e = match self.e.iter().position(|b| *b != 0) {
            Some(i) => self.e.get(i..).unwrap_or_default(),
            None => return false,
        };
        let e_bits = e.len() * 8 - e.first().map_or(8, |b| b.leading_zeros() as usize);
        (MIN_RSA_BITS..=MAX_RSA_BITS).contains(&self.bits())
            && (2..=33).contains(&e_bits)
            && e.last().is_some_and(|b| b & 1 == 1)
    }
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

    async fn pbkdf2_sha256(
        &self,
        password: &[u8],
        salt: &[u8],
        iterations: u32,
    ) -> Result<[u8; 32], CryptoError> {
        pbkdf2_sha256(password, salt, iterations)
    }

    async fn verify_rs256(&self, key: &RsaPublicKey, message: &[u8], signature: &[u8]) -> bool {
        verify_rs256_native(key, message, signature)
    }
}

/// RS256 in native builds (tests, tools) with ring; WebAssembly builds use the platform's
/// WebCrypto instead and never call this.
#[cfg(not(target_arch = "wasm32"))]
fn verify_rs256_native(key: &RsaPublicKey, message: &[u8], signature: &[u8]) -> bool {
    use ring::signature::{RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256};
    if !key.acceptable() {
        return false;
    }
    RsaPublicKeyComponents {
        n: &key.n,
        e: &key.e,
    }
    .verify(&RSA_PKCS1_2048_8192_SHA256, message, signature)
    .is_ok()
}

#[cfg(target_arch = "wasm32")]
fn verify_rs256_native(_: &RsaPublicKey, _: &[u8], _: &[u8]) -> bool {
    false
}

/// PBKDF2-HMAC-SHA256 with one 32-byte block (RFC 8018 §5.2, dkLen = hLen).
pub fn pbkdf2_sha256(
    password: &[u8],
    salt: &[u8],
    iterations: u32,
) -> Result<[u8; 32], CryptoError> {
    use hmac::{Hmac, Mac};
    type HmacSha256 = Hmac<sha2::Sha256>;
    if iterations == 0 {
        return Err(CryptoError("pbkdf2: zero iterations".into()));
    }
    let prf = HmacSha256::new_from_slice(password).map_err(|e| CryptoError(e.to_string()))?;
    let mut mac = prf.clone();
    mac.update(salt);
    mac.update(&1u32.to_be_bytes());
    let mut u: [u8; 32] = mac.finalize().into_bytes().into();
    let mut out = u;
    for _ in 1..iterations {
        let mut mac = prf.clone();
        mac.update(&u);
        u = mac.finalize().into_bytes().into();
        for (o, x) in out.iter_mut().zip(u.iter()) {
            *o ^= x;
        }
    }
    Ok(out)
}

/// Synchronous p256 verification of a raw `r || s` signature.
pub fn verify_p256(key: &VerifyingKey, message: &[u8], signature: &[u8]) -> bool {
    match Signature::from_slice(signature) {
        Ok(sig) => key.verify(message, &sig).is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// RFC 7914 §11, PBKDF2-HMAC-SHA256 test vector (first 32 bytes of the 64-byte output).
    #[test]
    fn pbkdf2_matches_rfc7914_vector() {
        let out = pbkdf2_sha256(b"passwd", b"salt", 1).unwrap();
        assert_eq!(
            hex(&out),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
        );
        let out = pbkdf2_sha256(b"Password", b"NaCl", 80000).unwrap();
        assert_eq!(
            hex(&out),
            "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"
        );
    }

    #[test]
    fn software_signatures_verify_and_tampering_fails() {
        let key = PrivateKey::from_scalar([7u8; 32]).unwrap();
        let c = SoftwareCrypto;
        let sig = crate::testing::block_on(c.sign_es256(&key, b"hello")).unwrap();
        assert!(crate::testing::block_on(c.verify_es256(
            &key.public,
            b"hello",
            &sig
        )));
        assert!(!crate::testing::block_on(c.verify_es256(
            &key.public,
            b"hellp",
            &sig
        )));
        assert!(!crate::testing::block_on(c.verify_es256(
            &key.public,
            b"hello",
            &sig[1..]
        )));
    }
}
