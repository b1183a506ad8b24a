//! ES256 public keys as JSON Web Keys (RFC 7517 §4, RFC 7518 §6.2) and their RFC 7638
//! thumbprints, which mcpgate uses as `kid`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use p256::ecdsa::VerifyingKey;
use p256::EncodedPoint;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// An EC P-256 public key in JWK form, as published in the JWKS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EcPublicJwk {
    /// Always `"EC"`.
    pub kty: String,
    /// Always `"P-256"`.
    pub crv: String,
    /// base64url x coordinate (32 bytes).
    pub x: String,
    /// base64url y coordinate (32 bytes).
    pub y: String,
    /// Key id: the RFC 7638 SHA-256 thumbprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Intended algorithm, `"ES256"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Public key use, `"sig"`.
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
}

/// Why a JWK could not be turned into a verifying key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwkError {
    /// `kty`/`crv` are not EC/P-256, or `alg`/`use` say it is not an ES256 signing key.
    NotEs256,
    /// The coordinates are not base64url of 32 bytes or not a point on the curve.
    BadPoint,
}

impl std::fmt::Display for JwkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JwkError::NotEs256 => f.write_str("not an ES256 signing key"),
            JwkError::BadPoint => f.write_str("invalid P-256 point"),
        }
    }
}

impl std::error::Error for JwkError {}

impl EcPublicJwk {
    /// The JWK of a verifying key, with `kid` set to its thumbprint and `alg`/`use` set.
    pub fn from_key(key: &VerifyingKey) -> Self {
        let point = key.to_encoded_point(false);
        // An uncompressed point of a valid key always has both coordinates.
        let x = point.x().map(|x| B64.encode(x)).unwrap_or_default();
        let y = point.y().map(|y| B64.encode(y)).unwrap_or_default();
        let mut jwk = EcPublicJwk {
            kty: "EC".into(),
            crv: "P-256".into(),
            x,
            y,
            kid: None,
            alg: Some(crate::claims::ALG_ES256.into()),
            use_: Some("sig".into()),
        };
        jwk.kid = Some(jwk.thumbprint());
        jwk
    }

    /// The RFC 7638 JWK thumbprint (SHA-256, base64url): the hash of the required members in
    /// lexicographic order with no whitespace.
    pub fn thumbprint(&self) -> String {
        // Members are fixed strings and base64url text, so no JSON escaping is needed; building
        // the string by hand keeps the member order exactly as §3.2 requires.
        let canonical = format!(
            r#"{{"crv":"{}","kty":"{}","x":"{}","y":"{}"}}"#,
            self.crv, self.kty, self.x, self.y
        );
        B64.encode(Sha256::digest(canonical.as_bytes()))
    }

    /// The verifying key, if this is a well-formed ES256 public key.
    pub fn to_key(&self) -> Result<VerifyingKey, JwkError> {
        if self.kty != "EC" || self.crv != "P-256" {
            return Err(JwkError::NotEs256);
        }
        if self
            .alg
            .as_deref()
            .is_some_and(|a| a != crate::claims::ALG_ES256)
            || self.use_.as_deref().is_some_and(|u| u != "sig")
        {
            return Err(JwkError::NotEs256);
        }
        let x = decode_coord(&self.x)?;
        let y = decode_coord(&self.y)?;
        let point = EncodedPoint::from_affine_coordinates(&x.into(), &y.into(), false);
        VerifyingKey::from_encoded_point(&point).map_err(|_| JwkError::BadPoint)
    }
}

fn decode_coord(s: &str) -> Result<[u8; 32], JwkError> {
    let bytes = B64.decode(s).map_err(|_| JwkError::BadPoint)?;
    bytes.try_into().map_err(|_| JwkError::BadPoint)
}

/// A JSON Web Key Set (RFC 7517 §5). Keys mcpgate cannot use are kept out at parse time by
/// [`JwkSet::es256_keys`], not rejected, so a future key type does not break old validators.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JwkSet {
    /// The keys, as raw JSON objects.
    pub keys: Vec<serde_json::Value>,
}

impl JwkSet {
    /// The usable ES256 keys with a `kid`, as `(kid, key)` pairs.
    pub fn es256_keys(&self) -> Vec<(String, VerifyingKey)> {
        self.keys
            .iter()
            .filter_map(|k| serde_json::from_value::<EcPublicJwk>(k.clone()).ok())
            .filter_map(|jwk| {
                let kid = jwk.kid.clone()?;
                jwk.to_key().ok().map(|key| (kid, key))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7515 Appendix A.3 ES256 key.
    const A3_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    const A3_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";

    fn a3_jwk() -> EcPublicJwk {
        EcPublicJwk {
            kty: "EC".into(),
            crv: "P-256".into(),
            x: A3_X.into(),
            y: A3_Y.into(),
            kid: None,
            alg: None,
            use_: None,
        }
    }

    #[test]
    fn rfc7515_a3_key_round_trips_through_jwk() {
        let key = a3_jwk().to_key().unwrap();
        let back = EcPublicJwk::from_key(&key);
        assert_eq!(back.x, A3_X);
        assert_eq!(back.y, A3_Y);
        assert_eq!(back.alg.as_deref(), Some("ES256"));
        assert_eq!(back.use_.as_deref(), Some("sig"));
        assert_eq!(back.kid, Some(a3_jwk().thumbprint()));
    }

    #[test]
    fn rfc7638_thumbprint_hashes_required_members_in_order() {
        // Independently computed: SHA-256 over the canonical JSON, base64url.
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{A3_X}","y":"{A3_Y}"}}"#);
        let expected = B64.encode(Sha256::digest(canonical.as_bytes()));
        assert_eq!(a3_jwk().thumbprint(), expected);
        assert_eq!(expected.len(), 43);
    }

    #[test]
    fn rejects_non_es256_and_off_curve_keys() {
        let mut rsa = a3_jwk();
        rsa.kty = "RSA".into();
        assert_eq!(rsa.to_key(), Err(JwkError::NotEs256));
        let mut hs = a3_jwk();
        hs.alg = Some("HS256".into());
        assert_eq!(hs.to_key(), Err(JwkError::NotEs256));
        let mut off = a3_jwk();
        off.y = A3_X.into();
        assert_eq!(off.to_key(), Err(JwkError::BadPoint));
        let mut short = a3_jwk();
        short.x = "AAAA".into();
        assert_eq!(short.to_key(), Err(JwkError::BadPoint));
    }

    #[test]
    fn jwk_set_skips_unusable_keys() {
        let set: JwkSet = serde_json::from_value(serde_json::json!({"keys": [
            {"kty": "RSA", "n": "x", "e": "AQAB", "kid": "r"},
            {"kty": "EC", "crv": "P-256", "x": A3_X, "y": A3_Y, "kid": "k1"},
            {"kty": "EC", "crv": "P-256", "x": A3_X, "y": A3_Y}
        ]}))
        .unwrap();
        let keys = set.es256_keys();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].0, "k1");
    }
}
