//! Revocation push on Cloudflare Workers (feature `workers-push`). A Worker cannot keep a
//! socket open between requests, so one Durable Object per deployment, the relay
//! ([`RevocationRelay`]), holds the subscription to mcpgate's push channel
//! (`/revocations/subscribe`, HTTP Basic with a client allowed to introspect the resource) and
//! keeps the last [`RING`] events it received, as received: signed feed documents. Each isolate
//! asks the relay for what is new at most once a second while it serves requests
//! ([`RelaySync::sync`]) and applies it with [`Guard::apply_push`], which verifies each event
//! against mcpgate's keys and chain, so the relay is trusted with nothing: a forged or replayed
//! event changes nothing, a missed one shows as a gap the guard fills from the feed.
//!
//! To use it: enable the feature, bind the class in `wrangler.toml`
//! (`[[durable_objects.bindings]] name = "REVOCATION_RELAY", class_name = "RevocationRelay"`,
//! plus a `new_sqlite_classes` migration), set the vars `MCPGATE_ISSUER` and
//! `GATEWAY_PUSH_CLIENT_ID` and the secret `GATEWAY_PUSH_CLIENT_SECRET`, and call
//! [`RelaySync::sync`] before validating (mcpgate's gateway does exactly this).
//!
//! The relay connects when first asked and again, with backoff, after the socket drops; while
//! it is not connected, isolates keep polling the feed as before. (An outbound socket keeps the
//! object in memory: that is the cost of the push bound.)

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use worker::{
    durable_object, DurableObject, Env, Headers, Request, RequestInit, Response, State,
    WebsocketEvent,
};

use crate::fetch::Fetch;
use crate::guard::Guard;

/// Binding name of the relay's namespace.
pub const RELAY_BINDING: &str = "REVOCATION_RELAY";
/// Events kept for isolates that have not asked yet.
pub const RING: usize = 512;
/// Longest wait before reconnecting (milliseconds); the first retry is after one second.
const MAX_BACKOFF_MS: f64 = 60_000.0;

/// What an isolate gets from `GET /events?after=<n>`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Batch {
    /// Whether the relay's subscription is open.
    pub connected: bool,
    /// The number the next event will get (ask `after` this next time).
    pub next: u64,
    /// Events numbered `after..next` still kept, oldest first.
    pub events: Vec<String>,
    /// Events the isolate asked for were already dropped from the ring: poll the feed.
    pub gap: bool,
}

#[derive(Default)]
struct Relay {
    connected: bool,
    connecting: bool,
    events: VecDeque<String>,
    next: u64,
    retry_at_ms: f64,
    backoff_ms: f64,
}

impl Relay {
    fn push(&mut self, event: String) {
        if self.events.len() == RING {
            self.events.pop_front();
        }
        self.events.push_back(event);
        self.next += 1;
    }

    /// The events after `after` (`None`: only the last one, for an isolate's first contact).
    fn batch(&self, after: Option<u64>) -> Batch {
        let first = self.next - self.events.len() as u64;
        let from = after.unwrap_or(self.next.saturating_sub(1)).min(self.next);
        Batch {
            connected: self.connected,
            next: self.next,
            gap: from < first,
            events: self
                .events
                .iter()
                .skip(from.saturating_sub(first) as usize)
                .cloned()
                .collect(),
        }
    }
}

/// The relay object (one per gateway).
#[durable_object]
pub struct RevocationRelay {
    relay: Rc<RefCell<Relay>>,
    env: Env,
}

impl DurableObject for RevocationRelay {
    fn new(_state: State, env: Env) -> Self {
        Self {
            relay: Rc::new(RefCell::new(Relay {
                backoff_ms: 1000.0,
                ..Relay::default()
            })),
            env,
        }
    }

    async fn fetch(&self, req: Request) -> worker::Result<Response> {
        self.ensure_connected();
        let url = req.inner().url();
        let after = url
            .split_once("after=")
            .and_then(|(_, v)| v.split('&').next())
            .and_then(|v| v.parse::<u64>().ok());
        Response::from_json(&self.relay.borrow().batch(after))
    }
}

impl RevocationRelay {
    fn ensure_connected(&self) {
        let now = worker::Date::now().as_millis() as f64;
        {
            let mut r = self.relay.borrow_mut();
            if r.connected || r.connecting || now < r.retry_at_ms {
                return;
            }
            r.connecting = true;
        }
        let var = |n: &str| self.env.var(n).ok().map(|v| v.to_string());
        let secret = |n: &str| {
            self.env
                .secret(n)
                .ok()
                .map(|v| v.to_string())
                .or_else(|| var(n))
        };
        let (Some(issuer), Some(id), Some(pw)) = (
            var("MCPGATE_ISSUER"),
            var("GATEWAY_PUSH_CLIENT_ID"),
            secret("GATEWAY_PUSH_CLIENT_SECRET"),
        ) else {
            self.relay.borrow_mut().connecting = false;
            return;
        };
        let url = format!(
            "{}{}",
            issuer.trim_end_matches('/'),
            "/revocations/subscribe"
        );
        let auth = format!("Basic {}", STANDARD.encode(format!("{id}:{pw}")));
        let relay = self.relay.clone();
        spawn(async move {
            // Ended or failed alike: the next request after the backoff tries again (the crate
            // never logs; `Batch::connected` tells the caller).
            let _ = subscribe(&relay, &url, &auth).await;
            let now = worker::Date::now().as_millis() as f64;
            let mut r = relay.borrow_mut();
            let was_connected = r.connected;
            r.connected = false;
            r.connecting = false;
            // A subscription that worked starts the backoff over; a failed attempt doubles it.
            r.backoff_ms = if was_connected {
                1000.0
            } else {
                (r.backoff_ms * 2.0).min(MAX_BACKOFF_MS)
            };
            r.retry_at_ms = now + r.backoff_ms;
        });
    }
}

/// Runs the subscription loop beside the object's requests (wasm32: the runtime's event loop;
/// natively there is no runtime to run it, and the relay stays unconnected).
fn spawn(task: impl std::future::Future<Output = ()> + 'static) {
    #[cfg(target_arch = "wasm32")]
    wasm_bindgen_futures::spawn_local(task);
    #[cfg(not(target_arch = "wasm32"))]
    drop(task);
}

/// Opens the subscription and keeps every event until the socket closes.
async fn subscribe(relay: &Rc<RefCell<Relay>>, url: &str, auth: &str) -> worker::Result<()> {
    let headers = Headers::new();
    headers.set("upgrade", "websocket")?;
    headers.set("authorization", auth)?;
    let mut init = RequestInit::new();
    init.with_headers(headers);
    let res = worker::Fetch::Request(Request::new_with_init(url, &init)?)
        .send()
        .await?;
    let status = res.status_code();
    let Some(ws) = res.websocket() else {
        return Err(worker::Error::RustError(format!(
            "subscription refused: HTTP {status}"
        )));
    };
    ws.accept()?;
    {
        let mut r = relay.borrow_mut();
        r.connected = true;
        r.connecting = false;
    }
    let mut events = ws.events()?;
    while let Some(event) = events.next().await {
        match event? {
            WebsocketEvent::Message(m) => {
                if let Some(text) = m.text() {
                    let text = text.trim();
                    if text != "pong" && !text.is_empty() {
                        relay.borrow_mut().push(text.to_owned());
                    }
                }
            }
            WebsocketEvent::Close(_) => break,
        }
    }
    Ok(())
}

/// Milliseconds between an isolate's questions to the relay while it serves requests.
pub const RELAY_SYNC_MS: f64 = 1000.0;

/// An isolate's side of the relay: what it has applied, and when it asks next.
#[derive(Debug, Default)]
pub struct RelaySync {
    after: std::cell::Cell<Option<u64>>,
    next_at_ms: std::cell::Cell<f64>,
    busy: std::cell::Cell<bool>,
}

impl RelaySync {
    /// A client that has applied nothing yet.
    pub fn new() -> Self {
        RelaySync::default()
    }

    /// Applies to `guard` the revocations the relay bound as `binding` received since this
    /// isolate last asked: at most once every [`RELAY_SYNC_MS`], one request at a time (the
    /// others go on). Failures leave the guard to its feed polling.
    pub async fn sync<F: Fetch>(&self, guard: &Guard<F>, env: &Env, binding: &str, now: i64) {
        let now_ms = worker::Date::now().as_millis() as f64;
        if self.busy.get() || now_ms < self.next_at_ms.get() {
            return;
        }
        self.busy.set(true);
        self.next_at_ms.set(now_ms + RELAY_SYNC_MS);
        let asked = async {
            let stub = env.durable_object(binding)?.get_by_name("relay")?;
            let url = match self.after.get() {
                Some(n) => format!("https://relay/events?after={n}"),
                None => "https://relay/events".to_owned(),
            };
            stub.fetch_with_str(&url).await?.json::<Batch>().await
        }
        .await;
        self.busy.set(false);
        if let Ok(batch) = asked {
            for event in &batch.events {
                // Verified against mcpgate's keys and chain; a refused event changes nothing.
                let _ = guard.apply_push(event, now).await;
            }
            if batch.gap {
                let _ = guard.refresh(now).await;
            }
            self.after.set(Some(batch.next));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_hands_out_what_is_new_and_says_when_it_dropped_some() {
        let mut r = Relay::default();
        assert_eq!(r.batch(None).events.len(), 0);
        for i in 0..3 {
            r.push(format!("e{i}"));
        }
        // First contact: the last event only.
        let b = r.batch(None);
        assert_eq!(
            (b.next, b.events.clone(), b.gap),
            (3, vec!["e2".to_owned()], false)
        );
        assert_eq!(r.batch(Some(1)).events, ["e1", "e2"]);
        assert!(r.batch(Some(3)).events.is_empty());
        assert!(
            r.batch(Some(99)).events.is_empty(),
            "a cursor from the future asks for nothing"
        );
        for i in 3..(RING as u64 + 10) {
            r.push(format!("e{i}"));
        }
        let b = r.batch(Some(2));
        assert!(b.gap);
        assert_eq!(b.events.len(), RING);
        assert!(!r.batch(Some(r.next - 1)).gap);
    }
}
