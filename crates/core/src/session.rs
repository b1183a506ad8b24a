//! Browser state for the login and consent pages: a session cookie naming a server-side session
//! (`store/sessions.rs`; the cookie's MAC only spares the database forged values), a CSRF cookie
//! (double submit), a device cookie that marks a browser a user signed in from before (so that
//! guessing from elsewhere cannot lock them out), and signed authorization requests carried
//! through the consent form.
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
/// Lifetime of a device cookie (seconds): 90 days.
pub const DEVICE_TTL_SECS: i64 = 90 * 86_400;

/// Keys derived from the root secret for browser state.
pub struct Keys {
    session: [u8; 32],
    request: [u8; 32],
    device: [u8; 32],
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
    /// Derives the keys from the root secret; `secure` when the issuer is https (cookies get
    /// the `__Host-` prefix and `Secure`). [`Config`] holds the keys of a deployment.
    pub(crate) fn new(secret: &str, secure: bool) -> Self {
        Keys {
            session: derive(secret, b"mcpgate/session/v1"),
            request: derive(secret, b"mcpgate/authorization-request/v1"),
            device: derive(secret, b"mcpgate/device/v1"),
            secure,
        }
    }

    /// The keys of a deployment.
    pub fn of(config: &Config) -> &Keys {
        &config.derived.browser
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

    /// Cookie name for the device cookie.
    pub fn device_cookie(&self) -> &'static str {
        if self.secure {
            "__Host-mcpgate-device"
        } else {
            "mcpgate-device"
        }
    }

    /// A new session id for `user_id` and the `Set-Cookie` value carrying it. The session itself
    /// is the row `store::sessions` keeps under the id's digest. The id names its user
    /// (`random~user`, see [`Keys::session_user_hint`]) so that a request can read the session
    /// and the user's permissions in one batch.
    pub fn start_session(
        &self,
        user_id: &str,
        rng: &mut dyn rand_core::CryptoRngCore,
    ) -> (String, String) {
        let sid = format!("{}~{user_id}", crate::secret::random_b64(rng, 32));
        let tag = B64.encode(mac(&self.session, sid.as_bytes()));
        let cookie = format!(
            "{}={sid}.{tag}; {}",
            self.session_cookie(),
            self.attrs(SESSION_TTL_SECS)
        );
        (sid, cookie)
    }

    /// `Set-Cookie` value ending the session.
    pub fn end_session(&self) -> String {
        format!("{}=; {}", self.session_cookie(), self.attrs(0))
    }

    /// The session id in a session cookie value, if its MAC verifies (whether the session is
    /// live is the store's question).
    pub fn session_id<'v>(&self, value: &'v str) -> Option<&'v str> {
        let (sid, tag) = value.rsplit_once('.')?;
        let tag = B64.decode(tag).ok()?;
        ct_eq(&mac(&self.session, sid.as_bytes()), &tag).then_some(sid)
    }

    /// The user a session id names (sessions started before ids named their user: `None`).
    /// A hint for reading ahead only: who is signed in is the session row's answer.
    pub fn session_user_hint(sid: &str) -> Option<&str> {
        sid.split_once('~').map(|(_, user)| user)
    }

    /// `Set-Cookie` value marking this browser as one `username` signed in from (a fresh
    /// device id, or `device` again).
    pub fn device_set_cookie(&self, username: &str, device: &str, now: i64) -> String {
        let body = format!(
            "{device}.{}.{}",
            B64.encode(username),
            now + DEVICE_TTL_SECS
        );
        let tag = B64.encode(mac(&self.device, body.as_bytes()));
        format!(
            "{}={body}.{tag}; {}",
            self.device_cookie(),
            self.attrs(DEVICE_TTL_SECS)
        )
    }

    /// The device id of a valid, unexpired device cookie issued for `username`.
    pub fn device_for<'v>(&self, value: &'v str, username: &str, now: i64) -> Option<&'v str> {
        let (body, tag) = value.rsplit_once('.')?;
        let tag = B64.decode(tag).ok()?;
        if !ct_eq(&mac(&self.device, body.as_bytes()), &tag) {
            return None;
        }
        let mut parts = body.splitn(3, '.');
        let (device, user, exp) = (parts.next()?, parts.next()?, parts.next()?);
        let exp: i64 = exp.parse().ok()?;
        (now < exp && B64.decode(user).ok()? == username.as_bytes()).then_some(device)
    }

    /// Cookie name for an upstream sign-in in progress (its state, nonce and PKCE verifier,
    /// sealed: `endpoints/authorize/upstream.rs`).
    pub fn upstream_cookie(&self) -> &'static str {
        if self.secure {
            "__Host-mcpgate-upstream"
        } else {
            "mcpgate-upstream"
        }
    }

    /// `Set-Cookie` value carrying an upstream sign-in for `max_age` seconds (`SameSite=Lax`:
    /// the provider sends the browser back with a top-level GET, which carries it).
    pub fn upstream_set_cookie(&self, sealed: &str, max_age: i64) -> String {
        format!(
            "{}={sealed}; {}",
            self.upstream_cookie(),
            self.attrs(max_age)
        )
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
        Keys::new(config.secret.expose(), issuer.starts_with("https://"))
    }

    fn value(set_cookie: &str) -> &str {
        set_cookie
            .split(';')
            .next()
            .unwrap()
            .split_once('=')
            .unwrap()
            .1
    }

    #[test]
    fn session_cookie_carries_a_random_id_and_rejects_tampering() {
        let k = keys("https://as.example");
        let mut rng = crate::testing::TestRng::new(1);
        let (sid, set) = k.start_session("usr_1", &mut rng);
        assert!(set.starts_with("__Host-mcpgate-session="));
        assert!(set.contains("Secure") && set.contains("HttpOnly") && set.contains("SameSite=Lax"));
        assert!(sid.len() >= 43, "256 bits");
        assert_eq!(k.session_id(value(&set)), Some(sid.as_str()));
        let mut forged = value(&set).to_owned();
        forged.replace_range(0..1, "x");
        assert_eq!(k.session_id(&forged), None);
        assert_ne!(k.start_session("usr_1", &mut rng).0, sid);
        assert_eq!(Keys::session_user_hint(&sid), Some("usr_1"));
    }

    #[test]
    fn device_cookie_names_its_user_and_expires() {
        let k = keys("https://as.example");
        let set = k.device_set_cookie("alice", "dev1", 100);
        assert!(set.starts_with("__Host-mcpgate-device="));
        let v = value(&set);
        assert_eq!(k.device_for(v, "alice", 200), Some("dev1"));
        assert_eq!(k.device_for(v, "bob", 200), None);
        assert_eq!(k.device_for(v, "alice", 100 + DEVICE_TTL_SECS), None);
        let forged = v.replace("dev1", "dev2");
        assert_eq!(k.device_for(&forged, "alice", 200), None);
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
