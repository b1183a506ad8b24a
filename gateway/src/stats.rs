//! Per-tool counters: calls allowed, denials by reason, upstream failures. Each isolate adds
//! up its counts and hands them to one Durable Object at most every [`FLUSH_SECS`] seconds,
//! after answering (`waitUntil`, off the request path), so the object sees one write per
//! isolate per interval rather than one per request; an isolate that ends loses at most that
//! interval's counts. An operator reads them at [`crate::STATS_PATH`] with the
//! `GATEWAY_STATS_TOKEN` secret (which first flushes the answering isolate's counts).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use worker::{
    durable_object, Context, DurableObject, Env, Headers, Method, Request, RequestInit, Response,
    State,
};

/// Binding name of the counters' namespace.
pub const STATS_BINDING: &str = "GATEWAY_STATS";
/// Distinct tool names kept; further names (a client inventing tool names) count as `(other)`.
pub const MAX_TOOLS: usize = 1000;
const KEY: &str = "counters";
/// Seconds between an isolate's flushes.
pub const FLUSH_SECS: i64 = 5;

/// Outcome → count, per tool.
type Counters = BTreeMap<String, BTreeMap<String, u64>>;

thread_local! {
    static PENDING: RefCell<Counters> = const { RefCell::new(BTreeMap::new()) };
    static LAST_FLUSH: Cell<i64> = const { Cell::new(0) };
}

/// Counts one outcome for `tool` (never delays or fails the request).
pub fn count(env: &Env, ctx: &Context, tool: &str, outcome: &'static str, now: i64) {
    let tool: String = tool.chars().take(128).collect();
    PENDING.with(|p| add(&mut p.borrow_mut(), &tool, outcome, 1));
    if now - LAST_FLUSH.with(Cell::get) >= FLUSH_SECS {
        LAST_FLUSH.with(|l| l.set(now));
        let env = env.clone();
        ctx.wait_until(async move {
            let _ = flush(&env).await;
        });
    }
}

/// Hands this isolate's counts to the object.
async fn flush(env: &Env) -> worker::Result<()> {
    let batch = PENDING.with(|p| std::mem::take(&mut *p.borrow_mut()));
    if batch.is_empty() {
        return Ok(());
    }
    let stub = env.durable_object(STATS_BINDING)?.get_by_name("stats")?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_body(Some(wasm_bindgen::JsValue::from_str(
            &serde_json::to_string(&batch).unwrap_or_default(),
        )));
    stub.fetch_with_request(Request::new_with_init("https://stats/add", &init)?)
        .await?;
    Ok(())
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
    flush(env).await?;
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

/// Adds `n` counts (pure, so it is tested natively).
fn add(all: &mut Counters, tool: &str, outcome: &str, n: u64) {
    let name = if all.contains_key(tool) || all.len() < MAX_TOOLS {
        tool
    } else {
        "(other)"
    };
    *all.entry(name.to_owned())
        .or_default()
        .entry(outcome.to_owned())
        .or_default() += n;
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
            let batch: Counters = req.json().await?;
            for (tool, outcomes) in batch {
                for (outcome, n) in outcomes {
                    add(&mut all, &tool, &outcome, n);
                }
            }
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
        add(&mut all, "get_note", "allowed", 1);
        add(&mut all, "get_note", "allowed", 1);
        add(&mut all, "get_note", "insufficient_scope", 1);
        assert_eq!(all["get_note"]["allowed"], 2);
        assert_eq!(all["get_note"]["insufficient_scope"], 1);
        for i in 0..MAX_TOOLS + 5 {
            add(&mut all, &format!("t{i}"), "missing_token", 1);
        }
        assert_eq!(all.len(), MAX_TOOLS + 1);
        assert_eq!(all["(other)"]["missing_token"], 6);
        add(&mut all, "get_note", "allowed", 1);
        assert_eq!(all["get_note"]["allowed"], 3);
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
