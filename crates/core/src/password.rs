//! Password storage: PBKDF2-HMAC-SHA256 (RFC 8018) with a 128-bit random salt.
//!
//! Cost: [`ITERATIONS`] = 100,000, the most Cloudflare Workers' WebCrypto accepts for PBKDF2,
//! computed by the platform (not in WebAssembly), so one hash costs a few tens of milliseconds
//! of CPU (`make bench` measures it). The format records the iteration count, so it can be
//! raised for new hashes without invalidating stored ones:
//! `pbkdf2-sha256$<iterations>$<salt b64url>$<hash b64url>`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use rand_core::CryptoRngCore;

use crate::crypto::{Crypto, CryptoError};
use crate::secret::ct_eq;

/// PBKDF2 iterations for new hashes.
pub const ITERATIONS: u32 = 100_000;
/// Shortest password accepted (characters).
pub const MIN_LEN: usize = 8;
/// Longest password accepted (bytes); bounds the hashing work an attacker can cause.
pub const MAX_LEN: usize = 256;

/// Checks a new password's length.
pub fn acceptable(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_LEN {
        return Err(format!("at least {MIN_LEN} characters"));
    }
    if password.len() > MAX_LEN {
        return Err(format!("at most {MAX_LEN} bytes"));
    }
    Ok(())
}

/// Hashes a password for storage.
pub async fn hash<C: Crypto + ?Sized>(
    crypto: &C,
    rng: &mut dyn CryptoRngCore,
    password: &str,
) -> Result<String, CryptoError> {
    let mut salt = [0u8; 16];
    rng.fill_bytes(&mut salt);
    let out = crypto
        .pbkdf2_sha256(password.as_bytes(), &salt, ITERATIONS)
        .await?;
    Ok(format!(
        "pbkdf2-sha256${ITERATIONS}${}${}",
        B64.encode(salt),
        B64.encode(out)
    ))
}

/// Verifies a password against a stored hash in constant time. Malformed hashes never verify.
pub async fn verify<C: Crypto + ?Sized>(crypto: &C, stored: &str, password: &str) -> bool {
    if password.len() > MAX_LEN {
        return false;
    }
    let mut parts = stored.split('$');
    let (Some("pbkdf2-sha256"), Some(iter), Some(salt), Some(expected), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    let (Ok(iter), Ok(salt), Ok(expected)) =
        (iter.parse::<u32>(), B64.decode(salt), B64.decode(expected))
    else {
        return false;
    };
    if !(1..=ITERATIONS).contains(&iter) {
        return false;
    }
    match crypto.pbkdf2_sha256(password.as_bytes(), &salt, iter).await {
        Ok(out) => ct_eq(&out, &expected),
        Err(_) => false,
    }
}

/// A dummy hash of the current cost, verified against when a username is unknown so that the
/// response time does not reveal which usernames exist.
pub const DUMMY_HASH: &str =
    "pbkdf2-sha256$100000$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SoftwareCrypto;
    use crate::testing::{block_on, TestRng};

    #[test]
    fn hash_verifies_only_the_same_password() {
        let h = block_on(hash(&SoftwareCrypto, &mut TestRng::new(1), "correct horse")).unwrap();
        assert!(h.starts_with("pbkdf2-sha256$100000$"));
        assert!(block_on(verify(&SoftwareCrypto, &h, "correct horse")));
        assert!(!block_on(verify(&SoftwareCrypto, &h, "correct horsf")));
        assert!(!block_on(verify(&SoftwareCrypto, "garbage", "x")));
        assert!(!block_on(verify(&SoftwareCrypto, DUMMY_HASH, "anything")));
    }

    #[test]
    fn same_password_gets_different_salts() {
        let mut rng = TestRng::new(2);
        let a = block_on(hash(&SoftwareCrypto, &mut rng, "pw-123456")).unwrap();
        let b = block_on(hash(&SoftwareCrypto, &mut rng, "pw-123456")).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn length_policy() {
        assert!(acceptable("short").is_err());
        assert!(acceptable("long enough").is_ok());
        assert!(acceptable(&"x".repeat(300)).is_err());
    }
}
