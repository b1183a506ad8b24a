//! Revocation push for native servers (feature `push`): a WebSocket to mcpgate's revocation
//! hub (`{issuer}/revocations/subscribe`), each event applied the moment it arrives.
//!
//! Polling stays on as the fallback: push only makes revocations arrive sooner. The channel
//! carries the feed's own signed documents, chained by cursor ([`crate::revocation`]), and
//! [`Guard::apply_push`] applies them with the feed's checks, so a forged or replayed event
//! changes nothing and a missed one shows as a gap the guard fills from the feed at once. The
//! hub first sends its open segment, so a reconnect catches up without waiting for a poll.
//!
//! The subscriber authenticates with HTTP Basic as a confidential client that an mcpgate admin
//! allowed to introspect this resource server's tokens. After a failure it reconnects with
//! exponential backoff and jitter ([`PushConfig::min_backoff`] to [`PushConfig::max_backoff`]).

use std::time::Duration;

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

use crate::fetch::Fetch;
use crate::guard::Guard;
use crate::revocation::REVOCATIONS_SUBSCRIBE_PATH;

/// How the guard subscribes.
#[derive(Clone)]
pub struct PushConfig {
    /// `ws(s)://{issuer host}/revocations/subscribe`.
    pub url: String,
    /// The subscribing client.
    pub client_id: String,
    /// Its secret.
    pub client_secret: String,
    /// First wait before reconnecting (doubles per failure).
    pub min_backoff: Duration,
    /// Longest wait before reconnecting.
    pub max_backoff: Duration,
    /// Interval of the application-level `ping` that keeps idle intermediaries from dropping
    /// the socket (answered by the hub's runtime without waking it).
    pub keepalive: Duration,
}

impl std::fmt::Debug for PushConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushConfig")
            .field("url", &self.url)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// Why a subscription ended or could not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushError {
    /// The issuer is not an absolute https URL (or http on a loopback address).
    BadIssuer,
    /// The connection failed or was refused (detail for logs).
    Connect(String),
    /// The hub closed the connection, or it broke (detail for logs).
    Closed(String),
}

impl std::fmt::Display for PushError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PushError::BadIssuer => f.write_str(
                "the issuer is not an absolute https URL (or http on a loopback address)",
            ),
            PushError::Connect(d) => write!(f, "cannot subscribe: {d}"),
            PushError::Closed(d) => write!(f, "subscription ended: {d}"),
        }
    }
}

impl std::error::Error for PushError {}

impl PushConfig {
    /// The push channel of `issuer`, as `client_id`, with default timings (1 s to 60 s backoff,
    /// 30 s keepalive).
    pub fn new(
        issuer: &str,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Result<Self, PushError> {
        let base = issuer.trim_end_matches('/');
        let url = if let Some(rest) = base.strip_prefix("https://") {
            format!("wss://{rest}{REVOCATIONS_SUBSCRIBE_PATH}")
        } else if let Some(rest) = base.strip_prefix("http://").filter(|r| is_loopback(r)) {
            // Credentials in the clear only to this machine (local development and tests).
            format!("ws://{rest}{REVOCATIONS_SUBSCRIBE_PATH}")
        } else {
            return Err(PushError::BadIssuer);
        };
        Ok(PushConfig {
            url,
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            min_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            keepalive: Duration::from_secs(30),
        })
    }

    fn authorization(&self) -> String {
        // RFC 6749 §2.3.1: form-urlencoded before base64.
        let creds = format!(
            "{}:{}",
            form_urlencode(&self.client_id),
            form_urlencode(&self.client_secret)
        );
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(creds)
        )
    }
}

/// True if an authority (`host[:port]...`) names this machine.
fn is_loopback(rest: &str) -> bool {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn form_urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'*') {
            out.push(char::from(b));
        } else if b == b' ' {
            out.push('+');
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Subscribes for as long as the future runs: connects, applies every event, and reconnects
/// after any failure with exponential backoff and jitter. `now` is the clock (Unix seconds);
/// `report` hears of every ended or failed connection.
pub async fn run<F: Fetch>(
    guard: &Guard<F>,
    config: &PushConfig,
    now: impl Fn() -> i64,
    report: impl Fn(&PushError),
) {
    let mut failures: u32 = 0;
    loop {
        let started = std::time::Instant::now();
        if let Err(e) = connect_once(guard, config, &now).await {
            report(&e);
        }
        // A connection that lasted resets the backoff.
        if started.elapsed() > config.max_backoff {
            failures = 0;
        }
        tokio::time::sleep(backoff(config, failures)).await;
        failures = failures.saturating_add(1);
    }
}

/// The wait before reconnection attempt `failures` (0 for the first): doubling from
/// `min_backoff`, capped at `max_backoff`, the upper half randomised so that validators cut
/// off together do not reconnect together.
pub fn backoff(config: &PushConfig, failures: u32) -> Duration {
    let base = config
        .min_backoff
        .saturating_mul(2u32.saturating_pow(failures.min(16)))
        .min(config.max_backoff);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let spread = u64::try_from(base.as_millis() / 2).unwrap_or(u64::MAX);
    let jitter = if spread == 0 {
        0
    } else {
        u64::from(nanos.wrapping_mul(2_654_435_761)) % spread
    };
    base / 2 + Duration::from_millis(jitter)
}

/// One connection: returns when it ends (never `Ok` while the hub keeps it open).
pub async fn connect_once<F: Fetch>(
    guard: &Guard<F>,
    config: &PushConfig,
    now: &impl Fn() -> i64,
) -> Result<(), PushError> {
    let url = match guard.validator().revocation_cursor() {
        Some(c) => format!("{}?since={c}", config.url),
        None => config.url.clone(),
    };
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| PushError::Connect(e.to_string()))?;
    let auth = HeaderValue::from_str(&config.authorization())
        .map_err(|e| PushError::Connect(e.to_string()))?;
    request.headers_mut().insert("authorization", auth);
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|e| PushError::Connect(e.to_string()))?;
    let mut keepalive = tokio::time::interval(config.keepalive);
    keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    keepalive.tick().await;
    loop {
        tokio::select! {
            _ = keepalive.tick() => {
                ws.send(Message::text("ping"))
                    .await
                    .map_err(|e| PushError::Closed(e.to_string()))?;
            }
            msg = ws.next() => match msg {
                None => return Err(PushError::Closed("connection ended".into())),
                Some(Err(e)) => return Err(PushError::Closed(e.to_string())),
                Some(Ok(Message::Text(text))) => {
                    let text = text.as_str().trim();
                    if text != "pong" {
                        // A refused event (forged, replayed) changes nothing; the guard keeps
                        // its error in its status and polling goes on.
                        let _ = guard.apply_push(text, now()).await;
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    return Err(PushError::Closed(
                        frame.map_or_else(|| "closed".to_owned(), |f| format!("closed: {} {}", f.code, f.reason)),
                    ));
                }
                Some(Ok(_)) => {}
            },
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_channel_url_follows_the_issuer_scheme() {
        let c = PushConfig::new("https://auth.example.com/", "id", "s").unwrap();
        assert_eq!(c.url, "wss://auth.example.com/revocations/subscribe");
        let c = PushConfig::new("http://127.0.0.1:8787", "id", "s").unwrap();
        assert_eq!(c.url, "ws://127.0.0.1:8787/revocations/subscribe");
        assert_eq!(
            PushConfig::new("ftp://x", "id", "s").unwrap_err(),
            PushError::BadIssuer
        );
        // Basic credentials over cleartext only to this machine.
        for remote in [
            "http://auth.example.com",
            "http://127.example.com",
            "http://10.0.0.1:80",
        ] {
            assert_eq!(
                PushConfig::new(remote, "id", "s").unwrap_err(),
                PushError::BadIssuer,
                "{remote}"
            );
        }
        for local in [
            "http://localhost:8787",
            "http://[::1]:8787/",
            "http://127.0.0.1",
        ] {
            assert!(PushConfig::new(local, "id", "s").is_ok(), "{local}");
        }
    }

    #[test]
    fn credentials_are_form_encoded_before_base64() {
        let c = PushConfig::new("https://a.example", "a b", "p:w%").unwrap();
        let b64 = c.authorization();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64.strip_prefix("Basic ").unwrap())
            .unwrap();
        assert_eq!(String::from_utf8(raw).unwrap(), "a+b:p%3Aw%25");
        assert!(
            !format!("{c:?}").contains("p:w%"),
            "the secret is not logged"
        );
    }

    #[test]
    fn backoff_doubles_within_its_bounds_with_jitter_in_the_upper_half() {
        let c = PushConfig::new("https://a.example", "id", "s").unwrap();
        for failures in 0..20 {
            let base = (c.min_backoff * 2u32.pow(failures.min(16))).min(c.max_backoff);
            let d = backoff(&c, failures);
            assert!(d >= base / 2 && d <= base, "{failures}: {d:?} vs {base:?}");
        }
        assert!(backoff(&c, 30) <= c.max_backoff);
    }
}
