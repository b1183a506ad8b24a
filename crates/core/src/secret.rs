//! Secrets in memory: redacted `Debug`, no `Clone`, constant-time comparison, and the hashing
//! used to store bearer secrets (client secrets, codes, refresh tokens) at rest.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A secret string. `Debug` prints `Secret(..)`; there is no `Clone` and no `Display`.
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that must put it on the wire or hash it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// SHA-256 of the secret, base64url: the at-rest form of high-entropy bearer secrets.
    /// (Passwords, which are low-entropy, use the slow hash in [`crate::crypto`].)
    pub fn digest(&self) -> String {
        sha256_b64(self.0.as_bytes())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Generates `bytes` random bytes, base64url-encoded (no padding).
pub fn random_b64(rng: &mut dyn CryptoRngCore, bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rng.fill_bytes(&mut buf);
    B64.encode(buf)
}

/// A fresh high-entropy bearer secret (256 bits).
pub fn generate_secret(rng: &mut dyn CryptoRngCore) -> Secret {
    Secret(random_b64(rng, 32))
}

/// SHA-256, base64url without padding.
pub fn sha256_b64(data: &[u8]) -> String {
    B64.encode(Sha256::digest(data))
}

/// Constant-time equality of two byte strings (length is not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// True if `presented` hashes to `stored_digest`, compared in constant time.
pub fn verify_digest(presented: &str, stored_digest: &str) -> bool {
    ct_eq(
        sha256_b64(presented.as_bytes()).as_bytes(),
        stored_digest.as_bytes(),
    )
}

/// A bearer secret that names, in clear, the user and the resource server of the authorization
/// it stands for (`<user id>~<base64url resource>~<secret>`): authorization codes and refresh
/// tokens. Both are already known to the client that holds it, and the stored digest covers
/// them, so editing either makes an unknown secret; knowing them lets a flow put every read it
/// needs in the same D1 batch as its write. `~`, not `.`: it never looks like a JWT.
pub fn with_coordinates(user_id: &str, resource: &str, secret: &Secret) -> Secret {
    Secret::new(format!(
        "{user_id}~{}~{}",
        B64.encode(resource),
        secret.expose()
    ))
}

/// The (user id, resource) a secret made by [`with_coordinates`] names; `None` for any other
/// string.
pub fn coordinates(token: &str) -> Option<(String, String)> {
    let mut parts = token.splitn(3, '~');
    let (user, resource, secret) = (parts.next()?, parts.next()?, parts.next()?);
    let id_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if user.is_empty() || !user.chars().all(id_char) || secret.is_empty() {
        return None;
    }
    let resource = String::from_utf8(B64.decode(resource).ok()?).ok()?;
    Some((user.to_owned(), resource))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_with_coordinates_names_its_user_and_resource() {
        let t = with_coordinates(
            "usr_a-B",
            "https://notes.example/mcp",
            &Secret::new("s3cr3t"),
        );
        assert_eq!(
            coordinates(t.expose()),
            Some(("usr_a-B".into(), "https://notes.example/mcp".into()))
        );
    }

    #[test]
    fn strings_without_coordinates_are_recognised_as_such() {
        for t in [
            "",
            "abc",
            "usr~x",
            "usr x~aGk~s",
            "usr~!!~s",
            "usr~aGk~",
            "~aGk~s",
            "a.b.c",
        ] {
            assert_eq!(coordinates(t), None, "{t:?}");
        }
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(..)");
    }

    #[test]
    fn digest_verifies_only_the_same_secret() {
        let s = Secret::new("abc");
        assert!(verify_digest("abc", &s.digest()));
        assert!(!verify_digest("abd", &s.digest()));
        assert!(!verify_digest("", &s.digest()));
    }

    #[test]
    fn ct_eq_requires_same_length_and_bytes() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abcd"));
        assert!(!ct_eq(b"abc", b"abd"));
    }
}
