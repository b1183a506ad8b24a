//! Why refreshing the JWKS or the revocation feed failed.
//!
//! A failed refresh never breaks validation by itself: the previous key set and revocation
//! state stay in force, and the error is kept for [`GuardStatus`](crate::guard::GuardStatus).

use crate::fetch::FetchError;

/// Why a JWKS or revocation-feed refresh was not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshError {
    /// The request failed (network, timeout, body too large).
    Fetch(FetchError),
    /// The server answered with an unexpected HTTP status.
    HttpStatus(u16),
    /// The body is not what the contract says (JSON, JWS or UTF-8).
    Malformed,
    /// The JWKS has no usable ES256 key with a `kid`.
    NoUsableKeys,
    /// The feed's JWS header is not `alg: ES256`, `typ: revocations+jwt` with a `kid`.
    BadHeader,
    /// The feed is signed with a key that is not in the JWKS.
    UnknownKeyId,
    /// The feed's signature does not verify.
    BadSignature,
    /// The feed's signature could not be checked (the platform's crypto failed, e.g. no
    /// `crypto.subtle`); the feed was not applied.
    VerifierUnavailable,
    /// The feed's `iss` is not the configured issuer.
    WrongIssuer,
    /// A full feed older (lower `seq`) than the state already applied.
    Rollback {
        /// The cursor already applied.
        current: u64,
        /// The feed's `seq`.
        received: u64,
    },
    /// The feed was produced too long ago (or claims a time in the future): a replayed or
    /// stale copy, refused so that an old signed feed cannot hide newer revocations.
    Stale {
        /// The feed's `iat`.
        produced_at: i64,
        /// The validator's clock.
        now: i64,
    },
    /// An incremental feed that does not continue from the applied cursor.
    CursorMismatch {
        /// The cursor already applied, if any.
        expected: Option<u64>,
        /// The feed's `since`.
        received: u64,
    },
}

impl std::fmt::Display for RefreshError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RefreshError::Fetch(e) => write!(f, "fetch failed: {e}"),
            RefreshError::HttpStatus(s) => write!(f, "unexpected HTTP status {s}"),
            RefreshError::Malformed => f.write_str("malformed response"),
            RefreshError::NoUsableKeys => f.write_str("JWKS has no usable ES256 key"),
            RefreshError::BadHeader => f.write_str("feed JWS header is not ES256 revocations+jwt"),
            RefreshError::UnknownKeyId => f.write_str("feed signed with an unknown kid"),
            RefreshError::BadSignature => f.write_str("feed signature does not verify"),
            RefreshError::VerifierUnavailable => {
                f.write_str("feed signature could not be checked (verifier unavailable)")
            }
            RefreshError::WrongIssuer => f.write_str("feed issuer mismatch"),
            RefreshError::Rollback { current, received } => {
                write!(f, "feed seq {received} is older than applied seq {current}")
            }
            RefreshError::Stale { produced_at, now } => write!(
                f,
                "feed produced at {produced_at} is too old (or from the future) at {now}"
            ),
            RefreshError::CursorMismatch { expected, received } => match expected {
                Some(e) => write!(f, "incremental feed starts at {received}, expected {e}"),
                None => write!(
                    f,
                    "incremental feed (since {received}) before any full feed"
                ),
            },
        }
    }
}

impl std::error::Error for RefreshError {}

impl From<FetchError> for RefreshError {
    fn from(e: FetchError) -> Self {
        RefreshError::Fetch(e)
    }
}
