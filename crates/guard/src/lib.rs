//! # mcpgate-guard
//!
//! What an MCP server needs to enforce mcpgate's decisions locally, without calling mcpgate on
//! the request path:
//!
//! - [`claims`]: the access-token claims contract (RFC 9068 + RFC 8693 `act`), shared with the
//!   issuer so the two never drift;
//! - [`jwk`]: ES256 public keys, JWK sets and RFC 7638 thumbprints;
//! - [`token`]: parsing, signature verification and claim checks, step by step;
//! - [`validator`]: the I/O-free [`Validator`] that runs all checks against a cached key set, the
//!   revocation state and a verified-token cache (synchronously, or awaiting an asynchronous
//!   signature backend such as WebCrypto);
//! - [`guard`]: the async [`Guard`] that keeps the JWKS ([`jwks`]) and the revocation feed
//!   ([`revocation`]) fresh through a pluggable [`Fetch`] ([`fetch`]);
//! - [`scope`]: tool → scope requirements with scope hierarchies;
//! - [`challenge`] and [`metadata`]: RFC 6750 / RFC 9728 challenges and protected resource
//!   metadata;
//! - [`mcp`]: MCP-aware decisions for a gateway: the tool map, SEP-2243 header checks,
//!   `tools/list` filtering and the identity assertion sent upstream;
//! - [`backend`]: ES256 backends: pure-Rust p256, (feature `ring`) ring, or (feature `workers`
//!   on wasm32) the runtime's WebCrypto, `crypto.subtle`.
//!
//! ## Features
//!
//! | feature | adds |
//! | --- | --- |
//! | `ring` | [`Backend::Ring`], the default backend when enabled (native targets) |
//! | `native` | [`fetch::native::ReqwestFetch`] (reqwest + rustls, tokio) |
//! | `push` | [`push`]: revocation push for native servers (WebSocket, tokio) |
//! | `workers-push` | `relay`: revocation push on Workers through a relay Durable Object |
//! | `workers` | [`fetch::workers::WorkersFetch`] and, on `wasm32` only, `Backend::WebCrypto` (`crypto.subtle`), the default backend there (Cloudflare Workers, `wasm32-unknown-unknown`) |
//!
//! The crate never logs, never panics, and never reads a clock (time is passed in; the one
//! exception is the `workers-push` relay, runtime glue that times its reconnects and its
//! isolates' questions with the Workers clock); no token or key material appears in its errors.

#![warn(missing_docs)]

pub mod backend;
mod cache;
pub mod challenge;
pub mod claims;
pub mod error;
pub mod fetch;
pub mod guard;
pub mod jwk;
pub mod jwks;
mod jws;
pub mod mcp;
pub mod metadata;
#[cfg(feature = "push")]
pub mod push;
#[cfg(feature = "workers-push")]
#[allow(missing_docs)]
// the Durable Object macro's generated glue; the module's own items are documented
pub mod relay;
pub mod revocation;
pub mod scope;
mod sync;
pub mod token;
pub mod validator;

pub use backend::{AsyncVerifier, Backend, KeySet, VerifierKey, VerifierUnavailable};
pub use challenge::{bearer_token, Challenge, Challenges, WWW_AUTHENTICATE};
pub use claims::{AccessClaims, Actor, Audience};
pub use error::RefreshError;
pub use fetch::{Fetch, FetchError, FetchResponse};
pub use guard::{Guard, GuardConfig, GuardStatus};
pub use jwk::{EcPublicJwk, JwkSet};
pub use jwks::JwksPolicy;
pub use metadata::{protected_resource_metadata_url, ProtectedResourceMetadata};
pub use revocation::{RevocationEntry, RevocationFeed, RevocationKind, RevocationState};
pub use scope::{ScopeError, ScopePolicy};
pub use token::{check_claims, Expectations, ParsedToken, TokenError, VerifiedToken};
pub use validator::{Validator, ValidatorConfig};

/// Re-exported so users name the same `Claims` type the crate returns.
pub use jwt_compact::Claims;

/// Compiles the README's example as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
