//! OAuth 2.0 Protected Resource Metadata (RFC 9728): the document an MCP server publishes so
//! clients can discover which authorization server (mcpgate) protects it.

use serde::{Deserialize, Serialize};

/// The well-known URI suffix of protected resource metadata (RFC 9728 §3).
pub const PRM_WELL_KNOWN_PATH: &str = "/.well-known/oauth-protected-resource";

/// Why a resource identifier cannot yield a metadata URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceUrlError {
    /// Not an `https://` (or, for local development, `http://`) URL.
    NotHttp,
    /// No host.
    MissingHost,
    /// Resource identifiers must not have a fragment (RFC 9728 §1.2, RFC 8707 §2).
    HasFragment,
}

impl std::fmt::Display for ResourceUrlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ResourceUrlError::NotHttp => "resource is not an https URL",
            ResourceUrlError::MissingHost => "resource has no host",
            ResourceUrlError::HasFragment => "resource has a fragment",
        })
    }
}

impl std::error::Error for ResourceUrlError {}

/// The URL of a resource's metadata (RFC 9728 §3.1): the well-known suffix is inserted between
/// the host component and the path and/or query components, after removing a terminating `/`
/// that directly follows the host.
///
/// `https://mcp.example.com/mcp` → `https://mcp.example.com/.well-known/oauth-protected-resource/mcp`;
/// `https://mcp.example.com/` → `https://mcp.example.com/.well-known/oauth-protected-resource`.
pub fn protected_resource_metadata_url(resource: &str) -> Result<String, ResourceUrlError> {
    if resource.contains('#') {
        return Err(ResourceUrlError::HasFragment);
    }
    let (scheme, rest) = resource
        .split_once("://")
        .ok_or(ResourceUrlError::NotHttp)?;
    if !scheme.eq_ignore_ascii_case("https") && !scheme.eq_ignore_ascii_case("http") {
        return Err(ResourceUrlError::NotHttp);
    }
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, mut tail) = rest.split_at(split);
    if authority.is_empty() {
        return Err(ResourceUrlError::MissingHost);
    }
    if let Some(t) = tail
        .strip_prefix('/')
        .filter(|t| t.is_empty() || t.starts_with('?'))
    {
        tail = t;
    }
    Ok(format!("{scheme}://{authority}{PRM_WELL_KNOWN_PATH}{tail}"))
}

/// A protected resource metadata document (RFC 9728 §2), served as `application/json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtectedResourceMetadata {
    /// The resource identifier: the MCP server's canonical URL (RFC 9728 §2, RFC 8707).
    pub resource: String,
    /// Issuer identifiers of the authorization servers (RFC 9728 §2).
    pub authorization_servers: Vec<String>,
    /// Scopes used to call this resource (RFC 9728 §2, RECOMMENDED).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    /// How tokens may be presented: only the `Authorization` header (RFC 6750 §2.1).
    pub bearer_methods_supported: Vec<String>,
    /// Human-readable name (RFC 9728 §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
    /// URL of developer documentation (RFC 9728 §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_documentation: Option<String>,
}

impl ProtectedResourceMetadata {
    /// Metadata for `resource` protected by the mcpgate deployment `issuer`, with
    /// `bearer_methods_supported: ["header"]`.
    pub fn new(resource: impl Into<String>, issuer: impl Into<String>) -> Self {
        ProtectedResourceMetadata {
            resource: resource.into(),
            authorization_servers: vec![issuer.into()],
            scopes_supported: Vec::new(),
            bearer_methods_supported: vec!["header".into()],
            resource_name: None,
            resource_documentation: None,
        }
    }

    /// Sets `scopes_supported` (e.g. from
    /// [`ScopePolicy::scopes_supported`](crate::scope::ScopePolicy::scopes_supported)).
    pub fn with_scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes_supported = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Sets `resource_name`.
    pub fn with_resource_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// Sets `resource_documentation`.
    pub fn with_resource_documentation(mut self, url: impl Into<String>) -> Self {
        self.resource_documentation = Some(url.into());
        self
    }

    /// The well-known URL to serve this document at.
    pub fn well_known_url(&self) -> Result<String, ResourceUrlError> {
        protected_resource_metadata_url(&self.resource)
    }

    /// The JSON document.
    pub fn to_json(&self) -> String {
        // Strings and vectors of strings always serialize.
        serde_json::to_string(self).unwrap_or_default()
    }
}
