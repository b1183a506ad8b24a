//! The admin console's document. The console is a single-page application and an OAuth client
//! of mcpgate itself (authorization code + PKCE, a public client with the fixed id
//! [`CLIENT_ID`]) that calls the admin API with the person's own `admin.read` / `admin.write`
//! scopes. This module renders its one HTML document, with the Content-Security-Policy that
//! confines it, keeps the console's client registered with a redirect URI at the current issuer,
//! and answers for its script and stylesheet ([`Assets`]: built from `src/console`, embedded in
//! the Worker by the runtime glue, answered from memory like the metadata documents).

use http::header::{self, HeaderName, HeaderValue};
use http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use super::admin::bootstrap::{identifier, ADMIN_ROLE_ID, ADMIN_RS_ID, SCOPE_READ, SCOPE_WRITE};
use crate::config::Config;
use crate::crypto::Crypto;
use crate::directory::clients::{self, GRANT_CODE, GRANT_REFRESH};
use crate::directory::roles::{self, Holder};
use crate::directory::{audit, resource_servers};
use crate::service::Service;
use crate::store::{decode_first, Results, Stmt, Store};
use crate::ui;
use crate::wire::Response;

/// The console's path below the issuer (also its redirect URI's).
pub const PATH: &str = "/console";
/// The console's client id.
pub const CLIENT_ID: &str = clients::CONSOLE_CLIENT_ID;
/// Where the console's script and stylesheet are, below the issuer: then their version, then
/// `console.js` or `console.css`.
pub const ASSETS: &str = "/console/assets/";

/// The console's script and stylesheet, as the runtime embeds them (empty where none were
/// built: the native tests; then they are not found).
#[derive(Debug, Clone, Copy, Default)]
pub struct Assets {
    /// `console.js`: the application, bundled and minified.
    pub script: &'static [u8],
    /// `console.css`.
    pub style: &'static [u8],
    /// A hash of both, in their paths: browsers keep them for a year and a deploy that changes
    /// them changes their paths. Only the current version is answered, so during a gradual
    /// deploy an isolate of the other version never answers (and lets browsers keep) its own
    /// files under this version's path.
    pub version: &'static str,
}

impl Assets {
    /// Which asset `local` (a path below the issuer) names: only those of this version, and
    /// none when there are none.
    pub fn at(&self, local: &str) -> Option<Asset> {
        let (version, file) = local.strip_prefix(ASSETS)?.split_once('/')?;
        if version != self.version || self.script.is_empty() {
            return None;
        }
        match file {
            "console.js" => Some(Asset::Script),
            "console.css" => Some(Asset::Style),
            _ => None,
        }
    }

    /// The path of an asset below the issuer.
    pub fn path(&self, which: Asset) -> String {
        let file = match which {
            Asset::Script => "console.js",
            Asset::Style => "console.css",
        };
        format!("{ASSETS}{}/{file}", self.version)
    }
}

/// Which of the console's assets a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asset {
    /// `console.js`.
    Script,
    /// `console.css`.
    Style,
}

/// `GET` an asset: immutable (its path carries [`Assets::version`]), never sniffed, and not
/// to be embedded by other origins.
pub fn asset(config: &Config, which: Asset) -> Response {
    let (body, content_type) = match which {
        Asset::Script => (
            config.console_assets.script,
            "text/javascript; charset=utf-8",
        ),
        Asset::Style => (config.console_assets.style, "text/css; charset=utf-8"),
    };
    if body.is_empty() {
        return ui::error_page(
            StatusCode::NOT_FOUND,
            "Not found",
            "This build of mcpgate has no console assets.",
        );
    }
    let mut resp = Response::new(body.to_vec());
    for (name, value) in [
        (header::CONTENT_TYPE, content_type),
        (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (
            HeaderName::from_static("cross-origin-resource-policy"),
            "same-origin",
        ),
    ] {
        resp.headers_mut()
            .insert(name, HeaderValue::from_static(value));
    }
    resp
}

/// The document's policy: scripts, styles and requests to this origin only; nothing inline,
/// no frames, no plugins, no forms posted anywhere else.
pub const CSP: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
     img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The console's redirect URI at an issuer.
pub fn redirect_uri(issuer: &str) -> String {
    format!("{issuer}{PATH}")
}

/// Registers the console's client, restricts it to the admin API and gives it the admin role
/// as its ceiling: at the bootstrap, or at the first visit to a deployment bootstrapped before
/// the console existed. An existing client is left as it is (the admin API refuses to delete
/// it: an admin turns the console off by disabling its client).
pub fn client_stmts(issuer: &str, now: i64) -> Vec<Stmt> {
    vec![
        clients::create_builtin_public_stmt(
            CLIENT_ID,
            "mcpgate console",
            "The admin console (built in)",
            &[redirect_uri(issuer)],
            &[GRANT_CODE.to_owned(), GRANT_REFRESH.to_owned()],
            now,
        ),
        clients::link_resource_stmt(CLIENT_ID, ADMIN_RS_ID),
        // Its ceiling: a person's token carries what they hold of these, never more. A public
        // client without the client_credentials grant cannot use the role for itself.
        roles::assign_stmt(Holder::Client, CLIENT_ID, ADMIN_ROLE_ID),
    ]
}

#[derive(Deserialize)]
struct Registered {
    #[serde(deserialize_with = "crate::directory::json_list")]
    redirect_uris: Vec<String>,
}

/// `GET /console`: the console's document (also its redirect URI: the application reads the
/// code from the query). One D1 read; a write only when the client is missing, or lacks the
/// redirect URI at the current issuer (the issuer changed: the URI is added, the others kept).
pub async fn get<S: Store + ?Sized, C: Crypto>(svc: &Service<'_, S, C>, now: i64) -> Response {
    let issuer = &svc.config.issuer;
    let read = async {
        let mut r = Results::new(
            svc.store
                .batch(vec![
                    resource_servers::exists_stmt(ADMIN_RS_ID),
                    clients::get_stmt(CLIENT_ID),
                ])
                .await?,
        );
        let [rs, client] = r.take()?;
        Ok::<_, crate::store::StoreError>((
            decode_first::<serde::de::IgnoredAny>(rs)?.is_some(),
            decode_first::<Registered>(client)?,
        ))
    };
    let Ok((bootstrapped, client)) = read.await else {
        return unavailable();
    };
    if !bootstrapped {
        return ui::error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "The console is not set up yet",
            "Create the admin API first (POST /admin/v1/bootstrap with the bootstrap credential), \
             then give someone the mcpgate-admin role.",
        );
    }
    let current = redirect_uri(issuer);
    let (mut stmts, action) = match client {
        None => (client_stmts(issuer, now), "console.client.create"),
        Some(c) if !c.redirect_uris.contains(&current) => (
            vec![clients::add_redirect_uri_stmt(CLIENT_ID, &current, now)],
            "console.client.redirect_uri.add",
        ),
        Some(_) => return document(svc.config),
    };
    stmts.push(audit::record(
        now,
        "system",
        action,
        "client",
        CLIENT_ID,
        json!({ "redirect_uri": current }),
    ));
    if svc.store.batch(stmts).await.is_err() {
        return unavailable();
    }
    document(svc.config)
}

fn unavailable() -> Response {
    ui::error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Storage is unavailable",
        "Try again in a moment.",
    )
}

/// The HTML document ([`ui::console`]) with the policy that confines it.
pub fn document(config: &Config) -> Response {
    let issuer = &config.issuer;
    let scope = format!("{SCOPE_READ} {SCOPE_WRITE}");
    let url = |which| {
        format!(
            "{}{}",
            config.issuer_path,
            config.console_assets.path(which)
        )
    };
    ui::console(
        &ui::Console {
            script: &url(Asset::Script),
            style: &url(Asset::Style),
            issuer,
            client_id: CLIENT_ID,
            resource: &identifier(issuer),
            scope: &scope,
        },
        CSP,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(issuer: &str) -> Config {
        let mut c = Config::from_vars(|name| match name {
            "MCPGATE_ISSUER" => Some(issuer.to_owned()),
            "MCPGATE_SECRET" | "MCPGATE_ADMIN_TOKEN" => Some("x".repeat(32)),
            _ => None,
        })
        .unwrap();
        c.console_assets = Assets {
            script: b"console.log(1)",
            style: b"body{}",
            version: "abc123",
        };
        c
    }

    #[test]
    fn document_is_confined_by_a_strict_policy() {
        let resp = document(&config("https://auth.example.com"));
        let csp = resp.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        for d in [
            "default-src 'none'",
            "script-src 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ] {
            assert!(csp.contains(d), "{d} missing from {csp}");
        }
        assert!(!csp.contains("unsafe"), "{csp}");
        assert_eq!(resp.headers()[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(resp.headers()[header::CACHE_CONTROL], "no-store");
        let body = String::from_utf8(resp.body().clone()).unwrap();
        assert!(!body.contains("<script>"), "no inline script");
        assert!(body.contains("data-client-id=\"app_mcpgate_console\""));
        assert!(body.contains("data-resource=\"https://auth.example.com/admin/v1\""));
    }

    #[test]
    fn assets_are_named_below_the_issuer_with_their_version() {
        let resp = document(&config("https://auth.example.com/tenant"));
        let body = String::from_utf8(resp.body().clone()).unwrap();
        assert!(
            body.contains("src=\"/tenant/console/assets/abc123/console.js\""),
            "{body}"
        );
        assert!(
            body.contains("href=\"/tenant/console/assets/abc123/console.css\""),
            "{body}"
        );
    }

    #[test]
    fn only_this_versions_assets_are_found() {
        let c = config("https://auth.example.com");
        let a = c.console_assets;
        assert_eq!(
            a.at("/console/assets/abc123/console.js"),
            Some(Asset::Script)
        );
        assert_eq!(
            a.at("/console/assets/abc123/console.css"),
            Some(Asset::Style)
        );
        for other in [
            "/console/assets/abc124/console.js",
            "/console/assets/console.js",
            "/console/assets/abc123/other.js",
            "/console/assets/abc123/console.js/x",
            "/console/assets//console.js",
        ] {
            assert_eq!(a.at(other), None, "{other}");
        }
        assert_eq!(Assets::default().at("/console/assets//console.js"), None);
    }

    #[test]
    fn assets_are_immutable_typed_and_never_sniffed() {
        let c = config("https://auth.example.com");
        let js = asset(&c, Asset::Script);
        assert_eq!(js.status(), StatusCode::OK);
        assert_eq!(js.body().as_slice(), b"console.log(1)");
        assert_eq!(
            js.headers()[header::CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            js.headers()[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        assert_eq!(js.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let css = asset(&c, Asset::Style);
        assert_eq!(
            css.headers()[header::CONTENT_TYPE],
            "text/css; charset=utf-8"
        );
        let mut none = c;
        none.console_assets = Assets::default();
        let none = asset(&none, Asset::Style);
        assert_eq!(none.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn document_escapes_the_issuer() {
        let mut c = config("https://a.example");
        c.issuer = "https://a.example/\"><script>".into();
        let resp = document(&c);
        let body = String::from_utf8(resp.body().clone()).unwrap();
        assert!(!body.contains("\"><script>"));
    }
}
