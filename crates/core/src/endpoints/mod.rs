//! One orchestrator per endpoint: parse, check, store, mint, respond.

pub mod account;
pub mod admin;
pub mod authorize;
pub mod cimd;
pub mod client_auth;
pub mod feed;
pub mod introspect;
pub mod jwks;
pub mod metadata;
pub mod own_token;
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
