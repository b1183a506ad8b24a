//! Federation: people sign in with an upstream OpenID Connect provider while mcpgate stays the
//! authorization server that decides scopes, audiences and consent. [`oidc`] holds the pure
//! checks (discovery, JWKS, ID token); [`upstream`] fetches and caches a provider's documents
//! through the [`crate::outbound::Outbound`] passed in. The browser leg is
//! `endpoints/authorize/upstream.rs`.

pub mod oidc;
pub mod upstream;
