//! Minting access tokens: the signing key (cached per isolate), claims, and the token response
//! (RFC 6749 §5.1).

use std::cell::RefCell;
use std::rc::Rc;

use http::StatusCode;
use mcpgate_guard::{AccessClaims, Actor, Audience, EcPublicJwk};
use rand_core::CryptoRngCore;
use serde::Serialize;

use crate::crypto::{Crypto, PrivateKey};
use crate::keys::{self, KeyEncryptionKey};
use crate::policy::scopes::{self, Scopes};
use crate::store::Database;
use crate::wire::{json, no_store, Error, Response};

/// How long an isolate keeps using a decrypted signing key before re-reading the key ring
/// (seconds). After a rotation an isolate may sign with the previous key for at most this long,
/// which is safe: a retired key stays published far longer.
pub const KEY_CACHE_SECS: i64 = 60;

/// How soon an unknown kid may make the isolate re-read the key set (seconds).
const KEY_MISS_REREAD_SECS: i64 = 5;

/// The isolate's cached signing key and published key set.
#[derive(Default)]
pub struct KeyCache {
    signing: RefCell<Option<(Rc<PrivateKey>, i64)>>,
    published: RefCell<Option<(Rc<Vec<EcPublicJwk>>, i64)>>,
}

fn fresh(at: i64, now: i64) -> bool {
    now - at < KEY_CACHE_SECS && now >= at
}

impl KeyCache {
    /// An empty cache.
    pub const fn new() -> Self {
        KeyCache {
            signing: RefCell::new(None),
            published: RefCell::new(None),
        }
    }

    /// The active signing key, from the cache if fresh, else from the store.
    pub async fn get<D: Database + ?Sized>(
        &self,
        db: &D,
        kek: &KeyEncryptionKey,
        rng: &mut dyn CryptoRngCore,
        now: i64,
    ) -> Result<Rc<PrivateKey>, Error> {
        if let Some((k, at)) = self.signing.borrow().as_ref() {
            if fresh(*at, now) {
                return Ok(k.clone());
            }
        }
        let key = Rc::new(keys::active_key(db, kek, rng, now).await?);
        *self.signing.borrow_mut() = Some((key.clone(), now));
        Ok(key)
    }

    /// The published key `kid` (to verify one of mcpgate's own tokens), from the cache if it is
    /// fresh and holds it, else from the store (a key signs only after it was published for
    /// far longer than the cache lives, so a miss is a new deployment or an unknown kid).
    pub async fn published<D: Database + ?Sized>(
        &self,
        db: &D,
        kek: &KeyEncryptionKey,
        rng: &mut dyn CryptoRngCore,
        now: i64,
        kid: &str,
    ) -> Result<Option<EcPublicJwk>, keys::KeyError> {
        let find =
            |set: &[EcPublicJwk]| set.iter().find(|k| k.kid.as_deref() == Some(kid)).cloned();
        if let Some((set, at)) = self.published.borrow().as_ref() {
            if fresh(*at, now) {
                let found = find(set);
                // An unknown kid re-reads the keys at most every few seconds, so that tokens
                // with made-up kids cannot make every request read D1.
                if found.is_some() || now - at < KEY_MISS_REREAD_SECS {
                    return Ok(found);
                }
            }
        }
        let set = Rc::new(keys::ensure(db, kek, rng, now).await?.published(now));
        let found = find(&set);
        *self.published.borrow_mut() = Some((set, now));
        Ok(found)
    }

    /// Forgets the cached keys (after a rotation in this isolate).
    pub fn clear(&self) {
        *self.signing.borrow_mut() = None;
        *self.published.borrow_mut() = None;
    }
}

/// What to put in a token.
pub struct Mint<'a> {
    /// `sub`.
    pub sub: &'a str,
    /// `aud`: one canonical resource identifier.
    pub aud: &'a str,
    /// `client_id`.
    pub client_id: &'a str,
    /// Granted scopes (non-empty).
    pub scopes: &'a Scopes,
    /// `act`, when the subject is not the client itself.
    pub act: Option<Actor>,
    /// `fam`: the authorization (refresh family) the token descends from, if any.
    pub fam: Option<&'a str>,
    /// Lifetime in seconds.
    pub ttl: i64,
    /// A `jti` chosen beforehand (a flow that records it in the same write that authorizes the
    /// token); `None`: a fresh one.
    pub jti: Option<&'a str>,
}

/// A minted access token.
pub struct Minted {
    /// The JWT.
    pub token: String,
    /// Its `jti`.
    pub jti: String,
    /// Its `exp`.
    pub exp: i64,
    /// Its `scope`.
    pub scope: String,
}

/// A fresh `jti` (128 random bits).
pub fn new_jti(rng: &mut dyn CryptoRngCore) -> String {
    crate::secret::random_b64(rng, 16)
}

/// Signs an access token (RFC 9068).
pub async fn mint<C: Crypto + ?Sized>(
    crypto: &C,
    key: &PrivateKey,
    issuer: &str,
    m: Mint<'_>,
    now: i64,
    rng: &mut dyn CryptoRngCore,
) -> Result<Minted, Error> {
    let jti = match m.jti {
        Some(j) => j.to_owned(),
        None => new_jti(rng),
    };
    let scope = scopes::join(m.scopes);
    let exp = now + m.ttl;
    let claims = AccessClaims {
        iss: issuer.to_owned(),
        sub: m.sub.to_owned(),
        aud: Audience::One(m.aud.to_owned()),
        client_id: m.client_id.to_owned(),
        scope: scope.clone(),
        jti: jti.clone(),
        act: m.act,
        fam: m.fam.map(str::to_owned),
    };
    let token = crate::jwt::sign_access_token(crypto, key, claims, now, exp)
        .await
        .map_err(|e| Error::Internal(e.to_string()))?;
    Ok(Minted {
        token,
        jti,
        exp,
        scope,
    })
}

#[derive(Serialize)]
struct TokenResponse<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: i64,
    scope: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    issued_token_type: Option<&'static str>,
}

/// The successful token response, `Cache-Control: no-store`.
pub fn response(
    m: &Minted,
    now: i64,
    refresh: Option<&str>,
    issued_type: Option<&'static str>,
) -> Response {
    no_store(json(
        StatusCode::OK,
        &TokenResponse {
            access_token: &m.token,
            token_type: "Bearer",
            expires_in: m.exp - now,
            scope: &m.scope,
            refresh_token: refresh,
            issued_token_type: issued_type,
        },
    ))
}
