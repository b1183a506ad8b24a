//! Storage. The narrow trait is [`Database`]: run one SQL statement, or run several as one
//! transaction. D1 implements it in the Worker glue; [`sqlite`] implements it natively on an
//! in-memory SQLite database with the project's own migrations applied (test-util feature).
//!
//! Why SQL at the trait boundary rather than one hand-written fake per aggregate: D1 *is*
//! SQLite, so the native tests run the very statements production runs, against the very
//! constraints the migrations declare (uniqueness, foreign-key cascades, CHECKs), with the same
//! all-or-nothing batches. A fake cannot drift from production because there is no separate
//! fake logic to drift.
//!
//! The typed repositories ([`keys`], ...) own the SQL for their aggregate and document each
//! method's atomicity contract. The revocation list lives in KV, not here (see `revocation`).

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

pub mod assertions;
pub mod codes;
pub mod families;
pub mod issuances;
pub mod keys;
pub mod login_attempts;
pub mod prefetch;
pub mod rate_counters;
pub mod sessions;

#[cfg(any(test, feature = "test-util"))]
pub mod sqlite;

/// A storage failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// A uniqueness, foreign-key or CHECK constraint failed; nothing was written.
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

impl StoreError {
    /// Classifies an SQLite/D1 error message: constraint violations are conflicts.
    pub fn from_message(text: String) -> Self {
        if text.contains("constraint failed") || text.contains("SQLITE_CONSTRAINT") {
            StoreError::Conflict(text)
        } else {
            StoreError::Backend(text)
        }
    }
}

/// A bound parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    /// NULL.
    Null,
    /// INTEGER (D1 carries numbers as doubles: keep values within ±2^53).
    Int(i64),
    /// TEXT.
    Text(String),
}

impl From<i64> for SqlValue {
    fn from(v: i64) -> Self {
        SqlValue::Int(v)
    }
}
impl From<&str> for SqlValue {
    fn from(v: &str) -> Self {
        SqlValue::Text(v.to_owned())
    }
}
impl From<String> for SqlValue {
    fn from(v: String) -> Self {
        SqlValue::Text(v)
    }
}
impl From<&String> for SqlValue {
    fn from(v: &String) -> Self {
        SqlValue::Text(v.clone())
    }
}
impl From<bool> for SqlValue {
    fn from(v: bool) -> Self {
        SqlValue::Int(i64::from(v))
    }
}
impl<T: Into<SqlValue>> From<Option<T>> for SqlValue {
    fn from(v: Option<T>) -> Self {
        v.map(Into::into).unwrap_or(SqlValue::Null)
    }
}

/// One SQL statement with positional parameters (`?1`, `?2`, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct Stmt {
    /// The SQL text.
    pub sql: &'static str,
    /// Parameters, bound in order.
    pub params: Vec<SqlValue>,
}

impl Stmt {
    /// A statement.
    pub fn new(sql: &'static str, params: Vec<SqlValue>) -> Self {
        Stmt { sql, params }
    }
}

/// Builds a [`Stmt`]: `stmt!("SELECT ?1", a)`.
#[macro_export]
macro_rules! stmt {
    ($sql:expr $(, $p:expr)* $(,)?) => {
        $crate::store::Stmt::new($sql, vec![$($crate::store::SqlValue::from($p)),*])
    };
}

/// A result row: column name to JSON value (integers as JSON integers).
pub type Row = Map<String, Value>;

/// The results of one batch, read in the order the statements were added: every decoder takes
/// exactly the result sets of its own statements ([`Results::take`], with the count its
/// statement builder declares). A missing result set is a backend error, never "no rows".
#[derive(Debug)]
pub struct Results(std::vec::IntoIter<Vec<Row>>);

impl Results {
    /// The results of a batch.
    pub fn new(rows: Vec<Vec<Row>>) -> Self {
        Results(rows.into_iter())
    }

    /// The next statement's rows.
    pub fn next_rows(&mut self) -> Result<Vec<Row>, StoreError> {
        self.0.next().ok_or_else(|| {
            StoreError::Backend("batch returned fewer result sets than statements".into())
        })
    }

    /// The next `N` statements' rows.
    pub fn take<const N: usize>(&mut self) -> Result<[Vec<Row>; N], StoreError> {
        let mut out: [Vec<Row>; N] = std::array::from_fn(|_| Vec::new());
        for slot in &mut out {
            *slot = self.next_rows()?;
        }
        Ok(out)
    }
}

/// Decodes rows into a typed struct.
pub fn decode<T: DeserializeOwned>(rows: Vec<Row>) -> Result<Vec<T>, StoreError> {
    rows.into_iter()
        .map(|r| {
            serde_json::from_value(Value::Object(r))
                .map_err(|e| StoreError::Backend(format!("row decode: {e}")))
        })
        .collect()
}

/// Decodes the first row, if any.
pub fn decode_first<T: DeserializeOwned>(rows: Vec<Row>) -> Result<Option<T>, StoreError> {
    Ok(decode(rows)?.into_iter().next())
}

/// An SQLite-dialect database. Futures are not `Send` (Workers' are not).
#[allow(async_fn_in_trait)]
pub trait Database {
    /// Runs one statement and returns its rows (empty for statements without `RETURNING`).
    /// A single statement is atomic.
    async fn query(&self, stmt: Stmt) -> Result<Vec<Row>, StoreError>;

    /// Runs the statements in order as one transaction: either all take effect or none does
    /// (a constraint failure in any statement rolls back all of them and is `Conflict`).
    /// Returns each statement's rows.
    async fn batch(&self, stmts: Vec<Stmt>) -> Result<Vec<Vec<Row>>, StoreError>;

    /// Runs read-only statements as one batch where an answer a few seconds stale is
    /// acceptable: D1 may serve it from the read replica nearest the Worker (its Sessions API,
    /// `first-unconstrained`) instead of the primary. Callers that cannot accept a stale
    /// *absence* (something just created) ask the primary again on a miss.
    async fn batch_replica(&self, stmts: Vec<Stmt>) -> Result<Vec<Vec<Row>>, StoreError> {
        self.batch(stmts).await
    }
}

/// Everything the service reads or writes outside itself: the D1 registry, the KV revocation
/// list, and outbound fetches with their cache.
pub trait Store: Database + crate::revocation::RevocationList + crate::outbound::Outbound {}

impl<T: Database + crate::revocation::RevocationList + crate::outbound::Outbound + ?Sized> Store
    for T
{
}
