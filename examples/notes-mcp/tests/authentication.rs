//! Every request to /mcp needs a valid mcpgate access token for this resource: 401 with the
//! MCP authorization spec's challenge otherwise, 503 when revocations cannot be checked.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use common::*;

fn missing_token_challenge(notes: &Notes) -> String {
    format!(
        r#"Bearer resource_metadata="{}", scope="notes.read notes.write notes.delete""#,
        notes.metadata_url()
    )
}

/// A 401 whose challenge is exactly `invalid_token` with the metadata URL and every scope.
fn assert_invalid_token(answer: &Answer, notes: &Notes) {
    assert_eq!(answer.status, 401);
    let challenge = format!(
        r#"Bearer error="invalid_token", resource_metadata="{}", scope="notes.read notes.write notes.delete""#,
        notes.metadata_url()
    );
    assert_eq!(answer.www_authenticate.as_deref(), Some(challenge.as_str()));
}

#[tokio::test]
async fn request_without_token_gets_401_with_resource_metadata_and_scope() {
    let issuer = Issuer::start().await;
    let notes = Notes::start(&issuer).await;
    let mut anonymous = Mcp::new(notes.resource.clone(), None);
    let answer = anonymous
        .rpc(
            "initialize",
            serde_json::json!({"protocolVersion": PROTOCOL_VERSION, "capabilities": {},
                               "clientInfo": {"name": "t", "version": "0"}}),
        )
        .await;
    assert_eq!(answer.status, 401);
    assert_eq!(
        answer.www_authenticate.as_deref(),
        Some(missing_token_challenge(&notes).as_str())
    );
    assert!(
        answer.session.is_none(),
        "no session for an anonymous request"
    );
    notes.shutdown().await;
}

#[tokio::test]
async fn get_and_delete_without_token_get_401_too() {
    let issuer = Issuer::start().await;
    let notes = Notes::start(&issuer).await;
    let anonymous = Mcp::new(notes.resource.clone(), None);
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let r = anonymous.send(method.clone()).await;
        assert_eq!(r.status(), 401, "{method}");
        assert_eq!(
            r.headers()["www-authenticate"].to_str().unwrap(),
            missing_token_challenge(&notes),
            "{method}"
        );
    }
    notes.shutdown().await;
}

#[tokio::test]
async fn non_bearer_authorization_counts_as_no_token() {
    let issuer = Issuer::start().await;
    let notes = Notes::start(&issuer).await;
    let r = reqwest::Client::new()
        .post(&notes.resource)
        .header("authorization", "Basic dXNlcjpwYXNz")
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["www-authenticate"].to_str().unwrap(),
        missing_token_challenge(&notes)
    );
    notes.shutdown().await;
}

#[tokio::test]
async fn malformed_token_gets_401_invalid_token() {
    let issuer = Issuer::start().await;
    let notes = Notes::start(&issuer).await;
    let mut client = notes.client("not.a.jwt");
    let answer = client.list_tools().await;
    assert_invalid_token(&answer, &notes);
    notes.shutdown().await;
}

#[tokio::test]
async fn expired_token_gets_401_invalid_token() {
    let issuer = Issuer::start().await;
    let notes = Notes::start(&issuer).await;
    let mut spec = TokenSpec::new("alice", "notes.read", &notes.resource);
    spec.iat = now() - 3600;
    spec.exp = now() - 600;
    let mut client = notes.client(&issuer.mint(&spec));
    let answer = client.list_tools().await;
    assert_invalid_token(&answer, &notes);
    notes.shutdown().await;
}

#[tokio::test]
async fn token_for_another_resource_gets_401_invalid_token() {
    let issuer = Issuer::start().await;
    let notes = Notes::start(&issuer).await;
    let spec = TokenSpec::new("alice", "notes.read", "http://127.0.0.1:1/other-mcp");
    let mut client = notes.client(&issuer.mint(&spec));
    let answer = client.list_tools().await;
    assert_invalid_token(&answer, &notes);
    notes.shutdown().await;
}

#[tokio::test]
async fn token_from_another_issuer_key_gets_401_invalid_token() {
    let issuer = Issuer::start().await;
    let other = Issuer::start().await; // same test key, other `iss`
    let notes = Notes::start(&issuer).await;
    let mut client =
        notes.client(&other.mint(&TokenSpec::new("alice", "notes.read", &notes.resource)));
    let answer = client.list_tools().await;
    assert_invalid_token(&answer, &notes);
    notes.shutdown().await;
}

#[tokio::test]
async fn valid_token_initializes_an_mcp_session() {
    let issuer = Issuer::start().await;
    let notes = Notes::start(&issuer).await;
    let mut client = notes.client(&notes.token(&issuer, "alice", "notes.read"));
    let result = client.initialize().await;
    assert_eq!(result["serverInfo"]["name"], "notes-mcp");
    assert!(result["capabilities"]["tools"].is_object());
    // The session can be ended with DELETE, with the token.
    let r = client.send(reqwest::Method::DELETE).await;
    assert!(r.status().is_success(), "{}", r.status());
    notes.shutdown().await;
}

#[tokio::test]
async fn token_of_a_revoked_client_is_refused_after_the_next_poll() {
    let issuer = Issuer::start().await;
    let notes = Notes::start_with_poll(&issuer, 1).await;
    let token =
        issuer.mint(&TokenSpec::new("alice", "notes.read", &notes.resource).client("agent-7"));
    let other =
        issuer.mint(&TokenSpec::new("alice", "notes.read", &notes.resource).client("app-1"));
    let mut client = notes.client(&token);
    client.initialize().await;
    assert_eq!(client.list_tools().await.status, 200);

    issuer.revoke_client("agent-7");
    let mut refused = None;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let answer = client.list_tools().await;
        if answer.status != 200 {
            refused = Some(answer);
            break;
        }
    }
    let answer = refused.expect("revoked token still accepted after 10 s");
    assert_invalid_token(&answer, &notes);
    // Tokens of other clients are unaffected.
    let mut unaffected = notes.client(&other);
    unaffected.initialize().await;
    assert_eq!(unaffected.list_tools().await.status, 200);
    notes.shutdown().await;
}

#[tokio::test]
async fn without_revocation_state_valid_tokens_get_503_not_401() {
    let issuer = Issuer::start_with_feed_down().await;
    let notes = Notes::start(&issuer).await;
    let mut client = notes.client(&notes.token(&issuer, "alice", "notes.read"));
    let answer = client.list_tools().await;
    assert_eq!(answer.status, 503);
    assert!(answer.www_authenticate.is_none(), "{answer:?}");
    notes.shutdown().await;
}

const GATEWAY_SECRET: &str = "a-secret-shared-with-the-gateway-0123456789";

fn identity(sub: &str, scope: &str, aud: &str, iat: i64) -> mcpgate_guard::mcp::IdentityClaims {
    mcpgate_guard::mcp::IdentityClaims {
        iss: "https://gateway.example/mcp".into(),
        aud: aud.into(),
        iat,
        exp: iat + 60,
        sub: sub.into(),
        client_id: "dcr_gw".into(),
        scope: scope.into(),
        act: None,
        jti: "j1".into(),
    }
}

#[tokio::test]
async fn calls_through_a_gateway_carry_a_verified_identity_instead_of_a_token() {
    let issuer = Issuer::start().await;
    let notes = Notes::start_trusting_gateway(&issuer, GATEWAY_SECRET).await;
    let signer = mcpgate_guard::mcp::IdentitySigner::new(GATEWAY_SECRET.as_bytes()).unwrap();
    let mut via = Mcp::new(notes.resource.clone(), None);
    via.identity = Some(signer.sign(&identity("usr_gw", "notes.write", &notes.resource, now())));
    via.initialize().await;
    let created = via
        .call_ok(
            "create_note",
            serde_json::json!({"title": "t", "body": "b"}),
        )
        .await;
    assert_eq!(created["title"], "t");
    // The identity's scopes still bound what it may call.
    let refused = via
        .call("delete_note", serde_json::json!({"id": "n1"}))
        .await;
    assert_eq!(refused.status, 403);

    // Forged, for another server, or expired: refused like a missing token.
    let forger = mcpgate_guard::mcp::IdentitySigner::new(&[9u8; 32]).unwrap();
    for bad in [
        forger.sign(&identity("usr_gw", "notes.write", &notes.resource, now())),
        signer.sign(&identity(
            "usr_gw",
            "notes.write",
            "http://elsewhere/mcp",
            now(),
        )),
        signer.sign(&identity(
            "usr_gw",
            "notes.write",
            &notes.resource,
            now() - 120,
        )),
    ] {
        let mut m = Mcp::new(notes.resource.clone(), None);
        m.identity = Some(bad);
        let answer = m.rpc("ping", serde_json::json!({})).await;
        assert_eq!(answer.status, 401);
    }
    notes.shutdown().await;

    // A server not configured for a gateway ignores the header.
    let plain = Notes::start(&issuer).await;
    let mut m = Mcp::new(plain.resource.clone(), None);
    m.identity = Some(signer.sign(&identity("usr_gw", "notes.write", &plain.resource, now())));
    assert_eq!(m.rpc("ping", serde_json::json!({})).await.status, 401);
    plain.shutdown().await;
}
