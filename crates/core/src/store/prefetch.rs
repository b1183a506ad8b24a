//! One round trip for a request whose reads are known in advance: [`Prefetched`] runs the reads
//! a handler is expected to issue as one batch (one consistent snapshot), then answers those
//! exact statements from it, while the handler's code stays as it is.
//!
//! A statement it was not given goes to the database as usual; so does everything after the
//! first such statement (a write, or a read the prediction missed), so that a request never
//! reads a snapshot older than its own writes. Only `SELECT` statements are ever answered from
//! the snapshot: a write can never be skipped.

use std::cell::RefCell;

use super::{Database, Row, Stmt, StoreError};

/// A database view that answers predicted reads from one batch.
pub struct Prefetched<'a, S: ?Sized> {
    inner: &'a S,
    answers: RefCell<Vec<(Stmt, Vec<Row>)>>,
}

fn is_read(stmt: &Stmt) -> bool {
    stmt.sql
        .trim_start()
        .get(..7)
        .is_some_and(|head| head.eq_ignore_ascii_case("SELECT "))
}

impl<'a, S: Database + ?Sized> Prefetched<'a, S> {
    /// Runs the reads among `stmts` in one batch (none: no round trip), at a read replica if
    /// `replica` (see [`Database::batch_replica`]). If the batch fails, nothing is answered
    /// from it and each statement goes to the database when issued.
    pub async fn load(inner: &'a S, stmts: Vec<Stmt>, replica: bool) -> Self {
        let reads: Vec<Stmt> = stmts.into_iter().filter(is_read).collect();
        let answers = if reads.is_empty() {
            Vec::new()
        } else {
            let rows = if replica {
                inner.batch_replica(reads.clone()).await
            } else {
                inner.batch(reads.clone()).await
            };
            match rows {
                Ok(rows) if rows.len() == reads.len() => reads.into_iter().zip(rows).collect(),
                _ => Vec::new(),
            }
        };
        Prefetched {
            inner,
            answers: RefCell::new(answers),
        }
    }

    fn answer(&self, stmt: &Stmt) -> Option<Vec<Row>> {
        self.answers
            .borrow()
            .iter()
            .find(|(s, _)| s == stmt)
            .map(|(_, rows)| rows.clone())
    }

    /// Whether the snapshot answers `stmt` with no rows (something it looked for is absent).
    pub fn found_nothing(&self, stmt: &Stmt) -> bool {
        self.answer(stmt).is_some_and(|rows| rows.is_empty())
    }

    /// The database behind the snapshot.
    pub fn inner(&self) -> &'a S {
        self.inner
    }
}

impl<S: ?Sized> Prefetched<'_, S> {
    /// Stops answering from the snapshot (after anything it did not answer).
    fn forget(&self) {
        self.answers.borrow_mut().clear();
    }
}

impl<S: Database + ?Sized> Database for Prefetched<'_, S> {
    async fn query(&self, stmt: Stmt) -> Result<Vec<Row>, StoreError> {
        if let Some(rows) = self.answer(&stmt) {
            return Ok(rows);
        }
        self.forget();
        self.inner.query(stmt).await
    }

    async fn batch(&self, stmts: Vec<Stmt>) -> Result<Vec<Vec<Row>>, StoreError> {
        let answered: Option<Vec<Vec<Row>>> = stmts.iter().map(|s| self.answer(s)).collect();
        if let Some(rows) = answered {
            return Ok(rows);
        }
        self.forget();
        self.inner.batch(stmts).await
    }
}

impl<S: crate::revocation::RevocationList + ?Sized> crate::revocation::RevocationList
    for Prefetched<'_, S>
{
    async fn head(&self) -> Result<Option<crate::revocation::Head>, StoreError> {
        self.inner.head().await
    }
    async fn segment(
        &self,
        index: u64,
        now: i64,
    ) -> Result<Option<crate::revocation::Segment>, StoreError> {
        self.inner.segment(index, now).await
    }
    async fn put_segment(
        &self,
        seg: &crate::revocation::Segment,
        expires_at: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        self.inner.put_segment(seg, expires_at, now).await
    }
    async fn put_head(&self, head: &crate::revocation::Head) -> Result<(), StoreError> {
        self.inner.put_head(head).await
    }
    async fn publish_committed(&self, now: i64) -> Result<(), StoreError> {
        self.forget();
        self.inner.publish_committed(now).await
    }
    async fn cached_page(&self, key: &str, now: i64) -> Option<(String, String)> {
        self.inner.cached_page(key, now).await
    }
    async fn keep_page(&self, key: &str, body: &str, etag: &str, max_age: u32, now: i64) {
        self.inner.keep_page(key, body, etag, max_age, now).await;
    }
}

impl<S: crate::outbound::Outbound + ?Sized> crate::outbound::Outbound for Prefetched<'_, S> {
    async fn fetch(
        &self,
        url: &str,
        max_bytes: usize,
        timeout_ms: u32,
    ) -> Result<crate::outbound::Fetched, crate::outbound::FetchError> {
        self.inner.fetch(url, max_bytes, timeout_ms).await
    }
    async fn post_form(
        &self,
        url: &str,
        body: &str,
        authorization: Option<&str>,
        max_bytes: usize,
        timeout_ms: u32,
    ) -> Result<crate::outbound::Fetched, crate::outbound::FetchError> {
        self.inner
            .post_form(url, body, authorization, max_bytes, timeout_ms)
            .await
    }
    async fn cache_get(&self, key: &str, now: i64) -> Result<Option<String>, StoreError> {
        self.inner.cache_get(key, now).await
    }
    async fn cache_put(
        &self,
        key: &str,
        value: &str,
        ttl_secs: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        self.forget();
        self.inner.cache_put(key, value, ttl_secs, now).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stmt;
    use crate::store::sqlite::SqliteDb;

    fn block<F: std::future::Future>(f: F) -> F::Output {
        crate::testing::block_on(f)
    }

    #[test]
    fn predicted_reads_cost_one_round_trip_and_a_write_is_never_skipped() {
        let db = SqliteDb::new();
        let read = stmt!("SELECT id FROM users WHERE id = 'u1'");
        let before = db.round_trips.get();
        let p = block(Prefetched::load(
            &db,
            vec![read.clone(), crate::directory::users::delete_stmt("nobody")],
            false,
        ));
        assert!(p.found_nothing(&read));
        assert_eq!(db.round_trips.get() - before, 1);
        assert!(block(p.query(read.clone())).unwrap().is_empty());
        assert_eq!(
            db.round_trips.get() - before,
            1,
            "answered from the snapshot"
        );
        let user = crate::directory::users::insert_stmt(&crate::directory::users::NewUser {
            id: "u1",
            username: "a",
            display_name: "A",
            status: crate::directory::Status::Active,
            password_hash: Some(""),
            now: 0,
        });
        block(p.query(user)).unwrap();
        let rows = block(p.query(read)).unwrap();
        assert_eq!(rows.len(), 1, "after a write, reads see it");
        assert_eq!(db.round_trips.get() - before, 3);
    }
}
