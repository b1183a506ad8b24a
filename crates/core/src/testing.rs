//! Deterministic inputs for tests: a seeded RNG and a minimal executor.

use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// A deterministic RNG (SHA-256 in counter mode over a seed). For tests only: its output is
/// predictable from the seed, which is the point.
pub struct TestRng {
    seed: u64,
    counter: u64,
    buf: [u8; 32],
    pos: usize,
}

impl TestRng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        TestRng {
            seed,
            counter: 0,
            buf: [0; 32],
            pos: 32,
        }
    }
}

impl RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for byte in dest {
            if self.pos == 32 {
                let mut h = Sha256::new();
                h.update(self.seed.to_le_bytes());
                h.update(self.counter.to_le_bytes());
                self.buf = h.finalize().into();
                self.counter += 1;
                self.pos = 0;
            }
            *byte = self.buf.get(self.pos).copied().unwrap_or_default();
            self.pos += 1;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for TestRng {}

/// Runs a future that never waits on real I/O (the in-memory store and software crypto)
/// to completion.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// Runs two futures concurrently, polling them in turn, so that they interleave at every await
/// point (with [`crate::store::sqlite::SqliteDb`], at every statement).
pub async fn join<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let mut a = pin!(a);
    let mut b = pin!(b);
    let (mut ra, mut rb) = (None, None);
    std::future::poll_fn(move |cx| {
        if ra.is_none() {
            if let Poll::Ready(v) = a.as_mut().poll(cx) {
                ra = Some(v);
            }
        }
        if rb.is_none() {
            if let Poll::Ready(v) = b.as_mut().poll(cx) {
                rb = Some(v);
            }
        }
        match (ra.take(), rb.take()) {
            (Some(x), Some(y)) => Poll::Ready((x, y)),
            (x, y) => {
                ra = x;
                rb = y;
                Poll::Pending
            }
        }
    })
    .await
}

/// Runs many futures concurrently, polling each in turn, so that they interleave at every
/// await point; returns their outputs in order.
pub async fn join_all<'a, T>(futs: Vec<std::pin::Pin<Box<dyn Future<Output = T> + 'a>>>) -> Vec<T> {
    let mut futs = futs;
    let mut out: Vec<Option<T>> = futs.iter().map(|_| None).collect();
    std::future::poll_fn(move |cx| {
        for (f, slot) in futs.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                if let Poll::Ready(v) = f.as_mut().poll(cx) {
                    *slot = Some(v);
                }
            }
        }
        if out.iter().all(Option::is_some) {
            Poll::Ready(out.iter_mut().filter_map(Option::take).collect())
        } else {
            Poll::Pending
        }
    })
    .await
}

/// A future that stays pending for `polls` polls before polling `fut`: joined with another
/// flow, it shifts where the two interleave, so a test can try every interleaving of two
/// requests by varying `polls`.
pub async fn delayed<F: Future>(polls: usize, fut: F) -> F::Output {
    let mut left = polls;
    std::future::poll_fn(move |cx| {
        if left == 0 {
            Poll::Ready(())
        } else {
            left -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await;
    fut.await
}

/// A document of the fake web: status, Cache-Control, body.
pub type WebDocument = (u16, Option<String>, Vec<u8>);

/// The in-memory store of native tests: SQLite with the real migrations, a KV stand-in, and
/// a fake web of documents for outbound fetches.
#[derive(Default)]
pub struct TestStore {
    /// The registry.
    pub db: crate::store::sqlite::SqliteDb,
    /// The revocation list.
    pub kv: crate::revocation::memory::MemoryKv,
    /// Documents by URL: (status, Cache-Control, body); unknown URLs fail like DNS errors.
    pub web: std::cell::RefCell<std::collections::HashMap<String, WebDocument>>,
    /// Number of fetches made.
    pub fetches: std::cell::Cell<u32>,
    /// The cache: key -> (value, expires at).
    pub cache: std::cell::RefCell<std::collections::HashMap<String, (String, i64)>>,
    /// Every entry the hub published, in order (what connected validators were sent).
    pub pushed: std::cell::RefCell<Vec<crate::revocation::Logged>>,
    /// Fault injection: calls to D1 or KV (query, batch, put) left before one fails.
    fault_in: std::cell::Cell<Option<u64>>,
    /// Number of D1 and KV writes-or-reads counted for fault injection.
    pub store_calls: std::cell::Cell<u64>,
    /// A read replica that has seen nothing yet: replica reads find no rows at all.
    pub replica_behind: std::cell::Cell<bool>,
    /// Form POST endpoints of the fake web by URL: given the body and `Authorization` header,
    /// the status and body they answer.
    pub posts: std::cell::RefCell<std::collections::HashMap<String, PostHandler>>,
}

/// A form POST endpoint of the fake web (see [`TestStore::posts`]).
pub type PostHandler = Box<dyn Fn(&str, Option<&str>) -> (u16, Vec<u8>)>;

impl TestStore {
    /// Makes the `n`-th D1 or KV call from now (0: the next one) fail as a backend error,
    /// without running it; the calls after it succeed again.
    pub fn fail_nth_call(&self, n: u64) {
        self.fault_in.set(Some(n));
    }

    /// Counts a call; `Err` if it is the one to fail.
    fn maybe_fail(&self) -> Result<(), crate::store::StoreError> {
        self.store_calls.set(self.store_calls.get() + 1);
        match self.fault_in.get() {
            Some(0) => {
                self.fault_in.set(None);
                Err(crate::store::StoreError::Backend("injected fault".into()))
            }
            Some(n) => {
                self.fault_in.set(Some(n - 1));
                Ok(())
            }
            None => Ok(()),
        }
    }
}

impl crate::outbound::Outbound for TestStore {
    async fn fetch(
        &self,
        url: &str,
        max_bytes: usize,
        _timeout_ms: u32,
    ) -> Result<crate::outbound::Fetched, crate::outbound::FetchError> {
        self.fetches.set(self.fetches.get() + 1);
        let web = self.web.borrow();
        let (status, cc, body) = web
            .get(url)
            .cloned()
            .ok_or_else(|| crate::outbound::FetchError::Network("no such host".into()))?;
        if (300..400).contains(&status) {
            return Err(crate::outbound::FetchError::Redirect);
        }
        if body.len() > max_bytes {
            return Err(crate::outbound::FetchError::TooLarge);
        }
        Ok(crate::outbound::Fetched {
            status,
            cache_control: cc,
            body,
        })
    }

    async fn post_form(
        &self,
        url: &str,
        body: &str,
        authorization: Option<&str>,
        max_bytes: usize,
        _timeout_ms: u32,
    ) -> Result<crate::outbound::Fetched, crate::outbound::FetchError> {
        self.fetches.set(self.fetches.get() + 1);
        let posts = self.posts.borrow();
        let handler = posts
            .get(url)
            .ok_or_else(|| crate::outbound::FetchError::Network("no such host".into()))?;
        let (status, body) = handler(body, authorization);
        if body.len() > max_bytes {
            return Err(crate::outbound::FetchError::TooLarge);
        }
        Ok(crate::outbound::Fetched {
            status,
            cache_control: None,
            body,
        })
    }

    async fn cache_get(
        &self,
        key: &str,
        now: i64,
    ) -> Result<Option<String>, crate::store::StoreError> {
        Ok(self
            .cache
            .borrow()
            .get(key)
            .filter(|(_, exp)| *exp > now)
            .map(|(v, _)| v.clone()))
    }

    async fn cache_put(
        &self,
        key: &str,
        value: &str,
        ttl_secs: i64,
        now: i64,
    ) -> Result<(), crate::store::StoreError> {
        let ttl = ttl_secs.max(crate::revocation::KV_MIN_TTL_SECS);
        self.cache
            .borrow_mut()
            .insert(key.to_owned(), (value.to_owned(), now + ttl));
        Ok(())
    }
}

impl crate::store::Database for TestStore {
    async fn query(
        &self,
        stmt: crate::store::Stmt,
    ) -> Result<Vec<crate::store::Row>, crate::store::StoreError> {
        self.maybe_fail()?;
        self.db.query(stmt).await
    }
    async fn batch(
        &self,
        stmts: Vec<crate::store::Stmt>,
    ) -> Result<Vec<Vec<crate::store::Row>>, crate::store::StoreError> {
        self.maybe_fail()?;
        self.db.batch(stmts).await
    }
    async fn batch_replica(
        &self,
        stmts: Vec<crate::store::Stmt>,
    ) -> Result<Vec<Vec<crate::store::Row>>, crate::store::StoreError> {
        self.maybe_fail()?;
        if self.replica_behind.get() {
            let n = stmts.len();
            self.db
                .replica_round_trips
                .set(self.db.replica_round_trips.get() + 1);
            self.db.round_trips.set(self.db.round_trips.get() + 1);
            return Ok(vec![Vec::new(); n]);
        }
        self.db.batch_replica(stmts).await
    }
}

impl crate::revocation::RevocationList for TestStore {
    async fn head(&self) -> Result<Option<crate::revocation::Head>, crate::store::StoreError> {
        Ok(self.kv.head())
    }
    async fn segment(
        &self,
        index: u64,
        now: i64,
    ) -> Result<Option<crate::revocation::Segment>, crate::store::StoreError> {
        Ok(self.kv.segment(index, now))
    }
    async fn put_segment(
        &self,
        seg: &crate::revocation::Segment,
        expires_at: i64,
        now: i64,
    ) -> Result<(), crate::store::StoreError> {
        self.maybe_fail()?;
        self.kv.put_segment(seg, expires_at, now);
        Ok(())
    }
    async fn put_head(
        &self,
        head: &crate::revocation::Head,
    ) -> Result<(), crate::store::StoreError> {
        self.maybe_fail()?;
        self.kv.put_head(head)
    }
    async fn cached_page(&self, key: &str, now: i64) -> Option<(String, String)> {
        self.kv.cached_page(key, now)
    }
    async fn keep_page(&self, key: &str, body: &str, etag: &str, max_age: u32, now: i64) {
        self.kv.keep_page(key, body, etag, max_age, now);
    }
    async fn publish_committed(&self, now: i64) -> Result<(), crate::store::StoreError> {
        let mut head = self.kv.hub.borrow().clone();
        let fresh = crate::revocation::publish(self, &mut head, now).await?;
        let mut hub = self.kv.hub.borrow_mut();
        if hub.seq <= head.seq {
            *hub = head;
        }
        self.pushed.borrow_mut().extend(fresh);
        Ok(())
    }
}
