//! The core's revocation list on Workers KV: immutable segments (`seg:<index>`, kept until
//! their last entry expires) and the head (`head`, no expiry), written only by the revocation
//! hub. Reading costs one `get` for the head and one per segment asked for; nothing lists the
//! namespace.

use mcpgate_core::revocation::{Head, Segment, KV_MIN_TTL_SECS};
use mcpgate_core::store::StoreError;
use worker::kv::KvStore;

/// KV-backed revocation list.
pub struct KvRevocations {
    kv: KvStore,
}

/// Key of the head.
const HEAD_KEY: &str = "head";

fn segment_key(index: u64) -> String {
    format!("seg:{index}")
}

fn err(e: worker::kv::KvError) -> StoreError {
    StoreError::Backend(format!("kv: {e}"))
}

fn json_err(e: serde_json::Error) -> StoreError {
    StoreError::Backend(format!("kv value: {e}"))
}

impl KvRevocations {
    /// Wraps the `REVOCATIONS` binding.
    pub fn new(kv: KvStore) -> Self {
        KvRevocations { kv }
    }

    /// The head.
    pub async fn head(&self) -> Result<Option<Head>, StoreError> {
        self.kv.get(HEAD_KEY).json().await.map_err(err)
    }

    /// A sealed segment.
    pub async fn segment(&self, index: u64) -> Result<Option<Segment>, StoreError> {
        self.kv.get(&segment_key(index)).json().await.map_err(err)
    }

    /// Writes a sealed segment until `expires_at` (at least KV's floor from `now`).
    pub async fn put_segment(
        &self,
        seg: &Segment,
        expires_at: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        let expiration = expires_at.max(now + KV_MIN_TTL_SECS);
        self.kv
            .put(
                &segment_key(seg.index),
                serde_json::to_string(seg).map_err(json_err)?,
            )
            .map_err(err)?
            .expiration(u64::try_from(expiration).unwrap_or(0))
            .execute()
            .await
            .map_err(err)
    }

    /// Writes the head.
    pub async fn put_head(&self, head: &Head) -> Result<(), StoreError> {
        self.kv
            .put(HEAD_KEY, serde_json::to_string(head).map_err(json_err)?)
            .map_err(err)?
            .execute()
            .await
            .map_err(err)
    }
}
