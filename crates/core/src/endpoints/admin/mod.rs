//! The admin API, `/admin/v1/...`: JSON over HTTP for the directory, keys, permissions
//! explanations and the audit log. Authentication is the bootstrap admin credential.
//!
//! Conventions: bodies are `application/json` with unknown fields rejected; lists are
//! keyset-paginated (`?limit=1..200&cursor=...`, response `{"items": [...], "next_cursor": ...}`);
//! errors are the error table's JSON (`error`, `error_description`, `field`) with 400/401/404/409/413/415; every
//! change writes an audit record in the same transaction.

pub mod bootstrap;
pub mod clients;
pub mod groups;
pub mod identity_providers;
pub mod keys;
pub mod openapi;
pub mod resource_servers;
pub mod roles;
mod routes;
pub mod users;

use http::{Method, StatusCode};
use rand_core::CryptoRngCore;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::config::Config;
use crate::crypto::Crypto;
use crate::directory::validate::FieldError;
use crate::stmt;
use crate::store::{decode, Database};
use crate::wire::{json, no_store, Error, Request, Response};

pub use openapi::response_schema;
pub use routes::{dispatch, find as routes_find, Op, Route, ROUTES};

/// Path prefix of the admin API below the issuer.
pub const PREFIX: &str = "/admin/v1";

/// Default and maximum page sizes.
pub const DEFAULT_PAGE: i64 = 50;
/// Largest page.
pub const MAX_PAGE: i64 = 200;

/// Everything an admin handler needs.
pub struct Ctx<'a, D: ?Sized, C> {
    /// The registry.
    pub db: &'a D,
    /// Crypto (password hashing, signing).
    pub crypto: &'a C,
    /// Configuration.
    pub config: &'a Config,
    /// The clock.
    pub now: i64,
    /// Randomness.
    pub rng: &'a mut dyn CryptoRngCore,
    /// Who is acting, for the audit log.
    pub actor: String,
    /// The key-encryption key (key operations).
    pub kek: &'a crate::keys::KeyEncryptionKey,
}

impl<D: ?Sized, C: Crypto> Ctx<'_, D, C> {
    /// A fresh id with `prefix`.
    pub fn id(&mut self, prefix: &str) -> String {
        crate::directory::new_id(prefix, self.rng)
    }
}

/// Parses a JSON body into `T`, rejecting other media types and unknown fields, and naming the
/// failing field.
pub fn body<T: DeserializeOwned>(req: &Request) -> Result<T, Error> {
    if !crate::endpoints::media_type_is(req, "application/json") {
        return Err(Error::UnsupportedMediaType("application/json"));
    }
    let de = &mut serde_json::Deserializer::from_slice(req.body());
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let text = inner.to_string();
        let (field, message) = match unknown_field(&text) {
            Some(name) => (name, unknown_field_message(&text)),
            None if path == "." || path == "?" => {
                ("body".to_owned(), strip_position(&inner.to_string()))
            }
            None => (path, strip_position(&inner.to_string())),
        };
        Error::InvalidField(FieldError::new(field, message))
    })
}

fn unknown_field(msg: &str) -> Option<String> {
    let rest = msg.strip_prefix("unknown field `")?;
    rest.split('`').next().map(str::to_owned)
}

/// "unknown field; accepted fields: a, b" from serde's "unknown field `x`, expected one of `a`,
/// `b`" (or "expected `a`", or "there are no fields").
fn unknown_field_message(msg: &str) -> String {
    let msg = strip_position(msg);
    let accepted: Vec<&str> = msg
        .split_once("expected")
        .map(|(_, list)| list.split('`').skip(1).step_by(2).collect())
        .unwrap_or_default();
    if accepted.is_empty() {
        "unknown field; this request takes no fields".to_owned()
    } else {
        format!("unknown field; accepted fields: {}", accepted.join(", "))
    }
}

fn strip_position(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg.get(..i).unwrap_or(msg).to_owned(),
        None => msg.to_owned(),
    }
}

/// Query parameters of a request.
pub fn query(req: &Request) -> Vec<(String, String)> {
    form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// One query parameter.
pub fn query_param(req: &Request, name: &str) -> Option<String> {
    query(req)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// Keyset pagination parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Page size.
    pub limit: i64,
    /// Return items strictly after this key.
    pub after: String,
}

/// Reads `limit` and `cursor`.
pub fn page(req: &Request) -> Result<Page, Error> {
    let limit = match query_param(req, "limit") {
        None => DEFAULT_PAGE,
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| FieldError::new("limit", format!("an integer from 1 to {MAX_PAGE}")))?,
    };
    let after = match query_param(req, "cursor") {
        None => String::new(),
        Some(c) => decode_cursor(&c).ok_or_else(|| FieldError::new("cursor", "invalid cursor"))?,
    };
    Ok(Page { limit, after })
}

fn decode_cursor(c: &str) -> Option<String> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// An opaque cursor for the item with key `key`.
pub fn encode_cursor(key: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key)
}

/// One page of a table listed by `id`: `sql` selects rows with `id > ?1` (the cursor), ordered
/// by `id`, `LIMIT ?2` (the page size plus one, so [`page_response`] knows whether more exist).
pub async fn page_by_id<D: Database + ?Sized, T: DeserializeOwned>(
    db: &D,
    req: &Request,
    sql: &'static str,
) -> Result<(Vec<T>, Page), Error> {
    let page = page(req)?;
    let rows = decode(db.query(stmt!(sql, &page.after, page.limit + 1)).await?)?;
    Ok((rows, page))
}

/// One page of a list that can also be searched: without `q`, by `id` ([`page_by_id`]'s
/// `by_id`); with `q`, the rows whose name starts with it, by (name, id): `by_name` selects with
/// `name >= ?1 AND name < ?2 AND (name, id) > (?3, ?4)`, ordered by name and id, `LIMIT ?5`.
/// Returns whether it searched (then [`list_key`] makes the cursor from name and id).
pub async fn page_searched<D: Database + ?Sized, T: DeserializeOwned>(
    db: &D,
    req: &Request,
    by_id: &'static str,
    by_name: &'static str,
) -> Result<(Vec<T>, Page, bool), Error> {
    let Some(prefix) = search_prefix(req)? else {
        let (rows, page) = page_by_id(db, req, by_id).await?;
        return Ok((rows, page, false));
    };
    let page = page(req)?;
    let (from, to, name, id) = search_bounds(&prefix, &page.after);
    let rows = decode(
        db.query(stmt!(by_name, from, to, name, id, page.limit + 1))
            .await?,
    )?;
    Ok((rows, page, true))
}

/// `q`, if given: a name prefix of at most 200 characters.
pub fn search_prefix(req: &Request) -> Result<Option<String>, Error> {
    match query_param(req, "q").filter(|q| !q.is_empty()) {
        Some(q) if q.chars().count() > 200 => {
            Err(FieldError::new("q", "at most 200 characters").into())
        }
        q => Ok(q),
    }
}

/// A prefix search's statement arguments: the range of names starting with `prefix`, and the
/// (name, id) to continue after (from the cursor).
pub fn search_bounds(prefix: &str, after: &str) -> (String, String, String, String) {
    let (name, id) = after.split_once('\u{1f}').unwrap_or(("", ""));
    (
        prefix.to_owned(),
        format!("{prefix}\u{10FFFF}"),
        name.to_owned(),
        id.to_owned(),
    )
}

/// The cursor key of a listed row: its id, or (searching) its name and id.
pub fn list_key(searching: bool, name: &str, id: &str) -> String {
    if searching {
        format!("{name}\u{1f}{id}")
    } else {
        id.to_owned()
    }
}

/// A page response: `items` and, when the page is full, the cursor of the next one. `rows`
/// were fetched with `limit + 1` to know whether more exist; `key` extracts the sort key.
pub fn page_response<T: serde::Serialize>(
    mut rows: Vec<T>,
    page: &Page,
    key: impl Fn(&T) -> String,
) -> Response {
    let more = rows.len() as i64 > page.limit;
    rows.truncate(page.limit.max(0) as usize);
    let next = if more {
        rows.last().map(|r| encode_cursor(&key(r)))
    } else {
        None
    };
    ok(serde_json::json!({ "items": rows, "next_cursor": next }))
}

/// 200 with a JSON body, not cacheable.
pub fn ok(v: Value) -> Response {
    no_store(json(StatusCode::OK, &v))
}

/// 201 with a JSON body, not cacheable.
pub fn created(v: Value) -> Response {
    no_store(json(StatusCode::CREATED, &v))
}

/// 204.
pub fn no_content() -> Response {
    let mut r = Response::new(Vec::new());
    *r.status_mut() = StatusCode::NO_CONTENT;
    no_store(r)
}

/// Methods accepted on admin routes (for 405 answers).
pub fn allowed_methods(methods: &[Method]) -> &'static str {
    let has = |m: &Method| methods.contains(m);
    match (
        has(&Method::GET),
        has(&Method::POST),
        has(&Method::PATCH),
        has(&Method::PUT),
        has(&Method::DELETE),
    ) {
        (true, true, false, false, false) => "GET, POST",
        (true, false, true, false, true) => "GET, PATCH, DELETE",
        (true, false, false, false, false) => "GET",
        (false, true, false, false, false) => "POST",
        (false, false, false, true, true) => "PUT, DELETE",
        (true, false, false, true, true) => "GET, PUT, DELETE",
        _ => "GET, POST, PATCH, PUT, DELETE",
    }
}

/// Maps a store conflict to a specific message.
pub fn conflict(message: &'static str) -> impl Fn(crate::store::StoreError) -> Error {
    move |e| match e {
        crate::store::StoreError::Conflict(_) => Error::Conflict(message.into()),
        other => Error::Store(other),
    }
}
