//! A deliberately strict parser for the absolute URIs mcpgate handles (issuer, resource
//! identifiers, redirect URIs, client metadata URLs), after RFC 3986 §3.
//!
//! Stricter than the RFC on purpose: ASCII only (internationalised hosts must arrive in
//! punycode), no whitespace or control characters, no backslashes, no userinfo. Anything
//! ambiguous is rejected rather than normalised, so two parsers cannot disagree about it.

use std::net::{Ipv4Addr, Ipv6Addr};

/// A parsed absolute URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbsoluteUri {
    /// Lower-cased scheme.
    pub scheme: String,
    /// Lower-cased host, if there is an authority (IPv6 literals keep their brackets).
    pub host: Option<String>,
    /// Explicit port, if any.
    pub port: Option<u16>,
    /// Path, as written (may be empty).
    pub path: String,
    /// Query without the `?`.
    pub query: Option<String>,
    /// Fragment without the `#`.
    pub fragment: Option<String>,
}

/// Why a string is not an acceptable absolute URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriError(pub &'static str);

impl std::fmt::Display for UriError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// Longest URI accepted (bytes).
pub const MAX_URI_LEN: usize = 2048;

impl AbsoluteUri {
    /// Parses an absolute URI.
    pub fn parse(s: &str) -> Result<Self, UriError> {
        if s.is_empty() || s.len() > MAX_URI_LEN {
            return Err(UriError("empty or too long"));
        }
        if !s.bytes().all(|b| b.is_ascii_graphic()) || s.contains('\\') {
            return Err(UriError(
                "contains whitespace, control, backslash or non-ASCII characters",
            ));
        }
        let (scheme, rest) = s.split_once(':').ok_or(UriError("missing scheme"))?;
        let mut chars = scheme.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
        if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')) {
            return Err(UriError("invalid scheme"));
        }
        let (rest, fragment) = match rest.split_once('#') {
            Some((r, f)) => (r, Some(f.to_owned())),
            None => (rest, None),
        };
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q.to_owned())),
            None => (rest, None),
        };
        let (host, port, path) = match rest.strip_prefix("//") {
            Some(after) => {
                let (authority, path) = match after.find('/') {
                    Some(i) => after.split_at(i),
                    None => (after, ""),
                };
                let (host, port) = parse_authority(authority)?;
                (Some(host), port, path.to_owned())
            }
            None => (None, None, rest.to_owned()),
        };
        Ok(AbsoluteUri {
            scheme: scheme.to_ascii_lowercase(),
            host,
            port,
            path,
            query,
            fragment,
        })
    }

    /// `scheme://host[:port]`, leaving out the scheme's default port.
    pub fn origin(&self) -> String {
        let host = self.host.as_deref().unwrap_or_default();
        match self.port {
            Some(p) if Some(p) != default_port(&self.scheme) => {
                format!("{}://{}:{}", self.scheme, host, p)
            }
            _ => format!("{}://{}", self.scheme, host),
        }
    }

    /// True for `localhost`, `127.0.0.0/8` and `[::1]` (RFC 8252 §7.3).
    pub fn is_loopback(&self) -> bool {
        match self.host.as_deref() {
            Some("localhost") => true,
            Some(h) => {
                if let Some(v6) = h.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
                    v6.parse::<Ipv6Addr>().is_ok_and(|a| a.is_loopback())
                } else {
                    h.parse::<Ipv4Addr>().is_ok_and(|a| a.is_loopback())
                }
            }
            None => false,
        }
    }

    /// True if a browser or the Workers runtime would read the host as an IP address: an IPv6
    /// literal, or any host the WHATWG URL parser treats as IPv4 — its last label (after one
    /// trailing dot) is a number in decimal, octal (`0` prefix) or hex (`0x` prefix), so
    /// `127.1`, `0x7f.0.0.1`, `2130706433`, `017700000001` and `127.0.0.1.` all count.
    pub fn host_is_ip(&self) -> bool {
        self.host.as_deref().is_some_and(host_is_ip_literal)
    }

    /// Canonical string form: lower-cased scheme and host, default port dropped, everything
    /// else as written.
    pub fn to_canonical(&self) -> String {
        let mut out = if self.host.is_some() {
            self.origin()
        } else {
            format!("{}:", self.scheme)
        };
        out.push_str(&self.path);
        if let Some(q) = &self.query {
            out.push('?');
            out.push_str(q);
        }
        if let Some(f) = &self.fragment {
            out.push('#');
            out.push_str(f);
        }
        out
    }
}

/// See [`AbsoluteUri::host_is_ip`] (the WHATWG URL standard's "ends in a number" check, plus
/// bracketed IPv6).
pub fn host_is_ip_literal(host: &str) -> bool {
    if host.starts_with('[') {
        return true;
    }
    let mut labels: Vec<&str> = host.split('.').collect();
    if labels.len() > 1 && labels.last() == Some(&"") {
        labels.pop();
    }
    let Some(last) = labels.last() else {
        return false;
    };
    if !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()) {
        return true;
    }
    // A WHATWG IPv4 number: 0x/0X followed by hex digits (possibly none).
    last.strip_prefix("0x")
        .or_else(|| last.strip_prefix("0X"))
        .is_some_and(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "https" => Some(443),
        "http" => Some(80),
        _ => None,
    }
}

fn parse_authority(authority: &str) -> Result<(String, Option<u16>), UriError> {
    if authority.contains('@') {
        return Err(UriError("userinfo is not allowed"));
    }
    let (host, port) = if let Some(after) = authority.strip_prefix('[') {
        let (v6, tail) = after
            .split_once(']')
            .ok_or(UriError("unterminated IPv6 literal"))?;
        v6.parse::<Ipv6Addr>()
            .map_err(|_| UriError("invalid IPv6 literal"))?;
        let port = match tail {
            "" => None,
            t => Some(t.strip_prefix(':').ok_or(UriError("invalid authority"))?),
        };
        (format!("[{}]", v6.to_ascii_lowercase()), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_ascii_lowercase(), Some(p)),
            None => (authority.to_ascii_lowercase(), None),
        }
    };
    if host.is_empty() {
        return Err(UriError("missing host"));
    }
    if !host.starts_with('[')
        && !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~'))
    {
        return Err(UriError("invalid host"));
    }
    let port = match port {
        None => None,
        Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
            Some(p.parse::<u16>().map_err(|_| UriError("invalid port"))?)
        }
        Some(_) => return Err(UriError("invalid port")),
    };
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_components_and_lowercases_scheme_and_host() {
        let u = AbsoluteUri::parse("HTTPS://MCP.Example.com:8443/Path/X?a=B#Frag").unwrap();
        assert_eq!(u.scheme, "https");
        assert_eq!(u.host.as_deref(), Some("mcp.example.com"));
        assert_eq!(u.port, Some(8443));
        assert_eq!(u.path, "/Path/X");
        assert_eq!(u.query.as_deref(), Some("a=B"));
        assert_eq!(u.fragment.as_deref(), Some("Frag"));
        assert_eq!(
            u.to_canonical(),
            "https://mcp.example.com:8443/Path/X?a=B#Frag"
        );
    }

    #[test]
    fn default_port_is_dropped_from_the_origin() {
        let u = AbsoluteUri::parse("https://a.example:443/x").unwrap();
        assert_eq!(u.origin(), "https://a.example");
    }

    #[test]
    fn private_use_scheme_has_no_authority() {
        let u = AbsoluteUri::parse("com.example.app:/oauth2redirect").unwrap();
        assert_eq!(u.scheme, "com.example.app");
        assert_eq!(u.host, None);
        assert_eq!(u.path, "/oauth2redirect");
        assert_eq!(u.to_canonical(), "com.example.app:/oauth2redirect");
    }

    #[test]
    fn loopback_hosts_per_rfc8252() {
        for s in [
            "http://127.0.0.1:1234/cb",
            "http://[::1]/cb",
            "http://localhost:9/cb",
            "http://127.9.9.9/",
        ] {
            assert!(AbsoluteUri::parse(s).unwrap().is_loopback(), "{s}");
        }
        for s in [
            "http://example.com/",
            "http://10.0.0.1/",
            "http://localhost.evil.com/",
        ] {
            assert!(!AbsoluteUri::parse(s).unwrap().is_loopback(), "{s}");
        }
    }

    #[test]
    fn hosts_a_url_parser_would_read_as_ip_addresses_are_ip_literals() {
        for h in [
            "127.0.0.1",
            "127.1",
            "0x7f.0.0.1",
            "0x7f.1",
            "2130706433",
            "017700000001",
            "127.0.0.1.",
            "10.0.0.1",
            "0x",
            "0xA9FEA9FE",
            "[::ffff:127.0.0.1]",
            "[::1]",
            "example.0x10",
            "a.b.1",
        ] {
            assert!(host_is_ip_literal(h), "{h}");
        }
        for h in [
            "example.com",
            "example.com.",
            "1e100.net",
            "0xcafe.example",
            "x1",
            "localhost",
            "a.b1",
        ] {
            assert!(!host_is_ip_literal(h), "{h}");
        }
    }

    #[test]
    fn rejects_ambiguous_or_dangerous_forms() {
        for s in [
            "",
            "no-scheme",
            "1http://x",
            "https://user@host/",
            "https://ho st/",
            "https://host\\@evil/",
            "https://hÖst/",
            "https://host:99999/",
            "https://host:/",
            "https://[::1/",
            "https:///path",
            "https://a.example/\n",
        ] {
            assert!(AbsoluteUri::parse(s).is_err(), "{s:?} should be rejected");
        }
    }
}
