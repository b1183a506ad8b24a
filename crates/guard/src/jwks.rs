//! JWKS caching policy (RFC 7517 §5 key sets, cached per RFC 9111).
//!
//! The [`Guard`](crate::guard::Guard) keeps the issuer's key set and refreshes it:
//! - when it goes stale: after the response's `Cache-Control: max-age` (RFC 9111 §5.2.2.1),
//!   clamped to [`JwksPolicy::min_ttl_secs`]..=[`JwksPolicy::max_ttl_secs`]
//!   (`no-store`/`no-cache` count as 0, so the floor applies; no `max-age` means
//!   [`JwksPolicy::default_ttl_secs`]); revalidated with `If-None-Match` (RFC 9110 §13.1.2);
//! - when a token names an unknown `kid`, at most once per
//!   [`JwksPolicy::unknown_kid_refetch_secs`], so tokens with forged `kid`s cannot make the
//!   guard hammer mcpgate. Requests that arrive while that refetch is in flight wait for it
//!   instead of failing, so a key rotation costs no request;
//! - after a failed fetch, not before [`JwksPolicy::retry_secs`]; the previous keys stay.
//!
//! mcpgate publishes a new key in the JWKS before it signs with it, so with a `max_ttl_secs`
//! shorter than that pre-publication period a rotation needs no unknown-`kid` refetch at all.

/// How the JWKS is cached and refetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JwksPolicy {
    /// Floor for the cache lifetime, seconds (default 60).
    pub min_ttl_secs: i64,
    /// Ceiling for the cache lifetime, seconds (default 3600).
    pub max_ttl_secs: i64,
    /// Lifetime when the response has no `max-age`, seconds (default 300).
    pub default_ttl_secs: i64,
    /// At most one refetch caused by an unknown `kid` per this many seconds (default 30).
    pub unknown_kid_refetch_secs: i64,
    /// Wait after a failed fetch, seconds (default 10).
    pub retry_secs: i64,
}

impl Default for JwksPolicy {
    fn default() -> Self {
        JwksPolicy {
            min_ttl_secs: 60,
            max_ttl_secs: 3600,
            default_ttl_secs: 300,
            unknown_kid_refetch_secs: 30,
            retry_secs: 10,
        }
    }
}

impl JwksPolicy {
    /// How long a JWKS response with this `Cache-Control` header stays fresh, seconds.
    pub fn ttl(&self, cache_control: Option<&str>) -> i64 {
        let ceiling = self.max_ttl_secs.max(self.min_ttl_secs);
        let secs = match cache_control.map(max_age) {
            Some(Some(age)) => i64::try_from(age).unwrap_or(i64::MAX),
            _ => self.default_ttl_secs,
        };
        secs.clamp(self.min_ttl_secs, ceiling)
    }
}

/// The freshness lifetime a `Cache-Control` value grants (RFC 9111 §5.2): `max-age` in seconds,
/// `Some(0)` for `no-store` or `no-cache`, `None` if it says neither. Directive names are
/// case-insensitive; a quoted value is accepted; if `max-age` repeats the smallest wins.
pub fn max_age(cache_control: &str) -> Option<u64> {
    let mut result: Option<u64> = None;
    let mut take = |v: u64| result = Some(result.map_or(v, |r| r.min(v)));
    for directive in cache_control.split(',') {
        let (name, value) = match directive.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
            None => (directive.trim(), None),
        };
        if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
            take(0);
        } else if name.eq_ignore_ascii_case("max-age") {
            // RFC 9111 §1.2.2: a delta-seconds too large to represent means "very long".
            match value.filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())) {
                Some(v) => take(v.parse().unwrap_or(u64::MAX)),
                None => take(0),
            }
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_max_age_directives() {
        assert_eq!(max_age("public, max-age=600"), Some(600));
        assert_eq!(max_age("Max-Age=\"60\", public"), Some(60));
        assert_eq!(max_age("max-age=600, no-cache"), Some(0));
        assert_eq!(max_age("no-store"), Some(0));
        assert_eq!(max_age("public"), None);
        assert_eq!(max_age("max-age=abc"), Some(0));
        assert_eq!(max_age("max-age=99999999999999999999999"), Some(u64::MAX));
        assert_eq!(max_age("max-age=100, max-age=50"), Some(50));
    }

    #[test]
    fn ttl_is_clamped_between_floor_and_ceiling() {
        let p = JwksPolicy::default();
        assert_eq!(p.ttl(Some("max-age=600")), 600);
        assert_eq!(p.ttl(Some("max-age=5")), 60);
        assert_eq!(p.ttl(Some("no-store")), 60);
        assert_eq!(p.ttl(Some("max-age=86400")), 3600);
        assert_eq!(p.ttl(None), 300);
        assert_eq!(p.ttl(Some("public")), 300);
    }
}
