//! Compact JWS parsing (RFC 7515 §7.1) for the two kinds of object this crate verifies: access
//! tokens (`typ: at+jwt`) and revocation feeds (`typ: revocations+jwt`).
//!
//! Only what mcpgate issues is accepted: `alg` exactly `ES256` (RFC 7518 §3.4), a non-empty
//! `kid`, the expected `typ`, no `crit` (RFC 7515 §4.1.11: we implement no extension, so any
//! critical extension, including unencoded payloads of RFC 7797, must be rejected) and a 64-byte
//! `r || s` signature. Header parameters that name keys (`jku`, `jwk`, `x5u`, `x5c`) are ignored:
//! keys only ever come from the configured JWKS. Base64url must be canonical and unpadded.

use std::borrow::Cow;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use serde::Deserialize;

use crate::claims::ALG_ES256;
use crate::token::TokenError;

/// Longest `alg` value echoed back in [`TokenError::UnsupportedAlgorithm`].
const MAX_ECHOED_ALG: usize = 16;

/// A compact JWS whose header passed the checks above and whose signature is not verified yet.
#[derive(Debug, Clone)]
pub(crate) struct CompactJws<'a> {
    /// `BASE64URL(header) || '.' || BASE64URL(payload)`.
    pub(crate) signing_input: &'a [u8],
    /// The decoded payload (not trusted until the signature is verified).
    pub(crate) payload: Vec<u8>,
    /// `r || s`.
    pub(crate) signature: [u8; 64],
    /// The `kid` header parameter.
    pub(crate) kid: String,
}

#[derive(Deserialize)]
struct JoseHeader<'a> {
    #[serde(borrow)]
    alg: Cow<'a, str>,
    #[serde(borrow, default)]
    typ: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    kid: Option<Cow<'a, str>>,
    #[serde(default)]
    crit: Option<serde::de::IgnoredAny>,
}

/// Splits, decodes and header-checks a compact JWS. `typ_ok` decides whether the `typ` header
/// value (absent = `None`) is the expected one.
pub(crate) fn parse_compact<'a>(
    jws: &'a str,
    max_len: usize,
    typ_ok: impl Fn(Option<&str>) -> bool,
) -> Result<CompactJws<'a>, TokenError> {
    if jws.len() > max_len {
        return Err(TokenError::Malformed);
    }
    let (signing_input, sig_b64) = jws.rsplit_once('.').ok_or(TokenError::Malformed)?;
    let (header_b64, payload_b64) = signing_input.split_once('.').ok_or(TokenError::Malformed)?;
    if payload_b64.contains('.') {
        return Err(TokenError::Malformed);
    }
    let header_json = B64.decode(header_b64).map_err(|_| TokenError::Malformed)?;
    let header: JoseHeader<'_> =
        serde_json::from_slice(&header_json).map_err(|_| TokenError::Malformed)?;
    if header.alg != ALG_ES256 {
        let mut alg = header.alg.into_owned();
        if alg.len() > MAX_ECHOED_ALG {
            let mut end = MAX_ECHOED_ALG;
            while !alg.is_char_boundary(end) {
                end -= 1;
            }
            alg.truncate(end);
        }
        return Err(TokenError::UnsupportedAlgorithm(alg));
    }
    if !typ_ok(header.typ.as_deref()) {
        return Err(TokenError::WrongType);
    }
    let kid = match header.kid {
        Some(k) if !k.is_empty() => k.into_owned(),
        _ => return Err(TokenError::MissingKeyId),
    };
    if header.crit.is_some() {
        return Err(TokenError::Malformed);
    }
    let mut signature = [0u8; 64];
    // 64 bytes are exactly 86 unpadded base64url characters.
    if sig_b64.len() != 86 {
        return Err(TokenError::BadSignature);
    }
    match B64.decode_slice(sig_b64, &mut signature) {
        Ok(64) => {}
        _ => return Err(TokenError::BadSignature),
    }
    let payload = B64.decode(payload_b64).map_err(|_| TokenError::Malformed)?;
    Ok(CompactJws {
        signing_input: signing_input.as_bytes(),
        payload,
        signature,
        kid,
    })
}

/// True if `typ` is `expected` or `application/<expected>`, ASCII case-insensitively
/// (RFC 7515 §4.1.9 lets producers omit the `application/` prefix).
pub(crate) fn typ_matches(typ: Option<&str>, expected: &str) -> bool {
    let Some(t) = typ else { return false };
    if t.eq_ignore_ascii_case(expected) {
        return true;
    }
    match t.get(..12) {
        Some(prefix) if prefix.eq_ignore_ascii_case("application/") => t
            .get(12..)
            .is_some_and(|rest| rest.eq_ignore_ascii_case(expected)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        B64.encode(s)
    }

    fn jws(header: &str) -> String {
        format!("{}.{}.{}", b64(header), b64("{}"), B64.encode([7u8; 64]))
    }

    fn at(t: Option<&str>) -> bool {
        typ_matches(t, "at+jwt")
    }

    #[test]
    fn typ_accepts_short_and_full_media_type() {
        assert!(at(Some("at+jwt")));
        assert!(at(Some("AT+JWT")));
        assert!(at(Some("application/at+jwt")));
        assert!(!at(Some("JWT")));
        assert!(!at(Some("application/jwt")));
        assert!(!at(None));
    }

    #[test]
    fn rejects_crit_header() {
        let t = jws(r#"{"alg":"ES256","typ":"at+jwt","kid":"k","crit":["b64"],"b64":false}"#);
        assert_eq!(
            parse_compact(&t, 8192, at).err(),
            Some(TokenError::Malformed)
        );
    }

    #[test]
    fn rejects_extra_segments_and_bad_base64() {
        let good = jws(r#"{"alg":"ES256","typ":"at+jwt","kid":"k"}"#);
        assert!(parse_compact(&good, 8192, at).is_ok());
        let five = format!("{good}.x.y");
        assert!(parse_compact(&five, 8192, at).is_err());
        let padded = good.replacen('.', "=.", 1);
        assert_eq!(
            parse_compact(&padded, 8192, at).err(),
            Some(TokenError::Malformed)
        );
    }

    #[test]
    fn echoed_algorithm_is_truncated() {
        let t = jws(r#"{"alg":"HS256-with-a-very-long-made-up-name","kid":"k"}"#);
        match parse_compact(&t, 8192, at) {
            Err(TokenError::UnsupportedAlgorithm(a)) => assert_eq!(a.len(), MAX_ECHOED_ALG),
            other => panic!("unexpected {other:?}"),
        }
    }
}
