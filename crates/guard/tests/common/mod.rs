//! Shared test support: deterministic keys, token and feed minting, a scripted fake `Fetch`,
//! and a tiny executor.
#![allow(dead_code)]

use std::collections::HashMap;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use chrono::DateTime;
use jwt_compact::{alg::Es256, AlgorithmExt as _, Claims, Header};
use mcpgate_guard::revocation::{RevocationEntry, RevocationFeed, RevocationKind};
use mcpgate_guard::{
    AccessClaims, Actor, Audience, EcPublicJwk, Fetch, FetchError, FetchResponse, Validator,
    ValidatorConfig,
};
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};

pub const ISS: &str = "https://auth.example.com";
pub const AUD: &str = "https://mcp.example.com/mcp";
pub const T0: i64 = 1_700_000_000;
pub const JWKS_URL: &str = "https://auth.example.com/.well-known/jwks.json";
pub const FEED_URL: &str = "https://auth.example.com/revocations";

/// A deterministic ES256 key and its RFC 7638 `kid`.
pub struct Key {
    pub sk: SigningKey,
    pub kid: String,
}

impl Key {
    pub fn new(seed: u8) -> Self {
        let sk = SigningKey::from_bytes(&[seed; 32].into()).unwrap();
        let kid = EcPublicJwk::from_key(sk.verifying_key()).kid.unwrap();
        Key { sk, kid }
    }

    pub fn jwk(&self) -> serde_json::Value {
        serde_json::to_value(EcPublicJwk::from_key(self.sk.verifying_key())).unwrap()
    }
}

/// A JWKS document with `keys`.
pub fn jwks(keys: &[&Key]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()
    }))
    .unwrap()
}

pub fn claims() -> AccessClaims {
    AccessClaims {
        iss: ISS.into(),
        sub: "user:alice".into(),
        aud: Audience::One(AUD.into()),
        client_id: "app-1".into(),
        scope: "notes.read notes.write".into(),
        jti: "jti-1".into(),
        act: None,
        fam: None,
    }
}

pub fn ts(secs: i64) -> chrono::DateTime<chrono::Utc> {
    DateTime::from_timestamp(secs, 0).unwrap()
}

/// A token as mcpgate mints it: jwt-compact Es256, `kid` and `typ: at+jwt`, `iat`/`exp`.
pub fn mint(key: &Key, claims: AccessClaims, iat: i64, exp: i64) -> String {
    let header = Header::empty()
        .with_key_id(key.kid.clone())
        .with_token_type("at+jwt");
    let mut c = Claims::new(claims);
    c.issued_at = Some(ts(iat));
    c.expiration = Some(ts(exp));
    Es256.token(&header, &c, &key.sk).unwrap()
}

/// The default token: issued at T0, valid for 10 minutes.
pub fn token(key: &Key) -> String {
    mint(key, claims(), T0, T0 + 600)
}

/// A compact JWS with an arbitrary header and payload, ES256-signed by `key`.
pub fn sign_raw(key: &Key, header: &serde_json::Value, payload: &serde_json::Value) -> String {
    let input = format!(
        "{}.{}",
        B64.encode(serde_json::to_vec(header).unwrap()),
        B64.encode(serde_json::to_vec(payload).unwrap())
    );
    let sig: Signature = key.sk.sign(input.as_bytes());
    format!("{input}.{}", B64.encode(sig.to_bytes()))
}

/// The default token's payload as JSON, with time claims.
pub fn payload(iat: i64, exp: i64) -> serde_json::Value {
    let mut v = serde_json::to_value(claims()).unwrap();
    v["iat"] = iat.into();
    v["exp"] = exp.into();
    v
}

pub fn entry(kind: RevocationKind, id: &str, revoked_at: i64, expires_at: i64) -> RevocationEntry {
    RevocationEntry {
        kind,
        id: id.into(),
        revoked_at,
        expires_at,
    }
}

pub fn full_feed(seq: u64, entries: Vec<RevocationEntry>) -> RevocationFeed {
    RevocationFeed {
        iss: ISS.into(),
        iat: T0,
        seq,
        full: true,
        since: 0,
        more: false,
        entries,
    }
}

pub fn delta_feed(since: u64, seq: u64, entries: Vec<RevocationEntry>) -> RevocationFeed {
    RevocationFeed {
        iss: ISS.into(),
        iat: T0,
        seq,
        full: false,
        since,
        more: false,
        entries,
    }
}

/// A feed JWS as the contract specifies.
pub fn sign_feed(key: &Key, feed: &RevocationFeed) -> String {
    sign_raw(
        key,
        &serde_json::json!({"alg": "ES256", "typ": "revocations+jwt", "kid": key.kid}),
        &serde_json::to_value(feed).unwrap(),
    )
}

/// A validator that trusts `keys` and needs no revocation feed.
pub fn validator_with(keys: &[&Key], config: impl FnOnce(&mut ValidatorConfig)) -> Validator {
    let mut c = ValidatorConfig::new(ISS, AUD);
    c.revocation_max_age_secs = None;
    config(&mut c);
    let v = Validator::new(c);
    v.apply_jwks_json(&jwks(keys)).unwrap();
    v
}

pub fn validator(keys: &[&Key]) -> Validator {
    validator_with(keys, |_| {})
}

pub fn actor_chain(subs: &[&str]) -> Option<Actor> {
    let mut act: Option<Actor> = None;
    for sub in subs.iter().rev() {
        act = Some(Actor {
            sub: (*sub).into(),
            act: act.map(Box::new),
        });
    }
    act
}

pub fn ok(body: Vec<u8>, cache_control: Option<&str>, etag: Option<&str>) -> FetchResponse {
    FetchResponse {
        status: 200,
        cache_control: cache_control.map(str::to_owned),
        etag: etag.map(str::to_owned),
        body,
    }
}

pub fn status(code: u16) -> FetchResponse {
    FetchResponse {
        status: code,
        ..FetchResponse::default()
    }
}

/// A scripted `Fetch`: responses by exact URL (or URL without query as a fallback), a log of
/// requests, and an optional gate that holds every request until opened.
#[derive(Default)]
pub struct FakeFetch {
    routes: Mutex<HashMap<String, FetchResponse>>,
    log: Mutex<Vec<(String, Option<String>)>>,
    gate: Mutex<Option<Arc<AtomicBool>>>,
    /// Answer 304 when If-None-Match equals the route's ETag.
    pub honour_etags: bool,
}

impl FakeFetch {
    pub fn new() -> Self {
        FakeFetch {
            honour_etags: true,
            ..FakeFetch::default()
        }
    }

    pub fn route(&self, url: &str, response: FetchResponse) {
        self.routes.lock().unwrap().insert(url.into(), response);
    }

    pub fn jwks(&self, keys: &[&Key], cache_control: Option<&str>) {
        self.route(JWKS_URL, ok(jwks(keys), cache_control, None));
    }

    pub fn feed(&self, url: &str, jws: &str, etag: Option<&str>) {
        self.route(url, ok(jws.as_bytes().to_vec(), None, etag));
    }

    /// Requests whose URL starts with `prefix`.
    pub fn calls(&self, prefix: &str) -> Vec<(String, Option<String>)> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|(u, _)| u.starts_with(prefix))
            .cloned()
            .collect()
    }

    pub fn jwks_calls(&self) -> usize {
        self.calls(JWKS_URL).len()
    }

    pub fn feed_calls(&self) -> usize {
        self.calls(FEED_URL).len()
    }

    /// Holds every later request until the returned flag is set.
    pub fn close_gate(&self) -> Arc<AtomicBool> {
        let flag = Arc::new(AtomicBool::new(false));
        *self.gate.lock().unwrap() = Some(flag.clone());
        flag
    }
}

struct Gate(Arc<AtomicBool>);

impl Future for Gate {
    type Output = ();
    fn poll(self: std::pin::Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if self.0.load(Ordering::SeqCst) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Fetch for FakeFetch {
    async fn get(
        &self,
        url: &str,
        if_none_match: Option<&str>,
    ) -> Result<FetchResponse, FetchError> {
        self.log
            .lock()
            .unwrap()
            .push((url.to_owned(), if_none_match.map(str::to_owned)));
        let gate = self.gate.lock().unwrap().clone();
        if let Some(flag) = gate {
            Gate(flag).await;
        }
        let routes = self.routes.lock().unwrap();
        let base = url.split('?').next().unwrap();
        let Some(resp) = routes.get(url).or_else(|| routes.get(base)).cloned() else {
            return Err(FetchError::new("connection refused"));
        };
        if self.honour_etags && resp.etag.is_some() && resp.etag.as_deref() == if_none_match {
            return Ok(FetchResponse {
                status: 304,
                cache_control: resp.cache_control,
                etag: resp.etag,
                body: Vec::new(),
            });
        }
        Ok(resp)
    }
}

/// Polls `f` to completion with a no-op waker (fake futures never wait on anything real).
pub fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..10_000 {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
    panic!("future did not complete");
}

/// Polls once.
pub fn poll_once<F: Future>(f: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    f.poll(&mut cx)
}
