//! The revocation feed: how mcpgate tells resource servers about revoked tokens, subjects and
//! clients, and the local state a validator keeps from it.
//!
//! Access tokens are self-contained JWTs (RFC 9068), so a resource server cannot learn of a
//! revocation (RFC 7009) by looking at the token. Instead of introspecting every token
//! (RFC 7662), which would put mcpgate on every request, a validator polls a small signed feed
//! and checks each token against it locally.
//!
//! # Feed contract
//!
//! This is the exact contract between mcpgate (the server side) and this crate.
//!
//! ## Request
//!
//! - `GET {issuer}/revocations` asks for the **full** state.
//! - `GET {issuer}/revocations?since=<seq>` asks for the changes after cursor `<seq>` (the
//!   `seq` of the last feed the client applied).
//! - The client may send `If-None-Match: <etag>` with the `ETag` of its last response for the
//!   same URL; the server answers `304 Not Modified` (no body) when nothing changed.
//!
//! `{issuer}` is the issuer identifier without a trailing `/`.
//!
//! ## Response
//!
//! `200 OK`, headers `ETag: <opaque>` and `Cache-Control: public, max-age=<short>`, and a body
//! that is a compact JWS (RFC 7515 §7.1; surrounding ASCII whitespace is ignored) with:
//!
//! - protected header `{"alg":"ES256","typ":"revocations+jwt","kid":"<kid>"}`, where `<kid>`
//!   names a key of the issuer's JWKS (the same keys that sign access tokens);
//! - payload ([`RevocationFeed`]):
//!
//! ```json
//! {"iss": "<issuer>", "iat": 1700000000, "seq": 42, "full": false, "since": 40,
//!  "entries": [{"kind": "client", "id": "agent-7", "revoked_at": 1699999990,
//!               "expires_at": 1700003590}]}
//! ```
//!
//! | member | meaning |
//! | --- | --- |
//! | `iss` | the issuer identifier, exactly as in access tokens |
//! | `iat` | when the feed was produced (Unix seconds) |
//! | `seq` | cursor (u64) of the newest change included; increases with every change |
//! | `full` | `true`: `entries` is the complete current state; `false`: only changes |
//! | `since` | for `full: false`, the cursor the changes start after (at or before `?since=`); `0` for full |
//! | `more` | optional, default `false`: this is one page and the next is ready; ask `?since=<seq>` at once |
//! | `entries` | [`RevocationEntry`] objects; `kind` is `"client"`, `"sub"`, `"jti"` or `"family"` |
//!
//! A server may answer `?since=` with a full feed (e.g. when the cursor is too old to serve
//! changes from); the client then replaces its state. A server may page its answer: a full
//! feed with `more: true` is the first page of the state (the client replaces its state with
//! it), and the following pages are incremental feeds asked for with `?since=<seq>` until one
//! says `more: false`. Unknown members are ignored; an unknown
//! `kind` makes the whole feed invalid (so a new kind can never be silently skipped).
//!
//! ## Semantics
//!
//! A token is revoked if any active entry matches it:
//!
//! - `jti`: `id` equals the token's `jti`;
//! - `family`: `id` equals the token's `fam` (the authorization it descends from, inherited
//!   through token exchange), whatever its `iat`: a revoked authorization never comes back;
//! - `sub`: `id` equals the token's `sub` and the token's `iat <= revoked_at`;
//! - `client`: `id` equals the token's `client_id` **or** the `sub` of any actor anywhere in its
//!   `act` chain (RFC 8693 §4.1), and the token's `iat <= revoked_at`.
//!
//! Tokens issued after `revoked_at` (a re-authorised client, a user who signed in again) are not
//! affected. `expires_at` must be at least the `exp` of every token the entry can match (for
//! example `revoked_at` plus the longest access-token lifetime); the client drops an entry once
//! `now > expires_at + leeway`, where `leeway` is its clock-skew allowance for `exp`, so an entry
//! outlives every token it matches. When several entries share a kind and `id`, the client keeps
//! the latest `revoked_at` and the latest `expires_at`.
//!
//! ## Client processing
//!
//! 1. The JWS header must be exactly as above, and the signature must verify with the JWKS key
//!    named by `kid` (an unknown `kid` makes the client refetch the JWKS, rate-limited, and try
//!    once more); `iss` must equal the configured issuer.
//! 2. A feed whose `iat` is more than the validator's feed age limit in the past
//!    ([`ValidatorConfig::feed_max_age_secs`](crate::validator::ValidatorConfig::feed_max_age_secs),
//!    default [`DEFAULT_FEED_MAX_AGE_SECS`]), or beyond its clock-skew leeway in the future, is a
//!    replayed or stale copy and is refused.
//! 3. A full feed whose `seq` is lower than the client's cursor — or than the cursor floor it
//!    was started with, a cursor persisted before a restart
//!    ([`ValidatorConfig::revocation_cursor_floor`](crate::validator::ValidatorConfig::revocation_cursor_floor))
//!    — is a rollback and is refused. An incremental feed is applied only if its `since` is at
//!    most the client's cursor (a server may start the changes earlier, e.g. at a cache-friendly
//!    boundary; re-sent entries merge harmlessly) and its `seq` at least the cursor; otherwise
//!    it is refused and the next poll asks for the full state.
//! 4. A full feed replaces the state; an incremental one is merged into it. Entries already past
//!    `expires_at + leeway` are skipped. The cursor becomes `seq`.
//! 5. A feed that fails any check is ignored: the previous state stays in force and the error is
//!    reported ([`crate::guard::GuardStatus`]). The validator can be configured to stop
//!    accepting tokens when its state gets too old
//!    ([`ValidatorConfig::revocation_max_age_secs`](crate::validator::ValidatorConfig::revocation_max_age_secs)).
//!
//! A `304` response, or a `200` that verifies, counts as a fresh state at the time it was
//! received. The client polls at its own interval
//! ([`GuardConfig::revocation_poll_secs`](crate::guard::GuardConfig::revocation_poll_secs),
//! default 10 s); the response's `max-age` is for intermediaries and is not consulted.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::error::RefreshError;
use crate::token::VerifiedToken;

/// JOSE header `typ` of a revocation feed.
pub const REVOCATIONS_TYP: &str = "revocations+jwt";

/// Path of the feed under the issuer identifier.
pub const REVOCATIONS_PATH: &str = "/revocations";

/// Path of the push channel under the issuer identifier: a WebSocket whose text messages are
/// feed documents (see the module documentation).
pub const REVOCATIONS_SUBSCRIBE_PATH: &str = "/revocations/subscribe";

/// Default for the oldest feed a validator applies: a feed produced more than this many
/// seconds before it is applied is refused (the server signs a fresh one at least every
/// `max-age`, 15 s; this leaves room for caches and slow polls).
pub const DEFAULT_FEED_MAX_AGE_SECS: i64 = 300;

/// Feeds larger than this (bytes of the compact JWS) are refused.
pub const MAX_FEED_BYTES: usize = 8 * 1024 * 1024;

/// The payload of a revocation feed (see the module documentation). The issuer serializes
/// exactly this type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationFeed {
    /// Issuer identifier.
    pub iss: String,
    /// When the feed was produced, Unix seconds.
    pub iat: i64,
    /// Cursor of the newest change included.
    pub seq: u64,
    /// True if `entries` is the complete state.
    pub full: bool,
    /// For an incremental feed, the cursor the changes start after; 0 for a full feed.
    #[serde(default)]
    pub since: u64,
    /// True if this is one page and the next follows at once (ask `?since=<seq>`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub more: bool,
    /// The revocations.
    pub entries: Vec<RevocationEntry>,
}

/// One revocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationEntry {
    /// What `id` names.
    pub kind: RevocationKind,
    /// A client id, subject or token id.
    pub id: String,
    /// When the revocation happened, Unix seconds. Tokens issued later are not affected
    /// (ignored for `jti` entries).
    pub revoked_at: i64,
    /// When the entry can be forgotten, Unix seconds: no token it matches is valid after it.
    pub expires_at: i64,
}

/// What a [`RevocationEntry`] revokes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RevocationKind {
    /// A client (or agent): every token with it as `client_id` or anywhere in the actor chain.
    Client,
    /// A subject: every token on their behalf.
    Sub,
    /// A single token.
    Jti,
    /// An authorization (refresh-token family): every token whose `fam` claim names it,
    /// whatever its `iat`.
    Family,
}

impl RevocationKind {
    /// The wire (and storage) name: `"client"`, `"sub"`, `"jti"` or `"family"`.
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationKind::Client => "client",
            RevocationKind::Sub => "sub",
            RevocationKind::Jti => "jti",
            RevocationKind::Family => "family",
        }
    }

    /// True for kinds that revoke matching tokens whatever their `iat` (one token, or an
    /// authorization that never comes back).
    pub fn ignores_iat(self) -> bool {
        matches!(self, RevocationKind::Jti | RevocationKind::Family)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Revoked {
    revoked_at: i64,
    expires_at: i64,
}

impl Revoked {
    fn merge(&mut self, other: Revoked) -> bool {
        let before = *self;
        self.revoked_at = self.revoked_at.max(other.revoked_at);
        self.expires_at = self.expires_at.max(other.expires_at);
        *self != before
    }
}

/// What applying a feed did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedOutcome {
    /// The cursor after applying.
    pub seq: u64,
    /// True if the set of revocations changed (cached validations are then dropped).
    pub changed: bool,
    /// Whether the feed was a full one.
    pub full: bool,
    /// Whether the server has the next page ready (ask again at once, from `seq`).
    pub more: bool,
}

/// The revocations a validator currently enforces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevocationState {
    seq: Option<u64>,
    /// No feed below this cursor is accepted (a cursor persisted before a restart).
    floor: u64,
    clients: HashMap<String, Revoked>,
    subs: HashMap<String, Revoked>,
    jtis: HashMap<String, Revoked>,
    families: HashMap<String, Revoked>,
}

impl RevocationState {
    /// An empty state that has applied no feed.
    pub fn new() -> Self {
        RevocationState::default()
    }

    /// An empty state that accepts no feed older than `floor` (a cursor the validator
    /// persisted before a restart): the state never moves backwards across restarts.
    pub fn with_floor(floor: u64) -> Self {
        RevocationState {
            floor,
            ..RevocationState::default()
        }
    }

    /// The cursor of the last applied feed, `None` before the first full feed.
    pub fn cursor(&self) -> Option<u64> {
        self.seq
    }

    /// The lowest cursor a feed may have: the applied cursor, or the floor.
    pub fn floor(&self) -> u64 {
        self.seq.unwrap_or(0).max(self.floor)
    }

    /// Number of active entries.
    pub fn len(&self) -> usize {
        self.clients.len() + self.subs.len() + self.jtis.len() + self.families.len()
    }

    /// True if nothing is revoked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True if `token` is revoked at `now` (see the module documentation). `grace` is the
    /// validator's clock-skew leeway: an entry stays in force until `expires_at + grace`.
    pub fn is_revoked(&self, token: &VerifiedToken, now: i64, grace: i64) -> bool {
        if self.is_empty() {
            return false;
        }
        let active = |r: &Revoked| now <= r.expires_at.saturating_add(grace);
        let before = |r: &Revoked| active(r) && token.issued_at <= r.revoked_at;
        let claims = &token.claims;
        self.jtis.get(&claims.jti).is_some_and(active)
            || claims
                .fam
                .as_ref()
                .is_some_and(|f| self.families.get(f).is_some_and(active))
            || self.subs.get(&claims.sub).is_some_and(before)
            || self.clients.get(&claims.client_id).is_some_and(before)
            || claims
                .actors()
                .any(|a| self.clients.get(&a.sub).is_some_and(before))
    }

    /// True if both states enforce the same active entries at `now`.
    pub fn same_active(&self, other: &RevocationState, now: i64, grace: i64) -> bool {
        fn same(
            a: &HashMap<String, Revoked>,
            b: &HashMap<String, Revoked>,
            now: i64,
            grace: i64,
        ) -> bool {
            let active = |r: &Revoked| now <= r.expires_at.saturating_add(grace);
            let count = |m: &HashMap<String, Revoked>| m.values().filter(|r| active(r)).count();
            count(a) == count(b)
                && a.iter()
                    .filter(|(_, r)| active(r))
                    .all(|(k, r)| b.get(k) == Some(r))
        }
        same(&self.clients, &other.clients, now, grace)
            && same(&self.subs, &other.subs, now, grace)
            && same(&self.jtis, &other.jtis, now, grace)
            && same(&self.families, &other.families, now, grace)
    }

    /// Drops entries past `expires_at + grace`. Returns how many were dropped.
    pub fn purge(&mut self, now: i64, grace: i64) -> usize {
        let before = self.len();
        let keep = |_: &String, r: &mut Revoked| now <= r.expires_at.saturating_add(grace);
        self.clients.retain(keep);
        self.subs.retain(keep);
        self.jtis.retain(keep);
        self.families.retain(keep);
        before - self.len()
    }

    /// Starts an empty state from the first page of a paged snapshot (`iss` checked); the
    /// rollback check waits for the last page.
    pub(crate) fn apply_unchecked_full(
        &mut self,
        feed: RevocationFeed,
        issuer: &str,
        now: i64,
        grace: i64,
    ) -> Result<(), RefreshError> {
        if feed.iss != issuer {
            return Err(RefreshError::WrongIssuer);
        }
        self.seq = Some(feed.seq);
        self.merge_entries(feed.entries, now, grace);
        Ok(())
    }

    /// Applies a feed whose signature has already been verified: checks `iss` and the cursor
    /// rules, then replaces (full) or merges (incremental). On error nothing changes.
    pub fn apply(
        &mut self,
        feed: RevocationFeed,
        issuer: &str,
        now: i64,
        grace: i64,
    ) -> Result<FeedOutcome, RefreshError> {
        if feed.iss != issuer {
            return Err(RefreshError::WrongIssuer);
        }
        if feed.full {
            let current = self.floor();
            if feed.seq < current {
                return Err(RefreshError::Rollback {
                    current,
                    received: feed.seq,
                });
            }
            let mut next = RevocationState {
                seq: Some(feed.seq),
                floor: self.floor,
                ..RevocationState::default()
            };
            next.merge_entries(feed.entries, now, grace);
            self.purge(now, grace);
            let changed = next.clients != self.clients
                || next.subs != self.subs
                || next.jtis != self.jtis
                || next.families != self.families;
            *self = next;
            return Ok(FeedOutcome {
                seq: feed.seq,
                changed,
                full: true,
                more: feed.more,
            });
        }
        let current = self.seq.ok_or(RefreshError::CursorMismatch {
            expected: None,
            received: feed.since,
        })?;
        if feed.since > current || feed.seq < current {
            return Err(RefreshError::CursorMismatch {
                expected: Some(current),
                received: feed.since,
            });
        }
        self.purge(now, grace);
        let changed = self.merge_entries(feed.entries, now, grace);
        self.seq = Some(feed.seq);
        Ok(FeedOutcome {
            seq: feed.seq,
            changed,
            full: false,
            more: feed.more,
        })
    }

    fn merge_entries(&mut self, entries: Vec<RevocationEntry>, now: i64, grace: i64) -> bool {
        let mut changed = false;
        for e in entries {
            if now > e.expires_at.saturating_add(grace) {
                continue;
            }
            let map = match e.kind {
                RevocationKind::Client => &mut self.clients,
                RevocationKind::Sub => &mut self.subs,
                RevocationKind::Jti => &mut self.jtis,
                RevocationKind::Family => &mut self.families,
            };
            let r = Revoked {
                revoked_at: e.revoked_at,
                expires_at: e.expires_at,
            };
            match map.get_mut(&e.id) {
                Some(existing) => changed |= existing.merge(r),
                None => {
                    map.insert(e.id, r);
                    changed = true;
                }
            }
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: RevocationKind, id: &str, revoked_at: i64, expires_at: i64) -> RevocationEntry {
        RevocationEntry {
            kind,
            id: id.into(),
            revoked_at,
            expires_at,
        }
    }

    #[test]
    fn feed_payload_matches_the_contract() {
        let json = serde_json::json!({
            "iss": "https://as.example", "iat": 100, "seq": 7, "full": false, "since": 5,
            "entries": [{"kind": "client", "id": "c", "revoked_at": 90, "expires_at": 200},
                        {"kind": "sub", "id": "s", "revoked_at": 91, "expires_at": 201},
                        {"kind": "jti", "id": "j", "revoked_at": 92, "expires_at": 202}]
        });
        let feed: RevocationFeed = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(feed.entries[1].kind, RevocationKind::Sub);
        assert_eq!(serde_json::to_value(&feed).unwrap(), json);
        assert!(!feed.more, "absent means the last page");
        let mut paged = json;
        paged["more"] = serde_json::json!(true);
        let feed: RevocationFeed = serde_json::from_value(paged.clone()).unwrap();
        assert!(feed.more);
        assert_eq!(serde_json::to_value(&feed).unwrap(), paged);
    }

    #[test]
    fn unknown_kind_makes_the_feed_invalid() {
        let json = r#"{"iss":"i","iat":1,"seq":1,"full":true,"since":0,
            "entries":[{"kind":"device","id":"d","revoked_at":1,"expires_at":2}]}"#;
        assert!(serde_json::from_str::<RevocationFeed>(json).is_err());
    }

    #[test]
    fn duplicate_entries_keep_latest_times() {
        let mut s = RevocationState::new();
        let feed = RevocationFeed {
            iss: "i".into(),
            iat: 0,
            seq: 1,
            full: true,
            since: 0,
            more: false,
            entries: vec![
                entry(RevocationKind::Client, "c", 10, 100),
                entry(RevocationKind::Client, "c", 20, 90),
            ],
        };
        s.apply(feed, "i", 0, 0).unwrap();
        assert_eq!(
            s.clients.get("c"),
            Some(&Revoked {
                revoked_at: 20,
                expires_at: 100
            })
        );
    }
}
