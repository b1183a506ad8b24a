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
/// Path of the token endpoint below the issuer.
pub const TOKEN_PATH: &str = "/token";
/// Path of the introspection endpoint (RFC 7662).
pub const INTROSPECT_PATH: &str = "/introspect";
/// Path of the revocation endpoint (RFC 7009).
pub const REVOKE_PATH: &str = "/revoke";

/// Seconds clients may cache metadata.
pub const METADATA_MAX_AGE: u32 = 3600;

/// The metadata document.
#[derive(Debug, Serialize)]
pub struct Metadata {
    /// RFC 8414 §2 `issuer`.
    pub issuer: String,
    /// `jwks_uri`.
    pub jwks_uri: String,
    /// RFC 7591 `registration_endpoint` (when registration is open).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_endpoint: Option<String>,
    /// Client ID Metadata Documents (MCP authorization spec).
    pub client_id_metadata_document_supported: bool,
    /// `authorization_endpoint`.
    pub authorization_endpoint: String,
    /// `token_endpoint`.
    pub token_endpoint: String,
    /// `token_endpoint_auth_methods_supported`.
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    /// The signed revocation feed for offline validators (mcpgate extension).
    pub revocation_feed_endpoint: String,
    /// Resource servers' tool maps for gateways, `?resource=<identifier>` (mcpgate extension).
    pub resource_policy_endpoint: String,
    /// RFC 7662 `introspection_endpoint`.
    pub introspection_endpoint: String,
    /// Its authentication methods.
    pub introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    /// RFC 7009 `revocation_endpoint`.
    pub revocation_endpoint: String,
    /// Its authentication methods.
    pub revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    /// `response_types_supported`.
    pub response_types_supported: Vec<&'static str>,
    /// `response_modes_supported`.
    pub response_modes_supported: Vec<&'static str>,
    /// PKCE methods: S256 only.
    pub code_challenge_methods_supported: Vec<&'static str>,
    /// RFC 9207.
    pub authorization_response_iss_parameter_supported: bool,

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
            registration_endpoint: config
                .registration
                .open
                .then(|| format!("{}{}", config.issuer, super::register::PATH)),
            client_id_metadata_document_supported: config.registration.metadata_documents,
            authorization_endpoint: format!("{}{}", config.issuer, super::authorize::PATH),
            token_endpoint: format!("{}{}", config.issuer, TOKEN_PATH),
            token_endpoint_auth_methods_supported: vec![
                "client_secret_basic",
                "client_secret_post",
                "none",
            ],
            revocation_feed_endpoint: format!("{}{}", config.issuer, super::feed::PATH),
            resource_policy_endpoint: format!("{}{}", config.issuer, super::policy::PATH),
            introspection_endpoint: format!("{}{}", config.issuer, INTROSPECT_PATH),
            introspection_endpoint_auth_methods_supported: vec![
                "client_secret_basic",
                "client_secret_post",
            ],
            revocation_endpoint: format!("{}{}", config.issuer, REVOKE_PATH),
            revocation_endpoint_auth_methods_supported: vec![
                "client_secret_basic",
                "client_secret_post",
                "none",
            ],
            response_types_supported: vec!["code"],
            response_modes_supported: vec!["query"],
            code_challenge_methods_supported: vec!["S256"],
            authorization_response_iss_parameter_supported: true,
            grant_types_supported: vec![
                "authorization_code",
                "refresh_token",
                "client_credentials",
                "urn:ietf:params:oauth:grant-type:token-exchange",
                crate::directory::clients::GRANT_JWT_BEARER,
            ],
            id_token_signing_alg_values_supported: vec![mcpgate_guard::claims::ALG_ES256],
            subject_types_supported: vec!["public"],
        }
    }
}

/// `GET /.well-known/oauth-protected-resource{issuer path}/admin/v1`: the admin API's
/// protected resource metadata (RFC 9728), where its 401 challenges point.
pub fn admin_resource(config: &Config) -> Response {
    let doc = super::admin::bootstrap::metadata(&config.issuer);
    cors(public_cache(json(StatusCode::OK, &doc), METADATA_MAX_AGE))
}

/// GET handler for every authorization server metadata location (RFC 8414 and OpenID).
pub fn get(config: &Config) -> Response {
    let doc = Metadata::for_config(config);
    cors(public_cache(json(StatusCode::OK, &doc), METADATA_MAX_AGE))
}
