//! Native test harness: the whole service over in-memory SQLite (real migrations), software
//! crypto, a fixed clock and a seeded RNG.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::{Cell, RefCell};

use http::{header, Method};
use mcpgate_core::crypto::SoftwareCrypto;
use mcpgate_core::issue::KeyCache;
use mcpgate_core::testing::{block_on, TestRng, TestStore};
use mcpgate_core::wire::{Request, Response};
use mcpgate_core::{Config, Service};
use serde_json::Value;

pub const ADMIN: &str = "test-admin-token-0123456789abcdef0123";
pub const SECRET: &str = "test-root-secret-0123456789abcdef0123";
pub const T0: i64 = 1_800_000_000;
/// The agent's own MCP server in the token-exchange tests.
pub const AGENT_RS: &str = "https://agent.example.com/mcp";

pub struct Harness {
    /// The admin API token (lazily bootstrapped) and its expiry.
    pub admin_token: RefCell<Option<(String, i64)>>,
    pub admin_creds: RefCell<Option<(String, String)>>,
    pub config: Config,
    pub store: TestStore,
    pub key_cache: KeyCache,
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
            admin_token: RefCell::new(None),
            admin_creds: RefCell::new(None),
            config,
            store: TestStore::default(),
            key_cache: KeyCache::new(),
            crypto: SoftwareCrypto,
            rng: RefCell::new(TestRng::new(7)),
            now: Cell::new(T0),
        }
    }

    pub fn service(&self) -> Service<'_, TestStore, SoftwareCrypto> {
        Service::new(&self.config, &self.store, &self.crypto, &self.key_cache)
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

    /// Sends two requests concurrently, the second starting after `delay` polls, so that they
    /// interleave at statement granularity as concurrent requests do on D1.
    pub fn race(&self, a: Request, b: Request, delay: usize) -> (Resp, Resp) {
        use mcpgate_core::testing::{delayed, join, TestRng};
        let svc = self.service();
        let now = self.now.get();
        let (mut ra, mut rb) = (
            TestRng::new(1000 + delay as u64),
            TestRng::new(2000 + delay as u64),
        );
        let (x, y) = block_on(join(
            svc.handle(a, now, &mut ra),
            delayed(delay, svc.handle(b, now, &mut rb)),
        ));
        let resp = |r: Response| {
            let (parts, body) = r.into_parts();
            Resp {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body,
            }
        };
        (resp(x), resp(y))
    }

    /// Sends every request at once (interleaved at statement granularity).
    pub fn all_at_once(&self, reqs: Vec<Request>) -> Vec<Resp> {
        use mcpgate_core::testing::{join_all, TestRng};
        use std::future::Future;
        use std::pin::Pin;
        let svc = self.service();
        let now = self.now.get();
        let mut rngs: Vec<TestRng> = (0..reqs.len())
            .map(|i| TestRng::new(3000 + i as u64))
            .collect();
        let futs: Vec<Pin<Box<dyn Future<Output = Response> + '_>>> = reqs
            .into_iter()
            .zip(rngs.iter_mut())
            .map(|(r, rng)| {
                Box::pin(svc.handle(r, now, rng)) as Pin<Box<dyn Future<Output = Response> + '_>>
            })
            .collect();
        block_on(join_all(futs))
            .into_iter()
            .map(|r| {
                let (parts, body) = r.into_parts();
                Resp {
                    status: parts.status.as_u16(),
                    headers: parts.headers,
                    body,
                }
            })
            .collect()
    }

    pub fn get(&self, path: &str) -> Resp {
        self.request(Method::GET, path, &[], b"")
    }

    /// An admin API access token: bootstraps the first admin client on first use, and fetches
    /// a new token when the previous one is about to expire.
    pub fn admin_access_token(&self) -> String {
        if let Some((t, exp)) = self.admin_token.borrow().as_ref() {
            if self.now.get() < exp - 30 {
                return t.clone();
            }
        }
        let creds = {
            let existing = self.admin_creds.borrow().clone();
            match existing {
                Some(c) => c,
                None => {
                    let boot = format!("Bearer {ADMIN}");
                    let r = self.request(
                        Method::POST,
                        "/admin/v1/bootstrap",
                        &[("authorization", &boot)],
                        b"",
                    );
                    assert_eq!(
                        r.status,
                        201,
                        "bootstrap: {}",
                        String::from_utf8_lossy(&r.body)
                    );
                    let j = r.json();
                    let c = (
                        j["client_id"].as_str().unwrap().to_owned(),
                        j["client_secret"].as_str().unwrap().to_owned(),
                    );
                    *self.admin_creds.borrow_mut() = Some(c.clone());
                    c
                }
            }
        };
        let resource = format!("{}/admin/v1", self.config.issuer);
        let r = self.post_form(
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &creds.0),
                ("client_secret", &creds.1),
                ("resource", &resource),
            ],
            &[],
        );
        assert_eq!(
            r.status,
            200,
            "admin token: {}",
            String::from_utf8_lossy(&r.body)
        );
        let t = r.json()["access_token"].as_str().unwrap().to_owned();
        *self.admin_token.borrow_mut() = Some((
            t.clone(),
            self.now.get() + r.json()["expires_in"].as_i64().unwrap(),
        ));
        t
    }

    pub fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Resp {
        let auth = format!("Bearer {}", self.admin_access_token());
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
        self.send(form_request(path, form, headers))
    }
}

/// A form post request (to send, or to [`Harness::race`]).
pub fn form_request(path: &str, form: &[(&str, &str)], headers: &[(&str, &str)]) -> Request {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let mut b = http::Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("content-type", "application/x-www-form-urlencoded");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(body.into_bytes()).unwrap()
}

// ------------------------------------------------------------------ directory fixtures

pub const NOTES: &str = "https://notes.example.com/mcp";
pub const FILES: &str = "https://files.example.com/mcp";
pub const PASSWORD: &str = "correct horse battery staple";
pub const CB: &str = "http://127.0.0.1/callback";

/// A demo directory: the notes server (read < write, delete; admin implies all), a files
/// server, roles, a user with the reader role, a public app, a confidential app and an agent.
pub struct Fixture {
    pub notes_rs: String,
    pub reader: String,
    pub editor: String,
    pub admin_role: String,
    pub alice: String,
    pub public_app: String,
    pub conf_app: String,
    pub conf_secret: String,
    pub agent: String,
    pub agent_secret: String,
    pub bots: String,
}

impl Harness {
    pub fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let r = self.admin(method.clone(), path, body);
        assert!(
            r.status < 300,
            "{method} {path}: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        r.json()
    }

    pub fn fixture(&self) -> Fixture {
        let rs = self.ok(
            Method::POST,
            "/admin/v1/resource-servers",
            Some(serde_json::json!({
                "identifier": NOTES, "name": "Notes",
                "scopes": [
                    { "name": "notes.read", "description": "Read notes" },
                    { "name": "notes.write", "description": "Write notes", "implies": ["notes.read"] },
                    { "name": "notes.delete", "description": "Delete notes" },
                    { "name": "notes.admin", "description": "Everything", "implies": ["notes.write", "notes.delete"] }
                ]
            })),
        );
        self.ok(
            Method::POST,
            "/admin/v1/resource-servers",
            Some(serde_json::json!({ "identifier": FILES, "name": "Files", "scopes": [{ "name": "files.read" }] })),
        );
        let role = |name: &str, scopes: &[&str]| {
            let s: Vec<Value> = scopes
                .iter()
                .map(|s| serde_json::json!({ "resource": NOTES, "scope": s }))
                .collect();
            self.ok(
                Method::POST,
                "/admin/v1/roles",
                Some(serde_json::json!({ "name": name, "scopes": s })),
            )["id"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        let reader = role("reader", &["notes.read"]);
        let editor = role("editor", &["notes.write"]);
        let admin_role = role("admin", &["notes.admin"]);
        let alice = self.ok(
            Method::POST,
            "/admin/v1/users",
            Some(serde_json::json!({ "username": "alice", "display_name": "Alice", "password": PASSWORD })),
        )["id"]
            .as_str()
            .unwrap()
            .to_owned();
        self.ok(
            Method::PUT,
            &format!("/admin/v1/users/{alice}/roles/{reader}"),
            None,
        );
        let public_app = self.ok(
            Method::POST,
            "/admin/v1/applications",
            Some(serde_json::json!({ "name": "Desktop", "client_type": "public", "application_type": "native",
                "redirect_uris": [CB], "roles": [admin_role] })),
        )["client_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let conf = self.ok(
            Method::POST,
            "/admin/v1/applications",
            Some(serde_json::json!({ "name": "Server app", "client_type": "confidential",
                "redirect_uris": ["https://app.example/cb"],
                "grant_types": ["authorization_code", "refresh_token", "client_credentials"], "roles": [editor] })),
        );
        let bots = self.ok(
            Method::POST,
            "/admin/v1/groups",
            Some(serde_json::json!({ "name": "bots" })),
        )["id"]
            .as_str()
            .unwrap()
            .to_owned();
        self.ok(
            Method::PUT,
            &format!("/admin/v1/groups/{bots}/roles/{editor}"),
            None,
        );
        let agent = self.ok(
            Method::POST,
            "/admin/v1/agents",
            Some(serde_json::json!({ "name": "Summariser", "owner": "ops", "groups": [bots] })),
        );
        Fixture {
            notes_rs: rs["id"].as_str().unwrap().to_owned(),
            reader,
            editor,
            admin_role,
            alice,
            public_app,
            conf_app: conf["client_id"].as_str().unwrap().to_owned(),
            conf_secret: conf["client_secret"].as_str().unwrap().to_owned(),
            agent: agent["client_id"].as_str().unwrap().to_owned(),
            agent_secret: agent["client_secret"].as_str().unwrap().to_owned(),
            bots,
        }
    }
}

// ------------------------------------------------------------------ browser + token helpers

pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// A cookie jar and the steps of the browser part of the code flow.
#[derive(Default, Clone)]
pub struct Browser {
    pub cookies: Vec<(String, String)>,
}

pub fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(
        html[start..end]
            .replace("&amp;", "&")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">"),
    )
}

pub fn location_params(r: &Resp) -> Vec<(String, String)> {
    let loc = r.header("location").expect("location");
    let q = loc.split_once('?').map(|(_, q)| q).unwrap_or_default();
    form_urlencoded::parse(q.as_bytes()).into_owned().collect()
}

/// The authorization endpoint refused with `code` on its own HTML page, redirecting nowhere.
pub fn assert_refused_on_our_page(r: &Resp, code: &str) {
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    assert!(
        r.header("location").is_none(),
        "redirected: {:?}",
        r.header("location")
    );
    assert!(r
        .header("content-type")
        .unwrap_or_default()
        .starts_with("text/html"));
    assert!(String::from_utf8_lossy(&r.body).contains(code));
}

pub fn param(params: &[(String, String)], name: &str) -> Option<String> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

impl Browser {
    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub fn absorb(&mut self, r: &Resp) {
        for v in r.headers.get_all("set-cookie") {
            let s = v.to_str().unwrap();
            let (kv, _) = s.split_once(';').unwrap_or((s, ""));
            let (k, val) = kv.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != k);
            if !val.is_empty() {
                self.cookies.push((k.to_owned(), val.to_owned()));
            }
        }
    }

    pub fn get(&mut self, h: &Harness, path: &str) -> Resp {
        let c = self.cookie_header();
        let r = h.request(Method::GET, path, &[("cookie", &c)], b"");
        self.absorb(&r);
        r
    }

    pub fn post(&mut self, h: &Harness, path: &str, form: &[(&str, &str)]) -> Resp {
        let c = self.cookie_header();
        let r = h.post_form(
            path,
            form,
            &[("cookie", &c), ("cf-connecting-ip", "203.0.113.7")],
        );
        self.absorb(&r);
        r
    }
}

pub fn authorize_query(
    client_id: &str,
    scope: Option<&str>,
    resource: &str,
    state: &str,
) -> String {
    let mut pairs: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", CB),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("resource", resource),
        ("state", state),
    ];
    if let Some(s) = scope {
        pairs.push(("scope", s));
    }
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

impl Harness {
    /// Opens the authorization request and signs in if the login page asks; returns what
    /// follows: the consent page, a redirect when consent is remembered, or the refused login.
    pub fn sign_in(&self, b: &mut Browser, query: &str, username: &str, password: &str) -> Resp {
        let r = b.get(self, &format!("/authorize?{query}"));
        let body = String::from_utf8_lossy(&r.body).to_string();
        if r.status != 200 || !body.contains("name=\"password\"") {
            return r;
        }
        let csrf = hidden(&body, "csrf").unwrap();
        let cont = hidden(&body, "continue").unwrap();
        let r = b.post(
            self,
            "/authorize/login",
            &[
                ("csrf", &csrf),
                ("continue", &cont),
                ("username", username),
                ("password", password),
            ],
        );
        if r.status != 303 {
            return r;
        }
        let loc = r.header("location").unwrap().to_owned();
        let path = loc.strip_prefix(&self.config.issuer).unwrap().to_owned();
        b.get(self, &path)
    }

    /// Signs in (if needed) and consents; returns the redirect response carrying the code.
    pub fn authorize(&self, b: &mut Browser, query: &str, username: &str, password: &str) -> Resp {
        let mut r = self.sign_in(b, query, username, password);
        let body = String::from_utf8_lossy(&r.body).to_string();
        if r.status == 200 && body.contains("name=\"decision\"") {
            let csrf = hidden(&body, "csrf").unwrap();
            let request = hidden(&body, "request").unwrap();
            r = b.post(
                self,
                "/authorize/consent",
                &[
                    ("csrf", &csrf),
                    ("request", &request),
                    ("decision", "allow"),
                ],
            );
        }
        r
    }

    /// Alice's token for the agent's own MCP server ([`AGENT_RS`], scope `agent.use`), obtained
    /// through the public app, with the agent allowed to exchange tokens of that server for
    /// tokens of [`NOTES`]: the subject token of the RFC 8693 tests.
    pub fn user_token_for_agent(&self, f: &Fixture) -> String {
        self.ok(
            Method::POST,
            "/admin/v1/resource-servers",
            Some(serde_json::json!({ "identifier": AGENT_RS, "name": "Agent", "scopes": [{ "name": "agent.use" }] })),
        );
        let role = self.ok(
            Method::POST,
            "/admin/v1/roles",
            Some(serde_json::json!({ "name": "agent-users", "scopes": [{ "resource": AGENT_RS, "scope": "agent.use" }] })),
        )["id"]
            .as_str()
            .unwrap()
            .to_owned();
        self.ok(
            Method::PUT,
            &format!("/admin/v1/users/{}/roles/{role}", f.alice),
            None,
        );
        self.ok(
            Method::PUT,
            &format!("/admin/v1/applications/{}/roles/{role}", f.public_app),
            None,
        );
        self.ok(
            Method::PATCH,
            &format!("/admin/v1/agents/{}", f.agent),
            Some(serde_json::json!({ "exchange": [{ "from": AGENT_RS, "to": NOTES }] })),
        );
        let r = self.authorize(
            &mut Browser::default(),
            &authorize_query(&f.public_app, Some("agent.use"), AGENT_RS, "s"),
            "alice",
            PASSWORD,
        );
        let code = param(&location_params(&r), "code").unwrap();
        self.redeem(&f.public_app, &code).json()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub fn code_for(&self, b: &mut Browser, client_id: &str, scope: Option<&str>) -> String {
        let r = self.authorize(
            b,
            &authorize_query(client_id, scope, NOTES, "xyz"),
            "alice",
            PASSWORD,
        );
        assert_eq!(r.status, 303, "{}", String::from_utf8_lossy(&r.body));
        let p = location_params(&r);
        assert_eq!(param(&p, "state").as_deref(), Some("xyz"));
        assert_eq!(
            param(&p, "iss").as_deref(),
            Some(self.config.issuer.as_str())
        );
        param(&p, "code").unwrap_or_else(|| panic!("no code: {p:?}"))
    }

    pub fn token(&self, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> Resp {
        self.token_at("/token", form, basic)
    }

    pub fn redeem(&self, client_id: &str, code: &str) -> Resp {
        self.token(
            &[
                ("grant_type", "authorization_code"),
                ("client_id", client_id),
                ("code", code),
                ("redirect_uri", CB),
                ("code_verifier", VERIFIER),
            ],
            None,
        )
    }
}

/// An HTTP Basic `Authorization` value (RFC 7617) for `id` and `secret`.
pub fn basic_auth(id: &str, secret: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

/// Verifies an access token against the service's JWKS with the guard crate and returns its
/// claims.
pub fn verify_token(h: &Harness, token: &str, audience: &str) -> mcpgate_guard::VerifiedToken {
    let set: mcpgate_guard::JwkSet =
        serde_json::from_value(h.get("/.well-known/jwks.json").json()).unwrap();
    let parsed = mcpgate_guard::ParsedToken::parse(token).unwrap();
    let key = set
        .es256_keys()
        .into_iter()
        .find(|(k, _)| k == parsed.kid())
        .unwrap()
        .1;
    let claims = parsed.verify_p256(&key).unwrap();
    mcpgate_guard::check_claims(
        claims,
        &mcpgate_guard::Expectations {
            issuer: h.config.issuer.clone(),
            audience: audience.into(),
            leeway_secs: 30,
        },
        h.now.get(),
    )
    .unwrap()
}

impl Harness {
    /// A form post with optional Basic client authentication to any endpoint.
    pub fn token_at(&self, path: &str, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> Resp {
        let auth = basic.map(|(id, s)| basic_auth(id, s));
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("authorization", a.as_str())).collect();
        self.post_form(path, form, &headers)
    }
}

impl Fixture {
    /// Lets the confidential app use the code flow from the test redirect URI and returns its id.
    pub fn conf_app_for_code(&self, h: &Harness) -> String {
        h.ok(
            Method::PATCH,
            &format!("/admin/v1/applications/{}", self.conf_app),
            Some(serde_json::json!({ "redirect_uris": ["https://app.example/cb", CB] })),
        );
        self.conf_app.clone()
    }

    /// A refresh token of the confidential application, through alice's code flow.
    pub fn conf_app_refresh_token(&self, h: &Harness) -> String {
        let code = h.code_for(
            &mut Browser::default(),
            &self.conf_app_for_code(h),
            Some("notes.read"),
        );
        let t = h.token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CB),
                ("code_verifier", VERIFIER),
            ],
            Some((&self.conf_app, &self.conf_secret)),
        );
        t.json()["refresh_token"].as_str().unwrap().to_owned()
    }
}

// ------------------------------------------------------------------ is a token still honoured?

/// Whether mcpgate itself still honours a token (introspection by an admin, who is entitled to
/// every token).
pub fn active(h: &Harness, _f: &Fixture, token: &str) -> bool {
    let bearer = format!("Bearer {}", h.admin_access_token());
    let r = h.post_form(
        "/introspect",
        &[("token", token)],
        &[("authorization", &bearer)],
    );
    r.json()["active"] == true
}

/// An offline validator for the notes server, fed the JWKS and the revocation feed over the
/// service's HTTP interface (the guard crate, as MCP servers use it).
pub fn validator(h: &Harness) -> mcpgate_guard::validator::Validator {
    use mcpgate_guard::validator::{Validator, ValidatorConfig};
    let v = Validator::new(ValidatorConfig::new(h.config.issuer.clone(), NOTES));
    v.apply_jwks_json(&h.get("/.well-known/jwks.json").body)
        .unwrap();
    poll(h, &v);
    v
}

/// The validator applies the current revocation feed, following its pages.
pub fn poll(h: &Harness, v: &mcpgate_guard::validator::Validator) {
    let mut path = "/revocations".to_owned();
    loop {
        let feed = h.get(&path);
        assert_eq!(feed.status, 200);
        let out = v
            .apply_revocation_feed(std::str::from_utf8(&feed.body).unwrap(), h.now.get())
            .unwrap();
        if !out.more {
            break;
        }
        path = format!("/revocations?since={}", out.seq);
    }
}

/// The `access_token` of a successful token response (panics with the error otherwise).
pub fn access_token(r: &Resp) -> String {
    r.json()["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access token: {} {:?}", r.status, r.json()))
        .to_owned()
}
