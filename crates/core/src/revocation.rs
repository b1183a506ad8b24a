//! Revocation in one place.
//!
//! D1's `revocations` table is the source of truth mcpgate itself checks (immediately
//! consistent). Every change to it is numbered in D1's `revocation_log` in the transaction that
//! makes it; the revocation hub ([`publish`], run by a Durable Object: one writer) copies the
//! log to the KV revocation list as immutable segments of [`SEGMENT`] numbers plus a small
//! [`Head`], from which the signed feed for offline validators is served page by page, and
//! hands each change to the validators connected to it. Entry kinds:
//! - `client`: every token with `iat <= revoked_at` whose `client_id` is the client or whose
//!   `act` chain names it;
//! - `sub`: every token with `iat <= revoked_at` whose subject is the user or agent;
//! - `jti`: one token;
//! - `family`: every token descending from one authorization (a refresh-token family): the
//!   tokens of its code redemption and refreshes and those obtained from them by token
//!   exchange (the `fam` claim), whatever their `iat`.
//!
//! An entry lives until the last token it can affect has expired (`expires_at`), and at least
//! [`KV_MIN_TTL_SECS`], KV's floor. Re-enabling a client or user never removes an entry, so
//! tokens issued before the revocation stay revoked.

use serde::{Deserialize, Serialize};

use crate::stmt;
use crate::store::{decode, families, Database, Stmt, StoreError};
use mcpgate_guard::AccessClaims;

/// KV's minimum `expirationTtl` (seconds).
pub const KV_MIN_TTL_SECS: i64 = 60;

/// What an entry names, and one revocation: the feed contract's own types, so issuer and
/// validators cannot disagree about them.
pub use mcpgate_guard::revocation::{RevocationEntry as Entry, RevocationKind as Kind};

/// Numbers per KV segment: segment `k` holds the log entries numbered `k*SEGMENT + 1 ..=
/// (k+1)*SEGMENT`; a feed page is at most one segment.
pub const SEGMENT: u64 = 500;

/// One log entry: an entry and its number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Logged {
    /// Its number in the log (the feed cursor).
    pub seq: u64,
    /// The entry.
    #[serde(flatten)]
    pub entry: Entry,
}

/// A sealed segment: immutable once written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// Its index.
    pub index: u64,
    /// Its live entries when sealed, in log order.
    pub entries: Vec<Logged>,
}

/// The head of the KV revocation list, and the hub's whole state: small (the open segment and
/// one pair per live sealed segment), rewritten on every publish.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// The newest number published.
    pub seq: u64,
    /// Segments below this index are sealed; the open one's entries are `open`.
    pub sealed: u64,
    /// Sealed segments that still hold a live entry: (index, latest `expires_at`), ascending.
    pub live: Vec<(u64, i64)>,
    /// The open segment's live entries.
    pub open: Vec<Logged>,
}

/// The KV revocation list: segments and head, written only by the hub.
#[allow(async_fn_in_trait)]
pub trait RevocationList {
    /// The head (`None` before the first publish).
    async fn head(&self) -> Result<Option<Head>, StoreError>;
    /// A sealed segment (`None` if not visible here, e.g. not yet propagated, or expired at
    /// `now`).
    async fn segment(&self, index: u64, now: i64) -> Result<Option<Segment>, StoreError>;
    /// Writes a sealed segment, kept until `expires_at` (at least [`KV_MIN_TTL_SECS`]).
    async fn put_segment(&self, seg: &Segment, expires_at: i64, now: i64)
        -> Result<(), StoreError>;
    /// Writes the head.
    async fn put_head(&self, head: &Head) -> Result<(), StoreError>;
    /// Asks the hub to publish what D1 has committed (on Workers, the revocation hub Durable
    /// Object; natively, [`publish`] at once). Returns when it is published.
    async fn publish_committed(&self, now: i64) -> Result<(), StoreError>;
    /// A signed feed page kept at this location under `key` (a URL below the issuer; its body
    /// and ETag), if any. Best effort: a cache that is not there (Workers on `*.workers.dev`)
    /// always misses.
    async fn cached_page(&self, key: &str, now: i64) -> Option<(String, String)>;
    /// Keeps a signed feed page under `key` for `max_age` seconds. Best effort.
    async fn keep_page(&self, key: &str, body: &str, etag: &str, max_age: u32, now: i64);
}

/// The upsert statement for D1: for a `client` or `sub` entry a later `revoked_at` and a later
/// `expires_at` win; a `family` or `jti` entry, once written, never changes (its `revoked_at`
/// is not consulted and nothing it matches is issued afterwards), so revoking it again writes
/// nothing and adds nothing to the log.
pub fn upsert_stmt(e: &Entry) -> Stmt {
    stmt!(
        "INSERT INTO revocations (kind, id, revoked_at, expires_at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (kind, id) DO UPDATE SET revoked_at = max(revoked_at, excluded.revoked_at), \
         expires_at = max(expires_at, excluded.expires_at) WHERE revocations.kind IN ('client', 'sub')",
        e.kind.as_str(),
        &e.id,
        e.revoked_at,
        e.expires_at
    )
}

/// `family` entries for every unrevoked refresh family of a (user, client, resource server)
/// grant, in the transaction that revokes them ([`crate::grants::revoke`]).
pub fn grant_families_stmt(
    user_id: &str,
    client_id: &str,
    rs_id: &str,
    now: i64,
    expires_at: i64,
) -> Stmt {
    stmt!(
        "INSERT INTO revocations (kind, id, revoked_at, expires_at) \
         SELECT 'family', id, ?4, ?5 FROM refresh_families \
         WHERE user_id = ?1 AND client_id = ?2 AND resource_server_id = ?3 AND revoked_at IS NULL \
         ON CONFLICT (kind, id) DO NOTHING",
        user_id,
        client_id,
        rs_id,
        now,
        expires_at
    )
}

/// Removes entries past their expiry (the cron; KV expires its copies itself), at most
/// `limit`; one row per entry removed.
pub fn prune_stmt(now: i64, limit: i64) -> Stmt {
    stmt!(
        "DELETE FROM revocations WHERE rowid IN (SELECT rowid FROM revocations WHERE expires_at < ?1 LIMIT ?2) RETURNING 1 AS n",
        now,
        limit
    )
}

/// Removes log entries past their expiry, at most `limit`: nothing needs publishing once no
/// token it matches can be valid.
pub fn prune_log_stmt(now: i64, limit: i64) -> Stmt {
    stmt!(
        "DELETE FROM revocation_log WHERE seq IN (SELECT seq FROM revocation_log WHERE expires_at < ?1 LIMIT ?2) RETURNING 1 AS n",
        now,
        limit
    )
}

/// Records entries in D1 (in `extra`'s transaction, if given; the log numbers them there),
/// then has the hub publish them. If publishing fails the caller gets the error and the
/// scheduled task publishes again: the log loses nothing.
pub async fn record<D: Database + RevocationList + ?Sized>(
    store: &D,
    entries: &[Entry],
    extra: Vec<Stmt>,
    now: i64,
) -> Result<(), StoreError> {
    let mut stmts = extra;
    stmts.extend(entries.iter().map(upsert_stmt));
    if !stmts.is_empty() {
        store.batch(stmts).await?;
    }
    store.publish_committed(now).await
}

#[derive(Deserialize)]
struct Row {
    kind: String,
    id: String,
    revoked_at: i64,
}

/// The statement finding entries that could revoke a token: its jti, its subject, its client
/// and every actor in its chain.
pub fn lookup_stmt(claims: &AccessClaims, now: i64) -> Stmt {
    let mut clients: Vec<String> = vec![claims.client_id.clone()];
    clients.extend(claims.actors().map(|a| a.sub.clone()));
    stmt!(
        "SELECT kind, id, revoked_at FROM revocations WHERE expires_at > ?1 AND ( \
           (kind = 'jti' AND id = ?2) OR (kind = 'sub' AND id = ?3) OR (kind = 'family' AND id = ?5) OR \
           (kind = 'client' AND id IN (SELECT value FROM json_each(?4))))",
        now,
        &claims.jti,
        &claims.sub,
        serde_json::to_string(&clients).unwrap_or_else(|_| "[]".into()),
        claims.fam.as_deref()
    )
}

/// What revoking a client or user affects, reported before revoking and audited with it.
///
/// Counts what mcpgate records: live refresh-token families, and issuance records
/// ([`crate::store::issuances`]) for access tokens issued without one (client_credentials,
/// token exchange) that may still be live. An issuance record covers up to an hour past the
/// last token it saw, so these are upper bounds, never an undercount of what is recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlastRadius {
    /// Live refresh-token families (each a standing authorization).
    pub active_refresh_families: i64,
    /// (client, resource server, subject) combinations with access tokens issued outside a
    /// refresh family that may still be live.
    pub live_token_grants: i64,
    /// Distinct users among the subjects cut.
    pub distinct_users: i64,
    /// Distinct subjects cut (users, and agents or clients acting for themselves).
    pub distinct_subjects: i64,
    /// Distinct resource servers they reach.
    pub resource_servers: i64,
    /// Per resource server (by identifier), what is cut there.
    pub by_resource_server: Vec<ServerRadius>,
    /// When a token was last issued through it (unix seconds), as far as mcpgate records it.
    pub last_token_issued: Option<i64>,
}

/// What a revocation cuts at one resource server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerRadius {
    /// The resource server's identifier (the token audience).
    pub resource_server: String,
    /// Live refresh-token families there.
    pub refresh_families: i64,
    /// Issuance records there that may still have live access tokens.
    pub live_token_grants: i64,
}

/// Who is being revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal<'a> {
    /// A client (application, agent, registered client): its id as `client_id` or actor.
    Client(&'a str),
    /// A user: tokens whose subject they are.
    User(&'a str),
}

#[derive(Deserialize)]
struct RadiusRow {
    families: i64,
    grants: i64,
    users: i64,
    subjects: i64,
    rs: i64,
    last: Option<i64>,
}

#[derive(Deserialize)]
struct ServerRow {
    resource_server: String,
    refresh_families: i64,
    live_token_grants: i64,
}

/// The union every radius query reads: live families and live issuance records of a client
/// (`?3 = 'client'`: families issued to it, records of tokens through it) or of a user (`?3 =
/// 'user'`: their families, records of tokens whose subject they are, once per token).
macro_rules! cut {
    () => {
        "WITH cut AS ( \
         SELECT user_id AS subject, resource_server_id AS rs, last_used_at AS t, 1 AS fam FROM refresh_families \
           WHERE ?3 = 'client' AND client_id = ?1 AND revoked_at IS NULL AND expires_at > ?2 \
         UNION ALL SELECT user_id, resource_server_id, last_used_at, 1 FROM refresh_families \
           WHERE ?3 = 'user' AND user_id = ?1 AND revoked_at IS NULL AND expires_at > ?2 \
         UNION ALL SELECT subject, resource_server_id, last_issued_at, 0 FROM issuances \
           WHERE ?3 = 'client' AND via = ?1 AND expires_at > ?2 \
         UNION ALL SELECT subject, resource_server_id, last_issued_at, 0 FROM issuances \
           WHERE ?3 = 'user' AND subject = ?1 AND actor = 0 AND expires_at > ?2) "
    };
}

/// Computes the blast radius of revoking a principal (one round trip).
pub async fn blast_radius<D: Database + ?Sized>(
    db: &D,
    p: Principal<'_>,
    now: i64,
) -> Result<BlastRadius, StoreError> {
    let (id, kind) = match p {
        Principal::Client(id) => (id, "client"),
        Principal::User(id) => (id, "user"),
    };
    let totals = stmt!(
        concat!(
            cut!(),
            "SELECT coalesce(sum(fam), 0) AS families, count(*) - coalesce(sum(fam), 0) AS grants, \
             count(DISTINCT CASE WHEN subject IN (SELECT id FROM users) THEN subject END) AS users, \
             count(DISTINCT subject) AS subjects, count(DISTINCT rs) AS rs, \
             max(coalesce(max(t), 0), coalesce((SELECT last_used_at FROM clients WHERE ?3 = 'client' AND id = ?1), 0)) AS last \
             FROM cut"
        ),
        id,
        now,
        kind
    );
    let per_server = stmt!(
        concat!(
            cut!(),
            "SELECT r.identifier AS resource_server, sum(c.fam) AS refresh_families, \
             count(*) - sum(c.fam) AS live_token_grants \
             FROM cut c JOIN resource_servers r ON r.id = c.rs GROUP BY r.identifier ORDER BY r.identifier"
        ),
        id,
        now,
        kind
    );
    let [totals, per_server] =
        crate::store::Results::new(db.batch(vec![totals, per_server]).await?).take()?;
    let row: Option<RadiusRow> = crate::store::decode_first(totals)?;
    let servers: Vec<ServerRow> = decode(per_server)?;
    let mut radius = row
        .map(|r| BlastRadius {
            active_refresh_families: r.families,
            live_token_grants: r.grants,
            distinct_users: r.users,
            distinct_subjects: r.subjects,
            resource_servers: r.rs,
            by_resource_server: Vec::new(),
            last_token_issued: r.last.filter(|t| *t > 0),
        })
        .unwrap_or_default();
    radius.by_resource_server = servers
        .into_iter()
        .map(|s| ServerRadius {
            resource_server: s.resource_server,
            refresh_families: s.refresh_families,
            live_token_grants: s.live_token_grants,
        })
        .collect();
    Ok(radius)
}

/// How long an entry covering a principal or an authorization must live: past the expiry of
/// the longest-lived token issued up to now, plus the retired-key grace.
pub fn entry_expiry(max_token_ttl: i64, now: i64) -> i64 {
    now + max_token_ttl + crate::keys::RETIRE_GRACE_SECS
}

/// Revokes every token issued through a client or to a user, in one transaction with `extra`
/// (the status change itself and its audit record), then mirrors the entries to KV:
/// - a client: a `client` entry (tokens naming it as `client_id` or anywhere in `act`) and a
///   `sub` entry (tokens it obtained for itself, and tokens exchanged from them, whose subject
///   it stays), and every refresh family issued to it;
/// - a user: a `sub` entry and every refresh family of theirs.
///
/// Entries live until the last such token has expired.
pub async fn revoke_principal<S: Database + RevocationList + ?Sized>(
    store: &S,
    p: Principal<'_>,
    max_token_ttl: i64,
    reason: &str,
    extra: Vec<Stmt>,
    now: i64,
) -> Result<(), StoreError> {
    let entry = |kind: Kind, id: &str| Entry {
        kind,
        id: id.to_owned(),
        revoked_at: now,
        expires_at: entry_expiry(max_token_ttl, now),
    };
    let (entries, families) = match p {
        Principal::Client(id) => (
            vec![entry(Kind::Client, id), entry(Kind::Sub, id)],
            families::revoke_for_client_stmt(id, reason, now),
        ),
        Principal::User(id) => (
            vec![entry(Kind::Sub, id)],
            families::revoke_for_user_stmt(id, reason, now),
        ),
    };
    let mut stmts = vec![families];
    stmts.extend(extra);
    record(store, &entries, stmts, now).await
}

/// Revokes one authorization (refresh-token family) and every token descending from it: the
/// family is marked revoked and a `family` entry written in one transaction (with `extra`),
/// then mirrored to KV. The entry is written even if the family does not exist yet, so a code
/// redemption still in flight cannot create it afterwards.
pub async fn revoke_family<S: Database + RevocationList + ?Sized>(
    store: &S,
    family_id: &str,
    reason: &str,
    max_token_ttl: i64,
    extra: Vec<Stmt>,
    now: i64,
) -> Result<(), StoreError> {
    let e = Entry {
        kind: Kind::Family,
        id: family_id.to_owned(),
        revoked_at: now,
        expires_at: entry_expiry(max_token_ttl, now),
    };
    let mut stmts = vec![families::revoke_stmt(family_id, reason, now)];
    stmts.extend(extra);
    record(store, &[e], stmts, now).await
}

/// Log entries read per round trip when publishing.
const LOG_PAGE: i64 = 1000;

/// The hub's step: reads the log after `head.seq` from D1, seals every segment it completes
/// into KV, rewrites the head (in KV and in `head`), and returns the entries it published, in
/// order (for the validators connected to the hub). Idempotent: run twice, it writes the same
/// segments. Must not run concurrently with itself on the same head (the hub serialises it).
pub async fn publish<S: Database + RevocationList + ?Sized>(
    store: &S,
    head: &mut Head,
    now: i64,
) -> Result<Vec<Logged>, StoreError> {
    let mut fresh = Vec::new();
    loop {
        // The log's kinds are the ones `revocations` allows (its CHECK), so rows decode as
        // entries.
        let rows: Vec<Logged> = decode(
            store
                .query(stmt!(
                    "SELECT seq, kind, id, revoked_at, expires_at FROM revocation_log WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                    i64::try_from(head.seq).unwrap_or(i64::MAX),
                    LOG_PAGE
                ))
                .await?,
        )?;
        let n = rows.len();
        for logged in rows {
            while logged.seq > (head.sealed + 1) * SEGMENT {
                seal(store, head, now).await?;
            }
            head.seq = logged.seq;
            head.open.push(logged.clone());
            fresh.push(logged);
        }
        if i64::try_from(n).unwrap_or(i64::MAX) < LOG_PAGE {
            break;
        }
    }
    if head.seq >= (head.sealed + 1) * SEGMENT {
        seal(store, head, now).await?;
    }
    head.open.retain(|l| l.entry.expires_at > now);
    head.live.retain(|(_, exp)| *exp > now);
    store.put_head(head).await?;
    Ok(fresh)
}

/// Seals the open segment: writes its live entries to KV (nothing if none is live) and opens
/// the next.
async fn seal<S: RevocationList + ?Sized>(
    store: &S,
    head: &mut Head,
    now: i64,
) -> Result<(), StoreError> {
    let end = (head.sealed + 1) * SEGMENT;
    let (entries, rest): (Vec<Logged>, Vec<Logged>) = std::mem::take(&mut head.open)
        .into_iter()
        .filter(|l| l.entry.expires_at > now)
        .partition(|l| l.seq <= end);
    head.open = rest;
    if let Some(expires_at) = entries.iter().map(|l| l.entry.expires_at).max() {
        let seg = Segment {
            index: head.sealed,
            entries,
        };
        store.put_segment(&seg, expires_at, now).await?;
        head.live.push((head.sealed, expires_at));
    }
    head.sealed += 1;
    Ok(())
}

/// Every live entry the KV list holds (the head's and the live segments'): what a validator
/// that read the full snapshot enforces.
pub async fn snapshot<S: RevocationList + ?Sized>(
    store: &S,
    now: i64,
) -> Result<Vec<Entry>, StoreError> {
    let Some(head) = store.head().await? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (k, _) in head.live.iter().filter(|(_, exp)| *exp > now) {
        if let Some(seg) = store.segment(*k, now).await? {
            out.extend(seg.entries.into_iter().map(|l| l.entry));
        }
    }
    out.extend(head.open.into_iter().map(|l| l.entry));
    out.retain(|e| e.expires_at > now);
    Ok(out)
}

/// True if any looked-up row revokes a token issued at `iat`.
pub fn revokes(rows: Vec<crate::store::Row>, iat: i64) -> Result<bool, StoreError> {
    let rows: Vec<Row> = decode(rows)?;
    Ok(rows.iter().any(|r| {
        r.kind == "jti" || r.kind == "family" || (iat <= r.revoked_at && !r.id.is_empty())
    }))
}

/// The KV revocation list for an in-memory test store.
#[cfg(any(test, feature = "test-util"))]
pub mod memory {
    use std::cell::RefCell;
    use std::collections::HashMap;

    use super::{Head, Segment, KV_MIN_TTL_SECS};
    use crate::store::StoreError;

    /// KV stand-in. Like KV, a segment vanishes at its expiration, never sooner than
    /// [`KV_MIN_TTL_SECS`] after the write; the head never expires.
    #[derive(Debug, Default)]
    pub struct MemoryKv {
        /// Segments by index: (segment, expires at).
        pub segments: RefCell<HashMap<u64, (Segment, i64)>>,
        /// The head.
        pub head: RefCell<Option<Head>>,
        /// The hub's own copy of its state (the Durable Object's storage).
        pub hub: RefCell<Head>,
        /// Reads made (head and segments), for cost assertions.
        pub reads: std::cell::Cell<u64>,
        /// The edge cache of signed pages: key -> (body, etag, expires at).
        pub pages: RefCell<HashMap<String, (String, String, i64)>>,
    }

    impl MemoryKv {
        /// The head.
        pub fn head(&self) -> Option<Head> {
            self.reads.set(self.reads.get() + 1);
            self.head.borrow().clone()
        }
        /// A segment, unless it has expired at `now` (KV drops it then).
        pub fn segment(&self, index: u64, now: i64) -> Option<Segment> {
            self.reads.set(self.reads.get() + 1);
            self.segments
                .borrow()
                .get(&index)
                .filter(|(_, exp)| *exp > now)
                .map(|(s, _)| s.clone())
        }
        /// Writes a segment.
        pub fn put_segment(&self, seg: &Segment, expires_at: i64, now: i64) {
            let exp = expires_at.max(now + KV_MIN_TTL_SECS);
            self.segments
                .borrow_mut()
                .insert(seg.index, (seg.clone(), exp));
        }
        /// A kept page, if not expired.
        pub fn cached_page(&self, key: &str, now: i64) -> Option<(String, String)> {
            self.pages
                .borrow()
                .get(key)
                .filter(|(_, _, exp)| *exp > now)
                .map(|(b, e, _)| (b.clone(), e.clone()))
        }
        /// Keeps a page.
        pub fn keep_page(&self, key: &str, body: &str, etag: &str, max_age: u32, now: i64) {
            self.pages.borrow_mut().insert(
                key.to_owned(),
                (body.to_owned(), etag.to_owned(), now + i64::from(max_age)),
            );
        }
        /// Writes the head, unless it would move it backwards (interleaved test flows; the
        /// Durable Object serialises its publishes).
        pub fn put_head(&self, head: &Head) -> Result<(), StoreError> {
            let mut cur = self.head.borrow_mut();
            if cur.as_ref().is_none_or(|c| c.seq <= head.seq) {
                *cur = Some(head.clone());
            }
            Ok(())
        }
    }
}
