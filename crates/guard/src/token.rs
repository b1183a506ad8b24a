//! Parsing and checking mcpgate access tokens (RFC 9068 §4 validation rules).
//!
//! Validation is split in three steps so that any signature backend fits between them,
//! synchronous (p256 here) or asynchronous (WebCrypto inside a Worker):
//! 1. [`ParsedToken::parse`] decodes the compact JWS and checks the header: `alg` must be
//!    ES256 (never `none`, HS*, RS*), `typ` must be `at+jwt`, `kid` must be present.
//! 2. The signature over [`ParsedToken::signing_input`] is verified with the key named by
//!    [`ParsedToken::kid`]; only then are claims read ([`ParsedToken::claims_if_verified`]).
//! 3. [`check_claims`] enforces `iss`, `aud`, `exp`, `nbf` and `iat` with a small leeway.
//!
//! [`Validator`](crate::validator::Validator) runs the three steps with its cached key set,
//! then checks revocation; most servers use it (or [`Guard`](crate::guard::Guard)) rather than
//! the steps directly.

use chrono::{DateTime, Utc};
use jwt_compact::Claims;
use p256::ecdsa::VerifyingKey;
use serde::Deserialize;

use crate::claims::{AccessClaims, Actor, ActorChain, Audience, ACCESS_TOKEN_TYP};
use crate::jws::{parse_compact, typ_matches, CompactJws};

/// Tokens longer than this are rejected before any decoding (bytes). mcpgate's tokens are well
/// under 2 KiB even with a deep actor chain.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Default clock-skew allowance for `exp`, `nbf` and `iat` (seconds).
pub const DEFAULT_LEEWAY_SECS: i64 = 30;

/// Why a token was not accepted. The variants are for logs and metrics; an MCP server answers
/// every one of them with the same `invalid_token` challenge, except
/// [`TokenError::Unavailable`] (a 503: the validator, not the token, is the problem).
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
    /// The validator cannot decide: it has no key set yet, or its revocation state is older
    /// than allowed ([`ValidatorConfig::revocation_max_age_secs`]). Unlike every other variant
    /// this says nothing about the token: answer 503, not 401 (see
    /// [`TokenError::is_temporary`]).
    ///
    /// [`ValidatorConfig::revocation_max_age_secs`]: crate::validator::ValidatorConfig::revocation_max_age_secs
    Unavailable,
}

impl TokenError {
    /// True if the failure is the validator's, not the token's ([`TokenError::Unavailable`]):
    /// answer 503 Service Unavailable rather than a 401 `invalid_token` challenge, so clients
    /// do not throw away a good token.
    pub fn is_temporary(&self) -> bool {
        matches!(self, TokenError::Unavailable)
    }
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
            TokenError::Unavailable => "validation state unavailable",
        };
        f.write_str(s)
    }
}

impl std::error::Error for TokenError {}

/// A structurally valid ES256 access token whose signature has not been checked yet.
pub struct ParsedToken<'a> {
    jws: CompactJws<'a>,
}

impl<'a> ParsedToken<'a> {
    /// Decodes a compact JWS and checks its header (step 1 above).
    pub fn parse(token: &'a str) -> Result<Self, TokenError> {
        let jws = parse_compact(token, MAX_TOKEN_BYTES, |typ| {
            typ_matches(typ, ACCESS_TOKEN_TYP)
        })?;
        Ok(ParsedToken { jws })
    }

    /// The `kid` header parameter.
    pub fn kid(&self) -> &str {
        &self.jws.kid
    }

    /// The JWS signing input: `BASE64URL(header) || '.' || BASE64URL(payload)`.
    pub fn signing_input(&self) -> &'a [u8] {
        self.jws.signing_input
    }

    /// The raw 64-byte `r || s` signature (RFC 7518 §3.4).
    pub fn signature(&self) -> &[u8] {
        &self.jws.signature
    }

    /// Verifies the signature with a p256 key and returns the claims (step 2, synchronous).
    pub fn verify_p256(&self, key: &VerifyingKey) -> Result<Claims<AccessClaims>, TokenError> {
        let ok = crate::backend::verify_p256(key, self.signing_input(), self.signature());
        self.claims_if_verified(ok)
    }

    /// The claims, given the outcome of a signature check made elsewhere (step 2 with an
    /// external backend). Claims are never decoded unless `signature_ok` is true.
    pub fn claims_if_verified(
        &self,
        signature_ok: bool,
    ) -> Result<Claims<AccessClaims>, TokenError> {
        self.wire_claims_if_verified(signature_ok)?.into_claims()
    }

    /// Decodes the payload into the flat wire form the validator checks directly.
    pub(crate) fn wire_claims_if_verified(
        &self,
        signature_ok: bool,
    ) -> Result<WireClaims, TokenError> {
        if !signature_ok {
            return Err(TokenError::BadSignature);
        }
        serde_json::from_slice(&self.jws.payload).map_err(|_| TokenError::MalformedClaims)
    }
}

/// The payload of an access token in one flat struct: [`Claims`] wraps [`AccessClaims`] with
/// `#[serde(flatten)]`, which buffers every field; this decodes in one pass.
#[derive(Deserialize)]
pub(crate) struct WireClaims {
    #[serde(default, deserialize_with = "numeric_date")]
    pub(crate) exp: Option<i64>,
    #[serde(default, deserialize_with = "numeric_date")]
    pub(crate) nbf: Option<i64>,
    #[serde(default, deserialize_with = "numeric_date")]
    pub(crate) iat: Option<i64>,
    pub(crate) iss: String,
    pub(crate) sub: String,
    pub(crate) aud: Audience,
    pub(crate) client_id: String,
    pub(crate) scope: String,
    pub(crate) jti: String,
    #[serde(default)]
    pub(crate) act: Option<Actor>,
    #[serde(default)]
    pub(crate) fam: Option<String>,
}

impl WireClaims {
    fn into_claims(self) -> Result<Claims<AccessClaims>, TokenError> {
        fn time(t: Option<i64>) -> Result<Option<DateTime<Utc>>, TokenError> {
            t.map(|secs| DateTime::from_timestamp(secs, 0).ok_or(TokenError::MalformedClaims))
                .transpose()
        }
        let mut claims = Claims::new(AccessClaims {
            iss: self.iss,
            sub: self.sub,
            aud: self.aud,
            client_id: self.client_id,
            scope: self.scope,
            jti: self.jti,
            act: self.act,
            fam: self.fam,
        });
        claims.expiration = time(self.exp)?;
        claims.not_before = time(self.nbf)?;
        claims.issued_at = time(self.iat)?;
        Ok(claims)
    }

    /// Step 3 on the wire form: the same rules as [`check_claims`].
    pub(crate) fn check(
        self,
        expect: &Expectations,
        now: i64,
    ) -> Result<VerifiedToken, TokenError> {
        let (issued_at, expires_at) =
            check_time_values(self.exp, self.nbf, self.iat, expect.leeway_secs, now)?;
        check_iss_aud(&self.iss, &self.aud, expect)?;
        Ok(VerifiedToken {
            claims: AccessClaims {
                iss: self.iss,
                sub: self.sub,
                aud: self.aud,
                client_id: self.client_id,
                scope: self.scope,
                jti: self.jti,
                act: self.act,
                fam: self.fam,
            },
            issued_at,
            expires_at,
        })
    }
}

/// RFC 7519 §2 NumericDate: integer seconds; a fractional value is truncated (as jwt-compact
/// does), a non-finite one is rejected.
fn numeric_date<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    struct V;
    impl serde::de::Visitor<'_> for V {
        type Value = Option<i64>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a NumericDate")
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
            i64::try_from(v).map(Some).map_err(E::custom)
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
            // Within ±2^53 the cast is exact after trunc; outside it saturates, and any such
            // value is rejected by the time checks or the chrono range anyway.
            if v.is_finite() {
                #[allow(clippy::cast_possible_truncation)]
                Ok(Some(v.trunc() as i64))
            } else {
                Err(E::custom("non-finite NumericDate"))
            }
        }
    }
    d.deserialize_any(V)
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
    /// True if the token grants `scope` (exact scope token match; see
    /// [`ScopePolicy`](crate::scope::ScopePolicy) for hierarchies).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.claims.scopes().any(|s| s == scope)
    }

    /// `sub`: the user or agent on whose behalf the token acts.
    pub fn subject(&self) -> &str {
        &self.claims.sub
    }

    /// `client_id`: the client the token was issued to (RFC 9068 §2.2).
    pub fn client_id(&self) -> &str {
        &self.claims.client_id
    }

    /// `jti`: the token's unique identifier.
    pub fn token_id(&self) -> &str {
        &self.claims.jti
    }

    /// `iss`: the issuer (already checked to be the configured one).
    pub fn issuer(&self) -> &str {
        &self.claims.iss
    }

    /// The audience (already checked to be exactly this resource).
    pub fn audience(&self) -> &str {
        self.claims.aud.single().unwrap_or_default()
    }

    /// The granted scopes, in token order.
    pub fn scopes(&self) -> impl Iterator<Item = &str> + Clone {
        self.claims.scopes()
    }

    /// The current actor (RFC 8693 §4.1), if the token is delegated.
    pub fn actor(&self) -> Option<&Actor> {
        self.claims.act.as_ref()
    }

    /// The whole delegation chain, current (outermost) actor first.
    pub fn actors(&self) -> ActorChain<'_> {
        self.claims.actors()
    }

    /// `exp`, seconds since the epoch.
    pub fn expiry(&self) -> i64 {
        self.expires_at
    }
}

/// Checks the claims of a signature-verified token (step 3).
pub fn check_claims(
    claims: Claims<AccessClaims>,
    expect: &Expectations,
    now: i64,
) -> Result<VerifiedToken, TokenError> {
    let (issued_at, expires_at) = check_time_values(
        claims.expiration.map(|t| t.timestamp()),
        claims.not_before.map(|t| t.timestamp()),
        claims.issued_at.map(|t| t.timestamp()),
        expect.leeway_secs,
        now,
    )?;
    check_iss_aud(&claims.custom.iss, &claims.custom.aud, expect)?;
    Ok(VerifiedToken {
        claims: claims.custom,
        issued_at,
        expires_at,
    })
}

/// Exact issuer (RFC 9068 §4 item 3) and exactly one audience equal to this resource (RFC 9068
/// §4 item 4, RFC 8707: mcpgate issues one canonical audience per token, so an array naming
/// other resources too is not a token meant only for us).
fn check_iss_aud(iss: &str, aud: &Audience, expect: &Expectations) -> Result<(), TokenError> {
    if iss != expect.issuer {
        return Err(TokenError::WrongIssuer);
    }
    if aud.single() != Some(expect.audience.as_str()) {
        return Err(TokenError::WrongAudience);
    }
    Ok(())
}

/// Checks `exp` (required), `nbf` (optional) and `iat` (required) against `now`.
pub fn check_times<T>(claims: &Claims<T>, leeway: i64, now: i64) -> Result<(), TokenError> {
    check_time_values(
        claims.expiration.map(|t| t.timestamp()),
        claims.not_before.map(|t| t.timestamp()),
        claims.issued_at.map(|t| t.timestamp()),
        leeway,
        now,
    )
    .map(|_| ())
}

/// The time rules (RFC 7519 §4.1.4–4.1.6 with a clock-skew allowance): the token is expired
/// once `now >= exp + leeway`, not yet valid while `now + leeway < nbf`, and rejected while
/// `now + leeway < iat`. Returns `(iat, exp)`.
fn check_time_values(
    exp: Option<i64>,
    nbf: Option<i64>,
    iat: Option<i64>,
    leeway: i64,
    now: i64,
) -> Result<(i64, i64), TokenError> {
    let exp = exp.ok_or(TokenError::Expired)?;
    if now >= exp.saturating_add(leeway) {
        return Err(TokenError::Expired);
    }
    if let Some(nbf) = nbf {
        if now.saturating_add(leeway) < nbf {
            return Err(TokenError::NotYetValid);
        }
    }
    let iat = iat.ok_or(TokenError::BadIssuedAt)?;
    if now.saturating_add(leeway) < iat {
        return Err(TokenError::BadIssuedAt);
    }
    Ok((iat, exp))
}
