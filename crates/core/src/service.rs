//! `Service::handle`: the single entry point. Routing is a plain `match` on the path below the
//! issuer, then on the method.

use http::Method;
use rand_core::CryptoRngCore;

use crate::config::Config;
use crate::crypto::Crypto;
use crate::endpoints::{
    account, admin, authorize, console, feed, introspect, jwks, metadata, policy, register, token,
};
use crate::issue::KeyCache;
use crate::keys::{self, KeyEncryptionKey};
use crate::store::Store;
use crate::wire::{cors, preflight, Error, Request, Response, MAX_BODY_BYTES};

/// Rows the cron deletes per table per round (one D1 transaction per round).
pub const PRUNE_BATCH: i64 = 500;

/// Rounds per cron run: at most `PRUNE_ROUNDS × PRUNE_BATCH` rows per table per run.
pub const PRUNE_ROUNDS: usize = 10;

/// The authorization server, over a store and a crypto provider.
pub struct Service<'a, S: ?Sized, C> {
    pub(crate) config: &'a Config,
    pub(crate) store: &'a S,
    pub(crate) crypto: &'a C,
    pub(crate) key_cache: &'a KeyCache,
    pub(crate) kek: &'a KeyEncryptionKey,
}

/// What a path names, before the method is considered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route<'p> {
    Metadata,
    /// The admin API's protected resource metadata (RFC 9728).
    AdminMetadata,
    Jwks,
    Feed,
    /// A resource server's tool map (`/resource-policy`).
    Policy,
    Token,
    Register,
    /// `/register/{client_id}` (RFC 7592).
    Registration(&'p str),
    Authorize,
    Introspect,
    Revoke,
    Login,
    Consent,
    Account,
    AccountRevoke,
    AccountLogout,
    /// Starts a sign-in at an upstream identity provider.
    Federate,
    /// `/authorize/callback/{provider}`: an upstream identity provider's answer.
    FederateCallback(&'p str),
    /// Below `/admin/v1`.
    Admin(&'p str),
    /// The admin console's document.
    Console,
    /// The admin console's script or stylesheet.
    ConsoleAsset(console::Asset),
}

impl Route<'_> {
    /// Methods, for 405 and CORS preflight answers.
    fn allowed(self) -> &'static str {
        match self {
            Route::Metadata | Route::AdminMetadata | Route::Jwks | Route::Feed | Route::Policy => {
                "GET, HEAD, OPTIONS"
            }
            Route::ConsoleAsset(_) => "GET, HEAD",
            Route::Token | Route::Revoke | Route::Register => "POST, OPTIONS",
            Route::Registration(_) => "GET, PUT, DELETE, OPTIONS",
            Route::Introspect => "POST",
            Route::Authorize => "GET",
            Route::Login | Route::Consent | Route::AccountRevoke | Route::AccountLogout => "POST",
            Route::Account | Route::Federate | Route::FederateCallback(_) | Route::Console => "GET",
            Route::Admin(_) => "GET, POST, PATCH, PUT, DELETE",
        }
    }

    /// Endpoints that browser-based MCP clients call cross-origin (no cookies involved).
    fn is_cors(self) -> bool {
        matches!(
            self,
            Route::Metadata
                | Route::AdminMetadata
                | Route::Jwks
                | Route::Feed
                | Route::Policy
                | Route::Token
                | Route::Revoke
                | Route::Register
                | Route::Registration(_)
        )
    }
}

/// What a path names (only the configuration is consulted).
fn route<'p>(config: &Config, path: &'p str) -> Option<Route<'p>> {
    let ip = config.issuer_path.as_str();
    // RFC 8414 §3.1: the well-known segment is inserted before the issuer's path; OpenID
    // discovery appends it. MCP clients try both, so both are served.
    let well_known_inserted =
        |suffix: &str| path.strip_prefix(suffix).is_some_and(|rest| rest == ip);
    if well_known_inserted("/.well-known/oauth-authorization-server")
        || well_known_inserted("/.well-known/openid-configuration")
    {
        return Some(Route::Metadata);
    }
    if admin::bootstrap::metadata_path(&config.issuer).as_deref() == Some(path) {
        return Some(Route::AdminMetadata);
    }
    let local = path.strip_prefix(ip)?;
    match local {
        "/.well-known/openid-configuration" => Some(Route::Metadata),
        metadata::JWKS_PATH => Some(Route::Jwks),
        feed::PATH => Some(Route::Feed),
        policy::PATH => Some(Route::Policy),
        metadata::TOKEN_PATH => Some(Route::Token),
        authorize::PATH => Some(Route::Authorize),
        register::PATH => Some(Route::Register),
        metadata::INTROSPECT_PATH => Some(Route::Introspect),
        metadata::REVOKE_PATH => Some(Route::Revoke),
        authorize::LOGIN_PATH => Some(Route::Login),
        authorize::CONSENT_PATH => Some(Route::Consent),
        account::PATH => Some(Route::Account),
        account::REVOKE_PATH => Some(Route::AccountRevoke),
        account::LOGOUT_PATH => Some(Route::AccountLogout),
        authorize::upstream::START_PATH => Some(Route::Federate),
        console::PATH => Some(Route::Console),
        _ => {
            if let Some(asset) = config.console_assets.at(local) {
                return Some(Route::ConsoleAsset(asset));
            }
            if let Some(id) = local
                .strip_prefix(authorize::upstream::CALLBACK_PREFIX)
                .filter(|id| !id.is_empty() && !id.contains('/'))
            {
                return Some(Route::FederateCallback(id));
            }
            if let Some(id) = local
                .strip_prefix("/register/")
                .filter(|id| !id.is_empty() && !id.contains('/'))
            {
                return Some(Route::Registration(id));
            }
            local.strip_prefix(admin::PREFIX).map(Route::Admin)
        }
    }
}

/// The answer to a request that depends on nothing but the configuration, its method and its
/// path (the metadata documents), exactly as [`Service::handle`] gives it; `None` for every
/// other request. A runtime may keep these answers for as long as it keeps the configuration,
/// and answer such requests without reading their headers or body.
pub fn fixed_response(config: &Config, method: &Method, path: &str) -> Option<Response> {
    let head = method == Method::HEAD;
    if !head && method != Method::GET {
        return None;
    }
    let route = route(config, path)?;
    let resp = match route {
        Route::Metadata => metadata::get(config),
        Route::AdminMetadata => metadata::admin_resource(config),
        Route::ConsoleAsset(which) => console::asset(config, which),
        _ => return None,
    };
    let resp = if route.is_cors() { cors(resp) } else { resp };
    Some(if head {
        let (parts, _) = resp.into_parts();
        Response::from_parts(parts, Vec::new())
    } else {
        resp
    })
}

impl<'a, S: Store + ?Sized, C: Crypto> Service<'a, S, C> {
    /// A service for one request (cheap: the keys it needs were derived with `config`).
    pub fn new(config: &'a Config, store: &'a S, crypto: &'a C, key_cache: &'a KeyCache) -> Self {
        Service {
            config,
            store,
            crypto,
            key_cache,
            kek: &config.derived.kek,
        }
    }

    /// The same service over another view of the store (e.g. [`crate::store::prefetch`]).
    pub(crate) fn on<'b, T: Store + ?Sized>(&'b self, store: &'b T) -> Service<'b, T, C> {
        Service {
            config: self.config,
            store,
            crypto: self.crypto,
            key_cache: self.key_cache,
            kek: self.kek,
        }
    }

    /// Handles one request. Never panics; every failure is a response.
    pub async fn handle(&self, req: Request, now: i64, rng: &mut dyn CryptoRngCore) -> Response {
        let cors_route = route(self.config, req.uri().path()).is_some_and(|r| r.is_cors());
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
        let route = route(self.config, &path).ok_or(Error::NotFound)?;
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
            Route::AdminMetadata if get => metadata::admin_resource(self.config),
            Route::Jwks if get => jwks::get(self.store, self.kek, rng, now).await?,
            Route::Feed if get => feed::get(self, &req, now, rng).await?,
            Route::Policy if get => policy::get(self.store, &req).await?,
            Route::Token if post => token::handle(self, &req, now, rng).await?,
            Route::Register if post => register::register(self, &req, now, rng).await?,
            Route::Registration(id)
                if matches!(method, Method::GET | Method::PUT | Method::DELETE) =>
            {
                register::manage(self, &req, id, now).await?
            }
            Route::Introspect if post => introspect::introspect(self, &req, now, rng).await?,
            Route::Revoke if post => introspect::revoke(self, &req, now, rng).await?,
            Route::Authorize if get => authorize::get(self, &req, now, rng).await,
            Route::Login if post => authorize::login(self, &req, now, rng).await,
            Route::Consent if post => authorize::consent(self, &req, now, rng).await,
            Route::Account if get => account::get(self, &req, now, rng).await,
            Route::AccountRevoke if post => account::revoke(self, &req, now).await,
            Route::AccountLogout if post => account::logout(self, &req, now).await,
            Route::Federate if get => authorize::upstream_start(self, &req, now, rng).await,
            Route::FederateCallback(id) if get => {
                authorize::upstream_callback(self, &req, id, now, rng).await
            }
            Route::Console if get => console::get(self, now).await,
            Route::ConsoleAsset(which) if get => console::asset(self.config, which),
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
        let bearer = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(mcpgate_guard::bearer_token);
        let unauthorized = || self.admin_unauthorized();
        let actor = match route.op {
            // The API description is public.
            admin::Op::OpenApi => "anonymous".to_owned(),
            admin::Op::Bootstrap => {
                let ok = bearer.is_some_and(|t| {
                    crate::secret::ct_eq(t.as_bytes(), self.config.admin_token.expose().as_bytes())
                });
                if !ok {
                    return Err(unauthorized());
                }
                "bootstrap".to_owned()
            }
            _ => {
                let token = bearer.ok_or_else(unauthorized)?;
                let write = req.method() != Method::GET && req.method() != Method::HEAD;
                self.admin_principal(token, !write, now, rng).await?
            }
        };
        let mut ctx = admin::Ctx {
            db: self.store,
            crypto: self.crypto,
            config: self.config,
            now,
            rng,
            actor,
            kek: self.kek,
        };
        let resp = admin::dispatch(&mut ctx, req, route, &params).await;
        if route.op == admin::Op::KeysRotate {
            self.key_cache.clear();
        }
        resp
    }

    /// 401 for the admin API: RFC 6750 `invalid_token`, pointing at the admin API's protected
    /// resource metadata (RFC 9728).
    fn admin_unauthorized(&self) -> Error {
        Error::InvalidToken(
            admin::bootstrap::challenges(&self.config.issuer).invalid_token::<&str>(&[]),
            "an admin API access token",
        )
    }

    /// Authenticates an admin API caller by access token (audience `{issuer}/admin/v1`, scope
    /// `admin.write`, or `admin.read` when `read_only`); returns the caller's client id.
    pub(crate) async fn admin_principal(
        &self,
        token: &str,
        read_only: bool,
        now: i64,
        rng: &mut dyn CryptoRngCore,
    ) -> Result<String, Error> {
        use admin::bootstrap::{identifier, SCOPE_READ, SCOPE_WRITE};
        if crate::secret::ct_eq(
            token.as_bytes(),
            self.config.admin_token.expose().as_bytes(),
        ) {
            return Err(Error::Forbidden(
                "the bootstrap credential only creates the first admin client (POST /admin/v1/bootstrap); \
                 call the admin API with an access token for the admin API"
                    .into(),
            ));
        }
        let own = crate::endpoints::own_token::verify_own_token(self, token, now, rng)
            .await
            .map_err(|_| self.admin_unauthorized())?;
        if own.claims.aud.single() != Some(identifier(&self.config.issuer).as_str()) {
            return Err(self.admin_unauthorized());
        }
        let has = |s: &str| own.claims.scopes().any(|x| x == s);
        if !(has(SCOPE_WRITE) || (read_only && has(SCOPE_READ))) {
            let scope = if read_only { SCOPE_READ } else { SCOPE_WRITE };
            return Err(Error::InsufficientScope(
                admin::bootstrap::challenges(&self.config.issuer).insufficient_scope(&[scope]),
                scope,
            ));
        }
        Ok(own.claims.sub)
    }

    /// The scheduled (cron) task: rotates the signing key when the active one is older than the
    /// rotation period, and deletes retired keys past their publication window. Returns a line
    /// for the log.
    pub async fn scheduled(&self, now: i64, rng: &mut dyn CryptoRngCore) -> Result<String, Error> {
        let ring = keys::ensure(self.store, self.kek, rng, now).await?;
        let mut report = Vec::new();
        let due = ring
            .active
            .as_ref()
            .and_then(|k| k.activated_at)
            .is_some_and(|t| now - t >= self.config.key_rotation_period);
        if due {
            let r = keys::rotate(self.store, self.kek, rng, now, self.config.max_token_ttl).await?;
            self.key_cache.clear();
            report.push(format!(
                "rotated signing key: {} -> {}",
                r.retired_kid, r.active_kid
            ));
        }
        let pruned = crate::store::keys::delete_expired(self.store, now).await?;
        report.push(format!("deleted {pruned} expired signing keys"));
        let unused =
            register::delete_unused(self.store, self.config.registration.unused_days, now).await?;
        report.push(format!("deleted {unused} never-used registrations"));
        // Publishes whatever a revocation committed but failed to publish (the log keeps it).
        self.store.publish_committed(now).await?;
        report.push("published the revocation log".to_owned());
        let pruned = self.prune(now).await?;
        report.push(format!("pruned {pruned} expired rows"));
        Ok(report.join("; "))
    }

    /// Housekeeping: spent codes, expired revocations (KV expires its copies itself), old
    /// counters, ended sessions, issuance records past their tokens, identity assertions past
    /// their expiry, dead refresh families and audit records past their retention.
    /// Bounded: each round deletes at most [`PRUNE_BATCH`] rows per table in one transaction,
    /// and a run stops after [`PRUNE_ROUNDS`] rounds; what is left waits for the next run.
    /// Returns the number of rows deleted.
    pub async fn prune(&self, now: i64) -> Result<usize, Error> {
        let mut total = 0;
        for _ in 0..PRUNE_ROUNDS {
            let mut stmts = vec![
                crate::store::codes::prune_stmt(now - 86_400, PRUNE_BATCH),
                crate::revocation::prune_stmt(now, PRUNE_BATCH),
                crate::revocation::prune_log_stmt(now, PRUNE_BATCH),
                crate::store::rate_counters::prune_stmt(now - 86_400, PRUNE_BATCH),
                crate::store::login_attempts::prune_stmt(now - 86_400, PRUNE_BATCH),
                crate::store::sessions::prune_stmt(now, PRUNE_BATCH),
                crate::store::issuances::prune_stmt(now, PRUNE_BATCH),
                crate::store::assertions::prune_stmt(now, PRUNE_BATCH),
            ];
            stmts.extend(crate::store::families::prune_stmts(
                now,
                now - 30 * 86_400,
                PRUNE_BATCH,
            ));
            if let Some(keep) = self.config.audit_retention {
                stmts.push(crate::directory::audit::prune_stmt(now - keep, PRUNE_BATCH));
            }
            let deleted: Vec<usize> = self
                .store
                .batch(stmts)
                .await?
                .iter()
                .map(Vec::len)
                .collect();
            total += deleted.iter().sum::<usize>();
            let limit = usize::try_from(PRUNE_BATCH).unwrap_or(usize::MAX);
            if deleted.iter().all(|n| *n < limit) {
                break;
            }
        }
        Ok(total)
    }
}
