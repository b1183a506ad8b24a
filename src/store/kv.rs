//! The core's revocation list on Workers KV. Each entry is one key (`<kind>:<id>`) whose
//! metadata carries the entry, so listing needs no per-key reads; KV expires it at
//! `expires_at` (never sooner than KV's 60 s floor).

use mcpgate_core::revocation::{Entry, RevocationList, KV_MIN_TTL_SECS};
use mcpgate_core::store::StoreError;
use worker::kv::KvStore;

/// KV-backed revocation list.
pub struct KvRevocations {
    kv: KvStore,
}

/// Key of the feed cursor (the highest `revoked_at` stored), kept without expiry.
const HIGH_WATER_KEY: &str = "meta:high-water";

/// Most keys read per `list` page (KV's maximum).
const LIST_PAGE: u64 = 1000;

/// Upper bound on pages read per listing (100,000 entries).
const MAX_PAGES: usize = 100;

impl KvRevocations {
    /// Wraps the `REVOCATIONS` binding.
    pub fn new(kv: KvStore) -> Self {
        KvRevocations { kv }
    }
}

fn err(e: worker::kv::KvError) -> StoreError {
    StoreError::Backend(format!("kv: {e}"))
}

impl RevocationList for KvRevocations {
    async fn put(&self, entry: &Entry, now: i64) -> Result<(), StoreError> {
        let key = format!("{}:{}", entry.kind.as_str(), entry.id);
        let expiration = entry.expires_at.max(now + KV_MIN_TTL_SECS);
        self.kv
            .put(&key, entry.revoked_at.to_string())
            .map_err(err)?
            .expiration(expiration as u64)
            .metadata(entry)
            .map_err(err)?
            .execute()
            .await
            .map_err(err)?;
        // Read-modify-write is not atomic in KV; concurrent writers store values within a
        // second of each other, and the cursor only ever moves up.
        if self.high_water().await? < entry.revoked_at {
            self.kv
                .put(HIGH_WATER_KEY, entry.revoked_at.to_string())
                .map_err(err)?
                .execute()
                .await
                .map_err(err)?;
        }
        Ok(())
    }

    async fn high_water(&self) -> Result<i64, StoreError> {
        let v = self.kv.get(HIGH_WATER_KEY).text().await.map_err(err)?;
        Ok(v.and_then(|s| s.parse().ok()).unwrap_or(0))
    }

    async fn list(&self, now: i64) -> Result<Vec<Entry>, StoreError> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut q = self.kv.list().limit(LIST_PAGE);
            if let Some(c) = cursor.take() {
                q = q.cursor(c);
            }
            let page = q.execute().await.map_err(err)?;
            for k in page.keys {
                if k.name.starts_with("meta:") {
                    continue;
                }
                if let Some(e) = k
                    .metadata
                    .and_then(|m| serde_json::from_value::<Entry>(m).ok())
                {
                    if e.expires_at > now || k.expiration.is_some_and(|x| x as i64 > now) {
                        out.push(e);
                    }
                }
            }
            if page.list_complete {
                return Ok(out);
            }
            cursor = page.cursor;
            if cursor.is_none() {
                return Ok(out);
            }
        }
        Ok(out)
    }
}
