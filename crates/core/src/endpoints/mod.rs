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
pub mod register;
pub mod target;
pub mod token;

use http::header;

use crate::wire::form::Params;
use crate::wire::{Error, Request};

/// Parses an `application/x-www-form-urlencoded` body (RFC 6749 §3.2); other media types are
/// `invalid_request`.
pub fn form_body(req: &Request) -> Result<Params, Error> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let essence = ct.split(';').next().unwrap_or_default().trim();
    if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(Error::InvalidRequest(
            "the body must be application/x-www-form-urlencoded".into(),
        ));
    }
    Params::parse(req.body())
}
