//! The browser pages: login, consent and errors. Plain, accessible HTML that works without
//! JavaScript. Every interpolated value goes through [`esc`]; the pages forbid framing and
//! scripts through their Content-Security-Policy.

use http::{header, HeaderValue, StatusCode};

use crate::wire::Response;

/// HTML-escapes text for element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
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
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;line-height:1.5;color:#1a1a1a}\
h1{font-size:1.4rem}label{display:block;margin-top:1rem;font-weight:600}\
input[type=text],input[type=password]{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}\
button{margin-top:1.25rem;padding:.55rem 1.2rem;font-size:1rem;margin-right:.5rem}\
.err{color:#a00;border:1px solid #a00;padding:.5rem;border-radius:4px}.warn{background:#fff4d6;padding:.5rem;border-radius:4px}\
.muted{color:#555}li{margin:.3rem 0}code{background:#f2f2f2;padding:0 .2rem}";

/// A page with the security headers every mcpgate page carries. `form_targets` are extra
/// origins the page's forms may end up at (the client's redirect URI, reached by redirect).
pub fn page(status: StatusCode, title: &str, body: &str, form_targets: &[String]) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · mcpgate</title><style>{STYLE}</style></head><body><main>{body}</main></body></html>",
        esc(title)
    );
    let mut resp = Response::new(html.into_bytes());
    *resp.status_mut() = status;
    let targets: String = form_targets.iter().map(|t| format!(" {t}")).collect();
    let csp = format!(
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'{targets}; \
         frame-ancestors 'none'; base-uri 'none'"
    );
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // same-origin, not no-referrer: browsers then send a real Origin on our own form posts,
    // which the login and consent handlers check.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    resp
}

/// An error page: shown instead of redirecting when the client or redirect URI cannot be
/// trusted (RFC 6749 §4.1.2.1, RFC 9700 §4.11).
pub fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    let body = format!(
        "<h1>{}</h1><p class=\"err\" role=\"alert\">{}</p>\
         <p class=\"muted\">You can close this window and return to the application.</p>",
        esc(title),
        esc(message)
    );
    page(status, title, &body, &[])
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
}

/// The login page.
pub fn login(status: StatusCode, l: &Login<'_>, form_targets: &[String]) -> Response {
    let error = l
        .error
        .map(|e| {
            format!(
                "<p class=\"err\" role=\"alert\" id=\"login-error\">{}</p>",
                esc(e)
            )
        })
        .unwrap_or_default();
    let intro = if l.client_name.is_empty() {
        "Sign in to see and revoke the access you gave to applications.".to_owned()
    } else {
        format!(
            "<strong>{}</strong> wants to access tools on your behalf. Sign in to continue.",
            esc(l.client_name)
        )
    };
    let body = format!(
        "<h1>Sign in</h1><p>{intro}</p>{error}\
         <form method=\"post\" action=\"{}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"continue\" value=\"{}\">\
         <label for=\"username\">Username</label>\
         <input type=\"text\" id=\"username\" name=\"username\" autocomplete=\"username\" required value=\"{}\">\
         <label for=\"password\">Password</label>\
         <input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\
         <button type=\"submit\">Sign in</button></form>",
        esc(l.action),
        esc(l.csrf),
        esc(l.continue_query),
        esc(l.username),
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

/// The consent page.
pub fn consent(c: &Consent<'_>, form_targets: &[String]) -> Response {
    let items: String = c
        .new_scopes
        .iter()
        .map(|s| {
            let note = if s.held {
                String::new()
            } else {
                " <span class=\"muted\">(you do not have this permission now; it applies if you are given it later)</span>".into()
            };
            let desc = if s.description.is_empty() { s.name } else { s.description };
            format!("<li>{} <code>{}</code>{note}</li>", esc(desc), esc(s.name))
        })
        .collect();
    let kept = if c.kept.is_empty() {
        String::new()
    } else {
        format!(
            "<p class=\"muted\">Already allowed: {}</p>",
            c.kept
                .iter()
                .map(|k| format!("<code>{}</code>", esc(k)))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let local = if c.redirect_local {
        "<p class=\"warn\">This application receives the answer on this device only (a local address or an app link). Make sure you started this sign-in yourself.</p>"
    } else {
        ""
    };
    let warning = c
        .warning
        .map(|w| format!("<p class=\"warn\">{}</p>", esc(w)))
        .unwrap_or_default();
    let body = format!(
        "<h1>Allow access?</h1><p>Signed in as <strong>{}</strong>.</p>\
         <p><strong>{}</strong> <span class=\"muted\">({})</span> asks to use <strong>{}</strong> \
         <span class=\"muted\">({})</span> on your behalf with these permissions:</p><ul>{items}</ul>{kept}\
         <p>After you answer, you will be sent to <strong>{}</strong>.</p>{local}{warning}\
         <form method=\"post\" action=\"{}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"request\" value=\"{}\">\
         <button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form>",
        esc(c.user),
        esc(c.client_name),
        esc(c.client_id),
        esc(c.resource_name),
        esc(c.resource),
        esc(c.redirect_host),
        esc(c.action),
        esc(c.csrf),
        esc(c.request),
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
    let csrf = format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(a.csrf)
    );
    let grants: String = a
        .grants
        .iter()
        .map(|g| {
            format!(
                "<li><strong>{}</strong> <span class=\"muted\">({})</span> on <strong>{}</strong> \
                 <span class=\"muted\">({})</span>: {}\
                 <form method=\"post\" action=\"{}\">{csrf}\
                 <input type=\"hidden\" name=\"client_id\" value=\"{}\">\
                 <input type=\"hidden\" name=\"resource_server_id\" value=\"{}\">\
                 <button type=\"submit\">Revoke access</button></form></li>",
                esc(g.client_name),
                esc(g.client_id),
                esc(g.resource_name),
                esc(g.resource),
                g.scopes
                    .iter()
                    .map(|s| format!("<code>{}</code>", esc(s)))
                    .collect::<Vec<_>>()
                    .join(" "),
                esc(a.revoke_action),
                esc(g.client_id),
                esc(g.resource_server_id),
            )
        })
        .collect();
    let grants = if a.grants.is_empty() {
        "<p>You have not allowed any application yet.</p>".to_owned()
    } else {
        format!("<ul>{grants}</ul>")
    };
    let sessions: String = a
        .sessions
        .iter()
        .map(|s| {
            let this = if s.current {
                " <strong>(this browser)</strong>".to_owned()
            } else {
                format!(
                    "<form method=\"post\" action=\"{}\">{csrf}\
                     <input type=\"hidden\" name=\"session\" value=\"{}\">\
                     <button type=\"submit\">Sign out this session</button></form>",
                    esc(a.logout_action),
                    esc(s.id)
                )
            };
            format!(
                "<li>Started {} from <code>{}</code> <span class=\"muted\">{}</span>{this}</li>",
                esc(&s.started),
                esc(s.address),
                esc(s.user_agent),
            )
        })
        .collect();
    let body = format!(
        "<h1>Your account</h1><p>Signed in as <strong>{}</strong>.</p>\
         <h2>Applications you allowed</h2>{grants}\
         <h2>Where you are signed in</h2><ul>{sessions}</ul>\
         <form method=\"post\" action=\"{logout}\">{csrf}<button type=\"submit\">Sign out</button></form>\
         <form method=\"post\" action=\"{logout}\">{csrf}<input type=\"hidden\" name=\"everywhere\" value=\"1\">\
         <button type=\"submit\">Sign out everywhere</button></form>",
        esc(a.user),
        logout = esc(a.logout_action),
    );
    page(StatusCode::OK, "Your account", &body, &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
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
