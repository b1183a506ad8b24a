//! Authorization codes (table `auth_codes`, migrations/0003). Stored as SHA-256 digests.
//!
//! A code is sealed ([`CodeKey`]): the authorization it stands for (client, user, resource,
//! redirect URI, scopes, PKCE challenge, expiry) travels inside it, encrypted and authenticated
//! with AES-256-GCM under a key derived from the Worker secret, so `/authorize` writes nothing
//! and the redemption needs no earlier write to have reached the database it reads (a code
//! issued at one edge location is redeemed at another). The redemption writes the code's row
//! ([`materialize_stmt`]) in the batch that claims it: single use is the row's primary key.
//!
//! Atomicity contract: [`claim_stmt`] redeems a code in one statement — it sets `redeemed_at` and
//! records the id of the family the redemption will create, only if the code is unredeemed and
//! unexpired and presented by its client, and returns the row; a concurrent or later redemption
//! claims nothing and finds (with [`get`]) the family id to revoke.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use hkdf::Hkdf;
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::{decode_first, Database, Stmt, StoreError};
use crate::secret::{sha256_b64, Secret};
use crate::stmt;

/// Prefix of a sealed code (its format version).
const SEALED_PREFIX: &str = "mc1.";
/// Associated data binding a sealed code to its purpose.
const SEALED_AAD: &[u8] = b"mcpgate/authorization-code/v1";

/// The authorization a sealed code stands for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// client_id
    pub c: String,
    /// user id
    pub u: String,
    /// resource identifier
    pub a: String,
    /// redirect URI
    pub r: String,
    /// requested scopes, as a JSON array (the family's bound)
    pub s: String,
    /// PKCE S256 challenge
    pub cc: String,
    /// the handle of the browser session that authorized (the code dies with the session)
    pub sh: String,
    /// issued at
    pub iat: i64,
    /// expires at
    pub exp: i64,
}

/// The key that seals and opens codes: AES-256-GCM under a key derived with HKDF-SHA256 from the
/// Worker secret and a random 128-bit salt carried in each code, so no two codes share a
/// (key, nonce) pair however many are issued under one secret.
pub struct CodeKey(Hkdf<Sha256>);

const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 12;

impl CodeKey {
    /// Prepares the derivation from the Worker secret.
    pub fn derive(secret: &str) -> Self {
        CodeKey(Hkdf::<Sha256>::new(Some(b"mcpgate"), secret.as_bytes()))
    }

    fn cipher(&self, purpose: &[u8], salt: &[u8]) -> Aes256Gcm {
        let mut okm = [0u8; 32];
        // 32 bytes is far below HKDF's output limit, so expand cannot fail.
        let _ = self.0.expand_multi_info(&[purpose, salt], &mut okm);
        Aes256Gcm::new(&okm.into())
    }

    /// Seals `plaintext` for `purpose` (the HKDF info and the AEAD's associated data, so a
    /// value sealed for one purpose never opens as another): `salt || nonce || ciphertext`.
    pub fn seal_raw(
        &self,
        purpose: &[u8],
        plaintext: &[u8],
        rng: &mut dyn CryptoRngCore,
    ) -> Vec<u8> {
        let mut head = [0u8; SALT_LEN + NONCE_LEN];
        rng.fill_bytes(&mut head);
        let (salt, nonce) = head.split_at(SALT_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().unwrap_or_default();
        let ct = self
            .cipher(purpose, salt)
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: purpose,
                },
            )
            .unwrap_or_default();
        let mut raw = head.to_vec();
        raw.extend_from_slice(&ct);
        raw
    }

    /// Opens what [`CodeKey::seal_raw`] sealed for the same purpose.
    pub fn open_raw(&self, purpose: &[u8], raw: &[u8]) -> Option<Vec<u8>> {
        if raw.len() < SALT_LEN + NONCE_LEN + 16 {
            return None;
        }
        let (salt, rest) = raw.split_at(SALT_LEN);
        let (nonce, ct) = rest.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
        self.cipher(purpose, salt)
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ct,
                    aad: purpose,
                },
            )
            .ok()
    }

    /// [`CodeKey::seal_raw`] as base64url text.
    pub fn seal_text(
        &self,
        purpose: &[u8],
        plaintext: &[u8],
        rng: &mut dyn CryptoRngCore,
    ) -> String {
        B64.encode(self.seal_raw(purpose, plaintext, rng))
    }

    /// Opens what [`CodeKey::seal_text`] sealed for the same purpose.
    pub fn open_text(&self, purpose: &[u8], sealed: &str) -> Option<Vec<u8>> {
        self.open_raw(purpose, &B64.decode(sealed).ok()?)
    }

    /// A code for `grant`, with a fresh random salt and nonce.
    pub fn seal(&self, grant: &Sealed, rng: &mut dyn CryptoRngCore) -> Secret {
        let json = serde_json::to_vec(grant).unwrap_or_default();
        let raw = self.seal_raw(SEALED_AAD, &json, rng);
        Secret::new(format!("{SEALED_PREFIX}{}", B64.encode(raw)))
    }

    /// Opens a sealed code: its digest (the row key, over the decoded bytes so that no other
    /// spelling of the same code has another digest) and what it stands for. `None` if it is
    /// not a code this secret sealed, whatever its expiry.
    pub fn open(&self, code: &str) -> Option<(String, Sealed)> {
        let raw = B64.decode(code.strip_prefix(SEALED_PREFIX)?).ok()?;
        let json = self.open_raw(SEALED_AAD, &raw)?;
        let grant = serde_json::from_slice(&json).ok()?;
        Some((sha256_b64(&raw), grant))
    }
}

/// Writes the row of a sealed code being redeemed, unredeemed, unless it exists (a code is
/// claimed once: [`claim_stmt`] then claims the row). Nothing is written for a client, user
/// or resource server that no longer exists, nor once the browser session that authorized has
/// ended (logout, password change, sign-out everywhere: checked here, at the primary, since
/// `/authorize` may have read a replica that had not seen the end): the claim then finds no
/// code.
pub fn materialize_stmt(digest: &str, g: &Sealed, now: i64) -> Stmt {
    stmt!(
        "INSERT INTO auth_codes (code_hash, client_id, user_id, resource_server_id, resource, redirect_uri, scopes, \
         code_challenge, created_at, expires_at) \
         SELECT ?1, ?2, ?3, rs.id, ?4, ?5, ?6, ?7, ?8, ?9 FROM resource_servers rs \
         WHERE rs.identifier = ?4 AND EXISTS (SELECT 1 FROM clients WHERE id = ?2) \
         AND EXISTS (SELECT 1 FROM users WHERE id = ?3) \
         AND EXISTS (SELECT 1 FROM sessions WHERE id_hash = ?10 AND user_id = ?3 AND expires_at > ?11) \
         ON CONFLICT (code_hash) DO NOTHING",
        digest,
        &g.c,
        &g.u,
        &g.a,
        &g.r,
        &g.s,
        &g.cc,
        g.iat,
        g.exp,
        &g.sh,
        now
    )
}

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
