//! Consent records (grants): what a user approved for a client on a resource server. Visible
//! and revocable by the user (account page) and by admins; revoking one also revokes the
//! refresh-token families issued under it and every token descending from them.

use serde::{Deserialize, Serialize};

use crate::revocation::{self, Entry, Kind};
use crate::stmt;
use crate::store::{decode, families, Stmt, Store, StoreError};

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

/// A consent the user just gave.
pub struct Consent<'a> {
    /// User.
    pub user_id: &'a str,
    /// Client.
    pub client_id: &'a str,
    /// Resource server id.
    pub resource_server_id: &'a str,
    /// The scopes consented to now.
    pub scopes: &'a crate::policy::scopes::Scopes,
    /// Consent recorded before this time does not carry over (the client's redirect URIs
    /// gained an entry since).
    pub stale_before: Option<i64>,
    /// Now.
    pub now: i64,
}

/// Records a consent: the grant becomes the union of what was consented before (unless stale)
/// and now, computed in the write so that concurrent consents both land (step-up).
pub fn consent_stmt(c: &Consent<'_>) -> Stmt {
    stmt!(
        "INSERT INTO grants (user_id, client_id, resource_server_id, scopes, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT (user_id, client_id, resource_server_id) \
         DO UPDATE SET scopes = CASE WHEN grants.updated_at < ?6 THEN excluded.scopes ELSE \
           (SELECT json_group_array(value) FROM (SELECT value FROM json_each(grants.scopes) \
            UNION SELECT value FROM json_each(excluded.scopes) ORDER BY value)) END, \
         updated_at = excluded.updated_at",
        c.user_id,
        c.client_id,
        c.resource_server_id,
        crate::policy::scopes::to_json(c.scopes),
        c.now,
        c.stale_before.unwrap_or(0)
    )
}

/// A user's view of a resource server (by canonical identifier) through a client, in one
/// statement: one row with the user's `status`, the scopes their roles grant there (`grants`)
/// and their `consent` for the client there (`{"scopes", "updated_at"}` or null); no row if
/// the user does not exist. Decoded by [`user_view_from_rows`] with the server's `implies`
/// edges.
pub fn user_view_stmt(user_id: &str, client_id: &str, identifier: &str) -> Stmt {
    stmt!(
        concat!(
            "SELECT u.status, ",
            crate::directory::permissions::held_scopes_json!(user, "rt.id"),
            " AS grants, (SELECT json_object('scopes', g.scopes, 'updated_at', g.updated_at) FROM grants g \
             WHERE g.user_id = ?1 AND g.client_id = ?3 AND g.resource_server_id = rt.id) AS consent \
             FROM users u LEFT JOIN resource_servers rt ON rt.identifier = ?2 WHERE u.id = ?1"
        ),
        user_id,
        identifier,
        client_id
    )
}

/// What a user holds on a resource server and has consented to for a client there.
#[derive(Debug, Clone, Default)]
pub struct UserView {
    /// The scopes the user holds (through their roles and groups); `None` if the user is
    /// disabled or gone.
    pub held: Option<crate::policy::scopes::Scopes>,
    /// The scopes consented to: none if the consent is older than the client's last new
    /// redirect URI (consent was given for where the user was sent, so a new destination needs
    /// it again).
    pub consent: crate::policy::scopes::Scopes,
}

/// The columns of [`user_view_stmt`], also read from the target's row with the user
/// ([`crate::endpoints::target::stmts_with_user`]), where a user who does not exist has a null
/// status instead of no row.
#[derive(Deserialize)]
struct UserViewRow {
    status: Option<crate::directory::Status>,
    grants: String,
    consent: Option<String>,
}

#[derive(Deserialize)]
struct ConsentRow {
    scopes: String,
    updated_at: i64,
}

/// Decodes the rows of [`user_view_stmt`], with the resource server's `implies` edges and the
/// client's `redirect_uris_changed_at`.
pub fn user_view_from_rows(
    rows: Vec<crate::store::Row>,
    implies: &[(String, String)],
    redirect_uris_changed_at: Option<i64>,
) -> Result<UserView, StoreError> {
    use crate::directory::{permissions, Status};
    let Some(row) = crate::store::decode_first::<UserViewRow>(rows)? else {
        return Ok(UserView::default());
    };
    let held = match permissions::from_parts(row.status, &row.grants, implies)? {
        Some((Status::Active, eff)) => Some(permissions::names(&eff)),
        _ => None,
    };
    let consent = match row.consent {
        Some(json) => {
            let c: ConsentRow = serde_json::from_str(&json)
                .map_err(|e| StoreError::Backend(format!("consent decode: {e}")))?;
            if redirect_uris_changed_at.is_some_and(|changed| c.updated_at < changed) {
                Default::default()
            } else {
                crate::policy::scopes::from_json(&c.scopes)
            }
        }
        None => Default::default(),
    };
    Ok(UserView { held, consent })
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
    let [deleted, _, revoked] = crate::store::Results::new(
        db.batch(vec![
            stmt!(
                "DELETE FROM grants WHERE user_id = ?1 AND client_id = ?2 AND resource_server_id = ?3 RETURNING user_id",
                user_id,
                client_id,
                rs_id
            ),
            revocation::grant_families_stmt(user_id, client_id, rs_id, now, expires_at),
            families::revoke_for_grant_stmt(user_id, client_id, rs_id, reason, now),
        ])
        .await?,
    )
    .take()?;
    let existed = !deleted.is_empty();
    let ids = families::ids(revoked)?;
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
