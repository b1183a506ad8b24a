//! Redirect URIs: what may be registered (OAuth 2.1 §2.3.1, RFC 8252 §7, RFC 9700 §4.1) and how
//! a requested URI matches a registered one (exact string match, except that loopback
//! redirects match on any port, RFC 8252 §7.3).

use crate::uri::AbsoluteUri;

/// Kind of client, which decides the schemes it may use (RFC 7591 `application_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppType {
    /// Browser-based or server-side: https only (http for loopback hosts in development).
    Web,
    /// Installed apps: also loopback http (any port) and private-use schemes.
    Native,
}

/// Schemes never acceptable as a redirect target.
const FORBIDDEN_SCHEMES: &[&str] = &[
    "javascript",
    "data",
    "file",
    "vbscript",
    "about",
    "blob",
    "ftp",
    "ws",
    "wss",
];

/// Validates a redirect URI for registration; returns it unchanged when acceptable.
pub fn check_registration(uri: &str, app: AppType) -> Result<String, String> {
    let u = AbsoluteUri::parse(uri).map_err(|e| format!("not an absolute URI: {e}"))?;
    if u.fragment.is_some() {
        return Err("must not contain a fragment".into());
    }
    if uri.contains('*') {
        return Err("wildcards are not allowed".into());
    }
    if FORBIDDEN_SCHEMES.contains(&u.scheme.as_str()) {
        return Err(format!("the {} scheme is not allowed", u.scheme));
    }
    match (u.scheme.as_str(), app) {
        ("https", _) => {
            if u.host.is_none() {
                return Err("https redirect URIs need a host".into());
            }
            Ok(uri.to_owned())
        }
        ("http", _) if u.is_loopback() => Ok(uri.to_owned()),
        ("http", _) => {
            Err("http is allowed only for loopback hosts (127.0.0.1, [::1], localhost)".into())
        }
        (scheme, AppType::Native) => {
            // RFC 8252 §7.1: private-use schemes are reverse domain names, e.g. com.example.app.
            if !scheme.contains('.') {
                return Err("private-use URI schemes must be reverse domain names (RFC 8252 §7.1), e.g. com.example.app".into());
            }
            Ok(uri.to_owned())
        }
        (scheme, AppType::Web) => Err(format!(
            "the {scheme} scheme is allowed only for native applications"
        )),
    }
}

/// True if `requested` matches one of `registered`: exactly, or for loopback http redirects,
/// on everything but the port.
pub fn matches(registered: &[String], requested: &str) -> bool {
    if registered.iter().any(|r| r == requested) {
        return true;
    }
    let Ok(req) = AbsoluteUri::parse(requested) else {
        return false;
    };
    if req.scheme != "http" || !req.is_loopback() {
        return false;
    }
    registered.iter().any(|r| {
        AbsoluteUri::parse(r).is_ok_and(|reg| {
            reg.scheme == "http"
                && reg.is_loopback()
                && reg.host == req.host
                && reg.path == req.path
                && reg.query == req.query
                && reg.fragment.is_none()
                && req.fragment.is_none()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_https_loopback_and_native_private_use_schemes() {
        assert!(check_registration("https://app.example/cb", AppType::Web).is_ok());
        assert!(check_registration("http://127.0.0.1:3000/cb", AppType::Web).is_ok());
        assert!(check_registration("http://[::1]/cb", AppType::Native).is_ok());
        assert!(check_registration("http://localhost:1234/cb", AppType::Native).is_ok());
        assert!(check_registration("com.example.app:/oauth2redirect", AppType::Native).is_ok());
    }

    #[test]
    fn rejects_fragments_wildcards_and_dangerous_schemes() {
        for (uri, app) in [
            ("https://app.example/cb#x", AppType::Web),
            ("https://*.example/cb", AppType::Web),
            ("javascript:alert(1)", AppType::Native),
            ("data:text/html,x", AppType::Native),
            ("http://app.example/cb", AppType::Web),
            ("myapp:/cb", AppType::Native),
            ("com.example.app:/cb", AppType::Web),
            ("not a uri", AppType::Web),
        ] {
            assert!(check_registration(uri, app).is_err(), "{uri}");
        }
    }

    #[test]
    fn rfc8252_loopback_redirects_match_any_port() {
        let reg = vec![
            "http://127.0.0.1/callback".to_string(),
            "https://app.example/cb".to_string(),
        ];
        assert!(matches(&reg, "http://127.0.0.1:51004/callback"));
        assert!(matches(&reg, "http://127.0.0.1/callback"));
        assert!(!matches(&reg, "http://127.0.0.1:51004/other"));
        assert!(
            !matches(&reg, "http://localhost:51004/callback"),
            "host must match"
        );
        assert!(matches(&reg, "https://app.example/cb"));
        assert!(
            !matches(&reg, "https://app.example:444/cb"),
            "non-loopback needs exact match"
        );
        assert!(!matches(&reg, "https://app.example/cb/"));
        assert!(
            !matches(&reg, "https://APP.example/cb"),
            "exact string comparison"
        );
    }
}
