//! Never panics, never a 5xx: generated requests for every route — every path of the service
//! and of the admin API's own OpenAPI document, with form and JSON bodies of the right shape
//! carrying hostile values, real and forged credentials, cookies and headers — answer without
//! a server error (no store fault is injected here, so no 503 either); and the parsers (URI,
//! form, JWS, cookies, redirect URIs, bearer headers) never panic and keep their invariants.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use http::Method;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// Hostile values, mixed with real ones from the fixture so requests get past the first checks.
fn value(real: Vec<String>) -> BoxedStrategy<String> {
    prop_oneof![
        3 => proptest::sample::select(real),
        2 => proptest::sample::select(vec![
            String::new(),
            " ".into(),
            "\u{0}".into(),
            "%00%ff".into(),
            "a".repeat(5000),
            "\u{202e}\u{feff}é𝄞".into(),
            "javascript:alert(1)".into(),
            "data:text/html,<script>alert(1)</script>".into(),
            "https://127.1/x".into(),
            "https://0x7f.0.0.1/client.json".into(),
            "http://[::1]:0/cb".into(),
            "https://evil.example/cb#x".into(),
            "-1".into(),
            "9223372036854775807".into(),
            "18446744073709551616".into(),
            "null".into(),
            "{}".into(),
            "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.".into(),
            "a.b.c".into(),
            "<img src=x onerror=alert(1)>".into(),
            "'; DROP TABLE users; --".into(),
            "urn:ietf:params:oauth:grant-type:token-exchange".into(),
            "urn:ietf:params:oauth:token-type:access_token".into(),
            "authorization_code".into(),
            "refresh_token".into(),
            "client_credentials".into(),
            "@account".into(),
            "allow".into(),
            "S256".into(),
            "plain".into(),
            "none".into(),
            "login".into(),
            "consent".into(),
        ]),
        1 => "\\PC{0,40}",
        1 => any::<String>(),
    ]
    .boxed()
}

const KEYS: &[&str] = &[
    "grant_type",
    "code",
    "redirect_uri",
    "code_verifier",
    "client_id",
    "client_secret",
    "refresh_token",
    "scope",
    "resource",
    "audience",
    "subject_token",
    "subject_token_type",
    "actor_token",
    "actor_token_type",
    "requested_token_type",
    "token",
    "token_type_hint",
    "response_type",
    "code_challenge",
    "code_challenge_method",
    "state",
    "prompt",
    "csrf",
    "continue",
    "username",
    "password",
    "request",
    "decision",
    "session",
    "everywhere",
    "since",
    "limit",
    "cursor",
    "kind",
    "principal",
    "reason",
    "resource_server_id",
];

const JSON_KEYS: &[&str] = &[
    "name",
    "identifier",
    "scopes",
    "redirect_uris",
    "client_type",
    "grant_types",
    "roles",
    "resources",
    "exchange",
    "introspect",
    "status",
    "password",
    "username",
    "display_name",
    "token_endpoint_auth_method",
    "client_name",
    "application_type",
    "owner",
    "groups",
    "description",
    "implies",
    "default_scopes",
    "access_token_ttl",
    "allow_self_registered",
    "client_id",
    "reason",
    "scope",
];

fn json_value(real: Vec<String>) -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        value(real).prop_map(serde_json::Value::String),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<bool>().prop_map(serde_json::Value::Bool),
        Just(serde_json::Value::Null),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            proptest::collection::vec((proptest::sample::select(JSON_KEYS), inner), 0..4).prop_map(
                |kv| serde_json::Value::Object(
                    kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
                )
            ),
        ]
    })
}

/// The real values a fixture offers: ids, secrets, tokens, codes, cookies.
struct Pool {
    values: Vec<String>,
    /// The OAuth, browser and discovery endpoints, with the method each takes.
    routes: Vec<(Method, String)>,
    /// The admin API's operations (from its OpenAPI document), with real and bogus ids.
    admin_routes: Vec<(Method, String)>,
    auth: Vec<String>,
    cookies: Vec<String>,
}

fn pool(h: &Harness) -> Pool {
    let f = h.fixture();
    let mut b = Browser::default();
    let code = h.code_for(&mut b, &f.public_app, Some("notes.read"));
    let spare = h.code_for(&mut b, &f.public_app, Some("notes.read"));
    let t = h.redeem(&f.public_app, &code).json();
    let at = t["access_token"].as_str().unwrap().to_owned();
    let rt = t["refresh_token"].as_str().unwrap().to_owned();
    let admin = h.admin_access_token();
    let b64 = |s: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(s)
    };
    let openapi = h.get("/admin/v1/openapi.json").json();
    let (get, post) = (Method::GET, Method::POST);
    let routes: Vec<(Method, String)> = [
        (&get, "/"),
        (&get, "/.well-known/oauth-authorization-server"),
        (&get, "/.well-known/openid-configuration"),
        (&get, "/.well-known/jwks.json"),
        (&get, "/.well-known/oauth-authorization-server/x"),
        (&get, "/authorize"),
        (&post, "/authorize/login"),
        (&post, "/authorize/consent"),
        (&post, "/token"),
        (&post, "/introspect"),
        (&post, "/revoke"),
        (&post, "/register"),
        (&get, "/register/dcr_x"),
        (&get, "/revocations"),
        (&get, "/account"),
        (&post, "/account/revoke"),
        (&post, "/account/logout"),
        (&get, "/%00"),
        (&get, "/..//.."),
        (&get, "/admin/v1/"),
    ]
    .into_iter()
    .map(|(m, p)| (m.clone(), p.to_owned()))
    .collect();
    let mut admin_routes = Vec::new();
    for (p, ops) in openapi["paths"].as_object().unwrap() {
        for id in [
            f.alice.as_str(),
            f.public_app.as_str(),
            f.notes_rs.as_str(),
            f.reader.as_str(),
            "x",
            "%2e%2e",
        ] {
            let mut path = String::new();
            for seg in p.split('/') {
                if !path.is_empty() || !seg.is_empty() {
                    path.push('/');
                }
                path.push_str(if seg.starts_with('{') { id } else { seg });
            }
            for m in ops.as_object().unwrap().keys() {
                if let Ok(m) = m.to_ascii_uppercase().parse::<Method>() {
                    admin_routes.push((m, path.clone()));
                }
            }
        }
    }
    Pool {
        values: vec![
            f.alice.clone(),
            f.public_app.clone(),
            f.conf_app.clone(),
            f.conf_secret.clone(),
            f.agent.clone(),
            f.agent_secret.clone(),
            f.notes_rs.clone(),
            f.reader.clone(),
            NOTES.into(),
            FILES.into(),
            CB.into(),
            "notes.read".into(),
            "notes.read notes.write".into(),
            spare,
            code,
            at.clone(),
            rt,
            VERIFIER.into(),
            CHALLENGE.into(),
            "alice".into(),
            PASSWORD.into(),
            "https://ide.example.com/client.json".into(),
        ],
        auth: vec![
            String::new(),
            format!("Bearer {admin}"),
            format!("Bearer {at}"),
            "Bearer ".into(),
            "Bearer a b".into(),
            format!(
                "Basic {}",
                b64(&format!("{}:{}", f.conf_app, f.conf_secret))
            ),
            format!("Basic {}", b64(&format!("{}:{}", f.agent, f.agent_secret))),
            format!("Basic {}", b64(&format!("{}:", f.public_app))),
            "Basic !!!".into(),
            format!("Basic {}", b64("no-colon")),
        ],
        cookies: vec![
            String::new(),
            b.cookie_header(),
            "mcpgate-session=x.y; mcpgate-csrf=zzzzzzzzzzzzzzzzzzzzzzzz".into(),
            "=;;=".into(),
        ],
        routes,
        admin_routes,
    }
}

#[derive(Debug, Clone)]
enum Body {
    Form(Vec<(&'static str, String)>),
    Json(serde_json::Value),
    Bytes(Vec<u8>),
}

/// The parameters each endpoint reads (form body, or query for GET).
fn fields_of(path: &str) -> &'static [&'static str] {
    match path {
        "/token" => &[
            "grant_type",
            "code",
            "redirect_uri",
            "code_verifier",
            "client_id",
            "client_secret",
            "refresh_token",
            "scope",
            "resource",
            "audience",
            "subject_token",
            "subject_token_type",
            "actor_token",
            "actor_token_type",
            "requested_token_type",
        ],
        "/authorize" => &[
            "response_type",
            "client_id",
            "redirect_uri",
            "code_challenge",
            "code_challenge_method",
            "scope",
            "resource",
            "state",
            "prompt",
        ],
        "/authorize/login" => &["csrf", "continue", "username", "password"],
        "/authorize/consent" => &["csrf", "request", "decision"],
        "/introspect" | "/revoke" => &["token", "token_type_hint", "client_id", "client_secret"],
        "/account/revoke" | "/account/logout" => &[
            "csrf",
            "client_id",
            "resource_server_id",
            "session",
            "everywhere",
        ],
        "/revocations" => &["since"],
        _ => KEYS,
    }
}

/// Values drawn from a parameter's own domain, for parameters that have one (`real`: the
/// fixture's values, which hold the real client ids, tokens and codes).
fn domain_of(key: &str, real: &[String]) -> Option<Vec<String>> {
    let pick = |prefixes: &[&str]| -> Option<Vec<String>> {
        Some(
            real.iter()
                .filter(|v| prefixes.iter().any(|p| v.starts_with(p)))
                .cloned()
                .collect(),
        )
    };
    let v: &[&str] = match key {
        "client_id" => return pick(&["app_", "agt_", "https://"]),
        "resource" | "audience" => return pick(&[NOTES, FILES]),
        "subject_token" | "actor_token" | "token" => {
            return pick(&["eyJ", "rt_"]).filter(|v| !v.is_empty())
        }
        "grant_type" => &[
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:token-exchange",
            "password",
            "implicit",
        ],
        "subject_token_type" | "actor_token_type" | "requested_token_type" => &[
            "urn:ietf:params:oauth:token-type:access_token",
            "urn:ietf:params:oauth:token-type:jwt",
            "urn:ietf:params:oauth:token-type:refresh_token",
        ],
        "response_type" => &["code", "token", "code id_token"],
        "code_challenge_method" => &["S256", "plain", "s256"],
        "prompt" => &["none", "login", "consent", "select_account"],
        "decision" => &["allow", "deny"],
        "continue" => &["@account"],
        "everywhere" => &["1", "0"],
        "token_type_hint" => &["access_token", "refresh_token"],
        _ => return None,
    };
    Some(v.iter().map(|s| (*s).to_owned()).collect())
}

/// Parameters for `path`: each of its fields present or not, valued from its domain, the
/// fixture's real values or hostile ones.
fn params_for(path: &str, real: &[String]) -> BoxedStrategy<Vec<(&'static str, String)>> {
    let strategies: Vec<BoxedStrategy<Option<(&'static str, String)>>> = fields_of(path)
        .iter()
        .map(|key| {
            let v = match domain_of(key, real).filter(|d| !d.is_empty()) {
                Some(d) => {
                    prop_oneof![4 => proptest::sample::select(d), 1 => value(real.to_vec())].boxed()
                }
                None => value(real.to_vec()),
            };
            proptest::option::weighted(0.7, v.prop_map(move |v| (*key, v))).boxed()
        })
        .collect();
    strategies
        .prop_map(|fields| fields.into_iter().flatten().collect())
        .boxed()
}

type Parts = (
    ((Method, String), Vec<(&'static str, String)>, Body),
    String,
    String,
    u8,
    String,
);

fn request_strategy(p: &Pool) -> impl Strategy<Value = Parts> {
    let any_method = proptest::sample::select(vec![
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
        Method::HEAD,
    ]);
    let route = prop_oneof![
        6 => proptest::sample::select(p.routes.clone()),
        4 => proptest::sample::select(p.admin_routes.clone()),
        1 => (any_method, proptest::sample::select(p.routes.clone())).prop_map(|(m, (_, path))| (m, path)),
    ];
    let values = p.values.clone();
    let shaped = route.prop_flat_map(move |(method, path)| {
        let params = params_for(&path, &values);
        let body = prop_oneof![
            4 => params_for(&path, &values).prop_map(Body::Form),
            2 => json_value(values.clone()).prop_map(Body::Json),
            1 => proptest::collection::vec(any::<u8>(), 0..300).prop_map(Body::Bytes),
        ];
        let is_get = method == Method::GET;
        (Just((method, path)), params, body).prop_map(move |(r, params, body)| {
            // Parameters travel in the query for GET, in the body otherwise.
            if is_get {
                (r, params, body)
            } else {
                (
                    r,
                    Vec::new(),
                    if let Body::Bytes(_) | Body::Json(_) = body {
                        body
                    } else {
                        Body::Form(params)
                    },
                )
            }
        })
    });
    (
        shaped,
        proptest::sample::select(p.auth.clone()),
        proptest::sample::select(p.cookies.clone()),
        0u8..4,
        prop_oneof![
            Just("203.0.113.1".to_owned()),
            Just("2001:db8::1".to_owned()),
            "\\PC{0,20}"
        ],
    )
}

fn build(
    (((method, path), query, body), auth, cookie, origin, address): Parts,
) -> Option<mcpgate_core::wire::Request> {
    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())))
        .finish();
    let uri = if q.is_empty() {
        path
    } else {
        format!("{path}?{q}")
    };
    let (ct, bytes) = match body {
        Body::Form(pairs) => (
            "application/x-www-form-urlencoded",
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())))
                .finish()
                .into_bytes(),
        ),
        Body::Json(v) => ("application/json", v.to_string().into_bytes()),
        Body::Bytes(b) => ("application/octet-stream", b),
    };
    let mut b = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", ct);
    for (name, v) in [
        ("authorization", auth.as_str()),
        ("cookie", cookie.as_str()),
        ("cf-connecting-ip", address.as_str()),
        (
            "origin",
            [
                "",
                "https://auth.example.com",
                "https://evil.example",
                "null",
            ][usize::from(origin)],
        ),
    ] {
        if !v.is_empty() {
            if let Ok(hv) = http::HeaderValue::from_str(v) {
                b = b.header(name, hv);
            }
        }
    }
    // Some generated URIs are not valid request targets at all (the runtime would refuse them
    // before the Worker runs).
    b.body(bytes).ok()
}

#[test]
fn no_generated_request_to_any_route_gets_a_server_error() {
    let h = Harness::new();
    let p = pool(&h);
    let mut runner = TestRunner::new(Config {
        cases: 3000,
        failure_persistence: None,
        ..Config::default()
    });
    let by_status = std::cell::RefCell::new(std::collections::BTreeMap::<u16, u32>::new());
    runner
        .run(&request_strategy(&p), |parts| {
            let Some(req) = build(parts.clone()) else {
                return Ok(());
            };
            let r = h.send(req);
            *by_status.borrow_mut().entry(r.status).or_default() += 1;
            prop_assert!(
                r.status < 500,
                "{} for {:?}: {}",
                r.status,
                parts,
                String::from_utf8_lossy(&r.body)
            );
            let html = r
                .header("content-type")
                .is_some_and(|c| c.starts_with("text/html"));
            if r.status >= 400 && !html && r.status != 405 {
                prop_assert!(r.json()["error"].is_string(), "error body for {:?}", parts);
            }
            Ok(())
        })
        .unwrap();
    // The generator reaches past the first checks: successes and many kinds of refusal.
    let by_status = by_status.into_inner();
    let kinds: Vec<u16> = by_status.keys().copied().collect();
    for expected in [200, 204, 400, 401, 404] {
        assert!(
            kinds.contains(&expected),
            "no {expected} among {by_status:?}"
        );
    }
}

/// Token endpoint requests shaped like a real client's: a grant type, one working (or
/// broken) way of authenticating, and the grant's parameters with real and hostile values.
#[test]
fn no_token_request_of_any_grant_gets_a_server_error() {
    let h = Harness::new();
    let p = pool(&h);
    let f_public = p.values[1].clone();
    let grants = domain_of("grant_type", &[]).unwrap();
    let strategy = (
        proptest::sample::select(grants),
        0usize..4,
        params_for("/token", &p.values),
    );
    let auth = p.auth.clone();
    let mut runner = TestRunner::new(Config {
        cases: 1500,
        failure_persistence: None,
        ..Config::default()
    });
    let by_error = std::cell::RefCell::new(std::collections::BTreeMap::<String, u32>::new());
    runner
        .run(&strategy, |(grant, who, params)| {
            let mut form: Vec<(&str, String)> = params
                .into_iter()
                .filter(|(k, _)| !matches!(*k, "grant_type" | "client_id" | "client_secret"))
                .collect();
            form.push(("grant_type", grant));
            let header = match who {
                0 => {
                    form.push(("client_id", f_public.clone()));
                    String::new()
                }
                1 => auth[5].clone(),
                2 => auth[6].clone(),
                _ => auth[8].clone(),
            };
            let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let headers: Vec<(&str, &str)> = if header.is_empty() {
                vec![]
            } else {
                vec![("authorization", header.as_str())]
            };
            let r = h.post_form("/token", &pairs, &headers);
            prop_assert!(
                r.status < 500,
                "{} for {:?}: {}",
                r.status,
                form,
                String::from_utf8_lossy(&r.body)
            );
            prop_assert!(r.json()["error"].is_string() || r.status == 200);
            prop_assert_eq!(r.header("cache-control"), Some("no-store"));
            let e = r.json()["error"].as_str().unwrap_or("ok").to_owned();
            *by_error.borrow_mut().entry(e).or_default() += 1;
            Ok(())
        })
        .unwrap();
    let seen = by_error.into_inner();
    for e in [
        "ok",
        "invalid_grant",
        "invalid_request",
        "invalid_client",
        "unsupported_grant_type",
    ] {
        assert!(seen.contains_key(e), "no {e} among {seen:?}");
    }
}

proptest! {
    #![proptest_config(Config { cases: 2000, failure_persistence: None, ..Config::default() })]

    #[test]
    fn uri_parsing_never_panics_and_canonical_forms_are_stable(s in "\\PC{0,80}|[a-zA-Z][a-zA-Z0-9+.-]{0,8}://[a-zA-Z0-9.\\[\\]:%@_~-]{0,30}(/[a-zA-Z0-9./%?#=&-]{0,30})?") {
        if let Ok(u) = mcpgate_core::uri::AbsoluteUri::parse(&s) {
            let canon = u.to_canonical();
            let again = mcpgate_core::uri::AbsoluteUri::parse(&canon).unwrap();
            prop_assert_eq!(again.to_canonical(), canon);
            let _ = u.host_is_ip();
            let _ = u.is_loopback();
        }
    }

    #[test]
    fn an_ip_literal_check_never_panics(s in "\\PC{0,40}") {
        let _ = mcpgate_core::uri::host_is_ip_literal(&s);
    }

    #[test]
    fn form_parsing_never_panics_and_round_trips_distinct_keys(bytes in proptest::collection::vec(any::<u8>(), 0..200), pairs in proptest::collection::btree_map("[a-z_]{1,8}", "\\PC{1,12}", 0..8)) {
        let _ = mcpgate_core::wire::form::Params::parse(&bytes);
        let encoded = form_urlencoded::Serializer::new(String::new()).extend_pairs(&pairs).finish();
        let parsed = mcpgate_core::wire::form::Params::parse(encoded.as_bytes()).unwrap();
        for (k, v) in &pairs {
            prop_assert_eq!(parsed.get(k), Some(v.as_str()));
        }
    }

    #[test]
    fn jws_parsing_never_panics(s in "\\PC{0,120}|[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{0,90}") {
        let _ = mcpgate_guard::ParsedToken::parse(&s);
    }

    #[test]
    fn cookie_and_sealed_value_parsing_never_panic(header in "\\PC{0,80}", value in "\\PC{0,80}") {
        let _ = mcpgate_core::session::cookie(Some(&header), "mcpgate-session");
        let config = config_with("https://auth.example.com", &[]);
        let keys = mcpgate_core::session::Keys::of(&config);
        prop_assert!(keys.session_id(&value).is_none(), "a random value is never a valid session cookie");
        prop_assert!(keys.device_for(&value, "alice", 0).is_none());
        prop_assert!(keys.open::<serde_json::Value>(&value, 0).is_none());
    }

    #[test]
    fn redirect_uri_rules_never_panic_and_never_accept_fragments_or_script_schemes(s in "\\PC{0,60}|(javascript|data|https|http|com\\.example\\.app):[/a-zA-Z0-9.:#*%@-]{0,30}") {
        use mcpgate_core::policy::redirect::{check_registration, AppType};
        for app in [AppType::Web, AppType::Native] {
            if check_registration(&s, app).is_ok() {
                let u = mcpgate_core::uri::AbsoluteUri::parse(&s).unwrap();
                prop_assert!(u.fragment.is_none());
                prop_assert!(!["javascript", "data"].contains(&u.scheme.as_str()));
                prop_assert!(!s.contains('*'));
            }
        }
    }

    #[test]
    fn bearer_header_parsing_never_panics(s in "\\PC{0,60}") {
        let _ = mcpgate_guard::bearer_token(&s);
    }
}

#[test]
fn the_generator_covers_every_route_of_the_admin_api() {
    let h = Harness::new();
    let p = pool(&h);
    let doc = h.get("/admin/v1/openapi.json").json();
    let count = doc["paths"].as_object().unwrap().len();
    assert!(count >= 35, "{count} admin paths");
    let paths: std::collections::BTreeSet<&str> = p
        .admin_routes
        .iter()
        .map(|(_, path)| path.as_str())
        .collect();
    assert!(paths.len() >= count, "every admin path is generated");
}
