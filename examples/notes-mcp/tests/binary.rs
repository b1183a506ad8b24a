//! The `notes-mcp` binary: flags, serving, graceful shutdown on SIGTERM.
#![cfg(unix)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

#[tokio::test]
async fn binary_serves_metadata_and_exits_cleanly_on_sigterm() {
    let issuer = Issuer::start().await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let resource = format!("http://127.0.0.1:{port}/mcp");
    let mut child = Command::new(env!("CARGO_BIN_EXE_notes-mcp"))
        .args(["--issuer", issuer.url(), "--resource", &resource])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--revocation-poll-secs", "5"])
        .env_remove("MCPGATE_ISSUER")
        .env_remove("NOTES_RESOURCE")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let metadata = format!("http://127.0.0.1:{port}/.well-known/oauth-protected-resource/mcp");
    let mut served = None;
    for _ in 0..100 {
        if let Ok(r) = reqwest::get(&metadata).await {
            served = Some(r.text().await.unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let doc: serde_json::Value =
        serde_json::from_str(&served.expect("binary never served")).unwrap();
    assert_eq!(doc["resource"], resource.as_str());
    assert_eq!(doc["authorization_servers"][0], issuer.url());

    // An authorized MCP request, so the access log has a line with the subject.
    let token = issuer.mint(&TokenSpec::new("alice", "notes.read", &resource));
    let mut client = Mcp::new(resource.clone(), Some(token.clone()));
    client.initialize().await;
    // An open standalone SSE stream must not hold up the graceful shutdown.
    let stream = client.send(reqwest::Method::GET).await;
    assert_eq!(stream.status(), 200);
    assert!(stream.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let mut status = None;
    for _ in 0..100 {
        if let Some(s) = child.try_wait().unwrap() {
            status = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let Some(status) = status else {
        child.kill().unwrap();
        panic!("notes-mcp did not exit within 10 s of SIGTERM");
    };
    drop(stream);
    let mut log = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut log).unwrap();
    assert!(status.success(), "exit status {status}; log:\n{log}");
    assert!(log.contains("shutting down"), "{log}");
    assert!(
        log.contains(r#"POST /mcp 200 sub="alice" rpc="initialize""#),
        "access log names the subject:\n{log}"
    );
    assert!(!log.contains(&token), "the token must never be logged");
    assert!(
        !log.contains(token.split('.').nth(2).unwrap()),
        "no part of the token's signature in the log"
    );
}
