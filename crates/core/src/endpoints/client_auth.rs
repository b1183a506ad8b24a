//! Client authentication at the token, introspection and revocation endpoints (RFC 6749 §2.3,
//! OAuth 2.1 §2.4): `client_secret_basic`, `client_secret_post`, and `none` for public clients.
//! A confidential client may use either secret method unless it registered one explicitly.
//! Using two methods at once is `invalid_request`; every failure is the same `invalid_client`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use http::header;

use crate::directory::clients::{self, AuthMethod, Client};
use crate::directory::Status;
use crate::secret::verify_digest;
use crate::store::Database;
use crate::wire::form::Params;
use crate::wire::{Error, Request};

/// Credentials as presented.
#[derive(Debug)]
pub struct Presented {
    /// The client id.
    pub client_id: String,
    /// The secret, if any.
    secret: Option<String>,
    /// Which method carried it.
    pub method: AuthMethod,
}

impl Presented {
    /// SHA-256 of the presented secret, for a write that must not happen without it (the
    /// authentication decision itself is [`check`]'s constant-time comparison).
    pub fn secret_digest(&self) -> Option<String> {
        self.secret
            .as_deref()
            .map(|s| crate::secret::sha256_b64(s.as_bytes()))
    }
}

/// Reads the credentials without checking them.
pub fn presented(req: &Request, params: &Params) -> Result<Presented, Error> {
    let basic = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("basic")
                .then(|| rest.trim().to_owned())
        });
    let body_id = params.get("client_id");
    let body_secret = params.get("client_secret");
    match basic {
        Some(b64) => {
            if body_secret.is_some() {
                return Err(Error::InvalidRequest(
                    "use one client authentication method, not two".into(),
                ));
            }
            let decoded = STANDARD
                .decode(b64)
                .map_err(|_| Error::InvalidClient { basic: true })?;
            let text =
                String::from_utf8(decoded).map_err(|_| Error::InvalidClient { basic: true })?;
            let (id, secret) = text
                .split_once(':')
                .ok_or(Error::InvalidClient { basic: true })?;
            // RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
            let id = form_decode(id);
            let secret = form_decode(secret);
            if body_id.is_some_and(|b| b != id) {
                return Err(Error::InvalidRequest(
                    "client_id in the body differs from the Authorization header".into(),
                ));
            }
            Ok(Presented {
                client_id: id,
                secret: Some(secret),
                method: AuthMethod::ClientSecretBasic,
            })
        }
        None => {
            let id = body_id
                .ok_or(Error::InvalidClient { basic: false })?
                .to_owned();
            Ok(match body_secret {
                Some(s) => Presented {
                    client_id: id,
                    secret: Some(s.to_owned()),
                    method: AuthMethod::ClientSecretPost,
                },
                None => Presented {
                    client_id: id,
                    secret: None,
                    method: AuthMethod::None,
                },
            })
        }
    }
}

fn form_decode(s: &str) -> String {
    form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Checks presented credentials against a loaded client row (`None`: unknown client).
pub fn check(p: &Presented, client: Option<Client>) -> Result<Client, Error> {
    let basic = p.method == AuthMethod::ClientSecretBasic;
    let fail = Error::InvalidClient { basic };
    let c = client.ok_or(fail)?;
    if c.status != Status::Active {
        return Err(Error::InvalidClient { basic });
    }
    if c.is_confidential() {
        let (Some(secret), Some(hash)) = (p.secret.as_deref(), c.secret_hash.as_deref()) else {
            return Err(Error::InvalidClient { basic });
        };
        if c.auth_method_strict && c.token_endpoint_auth_method != p.method {
            return Err(Error::InvalidClient { basic });
        }
        if !verify_digest(secret, hash) {
            return Err(Error::InvalidClient { basic });
        }
    } else if p.method != AuthMethod::None {
        // A public client has no secret; presenting one is a misconfigured or forged client.
        return Err(Error::InvalidClient { basic });
    }
    Ok(c)
}

/// Authenticates the client of a request.
pub async fn authenticate<D: Database + ?Sized>(
    db: &D,
    req: &Request,
    params: &Params,
) -> Result<Client, Error> {
    let p = presented(req, params)?;
    let client = clients::get_row(db, &p.client_id).await?;
    check(&p, client)
}
