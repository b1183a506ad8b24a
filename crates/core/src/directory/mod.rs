//! The directory: resource servers and their scopes, roles, users, groups, clients, role
//! assignments, and the effective permissions derived from them. Each entity module owns its
//! SQL, its input validation and its JSON view; `endpoints::admin` maps HTTP onto them.

pub mod audit;
pub mod clients;
pub mod groups;
pub mod identity_providers;
pub mod permissions;
pub mod resource_servers;
pub mod roles;
pub mod users;
pub mod validate;

use rand_core::CryptoRngCore;
use serde::{Deserialize, Deserializer};

/// A new opaque identifier: `prefix_` + 96 random bits, base64url.
pub fn new_id(prefix: &str, rng: &mut dyn CryptoRngCore) -> String {
    format!("{prefix}_{}", crate::secret::random_b64(rng, 12))
}

/// Deserializes a JSON-array column (stored as TEXT) into a `Vec<String>`.
pub fn json_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let s = String::deserialize(d)?;
    serde_json::from_str(&s).map_err(serde::de::Error::custom)
}

/// Like [`json_list`] for a nullable column.
pub fn json_list_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    let s = Option::<String>::deserialize(d)?;
    s.map(|s| serde_json::from_str(&s).map_err(serde::de::Error::custom))
        .transpose()
}

/// Serializes a list for a JSON-array column.
pub fn to_json_list(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".into())
}

/// SQLite booleans are integers.
pub fn int_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(i64::deserialize(d)? != 0)
}

/// Lifecycle status of users and clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// May sign in / obtain tokens.
    Active,
    /// Holds nothing; every token issued through it is revoked.
    Disabled,
}

impl Status {
    /// Storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Disabled => "disabled",
        }
    }
}
