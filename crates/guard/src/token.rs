//! Parsing and checking mcpgate access tokens (RFC 9068 §4 validation rules).
//!
//! Validation is split in three steps so that any signature backend fits between them,
//! synchronous (p256 here) or asynchronous (WebCrypto inside a Worker):
//! 1. [`ParsedToken::parse`] decodes the compact JWS and checks the header: `alg` must be
//!    ES256 (never `none`, HS*, RS*), `typ` must be `at+jwt`, `kid` must be present.
//! 2. The signature over [`ParsedToken::signing_input`] is verified with the key named by
//!    [`ParsedToken::kid`]; only then are claims read ([`ParsedToken::claims_if_verified`]).
//! 3. [`check_claims`] enforces `iss`, `aud`, `exp`, `nbf` and `iat` with a small leeway.

use jwt_compact::{alg::Es256, AlgorithmExt, Claims, UntrustedToken};
use p256::ecdsa::VerifyingKey;

use crate::claims::{AccessClaims, ACCESS_TOKEN_TYP, ALG_ES256};

/// Tokens longer than this are rejected before any decoding (bytes). mcpgate's tokens are well
/// under 2 KiB even with a deep actor chain.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Default clock-skew allowance for `exp`, `nbf` and `iat` (seconds).
pub const DEFAULT_LEEWAY_SECS: i64 = 30;

/// Why a token was not accepted. The variants are for logs and metrics; an MCP server answers
/// every one of them with the same `invalid_token` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// Not a compact JWS, bad base64url or JSON, or over [`MAX_TOKEN_BYTES`].
    Malformed,
    /// `alg` is not ES256.
    UnsupportedAlgorithm(String),
    /// `typ` is not `at+jwt`.
    WrongType,
    /// No `kid` in the header.
    MissingKeyId,
    /// No published key has this `kid`.
    UnknownKeyId(String),
    /// The signature does not verify.
    BadSignature,
    /// Claims are missing or of the wrong type.
    MalformedClaims,
    /// `iss` is not the expected issuer.
    WrongIssuer,
    /// `aud` does not name this resource.
    WrongAudience,
    /// `exp` is in the past (beyond the leeway) or missing.
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    NotYetValid,
    /// `iat` is missing or in the future (beyond the leeway).
    BadIssuedAt,
    /// The token, its client, an actor or its subject has been revoked.
    Revoked,
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            TokenError::Malformed => "malformed token",
            TokenError::UnsupportedAlgorithm(_) => "unsupported algorithm",
            TokenError::WrongType => "not an access token (typ)",
            TokenError::MissingKeyId => "missing kid",
            TokenError::UnknownKeyId(_) => "unknown kid",
            TokenError::BadSignature => "bad signature",
            TokenError::MalformedClaims => "malformed claims",
            TokenError::WrongIssuer => "wrong issuer",
            TokenError::WrongAudience => "wrong audience",
            TokenError::Expired => "token expired",
            TokenError::NotYetValid => "token not yet valid",
            TokenError::BadIssuedAt => "bad iat",
            TokenError::Revoked => "token revoked",
        };
        f.write_str(s)
    }
}

impl std::error::Error for TokenError {}

/// A structurally valid ES256 access token whose signature has not been checked yet.
pub struct ParsedToken<'a> {
    raw: &'a str,
    inner: UntrustedToken<'a>,
    kid: String,
}

impl<'a> ParsedToken<'a> {
    /// Decodes a compact JWS and checks its header (step 1 above).
    pub fn parse(token: &'a str) -> Result<Self, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Malformed);
        }
        let inner = UntrustedToken::new(token).map_err(|_| TokenError::Malformed)?;
        if inner.algorithm() != ALG_ES256 {
            return Err(TokenError::UnsupportedAlgorithm(
                inner.algorithm().to_owned(),
            ));
        }
        match inner.header().token_type.as_deref() {
            // RFC 9068 §4: "application/at+jwt" is the same media type.
            Some(t) if t.eq_ignore_ascii_case(ACCESS_TOKEN_TYP) => {}
            Some(t) if t.eq_ignore_ascii_case("application/at+jwt") => {}
            _ => return Err(TokenError::WrongType),
        }
        let kid = match inner.header().key_id.as_deref() {
            Some(k) if !k.is_empty() => k.to_owned(),
            _ => return Err(TokenError::MissingKeyId),
        };
        if inner.signature_bytes().len() != 64 {
            return Err(TokenError::BadSignature);
        }
        Ok(ParsedToken {
            raw: token,
            inner,
            kid,
        })
    }

    /// The `kid` header parameter.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The JWS signing input: `BASE64URL(header) || '.' || BASE64URL(payload)`.
    pub fn signing_input(&self) -> &'a [u8] {
        // `parse` succeeded, so the token has exactly two dots.
        self.raw
            .rsplit_once('.')
            .map(|(input, _)| input.as_bytes())
            .unwrap_or_default()
    }

    /// The raw 64-byte `r || s` signature (RFC 7518 §3.4).
    pub fn signature(&self) -> &[u8] {
        self.inner.signature_bytes()
    }

    /// Verifies the signature with a p256 key and returns the claims (step 2, synchronous).
    pub fn verify_p256(&self, key: &VerifyingKey) -> Result<Claims<AccessClaims>, TokenError> {
        match Es256.validator::<AccessClaims>(key).validate(&self.inner) {
            Ok(token) => Ok(token.claims().clone()),
            Err(jwt_compact::ValidationError::InvalidSignature) => Err(TokenError::BadSignature),
            Err(jwt_compact::ValidationError::MalformedClaims(_)) => {
                Err(TokenError::MalformedClaims)
            }
            Err(_) => Err(TokenError::BadSignature),
        }
    }

    /// The claims, given the outcome of a signature check made elsewhere (step 2 with an
    /// external backend). Claims are never decoded unless `signature_ok` is true.
    pub fn claims_if_verified(
        &self,
        signature_ok: bool,
    ) -> Result<Claims<AccessClaims>, TokenError> {
        if !signature_ok {
            return Err(TokenError::BadSignature);
        }
        self.inner
            .deserialize_claims_unchecked::<AccessClaims>()
            .map_err(|_| TokenError::MalformedClaims)
    }
}

/// What a resource server requires of every token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectations {
    /// The exact issuer identifier of the mcpgate deployment.
    pub issuer: String,
    /// This resource server's canonical identifier.
    pub audience: String,
    /// Allowed clock skew, seconds.
    pub leeway_secs: i64,
}

/// A token whose signature and claims have been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    /// The claims.
    pub claims: AccessClaims,
    /// `iat`, seconds since the epoch.
    pub issued_at: i64,
    /// `exp`, seconds since the epoch.
    pub expires_at: i64,
}

impl VerifiedToken {
    /// True if the token grants `scope` (exact scope token match).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.claims.scopes().any(|s| s == scope)
    }
}

/// Checks the claims of a signature-verified token (step 3).
pub fn check_claims(
    claims: Claims<AccessClaims>,
    expect: &Expectations,
    now: i64,
) -> Result<VerifiedToken, TokenError> {
    check_times(&claims, expect.leeway_secs, now)?;
    if claims.custom.iss != expect.issuer {
        return Err(TokenError::WrongIssuer);
    }
    if claims.custom.aud.single() != Some(expect.audience.as_str()) {
        return Err(TokenError::WrongAudience);
    }
    let issued_at = claims.issued_at.map(|t| t.timestamp()).unwrap_or_default();
    let expires_at = claims.expiration.map(|t| t.timestamp()).unwrap_or_default();
    Ok(VerifiedToken {
        claims: claims.custom,
        issued_at,
        expires_at,
    })
}

/// Checks `exp` (required), `nbf` (optional) and `iat` (required) against `now`.
pub fn check_times<T>(claims: &Claims<T>, leeway: i64, now: i64) -> Result<(), TokenError> {
    let exp = claims
        .expiration
        .map(|t| t.timestamp())
        .ok_or(TokenError::Expired)?;
    if now >= exp.saturating_add(leeway) {
        return Err(TokenError::Expired);
    }
    if let Some(nbf) = claims.not_before.map(|t| t.timestamp()) {
        if now.saturating_add(leeway) < nbf {
            return Err(TokenError::NotYetValid);
        }
    }
    let iat = claims
        .issued_at
        .map(|t| t.timestamp())
        .ok_or(TokenError::BadIssuedAt)?;
    if now.saturating_add(leeway) < iat {
        return Err(TokenError::BadIssuedAt);
    }
    Ok(())
}
