//! Authorization server metadata (RFC 8414 §2, §3) and OpenID Provider discovery.
//!
//! One document serves every location; it advertises only what is implemented, and a test in
//! `service` checks each advertised endpoint answers.

use http::StatusCode;
use serde::Serialize;

use crate::config::Config;
use crate::wire::{cors, json, public_cache, Response};

/// Path of the JWKS below the issuer.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// Seconds clients may cache metadata.
pub const METADATA_MAX_AGE: u32 = 3600;

/// The metadata document.
#[derive(Debug, Serialize)]
pub struct Metadata {
    /// RFC 8414 §2 `issuer`.
    pub issuer: String,
    /// `jwks_uri`.
    pub jwks_uri: String,
    /// `response_types_supported` (REQUIRED by RFC 8414; empty until /authorize exists).
    pub response_types_supported: Vec<&'static str>,
    /// `grant_types_supported`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub grant_types_supported: Vec<&'static str>,
    /// Signing algorithms, for OpenID discovery consumers.
    pub id_token_signing_alg_values_supported: Vec<&'static str>,
    /// `subject_types_supported` (OpenID discovery, REQUIRED there).
    pub subject_types_supported: Vec<&'static str>,
}

impl Metadata {
    /// The document for this deployment.
    pub fn for_config(config: &Config) -> Self {
        Metadata {
            issuer: config.issuer.clone(),
            jwks_uri: format!("{}{}", config.issuer, JWKS_PATH),
            response_types_supported: vec![],
            grant_types_supported: vec![],
            id_token_signing_alg_values_supported: vec![mcpgate_guard::claims::ALG_ES256],
            subject_types_supported: vec!["public"],
        }
    }
}

/// GET handler for every metadata location.
pub fn get(config: &Config) -> Response {
    let doc = Metadata::for_config(config);
    cors(public_cache(json(StatusCode::OK, &doc), METADATA_MAX_AGE))
}
