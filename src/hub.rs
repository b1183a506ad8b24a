//! The revocation hub: one Durable Object (named [`HUB_NAME`]) that publishes the revocation
//! log and pushes it to connected validators.
//!
//! - **Publish** (`POST /publish`, from the Worker after a revocation commits, and from the
//!   scheduled task): with the object's other events held back (`blockConcurrencyWhile`), read
//!   the log after the last number published from D1, write what it sealed and the head to KV
//!   (the hub is their only writer, so they never race), keep the head in the object's own
//!   storage, then send every subscriber the signed events for what was new.
//! - **Subscribe** (`GET /subscribe`, a WebSocket upgrade the Worker forwards once it has
//!   authenticated the subscriber): the socket is accepted through the hibernation API, so an
//!   idle hub with open sockets is evicted from memory and costs nothing until the next
//!   publish; pings are answered by the runtime without waking it. The subscriber first gets
//!   the open segment's entries (signed), then every publish.

use mcpgate_core::endpoints::feed;
use mcpgate_core::revocation::{self, Head};
use mcpgate_core::Service;
use rand_core::OsRng;
use worker::{
    durable_object, DurableObject, Env, Method, Request, Response, Result, State, WebSocket,
    WebSocketIncomingMessage, WebSocketPair, WebSocketRequestResponsePair,
};

/// Binding name of the hub's namespace.
pub const HUB_BINDING: &str = "REVOCATION_HUB";
/// The one hub's name.
pub const HUB_NAME: &str = "revocations";
/// Path the Worker posts to after a revocation commits (and the scheduled task, to repair).
pub const PUBLISH_PATH: &str = "/publish";
/// Path the Worker forwards an authenticated subscriber's upgrade to.
pub const SUBSCRIBE_PATH: &str = "/subscribe";
/// Header carrying the authenticated subscriber's client id from the Worker to the hub (only
/// the Worker can reach the hub).
pub const SUBSCRIBER_HEADER: &str = "x-mcpgate-subscriber";
/// Key of the head in the hub's storage (a JSON string).
const HEAD_KEY: &str = "head";
/// Tag of every subscriber socket.
const SUBSCRIBER_TAG: &str = "sub";
/// Open sockets at most (the runtime's hard limit is 32,768 per object).
pub const MAX_SUBSCRIBERS: usize = 10_000;
/// Open sockets per subscribing client at most.
pub const MAX_PER_CLIENT: usize = 32;

/// The revocation hub.
#[durable_object(websocket)]
pub struct RevocationHub {
    state: State,
    env: Env,
}

impl DurableObject for RevocationHub {
    fn new(state: State, env: Env) -> Self {
        Self { state, env }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        // The path without `worker::Request::path`, which would link a URL parser (and its
        // Unicode tables) into the bundle for this one use.
        let path = crate::http::path(&req.inner().url());
        if path == PUBLISH_PATH && req.method() == Method::Post {
            return self.publish().await;
        }
        if path == SUBSCRIBE_PATH && req.method() == Method::Get {
            return self.subscribe(&req).await;
        }
        Response::error("not found", 404)
    }

    async fn websocket_message(
        &self,
        ws: WebSocket,
        _message: WebSocketIncomingMessage,
    ) -> Result<()> {
        // Subscribers only listen; "ping" is answered by the runtime without waking the hub, so
        // anything that gets here is a subscriber waking the one hub for nothing: cut it off.
        let _ = ws.close(Some(1008), Some("subscribers only listen"));
        Ok(())
    }

    async fn websocket_close(
        &self,
        ws: WebSocket,
        code: usize,
        _reason: String,
        _was_clean: bool,
    ) -> Result<()> {
        // Completes the closing handshake at once (the subscriber is waiting for it).
        let code = u16::try_from(code)
            .ok()
            .filter(|c| (1000..=4999).contains(c) && !matches!(c, 1005 | 1006 | 1015))
            .unwrap_or(1000);
        let _ = ws.close(Some(code), Some("bye"));
        Ok(())
    }

    async fn websocket_error(&self, _ws: WebSocket, _error: worker::Error) -> Result<()> {
        Ok(())
    }
}

/// The head kept in the object's storage, as the JSON string it was put as (read raw: the
/// storage API's typed `get` would link a serde-to-JavaScript layer for this one string).
async fn load_head(storage: &worker::Storage) -> Result<Head> {
    let raw = worker::worker_sys::DurableObjectStorage::get(storage.as_raw(), HEAD_KEY)?;
    let value = wasm_bindgen_futures::JsFuture::from(raw).await?;
    Ok(match value.as_string() {
        Some(s) => serde_json::from_str(&s)?,
        None => Head::default(),
    })
}

fn rust_err(e: impl std::fmt::Debug) -> worker::Error {
    worker::Error::RustError(format!("{e:?}"))
}

impl RevocationHub {
    async fn head(&self) -> Result<Head> {
        load_head(&self.state.storage()).await
    }

    async fn publish(&self) -> Result<Response> {
        let storage = self.state.storage();
        let env = self.env.clone();
        let now = crate::now_secs();
        let (before, fresh, seq) = self
            .state
            .block_concurrency_while(async move {
                let store = crate::store(&env).map_err(rust_err)?;
                let mut head = load_head(&storage).await?;
                let before = head.seq;
                let fresh = revocation::publish(&store, &mut head, now)
                    .await
                    .map_err(rust_err)?;
                storage
                    .put_raw(HEAD_KEY, serde_json::to_string(&head)?)
                    .await?;
                Ok((before, fresh, head.seq))
            })
            .await?;
        let sockets = self.state.get_websockets_with_tag(SUBSCRIBER_TAG);
        let mut sent = 0usize;
        if !fresh.is_empty() && !sockets.is_empty() {
            let events = self.sign(Sign::Push(before, &fresh)).await?;
            for ws in &sockets {
                for e in &events {
                    // A socket that is closing refuses the send; the others still get it.
                    if ws.send_with_str(e).is_ok() {
                        sent += 1;
                    }
                }
            }
        }
        Response::ok(format!(
            "{{\"seq\":{seq},\"published\":{},\"subscribers\":{},\"sent\":{sent}}}",
            fresh.len(),
            sockets.len()
        ))
    }

    async fn subscribe(&self, req: &Request) -> Result<Response> {
        let upgrade = req.headers().get("upgrade")?.unwrap_or_default();
        if !upgrade.eq_ignore_ascii_case("websocket") {
            return Response::error("expected a WebSocket upgrade", 426);
        }
        let Some(client) = req.headers().get(SUBSCRIBER_HEADER)? else {
            return Response::error("unauthenticated", 401);
        };
        // Tags are at most 256 characters; subscribers are confidential clients with short ids.
        if client.is_empty() || client.len() > 200 {
            return Response::error("unauthenticated", 401);
        }
        let client_tag = format!("c:{client}");
        if self.state.get_websockets_with_tag(SUBSCRIBER_TAG).len() >= MAX_SUBSCRIBERS {
            return Response::error("too many subscribers", 503);
        }
        if self.state.get_websockets_with_tag(&client_tag).len() >= MAX_PER_CLIENT {
            return Response::error("too many connections for this client", 429);
        }
        let head = self.head().await?;
        let hello = self.sign(Sign::Hello(&head)).await?;
        let pair = WebSocketPair::new()?;
        self.state
            .accept_websocket_with_tags(&pair.server, &[SUBSCRIBER_TAG, &client_tag]);
        if let Ok(pong) = WebSocketRequestResponsePair::new("ping", "pong") {
            self.state.set_websocket_auto_response(&pong);
        }
        for e in &hello {
            pair.server.send_with_str(e)?;
        }
        Response::from_websocket(pair.client)
    }

    /// Signs events with a service over the hub's bindings.
    async fn sign(&self, what: Sign<'_>) -> Result<Vec<String>> {
        let settings = crate::settings(&self.env);
        let config = crate::config(settings).map_err(rust_err)?;
        let store = crate::store(&self.env).map_err(rust_err)?;
        let svc = Service::new(config, &store, &settings.crypto, crate::key_cache());
        let now = crate::now_secs();
        match what {
            Sign::Push(before, fresh) => {
                feed::push_events(&svc, before, fresh, now, &mut OsRng).await
            }
            Sign::Hello(head) => feed::catch_up_event(&svc, head, now, &mut OsRng)
                .await
                .map(|e| vec![e]),
        }
        .map_err(rust_err)
    }
}

/// What the hub signs.
enum Sign<'a> {
    /// What a publish brought, after the cursor it started from.
    Push(u64, &'a [revocation::Logged]),
    /// The open segment, for a new subscriber.
    Hello(&'a Head),
}
