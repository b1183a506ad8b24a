//! `POST /authorize/consent`: the user's decision on the consent page. Allowing records the
//! grant (the union with what was consented before, computed in the write) and issues a code.

use http::StatusCode;
use rand_core::CryptoRngCore;

use super::{issue_code, read_form_post, redirect_error, session_user, Pending, Trusted};
use crate::crypto::Crypto;
use crate::directory::clients;
use crate::directory::Status;
use crate::endpoints::target;
use crate::grants;
use crate::policy::scopes::Scopes;
use crate::service::Service;
use crate::session::Keys;
use crate::store::Store;
use crate::ui;
use crate::wire::error::AuthorizeError;
use crate::wire::{Error, Request, Response};

/// `POST /authorize/consent`.
pub async fn consent<S: Store + ?Sized, C: Crypto>(
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
    let expired = || {
        ui::error_page(
            StatusCode::BAD_REQUEST,
            "Cannot continue",
            "This request expired. Go back to the application and start again.",
        )
    };
    let Some(p) = form
        .get("request")
        .and_then(|r| keys.open::<Pending>(r, now))
    else {
        return expired();
    };
    let Some(user) = session_user(svc.store, keys, req, now)
        .await
        .filter(|u| u.id == p.u)
    else {
        return expired();
    };
    // The client must still be active and the redirect URI still registered.
    let client = match clients::get_row(svc.store, &p.c).await {
        Ok(Some(c)) if c.status == Status::Active && c.redirect_matches(&p.r) => c,
        _ => {
            return ui::error_page(
                StatusCode::BAD_REQUEST,
                "Cannot continue",
                "The application is unknown or disabled.",
            )
        }
    };
    let t = Trusted {
        client,
        redirect_uri: p.r.clone(),
        state: p.st.clone(),
        redirect_errors: true,
    };
    if form.get("decision") != Some("allow") {
        return redirect_error(
            &svc.config.issuer,
            &t,
            AuthorizeError::AccessDenied,
            "the user denied the request",
        );
    }
    let target = match svc
        .store
        .batch(target::stmts(&t.client.id, &p.a).to_vec())
        .await
        .map_err(Error::from)
        .and_then(|rows| target::from_rows(&t.client, &mut crate::store::Results::new(rows)))
    {
        Ok(target) => target,
        Err(Error::Store(_)) => {
            return redirect_error(
                &svc.config.issuer,
                &t,
                AuthorizeError::TemporarilyUnavailable,
                "storage is temporarily unavailable",
            )
        }
        Err(_) => {
            return redirect_error(
                &svc.config.issuer,
                &t,
                AuthorizeError::InvalidTarget,
                "the resource is no longer available to this client",
            )
        }
    };
    // Step-up: the grant becomes the union of what was consented before and now, computed in
    // the write so that concurrent consents both land. Consent older than the client's last
    // new redirect URI does not carry over.
    let saved = svc
        .store
        .query(grants::consent_stmt(&grants::Consent {
            user_id: &user.id,
            client_id: &t.client.id,
            resource_server_id: &target.rs.id,
            scopes: &p.g.iter().cloned().collect(),
            stale_before: t.client.redirect_uris_changed_at,
            now,
        }))
        .await;
    if saved.is_err() {
        return redirect_error(
            &svc.config.issuer,
            &t,
            AuthorizeError::TemporarilyUnavailable,
            "storage is temporarily unavailable",
        );
    }
    let requested: Scopes = p.s.iter().cloned().collect();
    let session = super::session_id(keys, req)
        .map(crate::store::sessions::handle)
        .unwrap_or_default();
    issue_code(
        svc, &t, &target, &session, &user.id, &requested, &p.cc, now, rng,
    )
    .await
}
