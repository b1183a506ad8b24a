//! The login page and `POST /authorize/login`: password sign-in, guarded against guessing.
//!
//! Every attempt is counted *before* the password is checked, atomically
//! (`store::login_attempts`), so parallel guesses cannot get more answers than the limits:
//! - from a browser this user signed in from before (a valid device cookie for the username):
//!   [`MAX_FAILURES_PER_DEVICE`] per device and window, and nothing else — so guessing from
//!   elsewhere never locks the real user out of a browser they have used;
//! - otherwise: [`MAX_FAILURES_PER_USER_AND_ADDRESS`] per username and source,
//!   [`MAX_FAILURES_PER_ADDRESS`] per source across usernames, and
//!   [`MAX_UNTRUSTED_FAILURES_PER_ACCOUNT`] per username across all sources (a distributed
//!   guesser is slowed to that many guesses per window in total).
//!
//! Sources are keyed by IPv4 address or IPv6 /64. A username that could not exist (see
//! `validate::username`, at most 64 characters) is refused before any storage access.
//! A successful sign-in starts a server-side session and (re)sets the device cookie.

use http::{header, HeaderValue, StatusCode};
use rand_core::CryptoRngCore;

use super::{csrf_token, origin_of, read_form_post, see_other, set_cookie, trust, PATH};
use crate::crypto::Crypto;
use crate::directory::identity_providers::{self, Provider};
use crate::directory::{users, validate, Status};
use crate::endpoints::source_address;
use crate::password;
use crate::service::Service;
use crate::session::{self, Keys, SESSION_TTL_SECS};
use crate::store::{decode, login_attempts, sessions, Stmt, Store, StoreError};
use crate::ui;
use crate::wire::form::Params;
use crate::wire::{Request, Response};

/// Path the login form posts to.
pub const LOGIN_PATH: &str = "/authorize/login";

/// The login form's `continue` value that returns to the account page instead of an
/// authorization request.
pub const ACCOUNT_CONTINUE: &str = "@account";

/// Failed-login window (seconds).
pub const LOGIN_WINDOW_SECS: i64 = 15 * 60;
/// Attempts per username and source address in a window.
pub const MAX_FAILURES_PER_USER_AND_ADDRESS: i64 = 5;
/// Attempts per source address across usernames in a window.
pub const MAX_FAILURES_PER_ADDRESS: i64 = 30;
/// Attempts per username from browsers it never signed in from, across all sources, in a window.
pub const MAX_UNTRUSTED_FAILURES_PER_ACCOUNT: i64 = 20;
/// Attempts per known device (device cookie) in a window.
pub const MAX_FAILURES_PER_DEVICE: i64 = 5;

/// What a login page is about.
#[derive(Clone, Copy)]
pub(super) struct LoginFor<'a> {
    pub(super) client_name: &'a str,
    pub(super) continue_query: &'a str,
    pub(super) redirect_uri: &'a str,
    /// The upstream identity providers offered ([`offered`]).
    pub(super) providers: &'a [Provider],
    /// The client asked for a fresh sign-in (`prompt=login`): providers are asked the same.
    pub(super) reauthenticate: bool,
}

/// The active upstream identity providers, in the order the login page offers them (none if
/// they cannot be read: the password form still works).
pub(super) async fn offered<S: Store + ?Sized>(store: &S) -> Vec<Provider> {
    store
        .query(identity_providers::active_stmt())
        .await
        .and_then(decode)
        .unwrap_or_default()
}

/// The provider an email address's domain routes to, if any.
fn routed<'p>(providers: &'p [Provider], typed: &str) -> Option<&'p Provider> {
    providers.iter().find(|p| p.serves_email(typed))
}

pub(super) fn login_page<S: ?Sized, C>(
    svc: &Service<'_, S, C>,
    keys: &Keys,
    req: &Request,
    rng: &mut dyn CryptoRngCore,
    about: &LoginFor<'_>,
    (status, error): (StatusCode, Option<&str>),
    username: &str,
) -> Response {
    let LoginFor {
        client_name,
        continue_query,
        redirect_uri,
        providers,
        reauthenticate,
    } = *about;
    let (csrf, fresh) = csrf_token(keys, req, rng);
    let action = format!("{}{LOGIN_PATH}", svc.config.issuer);
    // The form may end at the client (signed in and consented) or, for an email whose domain
    // routes upstream, at a provider.
    let mut targets: Vec<String> = origin_of(redirect_uri).into_iter().collect();
    targets.extend(
        providers
            .iter()
            .filter(|p| !p.domains().is_empty())
            .filter_map(|p| origin_of(&p.issuer)),
    );
    let buttons: Vec<(String, String)> = providers
        .iter()
        .map(|p| {
            (
                p.button_label
                    .clone()
                    .unwrap_or_else(|| format!("Sign in with {}", p.display_name)),
                super::upstream::start_url(
                    &svc.config.issuer,
                    &p.id,
                    continue_query,
                    None,
                    reauthenticate,
                ),
            )
        })
        .collect();
    let mut resp = ui::login(
        status,
        &ui::Login {
            client_name,
            continue_query,
            csrf: &csrf,
            error,
            username,
            action: &action,
            password: svc.config.password_signin,
            providers: &buttons,
        },
        &targets,
    );
    if fresh {
        set_cookie(&mut resp, &keys.csrf_set_cookie(&csrf));
    }
    resp
}

/// The login page for the account page.
pub(crate) async fn account_login_page<S: Store + ?Sized, C>(
    svc: &Service<'_, S, C>,
    keys: &Keys,
    req: &Request,
    rng: &mut dyn CryptoRngCore,
) -> Response {
    let providers = offered(svc.store).await;
    let about = LoginFor {
        client_name: "",
        continue_query: ACCOUNT_CONTINUE,
        redirect_uri: "",
        providers: &providers,
        reauthenticate: false,
    };
    login_page(svc, keys, req, rng, &about, (StatusCode::OK, None), "")
}

/// The counters an attempt is counted on, with their limits.
struct Counters {
    keys: Vec<(String, i64)>,
    /// The device id, if the browser is a known device of this username.
    device: Option<String>,
}

impl Counters {
    fn for_attempt(keys: &Keys, req: &Request, username: &str, now: i64) -> Self {
        let device = session::cookie(
            req.headers()
                .get(header::COOKIE)
                .and_then(|v| v.to_str().ok()),
            keys.device_cookie(),
        )
        .and_then(|v| keys.device_for(v, username, now))
        .map(str::to_owned);
        let keys = match &device {
            Some(d) => vec![(format!("dev:{d}"), MAX_FAILURES_PER_DEVICE)],
            None => {
                let source = source_address(req);
                vec![
                    (
                        format!("user:{username}|{source}"),
                        MAX_FAILURES_PER_USER_AND_ADDRESS,
                    ),
                    (format!("addr:{source}"), MAX_FAILURES_PER_ADDRESS),
                    (
                        format!("acct:{username}"),
                        MAX_UNTRUSTED_FAILURES_PER_ACCOUNT,
                    ),
                ]
            }
        };
        Counters { keys, device }
    }

    fn names(&self) -> Vec<&str> {
        self.keys.iter().map(|(k, _)| k.as_str()).collect()
    }

    /// Seconds until every exceeded counter's window ends, if any is exceeded.
    fn exceeded(&self, counted: &[login_attempts::Counted], now: i64) -> Option<i64> {
        counted
            .iter()
            .filter(|c| {
                self.keys
                    .iter()
                    .any(|(k, limit)| *k == c.key && c.failures > *limit)
            })
            .map(|c| (c.window_start + LOGIN_WINDOW_SECS - now).max(1))
            .max()
    }
}

/// What a failed sign-in says, whatever failed.
const WRONG: &str = "Invalid username or password.";
/// What a password sign-in says where passwords are turned off.
const PASSWORDS_OFF: &str =
    "Password sign-in is turned off here. Continue with your organisation's account.";

/// The login page shown again after a refused attempt, offering the upstream providers
/// (`known`, if this request read them already).
#[allow(clippy::too_many_arguments)]
async fn again<S: Store + ?Sized, C>(
    svc: &Service<'_, S, C>,
    keys: &Keys,
    req: &Request,
    rng: &mut dyn CryptoRngCore,
    about: LoginFor<'_>,
    known: Option<Vec<Provider>>,
    (status, msg): (StatusCode, &str),
    shown: &str,
) -> Response {
    let providers = match known {
        Some(list) => list,
        None => offered(svc.store).await,
    };
    let about = LoginFor {
        providers: &providers,
        ..about
    };
    login_page(svc, keys, req, rng, &about, (status, Some(msg)), shown)
}

/// `POST /authorize/login`.
pub async fn login<S: Store + ?Sized, C: Crypto>(
    svc: &Service<'_, S, C>,
    req: &Request,
    now: i64,
    rng: &mut dyn CryptoRngCore,
) -> Response {
    let keys = Keys::of(svc.config);
    let form = match read_form_post(&svc.config.issuer, keys, req) {
        Ok(f) => f,
        Err(page) => return page,
    };
    // The authorization request is re-validated from the continue query on every attempt.
    let continue_query = form.get("continue").unwrap_or_default();
    let t = if continue_query == ACCOUNT_CONTINUE {
        None
    } else {
        let p = match Params::parse(continue_query.as_bytes()) {
            Ok(p) => p,
            Err(_) => {
                return ui::error_page(
                    StatusCode::BAD_REQUEST,
                    "Cannot continue",
                    "The sign-in request is malformed.",
                )
            }
        };
        match trust(
            svc.store,
            &p,
            &svc.config.registration,
            &crate::endpoints::source_address(req),
            now,
        )
        .await
        {
            Ok(t) => Some(t),
            Err(resp) => return resp,
        }
    };
    let typed = form.get("username").unwrap_or_default();
    let shown: String = typed.chars().take(64).collect();
    let password = form.get("password").unwrap_or_default();
    let about = LoginFor {
        client_name: t.as_ref().map_or("", |t| t.client.name.as_str()),
        continue_query,
        redirect_uri: t.as_ref().map_or("", |t| t.redirect_uri.as_str()),
        providers: &[],
        reauthenticate: false,
    };
    // A name no account can have is refused before any storage access (that page offers no
    // providers: reading them is storage access).
    let Ok(username) = validate::username("username", typed) else {
        let refusal = if svc.config.password_signin {
            (StatusCode::UNAUTHORIZED, Some(WRONG))
        } else {
            (StatusCode::FORBIDDEN, Some(PASSWORDS_OFF))
        };
        return login_page(svc, keys, req, rng, &about, refusal, &shown);
    };
    // An email whose domain belongs to an organisation's provider signs in there, before any
    // password is counted or checked. The providers are read only when routing is possible
    // or the page is shown again, never on a password sign-in that succeeds.
    let mut providers = None;
    if typed.contains('@') {
        let list = offered(svc.store).await;
        if let Some(p) = routed(&list, typed) {
            return see_other(&super::upstream::start_url(
                &svc.config.issuer,
                &p.id,
                continue_query,
                Some(typed.trim()),
                false,
            ));
        }
        providers = Some(list);
    }
    if !svc.config.password_signin {
        let refused = (StatusCode::FORBIDDEN, PASSWORDS_OFF);
        return again(svc, keys, req, rng, about, providers, refused, &shown).await;
    }
    let counters = Counters::for_attempt(keys, req, &username, now);
    let counted = match svc
        .store
        .batch(login_attempts::count_stmts(
            &counters.names(),
            LOGIN_WINDOW_SECS,
            now,
        ))
        .await
        .and_then(login_attempts::counted)
    {
        Ok(c) => c,
        Err(_) => return unavailable(),
    };
    if let Some(wait) = counters.exceeded(&counted, now) {
        let msg = format!(
            "Too many failed sign-ins. Try again in {} minutes.",
            (wait + 59) / 60
        );
        let limited = (StatusCode::TOO_MANY_REQUESTS, msg.as_str());
        let mut resp = again(svc, keys, req, rng, about, providers, limited, &shown).await;
        if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return resp;
    }
    let user = match users::by_username(svc.store, &username).await {
        Ok(u) => u,
        Err(_) => return unavailable(),
    };
    let ok = match &user {
        Some(u) if u.status == Status::Active => match &u.password_hash {
            Some(h) => password::verify(svc.crypto, h, password).await,
            None => false,
        },
        _ => {
            // Same work for unknown users, so timing does not reveal which names exist.
            let _ = password::verify(svc.crypto, password::DUMMY_HASH, password).await;
            false
        }
    };
    let Some(user) = user.filter(|_| ok) else {
        let wrong = (StatusCode::UNAUTHORIZED, WRONG);
        return again(svc, keys, req, rng, about, providers, wrong, &shown).await;
    };
    // Signed in: this attempt is given back, a session starts, the browser becomes a known
    // device of this user.
    let names = counters.names();
    let (forget, give_back) = names.split_at(1);
    let device = counters
        .device
        .clone()
        .unwrap_or_else(|| crate::secret::random_b64(rng, 16));
    let extra = login_attempts::success_stmts(forget, give_back);
    let Ok(mut resp) = signed_in(svc, keys, req, &user.id, continue_query, extra, now, rng).await
    else {
        return unavailable();
    };
    set_cookie(&mut resp, &keys.device_set_cookie(&username, &device, now));
    resp
}

/// Starts a session for `user_id` (in one batch with `extra`, the sign-in's own writes) and
/// sends the browser on to the authorization request it came from (or the account page).
#[allow(clippy::too_many_arguments)]
pub(super) async fn signed_in<S: Store + ?Sized, C>(
    svc: &Service<'_, S, C>,
    keys: &Keys,
    req: &Request,
    user_id: &str,
    continue_query: &str,
    extra: Vec<Stmt>,
    now: i64,
    rng: &mut dyn CryptoRngCore,
) -> Result<Response, StoreError> {
    let (sid, session_cookie) = keys.start_session(user_id, rng);
    let header_str = |name: header::HeaderName| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    let mut stmts = extra;
    stmts.extend(sessions::create_stmts(&sessions::NewSession {
        sid: &sid,
        user_id,
        now,
        expires_at: now + SESSION_TTL_SECS,
        address: header_str(header::HeaderName::from_static("cf-connecting-ip")),
        user_agent: header_str(header::USER_AGENT),
    }));
    svc.store.batch(stmts).await?;
    let next = if continue_query == ACCOUNT_CONTINUE {
        format!("{}{}", svc.config.issuer, crate::endpoints::account::PATH)
    } else {
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form_urlencoded::parse(continue_query.as_bytes()))
            .finish();
        format!("{}{PATH}?{query}", svc.config.issuer)
    };
    let mut resp = see_other(&next);
    set_cookie(&mut resp, &session_cookie);
    Ok(resp)
}

fn unavailable() -> Response {
    ui::error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Something went wrong",
        "Please try again later.",
    )
}
