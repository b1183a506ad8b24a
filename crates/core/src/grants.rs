//! Consent records (grants): what a user approved for a client on a resource server. Visible
//! and revocable by the user (account page) and by admins; revoking one also revokes the
//! refresh-token families issued under it and their latest access tokens.

use serde::{Deserialize, Serialize};

use crate::revocation::{self, Entry, Kind};
use crate::stmt;
use crate::store::{decode, Store, StoreError};

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

#[derive(Deserialize)]
struct LiveAccess {
    access_jti: String,
    access_exp: i64,
}

/// Revokes a grant: deletes it and revokes its refresh families and their latest access
/// tokens. Returns whether a grant existed and how many families were revoked.
pub async fn revoke<S: Store + ?Sized>(
    db: &S,
    user_id: &str,
    client_id: &str,
    rs_id: &str,
    reason: &str,
    now: i64,
) -> Result<(bool, usize), StoreError> {
    let mut rows = db
        .batch(vec![
            stmt!(
                "DELETE FROM grants WHERE user_id = ?1 AND client_id = ?2 AND resource_server_id = ?3 RETURNING user_id",
                user_id,
                client_id,
                rs_id
            ),
            stmt!(
                "UPDATE refresh_families SET revoked_at = ?4, revoked_reason = ?5 \
                 WHERE user_id = ?1 AND client_id = ?2 AND resource_server_id = ?3 AND revoked_at IS NULL \
                 RETURNING access_jti, access_exp",
                user_id,
                client_id,
                rs_id,
                now,
                reason
            ),
        ])
        .await?
        .into_iter();
    let existed = !rows.next().unwrap_or_default().is_empty();
    let families = rows.next().unwrap_or_default();
    let n = families.len();
    let live: Vec<LiveAccess> = decode(
        families
            .into_iter()
            .filter(|r| r.get("access_jti").is_some_and(|v| !v.is_null()))
            .collect(),
    )?;
    let entries: Vec<Entry> = live
        .into_iter()
        .filter(|l| l.access_exp > now)
        .map(|l| Entry {
            kind: Kind::Jti,
            id: l.access_jti,
            revoked_at: now,
            expires_at: l.access_exp,
        })
        .collect();
    revocation::record(db, &entries, vec![], now).await?;
    Ok((existed, n))
}
