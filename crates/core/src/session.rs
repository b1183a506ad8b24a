//! Browser state for the login and consent pages: a signed session cookie, a CSRF cookie
//! (double submit), and signed authorization requests carried through the consent form.
//!
//! Cookies are `HttpOnly`, `SameSite=Lax`, `Path=/`; with an https issuer they are also
//! `Secure` and `__Host-` prefixed. (A plain-http issuer is only accepted for loopback
//! development, where browsers would drop `Secure` cookies on some hosts.)

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::Sha256;

use crate::config::Config;
use crate::secret::ct_eq;

/// Session lifetime (seconds): 8 hours.
pub const SESSION_TTL_SECS: i64 = 8 * 3600;
/// Lifetime of a signed authorization request in a consent form (seconds).
pub const REQUEST_TTL_SECS: i64 = 600;

/// Keys derived from the root secret for browser state.
pub struct Keys {
    session: [u8; 32],
    request: [u8; 32],
    secure: bool,
}

fn derive(secret: &str, info: &[u8]) -> [u8; 32] {
    let hk = Hkdf::<Sha256>::new(Some(b"mcpgate"), secret.as_bytes());
    let mut out = [0u8; 32];
    let _ = hk.expand(info, &mut out);
    out
}

fn mac(key: &[u8; 32], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut m) => {
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

impl Keys {
    /// Derives the keys.
    pub fn new(config: &Config) -> Self {
        Keys {
            session: derive(config.secret.expose(), b"mcpgate/session/v1"),
            request: derive(config.secret.expose(), b"mcpgate/authorization-request/v1"),
            secure: config.issuer.starts_with("https://"),
        }
    }

    /// Cookie name for the session.
    pub fn session_cookie(&self) -> &'static str {
        if self.secure {
            "__Host-mcpgate-session"
        } else {
            "mcpgate-session"
        }
    }

    /// Cookie name for the CSRF token.
    pub fn csrf_cookie(&self) -> &'static str {
        if self.secure {
            "__Host-mcpgate-csrf"
        } else {
            "mcpgate-csrf"
        }
    }

    fn attrs(&self, max_age: i64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!("Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
    }

    /// `Set-Cookie` value starting a session for `user_id`.
    pub fn start_session(&self, user_id: &str, now: i64) -> String {
        let body = format!("{}.{}", B64.encode(user_id), now + SESSION_TTL_SECS);
        let tag = B64.encode(mac(&self.session, body.as_bytes()));
        format!(
            "{}={body}.{tag}; {}",
            self.session_cookie(),
            self.attrs(SESSION_TTL_SECS)
        )
    }

    /// `Set-Cookie` value ending the session.
    pub fn end_session(&self) -> String {
        format!("{}=; {}", self.session_cookie(), self.attrs(0))
    }

    /// The user of a valid, unexpired session cookie value.
    pub fn session_user(&self, value: &str, now: i64) -> Option<String> {
        let (body, tag) = value.rsplit_once('.')?;
        let tag = B64.decode(tag).ok()?;
        if !ct_eq(&mac(&self.session, body.as_bytes()), &tag) {
            return None;
        }
        let (user, exp) = body.split_once('.')?;
        let exp: i64 = exp.parse().ok()?;
        if now >= exp {
            return None;
        }
        String::from_utf8(B64.decode(user).ok()?).ok()
    }

    /// `Set-Cookie` value for a CSRF token.
    pub fn csrf_set_cookie(&self, token: &str) -> String {
        format!(
            "{}={token}; {}",
            self.csrf_cookie(),
            self.attrs(SESSION_TTL_SECS)
        )
    }

    /// Signs a value for a hidden form field, valid until `exp`.
    pub fn seal<T: Serialize>(&self, value: &T, exp: i64) -> String {
        let json = serde_json::to_vec(&(exp, value)).unwrap_or_default();
        let body = B64.encode(json);
        let tag = B64.encode(mac(&self.request, body.as_bytes()));
        format!("{body}.{tag}")
    }

    /// Opens a sealed value if its signature verifies and it has not expired.
    pub fn open<T: DeserializeOwned>(&self, sealed: &str, now: i64) -> Option<T> {
        let (body, tag) = sealed.split_once('.')?;
        let tag = B64.decode(tag).ok()?;
        if !ct_eq(&mac(&self.request, body.as_bytes()), &tag) {
            return None;
        }
        let (exp, value): (i64, T) = serde_json::from_slice(&B64.decode(body).ok()?).ok()?;
        (now < exp).then_some(value)
    }
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'h>(header: Option<&'h str>, name: &str) -> Option<&'h str> {
    header?
        .split(';')
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(issuer: &str) -> Keys {
        let config = Config::from_vars(|n| match n {
            "MCPGATE_ISSUER" => Some(issuer.into()),
            "MCPGATE_SECRET" | "MCPGATE_ADMIN_TOKEN" => {
                Some("0123456789abcdef0123456789abcdef".into())
            }
            _ => None,
        })
        .unwrap();
        Keys::new(&config)
    }

    #[test]
    fn session_cookie_round_trips_and_rejects_tampering_and_expiry() {
        let k = keys("https://as.example");
        let set = k.start_session("usr_1", 100);
        assert!(set.starts_with("__Host-mcpgate-session="));
        assert!(set.contains("Secure") && set.contains("HttpOnly") && set.contains("SameSite=Lax"));
        let value = set.split(';').next().unwrap().split_once('=').unwrap().1;
        assert_eq!(k.session_user(value, 200).as_deref(), Some("usr_1"));
        assert_eq!(k.session_user(value, 100 + SESSION_TTL_SECS), None);
        let mut forged = value.to_owned();
        forged.replace_range(0..1, "x");
        assert_eq!(k.session_user(&forged, 200), None);
        assert_eq!(
            keys("https://other.example")
                .session_user(value, 200)
                .as_deref(),
            Some("usr_1"),
            "same secret"
        );
    }

    #[test]
    fn sealed_values_expire_and_detect_tampering() {
        let k = keys("http://127.0.0.1:8787");
        assert_eq!(k.session_cookie(), "mcpgate-session");
        let s = k.seal(&vec!["a".to_string()], 50);
        assert_eq!(k.open::<Vec<String>>(&s, 49), Some(vec!["a".to_string()]));
        assert_eq!(k.open::<Vec<String>>(&s, 50), None);
        assert_eq!(k.open::<Vec<String>>(&format!("x{s}"), 49), None);
    }

    #[test]
    fn reads_one_cookie_from_a_header() {
        assert_eq!(cookie(Some("a=1; b=2"), "b"), Some("2"));
        assert_eq!(cookie(Some("a=1"), "c"), None);
        assert_eq!(cookie(None, "a"), None);
    }
}
