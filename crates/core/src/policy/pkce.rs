//! PKCE (RFC 7636) with S256 only, as OAuth 2.1 §4.1.1 and the MCP authorization spec require.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::secret::ct_eq;

/// Checks a `code_challenge` at the authorization endpoint: S256 only (plain and missing are
/// rejected), and the challenge must be a base64url SHA-256 (43 characters).
pub fn check_challenge(
    challenge: Option<&str>,
    method: Option<&str>,
) -> Result<String, &'static str> {
    let c = challenge.ok_or("code_challenge is required (PKCE, RFC 7636)")?;
    match method {
        Some("S256") => {}
        Some("plain") => return Err("code_challenge_method plain is not allowed; use S256"),
        None => return Err("code_challenge_method is required and must be S256"),
        Some(_) => return Err("unsupported code_challenge_method; use S256"),
    }
    if c.len() != 43
        || !c
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err("code_challenge must be a base64url-encoded SHA-256 digest");
    }
    Ok(c.to_owned())
}

/// A valid `code_verifier` (RFC 7636 §4.1): 43 to 128 unreserved characters.
pub fn verifier_is_well_formed(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// `BASE64URL(SHA256(verifier))`, the S256 challenge a well-formed verifier answers (RFC 7636
/// §4.6); `None` for a malformed verifier.
pub fn challenge_of(verifier: &str) -> Option<String> {
    verifier_is_well_formed(verifier).then(|| B64.encode(Sha256::digest(verifier.as_bytes())))
}

/// True if `BASE64URL(SHA256(verifier)) == challenge` (RFC 7636 §4.6), in constant time.
pub fn verify(verifier: &str, challenge: &str) -> bool {
    verifier_is_well_formed(verifier)
        && ct_eq(
            B64.encode(Sha256::digest(verifier.as_bytes())).as_bytes(),
            challenge.as_bytes(),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn rfc7636_appendix_b_vector_verifies() {
        assert!(verify(VERIFIER, CHALLENGE));
        assert!(!verify(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl",
            CHALLENGE
        ));
    }

    #[test]
    fn rejects_plain_and_missing_methods() {
        assert!(check_challenge(Some(CHALLENGE), Some("S256")).is_ok());
        assert!(check_challenge(Some(CHALLENGE), Some("plain")).is_err());
        assert!(check_challenge(Some(CHALLENGE), None).is_err());
        assert!(check_challenge(None, Some("S256")).is_err());
        assert!(check_challenge(Some("short"), Some("S256")).is_err());
    }

    #[test]
    fn verifier_length_and_charset() {
        assert!(!verifier_is_well_formed("too-short"));
        assert!(!verifier_is_well_formed(&"a".repeat(129)));
        assert!(!verify(&format!("{VERIFIER}!"), CHALLENGE));
    }
}
