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
    /// Of those, the ones a read replica could answer ([`Database::batch_replica`]).
    pub replica_round_trips: Cell<u64>,
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
            replica_round_trips: Cell::new(0),
            log: RefCell::new(Vec::new()),
        }
    }

    /// Runs a statement a test uses to look at the database (a count, a whole table): outside
    /// the round-trip count and the log, and exempt from the query-plan check that every
    /// statement the service issues passes.
    pub fn inspect(&self, stmt: Stmt) -> Vec<Row> {
        Self::run_unchecked(&self.conn.borrow(), &stmt).expect("inspection statement")
    }

    fn run(conn: &Connection, stmt: &Stmt) -> Result<Vec<Row>, StoreError> {
        check_plan_once(conn, stmt.sql);
        Self::run_unchecked(conn, stmt)
    }

    fn run_unchecked(conn: &Connection, stmt: &Stmt) -> Result<Vec<Row>, StoreError> {
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

/// Tables that stay small whatever the deployment's size (a full scan of one is fine).
const SMALL_TABLES: &[&str] = &["signing_keys", "identity_providers"];

std::thread_local! {
    static PLANNED: RefCell<std::collections::HashSet<&'static str>> = RefCell::default();
}

/// The tables a statement names after `FROM`/`JOIN`/`UPDATE`/`INTO`, by the name or alias
/// SQLite's query plan reports them under.
fn table_aliases(sql: &str) -> Vec<(String, String)> {
    let words: Vec<&str> = sql
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == ',')
        .filter(|w| !w.is_empty())
        .collect();
    let mut out = Vec::new();
    for (i, w) in words.iter().enumerate() {
        if !matches!(*w, "FROM" | "JOIN" | "UPDATE" | "INTO") {
            continue;
        }
        let Some(table) = words.get(i + 1) else {
            continue;
        };
        let mut alias = words.get(i + 2).copied().unwrap_or_default();
        if alias == "AS" {
            alias = words.get(i + 3).copied().unwrap_or_default();
        }
        let is_alias = !alias.is_empty()
            && alias
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit())
            && alias.chars().next().is_some_and(|c| c.is_ascii_lowercase());
        out.push((table.to_string(), table.to_string()));
        if is_alias {
            out.push((alias.to_owned(), table.to_string()));
        }
    }
    out
}

fn partial_index(conn: &Connection, name: &str) -> bool {
    conn.query_row(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?1",
        [name],
        |r| r.get::<_, Option<String>>(0),
    )
    .ok()
    .flatten()
    .is_some_and(|sql| sql.contains(" WHERE "))
}

/// Runs `EXPLAIN QUERY PLAN` on a statement the first time this thread sees it, and panics if
/// SQLite would read every row of a table that grows with the deployment: a `SCAN` of a table
/// (or a full walk of one of its indexes) that no `LIMIT` bounds. Every native test thus checks
/// the plan of every statement it makes the store issue, against the real migrations.
fn check_plan_once(conn: &Connection, sql: &'static str) {
    if !PLANNED.with(|p| p.borrow_mut().insert(sql)) {
        return;
    }
    let Ok(mut explain) = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")) else {
        return; // the statement itself will report the error
    };
    let details: Vec<String> = explain
        .query_map(
            rusqlite::params_from_iter(vec![Sqlite::Null; explain.parameter_count()]),
            |r| r.get::<_, String>(3),
        )
        .expect("explain query plan")
        .filter_map(Result::ok)
        .collect();
    let aliases = table_aliases(sql);
    // A common table expression's rows are what its own (checked) searches found.
    let ctes: Vec<&str> = details
        .iter()
        .filter_map(|d| {
            d.strip_prefix("CO-ROUTINE ")
                .or_else(|| d.strip_prefix("MATERIALIZE "))
        })
        .filter_map(|rest| rest.split_whitespace().next())
        .collect();
    let bounded = sql.contains(" LIMIT ");
    for d in &details {
        let Some(rest) = d.strip_prefix("SCAN ") else {
            continue;
        };
        let name = rest.split_whitespace().next().unwrap_or_default();
        // A statement's own VALUES rows are as many as it names, not a table that grows.
        if rest.contains("VIRTUAL TABLE")
            || rest.contains("VALUES CLAUSE")
            || name == "CONSTANT"
            || name.starts_with('(')
        {
            continue;
        }
        let table = aliases
            .iter()
            .find(|(a, _)| a == name)
            .map_or(name, |(_, t)| t.as_str());
        if SMALL_TABLES.contains(&table) || ctes.contains(&table) {
            continue;
        }
        // A partial index holds only the rows its WHERE admits: walking it reads the answer.
        let index = rest.split(" INDEX ").nth(1).unwrap_or_default();
        if !index.is_empty() && partial_index(conn, index) {
            continue;
        }
        // A walk in index order that a LIMIT stops, with no sort to do first, reads what it
        // returns.
        let sorted = details.iter().any(|x| x.contains("TEMP B-TREE"));
        if bounded && !sorted && !sql.contains(" WHERE ") {
            continue;
        }
        panic!("full scan of `{table}` ({d}) in:\n{sql}\nplan: {details:#?}");
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

    async fn batch_replica(&self, stmts: Vec<Stmt>) -> Result<Vec<Vec<Row>>, StoreError> {
        self.replica_round_trips
            .set(self.replica_round_trips.get() + 1);
        self.batch(stmts).await
    }
}
