//! In-memory stores for tests. They fail the way production fails: the same uniqueness
//! constraints as the D1 schema, the same all-or-nothing batches.

use std::cell::RefCell;

use super::{KeyStore, StoreError};
use crate::keys::{KeyState, StoredKey};

/// Everything in memory, behind a `RefCell` (single-threaded, like a Worker isolate).
#[derive(Debug, Default)]
pub struct MemoryStore {
    keys: RefCell<Vec<StoredKey>>,
}

fn has_state(keys: &[StoredKey], state: KeyState) -> bool {
    keys.iter().any(|k| k.state == state)
}

/// Enforces the schema's constraints: unique kid, at most one active and one next key.
fn check_key_constraints(keys: &[StoredKey]) -> Result<(), StoreError> {
    for state in [KeyState::Active, KeyState::Next] {
        if keys.iter().filter(|k| k.state == state).count() > 1 {
            return Err(StoreError::Conflict(format!("second {} key", state.as_str())));
        }
    }
    let mut kids: Vec<&str> = keys.iter().map(|k| k.kid.as_str()).collect();
    kids.sort_unstable();
    if kids.windows(2).any(|w| w[0] == w[1]) {
        return Err(StoreError::Conflict("duplicate kid".into()));
    }
    Ok(())
}

impl MemoryStore {
    /// Applies `change` to a copy and commits it only if the constraints still hold.
    fn transact_keys(
        &self,
        change: impl FnOnce(&mut Vec<StoredKey>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut draft = self.keys.borrow().clone();
        change(&mut draft)?;
        check_key_constraints(&draft)?;
        *self.keys.borrow_mut() = draft;
        Ok(())
    }
}

impl KeyStore for MemoryStore {
    async fn list_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        Ok(self.keys.borrow().clone())
    }

    async fn insert_initial(&self, active: StoredKey, next: StoredKey) -> Result<(), StoreError> {
        self.transact_keys(|keys| {
            keys.push(active);
            keys.push(next);
            Ok(())
        })
    }

    async fn insert_next(&self, next: StoredKey) -> Result<(), StoreError> {
        self.transact_keys(|keys| {
            keys.push(next);
            Ok(())
        })
    }

    async fn rotate(
        &self,
        active_kid: &str,
        next_kid: &str,
        now: i64,
        retired_until: i64,
        new_next: StoredKey,
    ) -> Result<(), StoreError> {
        self.transact_keys(|keys| {
            // Same statements as the D1 batch: conditional updates, then an insert that the
            // one-next-key constraint rejects if another rotation already ran.
            for k in keys.iter_mut() {
                if k.kid == active_kid && k.state == KeyState::Active {
                    k.state = KeyState::Retired;
                    k.publish_until = Some(retired_until);
                }
            }
            for k in keys.iter_mut() {
                if k.kid == next_kid && k.state == KeyState::Next {
                    k.state = KeyState::Active;
                    k.activated_at = Some(now);
                }
            }
            if has_state(keys, KeyState::Next) {
                return Err(StoreError::Conflict("another rotation won".into()));
            }
            keys.push(new_next);
            Ok(())
        })
    }

    async fn delete_expired_keys(&self, now: i64) -> Result<u64, StoreError> {
        let mut keys = self.keys.borrow_mut();
        let before = keys.len();
        keys.retain(|k| !(k.state == KeyState::Retired && k.publish_until.is_none_or(|t| t <= now)));
        Ok((before - keys.len()) as u64)
    }
}
