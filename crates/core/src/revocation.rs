//! Revocation in one place.
//!
//! D1's `revocations` table is the source of truth mcpgate itself checks (immediately
//! consistent). Every entry is mirrored to the KV revocation list, from which the signed
//! revocation feed for offline validators is served. Entry kinds:
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

/// The KV mirror of the revocation list (eventually consistent across locations).
#[allow(async_fn_in_trait)]
pub trait RevocationList {
    /// Stores an entry until `entry.expires_at` (at least [`KV_MIN_TTL_SECS`] from `now`).
    async fn put(&self, entry: &Entry, now: i64) -> Result<(), StoreError>;
    /// Every live entry.
    async fn list(&self, now: i64) -> Result<Vec<Entry>, StoreError>;
    /// The feed cursor: the highest `revoked_at` ever stored. Never decreases, so validators'
    /// cursors stay valid when entries expire.
    async fn high_water(&self) -> Result<i64, StoreError>;
}

/// The upsert statement for D1: a later `revoked_at` and a later `expires_at` win.
pub fn upsert_stmt(e: &Entry) -> Stmt {
    stmt!(
        "INSERT INTO revocations (kind, id, revoked_at, expires_at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (kind, id) DO UPDATE SET revoked_at = max(revoked_at, excluded.revoked_at), \
         expires_at = max(expires_at, excluded.expires_at)",
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
         ON CONFLICT (kind, id) DO UPDATE SET revoked_at = max(revoked_at, excluded.revoked_at), \
         expires_at = max(expires_at, excluded.expires_at)",
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

/// Records entries in D1 (in `extra`'s transaction, if given) and mirrors them to KV.
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
    for e in entries {
        store.put(e, now).await?;
    }
    Ok(())
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

/// Seconds of recent revocations the scheduled task copies from D1 to KV again: twice the
/// hourly cron period, so every entry gets at least one more chance.
pub const REMIRROR_WINDOW_SECS: i64 = 2 * 3600;

#[derive(Deserialize)]
struct EntryRow {
    kind: String,
    id: String,
    revoked_at: i64,
    expires_at: i64,
}

/// Copies recent D1 revocations to KV again (the scheduled task). [`record`] writes D1 first
/// (immediately effective at mcpgate) and KV second; if the KV write fails the caller gets an
/// error, and this repairs the mirror for offline validators within the cron period. Returns
/// how many entries were copied.
pub async fn remirror<S: Database + RevocationList + ?Sized>(
    store: &S,
    now: i64,
) -> Result<usize, StoreError> {
    let rows: Vec<EntryRow> = decode(
        store
            .query(stmt!(
                "SELECT kind, id, revoked_at, expires_at FROM revocations WHERE revoked_at > ?1 AND expires_at > ?2",
                now - REMIRROR_WINDOW_SECS,
                now
            ))
            .await?,
    )?;
    let mut n = 0;
    for r in rows {
        let kind = match r.kind.as_str() {
            "client" => Kind::Client,
            "sub" => Kind::Sub,
            "jti" => Kind::Jti,
            "family" => Kind::Family,
            _ => continue,
        };
        store
            .put(
                &Entry {
                    kind,
                    id: r.id,
                    revoked_at: r.revoked_at,
                    expires_at: r.expires_at,
                },
                now,
            )
            .await?;
        n += 1;
    }
    Ok(n)
}

/// True if any looked-up row revokes a token issued at `iat`.
pub fn revokes(rows: Vec<crate::store::Row>, iat: i64) -> Result<bool, StoreError> {
    let rows: Vec<Row> = decode(rows)?;
    Ok(rows.iter().any(|r| {
        r.kind == "jti" || r.kind == "family" || (iat <= r.revoked_at && !r.id.is_empty())
    }))
}

/// Revocations for an in-memory test store: a map with the KV TTL floor.
#[cfg(any(test, feature = "test-util"))]
pub mod memory {
    use std::cell::RefCell;

    use super::{Entry, RevocationList, KV_MIN_TTL_SECS};
    use crate::store::StoreError;

    /// KV stand-in. Like KV, entries vanish at their expiration, which is never sooner than
    /// [`KV_MIN_TTL_SECS`] after the write.
    #[derive(Debug, Default)]
    pub struct MemoryKv {
        entries: RefCell<Vec<(Entry, i64)>>,
        high: std::cell::Cell<i64>,
    }

    impl RevocationList for MemoryKv {
        async fn put(&self, entry: &Entry, now: i64) -> Result<(), StoreError> {
            let expiry = entry.expires_at.max(now + KV_MIN_TTL_SECS);
            let mut all = self.entries.borrow_mut();
            all.retain(|(e, _)| !(e.kind == entry.kind && e.id == entry.id));
            all.push((entry.clone(), expiry));
            self.high.set(self.high.get().max(entry.revoked_at));
            Ok(())
        }

        async fn list(&self, now: i64) -> Result<Vec<Entry>, StoreError> {
            Ok(self
                .entries
                .borrow()
                .iter()
                .filter(|(_, exp)| *exp > now)
                .map(|(e, _)| e.clone())
                .collect())
        }

        async fn high_water(&self) -> Result<i64, StoreError> {
            Ok(self.high.get())
        }
    }
}
