//! Server-rendered HTML of the sign-in flow: the sign-in, consent, account, sign-out and
//! error pages. Every interpolated value goes through [`escape`]; no inline script or
//! style (the content security policy forbids both); the stylesheet is served from the
//! binary at [`STYLESHEET_PATH`].

use std::fmt::Write;

/// Where the pages' stylesheet is served (versioned by its content's size: cached long).
pub const STYLESHEET_PATH: &str = "/assets/sichat-1.css";
pub const STYLESHEET: &str = include_str!("../../assets/pages/sichat.css");

/// HTML-escapes text for element content and double-quoted attributes.
pub fn escape(s: &str) -> String {
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

/// A whole page around `body`.
pub fn layout(title: &str, wide: bool, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\">\
         <title>{title}</title><link rel=\"stylesheet\" href=\"{STYLESHEET_PATH}\"></head>\
         <body><main{class}><div class=\"brand\">Sichat</div>{body}</main></body></html>",
        title = escape(title),
        class = if wide { " class=\"wide\"" } else { "" },
    )
}

fn hidden(name: &str, value: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
        escape(name),
        escape(value)
    )
}

/// The sign-in form. `tx` is the sealed authorization request (none when signing in to
/// the account page).
pub struct LoginPage<'a> {
    pub tx: Option<&'a str>,
    pub csrf: &'a str,
    pub client_name: Option<&'a str>,
    pub login_hint: Option<&'a str>,
    pub error: Option<&'a str>,
}

pub fn login(p: &LoginPage<'_>) -> String {
    let mut body = String::from("<h1>Sign in</h1>");
    match p.client_name {
        Some(name) => {
            let _ = write!(
                body,
                "<p class=\"muted\">to continue to <strong>{}</strong></p>",
                escape(name)
            );
        }
        None => body.push_str("<p class=\"muted\">to manage your account</p>"),
    }
    if let Some(error) = p.error {
        let _ = write!(
            body,
            "<p class=\"error\" role=\"alert\">{}</p>",
            escape(error)
        );
    }
    let _ = write!(
        body,
        "<form method=\"post\" action=\"/login\">{csrf}{tx}\
         <label for=\"username\">Username</label>\
         <input type=\"text\" id=\"username\" name=\"username\" value=\"{hint}\" \
          autocomplete=\"username\" autocapitalize=\"none\" spellcheck=\"false\" required autofocus>\
         <label for=\"password\">Password</label>\
         <input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\
         <div class=\"actions\"><button class=\"primary\" type=\"submit\">Sign in</button></div></form>",
        csrf = hidden("csrf", p.csrf),
        tx = p.tx.map(|t| hidden("tx", t)).unwrap_or_default(),
        hint = escape(p.login_hint.unwrap_or_default()),
    );
    layout("Sign in", false, &body)
}

/// What a scope means, for the consent page.
fn describe_scope(scope: &str) -> String {
    match scope {
        "openid" => "Know who you are (your account identifier)".into(),
        "profile" => "Your name and username".into(),
        "email" => "Your email address".into(),
        "offline_access" => "Stay connected when you are not using it".into(),
        "holder" => "Read and present the credentials you hold here".into(),
        other => format!("Scope <code>{}</code>", escape(other)),
    }
}

/// A claim a held credential backs, as listed on the consent page.
pub struct BackedClaim<'a> {
    pub claim: &'a str,
    pub credential_type: &'a str,
    pub issuer: &'a str,
}

pub struct ConsentPage<'a> {
    pub tx: &'a str,
    pub csrf: &'a str,
    pub client_name: &'a str,
    pub user: &'a str,
    pub scopes: Vec<&'a str>,
    pub claims: &'a [String],
    pub backed: Vec<BackedClaim<'a>>,
}

pub fn consent(p: &ConsentPage<'_>) -> String {
    let mut body = format!(
        "<h1>Allow {client}?</h1><p class=\"muted\">Signed in as <strong>{user}</strong>. \
         <strong>{client}</strong> asks to:</p><ul class=\"items\">",
        client = escape(p.client_name),
        user = escape(p.user),
    );
    // Who the user is first, then what else.
    let mut scopes = p.scopes.clone();
    scopes.sort_by_key(|s| *s != "openid");
    for scope in scopes {
        let _ = write!(body, "<li>{}</li>", describe_scope(scope));
    }
    for claim in p.claims {
        let _ = write!(body, "<li>The claim <code>{}</code></li>", escape(claim));
    }
    body.push_str("</ul>");
    if !p.backed.is_empty() {
        body.push_str(
            "<h2>Proven by your credentials</h2><p class=\"muted\">These claims come from \
             verifiable credentials you hold on this server, checked now:</p><ul class=\"items\">",
        );
        for b in &p.backed {
            let _ = write!(
                body,
                "<li><span><code>{claim}</code> from your <strong>{kind}</strong></span>\
                 <span class=\"badge\" title=\"issuer\">{issuer}</span></li>",
                claim = escape(b.claim),
                kind = escape(b.credential_type),
                issuer = escape(b.issuer),
            );
        }
        body.push_str("</ul>");
    }
    let _ = write!(
        body,
        "<form method=\"post\" action=\"/authorize/consent\">{csrf}{tx}\
         <div class=\"actions\"><button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button>\
         <button class=\"primary\" type=\"submit\" name=\"decision\" value=\"allow\">Allow</button></div></form>",
        csrf = hidden("csrf", p.csrf),
        tx = hidden("tx", p.tx),
    );
    layout("Allow access", false, &body)
}

/// An error the user sees (nothing is sent back to the application).
pub fn error(title: &str, detail: &str) -> String {
    layout(
        title,
        false,
        &format!(
            "<h1>{}</h1><p>{}</p><p class=\"muted\">You were not sent back to the application.</p>",
            escape(title),
            escape(detail)
        ),
    )
}

/// A plain message page.
pub fn message(title: &str, text: &str) -> String {
    layout(
        title,
        false,
        &format!("<h1>{}</h1><p>{}</p>", escape(title), escape(text)),
    )
}

pub struct AccountSession<'a> {
    pub id: &'a str,
    pub label: &'a str,
    pub last_seen: String,
    pub current: bool,
}

pub struct AccountConsent<'a> {
    pub client_id: &'a str,
    pub scope: &'a str,
    pub granted: String,
}

pub struct AccountPage<'a> {
    pub user: &'a str,
    pub csrf: &'a str,
    pub consents: Vec<AccountConsent<'a>>,
    pub sessions: Vec<AccountSession<'a>>,
}

pub fn account(p: &AccountPage<'_>) -> String {
    let csrf = hidden("csrf", p.csrf);
    let mut body = format!(
        "<h1>Your account</h1><p class=\"muted\">Signed in as <strong>{}</strong></p>\
         <h2>Applications you allowed</h2>",
        escape(p.user)
    );
    if p.consents.is_empty() {
        body.push_str("<p class=\"muted\">None yet.</p>");
    } else {
        body.push_str("<ul class=\"items\">");
        for c in &p.consents {
            let _ = write!(
                body,
                "<li><span><strong>{id}</strong><br><span class=\"muted\">{scope} · since {granted}</span></span>\
                 <form class=\"inline\" method=\"post\" action=\"/account/consents/revoke\">{csrf}{client}\
                 <button class=\"danger\" type=\"submit\">Revoke</button></form></li>",
                id = escape(c.client_id),
                scope = escape(c.scope),
                granted = escape(&c.granted),
                client = hidden("client_id", c.client_id),
            );
        }
        body.push_str("</ul>");
    }
    body.push_str("<h2>Where you are signed in</h2><ul class=\"items\">");
    for s in &p.sessions {
        let _ = write!(
            body,
            "<li><span>{label}{current}<br><span class=\"muted\">last used {seen}</span></span>\
             <form class=\"inline\" method=\"post\" action=\"/account/sessions/revoke\">{csrf}{id}\
             <button class=\"danger\" type=\"submit\">Sign out</button></form></li>",
            label = escape(if s.label.is_empty() {
                "A browser"
            } else {
                s.label
            }),
            current = if s.current {
                " <span class=\"badge\">this browser</span>"
            } else {
                ""
            },
            seen = escape(&s.last_seen),
            id = hidden("session_id", s.id),
        );
    }
    body.push_str("</ul>");
    layout("Your account", true, &body)
}

/// The sign-out confirmation (RP-initiated logout without a valid `id_token_hint`).
pub fn logout_confirm(csrf: &str, carry: &[(&str, &str)]) -> String {
    let mut fields = hidden("csrf", csrf);
    for (name, value) in carry {
        fields.push_str(&hidden(name, value));
    }
    layout(
        "Sign out",
        false,
        &format!(
            "<h1>Sign out?</h1><p>Do you want to sign out of this server?</p>\
             <form method=\"post\" action=\"/logout\">{fields}\
             <div class=\"actions\"><button class=\"primary\" type=\"submit\" name=\"confirm\" value=\"yes\">Sign out</button></div></form>"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_everywhere() {
        let evil = "\"><script>alert(1)</script>'";
        let html = login(&LoginPage {
            tx: Some(evil),
            csrf: evil,
            client_name: Some(evil),
            login_hint: Some(evil),
            error: Some(evil),
        });
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains(evil), "{html}");
        assert!(html.contains("&quot;&gt;&lt;script&gt;"));
        let html = error(evil, evil);
        assert!(!html.contains("<script>"));
    }
}
