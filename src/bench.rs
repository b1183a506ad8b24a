//! Bench-only: the previous revocation feed's cost, so `make bench` can print it next to the
//! current one in the same run. Answered only when `MCPGATE_BENCH_HEADERS` is `true` (set by
//! the bench, never in a deployment).
//!
//! The previous feed listed the whole KV namespace, one entry per key with the entry in the
//! key's metadata, up to 100 list pages of 1,000 keys, on every request. `GET
//! /.bench/kv-list` does exactly that listing (not the filtering, sorting and signing that
//! followed it, so its figure is a lower bound of that design's cost) and answers the count.

use worker::kv::KvStore;

/// Path of the bench route.
pub const PATH: &str = "/.bench/kv-list";

/// Lists every key of the namespace with its metadata, as the previous feed did.
pub async fn kv_list(kv: &KvStore) -> Result<usize, worker::kv::KvError> {
    let mut n = 0;
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let mut q = kv.list().limit(1000);
        if let Some(c) = cursor.take() {
            q = q.cursor(c);
        }
        let page = q.execute().await?;
        n += page.keys.iter().filter(|k| k.metadata.is_some()).count();
        if page.list_complete {
            break;
        }
        cursor = page.cursor;
        if cursor.is_none() {
            break;
        }
    }
    Ok(n)
}
