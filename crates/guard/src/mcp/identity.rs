//! Who is calling, told to the upstream MCP server in a form it can verify.
//!
//! A gateway must not pass the client's access token on (MCP: token passthrough is forbidden;
//! the token's audience is the gateway's resource, not the upstream). It sends instead, in the
//! `Mcp-Gate-Identity` request header, a short-lived JWT (RFC 7519) signed with HMAC-SHA-256
//! under a secret the gateway and the upstream share:
//!
//! ```text
//! header  {"alg":"HS256","typ":"mcp-identity+jwt"}
//! payload {"iss": <gateway resource URL>, "aud": <upstream URL>, "iat", "exp" (iat + 60),
//!          "sub", "client_id", "scope", "act" (RFC 8693 actor chain, if delegated),
//!          "jti" (the access token's jti)}
//! ```
//!
//! Any JWT library verifies it (algorithm pinned to HS256, `typ`, `aud`, `exp`); so does
//! [`IdentitySigner::verify`].

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::claims::{AccessClaims, Actor, Audience};
use crate::token::VerifiedToken;

/// The request header that carries the identity.
pub const IDENTITY_HEADER: &str = "mcp-gate-identity";
/// Its JOSE `typ`.
pub const IDENTITY_TYP: &str = "mcp-identity+jwt";
/// Its lifetime (seconds): long enough for clock skew, short enough to be useless if logged.
pub const IDENTITY_TTL: i64 = 60;
/// Shortest secret accepted (bytes; RFC 7518 §3.2: at least the hash output size).
pub const MIN_SECRET_LEN: usize = 32;

/// The claims of an identity assertion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityClaims {
    /// The gateway's resource URL.
    pub iss: String,
    /// The upstream server's URL.
    pub aud: String,
    /// Issued at (unix seconds).
    pub iat: i64,
    /// Expires (unix seconds).
    pub exp: i64,
    /// The user or agent the call is for.
    pub sub: String,
    /// The MCP client making it.
    pub client_id: String,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// The actor chain when delegated (RFC 8693 §4.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Actor>,
    /// The access token's `jti`.
    pub jti: String,
}

impl IdentityClaims {
    /// The identity as the [`VerifiedToken`] a bearer-token check would give (issuer: the
    /// gateway; audience: the upstream), so an upstream that also accepts mcpgate tokens
    /// directly handles both callers with the same code.
    pub fn into_verified_token(self) -> VerifiedToken {
        VerifiedToken {
            claims: AccessClaims {
                iss: self.iss,
                sub: self.sub,
                aud: Audience::One(self.aud),
                client_id: self.client_id,
                scope: self.scope,
                jti: self.jti,
                act: self.act,
                fam: None,
            },
            issued_at: self.iat,
            expires_at: self.exp,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    typ: String,
}

/// Why an assertion is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityError {
    /// The secret is shorter than [`MIN_SECRET_LEN`].
    WeakSecret,
    /// Malformed, wrong algorithm or type, bad signature.
    Invalid,
    /// Expired or not yet valid.
    Expired,
    /// Issued for another upstream.
    Audience,
}

/// Signs (and verifies) identity assertions under a shared secret.
#[derive(Clone)]
pub struct IdentitySigner {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for IdentitySigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdentitySigner(..)")
    }
}

impl IdentitySigner {
    /// A signer for `secret` (at least [`MIN_SECRET_LEN`] bytes).
    pub fn new(secret: &[u8]) -> Result<Self, IdentityError> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(IdentityError::WeakSecret);
        }
        let mac =
            <Hmac<Sha256> as Mac>::new_from_slice(secret).map_err(|_| IdentityError::WeakSecret)?;
        Ok(IdentitySigner { mac })
    }

    fn mac(&self) -> Hmac<Sha256> {
        self.mac.clone()
    }

    /// The assertion for `token`, from gateway `iss` to upstream `aud`, issued `now`.
    pub fn sign_for(&self, token: &VerifiedToken, iss: &str, aud: &str, now: i64) -> String {
        self.sign(&IdentityClaims {
            iss: iss.to_owned(),
            aud: aud.to_owned(),
            iat: now,
            exp: now + IDENTITY_TTL,
            sub: token.subject().to_owned(),
            client_id: token.client_id().to_owned(),
            scope: token.claims.scope.clone(),
            act: token.actor().cloned(),
            jti: token.token_id().to_owned(),
        })
    }

    /// Signs `claims`.
    pub fn sign(&self, claims: &IdentityClaims) -> String {
        let header = Header {
            alg: "HS256".into(),
            typ: IDENTITY_TYP.into(),
        };
        let mut out = B64.encode(serde_json::to_vec(&header).unwrap_or_default());
        out.push('.');
        out.push_str(&B64.encode(serde_json::to_vec(claims).unwrap_or_default()));
        let mut mac = self.mac();
        mac.update(out.as_bytes());
        let sig = mac.finalize().into_bytes();
        out.push('.');
        out.push_str(&B64.encode(sig));
        out
    }

    /// Verifies an assertion meant for upstream `aud` at `now` (60 s leeway on `iat`).
    pub fn verify(&self, jwt: &str, aud: &str, now: i64) -> Result<IdentityClaims, IdentityError> {
        let mut parts = jwt.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(IdentityError::Invalid);
        };
        let sig = B64.decode(s).map_err(|_| IdentityError::Invalid)?;
        let mut mac = self.mac();
        mac.update(h.as_bytes());
        mac.update(b".");
        mac.update(p.as_bytes());
        mac.verify_slice(&sig).map_err(|_| IdentityError::Invalid)?;
        let header: Header = B64
            .decode(h)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(IdentityError::Invalid)?;
        if header.alg != "HS256" || header.typ != IDENTITY_TYP {
            return Err(IdentityError::Invalid);
        }
        let claims: IdentityClaims = B64
            .decode(p)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(IdentityError::Invalid)?;
        if claims.aud != aud {
            return Err(IdentityError::Audience);
        }
        if claims.exp <= now || claims.iat > now + IDENTITY_TTL {
            return Err(IdentityError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(now: i64) -> IdentityClaims {
        IdentityClaims {
            iss: "https://gw.example/mcp".into(),
            aud: "http://upstream.internal/mcp".into(),
            iat: now,
            exp: now + IDENTITY_TTL,
            sub: "usr_1".into(),
            client_id: "app_1".into(),
            scope: "notes.read".into(),
            act: None,
            jti: "j".into(),
        }
    }

    #[test]
    fn an_assertion_verifies_for_its_upstream_until_it_expires() {
        let s = IdentitySigner::new(&[7; 32]).unwrap();
        let jwt = s.sign(&claims(1000));
        assert_eq!(
            s.verify(&jwt, "http://upstream.internal/mcp", 1030),
            Ok(claims(1000))
        );
        assert_eq!(
            s.verify(&jwt, "http://other/mcp", 1030),
            Err(IdentityError::Audience)
        );
        assert_eq!(
            s.verify(&jwt, "http://upstream.internal/mcp", 1060),
            Err(IdentityError::Expired)
        );
    }

    #[test]
    fn a_forged_or_altered_assertion_is_refused() {
        let s = IdentitySigner::new(&[7; 32]).unwrap();
        let other = IdentitySigner::new(&[8; 32]).unwrap();
        let jwt = other.sign(&claims(1000));
        assert_eq!(
            s.verify(&jwt, "http://upstream.internal/mcp", 1000),
            Err(IdentityError::Invalid)
        );
        let good = s.sign(&claims(1000));
        let mut c = claims(1000);
        c.sub = "usr_admin".into();
        let forged_payload = B64.encode(serde_json::to_vec(&c).unwrap());
        let parts: Vec<&str> = good.split('.').collect();
        let tampered = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
        assert_eq!(
            s.verify(&tampered, "http://upstream.internal/mcp", 1000),
            Err(IdentityError::Invalid)
        );
        assert_eq!(
            IdentitySigner::new(&[1; 31]).unwrap_err(),
            IdentityError::WeakSecret
        );
    }
}
