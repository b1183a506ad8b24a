//! One orchestrator per endpoint: parse, check, store, mint, respond.

pub mod admin;
pub mod jwks;
pub mod metadata;
