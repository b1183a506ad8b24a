//! The browser pages: login, consent, account and errors. Plain, accessible HTML that works
//! without JavaScript; the pages forbid framing and scripts through their
//! Content-Security-Policy.
//!
//! Escaping happens by construction: markup is an [`Html`] value, built only by this module's
//! `html!` macro from a template literal in which every interpolated value goes through [`Render`] —
//! text is escaped, only another `Html` passes through as markup. There is no way to turn a
//! `String` into `Html` without escaping it.

use std::fmt;

use http::{header, HeaderValue, StatusCode};

use crate::wire::Response;

/// HTML-escapes text for element content and quoted attribute values.
fn esc(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// Markup that is safe to send: made only by `html!` in this module (a template literal whose
/// interpolated values were escaped) or by joining such values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Html(String);

impl Html {
    /// The markup.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Joins pieces of markup.
    pub fn concat(pieces: impl IntoIterator<Item = Html>) -> Html {
        Html(pieces.into_iter().map(|h| h.0).collect())
    }

    /// Only for `html!` (private to this module): the template is this module's own literal
    /// and every argument was rendered through [`Render`].
    fn from_template(filled: String) -> Html {
        Html(filled)
    }
}

/// A value interpolated into `html!`: text is escaped, [`Html`] is kept as markup.
pub trait Render {
    /// Appends the value as markup.
    fn render(&self, out: &mut String);
}

impl Render for str {
    fn render(&self, out: &mut String) {
        esc(self, out);
    }
}

impl Render for String {
    fn render(&self, out: &mut String) {
        esc(self, out);
    }
}

impl Render for Html {
    fn render(&self, out: &mut String) {
        out.push_str(&self.0);
    }
}

impl<T: Render + ?Sized> Render for &T {
    fn render(&self, out: &mut String) {
        (**self).render(out);
    }
}

/// Formatting adapter used by `html!`.
struct Interp<'a, T: Render + ?Sized>(&'a T);

impl<T: Render + ?Sized> fmt::Display for Interp<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        self.0.render(&mut s);
        f.write_str(&s)
    }
}

/// Markup from a template literal with positional `{}` placeholders only (as in
/// `<p>{}</p>`); every argument is escaped unless it is already [`Html`].
macro_rules! html {
    ($template:literal $(, $arg:expr)* $(,)?) => {
        Html::from_template(format!($template $(, Interp(&$arg))*))
    };
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;line-height:1.5;color:#1a1a1a}\
h1{font-size:1.4rem}label{display:block;margin-top:1rem;font-weight:600}\
input[type=text],input[type=password]{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}\
button{margin-top:1.25rem;padding:.55rem 1.2rem;font-size:1rem;margin-right:.5rem}\
.err{color:#a00;border:1px solid #a00;padding:.5rem;border-radius:4px}.warn{background:#fff4d6;padding:.5rem;border-radius:4px}\
.muted{color:#555}li{margin:.3rem 0}code{background:#f2f2f2;padding:0 .2rem}";

/// A page with the security headers every mcpgate page carries. `form_targets` are extra
/// origins the page's forms may end up at (the client's redirect URI, reached by redirect).
pub fn page(status: StatusCode, title: &str, body: &Html, form_targets: &[String]) -> Response {
    let style = Html(STYLE.to_owned());
    let doc = html!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · mcpgate</title><style>{}</style></head><body><main>{}</main></body></html>",
        title,
        style,
        body
    );
    let targets: String = form_targets.iter().map(|t| format!(" {t}")).collect();
    let csp = format!(
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'{targets}; \
         frame-ancestors 'none'; base-uri 'none'"
    );
    // same-origin, not no-referrer: browsers then send a real Origin on our own form posts,
    // which the login and consent handlers check.
    document(status, doc, "same-origin", &csp)
}

/// An HTML document with the headers every mcpgate document carries: never cached, never
/// framed, not sniffed, its referrer policy and Content-Security-Policy.
fn document(status: StatusCode, doc: Html, referrer: &'static str, csp: &str) -> Response {
    let mut resp = Response::new(doc.0.into_bytes());
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static(referrer));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(v) = HeaderValue::from_str(csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    resp
}

/// An error page: shown instead of redirecting when the client or redirect URI cannot be
/// trusted (RFC 6749 §4.1.2.1, RFC 9700 §4.11).
pub fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    let body = html!(
        "<h1>{}</h1><p class=\"err\" role=\"alert\">{}</p>\
         <p class=\"muted\">You can close this window and return to the application.</p>",
        title,
        message
    );
    page(status, title, &body, &[])
}

/// What the admin console's document names.
pub struct Console<'a> {
    /// The script's URL (same origin).
    pub script: &'a str,
    /// The stylesheet's URL (same origin).
    pub style: &'a str,
    /// The issuer (the application's authorization server).
    pub issuer: &'a str,
    /// The application's client id.
    pub client_id: &'a str,
    /// The admin API's resource identifier.
    pub resource: &'a str,
    /// The scopes it asks for.
    pub scope: &'a str,
}

/// The admin console's HTML document: its configuration in data attributes, no inline script;
/// `csp` confines it. No referrer: the authorization code arrives in its URL.
pub fn console(c: &Console<'_>, csp: &str) -> Response {
    let doc = html!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>mcpgate console</title><link rel=\"icon\" href=\"data:,\">\
         <link rel=\"stylesheet\" href=\"{}\">\
         <script type=\"module\" src=\"{}\"></script></head>\
         <body><div id=\"app\" data-issuer=\"{}\" data-client-id=\"{}\" data-resource=\"{}\" \
         data-scope=\"{}\"><noscript>The mcpgate console needs JavaScript.</noscript></div>\
         </body></html>",
        c.style,
        c.script,
        c.issuer,
        c.client_id,
        c.resource,
        c.scope
    );
    document(StatusCode::OK, doc, "no-referrer", csp)
}

/// What the login page shows.
pub struct Login<'a> {
    /// The client asking.
    pub client_name: &'a str,
    /// The authorization request's query string, posted back as `continue`.
    pub continue_query: &'a str,
    /// The CSRF token for the hidden field.
    pub csrf: &'a str,
    /// An error to show (failed login, rate limit).
    pub error: Option<&'a str>,
    /// Username to pre-fill.
    pub username: &'a str,
    /// Form action URL.
    pub action: &'a str,
    /// Whether the password form is shown (a deployment may sign in only upstream).
    pub password: bool,
    /// Upstream identity providers offered: the button's text and the URL that starts sign-in.
    pub providers: &'a [(String, String)],
}

/// The login page.
pub fn login(status: StatusCode, l: &Login<'_>, form_targets: &[String]) -> Response {
    let error = l
        .error
        .map(|e| {
            html!(
                "<p class=\"err\" role=\"alert\" id=\"login-error\">{}</p>",
                e
            )
        })
        .unwrap_or_default();
    let intro = if l.client_name.is_empty() {
        html!("Sign in to see and revoke the access you gave to applications.")
    } else {
        html!(
            "<strong>{}</strong> wants to access tools on your behalf. Sign in to continue.",
            l.client_name
        )
    };
    let form = if l.password {
        html!(
            "<form method=\"post\" action=\"{}\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"continue\" value=\"{}\">\
             <label for=\"username\">Username</label>\
             <input type=\"text\" id=\"username\" name=\"username\" autocomplete=\"username\" required value=\"{}\">\
             <label for=\"password\">Password</label>\
             <input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\">\
             <button type=\"submit\">Sign in</button></form>",
            l.action,
            l.csrf,
            l.continue_query,
            l.username,
        )
    } else {
        Html::default()
    };
    let mut buttons = String::new();
    for (label, href) in l.providers {
        buttons.push_str(&html!("<li><a class=\"idp\" href=\"{}\">{}</a></li>", href, label).0);
    }
    let providers = if buttons.is_empty() {
        Html::default()
    } else {
        let or = if l.password {
            html!("<p class=\"muted\">Or continue with your organisation's account:</p>")
        } else {
            Html::default()
        };
        html!("{}<ul class=\"idps\">{}</ul>", or, Html(buttons))
    };
    let body = html!(
        "<h1>Sign in</h1><p>{}</p>{}{}{}",
        intro,
        error,
        form,
        providers
    );
    page(status, "Sign in", &body, form_targets)
}

/// One scope line on the consent page.
pub struct ScopeLine<'a> {
    /// Scope token.
    pub name: &'a str,
    /// Its description.
    pub description: &'a str,
    /// Whether the user holds it now.
    pub held: bool,
}

/// What the consent page shows.
pub struct Consent<'a> {
    /// Client display name.
    pub client_name: &'a str,
    /// Client id.
    pub client_id: &'a str,
    /// Where the browser goes afterwards.
    pub redirect_host: &'a str,
    /// True when the redirect goes only to this device (loopback) or an app scheme.
    pub redirect_local: bool,
    /// The resource server's name and identifier.
    pub resource_name: &'a str,
    /// Its identifier.
    pub resource: &'a str,
    /// Scopes asked for now that were not consented before.
    pub new_scopes: Vec<ScopeLine<'a>>,
    /// Scopes consented before (step-up shows them as kept).
    pub kept: Vec<&'a str>,
    /// The signed request.
    pub request: &'a str,
    /// The CSRF token.
    pub csrf: &'a str,
    /// Form action URL.
    pub action: &'a str,
    /// Signed-in user's display name.
    pub user: &'a str,
    /// An extra warning (e.g. unverified client).
    pub warning: Option<&'a str>,
}

/// `<code>a</code>, <code>b</code>` (joined by `sep`).
fn codes<'a>(names: impl IntoIterator<Item = &'a str>, sep: &str) -> Html {
    let mut out = Vec::new();
    for (i, n) in names.into_iter().enumerate() {
        if i > 0 {
            out.push(html!("{}", sep));
        }
        out.push(html!("<code>{}</code>", n));
    }
    Html::concat(out)
}

/// The consent page.
pub fn consent(c: &Consent<'_>, form_targets: &[String]) -> Response {
    let items = Html::concat(c.new_scopes.iter().map(|s| {
        let note = if s.held {
            Html::default()
        } else {
            html!(" <span class=\"muted\">(you do not have this permission now; it applies if you are given it later)</span>")
        };
        let desc = if s.description.is_empty() { s.name } else { s.description };
        html!("<li>{} <code>{}</code>{}</li>", desc, s.name, note)
    }));
    let kept = if c.kept.is_empty() {
        Html::default()
    } else {
        html!(
            "<p class=\"muted\">Already allowed: {}</p>",
            codes(c.kept.iter().copied(), ", ")
        )
    };
    let local = if c.redirect_local {
        html!("<p class=\"warn\">This application receives the answer on this device only (a local address or an app link). Make sure you started this sign-in yourself.</p>")
    } else {
        Html::default()
    };
    let warning = c
        .warning
        .map(|w| html!("<p class=\"warn\">{}</p>", w))
        .unwrap_or_default();
    let body = html!(
        "<h1>Allow access?</h1><p>Signed in as <strong>{}</strong>.</p>\
         <p><strong>{}</strong> <span class=\"muted\">({})</span> asks to use <strong>{}</strong> \
         <span class=\"muted\">({})</span> on your behalf with these permissions:</p><ul>{}</ul>{}\
         <p>After you answer, you will be sent to <strong>{}</strong>.</p>{}{}\
         <form method=\"post\" action=\"{}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"request\" value=\"{}\">\
         <button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form>",
        c.user,
        c.client_name,
        c.client_id,
        c.resource_name,
        c.resource,
        items,
        kept,
        c.redirect_host,
        local,
        warning,
        c.action,
        c.csrf,
        c.request,
    );
    page(StatusCode::OK, "Allow access?", &body, form_targets)
}

/// One consent on the account page.
pub struct AccountGrant<'a> {
    /// Client display name and id.
    pub client_name: &'a str,
    /// Client id.
    pub client_id: &'a str,
    /// Resource server name.
    pub resource_name: &'a str,
    /// Its identifier.
    pub resource: &'a str,
    /// Its id (posted back to revoke).
    pub resource_server_id: &'a str,
    /// Consented scopes.
    pub scopes: &'a [String],
}

/// One session on the account page.
pub struct AccountSession<'a> {
    /// Handle (posted back to end it).
    pub id: &'a str,
    /// Started, as text.
    pub started: String,
    /// Source address.
    pub address: &'a str,
    /// Browser.
    pub user_agent: &'a str,
    /// The session this page was loaded with.
    pub current: bool,
}

/// What the account page shows.
pub struct Account<'a> {
    /// Signed-in user's display name.
    pub user: &'a str,
    /// CSRF token.
    pub csrf: &'a str,
    /// Where the revoke form posts.
    pub revoke_action: &'a str,
    /// Where the sign-out forms post.
    pub logout_action: &'a str,
    /// Consents.
    pub grants: Vec<AccountGrant<'a>>,
    /// Live sessions, newest first.
    pub sessions: Vec<AccountSession<'a>>,
}

/// The account page: consents (each revocable) and sessions (each can be ended; sign out here
/// or everywhere).
pub fn account(a: &Account<'_>) -> Response {
    let csrf = html!("<input type=\"hidden\" name=\"csrf\" value=\"{}\">", a.csrf);
    let grants = if a.grants.is_empty() {
        html!("<p>You have not allowed any application yet.</p>")
    } else {
        let items = Html::concat(a.grants.iter().map(|g| {
            html!(
                "<li><strong>{}</strong> <span class=\"muted\">({})</span> on <strong>{}</strong> \
                 <span class=\"muted\">({})</span>: {}\
                 <form method=\"post\" action=\"{}\">{}\
                 <input type=\"hidden\" name=\"client_id\" value=\"{}\">\
                 <input type=\"hidden\" name=\"resource_server_id\" value=\"{}\">\
                 <button type=\"submit\">Revoke access</button></form></li>",
                g.client_name,
                g.client_id,
                g.resource_name,
                g.resource,
                codes(g.scopes.iter().map(String::as_str), " "),
                a.revoke_action,
                csrf,
                g.client_id,
                g.resource_server_id,
            )
        }));
        html!("<ul>{}</ul>", items)
    };
    let sessions = Html::concat(a.sessions.iter().map(|s| {
        let this = if s.current {
            html!(" <strong>(this browser)</strong>")
        } else {
            html!(
                "<form method=\"post\" action=\"{}\">{}\
                 <input type=\"hidden\" name=\"session\" value=\"{}\">\
                 <button type=\"submit\">Sign out this session</button></form>",
                a.logout_action,
                csrf,
                s.id
            )
        };
        html!(
            "<li>Started {} from <code>{}</code> <span class=\"muted\">{}</span>{}</li>",
            s.started,
            s.address,
            s.user_agent,
            this
        )
    }));
    let body = html!(
        "<h1>Your account</h1><p>Signed in as <strong>{}</strong>.</p>\
         <h2>Applications you allowed</h2>{}\
         <h2>Where you are signed in</h2><ul>{}</ul>\
         <form method=\"post\" action=\"{}\">{}<button type=\"submit\">Sign out</button></form>\
         <form method=\"post\" action=\"{}\">{}<input type=\"hidden\" name=\"everywhere\" value=\"1\">\
         <button type=\"submit\">Sign out everywhere</button></form>",
        a.user,
        grants,
        sessions,
        a.logout_action,
        csrf,
        a.logout_action,
        csrf,
    );
    page(StatusCode::OK, "Your account", &body, &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolated_text_is_escaped_and_only_html_passes_as_markup() {
        let text = "<a href=\"x\">'&'</a>";
        let inner = html!("<b>{}</b>", "x<y");
        let page = html!("<p title=\"{}\">{}</p>{}", text, text.to_owned(), inner);
        assert_eq!(
            page.as_str(),
            "<p title=\"&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;\">\
             &lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;</p><b>x&lt;y</b>"
        );
    }

    #[test]
    fn templates_interpolate_positionally_only() {
        // An inline `{name}` would be captured by format! unescaped: templates in this crate
        // use positional `{}` only.
        let src = include_str!("ui.rs");
        let mut checked = 0;
        for (i, _) in src.match_indices("html!(") {
            let Some(body) = src[i + 6..].trim_start().strip_prefix('"') else {
                continue;
            };
            // The literal ends at the first quote not escaped by a backslash.
            let bytes = body.as_bytes();
            let end = (0..bytes.len())
                .find(|&j| bytes[j] == b'"' && (j == 0 || bytes[j - 1] != b'\\'))
                .unwrap_or(bytes.len());
            let template = &body[..end];
            checked += 1;
            let inline = template.match_indices('{').any(|(j, _)| {
                template[j + 1..].starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            });
            assert!(!inline, "inline capture in {template}");
        }
        assert!(checked > 20, "the scan found the templates ({checked})");
    }

    #[test]
    fn pages_forbid_framing_and_caching() {
        let r = error_page(StatusCode::BAD_REQUEST, "t", "<script>alert(1)</script>");
        assert_eq!(r.headers()["x-frame-options"], "DENY");
        assert!(r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'"));
        assert_eq!(r.headers()["cache-control"], "no-store");
        let body = String::from_utf8(r.into_body()).unwrap();
        assert!(!body.contains("<script>"));
    }
}
