//! Deployment configuration, read from Worker vars and secrets through a lookup function so the
//! core never touches the runtime's environment.

use crate::keys::MIN_SECRET_LEN;
use crate::secret::Secret;

/// Default upper bound of any access token's lifetime (seconds). A retired signing key stays
/// published at least this long.
pub const DEFAULT_MAX_TOKEN_TTL_SECS: i64 = 3600;

/// Default age after which the scheduled handler rotates the signing key (days).
pub const DEFAULT_KEY_ROTATION_DAYS: i64 = 30;

/// Parsed configuration.
#[derive(Debug)]
pub struct Config {
    /// Canonical issuer identifier: scheme and host lower-case, no trailing slash, no query.
    pub issuer: String,
    /// The issuer's path ("" when the issuer has none), a prefix of every endpoint.
    pub issuer_path: String,
    /// Root secret: the signing-key encryption key and other server-side keys derive from it.
    pub secret: Secret,
    /// Bootstrap admin credential.
    pub admin_token: Secret,
    /// Upper bound of access-token lifetimes (seconds).
    pub max_token_ttl: i64,
    /// Signing-key rotation period (seconds).
    pub key_rotation_period: i64,
    /// Client self-registration (RFC 7591 and metadata documents).
    pub registration: Registration,
    /// Audit records older than this many seconds are pruned by the cron task (`None`: kept).
    pub audit_retention: Option<i64>,
    /// Whether people may sign in with a password stored here (`false`: only through upstream
    /// identity providers).
    pub password_signin: bool,
    /// The admin console's script and stylesheet: none unless the runtime embeds them.
    pub console_assets: crate::endpoints::console::Assets,
    /// The keys derived from `secret`, derived once with the configuration (an isolate reads
    /// its configuration once) rather than once per request.
    pub(crate) derived: Derived,
}

/// Keys derived from the root secret with HKDF-SHA256.
pub(crate) struct Derived {
    /// Seals signing keys at rest.
    pub kek: crate::keys::KeyEncryptionKey,
    /// Seals authorization codes.
    pub code: crate::store::codes::CodeKey,
    /// MACs browser state (session, authorization request and device cookies).
    pub browser: crate::session::Keys,
}

impl Derived {
    fn new(secret: &Secret, issuer: &str) -> Self {
        Derived {
            kek: crate::keys::KeyEncryptionKey::derive(secret.expose()),
            code: crate::store::codes::CodeKey::derive(secret.expose()),
            browser: crate::session::Keys::new(secret.expose(), issuer.starts_with("https://")),
        }
    }
}

impl std::fmt::Debug for Derived {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Derived(..)")
    }
}

/// Policy for clients that register themselves.
#[derive(Debug)]
pub struct Registration {
    /// Whether `POST /register` accepts registrations.
    pub open: bool,
    /// If set, registrations must present it as a bearer initial access token (RFC 7591 §3).
    pub initial_access_token: Option<Secret>,
    /// Registrations per source address per hour.
    pub per_source_per_hour: i64,
    /// Registrations per hour, all sources together.
    pub global_per_hour: i64,
    /// Registered clients never used within this many days are deleted by the cron task.
    pub unused_days: i64,
    /// Whether https `client_id`s name Client ID Metadata Documents.
    pub metadata_documents: bool,
    /// If non-empty, metadata-document clients must be on these domains (suffix match).
    pub allow_domains: Vec<String>,
    /// Metadata-document clients on these domains are refused (suffix match).
    pub deny_domains: Vec<String>,
    /// Testing only: accept `http://` loopback metadata-document URLs. Off by default.
    pub allow_http_loopback_documents: bool,
}

impl Config {
    /// The settings an admin may see (never a secret: only whether one is set).
    pub fn settings_view(&self) -> serde_json::Value {
        let r = &self.registration;
        serde_json::json!({
            "registration": {
                "open": r.open,
                "initial_access_token_required": r.initial_access_token.is_some(),
                "per_source_per_hour": r.per_source_per_hour,
                "global_per_hour": r.global_per_hour,
                "unused_days": r.unused_days,
                "client_metadata_documents": r.metadata_documents,
                "client_domains_allow": r.allow_domains,
                "client_domains_deny": r.deny_domains,
            },
            "password_signin": self.password_signin,
            "max_token_ttl": self.max_token_ttl,
            "key_rotation_days": self.key_rotation_period / 86_400,
            "audit_retention_days": self.audit_retention.map(|s| s / 86_400),
        })
    }
}

/// Names of the vars and secrets.
pub mod vars {
    /// Issuer URL (var).
    pub const ISSUER: &str = "MCPGATE_ISSUER";
    /// Root secret (secret).
    pub const SECRET: &str = "MCPGATE_SECRET";
    /// Bootstrap admin token (secret).
    pub const ADMIN_TOKEN: &str = "MCPGATE_ADMIN_TOKEN";
    /// Maximum access-token lifetime in seconds (var, optional).
    pub const MAX_TOKEN_TTL: &str = "MCPGATE_MAX_TOKEN_TTL_SECS";
    /// Key rotation period in days (var, optional).
    pub const KEY_ROTATION_DAYS: &str = "MCPGATE_KEY_ROTATION_DAYS";
    /// `true`/`false`: accept dynamic client registration (var, default true).
    pub const REGISTRATION_OPEN: &str = "MCPGATE_REGISTRATION_OPEN";
    /// Initial access token required for registration (secret, optional).
    pub const REGISTRATION_TOKEN: &str = "MCPGATE_REGISTRATION_TOKEN";
    /// Registrations per source per hour (var, default 20).
    pub const REGISTRATION_PER_SOURCE: &str = "MCPGATE_REGISTRATION_PER_SOURCE_PER_HOUR";
    /// Registrations per hour overall (var, default 1000).
    pub const REGISTRATION_GLOBAL: &str = "MCPGATE_REGISTRATION_GLOBAL_PER_HOUR";
    /// Days after which never-used registrations are deleted (var, default 30).
    pub const UNUSED_REGISTRATION_DAYS: &str = "MCPGATE_UNUSED_REGISTRATION_DAYS";
    /// Days audit records are kept; 0 keeps them forever (var, default 365).
    pub const AUDIT_RETENTION_DAYS: &str = "MCPGATE_AUDIT_RETENTION_DAYS";
    /// `true`/`false`: Client ID Metadata Documents (var, default true).
    pub const CIMD: &str = "MCPGATE_CLIENT_METADATA_DOCUMENTS";
    /// Comma-separated domains metadata-document clients must belong to (var, optional).
    pub const CIMD_ALLOW: &str = "MCPGATE_CLIENT_DOMAINS_ALLOW";
    /// Comma-separated domains refused (var, optional).
    pub const CIMD_DENY: &str = "MCPGATE_CLIENT_DOMAINS_DENY";
    /// `true`: accept http loopback metadata-document URLs, for local testing only.
    pub const CIMD_HTTP_LOOPBACK: &str = "MCPGATE_INSECURE_LOOPBACK_CLIENT_METADATA";
    /// `false`: no password sign-in; people sign in only through upstream identity providers.
    pub const PASSWORD_SIGNIN: &str = "MCPGATE_PASSWORD_SIGNIN";
}

/// What is wrong with the configuration: one line per problem, naming the variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub Vec<String>);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "mcpgate is misconfigured: {}", self.0.join("; "))
    }
}

impl Config {
    /// Reads the configuration; `get` returns a var or secret by name.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let mut problems = Vec::new();
        let issuer = match get(vars::ISSUER) {
            None => {
                problems.push(format!("{} is not set", vars::ISSUER));
                None
            }
            Some(raw) => match canonical_issuer(raw.trim()) {
                Ok(i) => Some(i),
                Err(why) => {
                    problems.push(format!("{} {why}", vars::ISSUER));
                    None
                }
            },
        };
        let mut secret_var = |name: &str| match get(name) {
            Some(s) if s.len() >= MIN_SECRET_LEN => Some(Secret::new(s)),
            Some(_) => {
                problems.push(format!(
                    "{name} must be at least {MIN_SECRET_LEN} characters (set it with `wrangler secret put {name}`)"
                ));
                None
            }
            None => {
                problems.push(format!(
                    "{name} is not set (set it with `wrangler secret put {name}`)"
                ));
                None
            }
        };
        let secret = secret_var(vars::SECRET);
        let admin_token = secret_var(vars::ADMIN_TOKEN);
        let mut int_var = |name: &str, default: i64, min: i64, max: i64| match get(name) {
            None => default,
            Some(v) => match v.trim().parse::<i64>() {
                Ok(n) if (min..=max).contains(&n) => n,
                _ => {
                    problems.push(format!("{name} must be an integer in {min}..={max}"));
                    default
                }
            },
        };
        let max_token_ttl = int_var(vars::MAX_TOKEN_TTL, DEFAULT_MAX_TOKEN_TTL_SECS, 60, 86_400);
        let per_source = int_var(vars::REGISTRATION_PER_SOURCE, 20, 1, 1_000_000);
        let global = int_var(vars::REGISTRATION_GLOBAL, 1000, 1, 100_000_000);
        let unused_days = int_var(vars::UNUSED_REGISTRATION_DAYS, 30, 1, 3650);
        let audit_days = int_var(vars::AUDIT_RETENTION_DAYS, 365, 0, 36_500);
        let rotation_days = int_var(vars::KEY_ROTATION_DAYS, DEFAULT_KEY_ROTATION_DAYS, 1, 365);
        let mut bool_var = |name: &str, default: bool| match get(name).as_deref().map(str::trim) {
            None => default,
            Some("true" | "1" | "yes") => true,
            Some("false" | "0" | "no") => false,
            Some(_) => {
                problems.push(format!("{name} must be true or false"));
                default
            }
        };
        let open = bool_var(vars::REGISTRATION_OPEN, true);
        let cimd = bool_var(vars::CIMD, true);
        let http_loopback = bool_var(vars::CIMD_HTTP_LOOPBACK, false);
        let password_signin = bool_var(vars::PASSWORD_SIGNIN, true);
        let domains = |name: &str| -> Vec<String> {
            get(name)
                .map(|v| {
                    v.split(',')
                        .map(|d| d.trim().trim_start_matches('.').to_ascii_lowercase())
                        .filter(|d| !d.is_empty())
                        .collect()
                })
                .unwrap_or_default()
        };
        let registration = Registration {
            open,
            initial_access_token: get(vars::REGISTRATION_TOKEN)
                .filter(|t| !t.is_empty())
                .map(Secret::new),
            per_source_per_hour: per_source,
            global_per_hour: global,
            unused_days,
            metadata_documents: cimd,
            allow_domains: domains(vars::CIMD_ALLOW),
            deny_domains: domains(vars::CIMD_DENY),
            allow_http_loopback_documents: http_loopback,
        };
        match (issuer, secret, admin_token) {
            (Some((issuer, issuer_path)), Some(secret), Some(admin_token))
                if problems.is_empty() =>
            {
                Ok(Config {
                    derived: Derived::new(&secret, &issuer),
                    issuer,
                    issuer_path,
                    secret,
                    admin_token,
                    max_token_ttl,
                    key_rotation_period: rotation_days * 86_400,
                    registration,
                    audit_retention: (audit_days > 0).then_some(audit_days * 86_400),
                    password_signin,
                    console_assets: Default::default(),
                })
            }
            _ => Err(ConfigError(problems)),
        }
    }
}

/// Checks an issuer URL (RFC 8414 §2: https, no query or fragment) and returns it in canonical
/// form with its path. Plain http is allowed only for loopback hosts (local development).
pub fn canonical_issuer(raw: &str) -> Result<(String, String), &'static str> {
    let url = crate::uri::AbsoluteUri::parse(raw).map_err(|_| "is not an absolute URL")?;
    if url.query.is_some() || url.fragment.is_some() {
        return Err("must not have a query or fragment");
    }
    match url.scheme.as_str() {
        "https" => {}
        "http" if url.is_loopback() => {}
        _ => return Err("must be https (http only for loopback hosts)"),
    }
    let path = url.path.trim_end_matches('/').to_owned();
    let issuer = format!("{}{}", url.origin(), path);
    Ok((issuer, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let owned: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            owned
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    const S: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn issuer_is_canonicalised_without_trailing_slash() {
        let c = Config::from_vars(vars(&[
            (vars::ISSUER, "HTTPS://Auth.Example.COM/"),
            (vars::SECRET, S),
            (vars::ADMIN_TOKEN, S),
        ]))
        .unwrap();
        assert_eq!(c.issuer, "https://auth.example.com");
        assert_eq!(c.issuer_path, "");
        let (i, p) = canonical_issuer("https://example.com/tenant/a/").unwrap();
        assert_eq!(
            (i.as_str(), p.as_str()),
            ("https://example.com/tenant/a", "/tenant/a")
        );
    }

    #[test]
    fn missing_secret_is_a_clear_error_naming_the_variable() {
        let err = Config::from_vars(vars(&[(vars::ISSUER, "https://a.example")])).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("MCPGATE_SECRET is not set"), "{text}");
        assert!(text.contains("MCPGATE_ADMIN_TOKEN is not set"), "{text}");
    }

    #[test]
    fn short_secret_and_plain_http_issuer_are_rejected() {
        let err = Config::from_vars(vars(&[
            (vars::ISSUER, "http://auth.example.com"),
            (vars::SECRET, "short"),
            (vars::ADMIN_TOKEN, S),
        ]))
        .unwrap_err();
        assert_eq!(err.0.len(), 2, "{err}");
        assert!(canonical_issuer("http://127.0.0.1:8787").is_ok());
        assert!(canonical_issuer("http://localhost:8787").is_ok());
        assert!(canonical_issuer("https://a.example?x=1").is_err());
        assert!(canonical_issuer("https://a.example#f").is_err());
    }

    #[test]
    fn numeric_settings_are_range_checked() {
        let err = Config::from_vars(vars(&[
            (vars::ISSUER, "https://a.example"),
            (vars::SECRET, S),
            (vars::ADMIN_TOKEN, S),
            (vars::MAX_TOKEN_TTL, "5"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains(vars::MAX_TOKEN_TTL));
    }
}
