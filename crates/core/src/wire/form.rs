//! `application/x-www-form-urlencoded` parameters (RFC 6749 §3.1, §3.2, Appendix B): every
//! parameter at most once, empty values treated as absent.

use super::Error;

/// Parsed form or query parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(Vec<(String, String)>);

/// Most parameters accepted in one request.
pub const MAX_PARAMS: usize = 64;

impl Params {
    /// Parses form-encoded bytes. A repeated parameter is `invalid_request` (RFC 6749 §3.1:
    /// "Request and response parameters MUST NOT be included more than once").
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let mut out: Vec<(String, String)> = Vec::new();
        for (k, v) in form_urlencoded::parse(bytes) {
            if out.len() >= MAX_PARAMS {
                return Err(Error::InvalidRequest("too many parameters".into()));
            }
            if v.is_empty() {
                continue;
            }
            if out.iter().any(|(name, _)| *name == k) {
                return Err(Error::InvalidRequest(format!(
                    "parameter `{k}` is repeated"
                )));
            }
            out.push((k.into_owned(), v.into_owned()));
        }
        Ok(Params(out))
    }

    /// A parameter's value, if present and non-empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A required parameter.
    pub fn require(&self, name: &str) -> Result<&str, Error> {
        self.get(name)
            .ok_or_else(|| Error::InvalidRequest(format!("missing parameter `{name}`")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6749_3_1_rejects_repeated_parameters() {
        assert!(matches!(
            Params::parse(b"a=1&a=2"),
            Err(Error::InvalidRequest(_))
        ));
    }

    #[test]
    fn empty_values_are_absent() {
        let p = Params::parse(b"a=&b=2").unwrap();
        assert_eq!(p.get("a"), None);
        assert_eq!(p.get("b"), Some("2"));
        assert!(p.require("a").is_err());
    }

    #[test]
    fn decodes_percent_and_plus() {
        let p = Params::parse(b"scope=a+b&redirect_uri=http%3A%2F%2Fx%2F").unwrap();
        assert_eq!(p.get("scope"), Some("a b"));
        assert_eq!(p.get("redirect_uri"), Some("http://x/"));
    }
}
