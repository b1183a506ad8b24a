//! One orchestrator per endpoint: parse, check, store, mint, respond.

pub mod account;
pub mod admin;
pub mod authorize;
pub mod cimd;
pub mod client_auth;
pub mod console;
pub mod feed;
pub mod introspect;
pub mod jwks;
pub mod metadata;
pub mod own_token;
pub mod policy;
pub mod register;
pub mod target;
pub mod token;

use http::header;

use crate::wire::form::Params;
use crate::wire::{Error, Request};

/// True if the request's `Content-Type` essence (parameters ignored) is `expected`.
pub fn media_type_is(req: &Request, expected: &str) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(expected))
}

/// Parses an `application/x-www-form-urlencoded` body (RFC 6749 §3.2); other media types are
/// `invalid_request`.
pub fn form_body(req: &Request) -> Result<Params, Error> {
    if !media_type_is(req, "application/x-www-form-urlencoded") {
        return Err(Error::InvalidRequest(
            "the body must be application/x-www-form-urlencoded".into(),
        ));
    }
    Params::parse(req.body())
}

/// The caller's address as rate limits key it: `CF-Connecting-IP`, with IPv6 sources reduced to
/// their /64 (one subscriber usually holds a whole /64, so counting single IPv6 addresses would
/// let one host rotate through 2^64 of them) and IPv4-mapped IPv6 written as IPv4. `unknown` when
/// the header is missing or not an address.
pub fn source_address(req: &Request) -> String {
    let raw = req
        .headers()
        .get("cf-connecting-ip")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .trim();
    rate_key_of_address(raw)
}

/// See [`source_address`].
pub fn rate_key_of_address(raw: &str) -> String {
    use std::net::IpAddr;
    match raw.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Err(_) => "unknown".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::rate_key_of_address as key;

    #[test]
    fn ipv6_sources_are_counted_by_their_64_prefix() {
        assert_eq!(key("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2:ffff::1"), key("2001:db8:1:2::9"));
        assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
        assert_eq!(key("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(key("203.0.113.7"), "203.0.113.7");
        assert_eq!(key(""), "unknown");
        assert_eq!(key("not an address; drop table"), "unknown");
    }
}
