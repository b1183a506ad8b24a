//! Two levels of error: [`Error`] says what went wrong inside (for logs and tests), and
//! [`WireError`] is what the client sees. [`Error::to_wire`] is the one exhaustive mapping
//! between them; internal detail never crosses it.

use http::{header, HeaderValue, StatusCode};
use serde::Serialize;

use super::{json, no_store, LogDetail, Response};
use crate::store::StoreError;

/// What went wrong, in the core's own terms.
#[derive(Debug)]
pub enum Error {
    /// No route for this path.
    NotFound,
    /// The path exists but not with this method; the allowed methods.
    MethodNotAllowed(&'static str),
    /// The body is over [`super::MAX_BODY_BYTES`].
    BodyTooLarge,
    /// A parameter is missing, repeated or malformed (RFC 6749 §5.2 `invalid_request`).
    InvalidRequest(String),
    /// A bearer-protected endpoint (the admin API, RFC 7592 registration management) got no
    /// valid access token: 401 with the challenge (built by `mcpgate_guard::Challenges`, the
    /// one place challenges are formatted) and a description of what was expected.
    InvalidToken(mcpgate_guard::Challenge, &'static str),
    /// A valid token without the scope this operation needs (RFC 6750 §3.1): 403 with the
    /// challenge naming the scope.
    InsufficientScope(mcpgate_guard::Challenge, &'static str),
    /// The credential is valid but may not do this.
    Forbidden(String),
    /// A uniqueness or state conflict (duplicate, concurrent change, entity in use).
    Conflict(String),
    /// An input field is invalid; the error names it.
    InvalidField(crate::directory::validate::FieldError),
    /// The request body is not of the expected media type.
    UnsupportedMediaType(&'static str),
    /// The addressed entity does not exist (its kind).
    NoSuch(&'static str),
    /// Client authentication failed (RFC 6749 §5.2); `basic` if the Authorization header was used.
    InvalidClient {
        /// The client tried HTTP Basic authentication.
        basic: bool,
    },
    /// The grant (code, refresh token) is invalid, expired, revoked or was issued to someone
    /// else (RFC 6749 §5.2 `invalid_grant`).
    InvalidGrant(GrantError),
    /// An authorization grant assertion (RFC 7523, ID-JAG) refused: `invalid_grant`, saying why.
    InvalidAssertion(String),
    /// A subject or actor token (RFC 8693 §2.2.2: `invalid_request`) that is not a live
    /// mcpgate access token.
    BadSubjectToken(&'static str, TokenRejection),
    /// The client may not use this grant type.
    UnauthorizedClient(String),
    /// Unknown `grant_type`.
    UnsupportedGrantType,
    /// The requested scope is invalid or nothing grantable remains.
    InvalidScope(String),
    /// The `resource` is unknown or the client may not reach it (RFC 8707 §2).
    InvalidTarget(String),
    /// Dynamic registration metadata refused (RFC 7591 §3.2.2 `invalid_client_metadata`).
    InvalidClientMetadata(String),
    /// A redirect URI refused at registration (RFC 7591 §3.2.2 `invalid_redirect_uri`).
    InvalidRedirectUri(String),
    /// Too many attempts; retry after this many seconds.
    RateLimited(u32),
    /// The deployment's configuration is invalid; the text names the variable.
    Misconfigured(String),
    /// A storage failure.
    Store(StoreError),
    /// Any other internal failure.
    Internal(String),
}

/// Why a code or refresh token was refused (`invalid_grant`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantError {
    /// No such code.
    CodeUnknown,
    /// The code expired.
    CodeExpired,
    /// The code was redeemed before (its authorization is revoked).
    CodeReplayed,
    /// The code was issued to another client.
    CodeOtherClient,
    /// `redirect_uri` differs from the authorization request's.
    RedirectMismatch,
    /// The PKCE verifier does not match the challenge.
    PkceMismatch,
    /// No such refresh token.
    RefreshUnknown,
    /// The refresh token was issued to another client.
    RefreshOtherClient,
    /// The refresh token's family is revoked.
    FamilyRevoked,
    /// A rotated refresh token came back: the family is revoked now.
    RefreshReused,
    /// The family reached its absolute lifetime.
    RefreshExpired,
    /// The family was rotated or revoked while this refresh ran.
    RefreshRaced,
    /// The user is disabled or gone.
    UserDisabled,
}

impl GrantError {
    /// The `error_description` (one place for all of them).
    pub fn description(self) -> &'static str {
        match self {
            GrantError::CodeUnknown => "unknown authorization code",
            GrantError::CodeExpired => "authorization code expired",
            GrantError::CodeReplayed => "authorization code already used",
            GrantError::CodeOtherClient => "authorization code was issued to another client",
            GrantError::RedirectMismatch => "redirect_uri does not match the authorization request",
            GrantError::PkceMismatch => "PKCE verification failed",
            GrantError::RefreshUnknown => "unknown refresh token",
            GrantError::RefreshOtherClient => "refresh token was issued to another client",
            GrantError::FamilyRevoked => "refresh token revoked",
            GrantError::RefreshReused => "refresh token already used; the whole grant is revoked",
            GrantError::RefreshExpired => "refresh token expired",
            GrantError::RefreshRaced => "refresh token already used or revoked",
            GrantError::UserDisabled => "the user is disabled",
        }
    }
}

/// Why an mcpgate access token presented back to mcpgate (subject or actor token,
/// introspection, admin credential) is not live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRejection {
    /// Not a compact JWS of ours.
    Malformed,
    /// The signing keys could not be loaded.
    KeysUnavailable,
    /// Signed with a key we do not publish.
    UnknownKey,
    /// The signature does not verify.
    BadSignature,
    /// Expired or not yet valid.
    Expired,
    /// Another issuer.
    OtherIssuer,
    /// On the revocation list.
    Revoked,
    /// Its subject or client is disabled or gone.
    Disabled,
    /// The store failed while checking.
    StoreUnavailable,
}

impl TokenRejection {
    /// The `error_description` part (one place for all of them).
    pub fn description(self) -> &'static str {
        match self {
            TokenRejection::Malformed => "not an mcpgate access token",
            TokenRejection::KeysUnavailable => "keys unavailable",
            TokenRejection::UnknownKey => "unknown signing key",
            TokenRejection::BadSignature => "bad signature",
            TokenRejection::Expired => "expired or not yet valid",
            TokenRejection::OtherIssuer => "issued by someone else",
            TokenRejection::Revoked => "revoked",
            TokenRejection::Disabled => "subject or client disabled",
            TokenRejection::StoreUnavailable => "store unavailable",
        }
    }
}

/// The `error` codes the authorization endpoint redirects with (RFC 6749 §4.1.2.1, OpenID
/// Connect Core §3.1.2.6), or shows on its page when it may not redirect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizeError {
    /// `invalid_request`.
    InvalidRequest,
    /// `unauthorized_client`.
    UnauthorizedClient,
    /// `access_denied`.
    AccessDenied,
    /// `unsupported_response_type`.
    UnsupportedResponseType,
    /// `invalid_scope`.
    InvalidScope,
    /// `invalid_target` (RFC 8707).
    InvalidTarget,
    /// `temporarily_unavailable`.
    TemporarilyUnavailable,
    /// `login_required` (prompt=none).
    LoginRequired,
    /// `consent_required` (prompt=none).
    ConsentRequired,
}

impl AuthorizeError {
    /// The `error` code.
    pub fn code(self) -> &'static str {
        match self {
            AuthorizeError::InvalidRequest => "invalid_request",
            AuthorizeError::UnauthorizedClient => "unauthorized_client",
            AuthorizeError::AccessDenied => "access_denied",
            AuthorizeError::UnsupportedResponseType => "unsupported_response_type",
            AuthorizeError::InvalidScope => "invalid_scope",
            AuthorizeError::InvalidTarget => "invalid_target",
            AuthorizeError::TemporarilyUnavailable => "temporarily_unavailable",
            AuthorizeError::LoginRequired => "login_required",
            AuthorizeError::ConsentRequired => "consent_required",
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            // Callers that can say more map conflicts themselves; this is the generic case.
            StoreError::Conflict(_) => Error::Conflict(
                "conflicting change: a duplicate, an entity still in use, or a concurrent change"
                    .into(),
            ),
            other => Error::Store(other),
        }
    }
}

impl From<crate::directory::validate::FieldError> for Error {
    fn from(e: crate::directory::validate::FieldError) -> Self {
        Error::InvalidField(e)
    }
}

impl From<crate::keys::KeyError> for Error {
    fn from(e: crate::keys::KeyError) -> Self {
        match e {
            crate::keys::KeyError::Store(StoreError::Conflict(_)) => {
                Error::Conflict("another key rotation ran concurrently; nothing changed".into())
            }
            crate::keys::KeyError::Store(s) => Error::Store(s),
            other => Error::Internal(other.to_string()),
        }
    }
}

/// An error as sent: status, RFC 6749 §5.2 `error` code, optional description and headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError {
    /// HTTP status.
    pub status: StatusCode,
    /// The `error` code.
    pub code: &'static str,
    /// Human-readable `error_description` (never internal detail).
    pub description: Option<String>,
    /// `WWW-Authenticate` challenge, if any.
    pub www_authenticate: Option<String>,
    /// `Allow` header for 405.
    pub allow: Option<&'static str>,
    /// The input field at fault (admin API).
    pub field: Option<String>,
    /// `Retry-After` seconds.
    pub retry_after: Option<u32>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl WireError {
    fn new(status: StatusCode, code: &'static str, description: Option<String>) -> Self {
        WireError {
            status,
            code,
            description,
            www_authenticate: None,
            allow: None,
            field: None,
            retry_after: None,
        }
    }

    /// The HTTP response: JSON body, `Cache-Control: no-store`, and the error's headers.
    pub fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code,
            error_description: self.description.as_deref(),
            field: self.field.as_deref(),
        };
        let mut resp = no_store(json(self.status, &body));
        if let Some(c) = self
            .www_authenticate
            .and_then(|c| HeaderValue::from_str(&c).ok())
        {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, c);
        }
        if let Some(v) = self
            .retry_after
            .and_then(|s| HeaderValue::from_str(&s.to_string()).ok())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        if let Some(a) = self.allow {
            resp.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(a));
        }
        resp
    }
}

impl Error {
    /// The wire form of this error. Exhaustive on purpose: a new variant must decide here what
    /// the client sees.
    pub fn to_wire(&self) -> WireError {
        use StatusCode as S;
        match self {
            Error::NotFound => {
                WireError::new(S::NOT_FOUND, "not_found", Some("no such endpoint".into()))
            }
            Error::MethodNotAllowed(allow) => WireError {
                allow: Some(allow),
                ..WireError::new(
                    S::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    Some(format!("allowed methods: {allow}")),
                )
            },
            Error::BodyTooLarge => WireError::new(
                S::PAYLOAD_TOO_LARGE,
                "invalid_request",
                Some(format!(
                    "request body exceeds {} bytes",
                    super::MAX_BODY_BYTES
                )),
            ),
            Error::InvalidRequest(why) => {
                WireError::new(S::BAD_REQUEST, "invalid_request", Some(why.clone()))
            }
            Error::InvalidToken(challenge, what) => WireError {
                www_authenticate: Some(challenge.www_authenticate().to_owned()),
                ..WireError::new(
                    S::UNAUTHORIZED,
                    "invalid_token",
                    Some(format!("{what} missing or invalid")),
                )
            },
            Error::Conflict(what) => WireError::new(S::CONFLICT, "conflict", Some(what.clone())),
            Error::InvalidField(f) => WireError {
                field: Some(f.field.clone()),
                ..WireError::new(
                    S::BAD_REQUEST,
                    "invalid_request",
                    Some(format!("{}: {}", f.field, f.message)),
                )
            },
            Error::UnsupportedMediaType(expected) => WireError::new(
                S::UNSUPPORTED_MEDIA_TYPE,
                "invalid_request",
                Some(format!("content-type must be {expected}")),
            ),
            Error::NoSuch(kind) => {
                WireError::new(S::NOT_FOUND, "not_found", Some(format!("no such {kind}")))
            }
            Error::InvalidClient { basic } => WireError {
                www_authenticate: basic.then(|| r#"Basic realm="mcpgate", charset="UTF-8""#.to_owned()),
                ..WireError::new(S::UNAUTHORIZED, "invalid_client", Some("client authentication failed".into()))
            },
            Error::InvalidGrant(why) => {
                WireError::new(S::BAD_REQUEST, "invalid_grant", Some(why.description().into()))
            }
            Error::InvalidAssertion(why) => {
                WireError::new(S::BAD_REQUEST, "invalid_grant", Some(format!("assertion: {why}")))
            }
            Error::BadSubjectToken(param, why) => WireError::new(
                S::BAD_REQUEST,
                "invalid_request",
                Some(format!("{param}: {}", why.description())),
            ),
            Error::UnauthorizedClient(why) => {
                WireError::new(S::BAD_REQUEST, "unauthorized_client", Some(why.clone()))
            }
            Error::UnsupportedGrantType => WireError::new(
                S::BAD_REQUEST,
                "unsupported_grant_type",
                Some("supported: authorization_code, refresh_token, client_credentials, token-exchange".into()),
            ),
            Error::InvalidScope(why) => WireError::new(S::BAD_REQUEST, "invalid_scope", Some(why.clone())),
            Error::InvalidTarget(why) => WireError::new(S::BAD_REQUEST, "invalid_target", Some(why.clone())),
            Error::InvalidClientMetadata(why) => {
                WireError::new(S::BAD_REQUEST, "invalid_client_metadata", Some(why.clone()))
            }
            Error::InvalidRedirectUri(why) => {
                WireError::new(S::BAD_REQUEST, "invalid_redirect_uri", Some(why.clone()))
            }
            Error::RateLimited(secs) => WireError {
                retry_after: Some(*secs),
                ..WireError::new(
                    S::TOO_MANY_REQUESTS,
                    "temporarily_unavailable",
                    Some("too many requests; retry later".into()),
                )
            },
            Error::InsufficientScope(challenge, scope) => WireError {
                www_authenticate: Some(challenge.www_authenticate().to_owned()),
                ..WireError::new(
                    S::FORBIDDEN,
                    "insufficient_scope",
                    Some(format!("this operation needs the {scope} scope")),
                )
            },
            Error::Forbidden(why) => WireError::new(S::FORBIDDEN, "forbidden", Some(why.clone())),
            Error::Misconfigured(_) => WireError::new(
                S::INTERNAL_SERVER_ERROR,
                "server_error",
                Some("the server is misconfigured; see its log".into()),
            ),
            // Storage failing is transient (D1 overloaded, a network blip): nothing was half
            // written (batches are transactions), so the caller may retry.
            Error::Store(_) => WireError {
                retry_after: Some(1),
                ..WireError::new(
                    S::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    Some("storage is temporarily unavailable; retry".into()),
                )
            },
            Error::Internal(_) => WireError::new(
                S::INTERNAL_SERVER_ERROR,
                "server_error",
                Some("internal error".into()),
            ),
        }
    }

    /// The response for this error, with internal detail attached for the log only.
    pub fn into_response(self) -> Response {
        let detail = match &self {
            Error::Store(e) => Some(format!("store error: {e}")),
            Error::Internal(d) => Some(format!("internal error: {d}")),
            Error::Misconfigured(d) => Some(d.clone()),
            _ => None,
        };
        let mut resp = self.to_wire().into_response();
        if let Some(d) = detail {
            resp.extensions_mut().insert(LogDetail(d));
        }
        resp
    }
}
