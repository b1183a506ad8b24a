//! Native test harness: the whole service over in-memory SQLite (real migrations), software
//! crypto, a fixed clock and a seeded RNG.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::{Cell, RefCell};

use http::{header, Method};
use mcpgate_core::crypto::SoftwareCrypto;
use mcpgate_core::store::sqlite::SqliteDb;
use mcpgate_core::testing::{block_on, TestRng};
use mcpgate_core::wire::{Request, Response};
use mcpgate_core::{Config, Service};
use serde_json::Value;

pub const ADMIN: &str = "test-admin-token-0123456789abcdef0123";
pub const SECRET: &str = "test-root-secret-0123456789abcdef0123";
pub const T0: i64 = 1_800_000_000;

pub struct Harness {
    pub config: Config,
    pub db: SqliteDb,
    pub crypto: SoftwareCrypto,
    pub rng: RefCell<TestRng>,
    pub now: Cell<i64>,
}

pub struct Resp {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub fn config_with(issuer: &str, extra: &[(&str, &str)]) -> Config {
    let mut vars: Vec<(String, String)> = vec![
        ("MCPGATE_ISSUER".into(), issuer.into()),
        ("MCPGATE_SECRET".into(), SECRET.into()),
        ("MCPGATE_ADMIN_TOKEN".into(), ADMIN.into()),
    ];
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Config::from_vars(|n| vars.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone())).unwrap()
}

impl Harness {
    pub fn new() -> Self {
        Self::with_config(config_with("https://auth.example.com", &[]))
    }

    pub fn with_config(config: Config) -> Self {
        Harness {
            config,
            db: SqliteDb::new(),
            crypto: SoftwareCrypto,
            rng: RefCell::new(TestRng::new(7)),
            now: Cell::new(T0),
        }
    }

    pub fn service(&self) -> Service<'_, SqliteDb, SoftwareCrypto> {
        Service::new(&self.config, &self.db, &self.crypto)
    }

    pub fn advance(&self, secs: i64) {
        self.now.set(self.now.get() + secs);
    }

    pub fn send(&self, req: Request) -> Resp {
        let resp: Response = block_on(self.service().handle(
            req,
            self.now.get(),
            &mut *self.rng.borrow_mut(),
        ));
        let (parts, body) = resp.into_parts();
        Resp {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        }
    }

    pub fn request(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Resp {
        let mut b = http::Request::builder().method(method).uri(path);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        self.send(b.body(body.to_vec()).unwrap())
    }

    pub fn get(&self, path: &str) -> Resp {
        self.request(Method::GET, path, &[], b"")
    }

    pub fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Resp {
        let auth = format!("Bearer {ADMIN}");
        let bytes = body
            .map(|b| serde_json::to_vec(&b).unwrap())
            .unwrap_or_default();
        self.request(
            method,
            path,
            &[
                (header::AUTHORIZATION.as_str(), auth.as_str()),
                ("content-type", "application/json"),
            ],
            &bytes,
        )
    }

    pub fn post_form(&self, path: &str, form: &[(&str, &str)], headers: &[(&str, &str)]) -> Resp {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut h: Vec<(&str, &str)> = vec![("content-type", "application/x-www-form-urlencoded")];
        h.extend_from_slice(headers);
        self.request(Method::POST, path, &h, body.as_bytes())
    }
}
