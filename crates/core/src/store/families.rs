//! Refresh-token families and their tokens (tables `refresh_families`, `refresh_tokens`,
//! migrations/0003).
//!
//! A family is one authorization: created when a code is redeemed, rotated by every refresh,
//! revoked as a whole. Its id is the `fam` claim of every access token descending from it, so a
//! `family` revocation entry cuts them all (tokens obtained by exchange included).
//!
//! Atomicity contracts:
//! - [`create_from_code_stmts`] inserts the family only if no `family` revocation names it yet
//!   (a code replay that raced the first redemption revoked it first); its first result is
//!   empty when it was refused, and the refresh-token insert then inserts nothing either.
//! - [`rotate_stmts`] moves the family to the next generation only if it is still at the
//!   presented generation and unrevoked at write time; the first result is empty otherwise, and
//!   the new refresh token is inserted only when the move happened (a concurrent rotation of
//!   the same generation makes the batch fail with `Conflict` on `UNIQUE (family_id, generation)`).
//! - [`revoke_stmt`] revokes an unrevoked family and returns its latest access token.

use serde::Deserialize;

use super::{decode_first, Database, Row, Stmt, StoreError};
use crate::secret::sha256_b64;
use crate::stmt;

/// A family, as found from one of its refresh tokens.
#[derive(Debug, Clone, Deserialize)]
pub struct FamilyRow {
    /// Family id (the `fam` claim).
    pub id: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The user.
    pub user_id: String,
    /// The resource server's identifier.
    pub resource: String,
    /// Most a refresh may ask for (JSON array).
    pub scopes: String,
    /// Current generation.
    pub generation: i64,
    /// The generation of the presented token (older than `generation`: rotated, reused).
    pub token_generation: i64,
    /// Latest access token issued from it.
    pub access_jti: Option<String>,
    /// Its expiry.
    pub access_exp: Option<i64>,
    /// Absolute end of the family.
    pub expires_at: i64,
    /// When revoked.
    pub revoked_at: Option<i64>,
    /// Created.
    pub created_at: i64,
    /// The user's status (`active`/`disabled`).
    pub user_status: String,
}

impl FamilyRow {
    /// Not revoked, not rotated past the presented token, not expired.
    pub fn usable(&self, now: i64) -> bool {
        self.revoked_at.is_none()
            && self.token_generation == self.generation
            && self.expires_at > now
    }

    /// The latest access token, if any.
    pub fn latest_access(&self) -> Option<(String, i64)> {
        self.access_jti.clone().zip(self.access_exp)
    }
}

/// The family of the refresh token with this digest, as a [`FamilyRow`].
pub fn by_digest_stmt(digest: &str) -> Stmt {
    stmt!(
        "SELECT f.*, t.generation AS token_generation, r.identifier AS resource, u.status AS user_status \
         FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id \
         JOIN resource_servers r ON r.id = f.resource_server_id JOIN users u ON u.id = f.user_id \
         WHERE t.token_hash = ?1",
        digest
    )
}

/// The family a presented refresh token belongs to (by the token's digest).
pub async fn by_token<D: Database + ?Sized>(
    db: &D,
    token: &str,
) -> Result<Option<FamilyRow>, StoreError> {
    decode_first(
        db.query(by_digest_stmt(&sha256_b64(token.as_bytes())))
            .await?,
    )
}

/// A redemption creating its family in the same transaction as the code's claim.
pub struct FromCode<'a> {
    /// The family id the claim recorded on the code.
    pub id: &'a str,
    /// Digest of the code.
    pub code_digest: &'a str,
    /// The client the request authenticated as.
    pub client_id: &'a str,
    /// The presented redirect URI.
    pub redirect_uri: &'a str,
    /// `BASE64URL(SHA256(code_verifier))`: equal to the code's challenge when PKCE holds.
    pub pkce_challenge: &'a str,
    /// The `resource` parameter, if sent.
    pub resource: Option<&'a str>,
    /// The first access token's `jti`.
    pub access_jti: &'a str,
    /// Digest of the first refresh token (inserted only if the client may refresh).
    pub refresh_digest: &'a str,
    /// Absolute end of the family.
    pub expires_at: i64,
    /// Now (the claim's `redeemed_at`).
    pub now: i64,
}

/// Creates the family of a code this request claimed, only if the code matches the request
/// (client, redirect URI, PKCE challenge, resource), the user is active, and no `family`
/// revocation names it yet (a code replay that raced this redemption revoked it first). Result
/// 0 is `[{"id", "generation", "access_exp"}]` when created, empty when refused; result 1 is
/// the first refresh token, inserted only when the family was and the client may refresh.
pub fn create_from_code_stmts(f: &FromCode<'_>) -> [Stmt; 2] {
    [
        stmt!(
            "INSERT INTO refresh_families (id, client_id, user_id, resource_server_id, scopes, generation, access_jti, \
             access_exp, created_at, last_used_at, expires_at) \
             SELECT ?1, c.client_id, c.user_id, c.resource_server_id, c.scopes, 1, ?2, \
             ?3 + (SELECT access_token_ttl FROM resource_servers rs WHERE rs.id = c.resource_server_id), ?3, ?3, ?4 \
             FROM auth_codes c WHERE c.code_hash = ?5 AND c.family_id = ?1 AND c.redeemed_at = ?3 \
             AND c.client_id = ?6 AND c.redirect_uri = ?7 AND c.code_challenge = ?8 AND (?9 IS NULL OR c.resource = ?9) \
             AND EXISTS (SELECT 1 FROM users u WHERE u.id = c.user_id AND u.status = 'active') \
             AND NOT EXISTS (SELECT 1 FROM revocations WHERE kind = 'family' AND id = ?1) \
             RETURNING id, generation, access_exp",
            f.id,
            f.access_jti,
            f.now,
            f.expires_at,
            f.code_digest,
            f.client_id,
            f.redirect_uri,
            f.pkce_challenge,
            f.resource
        ),
        stmt!(
            "INSERT INTO refresh_tokens (token_hash, family_id, generation, created_at) \
             SELECT ?1, f.id, 1, ?3 FROM refresh_families f WHERE f.id = ?2 AND f.access_jti = ?4 \
             AND EXISTS (SELECT 1 FROM clients c, json_each(c.grant_types) g \
               WHERE c.id = f.client_id AND g.value = 'refresh_token')",
            f.refresh_digest,
            f.id,
            f.now,
            f.access_jti
        ),
    ]
}

/// Deletes a family created by a redemption that a later check refused, before it issued
/// anything (its refresh token cascades).
pub fn forget_unissued_stmt(id: &str, access_jti: &str) -> Stmt {
    stmt!(
        "DELETE FROM refresh_families WHERE id = ?1 AND generation = 1 AND access_jti = ?2",
        id,
        access_jti
    )
}

/// A rotation to the next generation.
pub struct Rotation<'a> {
    /// Family id.
    pub id: &'a str,
    /// The presented (current) generation.
    pub generation: i64,
    /// The new access token.
    pub access_jti: &'a str,
    /// Its expiry.
    pub access_exp: i64,
    /// Digest of the new refresh token.
    pub refresh_digest: String,
    /// Now.
    pub now: i64,
}

/// Rotates a family, conditionally (see the module documentation). Result 0 is `[{"id"}]` when
/// rotated, empty when the family was revoked or rotated meanwhile.
pub fn rotate_stmts(r: &Rotation<'_>) -> Vec<Stmt> {
    let next = r.generation + 1;
    vec![
        stmt!(
            "UPDATE refresh_families SET generation = ?3, access_jti = ?4, access_exp = ?5, last_used_at = ?6 \
             WHERE id = ?1 AND generation = ?2 AND revoked_at IS NULL RETURNING id",
            r.id,
            r.generation,
            next,
            r.access_jti,
            r.access_exp,
            r.now
        ),
        stmt!(
            "INSERT INTO refresh_tokens (token_hash, family_id, generation, created_at) \
             SELECT ?1, ?2, ?3, ?4 WHERE EXISTS \
             (SELECT 1 FROM refresh_families WHERE id = ?2 AND generation = ?3 AND revoked_at IS NULL \
              AND access_jti = ?5)",
            &r.refresh_digest,
            r.id,
            next,
            r.now,
            r.access_jti
        ),
    ]
}

/// A refresh in the same transaction as every read it needs: the rotation is written only if
/// everything the database can check holds at write time, so a request that fails those checks
/// writes nothing.
pub struct PresentedRotation<'a> {
    /// Digest of the presented refresh token.
    pub presented_digest: &'a str,
    /// The client the request authenticated as.
    pub client_id: &'a str,
    /// Digest of the presented client secret (`None`: a public client presented none).
    pub secret_digest: Option<&'a str>,
    /// The authentication method used (checked against a client registered for one).
    pub auth_method: &'a str,
    /// Requested scopes as a JSON array (`[]`: none requested); must be inside the family's.
    pub requested_scopes: &'a str,
    /// The new access token's `jti`.
    pub access_jti: &'a str,
    /// Digest of the new refresh token.
    pub refresh_digest: &'a str,
    /// Now.
    pub now: i64,
}

/// Rotates the family of a presented refresh token to its next generation, in one statement
/// that also checks: the token is its family's current one, the family is unrevoked and
/// unexpired and belongs to the client, the user is active, the client is active, may refresh
/// and presented its credential (`secret_hash` equality here gates only the write; the
/// authentication decision is the constant-time check of the loaded row), and the requested
/// scopes are inside the family's. Result 0 is `[{"id", "generation", "access_exp"}]` when it
/// rotated, empty otherwise; result 1 inserts the new refresh token only if it did.
pub fn rotate_presented_stmts(r: &PresentedRotation<'_>) -> [Stmt; 2] {
    [
        stmt!(
            "UPDATE refresh_families SET generation = generation + 1, access_jti = ?2, last_used_at = ?3, \
             access_exp = ?3 + (SELECT access_token_ttl FROM resource_servers rs WHERE rs.id = refresh_families.resource_server_id) \
             WHERE id = (SELECT family_id FROM refresh_tokens WHERE token_hash = ?1) \
             AND generation = (SELECT generation FROM refresh_tokens WHERE token_hash = ?1) \
             AND revoked_at IS NULL AND expires_at > ?3 AND client_id = ?4 \
             AND EXISTS (SELECT 1 FROM users u WHERE u.id = refresh_families.user_id AND u.status = 'active') \
             AND EXISTS (SELECT 1 FROM clients c WHERE c.id = ?4 AND c.status = 'active' \
               AND (CASE WHEN ?5 IS NULL THEN c.token_endpoint_auth_method = 'none' ELSE c.secret_hash = ?5 END) \
               AND (c.auth_method_strict = 0 OR c.token_endpoint_auth_method = ?7) \
               AND EXISTS (SELECT 1 FROM json_each(c.grant_types) g WHERE g.value = 'refresh_token')) \
             AND NOT EXISTS (SELECT 1 FROM json_each(?6) q \
               WHERE q.value NOT IN (SELECT s.value FROM json_each(refresh_families.scopes) s)) \
             RETURNING id, generation, access_exp",
            r.presented_digest,
            r.access_jti,
            r.now,
            r.client_id,
            r.secret_digest,
            r.requested_scopes,
            r.auth_method
        ),
        stmt!(
            "INSERT INTO refresh_tokens (token_hash, family_id, generation, created_at) \
             SELECT ?1, f.id, f.generation, ?3 FROM refresh_families f \
             WHERE f.id = (SELECT family_id FROM refresh_tokens WHERE token_hash = ?2) AND f.access_jti = ?4",
            r.refresh_digest,
            r.presented_digest,
            r.now,
            r.access_jti
        ),
    ]
}

/// What [`rotate_presented_stmts`] returns when it rotated (and [`create_from_code_stmts`]
/// when it created).
#[derive(Debug, Deserialize)]
pub struct Rotated {
    /// Family id.
    pub id: String,
    /// The new generation.
    pub generation: i64,
    /// The new access token's expiry.
    pub access_exp: i64,
}

/// Undoes a rotation that a check after the write refused (the new refresh token never left
/// the server): the family goes back to the presented generation and its previous access
/// token, if it is still where that rotation left it.
pub fn unrotate_stmts(
    rotated: &Rotated,
    access_jti: &str,
    refresh_digest: &str,
    previous: Option<(String, i64)>,
) -> [Stmt; 2] {
    let (jti, exp) = previous.unzip();
    [
        stmt!(
            "DELETE FROM refresh_tokens WHERE token_hash = ?1",
            refresh_digest
        ),
        stmt!(
            "UPDATE refresh_families SET generation = ?2 - 1, access_jti = ?4, access_exp = ?5 \
             WHERE id = ?1 AND generation = ?2 AND access_jti = ?3",
            &rotated.id,
            rotated.generation,
            access_jti,
            jti,
            exp
        ),
    ]
}

/// True if [`rotate_stmts`]' first result says the rotation happened.
pub fn rotated(first: &[Row]) -> bool {
    !first.is_empty()
}

/// Revokes one family if unrevoked; returns `[{"access_jti", "access_exp"}]` when it did.
pub fn revoke_stmt(family_id: &str, reason: &str, now: i64) -> Stmt {
    stmt!(
        "UPDATE refresh_families SET revoked_at = ?2, revoked_reason = ?3 WHERE id = ?1 AND revoked_at IS NULL \
         RETURNING access_jti, access_exp",
        family_id,
        now,
        reason
    )
}

/// Revokes every unrevoked family of a (user, client, resource server) grant; returns their
/// ids.
pub fn revoke_for_grant_stmt(
    user_id: &str,
    client_id: &str,
    rs_id: &str,
    reason: &str,
    now: i64,
) -> Stmt {
    stmt!(
        "UPDATE refresh_families SET revoked_at = ?4, revoked_reason = ?5 \
         WHERE user_id = ?1 AND client_id = ?2 AND resource_server_id = ?3 AND revoked_at IS NULL \
         RETURNING id",
        user_id,
        client_id,
        rs_id,
        now,
        reason
    )
}

/// Revokes every unrevoked family issued to a client.
pub fn revoke_for_client_stmt(client_id: &str, reason: &str, now: i64) -> Stmt {
    stmt!(
        "UPDATE refresh_families SET revoked_at = ?2, revoked_reason = ?3 WHERE client_id = ?1 AND revoked_at IS NULL",
        client_id,
        now,
        reason
    )
}

/// Revokes every unrevoked family of a user.
pub fn revoke_for_user_stmt(user_id: &str, reason: &str, now: i64) -> Stmt {
    stmt!(
        "UPDATE refresh_families SET revoked_at = ?2, revoked_reason = ?3 WHERE user_id = ?1 AND revoked_at IS NULL",
        user_id,
        now,
        reason
    )
}

#[derive(Deserialize)]
struct IdRow {
    id: String,
}

/// The family ids in a `RETURNING id` result.
pub fn ids(rows: Vec<Row>) -> Result<Vec<String>, StoreError> {
    Ok(super::decode::<IdRow>(rows)?
        .into_iter()
        .map(|r| r.id)
        .collect())
}

/// Removes families that ended (absolute lifetime) before `now`, then families revoked before
/// `revoked_before` (the cron), at most `limit` each; their refresh tokens cascade. One row per
/// family removed, in each result.
pub fn prune_stmts(now: i64, revoked_before: i64, limit: i64) -> [Stmt; 2] {
    [
        stmt!(
            "DELETE FROM refresh_families WHERE rowid IN \
             (SELECT rowid FROM refresh_families WHERE expires_at < ?1 LIMIT ?2) RETURNING 1 AS n",
            now,
            limit
        ),
        stmt!(
            "DELETE FROM refresh_families WHERE rowid IN \
             (SELECT rowid FROM refresh_families WHERE revoked_at < ?1 LIMIT ?2) RETURNING 1 AS n",
            revoked_before,
            limit
        ),
    ]
}
