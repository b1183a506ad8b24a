//! # mcpgate-guard
//!
//! What an MCP server needs to enforce mcpgate's decisions locally, without calling mcpgate on
//! the request path:
//! - [`claims`]: the access-token claims contract (RFC 9068 + RFC 8693 `act`), shared with the
//!   issuer so the two never drift;
//! - [`jwk`]: ES256 public keys, JWK sets and RFC 7638 thumbprints;
//! - [`token`]: parsing, signature verification and claim checks.
//!
//! The crate never logs and never panics; no token or key material appears in its errors.

pub mod claims;
pub mod jwk;
pub mod token;

pub use claims::{AccessClaims, Actor, Audience};
pub use jwk::{EcPublicJwk, JwkSet};
pub use token::{check_claims, Expectations, ParsedToken, TokenError, VerifiedToken};

/// Re-exported so users name the same `Claims` type the crate returns.
pub use jwt_compact::Claims;
