//! The core's [`Database`] on D1. `batch` is D1's batch, which runs as one transaction.

use mcpgate_core::store::{Database, Row, SqlValue, Stmt, StoreError};
use serde_json::Value;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, D1Result, D1SessionConstraint};

/// D1-backed database.
pub struct D1Db {
    db: D1Database,
    /// Calls made (a batch is one round trip), for `make bench`.
    pub round_trips: std::cell::Cell<u32>,
}

impl D1Db {
    /// Wraps the `DB` binding.
    pub fn new(db: D1Database) -> Self {
        D1Db {
            db,
            round_trips: std::cell::Cell::new(0),
        }
    }

    fn prepare(&self, stmt: &Stmt) -> Result<D1PreparedStatement, StoreError> {
        bind(self.db.prepare(stmt.sql), stmt)
    }
}

fn bind(prepared: D1PreparedStatement, stmt: &Stmt) -> Result<D1PreparedStatement, StoreError> {
    {
        let params: Vec<JsValue> = stmt
            .params
            .iter()
            .map(|p| match p {
                SqlValue::Null => JsValue::NULL,
                // Integers the core uses are timestamps, counters and flags: far below 2^53.
                SqlValue::Int(i) => JsValue::from_f64(*i as f64),
                SqlValue::Text(t) => JsValue::from_str(t),
            })
            .collect();
        prepared.bind(&params).map_err(error)
    }
}

fn error(e: worker::Error) -> StoreError {
    StoreError::from_message(e.to_string())
}

/// D1 returns every number as a double; integral values become JSON integers again.
fn normalise(v: Value) -> Value {
    match v {
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 => {
                Value::from(f as i64)
            }
            _ => Value::Number(n),
        },
        other => other,
    }
}

fn rows(result: &D1Result) -> Result<Vec<Row>, StoreError> {
    let raw: Vec<serde_json::Map<String, Value>> = result.results().map_err(error)?;
    Ok(raw
        .into_iter()
        .map(|r| r.into_iter().map(|(k, v)| (k, normalise(v))).collect())
        .collect())
}

impl Database for D1Db {
    async fn query(&self, stmt: Stmt) -> Result<Vec<Row>, StoreError> {
        self.round_trips.set(self.round_trips.get() + 1);
        let result = self.prepare(&stmt)?.all().await.map_err(error)?;
        rows(&result)
    }

    async fn batch(&self, stmts: Vec<Stmt>) -> Result<Vec<Vec<Row>>, StoreError> {
        self.round_trips.set(self.round_trips.get() + 1);
        let prepared = stmts
            .iter()
            .map(|s| self.prepare(s))
            .collect::<Result<Vec<_>, _>>()?;
        let results = self.db.batch(prepared).await.map_err(error)?;
        results.iter().map(rows).collect()
    }

    /// A session of D1's Sessions API that may start at the nearest read replica.
    async fn batch_replica(&self, stmts: Vec<Stmt>) -> Result<Vec<Vec<Row>>, StoreError> {
        self.round_trips.set(self.round_trips.get() + 1);
        let session = self
            .db
            .with_session_constraint(D1SessionConstraint::FirstUnconstrained)
            .map_err(error)?;
        let prepared = stmts
            .iter()
            .map(|s| bind(session.prepare(s.sql), s))
            .collect::<Result<Vec<_>, _>>()?;
        let results = session.batch(prepared).await.map_err(error)?;
        results.iter().map(rows).collect()
    }
}
