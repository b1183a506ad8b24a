//! The I/O-free validator: everything needed to accept or reject an access token locally, given
//! a key set and a revocation state that something else keeps fresh (usually a
//! [`Guard`](crate::guard::Guard)).
//!
//! [`Validator::validate`] (synchronous) and [`Validator::validate_async`] /
//! [`Validator::validate_with`] (the signature check awaited, for asynchronous backends such as
//! WebCrypto, see [`AsyncVerifier`]) share one implementation and apply, in order:
//! 1. the revocation-state freshness rule ([`ValidatorConfig::revocation_max_age_secs`]);
//! 2. the verified-token cache: keyed by the token's SHA-256 (no token is stored), bounded
//!    ([`ValidatorConfig::cache_capacity`], oldest entry evicted first), an entry used only while
//!    `max(iat, nbf) - leeway <= now < exp`, and every entry dropped whenever the revocation
//!    state changes or a key is withdrawn, so revocations apply to cached tokens at once;
//! 3. the JOSE header (RFC 7515 §4, RFC 9068 §4 items 1–2): `alg` exactly `ES256` (never
//!    `none`, HS*, RS*), `typ` `at+jwt`, a `kid`, no `crit`;
//! 4. the signature, with the key the JWKS publishes under that `kid` (RFC 7517 §4.5); an
//!    unknown `kid` is [`TokenError::UnknownKeyId`] so the caller can refetch the JWKS. This is
//!    the only step that differs between the synchronous and asynchronous paths, and no claim
//!    is decoded before it succeeded;
//! 5. the claims (RFC 9068 §4 items 3–6, RFC 7519 §4.1): exact `iss`, exactly one `aud` equal
//!    to this resource, `exp`, `nbf` and `iat` with the configured leeway;
//! 6. the revocation state ([`crate::revocation`]).
//!
//! All state sits behind `std::sync` locks held for a few map operations, never across an
//! `.await`, so one `Validator` serves a single-threaded Worker and a multi-threaded server
//! alike.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::backend::{AsyncVerifier, Backend, KeySet, VerifierKey, VerifierUnavailable};
use crate::cache::{TokenCache, TokenDigest};
use crate::error::RefreshError;
use crate::jwk::JwkSet;
use crate::jws::{parse_compact, typ_matches, CompactJws};
use crate::revocation::{
    FeedOutcome, RevocationFeed, RevocationState, MAX_FEED_BYTES, REVOCATIONS_TYP,
};
use crate::sync::{lock, read, write};
use crate::token::{
    Expectations, ParsedToken, TokenError, VerifiedToken, DEFAULT_LEEWAY_SECS, MAX_TOKEN_BYTES,
};

/// Default capacity of the verified-token cache (entries).
pub const DEFAULT_CACHE_CAPACITY: usize = 4096;

/// Default for [`ValidatorConfig::revocation_max_age_secs`]: ten missed polls at the default
/// 30-second interval.
pub const DEFAULT_REVOCATION_MAX_AGE_SECS: i64 = 300;

/// `revocations_fresh_at` before any feed was applied.
const NEVER: i64 = i64::MIN;

/// What a [`Validator`] requires and how it works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatorConfig {
    /// The exact issuer identifier of the mcpgate deployment (compared byte for byte with
    /// `iss`, RFC 9068 §4 item 3).
    pub issuer: String,
    /// This resource server's canonical identifier, the only accepted `aud` (RFC 8707).
    pub audience: String,
    /// Clock-skew allowance for `exp`, `nbf` and `iat`, seconds.
    pub leeway_secs: i64,
    /// Signature backend; defaults to the fastest one compiled in.
    pub backend: Backend,
    /// Capacity of the verified-token cache; 0 disables it.
    pub cache_capacity: usize,
    /// Refuse to decide ([`TokenError::Unavailable`]) while the revocation state is older than
    /// this many seconds, or was never loaded. `None` accepts tokens whatever the state's age:
    /// set it only if you do not consume the revocation feed, or accept that an unreachable
    /// feed silently stops revocations from reaching you.
    pub revocation_max_age_secs: Option<i64>,
    /// Refuse feeds produced more than this many seconds ago (a replayed copy of an old signed
    /// feed would otherwise hide newer revocations).
    pub feed_max_age_secs: i64,
    /// A revocation cursor persisted before a restart ([`Validator::revocation_cursor`]): no
    /// feed older than it is accepted, so the state never moves backwards across restarts.
    pub revocation_cursor_floor: Option<u64>,
}

impl ValidatorConfig {
    /// A configuration with the defaults: 30 s leeway, fastest backend, a 4096-entry cache and
    /// a 300 s revocation age limit.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        ValidatorConfig {
            issuer: issuer.into(),
            audience: audience.into(),
            leeway_secs: DEFAULT_LEEWAY_SECS,
            backend: Backend::default(),
            cache_capacity: DEFAULT_CACHE_CAPACITY,
            revocation_max_age_secs: Some(DEFAULT_REVOCATION_MAX_AGE_SECS),
            feed_max_age_secs: crate::revocation::DEFAULT_FEED_MAX_AGE_SECS,
            revocation_cursor_floor: None,
        }
    }
}

/// Where [`Validator::begin`] left a validation.
enum Step<'t> {
    /// A usable verified-token cache entry: done.
    Cached(VerifiedToken),
    /// The signature is to be checked, then [`Validator::finish`].
    Verify(Pending<'t>),
}

/// A parsed token and its key, waiting for the signature check.
struct Pending<'t> {
    parsed: ParsedToken<'t>,
    key: VerifierKey,
    /// `(digest, epoch)` to cache the result under, if the cache is in use.
    cache_slot: Option<(TokenDigest, u64)>,
}

/// Validates mcpgate access tokens against a cached key set and revocation state.
pub struct Validator {
    expect: Expectations,
    backend: Backend,
    revocation_max_age: Option<i64>,
    feed_max_age: i64,
    keys: RwLock<Option<Arc<KeySet>>>,
    revocations: RwLock<RevocationState>,
    /// A paged full snapshot being assembled: swapped in (and the state marked fresh) only
    /// once its last page applied, so a partial snapshot never stands for the whole.
    staged: std::sync::Mutex<Option<RevocationState>>,
    revocations_fresh_at: AtomicI64,
    /// Moves whenever the key set loses a key or the revocation state changes.
    epoch: AtomicU64,
    cache: TokenCache,
}

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validator")
            .field("issuer", &self.expect.issuer)
            .field("audience", &self.expect.audience)
            .field("backend", &self.backend)
            .field("keys", &self.key_set().map(|k| k.len()))
            .field("revocation_cursor", &self.revocation_cursor())
            .field("cached_tokens", &self.cached_tokens())
            .finish_non_exhaustive()
    }
}

impl Validator {
    /// A validator with no keys and no revocation state yet.
    pub fn new(config: ValidatorConfig) -> Self {
        Validator {
            expect: Expectations {
                issuer: config.issuer,
                audience: config.audience,
                leeway_secs: config.leeway_secs,
            },
            backend: config.backend,
            revocation_max_age: config.revocation_max_age_secs,
            feed_max_age: config.feed_max_age_secs,
            keys: RwLock::new(None),
            revocations: RwLock::new(RevocationState::with_floor(
                config.revocation_cursor_floor.unwrap_or(0),
            )),
            staged: std::sync::Mutex::new(None),
            revocations_fresh_at: AtomicI64::new(NEVER),
            epoch: AtomicU64::new(0),
            cache: TokenCache::new(config.cache_capacity),
        }
    }

    /// What tokens must satisfy.
    pub fn expectations(&self) -> &Expectations {
        &self.expect
    }

    /// The signature backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Validates `token` at `now` (Unix seconds); see the module documentation for the rules.
    ///
    /// Synchronous: the signature is checked with the configured backend, except that
    /// `Backend::WebCrypto` (which can only be awaited) falls back to p256 here; use
    /// [`Validator::validate_async`] to go through WebCrypto.
    pub fn validate(&self, token: &str, now: i64) -> Result<VerifiedToken, TokenError> {
        match self.begin(token, now)? {
            Step::Cached(hit) => Ok(hit),
            Step::Verify(pending) => {
                let ok = pending.key.verify(
                    self.backend,
                    pending.parsed.signing_input(),
                    pending.parsed.signature(),
                );
                self.finish(pending, Ok(ok), now)
            }
        }
    }

    /// [`Validator::validate`], awaiting the signature check on the configured backend
    /// ([`Backend`] as an [`AsyncVerifier`]): with `Backend::WebCrypto`, `crypto.subtle.verify`.
    /// This is what [`Guard`](crate::guard::Guard) calls.
    pub async fn validate_async(&self, token: &str, now: i64) -> Result<VerifiedToken, TokenError> {
        self.validate_with(token, now, &self.backend).await
    }

    /// [`Validator::validate`] with the signature checked by `verifier`, awaited: the same
    /// steps in the same order (freshness, size cap, cache lookup, header, key lookup,
    /// signature, claims, revocation, cache insert), sharing their code; only the signature
    /// step differs. Claims are decoded only once `verifier` said the signature is valid; a
    /// verifier that cannot decide makes the result [`TokenError::Unavailable`]. Cache hits do
    /// not call `verifier`.
    ///
    /// The revocation state is read after the signature check, so a feed applied while it was
    /// awaited still applies, and a result computed against state that changed meanwhile is
    /// not cached.
    pub async fn validate_with<V: AsyncVerifier + ?Sized>(
        &self,
        token: &str,
        now: i64,
        verifier: &V,
    ) -> Result<VerifiedToken, TokenError> {
        match self.begin(token, now)? {
            Step::Cached(hit) => Ok(hit),
            Step::Verify(pending) => {
                let ok = verifier
                    .verify_es256(
                        &pending.key,
                        pending.parsed.signing_input(),
                        pending.parsed.signature(),
                    )
                    .await;
                self.finish(pending, ok, now)
            }
        }
    }

    /// Steps 1–4 up to the signature: freshness, cache lookup, header, key lookup.
    fn begin<'t>(&self, token: &'t str, now: i64) -> Result<Step<'t>, TokenError> {
        self.check_revocations_fresh(now)?;
        let cache_slot = if self.cache.enabled() && token.len() <= MAX_TOKEN_BYTES {
            // Read the epoch before any state: an entry is then never newer than what it saw.
            let epoch = self.epoch.load(Ordering::Acquire);
            let digest = TokenDigest::of(token);
            if let Some(hit) = self.cache.get(&digest, now, epoch) {
                return Ok(Step::Cached(hit));
            }
            Some((digest, epoch))
        } else {
            None
        };
        let parsed = ParsedToken::parse(token)?;
        let keys = self.key_set().ok_or(TokenError::Unavailable)?;
        let key = keys
            .get(parsed.kid())
            .ok_or_else(|| TokenError::UnknownKeyId(parsed.kid().to_owned()))?
            .clone();
        Ok(Step::Verify(Pending {
            parsed,
            key,
            cache_slot,
        }))
    }

    /// Steps 4–6 after the signature check: claims (decoded only if the signature verified),
    /// revocation, cache insert.
    fn finish(
        &self,
        pending: Pending<'_>,
        signature: Result<bool, VerifierUnavailable>,
        now: i64,
    ) -> Result<VerifiedToken, TokenError> {
        let ok = signature.map_err(|VerifierUnavailable| TokenError::Unavailable)?;
        let wire = pending.parsed.wire_claims_if_verified(ok)?;
        // The earliest `now` at which the time checks pass.
        let valid_from = wire
            .iat
            .unwrap_or(i64::MAX)
            .max(wire.nbf.unwrap_or(i64::MIN))
            .saturating_sub(self.expect.leeway_secs);
        let verified = wire.check(&self.expect, now)?;
        if read(&self.revocations).is_revoked(&verified, now, self.expect.leeway_secs) {
            return Err(TokenError::Revoked);
        }
        if let Some((digest, epoch)) = pending.cache_slot {
            if now < verified.expires_at {
                self.cache
                    .insert(digest, verified.clone(), valid_from, epoch);
            }
        }
        Ok(verified)
    }

    fn check_revocations_fresh(&self, now: i64) -> Result<(), TokenError> {
        if self.revocations_usable(now) {
            Ok(())
        } else {
            Err(TokenError::Unavailable)
        }
    }

    /// True unless a revocation age limit is configured and the state is older than it (or was
    /// never loaded).
    pub fn revocations_usable(&self, now: i64) -> bool {
        match self.revocation_max_age {
            None => true,
            Some(max) => {
                let at = self.revocations_fresh_at.load(Ordering::Acquire);
                at != NEVER && now.saturating_sub(at) <= max
            }
        }
    }

    /// The current key set, if one was ever installed.
    pub fn key_set(&self) -> Option<Arc<KeySet>> {
        read(&self.keys).clone()
    }

    /// Installs a key set. Cached validations are dropped if a key was removed or replaced.
    /// Returns true if the key set changed.
    pub fn set_key_set(&self, keys: KeySet) -> bool {
        let new = Arc::new(keys);
        let old = {
            let mut slot = write(&self.keys);
            if slot.as_deref() == Some(&*new) {
                return false;
            }
            slot.replace(Arc::clone(&new))
        };
        let lost_a_key = old.is_some_and(|old| old.kids().any(|kid| old.get(kid) != new.get(kid)));
        if lost_a_key {
            self.bump_epoch();
        }
        true
    }

    /// Installs the usable keys of a JWKS. A set without any usable ES256 key is refused (the
    /// previous keys stay): mcpgate always publishes at least one. Returns true if the key set
    /// changed.
    pub fn apply_jwks(&self, set: &JwkSet) -> Result<bool, RefreshError> {
        let keys = KeySet::from_jwks(set);
        if keys.is_empty() {
            return Err(RefreshError::NoUsableKeys);
        }
        Ok(self.set_key_set(keys))
    }

    /// Parses a JWKS document (RFC 7517 §5) and installs it as [`Validator::apply_jwks`] does.
    pub fn apply_jwks_json(&self, body: &[u8]) -> Result<bool, RefreshError> {
        let set: JwkSet = serde_json::from_slice(body).map_err(|_| RefreshError::Malformed)?;
        self.apply_jwks(&set)
    }

    /// Verifies a revocation feed (a compact JWS, see [`crate::revocation`]) with the current
    /// key set and applies it. On any error the previous state stays in force. A feed signed
    /// with an unknown key is [`RefreshError::UnknownKeyId`]: refetch the JWKS and retry.
    ///
    /// Synchronous: as in [`Validator::validate`], `Backend::WebCrypto` falls back to p256
    /// here; [`Validator::apply_revocation_feed_async`] goes through WebCrypto.
    pub fn apply_revocation_feed(&self, jws: &str, now: i64) -> Result<FeedOutcome, RefreshError> {
        let (compact, key) = self.begin_feed(jws)?;
        let ok = key.verify(self.backend, compact.signing_input, &compact.signature);
        self.finish_feed(&compact, Ok(ok), now, Source::Feed)
    }

    /// [`Validator::apply_revocation_feed`], awaiting the signature check on the configured
    /// backend (with `Backend::WebCrypto`, `crypto.subtle.verify`). What
    /// [`Guard`](crate::guard::Guard) calls.
    pub async fn apply_revocation_feed_async(
        &self,
        jws: &str,
        now: i64,
    ) -> Result<FeedOutcome, RefreshError> {
        self.apply_revocation_feed_with(jws, now, &self.backend)
            .await
    }

    /// [`Validator::apply_revocation_feed`] with the signature checked by `verifier`, awaited;
    /// every other step is shared. The payload is decoded only once `verifier` said the
    /// signature is valid; a verifier that cannot decide is
    /// [`RefreshError::VerifierUnavailable`].
    pub async fn apply_revocation_feed_with<V: AsyncVerifier + ?Sized>(
        &self,
        jws: &str,
        now: i64,
        verifier: &V,
    ) -> Result<FeedOutcome, RefreshError> {
        let (compact, key) = self.begin_feed(jws)?;
        let ok = verifier
            .verify_es256(&key, compact.signing_input, &compact.signature)
            .await;
        self.finish_feed(&compact, ok, now, Source::Feed)
    }

    /// Applies one event of mcpgate's push channel, verified on the configured backend: an
    /// incremental feed document and nothing else (a full or paged document is refused, so the
    /// channel can only ever add revocations to the state the feed built).
    pub async fn apply_revocation_push_async(
        &self,
        jws: &str,
        now: i64,
    ) -> Result<FeedOutcome, RefreshError> {
        let (compact, key) = self.begin_feed(jws)?;
        let ok = self
            .backend
            .verify_es256(&key, compact.signing_input, &compact.signature)
            .await;
        self.finish_feed(&compact, ok, now, Source::Push)
    }

    /// Parses the feed JWS and finds its key.
    fn begin_feed<'j>(&self, jws: &'j str) -> Result<(CompactJws<'j>, VerifierKey), RefreshError> {
        let jws = jws.trim_matches(|c: char| c.is_ascii_whitespace());
        let compact = parse_compact(jws, MAX_FEED_BYTES, |t| typ_matches(t, REVOCATIONS_TYP))
            .map_err(|e| match e {
                TokenError::UnsupportedAlgorithm(_)
                | TokenError::WrongType
                | TokenError::MissingKeyId => RefreshError::BadHeader,
                TokenError::BadSignature => RefreshError::BadSignature,
                _ => RefreshError::Malformed,
            })?;
        let keys = self.key_set().ok_or(RefreshError::UnknownKeyId)?;
        let key = keys
            .get(&compact.kid)
            .ok_or(RefreshError::UnknownKeyId)?
            .clone();
        Ok((compact, key))
    }

    /// Decodes (only if the signature verified) and applies the feed.
    fn finish_feed(
        &self,
        compact: &CompactJws<'_>,
        signature: Result<bool, VerifierUnavailable>,
        now: i64,
        source: Source,
    ) -> Result<FeedOutcome, RefreshError> {
        match signature {
            Ok(true) => {}
            Ok(false) => return Err(RefreshError::BadSignature),
            Err(VerifierUnavailable) => return Err(RefreshError::VerifierUnavailable),
        }
        let feed: RevocationFeed =
            serde_json::from_slice(&compact.payload).map_err(|_| RefreshError::Malformed)?;
        let grace = self.expect.leeway_secs;
        if feed.iat < now.saturating_sub(self.feed_max_age) || feed.iat > now.saturating_add(grace)
        {
            return Err(RefreshError::Stale {
                produced_at: feed.iat,
                now,
            });
        }
        if source == Source::Push && (feed.full || feed.more) {
            return Err(RefreshError::Malformed);
        }
        let more = feed.more;
        let outcome = if feed.full && more {
            // The first page of a paged snapshot: assembled aside.
            let mut next = RevocationState::with_floor(read(&self.revocations).floor());
            next.apply_unchecked_full(feed, &self.expect.issuer, now, grace)?;
            let seq = next.cursor().unwrap_or(0);
            *lock(&self.staged) = Some(next);
            return Ok(FeedOutcome {
                seq,
                changed: false,
                full: true,
                more: true,
            });
        } else if feed.full {
            *lock(&self.staged) = None;
            self.replace_revocations(feed, now)?
        } else if let Some(outcome) = self.continue_staged(&feed, now, grace)? {
            if more {
                return Ok(outcome);
            }
            let staged = lock(&self.staged).take().unwrap_or_default();
            self.swap_in(staged, outcome, now)?
        } else {
            write(&self.revocations).apply(feed, &self.expect.issuer, now, grace)?
        };
        if outcome.changed {
            self.bump_epoch();
        }
        if !more {
            self.revocations_fresh_at.fetch_max(now, Ordering::AcqRel);
        }
        Ok(outcome)
    }

    /// Applies an incremental page to the snapshot being assembled, if there is one and the
    /// page follows it (`None` otherwise: the page is for the state in force).
    fn continue_staged(
        &self,
        feed: &RevocationFeed,
        now: i64,
        grace: i64,
    ) -> Result<Option<FeedOutcome>, RefreshError> {
        let mut staged = lock(&self.staged);
        let Some(state) = staged.as_mut() else {
            return Ok(None);
        };
        let fits = state
            .cursor()
            .is_some_and(|c| feed.since <= c && feed.seq >= c);
        if !fits {
            return Ok(None);
        }
        state
            .apply(feed.clone(), &self.expect.issuer, now, grace)
            .map(Some)
    }

    /// Swaps a completed snapshot in, unless it would move the state behind its floor.
    fn swap_in(
        &self,
        next: RevocationState,
        mut outcome: FeedOutcome,
        now: i64,
    ) -> Result<FeedOutcome, RefreshError> {
        let grace = self.expect.leeway_secs;
        let same = read(&self.revocations).same_active(&next, now, grace);
        let mut state = write(&self.revocations);
        let current = state.floor();
        let seq = next.cursor().unwrap_or(0);
        if seq < current {
            return Err(RefreshError::Rollback {
                current,
                received: seq,
            });
        }
        outcome.full = true;
        outcome.changed = !same;
        *state = next;
        Ok(outcome)
    }

    /// A full feed: built and compared outside the write lock, swapped in under it.
    fn replace_revocations(
        &self,
        feed: RevocationFeed,
        now: i64,
    ) -> Result<FeedOutcome, RefreshError> {
        let grace = self.expect.leeway_secs;
        let (seen_cursor, floor) = {
            let state = read(&self.revocations);
            (state.cursor(), state.floor())
        };
        if feed.seq < floor {
            return Err(RefreshError::Rollback {
                current: floor,
                received: feed.seq,
            });
        }
        let mut next = RevocationState::with_floor(floor);
        let mut outcome = next.apply(feed, &self.expect.issuer, now, grace)?;
        let same = read(&self.revocations).same_active(&next, now, grace);
        let old = {
            let mut state = write(&self.revocations);
            let current = state.floor();
            if outcome.seq < current {
                return Err(RefreshError::Rollback {
                    current,
                    received: outcome.seq,
                });
            }
            outcome.changed = !same || state.cursor() != seen_cursor;
            std::mem::replace(&mut *state, next)
        };
        drop(old);
        Ok(outcome)
    }

    /// Records that the feed was confirmed unchanged at `now` (an HTTP 304).
    pub fn mark_revocations_fresh(&self, now: i64) {
        self.revocations_fresh_at.fetch_max(now, Ordering::AcqRel);
    }

    /// The cursor to ask the feed from: the snapshot being assembled's, or the last applied
    /// feed's.
    pub fn revocation_cursor(&self) -> Option<u64> {
        if let Some(c) = lock(&self.staged)
            .as_ref()
            .and_then(RevocationState::cursor)
        {
            return Some(c);
        }
        read(&self.revocations).cursor()
    }

    /// When the revocation state was last confirmed current.
    pub fn revocations_fresh_at(&self) -> Option<i64> {
        match self.revocations_fresh_at.load(Ordering::Acquire) {
            NEVER => None,
            at => Some(at),
        }
    }

    /// Number of revocation entries held.
    pub fn revocation_entries(&self) -> usize {
        read(&self.revocations).len()
    }

    /// True if `token` is revoked by the current state at `now`.
    pub fn is_revoked(&self, token: &VerifiedToken, now: i64) -> bool {
        read(&self.revocations).is_revoked(token, now, self.expect.leeway_secs)
    }

    /// Number of tokens in the verified-token cache.
    pub fn cached_tokens(&self) -> usize {
        self.cache.len()
    }

    fn bump_epoch(&self) {
        let epoch = self.epoch.fetch_add(1, Ordering::AcqRel).wrapping_add(1);
        self.cache.clear(epoch);
    }
}

/// Where a feed document came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// A feed response.
    Feed,
    /// The push channel.
    Push,
}
