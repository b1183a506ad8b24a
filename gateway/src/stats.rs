//! Per-tool counters: calls allowed, denials by reason, upstream failures. The gateway hands
//! each count to one Durable Object after answering (`waitUntil`, off the request path); an
//! operator reads them at [`crate::STATS_PATH`] with the `GATEWAY_STATS_TOKEN` secret.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use worker::{
    durable_object, Context, DurableObject, Env, Headers, Method, Request, RequestInit, Response,
    State,
};

/// Binding name of the counters' namespace.
pub const STATS_BINDING: &str = "GATEWAY_STATS";
/// Distinct tool names kept; further names (a client inventing tool names) count as `(other)`.
pub const MAX_TOOLS: usize = 1000;
const KEY: &str = "counters";

#[derive(Serialize, Deserialize)]
struct Add {
    tool: String,
    outcome: String,
}

/// Outcome → count, per tool.
type Counters = BTreeMap<String, BTreeMap<String, u64>>;

/// Counts one outcome for `tool`, after the response (never delays or fails the request).
pub fn count(env: &Env, ctx: &Context, tool: &str, outcome: &'static str) {
    let Ok(ns) = env.durable_object(STATS_BINDING) else {
        return;
    };
    let Ok(stub) = ns.get_by_name("stats") else {
        return;
    };
    let body = serde_json::to_string(&Add {
        tool: tool.chars().take(128).collect(),
        outcome: outcome.to_owned(),
    })
    .unwrap_or_default();
    ctx.wait_until(async move {
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_body(Some(wasm_bindgen::JsValue::from_str(&body)));
        if let Ok(req) = Request::new_with_init("https://stats/add", &init) {
            let _ = stub.fetch_with_request(req).await;
        }
    });
}

/// `GET /.mcpgate-gateway/stats`: the counters, for a bearer of `GATEWAY_STATS_TOKEN` (404
/// when the secret is not set, 401 otherwise).
pub async fn read(token: &Option<String>, req: &Request, env: &Env) -> worker::Result<Response> {
    let Some(expected) = token else {
        return Response::error("not found", 404);
    };
    let given = req
        .headers()
        .get("authorization")?
        .and_then(|h| mcpgate_guard::bearer_token(&h).map(str::to_owned))
        .unwrap_or_default();
    if !constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        let resp = Response::error("unauthorized", 401)?;
        resp.headers().set("www-authenticate", "Bearer")?;
        return Ok(resp);
    }
    let stub = env.durable_object(STATS_BINDING)?.get_by_name("stats")?;
    let mut resp = stub.fetch_with_str("https://stats/read").await?;
    let body = resp.bytes().await?;
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    headers.set("cache-control", "no-store")?;
    Ok(Response::from_bytes(body)?.with_headers(headers))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Adds one count (pure, so it is tested natively).
fn add(all: &mut Counters, tool: &str, outcome: &str) {
    let name = if all.contains_key(tool) || all.len() < MAX_TOOLS {
        tool
    } else {
        "(other)"
    };
    *all.entry(name.to_owned())
        .or_default()
        .entry(outcome.to_owned())
        .or_default() += 1;
}

/// The counters' one object.
#[durable_object]
pub struct GatewayStats {
    state: State,
}

impl DurableObject for GatewayStats {
    fn new(state: State, _env: Env) -> Self {
        Self { state }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let storage = self.state.storage();
        let mut all: Counters = storage.get(KEY).await?.unwrap_or_default();
        if req.method() == Method::Post {
            let a: Add = req.json().await?;
            add(&mut all, &a.tool, &a.outcome);
            storage.put(KEY, &all).await?;
            return Response::empty();
        }
        Response::from_json(&serde_json::json!({ "tools": all }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_kept_per_tool_and_outcome_and_bounded_in_names() {
        let mut all = Counters::new();
        add(&mut all, "get_note", "allowed");
        add(&mut all, "get_note", "allowed");
        add(&mut all, "get_note", "insufficient_scope");
        assert_eq!(all["get_note"]["allowed"], 2);
        assert_eq!(all["get_note"]["insufficient_scope"], 1);
        for i in 0..MAX_TOOLS + 5 {
            add(&mut all, &format!("t{i}"), "missing_token");
        }
        assert_eq!(all.len(), MAX_TOOLS + 1);
        assert_eq!(all["(other)"]["missing_token"], 6);
        add(&mut all, "get_note", "allowed");
        assert_eq!(all["get_note"]["allowed"], 3);
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
