//! Upstream identity providers (tables `identity_providers`, `federated_identities`,
//! `group_mappings`): the rows and every statement that writes them. A provider is an OpenID
//! Connect issuer people sign in with; an upstream identity is keyed by (provider, subject) and
//! names one user; a group mapping puts the users whose groups claim holds a value in a group.
//! The admin API's handlers are in `endpoints/admin/identity_providers.rs`; the sign-in flow is
//! `federation/`.

use serde::{Deserialize, Serialize};

use super::Status;
use crate::stmt;
use crate::store::{decode, decode_first, Database, SqlValue, Stmt, StoreError};

/// Who may sign in through a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provisioning {
    /// A user is created at the first sign-in (just in time).
    Jit,
    /// Only users an admin created and linked (or the verified-email rule linked).
    Existing,
}

impl Provisioning {
    /// Storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Provisioning::Jit => "jit",
            Provisioning::Existing => "existing",
        }
    }
}

/// A provider as stored (the sealed client secret never leaves the server).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Provider {
    /// Opaque id (`idp_...`), also the last segment of its redirect URI.
    pub id: String,
    /// The issuer identifier: discovery is read from it, ID tokens must name it exactly.
    pub issuer: String,
    /// Shown on the login page ("Sign in with …") and in errors.
    pub display_name: String,
    /// The login page's button text, if not "Sign in with <display name>".
    pub button_label: Option<String>,
    /// mcpgate's client id at the provider.
    pub client_id: String,
    /// The client secret at the provider, sealed (`None`: a public client, PKCE only).
    pub client_secret_sealed: Option<String>,
    /// Scopes requested upstream (space-separated, `openid` always among them).
    pub scopes: String,
    /// Email domains whose users are sent to this provider from the login form (JSON array).
    pub email_domains: String,
    /// Just-in-time users or existing users only.
    pub provisioning: Provisioning,
    /// 1: a first sign-in whose verified email equals an existing username links to that user.
    pub link_verified_email: i64,
    /// The ID token claim that lists the user's upstream groups.
    pub groups_claim: String,
    /// 1: identity assertions (ID-JAG) issued by this provider are accepted at `/token`.
    pub id_jag: i64,
    /// `active` or `disabled` (no sign-in, no assertion accepted).
    pub status: Status,
    /// Created (unix seconds).
    pub created_at: i64,
    /// Last changed.
    pub updated_at: i64,
}

impl Provider {
    /// The email domains that route to this provider.
    pub fn domains(&self) -> Vec<String> {
        serde_json::from_str(&self.email_domains).unwrap_or_default()
    }

    /// Whether `email`'s domain is one of this provider's (case-insensitive).
    pub fn serves_email(&self, email: &str) -> bool {
        email.trim().rsplit_once('@').is_some_and(|(_, domain)| {
            let domain = domain.to_ascii_lowercase();
            self.domains().contains(&domain)
        })
    }
}

/// A group mapping: users whose groups claim holds `value` are members of `group_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mapping {
    /// A value of the groups claim.
    pub value: String,
    /// The group its holders join.
    pub group_id: String,
}

/// An upstream identity linked to a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The provider.
    pub provider_id: String,
    /// The provider's `sub`.
    pub subject: String,
    /// The user.
    pub user_id: String,
    /// The email the provider last asserted, if any (informational).
    pub email: Option<String>,
    /// Linked (unix seconds).
    pub created_at: i64,
    /// Last sign-in through it.
    pub last_sign_in_at: Option<i64>,
}

/// Loads a provider.
pub async fn get_row<D: Database + ?Sized>(
    db: &D,
    id: &str,
) -> Result<Option<Provider>, StoreError> {
    decode_first(db.query(get_stmt(id)).await?)
}

/// Reads a provider.
pub fn get_stmt(id: &str) -> Stmt {
    stmt!("SELECT * FROM identity_providers WHERE id = ?1", id)
}

/// Reads a provider by issuer.
pub fn by_issuer_stmt(issuer: &str) -> Stmt {
    stmt!("SELECT * FROM identity_providers WHERE issuer = ?1", issuer)
}

/// The active providers, for the login page (a deployment has a handful).
pub fn active_stmt() -> Stmt {
    stmt!(
        "SELECT * FROM identity_providers WHERE status = 'active' ORDER BY display_name, id LIMIT 20"
    )
}

/// One page of providers after `after` (keyset by id): `?1` after, `?2` limit.
pub const LIST_PAGE: &str = "SELECT * FROM identity_providers WHERE id > ?1 ORDER BY id LIMIT ?2";

/// A provider's settings as written (all of them; unchanged ones carry their current value).
pub struct Settings<'a> {
    /// Id.
    pub id: &'a str,
    /// Issuer.
    pub issuer: &'a str,
    /// Display name.
    pub display_name: &'a str,
    /// Button text.
    pub button_label: Option<&'a str>,
    /// Client id at the provider.
    pub client_id: &'a str,
    /// Sealed client secret.
    pub client_secret_sealed: Option<&'a str>,
    /// Scopes requested upstream.
    pub scopes: &'a str,
    /// Email domains (JSON array).
    pub email_domains: &'a str,
    /// Provisioning.
    pub provisioning: Provisioning,
    /// Link first sign-ins by verified email.
    pub link_verified_email: bool,
    /// Groups claim.
    pub groups_claim: &'a str,
    /// Accept ID-JAG assertions.
    pub id_jag: bool,
    /// Status.
    pub status: Status,
    /// Now.
    pub now: i64,
}

/// The parameters [`insert_stmt`] and [`update_stmt`] both bind, in this order.
fn settings_values(p: &Settings<'_>) -> Vec<SqlValue> {
    vec![
        p.id.into(),
        p.issuer.into(),
        p.display_name.into(),
        p.client_id.into(),
        p.client_secret_sealed.into(),
        p.scopes.into(),
        p.email_domains.into(),
        p.provisioning.as_str().into(),
        i64::from(p.link_verified_email).into(),
        p.groups_claim.into(),
        i64::from(p.id_jag).into(),
        p.status.as_str().into(),
        p.now.into(),
        p.button_label.into(),
    ]
}

/// Inserts a provider (`Conflict` on a duplicate issuer).
pub fn insert_stmt(p: &Settings<'_>) -> Stmt {
    Stmt::new(
        "INSERT INTO identity_providers (id, issuer, display_name, client_id, client_secret_sealed, scopes, \
         email_domains, provisioning, link_verified_email, groups_claim, id_jag, status, created_at, updated_at, \
         button_label) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13, ?14)",
        settings_values(p),
    )
}

/// Updates a provider (`Conflict` on a duplicate issuer).
pub fn update_stmt(p: &Settings<'_>) -> Stmt {
    Stmt::new(
        "UPDATE identity_providers SET issuer = ?2, display_name = ?3, client_id = ?4, client_secret_sealed = ?5, \
         scopes = ?6, email_domains = ?7, provisioning = ?8, link_verified_email = ?9, groups_claim = ?10, \
         id_jag = ?11, status = ?12, updated_at = ?13, button_label = ?14 WHERE id = ?1",
        settings_values(p),
    )
}

/// Deletes a provider: its identities and mappings go with it, and the memberships its mappings
/// made. Users stay (an admin decides about them).
pub fn delete_stmt(id: &str) -> Stmt {
    stmt!("DELETE FROM identity_providers WHERE id = ?1", id)
}

/// A provider's group mappings.
pub fn mappings_stmt(provider: &str) -> Stmt {
    stmt!(
        "SELECT value, group_id FROM group_mappings WHERE provider_id = ?1 ORDER BY value, group_id",
        provider
    )
}

/// Loads a provider's group mappings.
pub async fn mappings<D: Database + ?Sized>(
    db: &D,
    provider: &str,
) -> Result<Vec<Mapping>, StoreError> {
    decode(db.query(mappings_stmt(provider)).await?)
}

/// Replaces a provider's group mappings (`Conflict` if a group does not exist).
pub fn replace_mappings_stmts(provider: &str, mappings: &[Mapping]) -> Vec<Stmt> {
    let json = serde_json::to_string(mappings).unwrap_or_else(|_| "[]".into());
    vec![
        stmt!("DELETE FROM group_mappings WHERE provider_id = ?1", provider),
        stmt!(
            "INSERT INTO group_mappings (provider_id, value, group_id) \
             SELECT DISTINCT ?1, json_extract(m.value, '$.value'), json_extract(m.value, '$.group_id') \
             FROM json_each(?2) AS m",
            provider,
            json
        ),
    ]
}

/// The user an upstream identity names, and whether that user may sign in.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Linked {
    /// The user.
    pub user_id: String,
    /// The user's status.
    pub status: Status,
}

/// The user an upstream identity names, with the user's status ([`Linked`]).
pub fn identity_stmt(provider: &str, subject: &str) -> Stmt {
    stmt!(
        "SELECT f.user_id AS user_id, u.status AS status FROM federated_identities f \
         JOIN users u ON u.id = f.user_id WHERE f.provider_id = ?1 AND f.subject = ?2",
        provider,
        subject
    )
}

/// Loads the user an upstream identity names, if it is linked.
pub async fn linked<D: Database + ?Sized>(
    db: &D,
    provider: &str,
    subject: &str,
) -> Result<Option<Linked>, StoreError> {
    decode_first(db.query(identity_stmt(provider, subject)).await?)
}

/// Links an upstream identity to a user (`Conflict` if the identity is linked already).
pub fn link_stmt(provider: &str, subject: &str, user: &str, email: Option<&str>, now: i64) -> Stmt {
    stmt!(
        "INSERT INTO federated_identities (provider_id, subject, user_id, email, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
        provider,
        subject,
        user,
        email,
        now
    )
}

/// Records a sign-in through an identity (and the email it asserted this time).
pub fn signed_in_stmt(provider: &str, subject: &str, email: Option<&str>, now: i64) -> Stmt {
    stmt!(
        "UPDATE federated_identities SET last_sign_in_at = ?3, email = ?4 \
         WHERE provider_id = ?1 AND subject = ?2",
        provider,
        subject,
        now,
        email
    )
}

/// Unlinks an upstream identity from a user.
pub fn unlink_stmt(provider: &str, subject: &str, user: &str) -> Stmt {
    stmt!(
        "DELETE FROM federated_identities WHERE provider_id = ?1 AND subject = ?2 AND user_id = ?3",
        provider,
        subject,
        user
    )
}

/// The upstream identities linked to a user.
pub fn user_identities_stmt(user: &str) -> Stmt {
    stmt!(
        "SELECT * FROM federated_identities WHERE user_id = ?1 ORDER BY provider_id, subject",
        user
    )
}

/// Loads the upstream identities linked to a user.
pub async fn user_identities<D: Database + ?Sized>(
    db: &D,
    user: &str,
) -> Result<Vec<Identity>, StoreError> {
    decode(db.query(user_identities_stmt(user)).await?)
}
