//! The notes tools over MCP: scopes per tool, 403 step-up, per-subject notes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use serde_json::{json, Value};

fn insufficient_scope_challenge(notes: &Notes, scope: &str) -> String {
    format!(
        r#"Bearer error="insufficient_scope", scope="{scope}", resource_metadata="{}""#,
        notes.metadata_url()
    )
}

#[tokio::test]
async fn tools_list_lists_every_tool_with_the_scope_it_needs() {
    let issuer = Issuer::start().await;
    let notes = Notes::start(&issuer).await;
    let mut client = notes.client(&notes.token(&issuer, "alice", "notes.read"));
    client.initialize().await;
    let answer = client.list_tools().await;
    assert_eq!(answer.status, 200);
    let tools = answer.message.unwrap()["result"]["tools"].clone();
    let mut by_name: Vec<(String, String)> = tools
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_owned(),
                t["description"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    by_name.sort();
    let expected = [
        ("create_note", "notes.write"),
        ("delete_note", "notes.delete"),
        ("list_notes", "notes.read"),
        ("read_note", "notes.read"),
        ("update_note", "notes.write"),
    ];
    assert_eq!(by_name.len(), expected.len(), "{by_name:?}");
    for ((name, description), (want, scope)) in by_name.iter().zip(expected) {
        assert_eq!(name, want);
        assert!(
            description.contains(&format!("Requires scope {scope}.")),
            "{name}: {description}"
        );
    }
    notes.shutdown().await;
}

#[tokio::test]
async fn read_only_token_can_list_and_read_notes() {
    let issuer = Issuer::start().await;
    let notes = Notes::start(&issuer).await;
    let mut writer = notes.client(&notes.token(&issuer, "alice", "notes.write"));
    writer.initialize().await;
    let created = writer
        .call_ok("create_note", json!({"title": "Groceries", "body": "eggs"}))
        .await;

    let mut reader = notes.client(&notes.token(&issuer, "alice", "notes.read"));
    reader.initialize().await;
    let list = reader.call_ok("list_notes", json!({})).await;
    assert_eq!(list["notes"].as_array().unwrap().len(), 1);
    assert_eq!(list["notes"][0]["id"], created["id"]);
    assert_eq!(list["notes"][0]["title"], "Groceries");
    let note = reader
        .call_ok("read_note", json!({"id": created["id"]}))
        .await;
    assert_eq!(note, created);
    notes.shutdown().await;
}

#[tokio::test]
async fn write_token_creates_updates_and_reads_back_a_note() {
    let issuer = Issuer::start().await;
    let notes = Notes::start(&issuer).await;
    // notes.write implies notes.read: one scope is enough to read back.
    let mut client = notes.client(&notes.token(&issuer, "alice", "notes.write"));
    client.initialize().await;
    let created = client
        .call_ok(
            "create_note",
            json!({"title": "Ideas", "body": "a notes server"}),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["title"], "Ideas");
    assert_eq!(created["body"], "a notes server");

    let read = client.call_ok("read_note", json!({"id": id})).await;
    assert_eq!(read, created);

    let updated = client
        .call_ok(
            "update_note",
            json!({"id": id, "body": "an MCP notes server"}),
        )
        .await;
    assert_eq!(updated["title"], "Ideas");
    assert_eq!(updated["body"], "an MCP notes server");
    assert_eq!(
        client.call_ok("read_note", json!({"id": id})).await,
        updated
    );

    let text = client
        .call_tool_error("read_note", json!({"id": "n999999"}))
        .await;
    assert!(text.contains("no note"), "{text}");
    notes.shutdown().await;
}

#[tokio::test]
async fn delete_with_read_only_token_gets_403_insufficient_scope_naming_required_scopes() {
    let issuer = Issuer::start().await;
    let notes = Notes::start(&issuer).await;
    let mut writer = notes.client(&notes.token(&issuer, "alice", "notes.write"));
    writer.initialize().await;
    let created = writer
        .call_ok("create_note", json!({"title": "t", "body": "b"}))
        .await;

    let mut reader = notes.client(&notes.token(&issuer, "alice", "notes.read"));
    reader.initialize().await;
    let answer = reader
        .call("delete_note", json!({"id": created["id"]}))
        .await;
    assert_eq!(answer.status, 403);
    assert_eq!(
        answer.www_authenticate.as_deref(),
        Some(insufficient_scope_challenge(&notes, "notes.delete").as_str())
    );
    // Refused before MCP: an OAuth error body, not a JSON-RPC response or tool result.
    let body = answer.message.unwrap();
    assert_eq!(body["error"], "insufficient_scope");
    assert!(body.get("jsonrpc").is_none(), "{body}");
    // Not deleted.
    assert_eq!(
        reader
            .call_ok("read_note", json!({"id": created["id"]}))
            .await,
        created
    );

    // After step-up (a token with notes.delete too), the same call succeeds.
    let mut stepped_up = notes.client(&notes.token(&issuer, "alice", "notes.read notes.delete"));
    stepped_up.initialize().await;
    let deleted = stepped_up
        .call_ok("delete_note", json!({"id": created["id"]}))
        .await;
    assert_eq!(deleted, json!({"id": created["id"], "deleted": true}));
    let list = stepped_up.call_ok("list_notes", json!({})).await;
    assert_eq!(list, json!({"notes": []}));
    notes.shutdown().await;
}

#[tokio::test]
async fn write_token_without_notes_delete_also_gets_403_for_delete() {
    let issuer = Issuer::start().await;
    let notes = Notes::start(&issuer).await;
    let mut client = notes.client(&notes.token(&issuer, "alice", "notes.read notes.write"));
    client.initialize().await;
    let answer = client.call("delete_note", json!({"id": "n1"})).await;
    assert_eq!(answer.status, 403);
    assert_eq!(
        answer.www_authenticate.as_deref(),
        Some(insufficient_scope_challenge(&notes, "notes.delete").as_str())
    );
    notes.shutdown().await;
}

#[tokio::test]
async fn create_with_read_only_token_gets_403_asking_for_notes_write() {
    let issuer = Issuer::start().await;
    let notes = Notes::start(&issuer).await;
    let mut client = notes.client(&notes.token(&issuer, "alice", "notes.read"));
    client.initialize().await;
    let answer = client
        .call("create_note", json!({"title": "t", "body": "b"}))
        .await;
    assert_eq!(answer.status, 403);
    assert_eq!(
        answer.www_authenticate.as_deref(),
        Some(insufficient_scope_challenge(&notes, "notes.write").as_str())
    );
    let list = client.call_ok("list_notes", json!({})).await;
    assert_eq!(list, json!({"notes": []}));
    notes.shutdown().await;
}

#[tokio::test]
async fn notes_are_private_to_each_subject() {
    let issuer = Issuer::start().await;
    let notes = Notes::start(&issuer).await;
    let all = "notes.write notes.delete";
    let mut alice = notes.client(&notes.token(&issuer, "alice", all));
    alice.initialize().await;
    let mut bob = notes.client(&notes.token(&issuer, "bob", all));
    bob.initialize().await;

    let a = alice
        .call_ok("create_note", json!({"title": "alice's", "body": "secret"}))
        .await;
    let b = bob
        .call_ok("create_note", json!({"title": "bob's", "body": "other"}))
        .await;

    let ids = |list: Value| -> Vec<Value> {
        list["notes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["id"].clone())
            .collect()
    };
    assert_eq!(
        ids(alice.call_ok("list_notes", json!({})).await),
        [a["id"].clone()]
    );
    assert_eq!(
        ids(bob.call_ok("list_notes", json!({})).await),
        [b["id"].clone()]
    );
    for (tool, args) in [
        ("read_note", json!({"id": a["id"]})),
        ("update_note", json!({"id": a["id"], "title": "mine now"})),
        ("delete_note", json!({"id": a["id"]})),
    ] {
        let text = bob.call_tool_error(tool, args).await;
        assert!(text.contains("no note"), "{tool}: {text}");
    }
    assert_eq!(alice.call_ok("read_note", json!({"id": a["id"]})).await, a);
    notes.shutdown().await;
}

#[tokio::test]
async fn a_session_cannot_be_used_with_another_subjects_token() {
    let issuer = Issuer::start().await;
    let notes = Notes::start(&issuer).await;
    let mut alice = notes.client(&notes.token(&issuer, "alice", "notes.write"));
    alice.initialize().await;
    alice
        .call_ok("create_note", json!({"title": "t", "body": "b"}))
        .await;

    let mut mallory = notes.client(&notes.token(&issuer, "mallory", "notes.write"));
    mallory.session = alice.session.clone();
    mallory.protocol_version = alice.protocol_version.clone();
    let answer = mallory.call("list_notes", json!({})).await;
    assert_eq!(answer.status, 404, "{answer:?}");
    // Alice's session still works.
    assert_eq!(alice.list_tools().await.status, 200);
    notes.shutdown().await;
}

#[tokio::test]
async fn batch_with_one_unauthorized_call_is_refused_whole() {
    let issuer = Issuer::start().await;
    let notes = Notes::start(&issuer).await;
    let mut client = notes.client(&notes.token(&issuer, "alice", "notes.read"));
    client.initialize().await;
    let answer = client
        .post(json!([
            {"jsonrpc": "2.0", "id": 10, "method": "tools/call",
             "params": {"name": "list_notes", "arguments": {}}},
            {"jsonrpc": "2.0", "id": 11, "method": "tools/call",
             "params": {"name": "delete_note", "arguments": {"id": "n1"}}}
        ]))
        .await;
    assert_eq!(answer.status, 403);
    assert_eq!(
        answer.www_authenticate.as_deref(),
        Some(insufficient_scope_challenge(&notes, "notes.read notes.delete").as_str())
    );
    notes.shutdown().await;
}
