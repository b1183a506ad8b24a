//! The source layout the README promises, checked: one home for each table's SQL (every
//! statement that writes a table lives in that table's owner module, listed here and in the
//! README's architecture section; reads may join other tables, writes may not leave home), no
//! statement written twice, and one place that renders OAuth error bodies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Table → the one file (below `crates/core/src`) that may write it.
const OWNERS: &[(&str, &str)] = &[
    ("signing_keys", "store/keys.rs"),
    ("auth_codes", "store/codes.rs"),
    ("refresh_families", "store/families.rs"),
    ("refresh_tokens", "store/families.rs"),
    ("issuances", "store/issuances.rs"),
    ("sessions", "store/sessions.rs"),
    ("login_failures", "store/login_attempts.rs"),
    ("rate_counters", "store/rate_counters.rs"),
    ("revocations", "revocation.rs"),
    ("revocation_log", "revocation.rs"),
    ("grants", "grants.rs"),
    ("audit_log", "directory/audit.rs"),
    ("clients", "directory/clients.rs"),
    ("client_resources", "directory/clients.rs"),
    ("exchange_rules", "directory/clients.rs"),
    ("introspection_rights", "directory/clients.rs"),
    ("resource_servers", "directory/resource_servers.rs"),
    ("scopes", "directory/resource_servers.rs"),
    ("scope_implies", "directory/resource_servers.rs"),
    ("roles", "directory/roles.rs"),
    ("role_scopes", "directory/roles.rs"),
    ("user_roles", "directory/roles.rs"),
    ("group_roles", "directory/roles.rs"),
    ("client_roles", "directory/roles.rs"),
    ("users", "directory/users.rs"),
    ("groups", "directory/groups.rs"),
    ("group_users", "directory/groups.rs"),
    ("group_agents", "directory/groups.rs"),
    ("identity_providers", "directory/identity_providers.rs"),
    ("federated_identities", "directory/identity_providers.rs"),
    ("group_mappings", "directory/identity_providers.rs"),
    ("assertion_jtis", "store/assertions.rs"),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The tables a source text writes: the word after `INSERT INTO`, `INSERT OR IGNORE INTO`,
/// `UPDATE` and `DELETE FROM` (in SQL string literals; case-sensitive keywords, as written).
fn written_tables(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for kw in [
        "INSERT INTO ",
        "INSERT OR IGNORE INTO ",
        "UPDATE ",
        "DELETE FROM ",
    ] {
        for (i, _) in text.match_indices(kw) {
            let rest = &text[i + kw.len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                out.insert(name);
            }
        }
    }
    out
}

#[test]
fn every_table_is_written_from_its_one_owner_module() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let owners: BTreeMap<&str, &str> = OWNERS.iter().copied().collect();
    let mut misplaced = Vec::new();
    let mut seen = BTreeSet::new();
    for f in files {
        let rel = f
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if rel == "store/sqlite.rs" || rel == "testing.rs" {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        for table in written_tables(&text) {
            seen.insert(table.clone());
            match owners.get(table.as_str()) {
                Some(owner) if *owner == rel => {}
                Some(owner) => misplaced.push(format!("{rel} writes {table} (owner: {owner})")),
                None => misplaced.push(format!("{rel} writes {table}, which has no owner listed")),
            }
        }
    }
    assert!(
        misplaced.is_empty(),
        "SQL away from home:\n{}",
        misplaced.join("\n")
    );
    // Every table of the migrations is listed (so a new table gets an owner).
    let mut tables = BTreeSet::new();
    let migrations = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
    for e in std::fs::read_dir(migrations).unwrap() {
        let sql = std::fs::read_to_string(e.unwrap().path()).unwrap();
        for (i, _) in sql.match_indices("CREATE TABLE ") {
            let name: String = sql[i + 13..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.ends_with("_v2") {
                tables.insert(name);
            }
        }
        for (i, _) in sql.match_indices("DROP TABLE ") {
            let name: String = sql[i + 11..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if name != "revocations" {
                tables.remove(&name);
            }
        }
    }
    let listed: BTreeSet<String> = owners.keys().map(|t| (*t).to_owned()).collect();
    assert_eq!(tables, listed, "every table has exactly one owner listed");
    assert!(seen.len() >= 20, "the scan found the statements ({seen:?})");
}

#[test]
fn no_statement_is_written_twice() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut twice = Vec::new();
    for f in files {
        let rel = f
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(&f).unwrap();
        for (start, _) in text.match_indices('"') {
            let rest = &text[start + 1..];
            if !["SELECT ", "INSERT ", "UPDATE ", "DELETE "]
                .iter()
                .any(|k| rest.starts_with(k))
            {
                continue;
            }
            let Some(end) = rest.find('"') else { continue };
            // Normalise the line continuations and spacing of the literal.
            let sql = rest[..end]
                .replace("\\\n", " ")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            if let Some(first) = seen.insert(sql.clone(), rel.clone()) {
                twice.push(format!("{first} and {rel}: {sql}"));
            }
        }
    }
    assert!(
        twice.is_empty(),
        "statements written twice:\n{}",
        twice.join("\n")
    );
}

#[test]
fn oauth_error_bodies_are_rendered_only_by_the_error_table() {
    // `error_description` appears where errors are rendered: the error table (JSON bodies),
    // the authorization endpoint's redirect (RFC 6749 §4.1.2.1 query parameters) and the
    // OpenAPI document that describes the body. Nowhere else may build one.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let allowed = [
        "wire/error.rs",
        "endpoints/authorize/mod.rs",
        "endpoints/admin/openapi.rs",
    ];
    let mut found = Vec::new();
    for f in files {
        let rel = f
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(&f).unwrap();
        if text.contains("\"error_description\"") && !allowed.contains(&rel.as_str()) {
            found.push(rel);
        }
    }
    assert!(
        found.is_empty(),
        "error bodies built outside the error table: {found:?}"
    );
}
