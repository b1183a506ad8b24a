//! A provider's documents, fetched through [`Outbound`] and cached in KV (discovery for an hour,
//! the JWKS for ten minutes, fetched again at most once a minute when a token names a key the
//! cached set lacks), the code exchange at its token endpoint, and the verification of a JWS it
//! signed.

use serde::{Deserialize, Serialize};

use super::oidc::{self, Discovery, Jwks, Refused, Signature};
use crate::crypto::Crypto;
use crate::outbound::Outbound;

/// Discovery documents are cached this long (seconds).
pub const DISCOVERY_TTL_SECS: i64 = 3600;
/// JWKS are cached this long (seconds).
pub const JWKS_TTL_SECS: i64 = 600;
/// A JWKS is fetched again for an unknown key id at most this often (seconds).
pub const JWKS_REFETCH_SECS: i64 = 60;
/// Most bytes read from a provider's documents and token endpoint.
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;
/// Time allowed to each call to a provider (milliseconds).
pub const TIMEOUT_MS: u32 = 5000;

/// Why talking to a provider failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamError {
    /// The provider could not be reached or answered with an error status.
    Unreachable(String),
    /// What it answered is refused.
    Refused(Refused),
}

impl std::fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpstreamError::Unreachable(m) => write!(f, "the identity provider is unreachable: {m}"),
            UpstreamError::Refused(r) => write!(f, "{r}"),
        }
    }
}

impl From<Refused> for UpstreamError {
    fn from(r: Refused) -> Self {
        UpstreamError::Refused(r)
    }
}

async fn get_json<O: Outbound + ?Sized>(out: &O, url: &str) -> Result<Vec<u8>, UpstreamError> {
    let f = out
        .fetch(url, MAX_DOCUMENT_BYTES, TIMEOUT_MS)
        .await
        .map_err(|e| UpstreamError::Unreachable(e.to_string()))?;
    if f.status != 200 {
        return Err(UpstreamError::Unreachable(format!("HTTP {}", f.status)));
    }
    Ok(f.body)
}

/// A provider's discovery document (cached).
pub async fn discovery<O: Outbound + ?Sized>(
    out: &O,
    issuer: &str,
    now: i64,
) -> Result<Discovery, UpstreamError> {
    let key = format!(
        "oidc:discovery:{}",
        crate::secret::sha256_b64(issuer.as_bytes())
    );
    if let Ok(Some(cached)) = out.cache_get(&key, now).await {
        if let Ok(d) = serde_json::from_str::<Discovery>(&cached) {
            return Ok(d);
        }
    }
    let body = get_json(out, &oidc::discovery_url(issuer)).await?;
    let d = oidc::parse_discovery(issuer, &body)?;
    if let Ok(json) = serde_json::to_string(&d) {
        let _ = out.cache_put(&key, &json, DISCOVERY_TTL_SECS, now).await;
    }
    Ok(d)
}

#[derive(Serialize, Deserialize)]
struct CachedJwks {
    fetched_at: i64,
    body: String,
}

async fn jwks<O: Outbound + ?Sized>(
    out: &O,
    uri: &str,
    now: i64,
    refetch: bool,
) -> Result<Jwks, UpstreamError> {
    let key = format!("oidc:jwks:{}", crate::secret::sha256_b64(uri.as_bytes()));
    let cached = match out.cache_get(&key, now).await {
        Ok(Some(c)) => serde_json::from_str::<CachedJwks>(&c).ok(),
        _ => None,
    };
    if let Some(c) = &cached {
        if !refetch || now - c.fetched_at < JWKS_REFETCH_SECS {
            if let Ok(set) = oidc::parse_jwks(c.body.as_bytes()) {
                return Ok(set);
            }
        }
    }
    let body = get_json(out, uri).await?;
    let set = oidc::parse_jwks(&body)?;
    let entry = CachedJwks {
        fetched_at: now,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    if let Ok(json) = serde_json::to_string(&entry) {
        let _ = out.cache_put(&key, &json, JWKS_TTL_SECS, now).await;
    }
    Ok(set)
}

/// Verifies a compact JWS against the keys at `jwks_uri`; returns its header and payload.
pub async fn verify_jws<O: Outbound + ?Sized, C: Crypto + ?Sized>(
    out: &O,
    crypto: &C,
    jwks_uri: &str,
    compact: &str,
    now: i64,
) -> Result<(oidc::Header, Vec<u8>), UpstreamError> {
    let jws = oidc::split(compact)?;
    let mut set = jwks(out, jwks_uri, now, false).await?;
    let mut outcome = oidc::verify(crypto, &jws, &set).await;
    if outcome == Signature::UnknownKey {
        set = jwks(out, jwks_uri, now, true).await?;
        outcome = oidc::verify(crypto, &jws, &set).await;
    }
    match outcome {
        Signature::Valid => Ok((jws.header, jws.payload)),
        Signature::UnknownKey => {
            Err(Refused("the token is signed with an unknown key".into()).into())
        }
        Signature::Invalid => Err(Refused("the token's signature is not valid".into()).into()),
    }
}

/// How mcpgate authenticates to a provider's token endpoint.
pub enum ClientAuth<'a> {
    /// A public client: `client_id` in the body, PKCE only.
    None,
    /// `client_secret_basic` (RFC 6749 §2.3.1: both parts form-encoded first).
    Basic(&'a str),
    /// `client_secret_post`.
    Post(&'a str),
}

impl<'a> ClientAuth<'a> {
    /// The method for a secret (if any) at a token endpoint advertising `methods` (basic when
    /// it advertises nothing, as the discovery spec's default says).
    pub fn choose(secret: Option<&'a str>, methods: &[String]) -> Self {
        match secret {
            None => ClientAuth::None,
            Some(s) => {
                let has = |m: &str| methods.iter().any(|x| x == m);
                if has("client_secret_post") && !has("client_secret_basic") {
                    ClientAuth::Post(s)
                } else {
                    ClientAuth::Basic(s)
                }
            }
        }
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    id_token: Option<String>,
}

/// Redeems an authorization code at the provider; returns the ID token (the provider's access
/// and refresh tokens are dropped here: they never reach MCP clients, nor storage).
pub async fn redeem<O: Outbound + ?Sized>(
    out: &O,
    token_endpoint: &str,
    client_id: &str,
    auth: &ClientAuth<'_>,
    code: &str,
    redirect_uri: &str,
    verifier: &str,
) -> Result<String, UpstreamError> {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "authorization_code")
        .append_pair("code", code)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("code_verifier", verifier);
    let mut authorization = None;
    match auth {
        ClientAuth::None => {
            form.append_pair("client_id", client_id);
        }
        ClientAuth::Post(secret) => {
            form.append_pair("client_id", client_id)
                .append_pair("client_secret", secret);
        }
        ClientAuth::Basic(secret) => {
            use base64::Engine as _;
            let enc = |v: &str| form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
            let raw = format!("{}:{}", enc(client_id), enc(secret));
            authorization = Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(raw)
            ));
        }
    }
    let body = form.finish();
    let f = out
        .post_form(
            token_endpoint,
            &body,
            authorization.as_deref(),
            MAX_DOCUMENT_BYTES,
            TIMEOUT_MS,
        )
        .await
        .map_err(|e| UpstreamError::Unreachable(e.to_string()))?;
    if f.status != 200 {
        let error = serde_json::from_slice::<serde_json::Value>(&f.body)
            .ok()
            .and_then(|v| {
                v.get("error")
                    .and_then(|e| e.as_str())
                    .map(|e| e.chars().take(64).collect::<String>())
            })
            .unwrap_or_else(|| format!("HTTP {}", f.status));
        return Err(Refused(format!("the provider refused the code ({error})")).into());
    }
    let t: TokenResponse = serde_json::from_slice(&f.body)
        .map_err(|_| Refused("the provider's token response is not valid".into()))?;
    t.id_token
        .ok_or_else(|| Refused("the provider returned no ID token".into()).into())
}
