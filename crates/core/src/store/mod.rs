//! Store traits, split by aggregate. Each method documents its atomicity contract; the D1
//! implementation (Worker glue) and the in-memory one ([`memory`]) both honour it, including
//! the uniqueness constraints the migrations declare.
//!
//! Futures are not `Send`: Workers' are not, and nothing here needs them to be.

use crate::keys::StoredKey;

#[cfg(any(test, feature = "test-util"))]
pub mod memory;

/// A storage failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// A uniqueness or state precondition failed; nothing was written.
    Conflict(String),
    /// The backend failed (detail for logs only).
    Backend(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Conflict(what) => write!(f, "conflict: {what}"),
            StoreError::Backend(detail) => write!(f, "backend: {detail}"),
        }
    }
}

/// Signing keys (D1 table `signing_keys`). At most one key is `active` and at most one is
/// `next` at any time.
#[allow(async_fn_in_trait)]
pub trait KeyStore {
    /// Every stored key.
    async fn list_keys(&self) -> Result<Vec<StoredKey>, StoreError>;

    /// Inserts the first active and next keys, both or neither. `Conflict` if an active or a
    /// next key already exists.
    async fn insert_initial(&self, active: StoredKey, next: StoredKey) -> Result<(), StoreError>;

    /// Inserts a next key. `Conflict` if one exists.
    async fn insert_next(&self, next: StoredKey) -> Result<(), StoreError>;

    /// In one transaction: `active_kid` becomes retired (published until `retired_until`),
    /// `next_kid` becomes active (from `now`), `new_next` is inserted as next. `Conflict`, with
    /// nothing written, if another rotation got there first.
    async fn rotate(
        &self,
        active_kid: &str,
        next_kid: &str,
        now: i64,
        retired_until: i64,
        new_next: StoredKey,
    ) -> Result<(), StoreError>;

    /// Deletes retired keys whose publication window ended at or before `now`; returns how many.
    async fn delete_expired_keys(&self, now: i64) -> Result<u64, StoreError>;
}

/// Everything the service needs from storage.
pub trait Store: KeyStore {}

impl<T: KeyStore + ?Sized> Store for T {}
