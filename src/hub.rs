//! The revocation hub: one Durable Object (named [`HUB_NAME`]) that publishes the revocation
//! log. It is the single writer of the KV revocation list, so segments and head never race;
//! each publish runs with the object's other events held back (`blockConcurrencyWhile`), reads
//! the log after the last number it published from D1, writes what it sealed and the head to
//! KV, and keeps the head in its own storage (strongly consistent, read back on wake).

use mcpgate_core::revocation::{self, Head};
use worker::{durable_object, DurableObject, Env, Method, Request, Response, Result, State};

/// Binding name of the hub's namespace.
pub const HUB_BINDING: &str = "REVOCATION_HUB";
/// The one hub's name.
pub const HUB_NAME: &str = "revocations";
/// Path the Worker posts to after a revocation commits (and the scheduled task, to repair).
pub const PUBLISH_PATH: &str = "/publish";
/// Key of the head in the hub's storage (a JSON string).
const HEAD_KEY: &str = "head";

/// The revocation hub.
#[durable_object(fetch)]
pub struct RevocationHub {
    state: State,
    env: Env,
}

impl DurableObject for RevocationHub {
    fn new(state: State, env: Env) -> Self {
        Self { state, env }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        if req.path() == PUBLISH_PATH && req.method() == Method::Post {
            return self.publish().await;
        }
        Response::error("not found", 404)
    }
}

impl RevocationHub {
    async fn publish(&self) -> Result<Response> {
        let storage = self.state.storage();
        let env = self.env.clone();
        let published = self
            .state
            .block_concurrency_while(async move {
                let store =
                    crate::store(&env).map_err(|e| worker::Error::RustError(format!("{e:?}")))?;
                let mut head: Head = match storage.get::<String>(HEAD_KEY).await? {
                    Some(s) => serde_json::from_str(&s)?,
                    None => Head::default(),
                };
                let fresh = revocation::publish(&store, &mut head, crate::now_secs())
                    .await
                    .map_err(|e| worker::Error::RustError(e.to_string()))?;
                storage.put(HEAD_KEY, serde_json::to_string(&head)?).await?;
                Ok((fresh.len(), head.seq))
            })
            .await?;
        Response::from_json(&serde_json::json!({ "published": published.0, "seq": published.1 }))
    }
}
