//! The verified-token cache: skips signature verification for a token seen recently.
//!
//! - Keyed by SHA-256 of the token (FIPS 180-4), so no token is kept in memory and a lookup
//!   costs one hash plus one map probe.
//! - Bounded: at most `capacity` entries; inserting into a full cache evicts the oldest entry
//!   (first in, first out, which keeps hits read-only and so cheap under a read lock).
//! - An entry is used only while `max(iat, nbf) - leeway <= now < exp` (after that the full path applies the leeway and
//!   the token is not cached again) and only in the *epoch* it was validated in: the validator
//!   bumps the epoch whenever the key set or the revocation state changes, so a revocation
//!   applies to cached tokens at once. Entries of an old epoch are cleared when the epoch moves.
//! - Only tokens whose signature verified are inserted, so an attacker cannot fill the map with
//!   chosen keys; that is also why the map can hash with the digest's own bits.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::RwLock;

#[cfg(not(feature = "ring"))]
use sha2::{Digest as _, Sha256};

use crate::sync::{read, write};
use crate::token::VerifiedToken;

/// SHA-256 of a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TokenDigest([u8; 32]);

impl TokenDigest {
    /// With the `ring` feature, ring's assembly SHA-256 (SHA-NI where available) is used: the
    /// RustCrypto `sha2` intrinsics lose most of their speed when the caller's profile
    /// optimizes for size (`opt-level = "s"`, as Worker builds do), because the SHA-NI
    /// intrinsics are then no longer inlined.
    pub(crate) fn of(token: &str) -> Self {
        #[cfg(feature = "ring")]
        {
            let mut out = [0u8; 32];
            let d = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
            if let Some(dst) = out.get_mut(..d.as_ref().len()) {
                dst.copy_from_slice(d.as_ref());
            }
            TokenDigest(out)
        }
        #[cfg(not(feature = "ring"))]
        {
            TokenDigest(Sha256::digest(token.as_bytes()).into())
        }
    }
}

impl Hash for TokenDigest {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let mut first = [0u8; 8];
        first.copy_from_slice(self.0.get(..8).unwrap_or(&[0; 8]));
        state.write_u64(u64::from_le_bytes(first));
    }
}

/// Passes the digest's first eight bytes through: they are already uniformly distributed.
#[derive(Default)]
struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

struct Entry {
    token: VerifiedToken,
    /// Earliest `now` at which the time checks pass (`max(iat, nbf) - leeway`).
    valid_from: i64,
    epoch: u64,
    seq: u64,
}

impl Entry {
    fn usable(&self, now: i64, epoch: u64) -> bool {
        self.epoch == epoch && self.valid_from <= now && now < self.token.expires_at
    }
}

#[derive(Default)]
struct Inner {
    map: HashMap<TokenDigest, Entry, BuildHasherDefault<DigestHasher>>,
    /// Insertion order for eviction; an item whose `seq` no longer matches the map is stale.
    order: VecDeque<(TokenDigest, u64)>,
    next_seq: u64,
    epoch: u64,
}

/// A bounded cache of verified tokens (see the module documentation).
pub(crate) struct TokenCache {
    capacity: usize,
    inner: RwLock<Inner>,
}

impl TokenCache {
    pub(crate) fn new(capacity: usize) -> Self {
        TokenCache {
            capacity,
            inner: RwLock::new(Inner::default()),
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        self.capacity > 0
    }

    /// The cached validation of `key`, if it is still usable at `now` in `epoch`.
    pub(crate) fn get(&self, key: &TokenDigest, now: i64, epoch: u64) -> Option<VerifiedToken> {
        let stale = {
            let inner = read(&self.inner);
            match inner.map.get(key) {
                None => return None,
                Some(e) if e.usable(now, epoch) => return Some(e.token.clone()),
                Some(_) => true,
            }
        };
        if stale {
            let mut inner = write(&self.inner);
            if inner.map.get(key).is_some_and(|e| !e.usable(now, epoch)) {
                inner.map.remove(key);
            }
        }
        None
    }

    /// Caches `token`, validated in `epoch`.
    pub(crate) fn insert(
        &self,
        key: TokenDigest,
        token: VerifiedToken,
        valid_from: i64,
        epoch: u64,
    ) {
        if self.capacity == 0 {
            return;
        }
        let mut inner = write(&self.inner);
        if epoch != inner.epoch {
            if epoch < inner.epoch {
                // Validated against state that has since changed.
                return;
            }
            inner.map.clear();
            inner.order.clear();
            inner.epoch = epoch;
        }
        let seq = inner.next_seq;
        inner.next_seq = seq.wrapping_add(1);
        let replaced = inner
            .map
            .insert(
                key,
                Entry {
                    token,
                    valid_from,
                    epoch,
                    seq,
                },
            )
            .is_some();
        inner.order.push_back((key, seq));
        if !replaced {
            while inner.map.len() > self.capacity {
                let Some((old, old_seq)) = inner.order.pop_front() else {
                    break;
                };
                if inner.map.get(&old).is_some_and(|e| e.seq == old_seq) {
                    inner.map.remove(&old);
                }
            }
        }
        // Keep the order queue from growing without bound through stale items.
        if inner.order.len() > self.capacity.saturating_mul(2).max(16) {
            let Inner { map, order, .. } = &mut *inner;
            order.retain(|(k, s)| map.get(k).is_some_and(|e| e.seq == *s));
        }
    }

    /// Drops every entry and moves to `epoch`.
    pub(crate) fn clear(&self, epoch: u64) {
        let mut inner = write(&self.inner);
        inner.map.clear();
        inner.order.clear();
        inner.epoch = inner.epoch.max(epoch);
    }

    pub(crate) fn len(&self) -> usize {
        read(&self.inner).map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::{AccessClaims, Audience};

    fn verified(jti: &str, exp: i64) -> VerifiedToken {
        VerifiedToken {
            claims: AccessClaims {
                iss: "i".into(),
                sub: "s".into(),
                aud: Audience::One("a".into()),
                client_id: "c".into(),
                scope: "x".into(),
                jti: jti.into(),
                act: None,
                fam: None,
            },
            issued_at: 0,
            expires_at: exp,
        }
    }

    #[test]
    fn digest_is_sha256_of_the_token() {
        use sha2::Digest as _;
        let expected: [u8; 32] = sha2::Sha256::digest(b"a.b.c").into();
        assert_eq!(TokenDigest::of("a.b.c").0, expected);
    }

    #[test]
    fn evicts_the_oldest_entry_first() {
        let cache = TokenCache::new(2);
        let (a, b, c) = (
            TokenDigest::of("a"),
            TokenDigest::of("b"),
            TokenDigest::of("c"),
        );
        cache.insert(a, verified("a", 100), 0, 0);
        cache.insert(b, verified("b", 100), 0, 0);
        // A hit does not refresh the entry (first in, first out).
        assert!(cache.get(&a, 1, 0).is_some());
        cache.insert(c, verified("c", 100), 0, 0);
        assert!(cache.get(&a, 1, 0).is_none());
        assert!(cache.get(&b, 1, 0).is_some());
        assert!(cache.get(&c, 1, 0).is_some());
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn entries_of_an_older_epoch_are_neither_returned_nor_inserted() {
        let cache = TokenCache::new(4);
        let a = TokenDigest::of("a");
        cache.insert(a, verified("a", 100), 0, 0);
        cache.clear(1);
        assert_eq!(cache.len(), 0);
        cache.insert(a, verified("a", 100), 0, 0);
        assert_eq!(cache.len(), 0);
        cache.insert(a, verified("a", 100), 0, 1);
        assert!(cache.get(&a, 1, 1).is_some());
        assert!(cache.get(&a, 1, 2).is_none());
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn order_queue_stays_bounded_when_entries_are_removed_out_of_order() {
        let cache = TokenCache::new(2);
        for i in 0..1000 {
            let d = TokenDigest::of(&i.to_string());
            cache.insert(d, verified("x", 10), 0, 0);
            // Expire it right away through a lookup after exp.
            assert!(cache.get(&d, 10, 0).is_none());
        }
        assert!(read(&cache.inner).order.len() <= 16);
    }
}
