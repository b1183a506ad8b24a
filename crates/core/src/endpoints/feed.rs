//! The revocation feed for offline validators (contract: `mcpgate_guard::revocation`).
//!
//! `GET /revocations` serves the KV revocation list ([`crate::revocation`]: immutable
//! segments of [`SEGMENT`] log numbers plus a head) as a JWS signed with the token-signing key
//! (`typ: revocations+jwt`), verifiable with the JWKS, one page at a time:
//! - without `since`, the full snapshot's first page (`full: true`): the oldest segment that
//!   still holds a live entry;
//! - `?since=<seq>`: the changes after the cursor, starting at the segment boundary at or
//!   before it (so every cursor within a segment gets the same, cacheable page);
//! - each page is at most one segment, and says `more: true` when the next page follows at
//!   once (`?since=<seq>` of this page).
//!
//! A request reads the head and at most one segment: its cost follows what changed since the
//! cursor, whatever the number of live revocations. Responses carry a content `ETag` (a
//! conditional request is answered 304 without signing) and a short public max-age. The payload
//! is the contract's own type, `mcpgate_guard::revocation::RevocationFeed`.

use http::{header, HeaderValue, StatusCode};
use mcpgate_guard::revocation::{RevocationFeed, REVOCATIONS_PATH, REVOCATIONS_TYP};
use rand_core::CryptoRngCore;

use crate::crypto::Crypto;
use crate::revocation::{Entry, Head, Logged, SEGMENT};
use crate::service::Service;
use crate::store::Store;
use crate::wire::{Error, Request, Response};

/// Path of the feed below the issuer (the contract's).
pub const PATH: &str = REVOCATIONS_PATH;
/// Seconds validators and the edge may cache a feed response.
pub const FEED_MAX_AGE: u32 = 5;

/// `GET /revocations[?since=<seq>]`. No other parameter is accepted, so a request cannot be
/// varied to dodge caches.
pub async fn get<S: Store + ?Sized, C: Crypto>(
    svc: &Service<'_, S, C>,
    req: &Request,
    now: i64,
    rng: &mut dyn CryptoRngCore,
) -> Result<Response, Error> {
    let since = since_param(req)?;
    let head = svc.store.head().await?.unwrap_or_default();
    let page = page_for(&head, since, now);
    // The page alone decides the content (a sealed segment never changes; the open one is
    // fixed by the head's cursor), so it is the cache key: callers cannot vary it. A URL under
    // the issuer that no request is ever answered from.
    let key = format!(
        "{}{PATH}/.page/{}/{}/{}/{}/{}",
        svc.config.issuer, page.segment, page.full, page.since, page.seq, page.more
    );
    let (body, etag) = match svc.store.cached_page(&key, now).await {
        Some((body, etag)) => (Some(body), etag),
        None => {
            let entries = page_entries(svc, &head, &page, now).await?;
            let digest = crate::secret::sha256_b64(
                serde_json::to_string(&(page.full, page.since, page.seq, page.more, &entries))
                    .unwrap_or_default()
                    .as_bytes(),
            );
            let etag = format!("\"{}\"", digest.get(..27).unwrap_or(&digest));
            if if_none_match(req, &etag) {
                (None, etag)
            } else {
                let doc = Signed {
                    full: page.full,
                    since: page.since,
                    seq: page.seq,
                    more: page.more,
                    entries,
                };
                let jws = sign(svc, doc, now, rng).await?;
                svc.store
                    .keep_page(&key, &jws, &etag, FEED_MAX_AGE, now)
                    .await;
                (Some(jws), etag)
            }
        }
    };
    Ok(public_with_etag(
        req,
        &etag,
        FEED_MAX_AGE,
        body.map(|jws| (jws.into_bytes(), "application/revocations+jwt")),
    ))
}

/// A public, briefly cacheable answer with a content `ETag`: 304 without a body when the
/// request's `If-None-Match` names it (or when `body` is `None`, already known to match), else
/// 200 with `body` and its content type. The feed's and the policy's.
pub(crate) fn public_with_etag(
    req: &Request,
    etag: &str,
    max_age: u32,
    body: Option<(Vec<u8>, &'static str)>,
) -> Response {
    let mut resp = match body.filter(|_| !if_none_match(req, etag)) {
        None => {
            let mut r = Response::new(Vec::new());
            *r.status_mut() = StatusCode::NOT_MODIFIED;
            r
        }
        Some((bytes, content_type)) => {
            let mut r = Response::new(bytes);
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            r
        }
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        h.insert(header::CACHE_CONTROL, v);
    }
    resp
}

/// The request's cursor: `since`, the only parameter, at most once (so a request cannot be
/// varied to dodge caches).
fn since_param(req: &Request) -> Result<Option<u64>, Error> {
    let params = crate::endpoints::admin::query(req);
    if params.iter().any(|(k, _)| k != "since") || params.len() > 1 {
        return Err(Error::InvalidRequest(
            "the only parameter is since, at most once".into(),
        ));
    }
    params
        .first()
        .map(|(_, s)| {
            s.parse::<u64>()
                .map_err(|_| Error::InvalidRequest("since must be a non-negative integer".into()))
        })
        .transpose()
}

/// True if the request's `If-None-Match` names `etag`.
fn if_none_match(req: &Request, etag: &str) -> bool {
    req.headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().trim_start_matches("W/") == etag)
        })
}

/// The live entries of a page: the open segment's from the head, a sealed one's from KV
/// ([`page_for`] picks only sealed segments that still hold a live entry).
async fn page_entries<S: Store + ?Sized, C: Crypto>(
    svc: &Service<'_, S, C>,
    head: &Head,
    page: &Page,
    now: i64,
) -> Result<Vec<Entry>, Error> {
    if page.segment >= head.sealed {
        return Ok(live(&head.open, now));
    }
    let segment = svc
        .store
        .segment(page.segment, now)
        .await?
        // Written before the head that names it, but KV may show them out of order at another
        // location for a while: the validator keeps its state and retries.
        .ok_or_else(|| {
            Error::Store(crate::store::StoreError::Backend(format!(
                "revocation segment {} not visible here yet",
                page.segment
            )))
        })?;
    Ok(live(&segment.entries, now))
}

/// The entries of `logged` that have not expired at `now`.
fn live(logged: &[Logged], now: i64) -> Vec<Entry> {
    logged
        .iter()
        .filter(|l| l.entry.expires_at > now)
        .map(|l| l.entry.clone())
        .collect()
}

/// Which page answers a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// The segment it serves (`head.sealed` or more: the open one, from the head).
    pub segment: u64,
    /// A full snapshot's first page.
    pub full: bool,
    /// The cursor the page starts after (0 for a full page).
    pub since: u64,
    /// The cursor after it.
    pub seq: u64,
    /// Whether the next page follows at once.
    pub more: bool,
}

/// The page for a cursor. A cursor ahead of the head (another history, or a clock-based
/// cursor of the old feed) gets the full snapshot; one in a segment with nothing live left
/// starts at the first live one (the segments between hold nothing to send).
pub fn page_for(head: &Head, since: Option<u64>, now: i64) -> Page {
    let (full, from) = match since.filter(|s| *s <= head.seq) {
        None => (true, None),
        Some(s) => (false, Some(s / SEGMENT)),
    };
    let start = from.unwrap_or(0);
    let since = from.map_or(0, |k| k * SEGMENT);
    // The first sealed segment at or after the cursor's that still holds a live entry: the
    // ones before it hold nothing to send (nothing live was sealed in them, or all of it has
    // expired and KV has dropped them), so the page covers them too.
    let sealed = head
        .live
        .iter()
        .find(|(k, exp)| *k >= start && *k < head.sealed && *exp > now)
        .map(|(k, _)| *k);
    if let Some(segment) = sealed {
        let seq = (segment + 1) * SEGMENT;
        Page {
            segment,
            full,
            since,
            seq,
            more: seq < head.seq,
        }
    } else {
        Page {
            segment: head.sealed,
            full,
            since,
            seq: head.seq,
            more: false,
        }
    }
}

/// What a signed feed document says, before the issuer and time are added.
pub struct Signed {
    /// A full snapshot's first page.
    pub full: bool,
    /// The cursor the entries start after.
    pub since: u64,
    /// The cursor after them.
    pub seq: u64,
    /// Whether the next page follows at once.
    pub more: bool,
    /// The entries.
    pub entries: Vec<Entry>,
}

/// Signs a feed document (a page, or a pushed event) with the token-signing key.
pub async fn sign<S: Store + ?Sized, C: Crypto>(
    svc: &Service<'_, S, C>,
    doc: Signed,
    now: i64,
    rng: &mut dyn CryptoRngCore,
) -> Result<String, Error> {
    let key = svc.key_cache.get(svc.store, svc.kek, rng, now).await?;
    let feed = RevocationFeed {
        iss: svc.config.issuer.clone(),
        iat: now,
        seq: doc.seq,
        full: doc.full,
        since: doc.since,
        more: doc.more,
        entries: doc.entries,
    };
    crate::jwt::sign_compact(svc.crypto, &key, REVOCATIONS_TYP, &feed)
        .await
        .map_err(|e| Error::Internal(e.to_string()))
}

/// The push channel's events for what one publish brought (`fresh`, in log order, after
/// cursor `before`): signed incremental feed documents of at most [`SEGMENT`] entries each,
/// chained (each one's `since` is the previous one's `seq`), so a subscriber applies them like
/// feed pages and detects a gap as a `since` beyond its cursor.
pub async fn push_events<S: Store + ?Sized, C: Crypto>(
    svc: &Service<'_, S, C>,
    before: u64,
    fresh: &[Logged],
    now: i64,
    rng: &mut dyn CryptoRngCore,
) -> Result<Vec<String>, Error> {
    let mut out = Vec::new();
    let mut since = before;
    let chunk = usize::try_from(SEGMENT).unwrap_or(usize::MAX);
    for part in fresh.chunks(chunk) {
        let seq = part.last().map_or(since, |l| l.seq);
        let doc = Signed {
            full: false,
            since,
            seq,
            more: false,
            entries: live(part, now),
        };
        out.push(sign(svc, doc, now, rng).await?);
        since = seq;
    }
    Ok(out)
}

/// The event a subscriber gets on connecting: the open segment's live entries, from its start
/// (a subscriber whose cursor is older sees a gap and reads the feed's pages instead).
pub async fn catch_up_event<S: Store + ?Sized, C: Crypto>(
    svc: &Service<'_, S, C>,
    head: &Head,
    now: i64,
    rng: &mut dyn CryptoRngCore,
) -> Result<String, Error> {
    let doc = Signed {
        full: false,
        since: head.sealed * SEGMENT,
        seq: head.seq,
        more: false,
        entries: live(&head.open, now),
    };
    sign(svc, doc, now, rng).await
}

/// Path of the push channel below the issuer (a WebSocket).
pub const SUBSCRIBE_PATH: &str = mcpgate_guard::revocation::REVOCATIONS_SUBSCRIBE_PATH;

/// Who may open the push channel: a confidential client authenticating with HTTP Basic whom an
/// admin allowed to introspect the tokens of at least one resource server (the right a
/// validator of that server holds). Anyone else is refused before the hub is involved, so the
/// hub's fan-out serves only known validators. Returns the client's id.
pub async fn authorize_subscriber<S: Store + ?Sized, C: Crypto>(
    svc: &Service<'_, S, C>,
    req: &Request,
) -> Result<String, Error> {
    since_param(req)?;
    let presented = crate::endpoints::client_auth::presented(req, &Default::default())?;
    if presented.method != crate::directory::clients::AuthMethod::ClientSecretBasic {
        return Err(Error::InvalidClient { basic: true });
    }
    let client = crate::endpoints::client_auth::check(
        &presented,
        crate::directory::clients::get_row(svc.store, &presented.client_id).await?,
    )?;
    let rights = crate::directory::clients::introspection_rights(svc.store, &client.id).await?;
    if rights.is_empty() {
        return Err(Error::UnauthorizedClient(
            "no administrator has allowed this client to introspect tokens of any resource server"
                .into(),
        ));
    }
    Ok(client.id)
}
