//! The schema against growth: every statement the service issues is checked with
//! `EXPLAIN QUERY PLAN` by the native store the first time a test runs it (a full scan of a table
//! that grows fails the test that issued it); these tests prove that check bites and that the
//! schema gives every foreign key an index (a cascade would otherwise scan the child table).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mcpgate_core::stmt;
use mcpgate_core::store::sqlite::SqliteDb;
use mcpgate_core::store::Database;
use mcpgate_core::testing::block_on;

#[test]
fn every_foreign_key_has_an_index_on_its_referencing_column() {
    let db = SqliteDb::new();
    let tables: Vec<String> = db
        .inspect(stmt!(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ))
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(tables.len() > 20, "{tables:?}");
    let mut missing = Vec::new();
    for t in &tables {
        let fks = db.inspect(stmt!(
            "SELECT \"from\" AS col, \"table\" AS parent FROM pragma_foreign_key_list(?1)",
            t.as_str()
        ));
        // Leading columns of every index, the primary key included.
        let mut leading: Vec<String> = db
            .inspect(stmt!(
                "SELECT (SELECT name FROM pragma_index_info(l.name) WHERE seqno = 0) AS col \
                 FROM pragma_index_list(?1) l",
                t.as_str()
            ))
            .iter()
            .filter_map(|r| r["col"].as_str().map(str::to_owned))
            .collect();
        leading.extend(
            db.inspect(stmt!(
                "SELECT name AS col FROM pragma_table_info(?1) WHERE pk = 1",
                t.as_str()
            ))
            .iter()
            .filter_map(|r| r["col"].as_str().map(str::to_owned)),
        );
        for fk in fks {
            let col = fk["col"].as_str().unwrap();
            if !leading.iter().any(|c| c == col) {
                missing.push(format!("{t}.{col} -> {}", fk["parent"]));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "foreign keys without an index: {missing:?}"
    );
}

#[test]
#[should_panic(expected = "full scan of `users`")]
fn the_plan_check_refuses_a_statement_that_scans_a_growing_table() {
    let db = SqliteDb::new();
    let _ = block_on(db.query(stmt!(
        "SELECT id FROM users WHERE display_name = ?1",
        "Alice"
    )));
}

#[test]
#[should_panic(expected = "full scan of `audit_log`")]
fn the_plan_check_sees_through_aliases() {
    let db = SqliteDb::new();
    let _ = block_on(db.query(stmt!(
        "SELECT a.id FROM audit_log a WHERE a.detail = ?1",
        "x"
    )));
}

#[test]
fn the_plan_check_accepts_keyed_searches_and_limited_walks_in_index_order() {
    let db = SqliteDb::new();
    for s in [
        stmt!("SELECT * FROM users WHERE id = ?1", "usr_x"),
        stmt!("SELECT * FROM users ORDER BY id LIMIT 10"),
        stmt!("SELECT * FROM signing_keys"),
        stmt!("SELECT id FROM resource_servers WHERE allow_self_registered = 1 ORDER BY id"),
    ] {
        block_on(db.query(s)).unwrap();
    }
}
