//! Consent records (grants): what a user approved for a client on a resource server. Visible
//! and revocable by the user (account page) and by admins; revoking one also revokes the
//! refresh-token families issued under it and every token descending from them.

use serde::{Deserialize, Serialize};

use crate::revocation::{self, Entry, Kind};
use crate::stmt;
use crate::store::{decode, families, Store, StoreError};

/// A grant as listed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GrantView {
    /// The client.
    pub client_id: String,
    /// Its display name.
    pub client_name: String,
    /// The resource server id.
    pub resource_server_id: String,
    /// Its canonical identifier.
    pub resource: String,
    /// Its name.
    pub resource_name: String,
    /// Consented scopes (JSON text in storage, a list here).
    #[serde(deserialize_with = "crate::directory::json_list")]
    pub scopes: Vec<String>,
    /// First consent.
    pub created_at: i64,
    /// Last change.
    pub updated_at: i64,
}

/// A user's grants.
pub async fn list<S: Store + ?Sized>(db: &S, user_id: &str) -> Result<Vec<GrantView>, StoreError> {
    decode(
        db.query(stmt!(
            "SELECT g.client_id, c.name AS client_name, g.resource_server_id, r.identifier AS resource, \
             r.name AS resource_name, g.scopes, g.created_at, g.updated_at FROM grants g \
             JOIN clients c ON c.id = g.client_id JOIN resource_servers r ON r.id = g.resource_server_id \
             WHERE g.user_id = ?1 ORDER BY c.name, r.identifier",
            user_id
        ))
        .await?,
    )
}

/// Revokes a grant: deletes it and revokes its refresh families — each a `family` revocation
/// entry, so every token descending from them (exchanged ones included) stops working — in one
/// transaction, then mirrors the entries to KV. Returns whether a grant existed and how many
/// families were revoked.
pub async fn revoke<S: Store + ?Sized>(
    db: &S,
    user_id: &str,
    client_id: &str,
    rs_id: &str,
    reason: &str,
    max_token_ttl: i64,
    now: i64,
) -> Result<(bool, usize), StoreError> {
    let expires_at = revocation::entry_expiry(max_token_ttl, now);
    let mut rows = db
        .batch(vec![
            stmt!(
                "DELETE FROM grants WHERE user_id = ?1 AND client_id = ?2 AND resource_server_id = ?3 RETURNING user_id",
                user_id,
                client_id,
                rs_id
            ),
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
            ),
            families::revoke_for_grant_stmt(user_id, client_id, rs_id, reason, now),
        ])
        .await?
        .into_iter();
    let existed = !rows.next().unwrap_or_default().is_empty();
    let ids = families::ids(rows.nth(1).unwrap_or_default())?;
    let entries: Vec<Entry> = ids
        .iter()
        .map(|id| Entry {
            kind: Kind::Family,
            id: id.clone(),
            revoked_at: now,
            expires_at,
        })
        .collect();
    revocation::record(db, &entries, vec![], now).await?;
    Ok((existed, ids.len()))
}
