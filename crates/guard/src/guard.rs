//! The async layer: a [`Validator`] plus a [`Fetch`] implementation that keeps its key set and
//! revocation state fresh, without putting mcpgate on the request path except when a refresh is
//! due.
//!
//! [`Guard::validate`]:
//! 1. refreshes the JWKS if its cache lifetime ran out ([`crate::jwks`]);
//! 2. polls the revocation feed if [`GuardConfig::revocation_poll_secs`] elapsed
//!    ([`crate::revocation`]): `?since=<cursor>` with `If-None-Match` once it has a state;
//! 3. validates the token ([`Validator::validate_async`]: the signature is checked by the
//!    configured [`Backend`](crate::backend::Backend), awaited, so with `Backend::WebCrypto`,
//!    the default on Workers, by `crypto.subtle.verify`; feeds are verified the same way);
//! 4. on [`TokenError::UnknownKeyId`], refetches the JWKS (rate-limited) and validates once more.
//!
//! Each of the two refreshes runs at most once at a time ("single flight"). A request that needs
//! the refresh in flight to be decided (no key set yet, an unknown `kid`, a revocation state too
//! old to use) waits for it; any other request goes on with the current state. Waiting uses the
//! standard `Waker` machinery only, so it works on any executor, including the Workers runtime.
//!
//! Failed refreshes keep the previous state and are reported by [`Guard::status`].
//!
//! Time is always passed in (`now`, Unix seconds): the crate never reads a clock, which on
//! `wasm32-unknown-unknown` would panic.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

use crate::error::RefreshError;
use crate::fetch::Fetch;
use crate::jwks::JwksPolicy;
use crate::revocation::REVOCATIONS_PATH;
use crate::sync::lock;
use crate::token::{TokenError, VerifiedToken};
use crate::validator::{Validator, ValidatorConfig};

/// Default interval between revocation-feed polls, seconds: with mcpgate's feed max-age (5 s)
/// a revocation reaches a polling validator within 15 s, plus KV's propagation in production.
pub const DEFAULT_REVOCATION_POLL_SECS: i64 = 10;

/// Feed pages followed in one poll (each at most one segment of the server's list): a snapshot
/// or catch-up longer than this continues at the next poll.
pub const MAX_FEED_PAGES_PER_POLL: u32 = 1000;

/// Path of the JWKS under the issuer identifier, as mcpgate publishes it.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// Configuration of a [`Guard`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardConfig {
    /// The validator's configuration.
    pub validator: ValidatorConfig,
    /// Where the issuer's JWKS is (its `jwks_uri`, RFC 8414 §2).
    pub jwks_url: String,
    /// Where the revocation feed is; `None` disables it (and then the validator's revocation
    /// age limit is disabled too, since nothing could satisfy it).
    pub revocations_url: Option<String>,
    /// Interval between feed polls, seconds (at least 1). Keep it well below
    /// [`ValidatorConfig::revocation_max_age_secs`] so that a few failed polls in a row do not
    /// make the validator refuse to decide.
    pub revocation_poll_secs: i64,
    /// JWKS caching policy.
    pub jwks: JwksPolicy,
}

impl GuardConfig {
    /// Defaults for `issuer` and this resource's `audience`: JWKS at
    /// `{issuer}/.well-known/jwks.json`, feed at `{issuer}/revocations` polled every 10 s, and
    /// [`ValidatorConfig::new`] / [`JwksPolicy::default`] for the rest.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        let validator = ValidatorConfig::new(issuer, audience);
        let base = validator.issuer.trim_end_matches('/').to_owned();
        GuardConfig {
            jwks_url: format!("{base}{JWKS_PATH}"),
            revocations_url: Some(format!("{base}{REVOCATIONS_PATH}")),
            revocation_poll_secs: DEFAULT_REVOCATION_POLL_SECS,
            jwks: JwksPolicy::default(),
            validator,
        }
    }
}

/// A snapshot of the guard's refresh state, for health checks and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardStatus {
    /// Number of usable keys.
    pub keys: usize,
    /// When the JWKS was last fetched or revalidated successfully.
    pub jwks_fetched_at: Option<i64>,
    /// When the JWKS will next be refreshed (unless an unknown `kid` comes first).
    pub jwks_next_refresh_at: i64,
    /// The last JWKS refresh error, cleared by the next success.
    pub jwks_error: Option<RefreshError>,
    /// JWKS requests made.
    pub jwks_fetches: u64,
    /// The applied revocation cursor.
    pub revocation_cursor: Option<u64>,
    /// Revocation entries in force.
    pub revocation_entries: usize,
    /// When the revocation state was last confirmed current.
    pub revocations_fresh_at: Option<i64>,
    /// When the feed will next be polled.
    pub revocations_next_poll_at: i64,
    /// The last feed error, cleared by the next success.
    pub revocation_error: Option<RefreshError>,
    /// Feed requests made.
    pub revocation_fetches: u64,
    /// Pushed events applied (see [`Guard::apply_push`]).
    pub pushed_events: u64,
}

/// Validates tokens, fetching the JWKS and revocation feed through `F` as needed.
pub struct Guard<F> {
    validator: Validator,
    fetch: F,
    jwks_url: String,
    revocations_url: Option<String>,
    poll_secs: i64,
    policy: JwksPolicy,
    jwks_next_at: AtomicI64,
    feed_next_at: AtomicI64,
    jwks_fetches: AtomicU64,
    feed_fetches: AtomicU64,
    pushed: AtomicU64,
    jwks: Lane<JwksState>,
    feed: Lane<FeedState>,
}

impl<F> std::fmt::Debug for Guard<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("validator", &self.validator)
            .field("jwks_url", &self.jwks_url)
            .field("revocations_url", &self.revocations_url)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct JwksState {
    etag: Option<String>,
    fetched_at: Option<i64>,
    last_unknown_kid_fetch: Option<i64>,
    last_error: Option<RefreshError>,
}

#[derive(Default)]
struct FeedState {
    /// `(url, etag)` of the last 200 response.
    etag: Option<(String, String)>,
    last_error: Option<RefreshError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    /// The cache lifetime or poll interval ran out.
    Due,
    /// A token or feed names a `kid` the key set lacks.
    UnknownKid,
    /// [`Guard::refresh`].
    Forced,
}

enum Start {
    Run,
    Wait(u64),
    Skip,
}

impl<F: Fetch> Guard<F> {
    /// A guard with no state yet: the first [`Guard::validate`] (or [`Guard::refresh`]) fetches
    /// the JWKS and the feed.
    pub fn new(config: GuardConfig, fetch: F) -> Self {
        let mut validator = config.validator;
        if config.revocations_url.is_none() {
            validator.revocation_max_age_secs = None;
        }
        Guard {
            validator: Validator::new(validator),
            fetch,
            jwks_url: config.jwks_url,
            revocations_url: config.revocations_url,
            poll_secs: config.revocation_poll_secs.max(1),
            policy: config.jwks,
            jwks_next_at: AtomicI64::new(i64::MIN),
            feed_next_at: AtomicI64::new(i64::MIN),
            jwks_fetches: AtomicU64::new(0),
            feed_fetches: AtomicU64::new(0),
            pushed: AtomicU64::new(0),
            jwks: Lane::new(JwksState::default()),
            feed: Lane::new(FeedState::default()),
        }
    }

    /// The validator (for its state accessors, or to validate without refreshing).
    pub fn validator(&self) -> &Validator {
        &self.validator
    }

    /// The fetcher.
    pub fn fetcher(&self) -> &F {
        &self.fetch
    }

    /// Refreshes what is due, validates `token` at `now`, and on an unknown `kid` refetches the
    /// JWKS (rate-limited) and validates once more. See the module documentation.
    pub async fn validate(&self, token: &str, now: i64) -> Result<VerifiedToken, TokenError> {
        self.refresh_due(now).await;
        match self.validator.validate_async(token, now).await {
            Err(TokenError::UnknownKeyId(kid)) => {
                if self.refresh_jwks(now, Trigger::UnknownKid).await {
                    self.validator.validate_async(token, now).await
                } else {
                    Err(TokenError::UnknownKeyId(kid))
                }
            }
            other => other,
        }
    }

    /// Refreshes the JWKS and polls the feed if they are due. [`Guard::validate`] calls this; a
    /// server can also call it from a background task (e.g. `ctx.wait_until` on Workers) to
    /// keep refreshes off the request path entirely.
    pub async fn refresh_due(&self, now: i64) {
        if now >= self.jwks_next_at.load(Ordering::Acquire) {
            self.refresh_jwks(now, Trigger::Due).await;
        }
        if self.revocations_url.is_some() && now >= self.feed_next_at.load(Ordering::Acquire) {
            self.poll_feed(now, Trigger::Due).await;
        }
    }

    /// Fetches the JWKS and the feed now, whatever their schedule (waiting for a refresh already
    /// in flight instead of starting another). Returns the first error.
    pub async fn refresh(&self, now: i64) -> Result<(), RefreshError> {
        self.refresh_jwks(now, Trigger::Forced).await;
        let jwks = self.jwks.with(|l| l.state.last_error.clone());
        if self.revocations_url.is_some() {
            self.poll_feed(now, Trigger::Forced).await;
        }
        let feed = self.feed.with(|l| l.state.last_error.clone());
        match jwks.or(feed) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The refresh state.
    pub fn status(&self) -> GuardStatus {
        let (jwks_fetched_at, jwks_error) = self
            .jwks
            .with(|l| (l.state.fetched_at, l.state.last_error.clone()));
        let revocation_error = self.feed.with(|l| l.state.last_error.clone());
        GuardStatus {
            keys: self.validator.key_set().map_or(0, |k| k.len()),
            jwks_fetched_at,
            jwks_next_refresh_at: self.jwks_next_at.load(Ordering::Acquire),
            jwks_error,
            jwks_fetches: self.jwks_fetches.load(Ordering::Relaxed),
            revocation_cursor: self.validator.revocation_cursor(),
            revocation_entries: self.validator.revocation_entries(),
            revocations_fresh_at: self.validator.revocations_fresh_at(),
            revocations_next_poll_at: self.feed_next_at.load(Ordering::Acquire),
            revocation_error,
            revocation_fetches: self.feed_fetches.load(Ordering::Relaxed),
            pushed_events: self.pushed.load(Ordering::Relaxed),
        }
    }

    /// Applies one event from mcpgate's push channel (a feed document: the contract's
    /// incremental feed, chained by cursor). An event that does not follow the state's cursor
    /// (a gap: one was missed, or the state predates the hub's open segment) makes the guard
    /// poll the feed at once, which pages through what is missing; an event signed by an unknown
    /// key is tried again after a JWKS refresh; any other failure (a forged or replayed event)
    /// changes nothing and is returned. The transport is the caller's
    /// ([`crate::push`] natively).
    pub async fn apply_push(&self, jws: &str, now: i64) -> Result<(), RefreshError> {
        let mut result = self.validator.apply_revocation_push_async(jws, now).await;
        if matches!(result, Err(RefreshError::UnknownKeyId))
            && self.refresh_jwks(now, Trigger::UnknownKid).await
        {
            result = self.validator.apply_revocation_push_async(jws, now).await;
        }
        match result {
            Ok(_) => {
                self.pushed.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(RefreshError::CursorMismatch { .. }) => {
                self.poll_feed(now, Trigger::Forced).await;
                match self.feed.with(|l| l.state.last_error.clone()) {
                    Some(e) => Err(e),
                    None => Ok(()),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Refreshes the JWKS for `trigger`. Returns true if a refresh completed (run here or
    /// waited for), i.e. it is worth looking at the key set again.
    async fn refresh_jwks(&self, now: i64, trigger: Trigger) -> bool {
        let have_keys = self.validator.key_set().is_some();
        let start = self.jwks.with(|l| {
            if l.running {
                let must_wait = trigger != Trigger::Due || !have_keys;
                return if must_wait {
                    Start::Wait(l.generation)
                } else {
                    Start::Skip
                };
            }
            match trigger {
                Trigger::Due if now < self.jwks_next_at.load(Ordering::Acquire) => {
                    return Start::Skip
                }
                Trigger::UnknownKid => {
                    let window = self.policy.unknown_kid_refetch_secs;
                    if l.state
                        .last_unknown_kid_fetch
                        .is_some_and(|t| now < t.saturating_add(window))
                    {
                        return Start::Skip;
                    }
                    l.state.last_unknown_kid_fetch = Some(now);
                }
                _ => {}
            }
            l.running = true;
            Start::Run
        });
        match start {
            Start::Skip => false,
            Start::Wait(generation) => {
                self.jwks.landed(generation).await;
                true
            }
            Start::Run => {
                let flight = self.jwks.take_off();
                let etag = self.jwks.with(|l| l.state.etag.clone());
                self.jwks_fetches.fetch_add(1, Ordering::Relaxed);
                let result = self.fetch_jwks(etag.as_deref()).await;
                let next = match &result {
                    Ok((ttl, _)) => now.saturating_add(*ttl),
                    Err(_) => now.saturating_add(self.policy.retry_secs.max(1)),
                };
                self.jwks.with(|l| match result {
                    Ok((_, new_etag)) => {
                        if new_etag.is_some() {
                            l.state.etag = new_etag;
                        }
                        l.state.fetched_at = Some(now);
                        l.state.last_error = None;
                    }
                    Err(e) => l.state.last_error = Some(e),
                });
                self.jwks_next_at.store(next, Ordering::Release);
                drop(flight);
                true
            }
        }
    }

    /// One JWKS request. Returns the cache lifetime and the response's ETag.
    async fn fetch_jwks(
        &self,
        if_none_match: Option<&str>,
    ) -> Result<(i64, Option<String>), RefreshError> {
        let response = self.fetch.get(&self.jwks_url, if_none_match).await?;
        let ttl = self.policy.ttl(response.cache_control.as_deref());
        match response.status {
            304 if if_none_match.is_some() => Ok((ttl, None)),
            200 => {
                self.validator.apply_jwks_json(&response.body)?;
                Ok((ttl, response.etag))
            }
            status => Err(RefreshError::HttpStatus(status)),
        }
    }

    /// Polls the revocation feed for `trigger`.
    async fn poll_feed(&self, now: i64, trigger: Trigger) {
        let Some(base) = self.revocations_url.as_deref() else {
            return;
        };
        let usable = self.validator.revocations_usable(now);
        let start = self.feed.with(|l| {
            if l.running {
                return if trigger == Trigger::Forced || !usable {
                    Start::Wait(l.generation)
                } else {
                    Start::Skip
                };
            }
            if trigger == Trigger::Due && now < self.feed_next_at.load(Ordering::Acquire) {
                return Start::Skip;
            }
            l.running = true;
            Start::Run
        });
        match start {
            Start::Skip => {}
            Start::Wait(generation) => self.feed.landed(generation).await,
            Start::Run => {
                let flight = self.feed.take_off();
                self.feed_next_at
                    .store(now.saturating_add(self.poll_secs), Ordering::Release);
                // A page that says `more` is followed at once (a snapshot or a long catch-up is
                // paged by the server), up to a bound per poll.
                let mut pages = 0;
                let result = loop {
                    let before = self.validator.revocation_cursor();
                    let mut step = match before {
                        Some(seq) => {
                            let sep = if base.contains('?') { '&' } else { '?' };
                            self.fetch_feed(&format!("{base}{sep}since={seq}"), now)
                                .await
                        }
                        None => self.fetch_feed(base, now).await,
                    };
                    if matches!(step, Err(RefreshError::CursorMismatch { .. })) {
                        // The server lost our cursor: start over from the full state.
                        step = self.fetch_feed(base, now).await;
                    }
                    pages += 1;
                    // A page that says `more` but did not move the cursor ends the walk.
                    let advanced = self.validator.revocation_cursor() > before;
                    match step {
                        Ok((_, true)) if pages < MAX_FEED_PAGES_PER_POLL && advanced => continue,
                        other => break other.map(|(etag, _)| etag),
                    }
                };
                self.feed.with(|l| match result {
                    Ok(Some(etag)) => {
                        l.state.etag = Some(etag);
                        l.state.last_error = None;
                    }
                    Ok(None) => l.state.last_error = None,
                    Err(e) => l.state.last_error = Some(e),
                });
                drop(flight);
            }
        }
    }

    /// One feed request and its application. Returns the `(url, etag)` to revalidate with, and
    /// whether the server has the next page ready.
    async fn fetch_feed(
        &self,
        url: &str,
        now: i64,
    ) -> Result<(Option<(String, String)>, bool), RefreshError> {
        let if_none_match = self.feed.with(|l| {
            l.state
                .etag
                .as_ref()
                .filter(|(u, _)| u == url)
                .map(|(_, e)| e.clone())
        });
        self.feed_fetches.fetch_add(1, Ordering::Relaxed);
        let response = self.fetch.get(url, if_none_match.as_deref()).await?;
        let keep = |etag: Option<String>| etag.map(|e| (url.to_owned(), e));
        match response.status {
            304 if if_none_match.is_some() => {
                self.validator.mark_revocations_fresh(now);
                Ok((keep(response.etag.or(if_none_match)), false))
            }
            200 => {
                let body =
                    std::str::from_utf8(&response.body).map_err(|_| RefreshError::Malformed)?;
                let outcome = match self.validator.apply_revocation_feed_async(body, now).await {
                    Err(RefreshError::UnknownKeyId) => {
                        self.refresh_jwks(now, Trigger::UnknownKid).await;
                        self.validator
                            .apply_revocation_feed_async(body, now)
                            .await?
                    }
                    other => other?,
                };
                Ok((keep(response.etag), outcome.more))
            }
            status => Err(RefreshError::HttpStatus(status)),
        }
    }
}

/// One refresh lane: a "single flight" flag, a generation counter bumped when a flight lands,
/// the wakers of requests waiting for it, and the lane's own state.
struct Lane<S> {
    inner: Mutex<LaneInner<S>>,
}

struct LaneInner<S> {
    running: bool,
    generation: u64,
    waiters: Vec<Waker>,
    state: S,
}

impl<S> Lane<S> {
    fn new(state: S) -> Self {
        Lane {
            inner: Mutex::new(LaneInner {
                running: false,
                generation: 0,
                waiters: Vec::new(),
                state,
            }),
        }
    }

    /// Runs `f` under the lane's lock (never across an `.await`).
    fn with<R>(&self, f: impl FnOnce(&mut LaneInner<S>) -> R) -> R {
        f(&mut lock(&self.inner))
    }

    /// Marks the flight that set `running` as owned by the returned guard, which lands it when
    /// dropped, even if the refreshing future is cancelled mid-way.
    fn take_off(&self) -> Flight<'_, S> {
        Flight { lane: self }
    }

    /// Completes once the flight that was running at `generation` has landed.
    fn landed(&self, generation: u64) -> Landing<'_, S> {
        Landing {
            lane: self,
            generation,
        }
    }
}

struct Flight<'a, S> {
    lane: &'a Lane<S>,
}

impl<S> Drop for Flight<'_, S> {
    fn drop(&mut self) {
        let waiters = self.lane.with(|l| {
            l.running = false;
            l.generation = l.generation.wrapping_add(1);
            std::mem::take(&mut l.waiters)
        });
        for w in waiters {
            w.wake();
        }
    }
}

struct Landing<'a, S> {
    lane: &'a Lane<S>,
    generation: u64,
}

impl<S> Future for Landing<'_, S> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let generation = self.generation;
        self.lane.with(|l| {
            if !l.running || l.generation != generation {
                return Poll::Ready(());
            }
            if !l.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                l.waiters.push(cx.waker().clone());
            }
            Poll::Pending
        })
    }
}
