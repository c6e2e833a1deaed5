//! The sign-in pages as a hostile client sees them: CSRF tokens on every POST, rate limits
//! with `Retry-After`, cookie and security headers; the account page (revoking a consent
//! revokes the client's tokens; sessions can be ended); RP-initiated logout with exact
//! `post_logout_redirect_uri` matching.

use serde_json::{Value, json};
use sichat_core::oauth::s256_challenge;

use crate::browser::{Browser, Page};
use crate::common::TestServer;
use crate::oidc_login::{PASSWORD, REDIRECT, SECRET, setup};

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

fn authorize_url(server: &TestServer, scope: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", "rp-rs256")
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("response_type", "code")
        .append_pair("scope", scope)
        .append_pair("state", "st")
        .append_pair("code_challenge", &s256_challenge(VERIFIER))
        .append_pair("code_challenge_method", "S256")
        .finish();
    format!("{}/authorize?{query}", server.base)
}

/// Signs in and allows, returning the redirect with the code.
async fn allow(server: &TestServer, browser: &mut Browser, scope: &str) -> Page {
    let mut page = browser.get(&authorize_url(server, scope)).await;
    if page.body.contains("action=\"/login\"") {
        let signed = browser.sign_in(&server.base, &page, "ann", PASSWORD).await;
        page = browser.follow(&server.base, &signed).await;
    }
    if page.status == 200 {
        page = browser.consent(&server.base, &page, "allow").await;
    }
    assert_eq!(page.status, 303, "{}", page.body);
    page
}

fn form(fields: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

async fn tokens(server: &TestServer, code: &str) -> Value {
    let resp = server
        .client
        .post(server.url("/token"))
        .basic_auth("rp-rs256", Some(SECRET))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

async fn userinfo_status(server: &TestServer, token: &str) -> u16 {
    server
        .client
        .get(server.url("/userinfo"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn pages_carry_security_headers_and_cookies() {
    let (server, _) = setup().await;
    let mut browser = Browser::new();
    let page = browser.get(&authorize_url(&server, "openid")).await;
    let h = &page.headers;
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["cache-control"], "no-store");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(
        csp.contains("form-action 'self' https://rp.example"),
        "{csp}"
    );
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(
        !page.body.contains("<script") && !page.body.contains("style="),
        "no inline script or style"
    );
    let csrf_cookie = h["set-cookie"].to_str().unwrap();
    assert!(csrf_cookie.starts_with("sichat_csrf="), "{csrf_cookie}");
    assert!(csrf_cookie.contains("HttpOnly") && csrf_cookie.contains("SameSite=Lax"));
    assert!(
        !csrf_cookie.contains("Secure"),
        "the public URL is http here"
    );

    let signed = browser.sign_in(&server.base, &page, "ann", PASSWORD).await;
    assert_eq!(signed.status, 303);
    assert!(
        signed
            .location()
            .unwrap()
            .starts_with("/authorize/continue?tx=")
    );
    let session = signed
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("sichat_session="))
        .expect("a session cookie");
    assert!(
        session.contains("HttpOnly")
            && session.contains("SameSite=Lax")
            && session.contains("Max-Age="),
        "{session}"
    );

    // The stylesheet comes from the binary.
    let css = server.get("/assets/sichat-1.css").await;
    assert_eq!(css.status(), 200);
    assert!(
        css.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
}

#[tokio::test]
async fn every_post_needs_the_browsers_csrf_token() {
    let (server, _) = setup().await;
    let mut browser = Browser::new();
    let page = browser.get(&authorize_url(&server, "openid")).await;
    let tx = page.field("tx").unwrap();
    let csrf = page.field("csrf").unwrap();
    let login = format!("{}/login", server.base);
    // A wrong token, no token, or the right token without the cookie (another browser).
    for fields in [
        vec![
            ("csrf", "forged"),
            ("tx", tx.as_str()),
            ("username", "ann"),
            ("password", PASSWORD),
        ],
        vec![
            ("tx", tx.as_str()),
            ("username", "ann"),
            ("password", PASSWORD),
        ],
    ] {
        let refused = browser.post(&login, &fields).await;
        assert_eq!(refused.status, 403, "{}", refused.body);
    }
    let mut stranger = Browser::new();
    let refused = stranger
        .post(
            &login,
            &[
                ("csrf", &csrf),
                ("tx", &tx),
                ("username", "ann"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(refused.status, 403);
    assert!(
        refused
            .headers
            .get("set-cookie")
            .is_none_or(|c| !c.to_str().unwrap().contains("sichat_session"))
    );

    // Consent, logout confirmation and account forms check it too.
    let signed = browser.sign_in(&server.base, &page, "ann", PASSWORD).await;
    let consent = browser.follow(&server.base, &signed).await;
    let tx = consent.field("tx").unwrap();
    for (path, fields) in [
        (
            "/authorize/consent",
            vec![("csrf", "x"), ("tx", tx.as_str()), ("decision", "allow")],
        ),
        (
            "/account/consents/revoke",
            vec![("csrf", "x"), ("client_id", "rp-rs256")],
        ),
        (
            "/account/sessions/revoke",
            vec![("csrf", "x"), ("session_id", "x")],
        ),
        ("/logout", vec![("csrf", "x"), ("confirm", "yes")]),
    ] {
        let refused = browser
            .post(&format!("{}{path}", server.base), &fields)
            .await;
        assert_eq!(refused.status, 403, "{path}: {}", refused.body);
    }
    // A body that is not a form is refused with a page.
    let resp = server
        .client
        .post(server.url("/login"))
        .json(&json!({"username": "ann"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn sign_in_attempts_are_rate_limited_per_account_and_per_address() {
    let (server, _) = setup().await;
    let mut browser = Browser::new();
    let page = browser.get(&format!("{}/login", server.base)).await;
    let csrf = page.field("csrf").unwrap();
    let login = format!("{}/login", server.base);
    for i in 0..10 {
        let wrong = browser
            .post(
                &login,
                &[
                    ("csrf", &csrf),
                    ("username", "ann"),
                    ("password", "wrong password"),
                ],
            )
            .await;
        assert_eq!(wrong.status, 401, "attempt {i}");
        assert!(wrong.body.contains("Unknown username or wrong password"));
    }
    // The account is locked for the minute, even with the right password.
    let limited = browser
        .post(
            &login,
            &[("csrf", &csrf), ("username", "ANN"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(limited.status, 429);
    let retry: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    // Unknown users answer like wrong passwords, then the address runs out (30/min).
    let mut statuses = Vec::new();
    for i in 0..25 {
        let r = browser
            .post(
                &login,
                &[
                    ("csrf", &csrf),
                    ("username", &format!("nobody{i}")),
                    ("password", "whatever1"),
                ],
            )
            .await;
        statuses.push(r.status);
    }
    assert!(statuses[..19].iter().all(|s| *s == 401), "{statuses:?}");
    assert!(statuses[19..].iter().all(|s| *s == 429), "{statuses:?}");
}

#[tokio::test]
async fn the_account_page_revokes_consents_and_sessions() {
    let (server, _) = setup().await;
    let mut browser = Browser::new();
    let redirect = allow(&server, &mut browser, "openid email").await;
    let issued = tokens(&server, &redirect.redirect_params()["code"]).await;
    let access = issued["access_token"].as_str().unwrap();
    assert_eq!(userinfo_status(&server, access).await, 200);

    let account = browser.get(&format!("{}/account", server.base)).await;
    assert_eq!(account.status, 200);
    assert!(account.body.contains("rp-rs256"), "{}", account.body);
    assert!(
        account.body.contains("TestBrowser/1.0"),
        "the session's browser"
    );
    assert!(account.body.contains("this browser"));
    let csrf = account.field("csrf").unwrap();

    // Revoking the consent ends the client's tokens at once.
    let done = browser
        .post(
            &format!("{}/account/consents/revoke", server.base),
            &[("csrf", &csrf), ("client_id", "rp-rs256")],
        )
        .await;
    assert_eq!(done.status, 303);
    assert_eq!(done.location(), Some("/account"));
    assert_eq!(userinfo_status(&server, access).await, 401);
    let account = browser.get(&format!("{}/account", server.base)).await;
    assert!(account.body.contains("None yet"), "{}", account.body);
    // The next authorization asks for consent again.
    let page = browser.get(&authorize_url(&server, "openid")).await;
    assert!(page.body.contains("/authorize/consent"));

    // Ending the session signs the browser out.
    let session_id = account.field("session_id").unwrap();
    let done = browser
        .post(
            &format!("{}/account/sessions/revoke", server.base),
            &[("csrf", &csrf), ("session_id", &session_id)],
        )
        .await;
    assert_eq!(done.status, 303);
    let page = browser.get(&format!("{}/account", server.base)).await;
    assert!(
        page.body.contains("action=\"/login\""),
        "signed out: {}",
        page.body
    );
    // Signing in from the account page leads back to it.
    let signed = browser.sign_in(&server.base, &page, "ann", PASSWORD).await;
    assert_eq!(signed.location(), Some("/account"));
}

#[tokio::test]
async fn rp_initiated_logout_matches_post_logout_uris_exactly() {
    let (server, _) = setup().await;
    let (status, _) = server
        .admin_post(
            "/admin/clients",
            json!({"client_id": "rp-out", "redirect_uris": [REDIRECT], "client_secret": SECRET,
                   "post_logout_redirect_uris": ["https://rp.example/bye"]}),
        )
        .await;
    assert_eq!(status, 201);
    let mut browser = Browser::new();
    allow(&server, &mut browser, "openid").await;
    // An ID token for the hint.
    let page = browser
        .get(&authorize_url(&server, "openid").replace("client_id=rp-rs256", "client_id=rp-out"))
        .await;
    let page = browser.consent(&server.base, &page, "allow").await;
    let resp = server
        .client
        .post(server.url("/token"))
        .basic_auth("rp-out", Some(SECRET))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("grant_type", "authorization_code"),
            ("code", page.redirect_params()["code"].as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ]))
        .send()
        .await
        .unwrap();
    let id_token = resp.json::<Value>().await.unwrap()["id_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let logout = |query: &[(&str, &str)]| {
        format!(
            "{}/logout?{}",
            server.base,
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(query)
                .finish()
        )
    };
    // Unregistered or near-miss URIs: a page, no redirect, still signed in.
    for uri in [
        "https://rp.example/bye/",
        "https://rp.example/BYE",
        "https://evil.example/bye",
        REDIRECT,
    ] {
        let page = browser
            .get(&logout(&[
                ("id_token_hint", &id_token),
                ("post_logout_redirect_uri", uri),
            ]))
            .await;
        assert_eq!(page.status, 400, "{uri}");
        assert!(page.location().is_none());
    }
    // A forged hint is refused.
    let forged = format!("{}x", &id_token[..id_token.len() - 1]);
    let page = browser.get(&logout(&[("id_token_hint", &forged)])).await;
    assert_eq!(page.status, 400);
    // Without a hint the user confirms first.
    let page = browser
        .get(&logout(&[
            ("client_id", "rp-out"),
            ("post_logout_redirect_uri", "https://rp.example/bye"),
            ("state", "s1"),
        ]))
        .await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Sign out?"));
    // With a valid hint: signed out at once, back to the client with its state.
    let page = browser
        .get(&logout(&[
            ("id_token_hint", &id_token),
            ("post_logout_redirect_uri", "https://rp.example/bye"),
            ("state", "s 2"),
        ]))
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(page.location(), Some("https://rp.example/bye?state=s+2"));
    assert!(
        !browser.cookies.contains_key("sichat_session"),
        "the cookie is cleared"
    );
    let page = browser.get(&authorize_url(&server, "openid")).await;
    assert!(page.body.contains("action=\"/login\""), "signed out");

    // Confirmed sign-out (no hint), from a new session.
    let signed = browser.sign_in(&server.base, &page, "ann", PASSWORD).await;
    assert_eq!(signed.status, 303);
    let confirm = browser
        .get(&logout(&[
            ("client_id", "rp-out"),
            ("post_logout_redirect_uri", "https://rp.example/bye"),
            ("state", "s3"),
        ]))
        .await;
    let csrf = confirm.field("csrf").unwrap();
    let done = browser
        .post(
            &format!("{}/logout", server.base),
            &[
                ("csrf", csrf.as_str()),
                ("confirm", "yes"),
                ("client_id", "rp-out"),
                ("post_logout_redirect_uri", "https://rp.example/bye"),
                ("state", "s3"),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location(), Some("https://rp.example/bye?state=s3"));
    let page = browser.get(&format!("{}/account", server.base)).await;
    assert!(page.body.contains("action=\"/login\""));
}

/// `id_token_hint` is a token the server accepts: every forgery is refused with a page
/// (no sign-out, no redirect), and nothing named in a header is ever fetched.
#[tokio::test]
async fn hostile_id_token_hints_are_refused_without_any_fetch() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use sichat::service::id_tokens::IdTokenContent;
    use sichat_core::keys::jws::JwsAlg;

    let (server, user_id) = setup().await;
    let trap = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let trap_url = format!("http://{}/keys", trap.local_addr().unwrap());
    let content = |issuer: &str, alg| IdTokenContent {
        issuer: issuer.to_owned(),
        client_id: "rp-rs256".into(),
        subject: user_id.clone(),
        alg,
        issued_at: chrono::Utc::now(),
        lifetime: std::time::Duration::from_secs(300),
        auth_time: None,
        nonce: None,
        access_token: None,
        email: None,
        email_verified: false,
        name: None,
        extra: Default::default(),
    };
    let signer = &server.services.id_tokens;
    let good = signer
        .sign(&content(&server.base, JwsAlg::EdDSA))
        .await
        .unwrap();
    let (header, payload, _) = {
        let mut parts = good.split('.');
        (
            parts.next().unwrap().to_owned(),
            parts.next().unwrap().to_owned(),
            parts.next().unwrap().to_owned(),
        )
    };
    let header_json: Value = serde_json::from_slice(&B64.decode(&header).unwrap()).unwrap();
    let with_header = |edit: &dyn Fn(&mut Value)| {
        let mut h = header_json.clone();
        edit(&mut h);
        format!(
            "{}.{payload}.{}",
            B64.encode(h.to_string()),
            good.rsplit('.').next().unwrap()
        )
    };
    let jwks: Value = server.get("/jwks").await.json().await.unwrap();
    let hs256 = {
        use hmac::Mac;
        let input = format!(
            "{}.{payload}",
            B64.encode(json!({"alg": "HS256", "kid": header_json["kid"]}).to_string())
        );
        let mut mac =
            hmac::Hmac::<sha2::Sha256>::new_from_slice(jwks["keys"][0].to_string().as_bytes())
                .unwrap();
        mac.update(input.as_bytes());
        format!("{input}.{}", B64.encode(mac.finalize().into_bytes()))
    };
    let mut tampered_payload: Value =
        serde_json::from_slice(&B64.decode(&payload).unwrap()).unwrap();
    tampered_payload["sub"] = json!("someone-else");
    let tampered = format!(
        "{header}.{}.{}",
        B64.encode(tampered_payload.to_string()),
        good.rsplit('.').next().unwrap()
    );
    let cases: Vec<(&str, String)> = vec![
        (
            "alg none",
            format!("{}.{payload}.", B64.encode(r#"{"alg":"none"}"#)),
        ),
        ("HS256 keyed with a published key", hs256),
        ("unknown kid", with_header(&|h| h["kid"] = json!("nope"))),
        (
            "no kid",
            with_header(&|h| {
                h.as_object_mut().unwrap().remove("kid");
            }),
        ),
        (
            "embedded jwk",
            with_header(&|h| h["jwk"] = jwks["keys"][0].clone()),
        ),
        ("jku", with_header(&|h| h["jku"] = json!(trap_url))),
        ("x5u", with_header(&|h| h["x5u"] = json!(trap_url))),
        ("crit", with_header(&|h| h["crit"] = json!(["exp"]))),
        ("tampered payload", tampered),
        (
            "another issuer",
            signer
                .sign(&content("https://evil.example", JwsAlg::ES256))
                .await
                .unwrap(),
        ),
        ("not a JWT", "abc".into()),
    ];
    let mut browser = Browser::new();
    allow(&server, &mut browser, "openid").await;
    for (why, hint) in cases {
        let url = format!(
            "{}/logout?{}",
            server.base,
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("id_token_hint", &hint)
                .append_pair("post_logout_redirect_uri", "https://rp.example/bye")
                .finish()
        );
        let page = browser.get(&url).await;
        assert_eq!(page.status, 400, "{why}: {}", page.body);
        assert!(page.location().is_none(), "{why}");
    }
    // Still signed in, and nothing connected to the trap.
    let page = browser.get(&format!("{}/account", server.base)).await;
    assert!(page.body.contains("Your account"), "still signed in");
    let accepted = tokio::time::timeout(std::time::Duration::from_millis(200), trap.accept()).await;
    assert!(accepted.is_err(), "no key URL was fetched");
    // The genuine hint, even expired, is accepted (it only names who signs out).
    let mut expired = content(&server.base, JwsAlg::RS256);
    expired.issued_at = chrono::Utc::now() - chrono::Duration::hours(2);
    let hint = signer.sign(&expired).await.unwrap();
    let page = browser
        .get(&format!("{}/logout?id_token_hint={hint}", server.base))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Signed out"));
}
