//! Authorization codes (table `auth_codes`, migrations/0003). Stored as SHA-256 digests.
//!
//! Atomicity contract: [`claim_stmt`] redeems a code in one statement — it sets `redeemed_at` and
//! records the id of the family the redemption will create, only if the code is unredeemed and
//! unexpired and presented by its client, and returns the row; a concurrent or later redemption
//! claims nothing and finds (with [`get`]) the family id to revoke.

use serde::Deserialize;

use super::{decode_first, Database, Stmt, StoreError};
use crate::stmt;

/// A code as stored.
#[derive(Debug, Clone, Deserialize)]
pub struct CodeRow {
    /// The client it was issued to.
    pub client_id: String,
    /// The user who authorized.
    pub user_id: String,
    /// The resource server's identifier.
    pub resource: String,
    /// The redirect URI of the request.
    pub redirect_uri: String,
    /// Requested scopes (JSON array): the family's bound.
    pub scopes: String,
    /// PKCE S256 challenge.
    pub code_challenge: String,
    /// Expiry.
    pub expires_at: i64,
    /// When redeemed.
    pub redeemed_at: Option<i64>,
    /// The family its redemption created (or will create).
    pub family_id: Option<String>,
}

/// What a new code records.
pub struct NewCode<'a> {
    /// SHA-256 digest of the code.
    pub digest: String,
    /// Client.
    pub client_id: &'a str,
    /// User.
    pub user_id: &'a str,
    /// Resource server id.
    pub resource_server_id: &'a str,
    /// Resource identifier.
    pub resource: &'a str,
    /// Redirect URI.
    pub redirect_uri: &'a str,
    /// JSON array of the requested scopes.
    pub scopes: String,
    /// PKCE challenge.
    pub code_challenge: &'a str,
    /// Now.
    pub now: i64,
    /// Expiry.
    pub expires_at: i64,
}

/// Inserts a code.
pub fn insert_stmt(c: &NewCode<'_>) -> Stmt {
    stmt!(
        "INSERT INTO auth_codes (code_hash, client_id, user_id, resource_server_id, resource, redirect_uri, scopes, \
         code_challenge, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        &c.digest,
        c.client_id,
        c.user_id,
        c.resource_server_id,
        c.resource,
        c.redirect_uri,
        &c.scopes,
        c.code_challenge,
        c.now,
        c.expires_at
    )
}

/// A redemption's claim on a code.
pub struct Claim<'a> {
    /// Digest of the presented code.
    pub digest: &'a str,
    /// The family the redemption will create.
    pub family_id: &'a str,
    /// The client the request authenticated as.
    pub client_id: &'a str,
    /// Digest of the presented client secret (`None`: a public client presented none).
    pub secret_digest: Option<&'a str>,
    /// The authentication method used (checked against a client registered for one).
    pub auth_method: &'a str,
    /// The presented redirect URI.
    pub redirect_uri: &'a str,
    /// `BASE64URL(SHA256(code_verifier))`: equal to the code's challenge when PKCE holds.
    pub pkce_challenge: &'a str,
    /// Now.
    pub now: i64,
}

/// Claims an unredeemed, unexpired code for a redemption that will create family
/// `family_id` — only by the client it was issued to, active, allowed the grant, presenting
/// its credential the way it registered (`secret_hash` equality gates the write; the
/// authentication decision is the constant-time check of the loaded row), with the code's
/// redirect URI and a verifier answering its PKCE challenge. So a request without the client's
/// credential or the verifier (an intercepted code) does not spend the code. Returns the
/// claimed row, or nothing.
pub fn claim_stmt(c: &Claim<'_>) -> Stmt {
    stmt!(
        "UPDATE auth_codes SET redeemed_at = ?2, family_id = ?3 \
         WHERE code_hash = ?1 AND redeemed_at IS NULL AND expires_at > ?2 AND client_id = ?4 \
         AND redirect_uri = ?7 AND code_challenge = ?8 \
         AND EXISTS (SELECT 1 FROM clients c WHERE c.id = ?4 AND c.status = 'active' \
           AND (CASE WHEN ?5 IS NULL THEN c.token_endpoint_auth_method = 'none' ELSE c.secret_hash = ?5 END) \
           AND (c.auth_method_strict = 0 OR c.token_endpoint_auth_method = ?6) \
           AND EXISTS (SELECT 1 FROM json_each(c.grant_types) g WHERE g.value = 'authorization_code')) \
         RETURNING *",
        c.digest,
        c.now,
        c.family_id,
        c.client_id,
        c.secret_digest,
        c.auth_method,
        c.redirect_uri,
        c.pkce_challenge
    )
}

/// A code by digest, whatever its state.
pub async fn get<D: Database + ?Sized>(
    db: &D,
    digest: &str,
) -> Result<Option<CodeRow>, StoreError> {
    decode_first(
        db.query(stmt!(
            "SELECT * FROM auth_codes WHERE code_hash = ?1",
            digest
        ))
        .await?,
    )
}

/// Records the first access token of the redemption that created `family_id` (if it did).
pub fn record_access_stmt(digest: &str, family_id: &str, jti: &str) -> Stmt {
    stmt!(
        "UPDATE auth_codes SET access_jti = ?3, \
         access_exp = (SELECT access_exp FROM refresh_families WHERE id = ?2 AND access_jti = ?3) \
         WHERE code_hash = ?1 AND family_id = ?2 \
         AND EXISTS (SELECT 1 FROM refresh_families WHERE id = ?2 AND access_jti = ?3)",
        digest,
        family_id,
        jti
    )
}

/// Removes codes that expired before `before` (the cron), at most `limit`; one row per code
/// removed.
pub fn prune_stmt(before: i64, limit: i64) -> Stmt {
    stmt!(
        "DELETE FROM auth_codes WHERE rowid IN (SELECT rowid FROM auth_codes WHERE expires_at < ?1 LIMIT ?2) RETURNING 1 AS n",
        before,
        limit
    )
}
