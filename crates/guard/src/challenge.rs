//! `WWW-Authenticate` challenges for MCP servers (RFC 6750 §3, RFC 9728 §5.1) and bearer-token
//! extraction (RFC 6750 §2.1).
//!
//! | situation | status | header value |
//! | --- | --- | --- |
//! | no token | 401 | `Bearer resource_metadata="<PRM URL>", scope="<scopes>"` |
//! | token rejected | 401 | `Bearer error="invalid_token", resource_metadata="<PRM URL>", scope="<scopes>"` |
//! | token lacks scopes | 403 | `Bearer error="insufficient_scope", scope="<all required>", resource_metadata="<PRM URL>"` |
//! | validator unavailable ([`TokenError::is_temporary`]) | 503 | none |
//!
//! `resource_metadata` (RFC 9728 §5.1) points MCP clients at the protected resource metadata,
//! from which they discover mcpgate. `scope` is omitted when empty. Per RFC 6750 §3 no
//! `error` is sent when the request carried no token. Parameter values are HTTP quoted-strings
//! (RFC 9110 §5.6.4): `"` and `\` are backslash-escaped, and characters that cannot appear in a
//! header (controls other than HTAB, non-ASCII) are dropped.

use crate::metadata::{protected_resource_metadata_url, ResourceUrlError};
use crate::scope::ScopeError;
use crate::token::TokenError;

/// The response header that carries a challenge.
pub const WWW_AUTHENTICATE: &str = "WWW-Authenticate";

/// An HTTP status and the `WWW-Authenticate` value to send with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    status: u16,
    www_authenticate: String,
}

impl Challenge {
    /// 401 or 403.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The `WWW-Authenticate` header value.
    pub fn www_authenticate(&self) -> &str {
        &self.www_authenticate
    }

    /// The header value, owned.
    pub fn into_www_authenticate(self) -> String {
        self.www_authenticate
    }
}

/// Builds the challenges of one protected resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenges {
    resource_metadata: String,
}

impl Challenges {
    /// Challenges pointing at the protected resource metadata served at `resource_metadata_url`
    /// (an empty URL leaves the `resource_metadata` parameter out: for bearer-protected
    /// endpoints that are not discoverable resources, such as RFC 7592 registration management).
    pub fn new(resource_metadata_url: impl Into<String>) -> Self {
        Challenges {
            resource_metadata: resource_metadata_url.into(),
        }
    }

    /// Challenges for the resource identified by `resource`, whose metadata is at the RFC 9728
    /// §3.1 well-known URL ([`protected_resource_metadata_url`]).
    pub fn for_resource(resource: &str) -> Result<Self, ResourceUrlError> {
        protected_resource_metadata_url(resource).map(Challenges::new)
    }

    /// The `resource_metadata` URL.
    pub fn resource_metadata_url(&self) -> &str {
        &self.resource_metadata
    }

    /// 401 for a request without a token: where to find the metadata and which scopes to ask
    /// for.
    pub fn missing_token<S: AsRef<str>>(&self, scopes: &[S]) -> Challenge {
        let mut h = String::from("Bearer");
        self.metadata_param(&mut h);
        scope_param(&mut h, scopes);
        Challenge {
            status: 401,
            www_authenticate: h,
        }
    }

    /// 401 for a request whose token was rejected (`error="invalid_token"`, RFC 6750 §3.1).
    pub fn invalid_token<S: AsRef<str>>(&self, scopes: &[S]) -> Challenge {
        let mut h = String::from("Bearer");
        param(&mut h, "error", "invalid_token");
        self.metadata_param(&mut h);
        scope_param(&mut h, scopes);
        Challenge {
            status: 401,
            www_authenticate: h,
        }
    }

    /// 403 for a valid token without the scopes a call needs (`error="insufficient_scope"`,
    /// RFC 6750 §3.1), naming every required scope in one challenge.
    pub fn insufficient_scope<S: AsRef<str>>(&self, required: &[S]) -> Challenge {
        let mut h = String::from("Bearer");
        param(&mut h, "error", "insufficient_scope");
        scope_param(&mut h, required);
        self.metadata_param(&mut h);
        Challenge {
            status: 403,
            www_authenticate: h,
        }
    }

    fn metadata_param(&self, h: &mut String) {
        if !self.resource_metadata.is_empty() {
            param(h, "resource_metadata", &self.resource_metadata);
        }
    }

    /// The challenge for a validation failure: 401 `invalid_token`, or `None` when the failure is
    /// the validator's ([`TokenError::is_temporary`]), which calls for a 503 without challenge.
    pub fn for_token_error<S: AsRef<str>>(
        &self,
        error: &TokenError,
        scopes: &[S],
    ) -> Option<Challenge> {
        (!error.is_temporary()).then(|| self.invalid_token(scopes))
    }

    /// The challenge for a scope failure: 403 `insufficient_scope`, or `None` for a tool the
    /// policy does not know (answer that as a protocol error, not an authorization one).
    pub fn for_scope_error(&self, error: &ScopeError) -> Option<Challenge> {
        match error {
            ScopeError::Insufficient { required } => Some(self.insufficient_scope(required)),
            ScopeError::UnknownTool => None,
        }
    }
}

fn scope_param<S: AsRef<str>>(h: &mut String, scopes: &[S]) {
    let joined = scopes
        .iter()
        .map(AsRef::as_ref)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if !joined.is_empty() {
        param(h, "scope", &joined);
    }
}

/// Appends ` name="value"` (comma-separated after the first) with quoted-string escaping.
fn param(h: &mut String, name: &str, value: &str) {
    if h != "Bearer" {
        h.push(',');
    }
    h.push(' ');
    h.push_str(name);
    h.push_str("=\"");
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                h.push('\\');
                h.push(c);
            }
            '\t' | ' '..='~' => h.push(c),
            _ => {}
        }
    }
    h.push('"');
}

/// The token of an `Authorization: Bearer <token>` header value (RFC 6750 §2.1; the scheme is
/// case-insensitive). `None` for another scheme or an empty token.
pub fn bearer_token(authorization: &str) -> Option<&str> {
    let (scheme, rest) = authorization.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = rest.trim_start_matches(' ');
    (!token.is_empty() && !token.contains(' ')).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_bearer_tokens() {
        assert_eq!(bearer_token("Bearer abc.def.ghi"), Some("abc.def.ghi"));
        assert_eq!(bearer_token("bearer  abc"), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearer a b"), None);
        assert_eq!(bearer_token("Bearer"), None);
    }
}
