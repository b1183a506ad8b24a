//! `Service::handle`: the single entry point. Routing is a plain `match` on the path below the
//! issuer, then on the method.

use http::Method;
use rand_core::CryptoRngCore;

use crate::config::Config;
use crate::crypto::Crypto;
use crate::endpoints::{admin, authorize, jwks, metadata, token};
use crate::issue::KeyCache;
use crate::keys::{self, KeyEncryptionKey};
use crate::store::Store;
use crate::wire::{cors, preflight, Error, Request, Response, MAX_BODY_BYTES};

/// The authorization server, over a store and a crypto provider.
pub struct Service<'a, S: ?Sized, C> {
    pub(crate) config: &'a Config,
    pub(crate) store: &'a S,
    pub(crate) crypto: &'a C,
    pub(crate) key_cache: &'a KeyCache,
    pub(crate) kek: KeyEncryptionKey,
}

/// What a path names, before the method is considered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route<'p> {
    Metadata,
    Jwks,
    Token,
    Authorize,
    Login,
    Consent,
    /// Below `/admin/v1`.
    Admin(&'p str),
}

impl Route<'_> {
    /// Methods, for 405 and CORS preflight answers.
    fn allowed(self) -> &'static str {
        match self {
            Route::Metadata | Route::Jwks => "GET, HEAD, OPTIONS",
            Route::Token => "POST, OPTIONS",
            Route::Authorize => "GET",
            Route::Login | Route::Consent => "POST",
            Route::Admin(_) => "GET, POST, PATCH, PUT, DELETE",
        }
    }

    /// Endpoints that browser-based MCP clients call cross-origin (no cookies involved).
    fn is_cors(self) -> bool {
        matches!(self, Route::Metadata | Route::Jwks | Route::Token)
    }
}

impl<'a, S: Store + ?Sized, C: Crypto> Service<'a, S, C> {
    /// A service for one request (cheap: derives the key-encryption key only).
    pub fn new(config: &'a Config, store: &'a S, crypto: &'a C, key_cache: &'a KeyCache) -> Self {
        Service {
            config,
            store,
            crypto,
            key_cache,
            kek: KeyEncryptionKey::derive(config.secret.expose()),
        }
    }

    /// Handles one request. Never panics; every failure is a response.
    pub async fn handle(&self, req: Request, now: i64, rng: &mut dyn CryptoRngCore) -> Response {
        let cors_route = self.route(req.uri().path()).is_some_and(|r| r.is_cors());
        let resp = match self.dispatch(req, now, rng).await {
            Ok(resp) => resp,
            Err(e) => e.into_response(),
        };
        if cors_route {
            cors(resp)
        } else {
            resp
        }
    }

    fn route<'p>(&self, path: &'p str) -> Option<Route<'p>> {
        let ip = self.config.issuer_path.as_str();
        // RFC 8414 §3.1: the well-known segment is inserted before the issuer's path; OpenID
        // discovery appends it. MCP clients try both, so both are served.
        let well_known_inserted =
            |suffix: &str| path.strip_prefix(suffix).is_some_and(|rest| rest == ip);
        if well_known_inserted("/.well-known/oauth-authorization-server")
            || well_known_inserted("/.well-known/openid-configuration")
        {
            return Some(Route::Metadata);
        }
        let local = path.strip_prefix(ip)?;
        match local {
            "/.well-known/openid-configuration" => Some(Route::Metadata),
            metadata::JWKS_PATH => Some(Route::Jwks),
            metadata::TOKEN_PATH => Some(Route::Token),
            authorize::PATH => Some(Route::Authorize),
            authorize::LOGIN_PATH => Some(Route::Login),
            authorize::CONSENT_PATH => Some(Route::Consent),
            _ => local.strip_prefix(admin::PREFIX).map(Route::Admin),
        }
    }

    async fn dispatch(
        &self,
        req: Request,
        now: i64,
        rng: &mut dyn CryptoRngCore,
    ) -> Result<Response, Error> {
        if req.body().len() > MAX_BODY_BYTES {
            return Err(Error::BodyTooLarge);
        }
        let path = req.uri().path().to_owned();
        let route = self.route(&path).ok_or(Error::NotFound)?;
        let method = req.method().clone();
        if let Route::Admin(rest) = route {
            return self.admin(&req, rest, now, rng).await;
        }
        if method == Method::OPTIONS && route.is_cors() {
            return Ok(preflight(route.allowed()));
        }
        let get = method == Method::GET || method == Method::HEAD;
        let post = method == Method::POST;
        let resp = match route {
            Route::Metadata if get => metadata::get(self.config),
            Route::Jwks if get => jwks::get(self.store, &self.kek, rng, now).await?,
            Route::Token if post => token::handle(self, &req, now, rng).await?,
            Route::Authorize if get => authorize::get(self, &req, now, rng).await,
            Route::Login if post => authorize::login(self, &req, now, rng).await,
            Route::Consent if post => authorize::consent(self, &req, now, rng).await,
            _ => return Err(Error::MethodNotAllowed(route.allowed())),
        };
        Ok(if method == Method::HEAD {
            let (parts, _) = resp.into_parts();
            Response::from_parts(parts, Vec::new())
        } else {
            resp
        })
    }

    async fn admin(
        &self,
        req: &Request,
        rest: &str,
        now: i64,
        rng: &mut dyn CryptoRngCore,
    ) -> Result<Response, Error> {
        let (route, params) = admin::routes_find(req.method(), rest)?;
        // The API description is public; everything else needs the admin credential.
        let actor = if route.op == admin::Op::OpenApi {
            "anonymous".to_owned()
        } else {
            admin::authenticate(self.config, req)?
        };
        let mut ctx = admin::Ctx {
            db: self.store,
            crypto: self.crypto,
            config: self.config,
            now,
            rng,
            actor,
            kek: &self.kek,
        };
        let resp = admin::dispatch(&mut ctx, req, route, &params).await;
        if route.op == admin::Op::KeysRotate {
            self.key_cache.clear();
        }
        resp
    }

    /// The scheduled (cron) task: rotates the signing key when the active one is older than the
    /// rotation period, and deletes retired keys past their publication window. Returns a line
    /// for the log.
    pub async fn scheduled(&self, now: i64, rng: &mut dyn CryptoRngCore) -> Result<String, Error> {
        let ring = keys::ensure(self.store, &self.kek, rng, now).await?;
        let mut report = Vec::new();
        let due = ring
            .active
            .as_ref()
            .and_then(|k| k.activated_at)
            .is_some_and(|t| now - t >= self.config.key_rotation_period);
        if due {
            let r =
                keys::rotate(self.store, &self.kek, rng, now, self.config.max_token_ttl).await?;
            self.key_cache.clear();
            report.push(format!(
                "rotated signing key: {} -> {}",
                r.retired_kid, r.active_kid
            ));
        }
        let pruned = crate::store::keys::delete_expired(self.store, now).await?;
        report.push(format!("deleted {pruned} expired signing keys"));
        Ok(report.join("; "))
    }
}
