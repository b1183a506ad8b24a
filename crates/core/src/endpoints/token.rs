//! The token endpoint (RFC 6749 §3.2, OAuth 2.1 §3.2): authorization_code with PKCE,
//! refresh_token with rotation and reuse detection, client_credentials, and token exchange
//! (RFC 8693). Every token is bound to exactly one resource server (RFC 8707) and carries
//! only scopes that survive every bound: requested ∩ held now ∩ the client's ceiling ∩ consent.

use mcpgate_guard::Actor;
use rand_core::CryptoRngCore;
use serde::Deserialize;

use super::client_auth;
use super::target::{self, Target};
use crate::crypto::Crypto;
use crate::directory::clients::{
    self, Client, GRANT_CLIENT_CREDENTIALS, GRANT_CODE, GRANT_REFRESH, GRANT_TOKEN_EXCHANGE,
};
use crate::directory::permissions::{self, Principal};
use crate::issue::{self, Mint, Minted};
use crate::policy::pkce;
use crate::policy::scopes::{self, Scopes};
use crate::revocation::{self, Entry, Kind};
use crate::secret::{generate_secret, sha256_b64};
use crate::service::Service;
use crate::stmt;
use crate::store::{decode_first, Stmt, Store, StoreError};
use crate::wire::form::Params;
use crate::wire::{Error, Request, Response};

/// Absolute lifetime of a refresh-token family (seconds): 30 days.
pub const REFRESH_TTL_SECS: i64 = 30 * 86_400;

/// RFC 8693 token type of an access token.
pub const TOKEN_TYPE_ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";
/// RFC 8693 token type of a JWT.
pub const TOKEN_TYPE_JWT: &str = "urn:ietf:params:oauth:token-type:jwt";

/// Longest delegation chain accepted in token exchange (actors).
pub const MAX_ACTOR_DEPTH: usize = 8;

/// `POST /token`.
pub async fn handle<S: Store + ?Sized, C: Crypto>(
    svc: &Service<'_, S, C>,
    req: &Request,
    now: i64,
    rng: &mut dyn CryptoRngCore,
) -> Result<Response, Error> {
    let params = super::form_body(req)?;
    let grant = params.require("grant_type")?.to_owned();
    let presented = client_auth::presented(req, &params)?;
    if grant == GRANT_CLIENT_CREDENTIALS {
        if let Some(resource) = target::resource_param(&params)? {
            // The hot path: the client and everything about the target in one D1 batch.
            let mut stmts = vec![stmt!(
                "SELECT * FROM clients WHERE id = ?1",
                &presented.client_id
            )];
            stmts.extend(target::stmts(&presented.client_id, &resource));
            let mut rows = svc.store.batch(stmts).await?.into_iter();
            let client =
                client_auth::check(&presented, decode_first(rows.next().unwrap_or_default())?)?;
            cc_preconditions(&client)?;
            let t = target::from_rows(&client, rows.collect())?;
            return client_credentials(svc, &client, &params, t, now, rng).await;
        }
    }
    let client = client_auth::check(
        &presented,
        crate::directory::clients::get_row(svc.store, &presented.client_id).await?,
    )?;
    match grant.as_str() {
        GRANT_CODE => authorization_code(svc, &client, &params, now, rng).await,
        GRANT_REFRESH => refresh(svc, &client, &params, now, rng).await,
        GRANT_CLIENT_CREDENTIALS => {
            cc_preconditions(&client)?;
            let resource = resolve_resource(svc.store, &client, &params).await?;
            let t = load_target(svc.store, &client, &resource).await?;
            client_credentials(svc, &client, &params, t, now, rng).await
        }
        GRANT_TOKEN_EXCHANGE => exchange(svc, &client, &params, now, rng).await,
        _ => Err(Error::UnsupportedGrantType),
    }
}

fn require_grant(client: &Client, grant: &str) -> Result<(), Error> {
    if client.allows_grant(grant) {
        Ok(())
    } else {
        Err(Error::UnauthorizedClient(format!(
            "this client may not use {grant}"
        )))
    }
}

/// Loads the target for a client (one round trip).
async fn load_target<S: Store + ?Sized>(
    db: &S,
    client: &Client,
    identifier: &str,
) -> Result<Target, Error> {
    target::from_rows(
        client,
        db.batch(target::stmts(&client.id, identifier)).await?,
    )
}

/// The resource a client_credentials or exchange request targets: the parameter, or the one
/// resource server a client is restricted to.
async fn resolve_resource<S: Store + ?Sized>(
    db: &S,
    client: &Client,
    params: &Params,
) -> Result<String, Error> {
    if let Some(r) = target::resource_param(params)? {
        return Ok(r);
    }
    let restriction =
        target::restriction_from_rows(db.query(target::restriction_stmt(&client.id)).await?)?;
    match restriction.as_slice() {
        [only] => Ok(only.clone()),
        _ => Err(Error::InvalidTarget(
            "the resource parameter (RFC 8707) is required".into(),
        )),
    }
}

/// Marks the client as used, at most once an hour (for unused-registration cleanup).
async fn touch<S: Store + ?Sized>(db: &S, client: &Client, now: i64) -> Result<(), Error> {
    if client.last_used_at.is_none_or(|t| now - t >= 3600) {
        db.query(stmt!(
            "UPDATE clients SET last_used_at = ?2 WHERE id = ?1",
            &client.id,
            now
        ))
        .await?;
    }
    Ok(())
}

async fn sign<S: Store + ?Sized, C: Crypto>(
    svc: &Service<'_, S, C>,
    m: Mint<'_>,
    now: i64,
    rng: &mut dyn CryptoRngCore,
) -> Result<Minted, Error> {
    let key = svc.key_cache.get(svc.store, &svc.kek, rng, now).await?;
    issue::mint(svc.crypto, &key, &svc.config.issuer, m, now, rng).await
}

// ---------------------------------------------------------------- client_credentials

fn cc_preconditions(client: &Client) -> Result<(), Error> {
    require_grant(client, GRANT_CLIENT_CREDENTIALS)?;
    if !client.is_confidential() {
        return Err(Error::UnauthorizedClient(
            "client_credentials needs a confidential client".into(),
        ));
    }
    Ok(())
}

async fn client_credentials<S: Store + ?Sized, C: Crypto>(
    svc: &Service<'_, S, C>,
    client: &Client,
    params: &Params,
    t: Target,
    now: i64,
    rng: &mut dyn CryptoRngCore,
) -> Result<Response, Error> {
    let requested = scopes::parse(params.get("scope"))?;
    // The client acts for itself: its own role scopes, whatever it asked for beyond them dropped.
    let granted = match &requested {
        Some(r) => scopes::and(r, &t.client_held),
        None => t.client_held.clone(),
    };
    let granted = scopes::non_empty(
        granted,
        "the client holds none of the requested scopes on this resource server",
    )?;
    let m = sign(
        svc,
        Mint {
            sub: &client.id,
            aud: &t.rs.identifier,
            client_id: &client.id,
            scopes: &granted,
            act: None,
            ttl: t.rs.access_token_ttl,
        },
        now,
        rng,
    )
    .await?;
    touch(svc.store, client, now).await?;
    Ok(issue::response(&m, now, None, None))
}

// ---------------------------------------------------------------- authorization_code

#[derive(Deserialize)]
struct CodeRow {
    client_id: String,
    user_id: String,
    resource: String,
    redirect_uri: String,
    scopes: String,
    code_challenge: String,
    expires_at: i64,
    redeemed_at: Option<i64>,
    family_id: Option<String>,
    access_jti: Option<String>,
    access_exp: Option<i64>,
}

const CODE_SELECT: &str = "SELECT * FROM auth_codes WHERE code_hash = ?1";

/// What a user may get through a client on a target now: grant ∩ held ∩ ceiling, bounded by
/// `bound` (the authorization's requested scopes or a narrower refresh request).
fn effective_for_user(bound: &Scopes, consent: &Scopes, held: &Scopes, t: &Target) -> Scopes {
    let s = scopes::and(bound, consent);
    let s = scopes::and(&s, held);
    scopes::and(&s, &t.ceiling)
}

#[derive(Deserialize)]
struct GrantRow {
    scopes: String,
}

/// Statements for a user's view of a target: user permissions (3) and the consent grant (1).
fn user_stmts(user_id: &str, client_id: &str, identifier: &str) -> Vec<Stmt> {
    let mut v = permissions::load_stmts(&Principal::User(user_id.to_owned()), identifier);
    v.push(stmt!(
        "SELECT g.scopes FROM grants g JOIN resource_servers r ON r.id = g.resource_server_id \
         WHERE g.user_id = ?1 AND g.client_id = ?2 AND r.identifier = ?3",
        user_id,
        client_id,
        identifier
    ));
    v
}

/// Loads target, user permissions and consent in one round trip. `None` for held scopes if the
/// user is disabled or gone.
async fn load_user_view<S: Store + ?Sized>(
    db: &S,
    client: &Client,
    user_id: &str,
    identifier: &str,
) -> Result<(Target, Option<Scopes>, Scopes), Error> {
    let mut stmts = target::stmts(&client.id, identifier);
    let n = stmts.len();
    stmts.extend(user_stmts(user_id, &client.id, identifier));
    let mut rows = db.batch(stmts).await?;
    let user_rows = rows.split_off(n.min(rows.len()));
    let t = target::from_rows(client, rows)?;
    let mut it = user_rows.into_iter();
    let perms = permissions::from_rows(it.by_ref().take(3).collect::<Vec<_>>().into_iter())?;
    let held = match perms {
        Some((crate::directory::Status::Active, eff)) => Some(permissions::names(&eff)),
        _ => None,
    };
    let grant: Option<GrantRow> = decode_first(it.next().unwrap_or_default())?;
    let consent = grant
        .map(|g| scopes::from_json(&g.scopes))
        .unwrap_or_default();
    Ok((t, held, consent))
}

/// A user's access token through `client` for `resource` (code redemption and refresh):
/// `bound` (what was authorized) re-evaluated against the directory now, so removed roles drop
/// out and newly held scopes inside the consent appear; the client acts for the user.
async fn sign_for_user<S: Store + ?Sized, C: Crypto>(
    svc: &Service<'_, S, C>,
    client: &Client,
    user_id: &str,
    resource: &str,
    bound: &Scopes,
    now: i64,
    rng: &mut dyn CryptoRngCore,
) -> Result<(Target, Minted), Error> {
    let (t, held, consent) = load_user_view(svc.store, client, user_id, resource).await?;
    let held = held.ok_or_else(|| Error::InvalidGrant("the user is disabled".into()))?;
    let granted = scopes::non_empty(
        effective_for_user(bound, &consent, &held, &t),
        "none of the authorized scopes are held any more",
    )?;
    let m = sign(
        svc,
        Mint {
            sub: user_id,
            aud: &t.rs.identifier,
            client_id: &client.id,
            scopes: &granted,
            act: Some(Actor::new(client.id.clone())),
            ttl: t.rs.access_token_ttl,
        },
        now,
        rng,
    )
    .await?;
    Ok((t, m))
}

/// Revokes a refresh family and the last access token issued from it.
pub async fn revoke_family<S: Store + ?Sized>(
    db: &S,
    family_id: &str,
    reason: &str,
    jti: Option<(String, i64)>,
    now: i64,
) -> Result<(), StoreError> {
    let stmts = vec![stmt!(
        "UPDATE refresh_families SET revoked_at = ?2, revoked_reason = ?3 WHERE id = ?1 AND revoked_at IS NULL",
        family_id,
        now,
        reason
    )];
    let entries: Vec<Entry> = jti
        .filter(|(_, exp)| *exp > now)
        .map(|(jti, exp)| Entry {
            kind: Kind::Jti,
            id: jti,
            revoked_at: now,
            expires_at: exp,
        })
        .into_iter()
        .collect();
    revocation::record(db, &entries, stmts, now).await
}

async fn authorization_code<S: Store + ?Sized, C: Crypto>(
    svc: &Service<'_, S, C>,
    client: &Client,
    params: &Params,
    now: i64,
    rng: &mut dyn CryptoRngCore,
) -> Result<Response, Error> {
    require_grant(client, GRANT_CODE)?;
    let code = params.require("code")?;
    let verifier = params
        .get("code_verifier")
        .ok_or_else(|| Error::InvalidRequest("code_verifier is required (PKCE)".into()))?;
    let redirect_uri = params.require("redirect_uri")?;
    let resource = target::resource_param(params)?;
    let hash = sha256_b64(code.as_bytes());
    // Single use, atomically: one UPDATE ... RETURNING claims the code; a concurrent or later
    // redemption matches nothing.
    let claimed: Option<CodeRow> = decode_first(
        svc.store
            .query(stmt!(
                "UPDATE auth_codes SET redeemed_at = ?2 WHERE code_hash = ?1 AND redeemed_at IS NULL AND expires_at > ?2 \
                 RETURNING *",
                &hash,
                now
            ))
            .await?,
    )?;
    let Some(code_row) = claimed else {
        let existing: Option<CodeRow> =
            decode_first(svc.store.query(stmt!(CODE_SELECT, &hash)).await?)?;
        return match existing {
            Some(c) if c.redeemed_at.is_some() => {
                // RFC 6749 §4.1.2 / RFC 9700 §4.5.3.1: a replayed code revokes what it issued.
                if let Some(f) = &c.family_id {
                    let jti = c.access_jti.clone().zip(c.access_exp);
                    revoke_family(svc.store, f, "authorization code replayed", jti, now).await?;
                }
                Err(Error::InvalidGrant(
                    "authorization code already used".into(),
                ))
            }
            Some(c) if c.expires_at <= now => {
                Err(Error::InvalidGrant("authorization code expired".into()))
            }
            _ => Err(Error::InvalidGrant("unknown authorization code".into())),
        };
    };
    if code_row.client_id != client.id {
        return Err(Error::InvalidGrant(
            "authorization code was issued to another client".into(),
        ));
    }
    if code_row.redirect_uri != redirect_uri {
        return Err(Error::InvalidGrant(
            "redirect_uri does not match the authorization request".into(),
        ));
    }
    if !pkce::verify(verifier, &code_row.code_challenge) {
        return Err(Error::InvalidGrant("PKCE verification failed".into()));
    }
    if resource.as_ref().is_some_and(|r| *r != code_row.resource) {
        return Err(Error::InvalidTarget(
            "resource differs from the authorization request".into(),
        ));
    }
    let bound = scopes::from_json(&code_row.scopes);
    let (t, m) = sign_for_user(
        svc,
        client,
        &code_row.user_id,
        &code_row.resource,
        &bound,
        now,
        rng,
    )
    .await?;
    let mut stmts = Vec::new();
    let mut refresh = None;
    let family_id = if client.allows_grant(GRANT_REFRESH) {
        let fid = crate::directory::new_id("rf", rng);
        let secret = generate_secret(rng);
        stmts.push(stmt!(
            "INSERT INTO refresh_families (id, client_id, user_id, resource_server_id, scopes, generation, access_jti, \
             access_exp, created_at, last_used_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?7, ?8, ?8, ?9)",
            &fid,
            &client.id,
            &code_row.user_id,
            &t.rs.id,
            &code_row.scopes,
            &m.jti,
            m.exp,
            now,
            now + REFRESH_TTL_SECS
        ));
        stmts.push(stmt!(
            "INSERT INTO refresh_tokens (token_hash, family_id, generation, created_at) VALUES (?1, ?2, 1, ?3)",
            secret.digest(),
            &fid,
            now
        ));
        refresh = Some(secret);
        Some(fid)
    } else {
        None
    };
    stmts.push(stmt!(
        "UPDATE auth_codes SET family_id = ?2, access_jti = ?3, access_exp = ?4 WHERE code_hash = ?1",
        &hash,
        family_id,
        &m.jti,
        m.exp
    ));
    stmts.push(stmt!(
        "UPDATE clients SET last_used_at = ?2 WHERE id = ?1",
        &client.id,
        now
    ));
    svc.store.batch(stmts).await?;
    Ok(issue::response(
        &m,
        now,
        refresh.as_ref().map(|s| s.expose()),
        None,
    ))
}

// ---------------------------------------------------------------- refresh_token

#[derive(Deserialize)]
pub(crate) struct FamilyRow {
    pub(crate) id: String,
    pub(crate) client_id: String,
    pub(crate) user_id: String,
    /// The resource server's identifier.
    pub(crate) resource: String,
    pub(crate) scopes: String,
    pub(crate) generation: i64,
    /// The generation of the presented token (older than `generation`: rotated, reused).
    pub(crate) token_generation: i64,
    pub(crate) access_jti: Option<String>,
    pub(crate) access_exp: Option<i64>,
    pub(crate) expires_at: i64,
    pub(crate) revoked_at: Option<i64>,
    pub(crate) created_at: i64,
    pub(crate) user_status: String,
}

/// The refresh family a presented refresh token belongs to (by the token's digest).
pub(crate) async fn family_of<S: Store + ?Sized>(
    db: &S,
    token: &str,
) -> Result<Option<FamilyRow>, Error> {
    Ok(decode_first(
        db.query(stmt!(
            "SELECT f.*, t.generation AS token_generation, r.identifier AS resource, u.status AS user_status \
             FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id \
             JOIN resource_servers r ON r.id = f.resource_server_id JOIN users u ON u.id = f.user_id \
             WHERE t.token_hash = ?1",
            sha256_b64(token.as_bytes())
        ))
        .await?,
    )?)
}

impl FamilyRow {
    /// Not revoked, not rotated past the presented token, not expired.
    pub(crate) fn usable(&self, now: i64) -> bool {
        self.revoked_at.is_none()
            && self.token_generation == self.generation
            && self.expires_at > now
    }
}

async fn refresh<S: Store + ?Sized, C: Crypto>(
    svc: &Service<'_, S, C>,
    client: &Client,
    params: &Params,
    now: i64,
    rng: &mut dyn CryptoRngCore,
) -> Result<Response, Error> {
    require_grant(client, GRANT_REFRESH)?;
    let presented = params.require("refresh_token")?;
    let f = family_of(svc.store, presented)
        .await?
        .ok_or_else(|| Error::InvalidGrant("unknown refresh token".into()))?;
    if f.client_id != client.id {
        return Err(Error::InvalidGrant(
            "refresh token was issued to another client".into(),
        ));
    }
    if f.revoked_at.is_some() {
        return Err(Error::InvalidGrant("refresh token revoked".into()));
    }
    if f.token_generation != f.generation {
        // RFC 9700 §4.14.2: a rotated token used again means it leaked; revoke the family.
        let jti = f.access_jti.clone().zip(f.access_exp);
        revoke_family(svc.store, &f.id, "refresh token reused", jti, now).await?;
        return Err(Error::InvalidGrant(
            "refresh token already used; the whole grant is revoked".into(),
        ));
    }
    if f.expires_at <= now {
        return Err(Error::InvalidGrant("refresh token expired".into()));
    }
    if target::resource_param(params)?.is_some_and(|r| r != f.resource) {
        return Err(Error::InvalidTarget(
            "a refresh keeps the resource of the original authorization".into(),
        ));
    }
    let authorized = scopes::from_json(&f.scopes);
    let bound = match scopes::parse(params.get("scope"))? {
        Some(req) if !req.is_subset(&authorized) => {
            return Err(Error::InvalidScope(
                "a refresh may narrow the scope, never widen it".into(),
            ))
        }
        Some(req) => req,
        None => authorized,
    };
    let (_, m) = sign_for_user(svc, client, &f.user_id, &f.resource, &bound, now, rng).await?;
    let secret = generate_secret(rng);
    let next = f.generation + 1;
    // Rotation: if a concurrent refresh already rotated this generation, the insert below
    // violates UNIQUE (family_id, generation) and the whole batch rolls back.
    let rotated = svc
        .store
        .batch(vec![
            stmt!(
                "UPDATE refresh_families SET generation = ?3, access_jti = ?4, access_exp = ?5, last_used_at = ?6 \
                 WHERE id = ?1 AND generation = ?2 AND revoked_at IS NULL",
                &f.id,
                f.generation,
                next,
                &m.jti,
                m.exp,
                now
            ),
            stmt!(
                "INSERT INTO refresh_tokens (token_hash, family_id, generation, created_at) VALUES (?1, ?2, ?3, ?4)",
                secret.digest(),
                &f.id,
                next,
                now
            ),
        ])
        .await;
    match rotated {
        Ok(_) => {}
        Err(StoreError::Conflict(_)) => {
            return Err(Error::InvalidGrant("refresh token already used".into()));
        }
        Err(e) => return Err(e.into()),
    }
    touch(svc.store, client, now).await?;
    Ok(issue::response(&m, now, Some(secret.expose()), None))
}

// ---------------------------------------------------------------- token exchange

/// An mcpgate access token that passed [`verify_own_token`].
pub struct OwnToken {
    /// Its claims.
    pub claims: mcpgate_guard::AccessClaims,
    /// `iat`.
    pub iat: i64,
    /// `exp`.
    pub exp: i64,
}

/// Verifies an mcpgate access token presented as a subject or actor token, for introspection
/// or to the admin API: signature against the published keys (claims are read only after it
/// verifies), issuer, expiry, the revocation list, and that its subject and client are still
/// active.
pub async fn verify_own_token<S: Store + ?Sized, C: Crypto>(
    svc: &Service<'_, S, C>,
    token: &str,
    now: i64,
    rng: &mut dyn CryptoRngCore,
) -> Result<OwnToken, &'static str> {
    let parsed =
        mcpgate_guard::ParsedToken::parse(token).map_err(|_| "not an mcpgate access token")?;
    let ring = crate::keys::ensure(svc.store, &svc.kek, rng, now)
        .await
        .map_err(|_| "keys unavailable")?;
    let key = ring
        .published(now)
        .into_iter()
        .find(|k| k.kid.as_deref() == Some(parsed.kid()))
        .ok_or("unknown signing key")?;
    let ok = svc
        .crypto
        .verify_es256(&key, parsed.signing_input(), parsed.signature())
        .await;
    // Claims are read only after the signature verified.
    let claims = parsed.claims_if_verified(ok).map_err(|_| "bad signature")?;
    mcpgate_guard::token::check_times(&claims, mcpgate_guard::token::DEFAULT_LEEWAY_SECS, now)
        .map_err(|_| "expired or not yet valid")?;
    let iat = claims.issued_at.map(|t| t.timestamp()).unwrap_or_default();
    let exp = claims.expiration.map(|t| t.timestamp()).unwrap_or_default();
    let c = claims.custom;
    if c.iss != svc.config.issuer {
        return Err("issued by someone else");
    }
    let rows = svc
        .store
        .batch(vec![
            revocation::lookup_stmt(&c, now),
            stmt!(
                "SELECT (SELECT count(*) FROM users WHERE id = ?1 AND status = 'active') + \
                 (SELECT count(*) FROM clients WHERE id = ?1 AND status = 'active') AS n",
                &c.sub
            ),
            stmt!(
                "SELECT count(*) AS n FROM clients WHERE id = ?1 AND status = 'active'",
                &c.client_id
            ),
        ])
        .await
        .map_err(|_| "store unavailable")?;
    let mut it = rows.into_iter();
    if revocation::revokes(it.next().unwrap_or_default(), iat).map_err(|_| "store unavailable")? {
        return Err("revoked");
    }
    #[derive(Deserialize)]
    struct N {
        n: i64,
    }
    let sub_ok: Option<N> =
        decode_first(it.next().unwrap_or_default()).map_err(|_| "store unavailable")?;
    let client_ok: Option<N> =
        decode_first(it.next().unwrap_or_default()).map_err(|_| "store unavailable")?;
    if sub_ok.is_none_or(|n| n.n == 0) || client_ok.is_none_or(|n| n.n == 0) {
        return Err("subject or client disabled");
    }
    Ok(OwnToken {
        claims: c,
        iat,
        exp,
    })
}

async fn exchange<S: Store + ?Sized, C: Crypto>(
    svc: &Service<'_, S, C>,
    client: &Client,
    params: &Params,
    now: i64,
    rng: &mut dyn CryptoRngCore,
) -> Result<Response, Error> {
    require_grant(client, GRANT_TOKEN_EXCHANGE)?;
    if !client.is_confidential() {
        return Err(Error::UnauthorizedClient(
            "token exchange needs a confidential client".into(),
        ));
    }
    let subject_token = params.require("subject_token")?;
    match params.require("subject_token_type")? {
        TOKEN_TYPE_ACCESS | TOKEN_TYPE_JWT => {}
        _ => {
            return Err(Error::InvalidRequest(
                "unsupported subject_token_type".into(),
            ))
        }
    }
    if let Some(t) = params.get("requested_token_type") {
        if t != TOKEN_TYPE_ACCESS {
            return Err(Error::InvalidRequest(
                "only access tokens can be requested".into(),
            ));
        }
    }
    // RFC 8693 §2.2.2: an unacceptable subject token is invalid_request.
    let subject = verify_own_token(svc, subject_token, now, rng)
        .await
        .map_err(|why| Error::InvalidRequest(format!("subject_token: {why}")))?
        .claims;
    // The subject token must be one this agent may act on: issued for a resource server the
    // agent fronts (its exchange sources), or issued to the agent itself.
    let sources = clients::exchange_sources(svc.store, &client.id).await?;
    let aud = subject.aud.single().unwrap_or_default();
    if subject.client_id != client.id && !sources.iter().any(|s| s == aud) {
        return Err(Error::InvalidRequest(
            "subject_token: its audience is not a resource server this client may exchange tokens from".into(),
        ));
    }
    if let Some(actor_token) = params.get("actor_token") {
        match params.get("actor_token_type") {
            Some(TOKEN_TYPE_ACCESS | TOKEN_TYPE_JWT) => {}
            _ => {
                return Err(Error::InvalidRequest(
                    "actor_token_type is required with actor_token".into(),
                ))
            }
        }
        let actor = verify_own_token(svc, actor_token, now, rng)
            .await
            .map_err(|why| Error::InvalidRequest(format!("actor_token: {why}")))?
            .claims;
        if actor.sub != client.id {
            return Err(Error::InvalidRequest(
                "actor_token must identify the authenticated client".into(),
            ));
        }
    } else if params.get("actor_token_type").is_some() {
        return Err(Error::InvalidRequest(
            "actor_token_type without actor_token".into(),
        ));
    }
    let chain_depth = subject.act.as_ref().map_or(0, |a| a.depth());
    if chain_depth + 1 > MAX_ACTOR_DEPTH {
        return Err(Error::InvalidRequest("delegation chain too long".into()));
    }
    let resource = resolve_resource(svc.store, client, params).await?;
    let t = load_target(svc.store, client, &resource).await?;
    // Bounded by the subject (what the user holds there now, if a user) and by the agent's own
    // roles there.
    let subject_held =
        match permissions::load(svc.store, &Principal::User(subject.sub.clone()), &resource).await?
        {
            Some((crate::directory::Status::Active, eff)) => permissions::names(&eff),
            _ => match permissions::load(
                svc.store,
                &Principal::Client(subject.sub.clone()),
                &resource,
            )
            .await?
            {
                Some((crate::directory::Status::Active, eff)) => permissions::names(&eff),
                _ => Scopes::new(),
            },
        };
    let bound = scopes::and(&subject_held, &t.client_held);
    let granted = match scopes::parse(params.get("scope"))? {
        Some(r) => scopes::and(&r, &bound),
        None => bound,
    };
    let granted = scopes::non_empty(
        granted,
        "neither the subject nor this agent holds the requested scopes there",
    )?;
    let act = Actor {
        sub: client.id.clone(),
        act: subject.act.map(Box::new),
    };
    let m = sign(
        svc,
        Mint {
            sub: &subject.sub,
            aud: &t.rs.identifier,
            client_id: &client.id,
            scopes: &granted,
            act: Some(act),
            ttl: t.rs.access_token_ttl,
        },
        now,
        rng,
    )
    .await?;
    touch(svc.store, client, now).await?;
    Ok(issue::response(&m, now, None, Some(TOKEN_TYPE_ACCESS)))
}
