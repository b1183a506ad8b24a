//! Sign-in through an upstream OpenID Connect provider, against a fake provider on the test
//! store's fake web (discovery, JWKS, a token endpoint that checks PKCE and client
//! authentication and answers with an ID token signed by the provider's key).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use common::*;
use http::Method;
use mcpgate_core::crypto::{Crypto, PrivateKey, SoftwareCrypto};
use mcpgate_core::testing::block_on;
use serde_json::{json, Value};

const IDP: &str = "https://idp.example";
const IDP_CLIENT: &str = "mcpgate-at-idp";
const IDP_SECRET: &str = "idp-client-secret-0123456789";

/// What the fake provider has issued: code → (PKCE challenge, ID token).
type Issued = Rc<RefCell<HashMap<String, (String, String)>>>;

struct FakeIdp {
    issuer: String,
    key: PrivateKey,
    issued: Issued,
    /// `Authorization` headers the token endpoint received.
    auth_seen: Rc<RefCell<Vec<Option<String>>>>,
}

impl FakeIdp {
    fn install(h: &Harness, issuer: &str, seed: u8) -> FakeIdp {
        let key = PrivateKey::from_scalar([seed; 32]).unwrap();
        let discovery = json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"),
            "jwks_uri": format!("{issuer}/jwks"),
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "authorization_response_iss_parameter_supported": true
        });
        let mut jwk = serde_json::to_value(&key.public).unwrap();
        jwk["kid"] = json!(format!("k{seed}"));
        let mut web = h.store.web.borrow_mut();
        web.insert(
            format!("{issuer}/.well-known/openid-configuration"),
            (200, None, serde_json::to_vec(&discovery).unwrap()),
        );
        web.insert(
            format!("{issuer}/jwks"),
            (
                200,
                None,
                serde_json::to_vec(&json!({ "keys": [jwk] })).unwrap(),
            ),
        );
        let issued: Issued = Rc::default();
        let auth_seen: Rc<RefCell<Vec<Option<String>>>> = Rc::default();
        let (i2, a2) = (issued.clone(), auth_seen.clone());
        h.store.posts.borrow_mut().insert(
            format!("{issuer}/token"),
            Box::new(move |body: &str, auth: Option<&str>| {
                a2.borrow_mut().push(auth.map(str::to_owned));
                let form: HashMap<String, String> = form_urlencoded::parse(body.as_bytes())
                    .into_owned()
                    .collect();
                let expected = basic_auth(IDP_CLIENT, IDP_SECRET);
                if auth != Some(expected.as_str()) {
                    return (401, br#"{"error":"invalid_client"}"#.to_vec());
                }
                // Codes are single use at the provider.
                let Some((challenge, id_token)) =
                    form.get("code").and_then(|c| i2.borrow_mut().remove(c))
                else {
                    return (400, br#"{"error":"invalid_grant"}"#.to_vec());
                };
                let verifier = form.get("code_verifier").cloned().unwrap_or_default();
                if mcpgate_core::policy::pkce::challenge_of(&verifier).as_deref()
                    != Some(challenge.as_str())
                {
                    return (400, br#"{"error":"invalid_grant"}"#.to_vec());
                }
                let answer = json!({ "access_token": "upstream-at", "token_type": "Bearer",
                    "refresh_token": "upstream-rt", "id_token": id_token });
                (200, serde_json::to_vec(&answer).unwrap())
            }),
        );
        FakeIdp {
            issuer: issuer.to_owned(),
            key,
            issued,
            auth_seen,
        }
    }

    fn sign(&self, claims: &Value) -> String {
        let header =
            json!({ "alg": "ES256", "kid": format!("k{}", self.key.scalar()[0]), "typ": "JWT" });
        let input = format!(
            "{}.{}",
            B64.encode(serde_json::to_vec(&header).unwrap()),
            B64.encode(serde_json::to_vec(claims).unwrap())
        );
        let sig = block_on(SoftwareCrypto.sign_es256(&self.key, input.as_bytes())).unwrap();
        format!("{input}.{}", B64.encode(sig))
    }

    /// The provider signs the person in: a code for an ID token with `claims` (plus the
    /// request's nonce, issuer, audience and times unless `claims` sets them).
    fn approve(&self, h: &Harness, to_idp: &Resp, claims: Value) -> String {
        let p = location_params(to_idp);
        let mut c = json!({
            "iss": self.issuer, "aud": IDP_CLIENT, "iat": h.now.get(), "exp": h.now.get() + 300,
            "nonce": param(&p, "nonce").unwrap(),
        });
        for (k, v) in claims.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        let code = format!(
            "code-{}",
            self.issued.borrow().len() + self.auth_seen.borrow().len()
        );
        self.issued.borrow_mut().insert(
            code.clone(),
            (param(&p, "code_challenge").unwrap(), self.sign(&c)),
        );
        code
    }
}

fn add_provider(h: &Harness, issuer: &str, extra: Value) -> String {
    let mut body = json!({ "issuer": issuer, "display_name": "Example SSO", "client_id": IDP_CLIENT,
        "client_secret": IDP_SECRET });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    h.ok(Method::POST, "/admin/v1/identity-providers", Some(body))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Opens the authorization request signed out and clicks "Sign in with …" for `provider`:
/// the response sends the browser to the provider.
fn to_provider(h: &Harness, b: &mut Browser, query: &str, provider: &str) -> Resp {
    let page = b.get(h, &format!("/authorize?{query}"));
    assert_eq!(page.status, 200);
    let html = String::from_utf8_lossy(&page.body).to_string();
    let marker = format!("/authorize/federate?provider={provider}");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no button for {provider}: {html}"));
    let href = &html[start..start + html[start..].find('"').unwrap()];
    b.get(h, &href.replace("&amp;", "&"))
}

/// The provider sends the browser back with `code` (and `iss`, as it promises).
fn back(
    h: &Harness,
    b: &mut Browser,
    provider: &str,
    to_idp: &Resp,
    code: &str,
    iss: &str,
) -> Resp {
    let p = location_params(to_idp);
    let q = form_urlencoded::Serializer::new(String::new())
        .append_pair("code", code)
        .append_pair("state", &param(&p, "state").unwrap())
        .append_pair("iss", iss)
        .finish();
    b.get(h, &format!("/authorize/callback/{provider}?{q}"))
}

/// Follows a redirect back into mcpgate.
fn follow(h: &Harness, b: &mut Browser, r: &Resp) -> Resp {
    assert_eq!(r.status, 303, "{}", String::from_utf8_lossy(&r.body));
    let loc = r.header("location").unwrap().to_owned();
    b.get(h, loc.strip_prefix(&h.config.issuer).unwrap())
}

fn consent(h: &Harness, b: &mut Browser, page: &Resp) -> Resp {
    let body = String::from_utf8_lossy(&page.body).to_string();
    assert!(
        body.contains("name=\"decision\""),
        "consent page expected: {body}"
    );
    b.post(
        h,
        "/authorize/consent",
        &[
            ("csrf", &hidden(&body, "csrf").unwrap()),
            ("request", &hidden(&body, "request").unwrap()),
            ("decision", "allow"),
        ],
    )
}

fn signed_in_user(h: &Harness, provider: &str, subject: &str) -> Option<String> {
    let users = h.ok(Method::GET, "/admin/v1/users?limit=100", None);
    for u in users["items"].as_array().unwrap() {
        let id = u["id"].as_str().unwrap();
        let ids = h.ok(
            Method::GET,
            &format!("/admin/v1/users/{id}/identities"),
            None,
        );
        if ids["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["provider_id"] == provider && i["subject"] == subject)
        {
            return Some(id.to_owned());
        }
    }
    None
}

/// A group holding `role`.
fn group_with_role(h: &Harness, name: &str, role: &str) -> String {
    let id = h.ok(
        Method::POST,
        "/admin/v1/groups",
        Some(json!({ "name": name })),
    )["id"]
        .as_str()
        .unwrap()
        .to_owned();
    h.ok(
        Method::PUT,
        &format!("/admin/v1/groups/{id}/roles/{role}"),
        None,
    );
    id
}

fn body(r: &Resp) -> String {
    String::from_utf8_lossy(&r.body).to_string()
}

#[test]
fn a_person_signs_in_upstream_is_created_just_in_time_and_still_consents_here() {
    let h = Harness::new();
    let f = h.fixture();
    let idp = FakeIdp::install(&h, IDP, 3);
    let staff = group_with_role(&h, "staff", &f.reader);
    let provider = add_provider(
        &h,
        IDP,
        json!({ "group_mappings": [{ "value": "staff", "group_id": staff }] }),
    );
    let mut b = Browser::default();
    let query = authorize_query(&f.public_app, Some("notes.read"), NOTES, "st");
    let to_idp = to_provider(&h, &mut b, &query, &provider);
    // The browser goes to the provider with code + PKCE S256, a nonce, a state and this
    // provider's own redirect URI.
    assert_eq!(to_idp.status, 303);
    let loc = to_idp.header("location").unwrap();
    assert!(loc.starts_with(&format!("{IDP}/authorize?")), "{loc}");
    let p = location_params(&to_idp);
    assert_eq!(param(&p, "response_type").as_deref(), Some("code"));
    assert_eq!(param(&p, "client_id").as_deref(), Some(IDP_CLIENT));
    assert_eq!(param(&p, "code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(
        param(&p, "redirect_uri"),
        Some(format!("{}/authorize/callback/{provider}", h.config.issuer))
    );
    assert!(param(&p, "nonce").unwrap().len() >= 43 && param(&p, "state").unwrap().len() >= 43);
    assert!(param(&p, "scope")
        .unwrap()
        .split(' ')
        .any(|s| s == "openid"));
    assert_eq!(param(&p, "prompt"), None);
    // A client asking for a fresh sign-in (prompt=login) gets one at the provider too.
    let fresh = to_provider(
        &h,
        &mut Browser::default(),
        &format!("{query}&prompt=login"),
        &provider,
    );
    assert_eq!(
        param(&location_params(&fresh), "prompt").as_deref(),
        Some("login")
    );
    let code = idp.approve(
        &h,
        &to_idp,
        json!({ "sub": "u-100", "email": "Carol@Corp.example", "email_verified": true,
            "name": "Carol", "groups": ["staff"] }),
    );
    let r = back(&h, &mut b, &provider, &to_idp, &code, IDP);
    // The client secret went as HTTP Basic; the flow cookie is cleared.
    assert_eq!(idp.auth_seen.borrow().len(), 1);
    assert!(r
        .headers
        .get_all("set-cookie")
        .iter()
        .any(|c| c.to_str().unwrap().contains("mcpgate-upstream=;")));
    // Back at the authorization request, signed in: mcpgate's own consent page asks.
    let page = follow(&h, &mut b, &r);
    assert!(
        body(&page).contains("Desktop"),
        "{} {:?} {}",
        page.status,
        page.header("location"),
        body(&page)
    );
    let user = signed_in_user(&h, &provider, "u-100").expect("a user was created");
    let u = h.ok(Method::GET, &format!("/admin/v1/users/{user}"), None);
    assert_eq!(u["username"], "carol@corp.example");
    assert_eq!(u["has_password"], false);
    // Carol holds notes.read through the group her claim maps to; her token names her.
    let r = consent(&h, &mut b, &page);
    let code = param(&location_params(&r), "code").expect("a code");
    let t = h.redeem(&f.public_app, &code);
    assert_eq!(t.status, 200, "{}", body(&t));
    let claims = verify_token(&h, &access_token(&t), NOTES);
    assert_eq!(claims.subject(), user);
    assert!(claims.has_scope("notes.read"));
    // The provider's own tokens are not in mcpgate's answer.
    assert!(!body(&t).contains("upstream-at") && !body(&t).contains("upstream-rt"));
}

#[test]
fn group_claims_map_to_groups_at_every_sign_in_and_a_removed_group_drops_its_scope_at_refresh() {
    let h = Harness::new();
    let f = h.fixture();
    let idp = FakeIdp::install(&h, IDP, 4);
    let eng = group_with_role(&h, "engineering", &f.reader);
    let provider = add_provider(
        &h,
        IDP,
        json!({ "group_mappings": [{ "value": "eng", "group_id": eng }] }),
    );
    let sign_in = |b: &mut Browser, groups: Value| -> Resp {
        let query = authorize_query(&f.public_app, Some("notes.read"), NOTES, "st");
        let to_idp = to_provider(&h, b, &query, &provider);
        let code = idp.approve(&h, &to_idp, json!({ "sub": "dev-1", "groups": groups }));
        let r = back(&h, b, &provider, &to_idp, &code, IDP);
        follow(&h, b, &r)
    };
    let mut b = Browser::default();
    let page = sign_in(&mut b, json!(["eng", "other"]));
    let r = consent(&h, &mut b, &page);
    let code = param(&location_params(&r), "code").unwrap();
    let t = h.redeem(&f.public_app, &code).json();
    let claims = verify_token(&h, t["access_token"].as_str().unwrap(), NOTES);
    assert!(
        claims.has_scope("notes.read"),
        "held through the mapped group"
    );
    let user = signed_in_user(&h, &provider, "dev-1").unwrap();
    let members = h.ok(
        Method::GET,
        &format!("/admin/v1/groups/{eng}/members"),
        None,
    );
    assert_eq!(members["users"][0]["id"], user.as_str());
    // At the provider, dev-1 leaves "eng"; the next sign-in (a fresh browser) re-applies the
    // mapping, and the refresh token issued before now yields a token without the scope.
    let mut b2 = Browser::default();
    let page = sign_in(&mut b2, json!(["other"]));
    assert_eq!(
        page.status, 303,
        "consent remembered: straight back to the client"
    );
    let members = h.ok(
        Method::GET,
        &format!("/admin/v1/groups/{eng}/members"),
        None,
    );
    assert!(members["users"].as_array().unwrap().is_empty());
    let r = h.token(
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &f.public_app),
            ("refresh_token", t["refresh_token"].as_str().unwrap()),
        ],
        None,
    );
    // The only scope the grant held went with the group: the refresh is refused (RFC 6749
    // §5.2), and no token carries it.
    assert_eq!(r.status, 400, "{}", body(&r));
    assert_eq!(r.json()["error"], "invalid_scope");
    // A membership an admin made is not the provider's to remove, also when the provider's
    // mapping had made it first.
    sign_in(&mut Browser::default(), json!(["eng"]));
    h.ok(
        Method::PUT,
        &format!("/admin/v1/groups/{eng}/users/{user}"),
        None,
    );
    sign_in(&mut Browser::default(), json!([]));
    let members = h.ok(
        Method::GET,
        &format!("/admin/v1/groups/{eng}/members"),
        None,
    );
    assert_eq!(members["users"][0]["id"], user.as_str());
}

#[test]
fn answers_that_do_not_belong_to_this_browsers_sign_in_are_refused() {
    let h = Harness::new();
    let f = h.fixture();
    let idp = FakeIdp::install(&h, IDP, 5);
    let other_idp = FakeIdp::install(&h, "https://other-idp.example", 6);
    let provider = add_provider(&h, IDP, json!({}));
    let other = add_provider(
        &h,
        "https://other-idp.example",
        json!({ "display_name": "Other" }),
    );
    let query = authorize_query(&f.public_app, Some("notes.read"), NOTES, "st");
    let refused = |r: &Resp| {
        assert!(r.status >= 400, "{} {}", r.status, body(r));
        assert!(r.header("location").is_none());
        assert!(!r
            .headers
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().contains("mcpgate-session=")));
    };
    // Another browser (no flow cookie) presenting a valid code and state: login CSRF.
    let mut b = Browser::default();
    let to_idp = to_provider(&h, &mut b, &query, &provider);
    let code = idp.approve(&h, &to_idp, json!({ "sub": "x" }));
    refused(&back(
        &h,
        &mut Browser::default(),
        &provider,
        &to_idp,
        &code,
        IDP,
    ));
    // A wrong state.
    let mut b = Browser::default();
    let to_idp = to_provider(&h, &mut b, &query, &provider);
    let code = idp.approve(&h, &to_idp, json!({ "sub": "x" }));
    let r = b.get(
        &h,
        &format!("/authorize/callback/{provider}?code={code}&state=forged&iss={IDP}"),
    );
    refused(&r);
    // Mix-up: the browser went to one provider, an answer arrives at another's redirect URI,
    // or names another issuer.
    let mut b = Browser::default();
    let to_idp = to_provider(&h, &mut b, &query, &provider);
    let code = idp.approve(&h, &to_idp, json!({ "sub": "x" }));
    refused(&back(&h, &mut b.clone(), &other, &to_idp, &code, IDP));
    refused(&back(
        &h,
        &mut b.clone(),
        &provider,
        &to_idp,
        &code,
        "https://other-idp.example",
    ));
    // The provider promises `iss`: an answer without it is refused.
    let p = location_params(&to_idp);
    let r = b.clone().get(
        &h,
        &format!(
            "/authorize/callback/{provider}?code={code}&state={}",
            param(&p, "state").unwrap()
        ),
    );
    refused(&r);
    // The flow is single use: after one answer (even a refused one) the cookie is gone.
    let r = back(
        &h,
        &mut b,
        &provider,
        &to_idp,
        &code,
        "https://wrong.example",
    );
    refused(&r);
    refused(&back(&h, &mut b, &provider, &to_idp, &code, IDP));
    // And an expired flow is refused.
    let mut b = Browser::default();
    let to_idp = to_provider(&h, &mut b, &query, &other);
    // (The ID token itself would still be valid: only the flow has expired.)
    let code = other_idp.approve(
        &h,
        &to_idp,
        json!({ "sub": "x", "exp": h.now.get() + 5000 }),
    );
    h.advance(601);
    let r = back(
        &h,
        &mut b,
        &other,
        &to_idp,
        &code,
        "https://other-idp.example",
    );
    refused(&r);
    assert!(body(&r).contains("expired or was started in another browser"));
    // Started from another site: refused before anything is sealed.
    let r = h.request(
        Method::GET,
        &format!("/authorize/federate?provider={provider}&continue=x"),
        &[("sec-fetch-site", "cross-site")],
        b"",
    );
    assert_eq!(r.status, 403);
    assert!(r.header("location").is_none());
    assert!(signed_in_user(&h, &provider, "x").is_none());
    assert!(signed_in_user(&h, &other, "x").is_none());
}

#[test]
fn id_tokens_tampered_for_another_sign_in_client_or_issuer_or_expired_are_refused() {
    let h = Harness::new();
    let f = h.fixture();
    let idp = FakeIdp::install(&h, IDP, 7);
    let provider = add_provider(&h, IDP, json!({}));
    let query = authorize_query(&f.public_app, Some("notes.read"), NOTES, "st");
    let attempt = |claims: Value, tamper: bool| -> Resp {
        let mut b = Browser::default();
        let to_idp = to_provider(&h, &mut b, &query, &provider);
        let code = idp.approve(&h, &to_idp, claims);
        if tamper {
            let mut issued = idp.issued.borrow_mut();
            let (_, t) = issued.get_mut(&code).unwrap();
            let parts: Vec<&str> = t.split('.').collect();
            let mut c: Value = serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
            c["sub"] = json!("admin");
            *t = format!(
                "{}.{}.{}",
                parts[0],
                B64.encode(serde_json::to_vec(&c).unwrap()),
                parts[2]
            );
        }
        back(&h, &mut b, &provider, &to_idp, &code, IDP)
    };
    let cases = [
        (json!({ "sub": "t1" }), true, "signature"),
        (
            json!({ "sub": "t2", "nonce": "from-another-sign-in" }),
            false,
            "nonce",
        ),
        (
            json!({ "sub": "t3", "iss": "https://other-idp.example" }),
            false,
            "issuer",
        ),
        (
            json!({ "sub": "t4", "aud": "someone-else" }),
            false,
            "client",
        ),
        (json!({ "sub": "t5", "exp": 1 }), false, "expired"),
        (json!({ "sub": null }), false, "sub"),
    ];
    for (claims, tamper, why) in cases {
        let r = attempt(claims.clone(), tamper);
        assert_eq!(r.status, 403, "{claims}: {}", body(&r));
        assert!(body(&r).contains(why), "{claims}: {}", body(&r));
    }
    for sub in ["t1", "admin", "t2", "t3", "t4", "t5"] {
        assert!(signed_in_user(&h, &provider, sub).is_none(), "{sub}");
    }
    // A replayed code: the provider refuses it the second time, so nobody signs in.
    let mut b = Browser::default();
    let to_idp = to_provider(&h, &mut b, &query, &provider);
    let code = idp.approve(&h, &to_idp, json!({ "sub": "r1" }));
    assert_eq!(
        back(&h, &mut b.clone(), &provider, &to_idp, &code, IDP).status,
        303
    );
    let r = back(&h, &mut b, &provider, &to_idp, &code, IDP);
    assert!(r.status >= 400);
}

#[test]
fn a_disabled_provider_signs_no_one_in_and_a_disabled_user_stays_out() {
    let h = Harness::new();
    let f = h.fixture();
    let idp = FakeIdp::install(&h, IDP, 8);
    let provider = add_provider(&h, IDP, json!({}));
    let query = authorize_query(&f.public_app, Some("notes.read"), NOTES, "st");
    let mut b = Browser::default();
    let to_idp = to_provider(&h, &mut b, &query, &provider);
    let code = idp.approve(&h, &to_idp, json!({ "sub": "d-1" }));
    assert_eq!(back(&h, &mut b, &provider, &to_idp, &code, IDP).status, 303);
    let user = signed_in_user(&h, &provider, "d-1").unwrap();
    // Disabled while a browser is at the provider: the answer is refused.
    let mut b = Browser::default();
    let to_idp = to_provider(&h, &mut b, &query, &provider);
    let code = idp.approve(&h, &to_idp, json!({ "sub": "d-1" }));
    h.ok(
        Method::PATCH,
        &format!("/admin/v1/identity-providers/{provider}"),
        Some(json!({ "status": "disabled" })),
    );
    assert_eq!(back(&h, &mut b, &provider, &to_idp, &code, IDP).status, 404);
    // The login page no longer offers it, and starting it directly is refused.
    let page = Browser::default().get(&h, &format!("/authorize?{query}"));
    assert!(!body(&page).contains("Example SSO"));
    let r = Browser::default().get(
        &h,
        &format!("/authorize/federate?provider={provider}&continue=x"),
    );
    assert_eq!(r.status, 404);
    // Enabled again, a user an admin disabled cannot sign in through it.
    h.ok(
        Method::PATCH,
        &format!("/admin/v1/identity-providers/{provider}"),
        Some(json!({ "status": "active" })),
    );
    h.ok(
        Method::PATCH,
        &format!("/admin/v1/users/{user}"),
        Some(json!({ "status": "disabled" })),
    );
    let mut b = Browser::default();
    let to_idp = to_provider(&h, &mut b, &query, &provider);
    let code = idp.approve(&h, &to_idp, json!({ "sub": "d-1" }));
    let r = back(&h, &mut b, &provider, &to_idp, &code, IDP);
    assert_eq!(r.status, 403, "{}", body(&r));
    assert!(body(&r).contains("disabled"));
}

#[test]
fn existing_only_providers_need_a_link_and_a_verified_email_links_only_an_unlinked_account() {
    let h = Harness::new();
    let f = h.fixture();
    let idp = FakeIdp::install(&h, IDP, 9);
    let provider = add_provider(
        &h,
        IDP,
        json!({ "provisioning": "existing", "link_verified_email": true,
            "email_domains": ["corp.example"] }),
    );
    let query = authorize_query(&f.public_app, Some("notes.read"), NOTES, "st");
    let attempt = |claims: Value| -> Resp {
        let mut b = Browser::default();
        let to_idp = to_provider(&h, &mut b, &query, &provider);
        let code = idp.approve(&h, &to_idp, claims);
        back(&h, &mut b, &provider, &to_idp, &code, IDP)
    };
    // Nobody is linked and no user has the email: refused, nothing created.
    let r = attempt(json!({ "sub": "e-1", "email": "dana@corp.example", "email_verified": true }));
    assert_eq!(r.status, 403);
    assert!(body(&r).contains("No account here is linked"));
    // An admin creates dana; an unverified email does not link, a verified one does.
    let dana = h.ok(
        Method::POST,
        "/admin/v1/users",
        Some(json!({ "username": "dana@corp.example" })),
    )["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = attempt(json!({ "sub": "e-1", "email": "dana@corp.example", "email_verified": false }));
    assert_eq!(r.status, 403);
    // A verified address outside the provider's own domains links nothing either.
    h.ok(
        Method::POST,
        "/admin/v1/users",
        Some(json!({ "username": "admin@elsewhere.example" })),
    );
    let r = attempt(
        json!({ "sub": "e-9", "email": "admin@elsewhere.example", "email_verified": true }),
    );
    assert_eq!(r.status, 403);
    assert!(signed_in_user(&h, &provider, "e-9").is_none());
    let r = attempt(json!({ "sub": "e-1", "email": "dana@corp.example", "email_verified": true }));
    assert_eq!(r.status, 303, "{}", body(&r));
    assert_eq!(signed_in_user(&h, &provider, "e-1"), Some(dana.clone()));
    // Another upstream account claiming the same verified email does not take dana over:
    // her account is linked already.
    let r = attempt(json!({ "sub": "e-2", "email": "dana@corp.example", "email_verified": true }));
    assert_eq!(r.status, 403);
    assert!(signed_in_user(&h, &provider, "e-2").is_none());
    // The explicit admin link works for an existing-only provider.
    let erin = h.ok(
        Method::POST,
        "/admin/v1/users",
        Some(json!({ "username": "erin" })),
    )["id"]
        .as_str()
        .unwrap()
        .to_owned();
    h.ok(
        Method::POST,
        &format!("/admin/v1/users/{erin}/identities"),
        Some(json!({ "provider_id": provider, "subject": "e-3" })),
    );
    assert_eq!(attempt(json!({ "sub": "e-3" })).status, 303);
    // Linking the same upstream identity to someone else conflicts.
    let r = h.admin(
        Method::POST,
        &format!("/admin/v1/users/{dana}/identities"),
        Some(json!({ "provider_id": provider, "subject": "e-3" })),
    );
    assert_eq!(r.status, 409);
}

#[test]
fn an_email_domain_routes_to_its_provider_and_password_sign_in_can_be_turned_off() {
    let h = Harness::with_config(config_with(
        "https://auth.example.com",
        &[("MCPGATE_PASSWORD_SIGNIN", "false")],
    ));
    let f = h.fixture();
    FakeIdp::install(&h, IDP, 10);
    let provider = add_provider(
        &h,
        IDP,
        json!({ "email_domains": ["corp.example"], "button_label": "Continue with your Corp account" }),
    );
    let query = authorize_query(&f.public_app, Some("notes.read"), NOTES, "st");
    let mut b = Browser::default();
    let page = b.get(&h, &format!("/authorize?{query}"));
    let html = body(&page);
    assert!(!html.contains("name=\"password\""), "no password form");
    assert!(
        html.contains("Continue with your Corp account"),
        "the admin's button label"
    );
    // The form posts an email: it goes to the provider with a login hint, nothing counted.
    // Without a password form, a direct post with a password is refused.
    let mut b = Browser::default();
    let page = b.get(&h, &format!("/authorize?{query}"));
    let html = body(&page);
    let csrf = hidden(&html, "csrf").unwrap_or_else(|| {
        // The password form is gone; the CSRF cookie is still set for a hand-made post.
        b.cookies
            .iter()
            .find(|(k, _)| k.ends_with("mcpgate-csrf"))
            .unwrap()
            .1
            .clone()
    });
    let r = b.post(
        &h,
        "/authorize/login",
        &[
            ("csrf", &csrf),
            ("continue", &query),
            ("username", "alice"),
            ("password", PASSWORD),
        ],
    );
    assert_eq!(r.status, 403, "{}", body(&r));
    assert!(body(&r).contains("Password sign-in is turned off"));
    assert!(!r
        .headers
        .get_all("set-cookie")
        .iter()
        .any(|c| c.to_str().unwrap().contains("mcpgate-session=")));
    let r = b.post(
        &h,
        "/authorize/login",
        &[
            ("csrf", &csrf),
            ("continue", &query),
            ("username", "Frank@Corp.example"),
            ("password", ""),
        ],
    );
    assert_eq!(r.status, 303, "{}", body(&r));
    let loc = r.header("location").unwrap();
    assert!(loc.contains(&format!("/authorize/federate?provider={provider}")));
    assert!(loc.contains("login_hint=Frank%40Corp.example"));
    let r = follow(&h, &mut b, &r);
    assert!(r.header("location").unwrap().starts_with(IDP));
    assert_eq!(
        param(&location_params(&r), "login_hint").as_deref(),
        Some("Frank@Corp.example")
    );
}

#[test]
fn the_providers_client_secret_is_sealed_at_rest_and_never_shown() {
    let h = Harness::new();
    let provider = add_provider(&h, IDP, json!({}));
    let v = h.ok(
        Method::GET,
        &format!("/admin/v1/identity-providers/{provider}"),
        None,
    );
    assert_eq!(v["has_client_secret"], true);
    assert!(!v.to_string().contains(IDP_SECRET));
    let rows = block_on(mcpgate_core::store::Database::query(
        &h.store,
        mcpgate_core::directory::identity_providers::get_stmt(&provider),
    ))
    .unwrap();
    let stored = serde_json::to_string(&rows).unwrap();
    assert!(!stored.contains(IDP_SECRET), "sealed: {stored}");
    // Bad input names the field.
    for (body, field) in [
        (
            json!({ "issuer": "http://idp.example", "display_name": "x", "client_id": "c" }),
            "issuer",
        ),
        (
            json!({ "issuer": IDP, "display_name": "x", "client_id": "c", "scopes": "email" }),
            "scopes",
        ),
        (
            json!({ "issuer": "https://b.example", "display_name": "x", "client_id": "c",
            "email_domains": ["not a domain"] }),
            "email_domains[0]",
        ),
        (
            json!({ "issuer": "https://c.example", "display_name": "x", "client_id": "c",
            "group_mappings": [{ "value": "v", "group_id": "grp_nope" }] }),
            "group_mappings[0].group_id",
        ),
    ] {
        let r = h.admin(
            Method::POST,
            "/admin/v1/identity-providers",
            Some(body.clone()),
        );
        assert_eq!(r.status, 400, "{body}");
        assert!(r.json().to_string().contains(field), "{body}: {}", r.json());
    }
    let r = h.admin(
        Method::POST,
        "/admin/v1/identity-providers",
        Some(json!({ "issuer": IDP, "display_name": "Again", "client_id": "c" })),
    );
    assert_eq!(r.status, 409, "one provider per issuer");
    // Its links and sealed secret belong to its issuer: the issuer cannot be changed.
    let r = h.admin(
        Method::PATCH,
        &format!("/admin/v1/identity-providers/{provider}"),
        Some(json!({ "issuer": "https://attacker.example" })),
    );
    assert_eq!(r.status, 400);
    assert!(r.json().to_string().contains("issuer"));
    // Identity assertions need a confidential client.
    let r = h.admin(
        Method::POST,
        "/admin/v1/applications",
        Some(json!({ "name": "p", "client_type": "public", "application_type": "native",
            "redirect_uris": [CB], "grant_types": ["urn:ietf:params:oauth:grant-type:jwt-bearer"] })),
    );
    assert_eq!(r.status, 400, "{}", body(&r));
}

// ------------------------------------------------------------------ identity assertions (ID-JAG)

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

struct Jag {
    h: Harness,
    f: Fixture,
    idp: FakeIdp,
    app: String,
    secret: String,
}

/// A trusted enterprise provider (ID-JAG on), alice linked to its subject `alice-at-corp`, and
/// a confidential application allowed the JWT bearer grant, holding the reader role.
fn jag() -> Jag {
    let h = Harness::new();
    let f = h.fixture();
    let idp = FakeIdp::install(&h, IDP, 11);
    let provider = add_provider(&h, IDP, json!({ "id_jag": true }));
    h.ok(
        Method::POST,
        &format!("/admin/v1/users/{}/identities", f.alice),
        Some(json!({ "provider_id": provider, "subject": "alice-at-corp" })),
    );
    let app = h.ok(
        Method::POST,
        "/admin/v1/applications",
        Some(
            json!({ "name": "Enterprise agent", "client_type": "confidential",
            "redirect_uris": ["https://agent.example/cb"], "grant_types": [JWT_BEARER],
            "roles": [f.reader] }),
        ),
    );
    Jag {
        app: app["client_id"].as_str().unwrap().to_owned(),
        secret: app["client_secret"].as_str().unwrap().to_owned(),
        h,
        f,
        idp,
    }
}

impl Jag {
    fn claims(&self, extra: Value) -> Value {
        let now = self.h.now.get();
        let mut c = json!({
            "iss": IDP, "sub": "alice-at-corp", "aud": self.h.config.issuer, "client_id": self.app,
            "jti": format!("jti-{now}-{}", extra), "iat": now, "exp": now + 300,
            "resource": NOTES, "scope": "notes.read notes.write",
        });
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    }

    fn assertion(&self, claims: &Value, typ: &str) -> String {
        let header = json!({ "alg": "ES256", "kid": "k11", "typ": typ });
        let input = format!(
            "{}.{}",
            B64.encode(serde_json::to_vec(&header).unwrap()),
            B64.encode(serde_json::to_vec(claims).unwrap())
        );
        let sig = block_on(SoftwareCrypto.sign_es256(&self.idp.key, input.as_bytes())).unwrap();
        format!("{input}.{}", B64.encode(sig))
    }

    fn present(&self, assertion: &str, extra: &[(&str, &str)]) -> Resp {
        let mut form = vec![("grant_type", JWT_BEARER), ("assertion", assertion)];
        form.extend_from_slice(extra);
        self.h.token(&form, Some((&self.app, &self.secret)))
    }
}

#[test]
fn a_trusted_identity_assertion_gets_a_token_for_the_linked_user_through_the_grant_model() {
    let j = jag();
    let meta = j.h.get("/.well-known/oauth-authorization-server").json();
    assert!(meta["grant_types_supported"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g == JWT_BEARER));
    let r = j.present(&j.assertion(&j.claims(json!({})), "oauth-id-jag+jwt"), &[]);
    assert_eq!(r.status, 200, "{}", body(&r));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let t = r.json();
    assert!(
        t.get("refresh_token").is_none(),
        "the client asks its provider again instead"
    );
    let v = verify_token(&j.h, t["access_token"].as_str().unwrap(), NOTES);
    assert_eq!(v.subject(), j.f.alice);
    assert_eq!(v.client_id(), j.app);
    assert_eq!(
        v.claims.act.as_ref().map(|a| a.sub.as_str()),
        Some(j.app.as_str())
    );
    // Asked for read and write; alice holds read only, and the client's ceiling is read.
    assert!(v.has_scope("notes.read") && !v.has_scope("notes.write"));
    // Disabling the user stops tokens from assertions like any other.
    j.h.ok(
        Method::PATCH,
        &format!("/admin/v1/users/{}", j.f.alice),
        Some(json!({ "status": "disabled" })),
    );
    let r = j.present(
        &j.assertion(
            &j.claims(json!({ "jti": "after-disable" })),
            "oauth-id-jag+jwt",
        ),
        &[],
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "invalid_grant");
}

#[test]
fn identity_assertions_that_are_replayed_misaddressed_expired_untrusted_or_for_another_client_are_refused(
) {
    let j = jag();
    let ok = j.assertion(&j.claims(json!({ "jti": "once" })), "oauth-id-jag+jwt");
    assert_eq!(j.present(&ok, &[]).status, 200);
    let refused = |r: &Resp, error: &str, why: &str| {
        assert_eq!(r.status, 400, "{why}: {}", body(r));
        assert_eq!(r.json()["error"], error, "{why}: {}", body(r));
        assert!(
            r.json()["error_description"]
                .as_str()
                .unwrap_or_default()
                .contains(why),
            "{why}: {}",
            body(r)
        );
    };
    refused(&j.present(&ok, &[]), "invalid_grant", "used before");
    let now = j.h.now.get();
    for (extra, why) in [
        (json!({ "aud": "https://other-as.example" }), "audience"),
        (
            json!({ "aud": [j.h.config.issuer, "https://other-as.example"] }),
            "audience",
        ),
        (json!({ "scope": ["notes.read"] }), "scope must be a string"),
        (json!({ "exp": now - 120 }), "expired"),
        (json!({ "exp": now + 7200 }), "longer than an hour"),
        (json!({ "client_id": j.f.conf_app }), "another client"),
        (json!({ "jti": null }), "no jti"),
        (json!({ "sub": "stranger" }), "not linked"),
        (
            json!({ "iss": "https://evil.example" }),
            "not a trusted identity provider",
        ),
    ] {
        let r = j.present(
            &j.assertion(&j.claims(extra.clone()), "oauth-id-jag+jwt"),
            &[],
        );
        refused(&r, "invalid_grant", why);
    }
    // Not an ID-JAG (an ID token is not an authorization grant).
    let r = j.present(&j.assertion(&j.claims(json!({ "jti": "t1" })), "JWT"), &[]);
    refused(&r, "invalid_grant", "typ");
    // Another key signed it.
    let forged = {
        let mut parts: Vec<String> = j
            .assertion(&j.claims(json!({ "jti": "t2" })), "oauth-id-jag+jwt")
            .split('.')
            .map(str::to_owned)
            .collect();
        let c = j.claims(json!({ "jti": "t2", "sub": "alice-at-corp", "scope": "notes.admin" }));
        parts[1] = B64.encode(serde_json::to_vec(&c).unwrap());
        parts.join(".")
    };
    refused(&j.present(&forged, &[]), "invalid_grant", "signature");
    // A resource other than the assertion's.
    let a = j.assertion(&j.claims(json!({ "jti": "t3" })), "oauth-id-jag+jwt");
    refused(
        &j.present(&a, &[("resource", FILES)]),
        "invalid_target",
        "differs",
    );
    // A provider the admin did not trust for assertions.
    let provider = j.h.ok(Method::GET, "/admin/v1/identity-providers", None)["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    j.h.ok(
        Method::PATCH,
        &format!("/admin/v1/identity-providers/{provider}"),
        Some(json!({ "id_jag": false })),
    );
    let a = j.assertion(&j.claims(json!({ "jti": "t4" })), "oauth-id-jag+jwt");
    refused(
        &j.present(&a, &[]),
        "invalid_grant",
        "not a trusted identity provider",
    );
    // A client not allowed the grant.
    let r = j.h.token(
        &[("grant_type", JWT_BEARER), ("assertion", &a)],
        Some((&j.f.conf_app, &j.f.conf_secret)),
    );
    refused(&r, "unauthorized_client", "may not use");
}

#[test]
fn one_identity_assertion_presented_twice_at_once_gets_one_token() {
    let j = jag();
    // The two requests interleaved at several points, the same statement first among them.
    for delay in 0..6 {
        let a = j.assertion(
            &j.claims(json!({ "jti": format!("p{delay}") })),
            "oauth-id-jag+jwt",
        );
        let req = || {
            let basic = basic_auth(&j.app, &j.secret);
            form_request(
                "/token",
                &[("grant_type", JWT_BEARER), ("assertion", &a)],
                &[("authorization", &basic)],
            )
        };
        let (x, y) = j.h.race(req(), req(), delay);
        let ok = [&x, &y].iter().filter(|r| r.status == 200).count();
        assert_eq!(ok, 1, "delay {delay}: {} / {}", body(&x), body(&y));
    }
}
