//! `Service::handle`: the single entry point. Routing is a plain `match` on the path below the
//! issuer, then on the method.

use http::Method;
use rand_core::CryptoRngCore;

use crate::config::Config;
use crate::crypto::Crypto;
use crate::endpoints::{admin, jwks, metadata};
use crate::keys::{self, KeyEncryptionKey};
use crate::store::Store;
use crate::wire::{preflight, Error, Request, Response, MAX_BODY_BYTES};

/// The authorization server, over a store and a crypto provider.
pub struct Service<'a, S: ?Sized, C> {
    config: &'a Config,
    store: &'a S,
    crypto: &'a C,
    kek: KeyEncryptionKey,
}

/// What a path names, before the method is considered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route<'p> {
    Metadata,
    Jwks,
    /// Below `/admin/v1`.
    Admin(&'p str),
}

impl Route<'_> {
    fn allowed(self) -> &'static str {
        match self {
            Route::Metadata | Route::Jwks => "GET, HEAD, OPTIONS",
            Route::Admin(_) => "GET, POST, PATCH, PUT, DELETE",
        }
    }

    /// Public, credential-less endpoints that browsers may call cross-origin.
    fn is_public_cors(self) -> bool {
        matches!(self, Route::Metadata | Route::Jwks)
    }
}

impl<'a, S: Store + ?Sized, C: Crypto> Service<'a, S, C> {
    /// A service for one request (cheap: derives the key-encryption key only).
    pub fn new(config: &'a Config, store: &'a S, crypto: &'a C) -> Self {
        Service {
            config,
            store,
            crypto,
            kek: KeyEncryptionKey::derive(config.secret.expose()),
        }
    }

    /// The crypto provider.
    pub fn crypto(&self) -> &C {
        self.crypto
    }

    /// Handles one request. Never panics; every failure is a response.
    pub async fn handle(&self, req: Request, now: i64, rng: &mut dyn CryptoRngCore) -> Response {
        match self.dispatch(req, now, rng).await {
            Ok(resp) => resp,
            Err(e) => e.into_response(),
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
        if method == Method::OPTIONS && route.is_public_cors() {
            return Ok(preflight("GET, HEAD, OPTIONS"));
        }
        let is_get = method == Method::GET || method == Method::HEAD;
        let resp = match (route, is_get, method == Method::POST) {
            (Route::Metadata, true, _) => metadata::get(self.config),
            (Route::Jwks, true, _) => jwks::get(self.store, &self.kek, rng, now).await?,
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
        admin::dispatch(&mut ctx, req, route, &params).await
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
