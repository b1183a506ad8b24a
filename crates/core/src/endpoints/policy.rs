//! `GET /resource-policy?resource=<identifier>`: a resource server's tool map, public, for
//! gateways and MCP servers that enforce per-tool scopes (contract:
//! `mcpgate_guard::mcp::PolicyDocument`).
//!
//! The document names the resource, its scopes (`scopes_supported`), what each implies and the
//! tools each covers, and what happens to a tool no scope covers. It says nothing a client
//! could not learn from the protected resource metadata and the consent page, so it needs no
//! credentials. Answers carry a content `ETag` (a conditional request is answered 304) and a
//! public max-age of [`POLICY_MAX_AGE`]: a change in the directory reaches a gateway within that
//! plus the gateway's own refresh interval.

use crate::directory::{resource_servers, validate};
use crate::endpoints::feed::public_with_etag;
use crate::store::Database;
use crate::wire::{Error, Request, Response};

/// Path below the issuer.
pub const PATH: &str = "/resource-policy";
/// Seconds a policy may be cached.
pub const POLICY_MAX_AGE: u32 = 10;

/// `GET /resource-policy?resource=…`.
pub async fn get<D: Database + ?Sized>(db: &D, req: &Request) -> Result<Response, Error> {
    let params = crate::endpoints::admin::query(req);
    let resource = match params.as_slice() {
        [(k, v)] if k == "resource" => v,
        _ => {
            return Err(Error::InvalidRequest(
                "the only parameter is resource, exactly once".into(),
            ))
        }
    };
    let identifier = validate::canonical_resource(resource)
        .map_err(|m| Error::InvalidRequest(format!("resource {m}")))?;
    let doc = resource_servers::policy(db, &identifier)
        .await?
        .ok_or(Error::NoSuch("resource server"))?;
    let body = serde_json::to_vec(&doc).unwrap_or_default();
    let digest = crate::secret::sha256_b64(&body);
    let etag = format!("\"{}\"", digest.get(..27).unwrap_or(&digest));
    Ok(public_with_etag(
        req,
        &etag,
        POLICY_MAX_AGE,
        Some((body, "application/json")),
    ))
}
