//! Minting access tokens: the JWT profile of RFC 9068 §2, signed with ES256 through the
//! [`Crypto`] provider (the signature step may be asynchronous, e.g. WebCrypto, so the compact
//! serialization is assembled here; claims serialize through `jwt_compact::Claims`, the same
//! type validators parse).

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use mcpgate_guard::claims::{AccessClaims, ACCESS_TOKEN_TYP, ALG_ES256};
use mcpgate_guard::Claims;
use serde::Serialize;

use crate::crypto::{Crypto, CryptoError, PrivateKey};

#[derive(Serialize)]
struct Header<'a> {
    alg: &'static str,
    typ: &'static str,
    kid: &'a str,
}

fn timestamp(secs: i64) -> Option<chrono_compat::DateTime> {
    chrono_compat::from_secs(secs)
}

/// Signs `claims` as an access token valid from `iat` to `exp` (unix seconds).
pub async fn sign_access_token<C: Crypto + ?Sized>(
    crypto: &C,
    key: &PrivateKey,
    claims: AccessClaims,
    iat: i64,
    exp: i64,
) -> Result<String, CryptoError> {
    let mut full = Claims::new(claims);
    full.issued_at = timestamp(iat);
    full.expiration = timestamp(exp);
    sign_compact(crypto, key, ACCESS_TOKEN_TYP, &full).await
}

/// The one compact JWS (RFC 7515 §7.1) mcpgate signs: `{"alg":"ES256","typ":typ,"kid":...}`
/// over `payload` serialized as JSON (access tokens, the revocation feed).
pub async fn sign_compact<C: Crypto + ?Sized, P: Serialize>(
    crypto: &C,
    key: &PrivateKey,
    typ: &'static str,
    payload: &P,
) -> Result<String, CryptoError> {
    let header = Header {
        alg: ALG_ES256,
        typ,
        kid: &key.kid,
    };
    let header = serde_json::to_vec(&header).map_err(|e| CryptoError(e.to_string()))?;
    let payload = serde_json::to_vec(payload).map_err(|e| CryptoError(e.to_string()))?;
    let mut out = B64.encode(header);
    out.push('.');
    out.push_str(&B64.encode(payload));
    let sig = crypto.sign_es256(key, out.as_bytes()).await?;
    out.push('.');
    out.push_str(&B64.encode(sig));
    Ok(out)
}

/// `jwt_compact` carries times as `chrono` values; this is the one conversion point.
mod chrono_compat {
    pub type DateTime = chrono::DateTime<chrono::Utc>;
    pub fn from_secs(secs: i64) -> Option<DateTime> {
        chrono::DateTime::from_timestamp(secs, 0)
    }
}
