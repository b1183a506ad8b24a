#![allow(clippy::expect_used, clippy::panic)] // test fixture: a broken schema must fail loudly
//! [`Database`] on an in-memory SQLite database with every migration in `migrations/` applied,
//! for native tests. Foreign keys are enforced, as D1 enforces them.
//!
//! Each call first yields once to the executor, so that concurrent flows driven by a joining
//! executor interleave at statement granularity, as they do on D1 where every query is an
//! await point.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use rusqlite::types::{Value as Sqlite, ValueRef};
use rusqlite::Connection;
use serde_json::Value;

use super::{Database, Row, SqlValue, Stmt, StoreError};

/// In-memory SQLite with the project's schema.
pub struct SqliteDb {
    conn: RefCell<Connection>,
    /// Number of round trips (one per `query`/`batch` call).
    pub round_trips: Cell<u64>,
    /// Every statement's SQL text, in the order run (tests inspect what a flow wrote).
    pub log: RefCell<Vec<&'static str>>,
}

impl SqliteDb {
    /// The statements run since `mark` (a length of [`SqliteDb::log`]) that write.
    pub fn writes_since(&self, mark: usize) -> Vec<&'static str> {
        self.log
            .borrow()
            .iter()
            .skip(mark)
            .filter(|sql| {
                let head = sql
                    .trim_start()
                    .get(..6)
                    .unwrap_or_default()
                    .to_ascii_uppercase();
                matches!(head.as_str(), "INSERT" | "UPDATE" | "DELETE" | "REPLAC")
            })
            .copied()
            .collect()
    }

    /// A fresh database with all migrations applied.
    pub fn new() -> Self {
        let conn = Connection::open_in_memory().expect("open in-memory sqlite");
        conn.execute_batch("PRAGMA foreign_keys = ON;")
            .expect("enable foreign keys");
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .expect("read migrations dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "sql"))
            .collect();
        files.sort();
        for f in files {
            let sql = std::fs::read_to_string(&f).expect("read migration");
            conn.execute_batch(&sql)
                .unwrap_or_else(|e| panic!("migration {}: {e}", f.display()));
        }
        SqliteDb {
            conn: RefCell::new(conn),
            round_trips: Cell::new(0),
            log: RefCell::new(Vec::new()),
        }
    }

    fn run(conn: &Connection, stmt: &Stmt) -> Result<Vec<Row>, StoreError> {
        let err = |e: rusqlite::Error| StoreError::from_message(e.to_string());
        let mut prepared = conn.prepare(stmt.sql).map_err(err)?;
        let params: Vec<Sqlite> = stmt
            .params
            .iter()
            .map(|p| match p {
                SqlValue::Null => Sqlite::Null,
                SqlValue::Int(i) => Sqlite::Integer(*i),
                SqlValue::Text(t) => Sqlite::Text(t.clone()),
            })
            .collect();
        let names: Vec<String> = prepared.column_names().map(str::to_owned).collect();
        let mut rows = prepared
            .query(rusqlite::params_from_iter(params))
            .map_err(err)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(err)? {
            let mut map = Row::new();
            for (i, name) in names.iter().enumerate() {
                let v = match row.get_ref(i).map_err(err)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(n) => Value::from(n),
                    ValueRef::Real(f) => Value::from(f),
                    ValueRef::Text(t) => Value::from(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Value::from(b.to_vec()),
                };
                map.insert(name.clone(), v);
            }
            out.push(map);
        }
        Ok(out)
    }
}

impl Default for SqliteDb {
    fn default() -> Self {
        Self::new()
    }
}

/// Returns `Pending` once, then `Ready`.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

impl Database for SqliteDb {
    async fn query(&self, stmt: Stmt) -> Result<Vec<Row>, StoreError> {
        YieldOnce(false).await;
        self.round_trips.set(self.round_trips.get() + 1);
        self.log.borrow_mut().push(stmt.sql);
        let conn = self.conn.borrow();
        Self::run(&conn, &stmt)
    }

    async fn batch(&self, stmts: Vec<Stmt>) -> Result<Vec<Vec<Row>>, StoreError> {
        YieldOnce(false).await;
        self.round_trips.set(self.round_trips.get() + 1);
        self.log.borrow_mut().extend(stmts.iter().map(|s| s.sql));
        let mut conn = self.conn.borrow_mut();
        let tx = conn
            .transaction()
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let mut out = Vec::with_capacity(stmts.len());
        for s in &stmts {
            // An error drops `tx`, which rolls the transaction back.
            out.push(Self::run(&tx, s)?);
        }
        tx.commit()
            .map_err(|e| StoreError::from_message(e.to_string()))?;
        Ok(out)
    }
}
