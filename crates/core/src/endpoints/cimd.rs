//! Client ID Metadata Documents (MCP authorization spec, draft-ietf-oauth-client-id-metadata-document):
//! a `client_id` that is an https URL names a JSON document describing the client.
//!
//! The document is fetched only from https URLs with a DNS host (no IP literals as any URL
//! parser would read them, no loopback or private-looking names, no trailing dot), without
//! following redirects, at most [`MAX_DOCUMENT`] bytes within [`TIMEOUT_MS`]; its `client_id`
//! must equal the URL exactly and its redirect URIs pass the rules of dynamic registration. It
//! is cached in KV for its `Cache-Control: max-age`, clamped to
//! [`MIN_CACHE_SECS`]..=[`MAX_CACHE_SECS`]; a failure is cached for [`NEGATIVE_CACHE_SECS`].
//! Fetches (cache misses) are rate limited per source and overall. A cache hit writes nothing
//! to D1. What the user sees of a failure never repeats the upstream's status, network error
//! or content (no oracle for probing networks through mcpgate).
//! The client is recorded as a `clients` row of kind `metadata` (so admins see, restrict,
//! disable and delete it like any client); on first sight it is restricted to the resource
//! servers that accept self-registered clients at that moment.

use serde::Deserialize;
use serde_json::json;

use crate::config::Registration;
use crate::directory::clients::{self, Client, GRANT_CODE, GRANT_REFRESH};
use crate::outbound::Fetched;
use crate::policy::redirect::{self, AppType};
use crate::store::{rate_counters, Store};
use crate::uri::AbsoluteUri;

/// Largest document accepted (bytes).
pub const MAX_DOCUMENT: usize = 5 * 1024;
/// Fetch timeout (milliseconds).
pub const TIMEOUT_MS: u32 = 3000;
/// Cache lifetime bounds (seconds).
pub const MIN_CACHE_SECS: i64 = 60;
/// Upper bound of the cache lifetime (seconds).
pub const MAX_CACHE_SECS: i64 = 86_400;
/// Cache lifetime when the document says nothing (seconds).
pub const DEFAULT_CACHE_SECS: i64 = 300;
/// How long a failed fetch is remembered (seconds; KV's floor).
pub const NEGATIVE_CACHE_SECS: i64 = 60;
/// Document fetches per source address (IPv6: per /64) and hour.
pub const FETCHES_PER_SOURCE_PER_HOUR: i64 = 30;
/// Document fetches per hour overall.
pub const FETCHES_PER_HOUR: i64 = 1000;

/// The cached value that marks a failed fetch.
const NEGATIVE: &str = "!";
/// What the user is told when the document could not be used, whatever the reason.
const UNAVAILABLE: &str =
    "The application's client metadata document could not be retrieved or is not valid.";

/// True if a `client_id` names a metadata document (an absolute URL).
pub fn is_document_url(client_id: &str) -> bool {
    client_id.starts_with("https://") || client_id.starts_with("http://")
}

/// Checks the URL itself; the error explains the refusal.
pub fn check_url(url: &str, policy: &Registration) -> Result<AbsoluteUri, String> {
    let u =
        AbsoluteUri::parse(url).map_err(|e| format!("the client_id is not a valid URL: {e}"))?;
    let host = u.host.clone().unwrap_or_default();
    let http_loopback =
        u.scheme == "http" && u.is_loopback() && policy.allow_http_loopback_documents;
    if u.scheme != "https" && !http_loopback {
        return Err("client metadata documents must be served over https".into());
    }
    if u.fragment.is_some() {
        return Err("the client_id URL must not contain a fragment".into());
    }
    if u.path.is_empty() || u.path == "/" {
        return Err("the client_id URL must have a path".into());
    }
    if host.ends_with('.') {
        return Err("the client_id URL's host must not end with a dot".into());
    }
    if !http_loopback {
        let private = host == "localhost"
            || host.ends_with(".localhost")
            || host.ends_with(".local")
            || host.ends_with(".internal")
            || host.ends_with(".lan")
            || !host.contains('.');
        if u.host_is_ip() || private {
            return Err(
                "client metadata documents are not fetched from IP addresses or private hosts"
                    .into(),
            );
        }
    }
    let on = |d: &String| host == *d || host.ends_with(&format!(".{d}"));
    if policy.deny_domains.iter().any(on) {
        return Err("clients from this domain are not accepted".into());
    }
    if !policy.allow_domains.is_empty() && !policy.allow_domains.iter().any(on) {
        return Err("clients from this domain are not accepted".into());
    }
    Ok(u)
}

#[derive(Deserialize)]
struct Document {
    client_id: String,
    #[serde(default)]
    client_name: Option<String>,
    redirect_uris: Vec<String>,
    #[serde(default)]
    grant_types: Option<Vec<String>>,
    #[serde(default)]
    token_endpoint_auth_method: Option<String>,
    #[serde(default)]
    client_uri: Option<String>,
    #[serde(default)]
    logo_uri: Option<String>,
    #[serde(default)]
    application_type: Option<String>,
}

/// `max-age` from a Cache-Control header, clamped; `None` for `no-store`/`no-cache`.
fn cache_secs(cc: Option<&str>) -> Option<i64> {
    let Some(cc) = cc else {
        return Some(DEFAULT_CACHE_SECS);
    };
    let lower = cc.to_ascii_lowercase();
    if lower.contains("no-store") || lower.contains("no-cache") {
        return None;
    }
    let age = lower
        .split(',')
        .filter_map(|d| d.trim().strip_prefix("max-age="))
        .filter_map(|v| v.trim().parse::<i64>().ok())
        .next()
        .unwrap_or(DEFAULT_CACHE_SECS);
    Some(age.clamp(MIN_CACHE_SECS, MAX_CACHE_SECS))
}

fn parse(url: &str, body: &[u8]) -> Result<Document, String> {
    // The parser's message could quote the body: it is not shown.
    let doc: Document = serde_json::from_slice(body).map_err(|_| UNAVAILABLE.to_owned())?;
    if doc.client_id != url {
        return Err("the client metadata document's client_id does not match its URL".into());
    }
    match doc.token_endpoint_auth_method.as_deref() {
        None | Some("none") => {}
        Some(m) => return Err(format!("token_endpoint_auth_method {m} is not supported for metadata-document clients; use none")),
    }
    if doc.redirect_uris.is_empty() || doc.redirect_uris.len() > 20 {
        return Err("the client metadata document needs 1 to 20 redirect_uris".into());
    }
    let app = match doc.application_type.as_deref() {
        None | Some("native") => AppType::Native,
        Some("web") => AppType::Web,
        Some(_) => return Err("application_type must be web or native".into()),
    };
    for (i, uri) in doc.redirect_uris.iter().enumerate() {
        // The same rules as dynamic registration (no javascript:, data:, fragments,
        // wildcards, non-loopback http ...).
        redirect::check_registration(uri, app)
            .map_err(|why| format!("redirect_uris[{i}] of the client metadata document: {why}"))?;
    }
    if let Some(g) = &doc.grant_types {
        if !g.iter().any(|g| g == GRANT_CODE) {
            return Err("the client metadata document does not allow authorization_code".into());
        }
    }
    Ok(doc)
}

/// Why a metadata-document client could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CimdError {
    /// Refused: the message is for the error page (never upstream detail).
    Refused(String),
    /// The store failed: try again later.
    Unavailable,
}

impl From<String> for CimdError {
    fn from(message: String) -> Self {
        CimdError::Refused(message)
    }
}

/// Resolves a metadata-document client: from the KV cache (then only read from the directory,
/// never written, unless an admin deleted it meanwhile) or the network (rate limited per
/// `source`, failures cached), then recorded in the directory. `Err` carries a message for the
/// error page, never upstream detail.
pub async fn resolve<S: Store + ?Sized>(
    store: &S,
    url: &str,
    policy: &Registration,
    source: &str,
    now: i64,
) -> Result<Client, CimdError> {
    if !policy.metadata_documents {
        return Err(CimdError::Refused(
            "this server does not accept client metadata documents".into(),
        ));
    }
    check_url(url, policy)?;
    let key = format!("cimd:{}", crate::secret::sha256_b64(url.as_bytes()));
    let unavailable = |_| CimdError::Unavailable;
    match store.cache_get(&key, now).await.ok().flatten() {
        Some(v) if v == NEGATIVE => Err(CimdError::Refused(UNAVAILABLE.into())),
        Some(body) => {
            let doc = parse(url, body.as_bytes())?;
            match clients::get_row(store, url).await.map_err(unavailable)? {
                Some(c) => Ok(c),
                None => record(store, url, &doc, now).await,
            }
        }
        None => {
            let over = rate_counters::count(
                store,
                &[
                    (&format!("cimd:src:{source}"), FETCHES_PER_SOURCE_PER_HOUR),
                    ("cimd:all", FETCHES_PER_HOUR),
                ],
                3600,
                now,
            )
            .await
            .map_err(unavailable)?;
            if over.is_some() {
                return Err(CimdError::Refused(
                    "Too many new applications were looked up from here; try again later.".into(),
                ));
            }
            let fetched = store.fetch(url, MAX_DOCUMENT, TIMEOUT_MS).await;
            let doc = match fetched {
                Ok(Fetched {
                    status: 200,
                    cache_control,
                    body,
                }) => parse(url, &body).map(|doc| (doc, cache_control, body)),
                _ => Err(UNAVAILABLE.to_owned()),
            };
            let (doc, cache_control, body) = match doc {
                Ok(d) => d,
                Err(why) => {
                    let _ = store
                        .cache_put(&key, NEGATIVE, NEGATIVE_CACHE_SECS, now)
                        .await;
                    return Err(CimdError::Refused(why));
                }
            };
            if let Some(ttl) = cache_secs(cache_control.as_deref()) {
                let text = String::from_utf8_lossy(&body).into_owned();
                let _ = store.cache_put(&key, &text, ttl, now).await;
            }
            record(store, url, &doc, now).await
        }
    }
}

/// Records (or refreshes) a metadata-document client in the directory; on first sight it is
/// restricted to the resource servers that accept self-registered clients at that moment.
async fn record<S: Store + ?Sized>(
    store: &S,
    url: &str,
    doc: &Document,
    now: i64,
) -> Result<Client, CimdError> {
    let name = doc
        .client_name
        .as_deref()
        .map(|n| {
            n.chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect::<String>()
        })
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| url.to_owned());
    let mut grants = vec![GRANT_CODE.to_owned()];
    if doc
        .grant_types
        .as_ref()
        .is_some_and(|g| g.iter().any(|g| g == GRANT_REFRESH))
    {
        grants.push(GRANT_REFRESH.to_owned());
    }
    let metadata = json!({
        "client_name": name,
        "client_uri": doc.client_uri,
        "logo_uri": doc.logo_uri,
        "redirect_uris": doc.redirect_uris,
        "grant_types": grants,
        "application_type": doc.application_type.as_deref().unwrap_or("native"),
    });
    let existing = clients::get_row(store, url).await.ok().flatten();
    let changed_at = match &existing {
        Some(c) => clients::redirects_changed_at(c, &doc.redirect_uris, now),
        None => None,
    };
    store
        .batch(vec![clients::upsert_metadata_client_stmt(
            &clients::MetadataClient {
                url,
                name: &name,
                redirect_uris: &doc.redirect_uris,
                grant_types: &grants,
                metadata,
                redirect_uris_changed_at: changed_at,
                now,
            },
        )])
        .await
        .map_err(|_| CimdError::Unavailable)?;
    clients::get_row(store, url)
        .await
        .ok()
        .flatten()
        .ok_or(CimdError::Unavailable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Registration {
        Registration {
            open: true,
            initial_access_token: None,
            per_source_per_hour: 1,
            global_per_hour: 1,
            unused_days: 1,
            metadata_documents: true,
            allow_domains: vec![],
            deny_domains: vec!["evil.example".into()],
            allow_http_loopback_documents: false,
        }
    }

    #[test]
    fn only_https_dns_hosts_with_a_path_are_fetched() {
        let p = policy();
        assert!(check_url("https://app.example.com/client.json", &p).is_ok());
        for bad in [
            "http://app.example.com/client.json",
            "https://127.0.0.1/client.json",
            "https://[::1]/client.json",
            "https://localhost/client.json",
            "https://printer.local/c.json",
            "https://intranet/c.json",
            "https://app.example.com/",
            "https://app.example.com/c.json#x",
            "https://sub.evil.example/c.json",
            "http://127.0.0.1:9000/client.json",
        ] {
            assert!(check_url(bad, &p).is_err(), "{bad}");
        }
        let mut testing = policy();
        testing.allow_http_loopback_documents = true;
        assert!(check_url("http://127.0.0.1:9000/client.json", &testing).is_ok());
        let mut allow = policy();
        allow.allow_domains = vec!["example.com".into()];
        assert!(check_url("https://app.example.com/c.json", &allow).is_ok());
        assert!(check_url("https://app.example.org/c.json", &allow).is_err());
    }

    #[test]
    fn cache_lifetime_follows_cache_control_within_bounds() {
        assert_eq!(cache_secs(None), Some(DEFAULT_CACHE_SECS));
        assert_eq!(cache_secs(Some("public, max-age=600")), Some(600));
        assert_eq!(cache_secs(Some("max-age=5")), Some(MIN_CACHE_SECS));
        assert_eq!(cache_secs(Some("max-age=9999999")), Some(MAX_CACHE_SECS));
        assert_eq!(cache_secs(Some("no-store")), None);
    }

    #[test]
    fn the_document_must_name_itself() {
        let url = "https://app.example.com/c.json";
        let ok = br#"{"client_id":"https://app.example.com/c.json","redirect_uris":["http://127.0.0.1/cb"]}"#;
        assert!(parse(url, ok).is_ok());
        let other = br#"{"client_id":"https://other.example.com/c.json","redirect_uris":["http://127.0.0.1/cb"]}"#;
        assert!(parse(url, other).is_err());
        let jwt = br#"{"client_id":"https://app.example.com/c.json","redirect_uris":["x"],"token_endpoint_auth_method":"private_key_jwt"}"#;
        assert!(parse(url, jwt).is_err());
    }
}
