//! The signed-in user's own page: the consents they gave (each revocable), the sessions they
//! are signed in with (each can be ended), sign-out here or everywhere.

use http::{header, HeaderValue, StatusCode};
use rand_core::CryptoRngCore;

use super::authorize;
use crate::crypto::Crypto;
use crate::grants;
use crate::service::Service;
use crate::session::Keys;
use crate::store::{sessions, Store};
use crate::ui;
use crate::wire::{Request, Response};

/// Path of the account page.
pub const PATH: &str = "/account";
/// Path the revoke form posts to.
pub const REVOKE_PATH: &str = "/account/revoke";
/// Path the sign-out forms post to (`everywhere=1`: every session; `session=<id>`: that one).
pub const LOGOUT_PATH: &str = "/account/logout";

fn went_wrong() -> Response {
    ui::error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Something went wrong",
        "Please try again later.",
    )
}

/// `YYYY-MM-DD HH:MM UTC` for a Unix time.
fn utc(secs: i64) -> String {
    use chrono::{Datelike, Timelike};
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| {
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02} UTC",
                t.year(),
                t.month(),
                t.day(),
                t.hour(),
                t.minute()
            )
        })
        .unwrap_or_default()
}

/// `GET /account`.
pub async fn get<S: Store + ?Sized, C: Crypto>(
    svc: &Service<'_, S, C>,
    req: &Request,
    now: i64,
    rng: &mut dyn CryptoRngCore,
) -> Response {
    let keys = Keys::of(svc.config);
    let Some(user) = authorize::session_user(svc.store, keys, req, now).await else {
        return authorize::account_login_page(svc, keys, req, rng).await;
    };
    let (Ok(list), Ok(live)) = (
        grants::list(svc.store, &user.id).await,
        sessions::list(svc.store, &user.id, now).await,
    ) else {
        return went_wrong();
    };
    let current = authorize::session_id(keys, req).map(sessions::handle);
    let (csrf, fresh) = authorize::csrf_token(keys, req, rng);
    let issuer = &svc.config.issuer;
    let revoke_action = format!("{issuer}{REVOKE_PATH}");
    let logout_action = format!("{issuer}{LOGOUT_PATH}");
    let mut resp = ui::account(&ui::Account {
        user: &user.display_name,
        csrf: &csrf,
        revoke_action: &revoke_action,
        logout_action: &logout_action,
        grants: list
            .iter()
            .map(|g| ui::AccountGrant {
                client_name: &g.client_name,
                client_id: &g.client_id,
                resource_name: &g.resource_name,
                resource: &g.resource,
                resource_server_id: &g.resource_server_id,
                scopes: &g.scopes,
            })
            .collect(),
        sessions: live
            .iter()
            .map(|s| ui::AccountSession {
                id: &s.id,
                started: utc(s.created_at),
                address: &s.address,
                user_agent: &s.user_agent,
                current: current.as_deref() == Some(s.id.as_str()),
            })
            .collect(),
    });
    if fresh {
        authorize::set_cookie(&mut resp, &keys.csrf_set_cookie(&csrf));
    }
    resp
}

fn back_to_account(issuer: &str) -> Response {
    let mut r = Response::new(Vec::new());
    *r.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(&format!("{issuer}{PATH}")) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// `POST /account/revoke`.
pub async fn revoke<S: Store + ?Sized, C: Crypto>(
    svc: &Service<'_, S, C>,
    req: &Request,
    now: i64,
) -> Response {
    let keys = Keys::of(svc.config);
    let form = match authorize::read_form_post(&svc.config.issuer, keys, req) {
        Ok(f) => f,
        Err(page) => return page,
    };
    let Some(user) = authorize::session_user(svc.store, keys, req, now).await else {
        return back_to_account(&svc.config.issuer);
    };
    let (Some(client), Some(rs)) = (form.get("client_id"), form.get("resource_server_id")) else {
        return ui::error_page(
            StatusCode::BAD_REQUEST,
            "Cannot continue",
            "The form is incomplete.",
        );
    };
    match grants::revoke(
        svc.store,
        &user.id,
        client,
        rs,
        "consent revoked by the user",
        svc.config.max_token_ttl,
        now,
    )
    .await
    {
        Ok(_) => back_to_account(&svc.config.issuer),
        Err(_) => went_wrong(),
    }
}

/// `POST /account/logout`: ends this session (the row is deleted, so a copy of the cookie
/// stops working too), another of the user's sessions (`session=<id>`), or all of them
/// (`everywhere=1`).
pub async fn logout<S: Store + ?Sized, C: Crypto>(
    svc: &Service<'_, S, C>,
    req: &Request,
    now: i64,
) -> Response {
    let keys = Keys::of(svc.config);
    let form = match authorize::read_form_post(&svc.config.issuer, keys, req) {
        Ok(f) => f,
        Err(page) => return page,
    };
    let current = authorize::session_id(keys, req).map(sessions::handle);
    let user = authorize::session_user(svc.store, keys, req, now).await;
    let stmt = match (&user, form.get("session"), form.get("everywhere")) {
        (Some(u), _, Some("1")) => Some(sessions::end_all_stmt(&u.id)),
        (Some(u), Some(other), _) => Some(sessions::end_stmt(&u.id, other)),
        (Some(u), None, _) => current.as_deref().map(|h| sessions::end_stmt(&u.id, h)),
        (None, ..) => None,
    };
    if let Some(stmt) = stmt {
        if svc.store.query(stmt).await.is_err() {
            return went_wrong();
        }
    }
    let mut resp = back_to_account(&svc.config.issuer);
    let ended_this = form.get("session").is_none() || form.get("session") == current.as_deref();
    if ended_this || form.get("everywhere") == Some("1") {
        authorize::set_cookie(&mut resp, &keys.end_session());
    }
    resp
}
