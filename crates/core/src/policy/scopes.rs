//! Scope arithmetic (RFC 6749 §3.3): parsing the `scope` parameter and deciding what a token
//! carries. Unheld scopes are dropped, not errors; an empty result is.

use std::collections::BTreeSet;

use crate::directory::validate;
use crate::wire::Error;

/// A set of scope names.
pub type Scopes = BTreeSet<String>;

/// Parses a space-delimited `scope` parameter. Every token must be RFC 6749 syntax.
pub fn parse(param: Option<&str>) -> Result<Option<Scopes>, Error> {
    let Some(p) = param else { return Ok(None) };
    let mut out = Scopes::new();
    for tok in p.split(' ').filter(|t| !t.is_empty()) {
        validate::scope_token("scope", tok).map_err(|e| Error::InvalidScope(e.message))?;
        if out.len() >= validate::MAX_LIST {
            return Err(Error::InvalidScope("too many scopes".into()));
        }
        out.insert(tok.to_owned());
    }
    Ok(if out.is_empty() { None } else { Some(out) })
}

/// The space-separated form.
pub fn join(s: &Scopes) -> String {
    s.iter().map(String::as_str).collect::<Vec<_>>().join(" ")
}

/// Intersection of two sets.
pub fn and(a: &Scopes, b: &Scopes) -> Scopes {
    a.intersection(b).cloned().collect()
}

/// A JSON array column as a set.
pub fn from_json(s: &str) -> Scopes {
    serde_json::from_str::<Vec<String>>(s)
        .unwrap_or_default()
        .into_iter()
        .collect()
}

/// A set as a JSON array column.
pub fn to_json(s: &Scopes) -> String {
    serde_json::to_string(&s.iter().collect::<Vec<_>>()).unwrap_or_else(|_| "[]".into())
}

/// Fails with `invalid_scope` if nothing is left.
pub fn non_empty(s: Scopes, why: &str) -> Result<Scopes, Error> {
    if s.is_empty() {
        Err(Error::InvalidScope(why.to_owned()))
    } else {
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[&str]) -> Scopes {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_space_delimited_tokens_and_deduplicates() {
        assert_eq!(parse(Some("b a  b")).unwrap(), Some(set(&["a", "b"])));
        assert_eq!(parse(Some("   ")).unwrap(), None);
        assert_eq!(parse(None).unwrap(), None);
        assert!(matches!(parse(Some("a \"b")), Err(Error::InvalidScope(_))));
    }

    #[test]
    fn joins_in_a_stable_order() {
        assert_eq!(join(&set(&["b", "a"])), "a b");
        assert_eq!(and(&set(&["a", "b"]), &set(&["b", "c"])), set(&["b"]));
        assert!(non_empty(Scopes::new(), "x").is_err());
    }
}
