//! Signing-key lifecycle: generation on first need, encryption at rest, rotation through a
//! published *next* key, and retirement that keeps a key published until every token it signed
//! has expired.
//!
//! States (at most one `active` and one `next` at any time; the store enforces it):
//! ```text
//!   (generated) -> next -> active -> retired -> (deleted once publish_until has passed)
//! ```
//! A key is published in the JWKS from the moment it becomes `next`, so validators that cache
//! the JWKS already know it when it starts signing (RFC 7517 key rollover practice).
//!
//! At rest the private scalar is sealed with AES-256-GCM under a key-encryption key derived by
//! HKDF-SHA256 from the Worker secret; the key id is bound as associated data so a sealed key
//! cannot be swapped onto another row.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use hkdf::Hkdf;
use rand_core::CryptoRngCore;
use sha2::Sha256;

use crate::crypto::PrivateKey;
use crate::store::{self, Database, StoreError};
use mcpgate_guard::EcPublicJwk;

/// Minimum length of the Worker secret the key-encryption key is derived from (characters).
pub const MIN_SECRET_LEN: usize = 32;

/// Extra time a retired key stays published beyond the longest token lifetime (seconds),
/// covering clock skew and validators' leeway.
pub const RETIRE_GRACE_SECS: i64 = 300;

const SEAL_VERSION: &str = "v1";
const HKDF_SALT: &[u8] = b"mcpgate";
const HKDF_INFO: &[u8] = b"mcpgate/signing-key-encryption/v1";

/// Lifecycle state of a signing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Published, not yet signing.
    Next,
    /// Published and signing.
    Active,
    /// Published until `publish_until`, no longer signing.
    Retired,
}

impl KeyState {
    /// Storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Active => "active",
            KeyState::Retired => "retired",
        }
    }

    /// Parses a storage name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "next" => Some(KeyState::Next),
            "active" => Some(KeyState::Active),
            "retired" => Some(KeyState::Retired),
            _ => None,
        }
    }
}

/// A signing key as stored: public JWK in clear, private scalar sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// RFC 7638 thumbprint.
    pub kid: String,
    /// Lifecycle state.
    pub state: KeyState,
    /// The public JWK (JSON).
    pub public_jwk: String,
    /// `v1.<nonce>.<ciphertext>`, base64url parts.
    pub sealed_private: String,
    /// When the key was generated (unix seconds).
    pub created_at: i64,
    /// When it started signing.
    pub activated_at: Option<i64>,
    /// For retired keys: when it may stop being published (unix seconds).
    pub publish_until: Option<i64>,
}

impl StoredKey {
    /// The public JWK, parsed.
    pub fn public(&self) -> Option<EcPublicJwk> {
        serde_json::from_str(&self.public_jwk).ok()
    }
}

/// Errors of the key lifecycle.
#[derive(Debug)]
pub enum KeyError {
    /// The store failed.
    Store(StoreError),
    /// A sealed key could not be opened (wrong secret or corrupted row).
    Unseal(String),
    /// No key could be generated or found after retrying.
    Unavailable,
}

impl From<StoreError> for KeyError {
    fn from(e: StoreError) -> Self {
        KeyError::Store(e)
    }
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyError::Store(e) => write!(f, "key store: {e}"),
            KeyError::Unseal(kid) => write!(
                f,
                "cannot decrypt signing key {kid}: MCPGATE_SECRET differs from the one it was sealed with"
            ),
            KeyError::Unavailable => f.write_str("no signing key available"),
        }
    }
}

/// The key-encryption key, derived from the Worker secret.
#[derive(Clone)]
pub struct KeyEncryptionKey(Aes256Gcm);

impl KeyEncryptionKey {
    /// Derives the key-encryption key from the Worker secret with HKDF-SHA256.
    pub fn derive(secret: &str) -> Self {
        let hk = Hkdf::<Sha256>::new(Some(HKDF_SALT), secret.as_bytes());
        let mut okm = [0u8; 32];
        // 32 bytes is far below HKDF's 255 * HashLen limit, so expand cannot fail.
        let _ = hk.expand(HKDF_INFO, &mut okm);
        KeyEncryptionKey(Aes256Gcm::new(&okm.into()))
    }

    /// Seals a private scalar, binding the kid as associated data.
    pub fn seal(&self, key: &PrivateKey, rng: &mut dyn CryptoRngCore) -> String {
        let mut nonce = [0u8; 12];
        rng.fill_bytes(&mut nonce);
        let ct = self
            .0
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: key.scalar(),
                    aad: key.kid.as_bytes(),
                },
            )
            .unwrap_or_default();
        format!("{SEAL_VERSION}.{}.{}", B64.encode(nonce), B64.encode(ct))
    }

    /// Opens a sealed scalar and checks it matches the stored kid.
    pub fn open(&self, stored: &StoredKey) -> Result<PrivateKey, KeyError> {
        let fail = || KeyError::Unseal(stored.kid.clone());
        let mut parts = stored.sealed_private.split('.');
        let (Some(SEAL_VERSION), Some(nonce), Some(ct), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(fail());
        };
        let nonce: [u8; 12] = B64
            .decode(nonce)
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or_else(fail)?;
        let ct = B64.decode(ct).map_err(|_| fail())?;
        let pt = self
            .0
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &ct,
                    aad: stored.kid.as_bytes(),
                },
            )
            .map_err(|_| fail())?;
        let scalar: [u8; 32] = pt.try_into().map_err(|_| fail())?;
        let key = PrivateKey::from_scalar(scalar).ok_or_else(fail)?;
        if key.kid != stored.kid {
            return Err(fail());
        }
        Ok(key)
    }
}

/// Generates a new P-256 private key.
pub fn generate(rng: &mut dyn CryptoRngCore) -> PrivateKey {
    loop {
        let mut scalar = [0u8; 32];
        rng.fill_bytes(&mut scalar);
        // Fails only for zero or scalars >= n (probability ~2^-32 per draw); draw again.
        if let Some(key) = PrivateKey::from_scalar(scalar) {
            return key;
        }
    }
}

fn new_stored(
    kek: &KeyEncryptionKey,
    rng: &mut dyn CryptoRngCore,
    state: KeyState,
    now: i64,
) -> StoredKey {
    let key = generate(rng);
    StoredKey {
        kid: key.kid.clone(),
        state,
        public_jwk: serde_json::to_string(&key.public).unwrap_or_default(),
        sealed_private: kek.seal(&key, rng),
        created_at: now,
        activated_at: (state == KeyState::Active).then_some(now),
        publish_until: None,
    }
}

/// The keys as loaded from the store.
#[derive(Debug, Clone, Default)]
pub struct KeyRing {
    /// The signing key.
    pub active: Option<StoredKey>,
    /// The key that signs after the next rotation.
    pub next: Option<StoredKey>,
    /// Keys that no longer sign but may still be published.
    pub retired: Vec<StoredKey>,
}

impl KeyRing {
    /// Sorts stored keys by state.
    pub fn from_keys(keys: Vec<StoredKey>) -> Self {
        let mut ring = KeyRing::default();
        for k in keys {
            match k.state {
                KeyState::Active => ring.active = Some(k),
                KeyState::Next => ring.next = Some(k),
                KeyState::Retired => ring.retired.push(k),
            }
        }
        ring
    }

    /// The public keys to publish at `now`: active, next, and retired keys still within their
    /// publication window.
    pub fn published(&self, now: i64) -> Vec<EcPublicJwk> {
        let retired = self
            .retired
            .iter()
            .filter(|k| k.publish_until.is_some_and(|t| t > now));
        self.active
            .iter()
            .chain(self.next.iter())
            .chain(retired)
            .filter_map(StoredKey::public)
            .collect()
    }
}

/// Loads the key ring, generating the first active and next keys if there are none. Safe under
/// concurrency: if another isolate creates them first, its keys are used.
pub async fn ensure<S: Database + ?Sized>(
    store: &S,
    kek: &KeyEncryptionKey,
    rng: &mut dyn CryptoRngCore,
    now: i64,
) -> Result<KeyRing, KeyError> {
    for _ in 0..3 {
        let ring = KeyRing::from_keys(store::keys::list(store).await?);
        if ring.active.is_some() && ring.next.is_some() {
            return Ok(ring);
        }
        if ring.active.is_none() {
            let active = new_stored(kek, rng, KeyState::Active, now);
            let next = new_stored(kek, rng, KeyState::Next, now);
            match store::keys::insert_initial(store, &active, &next).await {
                Ok(()) | Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        // Active without next (e.g. a next key deleted by hand): add one.
        let next = new_stored(kek, rng, KeyState::Next, now);
        match store::keys::insert_next(store, &next).await {
            Ok(()) | Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(KeyError::Unavailable)
}

/// The active private key, decrypted.
pub async fn active_key<S: Database + ?Sized>(
    store: &S,
    kek: &KeyEncryptionKey,
    rng: &mut dyn CryptoRngCore,
    now: i64,
) -> Result<PrivateKey, KeyError> {
    let ring = ensure(store, kek, rng, now).await?;
    let active = ring.active.ok_or(KeyError::Unavailable)?;
    kek.open(&active)
}

/// Outcome of a rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// The key that now signs.
    pub active_kid: String,
    /// The newly generated next key.
    pub next_kid: String,
    /// The key that stopped signing.
    pub retired_kid: String,
    /// Until when the retired key stays published.
    pub retired_until: i64,
}

/// Rotates: next becomes active, active becomes retired (published for `max_token_ttl` +
/// [`RETIRE_GRACE_SECS`]), and a new next key is generated. Atomic in the store; if another
/// rotation wins a race, this one reports the conflict and changes nothing.
pub async fn rotate<S: Database + ?Sized>(
    store: &S,
    kek: &KeyEncryptionKey,
    rng: &mut dyn CryptoRngCore,
    now: i64,
    max_token_ttl: i64,
) -> Result<Rotation, KeyError> {
    let ring = ensure(store, kek, rng, now).await?;
    let (Some(active), Some(next)) = (ring.active, ring.next) else {
        return Err(KeyError::Unavailable);
    };
    let new_next = new_stored(kek, rng, KeyState::Next, now);
    let retired_until = now + max_token_ttl + RETIRE_GRACE_SECS;
    let rotation = Rotation {
        active_kid: next.kid.clone(),
        next_kid: new_next.kid.clone(),
        retired_kid: active.kid.clone(),
        retired_until,
    };
    store::keys::rotate(store, &active.kid, &next.kid, now, retired_until, &new_next).await?;
    Ok(rotation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{block_on, TestRng};

    #[test]
    fn sealed_key_opens_only_with_the_same_secret_and_kid() {
        let mut rng = TestRng::new(1);
        let kek = KeyEncryptionKey::derive("a-secret-of-at-least-thirty-two-chars");
        let stored = new_stored(&kek, &mut rng, KeyState::Active, 0);
        let opened = kek.open(&stored).unwrap();
        assert_eq!(opened.kid, stored.kid);

        let other = KeyEncryptionKey::derive("another-secret-of-at-least-thirty-two");
        assert!(matches!(other.open(&stored), Err(KeyError::Unseal(_))));

        let mut swapped = stored.clone();
        swapped.kid = "someone-else".into();
        assert!(kek.open(&swapped).is_err());

        let mut corrupt = stored;
        corrupt.sealed_private.push('A');
        assert!(kek.open(&corrupt).is_err());
    }

    #[test]
    fn sealed_form_does_not_contain_the_scalar() {
        let mut rng = TestRng::new(2);
        let kek = KeyEncryptionKey::derive("a-secret-of-at-least-thirty-two-chars");
        let key = generate(&mut rng);
        let sealed = kek.seal(&key, &mut rng);
        assert!(!sealed.contains(&B64.encode(key.scalar())));
    }

    #[test]
    fn ensure_is_idempotent() {
        let store = crate::store::sqlite::SqliteDb::new();
        let mut rng = TestRng::new(3);
        let kek = KeyEncryptionKey::derive("a-secret-of-at-least-thirty-two-chars");
        let a = block_on(ensure(&store, &kek, &mut rng, 100)).unwrap();
        let b = block_on(ensure(&store, &kek, &mut rng, 200)).unwrap();
        assert_eq!(a.active.unwrap().kid, b.active.unwrap().kid);
        assert_eq!(a.next.unwrap().kid, b.next.unwrap().kid);
    }
}
