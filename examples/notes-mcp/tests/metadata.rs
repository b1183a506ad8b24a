//! RFC 9728 protected resource metadata: where it is and what it says.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use serde_json::{json, Value};

#[tokio::test]
async fn metadata_is_served_at_the_path_inserted_well_known_url_of_the_resource() {
    let issuer = Issuer::start().await;
    let notes = Notes::start(&issuer).await;

    let r = reqwest::get(notes.metadata_url()).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    let doc: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(
        doc,
        json!({
            "resource": notes.resource,
            "authorization_servers": [issuer.url()],
            "scopes_supported": ["notes.delete", "notes.read", "notes.write"],
            "bearer_methods_supported": ["header"],
            "resource_name": "Notes (mcpgate example MCP server)",
        })
    );
    notes.shutdown().await;
}

#[tokio::test]
async fn metadata_is_also_served_at_the_root_well_known_url() {
    let issuer = Issuer::start().await;
    let notes = Notes::start(&issuer).await;
    let at_path: Value = serde_json::from_str(
        &reqwest::get(notes.metadata_url())
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    let r = reqwest::get(notes.url("/.well-known/oauth-protected-resource"))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    let at_root: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(at_root, at_path);
    notes.shutdown().await;
}

#[tokio::test]
async fn metadata_needs_no_token_and_answers_cors_preflight() {
    let issuer = Issuer::start().await;
    let notes = Notes::start(&issuer).await;
    let r = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, notes.metadata_url())
        .header("origin", "https://client.example")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "mcp-protocol-version")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    notes.shutdown().await;
}

#[tokio::test]
async fn the_401_challenge_points_at_the_metadata_document() {
    let issuer = Issuer::start().await;
    let notes = Notes::start(&issuer).await;
    let mut anonymous = Mcp::new(notes.resource.clone(), None);
    let answer = anonymous.list_tools().await;
    let challenge = answer.www_authenticate.unwrap();
    let url = challenge_param(&challenge, "resource_metadata").unwrap();
    assert_eq!(url, notes.metadata_url());
    let doc: Value =
        serde_json::from_str(&reqwest::get(&url).await.unwrap().text().await.unwrap()).unwrap();
    assert_eq!(doc["resource"], json!(notes.resource));
    notes.shutdown().await;
}
