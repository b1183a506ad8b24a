//! Input validation for the directory: names, scope tokens, usernames, resource identifiers.
//! Each check returns a [`FieldError`] naming the field at fault.

use crate::uri::AbsoluteUri;

/// A rejected input field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Path of the field (`name`, `redirect_uris[2]`, ...).
    pub field: String,
    /// What is wrong, for humans.
    pub message: String,
}

impl FieldError {
    /// A field error.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Longest display name (characters).
pub const MAX_NAME: usize = 200;
/// Longest description (characters).
pub const MAX_DESCRIPTION: usize = 2000;
/// Longest scope token (bytes).
pub const MAX_SCOPE_LEN: usize = 128;
/// Most items in any list field.
pub const MAX_LIST: usize = 100;

/// A non-empty single-line name of at most [`MAX_NAME`] characters.
pub fn name(field: &str, v: &str) -> Result<String, FieldError> {
    let t = v.trim();
    if t.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if t.chars().count() > MAX_NAME {
        return Err(FieldError::new(
            field,
            format!("at most {MAX_NAME} characters"),
        ));
    }
    if t.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(t.to_owned())
}

/// A PATCH field: `new` checked by `check` when the request has it, else `current` unchanged.
pub fn patched(
    field: &str,
    new: Option<&str>,
    current: String,
    check: fn(&str, &str) -> Result<String, FieldError>,
) -> Result<String, FieldError> {
    match new {
        Some(v) => check(field, v),
        None => Ok(current),
    }
}

/// A description of at most [`MAX_DESCRIPTION`] characters (may be empty, may span lines).
pub fn description(field: &str, v: &str) -> Result<String, FieldError> {
    if v.chars().count() > MAX_DESCRIPTION {
        return Err(FieldError::new(
            field,
            format!("at most {MAX_DESCRIPTION} characters"),
        ));
    }
    if v.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(v.to_owned())
}

/// An RFC 6749 §3.3 scope token: `1*( %x21 / %x23-5B / %x5D-7E )`.
pub fn scope_token(field: &str, v: &str) -> Result<String, FieldError> {
    if v.is_empty() || v.len() > MAX_SCOPE_LEN {
        return Err(FieldError::new(
            field,
            format!("scope names have 1 to {MAX_SCOPE_LEN} characters"),
        ));
    }
    if !v
        .bytes()
        .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
    {
        return Err(FieldError::new(
            field,
            "not an RFC 6749 scope token (printable ASCII without space, '\"' or '\\')",
        ));
    }
    Ok(v.to_owned())
}

/// A username: 1 to 64 of `a-z 0-9 . _ @ + -`, compared case-insensitively (stored lower-case).
pub fn username(field: &str, v: &str) -> Result<String, FieldError> {
    let lower = v.trim().to_ascii_lowercase();
    if lower.is_empty() || lower.len() > 64 {
        return Err(FieldError::new(field, "1 to 64 characters"));
    }
    if !lower.bytes().all(|b| {
        b.is_ascii_lowercase()
            || b.is_ascii_digit()
            || matches!(b, b'.' | b'_' | b'@' | b'+' | b'-')
    }) {
        return Err(FieldError::new(field, "letters, digits and . _ @ + - only"));
    }
    Ok(lower)
}

/// A resource server identifier in canonical form (the token audience): an absolute https URL
/// (http only for loopback hosts), no fragment, no query, no userinfo; scheme and host
/// lower-cased, default port dropped; no trailing slash unless the path is `/` (an empty path
/// becomes `/`, as URL parsers in MCP clients render it).
pub fn resource_identifier(field: &str, v: &str) -> Result<String, FieldError> {
    canonical_resource(v).map_err(|m| FieldError::new(field, m))
}

/// Canonicalises a resource indicator (RFC 8707 §2) for registration or lookup.
pub fn canonical_resource(v: &str) -> Result<String, &'static str> {
    let u = AbsoluteUri::parse(v).map_err(|e| e.0)?;
    if u.fragment.is_some() {
        return Err("must not contain a fragment (RFC 8707 §2)");
    }
    if u.query.is_some() {
        return Err("must not contain a query");
    }
    match (u.scheme.as_str(), u.host.is_some()) {
        ("https", true) => {}
        ("http", true) if u.is_loopback() => {}
        _ => return Err("must be an https URL (http only for loopback hosts)"),
    }
    let path = u.path.trim_end_matches('/');
    let path = if path.is_empty() { "/" } else { path };
    Ok(format!("{}{}", u.origin(), path))
}

/// An MCP tool name or prefix pattern (see `mcpgate_guard::mcp::policy::check_tool_pattern`).
pub fn tool_pattern(field: &str, v: &str) -> Result<String, FieldError> {
    mcpgate_guard::mcp::policy::check_tool_pattern(v).map_err(|m| FieldError::new(field, m))?;
    Ok(v.to_owned())
}

/// `deny` or `allow`: what a gateway does with a tool no scope covers.
pub fn unmapped_tools(field: &str, v: &str) -> Result<String, FieldError> {
    match v {
        "deny" | "allow" => Ok(v.to_owned()),
        _ => Err(FieldError::new(field, "must be \"deny\" or \"allow\"")),
    }
}

/// A list of at most [`MAX_LIST`] items, each validated.
pub fn list<T>(
    field: &str,
    items: &[String],
    each: impl Fn(&str, &str) -> Result<T, FieldError>,
) -> Result<Vec<T>, FieldError> {
    if items.len() > MAX_LIST {
        return Err(FieldError::new(field, format!("at most {MAX_LIST} items")));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, v)| each(&format!("{field}[{i}]"), v))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_identifiers_are_canonical() {
        let c = |s| canonical_resource(s).unwrap();
        assert_eq!(
            c("HTTPS://MCP.Example.com/mcp/"),
            "https://mcp.example.com/mcp"
        );
        assert_eq!(c("https://mcp.example.com"), "https://mcp.example.com/");
        assert_eq!(c("https://mcp.example.com/"), "https://mcp.example.com/");
        assert_eq!(
            c("https://mcp.example.com:443/a"),
            "https://mcp.example.com/a"
        );
        assert_eq!(c("http://127.0.0.1:9000/mcp"), "http://127.0.0.1:9000/mcp");
        assert!(canonical_resource("https://a.example/#frag").is_err());
        assert!(canonical_resource("https://a.example/?q=1").is_err());
        assert!(canonical_resource("http://a.example/").is_err());
        assert!(canonical_resource("urn:x:y").is_err());
    }

    #[test]
    fn rfc6749_scope_token_syntax() {
        assert!(scope_token("s", "notes.read").is_ok());
        assert!(scope_token("s", "notes:admin/x!").is_ok());
        for bad in ["", "a b", "a\"b", "a\\b", "é"] {
            assert!(scope_token("s", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn usernames_are_lowercased_and_restricted() {
        assert_eq!(
            username("u", " Alice@Example.com ").unwrap(),
            "alice@example.com"
        );
        assert!(username("u", "a b").is_err());
        assert!(username("u", "").is_err());
    }

    #[test]
    fn list_errors_name_the_index() {
        let err = list("scopes", &["ok".into(), "bad one".into()], scope_token).unwrap_err();
        assert_eq!(err.field, "scopes[1]");
    }
}
