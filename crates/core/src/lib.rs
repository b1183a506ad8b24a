//! # mcpgate-core
//!
//! The protocol core of mcpgate, an OAuth 2.1 authorization server for MCP servers and clients.
//! Everything that decides anything lives here; the Worker glue converts types, reads bindings
//! and implements the store traits. The crate has no runtime: time (`now`), randomness (an RNG
//! argument), signatures ([`crypto::Crypto`]) and storage ([`store`]) are inputs, so the whole
//! service runs natively in tests with a fixed clock and a seeded RNG.
//!
//! The README lists the standards implemented and where each lives.

// The admin API's response schemas are one `json!` literal, deeper than the default limit.
#![recursion_limit = "256"]

pub mod config;
pub mod crypto;
pub mod directory;
pub mod endpoints;
pub mod federation;
pub mod grants;
pub mod issue;
pub mod jwt;
pub mod keys;
pub mod outbound;
pub mod password;
pub mod policy;
pub mod revocation;
pub mod secret;
pub mod service;
pub mod session;
pub mod store;
pub mod ui;
pub mod uri;
pub mod wire;

#[cfg(any(test, feature = "test-util"))]
pub mod testing;

pub use config::Config;
pub use service::Service;
