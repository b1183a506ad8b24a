//! The signed-in user's own page: the consents they gave, each revocable, and sign-out.

use http::{header, HeaderValue, StatusCode};
use rand_core::CryptoRngCore;

use super::authorize;
use crate::crypto::Crypto;
use crate::grants;
use crate::service::Service;
use crate::session::Keys;
use crate::store::Store;
use crate::ui::{self, esc};
use crate::wire::{Request, Response};

/// Path of the account page.
pub const PATH: &str = "/account";
/// Path the revoke form posts to.
pub const REVOKE_PATH: &str = "/account/revoke";
/// Path the sign-out form posts to.
pub const LOGOUT_PATH: &str = "/account/logout";

/// `GET /account`.
pub async fn get<S: Store + ?Sized, C: Crypto>(
    svc: &Service<'_, S, C>,
    req: &Request,
    now: i64,
    rng: &mut dyn CryptoRngCore,
) -> Response {
    let keys = Keys::new(svc.config);
    let Some(user) = authorize::session_user(svc.store, &keys, req, now).await else {
        return authorize::account_login_page(svc, &keys, req, rng);
    };
    let list = match grants::list(svc.store, &user.id).await {
        Ok(l) => l,
        Err(_) => {
            return ui::error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Please try again later.",
            )
        }
    };
    let (csrf, fresh) = authorize::csrf_token(&keys, req, rng);
    let issuer = &svc.config.issuer;
    let rows: String = list
        .iter()
        .map(|g| {
            format!(
                "<li><strong>{}</strong> <span class=\"muted\">({})</span> on <strong>{}</strong> \
                 <span class=\"muted\">({})</span>: {}\
                 <form method=\"post\" action=\"{issuer}{REVOKE_PATH}\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
                 <input type=\"hidden\" name=\"client_id\" value=\"{}\">\
                 <input type=\"hidden\" name=\"resource_server_id\" value=\"{}\">\
                 <button type=\"submit\">Revoke access</button></form></li>",
                esc(&g.client_name),
                esc(&g.client_id),
                esc(&g.resource_name),
                esc(&g.resource),
                g.scopes
                    .iter()
                    .map(|s| format!("<code>{}</code>", esc(s)))
                    .collect::<Vec<_>>()
                    .join(" "),
                esc(&csrf),
                esc(&g.client_id),
                esc(&g.resource_server_id),
            )
        })
        .collect();
    let listing = if list.is_empty() {
        "<p>You have not allowed any application yet.</p>".to_owned()
    } else {
        format!("<ul>{rows}</ul>")
    };
    let body = format!(
        "<h1>Your account</h1><p>Signed in as <strong>{}</strong>.</p><h2>Applications you allowed</h2>{listing}\
         <form method=\"post\" action=\"{issuer}{LOGOUT_PATH}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <button type=\"submit\">Sign out</button></form>",
        esc(&user.display_name),
        esc(&csrf),
    );
    let mut resp = ui::page(StatusCode::OK, "Your account", &body, &[]);
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
    let keys = Keys::new(svc.config);
    let form = match authorize::read_form_post(&svc.config.issuer, &keys, req) {
        Ok(f) => f,
        Err(page) => return page,
    };
    let Some(user) = authorize::session_user(svc.store, &keys, req, now).await else {
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
        Err(_) => ui::error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "Please try again later.",
        ),
    }
}

/// `POST /account/logout`.
pub async fn logout<S: Store + ?Sized, C: Crypto>(
    svc: &Service<'_, S, C>,
    req: &Request,
) -> Response {
    let keys = Keys::new(svc.config);
    if let Err(page) = authorize::read_form_post(&svc.config.issuer, &keys, req) {
        return page;
    }
    let mut resp = back_to_account(&svc.config.issuer);
    authorize::set_cookie(&mut resp, &keys.end_session());
    resp
}
