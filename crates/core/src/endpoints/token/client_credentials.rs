//! The client_credentials grant (RFC 6749 §4.4): a confidential client acting for itself gets
//! the scopes of its own roles on the target, whatever it asked for beyond them dropped.

use rand_core::CryptoRngCore;

use super::{after_issue, require_grant, sign, Issued};
use crate::crypto::Crypto;
use crate::directory::clients::{Client, GRANT_CLIENT_CREDENTIALS};
use crate::endpoints::target::Target;
use crate::issue::{self, Mint};
use crate::policy::scopes;
use crate::service::Service;
use crate::store::Store;
use crate::wire::form::Params;
use crate::wire::{Error, Response};

/// What the client must be before anything about the target is looked at.
pub(super) fn preconditions(client: &Client) -> Result<(), Error> {
    require_grant(client, GRANT_CLIENT_CREDENTIALS)?;
    if !client.is_confidential() {
        return Err(Error::UnauthorizedClient(
            "client_credentials needs a confidential client".into(),
        ));
    }
    Ok(())
}

pub(super) async fn grant<S: Store + ?Sized, C: Crypto>(
    svc: &Service<'_, S, C>,
    client: &Client,
    params: &Params,
    (t, covered): (Target, Option<i64>),
    now: i64,
    rng: &mut dyn CryptoRngCore,
) -> Result<Response, Error> {
    let requested = scopes::parse(params.get("scope"))?;
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
            fam: None,
            ttl: t.rs.access_token_ttl,
            jti: None,
        },
        now,
        rng,
    )
    .await?;
    let issued = Issued {
        vias: vec![&client.id],
        rs_id: &t.rs.id,
        subject: &client.id,
        exp: m.exp,
        covered,
    };
    after_issue(svc.store, client, issued, now).await;
    Ok(issue::response(&m, now, None, None))
}
