//! The authorization endpoint: requests that cannot be trusted get an error page and no
//! redirect (unknown client, unregistered redirect URI: 30+ mutants of each registered
//! URI); every other error goes back to the client with `error`, `state` and `iss`;
//! `prompt`, `max_age` and `login_hint`; consent remembered, denied, and asked again.

use sichat_core::oauth::s256_challenge;

use crate::browser::{Browser, Page};
use crate::common::TestServer;
use crate::oidc_login::{PASSWORD, REDIRECT, setup};

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// An authorization request URL with `extra` parameters over good defaults; a default
/// whose value in `extra` is `None` is left out.
fn authorize_url(server: &TestServer, extra: &[(&str, Option<&str>)]) -> String {
    let challenge = s256_challenge(VERIFIER);
    let defaults = [
        ("client_id", "rp-rs256"),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "openid email"),
        ("state", "s t+a%té"),
        ("nonce", "n-1"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in defaults {
        if !extra.iter().any(|(n, _)| *n == name) {
            query.append_pair(name, value);
        }
    }
    for (name, value) in extra {
        if let Some(v) = value {
            query.append_pair(name, v);
        }
    }
    format!("{}/authorize?{}", server.base, query.finish())
}

fn assert_error_page(page: &Page, why: &str) {
    assert_eq!(page.status, 400, "{why}: {}", page.body);
    assert!(page.location().is_none(), "{why}: never redirected");
    assert!(
        page.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"),
        "{why}: an HTML page"
    );
    assert!(page.body.contains("not sent back"), "{why}");
}

fn assert_error_redirect(server: &TestServer, page: &Page, error: &str, why: &str) {
    assert_eq!(page.status, 303, "{why}: {}", page.body);
    assert!(page.location().unwrap().starts_with(REDIRECT), "{why}");
    let params = page.redirect_params();
    assert_eq!(params["error"], error, "{why}: {params:?}");
    assert_eq!(params["state"], "s t+a%té", "{why}: state round-trips");
    assert_eq!(params["iss"], server.base, "{why}: RFC 9207");
    assert!(!params.contains_key("code"), "{why}");
}

#[tokio::test]
async fn untrusted_clients_and_redirect_uris_get_a_page_and_no_redirect() {
    let (server, _) = setup().await;
    let mut browser = Browser::new();
    for (why, extra) in [
        ("unknown client", vec![("client_id", Some("nobody"))]),
        ("no client", vec![("client_id", None)]),
        ("bad client id", vec![("client_id", Some("a b\u{0}"))]),
        ("no redirect_uri", vec![("redirect_uri", None)]),
    ] {
        let page = browser.get(&authorize_url(&server, &extra)).await;
        assert_error_page(&page, why);
    }
    // A repeated client_id or redirect_uri cannot be trusted either.
    let doubled = format!(
        "{}&redirect_uri={}",
        authorize_url(&server, &[]),
        url::form_urlencoded::byte_serialize(b"https://evil.example/cb").collect::<String>()
    );
    assert_error_page(&browser.get(&doubled).await, "repeated redirect_uri");
    // Also when another parameter was repeated before it.
    let doubled = format!(
        "{}&scope=openid&redirect_uri={}",
        authorize_url(&server, &[]),
        url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
    );
    assert_error_page(
        &browser.get(&doubled).await,
        "repeated scope, then redirect_uri",
    );

    let https_mutants = [
        "https://rp.example/callback/",
        "https://RP.example/callback",
        "https://rp.example/Callback",
        "HTTPS://rp.example/callback",
        "https://rp.example:443/callback",
        "https://rp.example:8443/callback",
        "https://rp.example/callback?x=1",
        "https://rp.example/callback?",
        "https://rp.example/callback#frag",
        "https://rp.example/callback#",
        "https://rp.example%2Fcallback",
        "https://rp.example/callback%2F",
        "https://rp.example/x/../callback",
        "https://rp.example//callback",
        "https://user@rp.example/callback",
        "https://rp.example@evil.example/callback",
        "https://evil.rp.example/callback",
        "https://rp.example.evil.example/callback",
        "https://evilrp.example/callback",
        "https://rp.example./callback",
        "https://r\u{0440}.example/callback",
        "http://rp.example/callback",
        " https://rp.example/callback",
        "https://rp.example/callback ",
        "https://rp.example/callback\t",
        "https://rp.example/call%62ack",
        "https://rp.example/callbac",
        "https://rp.example/callbackx",
        "https://rp.example\\callback",
        "//rp.example/callback",
        "rp.example/callback",
        "https://127.0.0.1/callback",
        "https://rp.example/callback;x",
        "",
    ];
    let loopback_mutants = [
        "http://localhost/callback",
        "http://[::1]/callback",
        "http://127.0.0.2/callback",
        "https://127.0.0.1/callback",
        "http://127.0.0.1:8080/callback/",
        "http://127.0.0.1:8080/Callback",
        "http://127.0.0.1:8080/callback?x",
        "http://127.0.0.1:8080/callback#f",
        "http://127.1/callback",
        "http://2130706433/callback",
        "http://0x7f000001/callback",
        "http://127.0.0.1.nip.io/callback",
        "http://user@127.0.0.1/callback",
        "http://127.0.0.1@evil.example/callback",
        "http://127.0.0.1:8080//callback",
        "http://127.0.0.1:8080/x/../callback",
        "http://127.0.0.1:99999/callback",
        "http://127.0.0.1:8080/callback%2F",
        "http://127.0.0.1:8080/call%62ack",
        "http://127.0.0.1:8080/callbac",
        "http://127.0.0.1:8080/callbackx",
        "HTTP://127.0.0.1/callback",
        " http://127.0.0.1/callback",
        "http://127.0.0.1/callback ",
        "http://127.0.0.1:8080\\callback",
        "http://[::ffff:127.0.0.1]/callback",
        "http://127.000.000.001/callback",
        "http://127.0.0.1:8080/callback;x",
        "http://127.0.0.1:8080/CALLBACK",
        "http://evil.example/callback",
    ];
    assert!(https_mutants.len() >= 30 && loopback_mutants.len() >= 30);
    for (client, mutants) in [
        ("rp-rs256", &https_mutants[..]),
        ("rp-eddsa", &loopback_mutants[..]),
    ] {
        for mutant in mutants {
            let url = authorize_url(
                &server,
                &[("client_id", Some(client)), ("redirect_uri", Some(mutant))],
            );
            assert_error_page(&browser.get(&url).await, &format!("{client}: {mutant:?}"));
        }
    }
    // The registered URIs themselves (and a loopback one on another port) are accepted.
    for (client, uri) in [
        ("rp-rs256", REDIRECT),
        ("rp-eddsa", "http://127.0.0.1/callback"),
        ("rp-eddsa", "http://127.0.0.1:8080/callback"),
    ] {
        let page = browser
            .get(&authorize_url(
                &server,
                &[("client_id", Some(client)), ("redirect_uri", Some(uri))],
            ))
            .await;
        assert_eq!(page.status, 200, "{uri}: {}", page.body);
        assert!(page.body.contains("action=\"/login\""));
    }
}

#[tokio::test]
async fn request_errors_go_back_to_the_client_with_state_and_iss() {
    let (server, _) = setup().await;
    let mut browser = Browser::new();
    let long = "n".repeat(1025);
    type Case<'a> = (&'a str, Vec<(&'a str, Option<&'a str>)>, &'a str);
    let table: Vec<Case> = vec![
        (
            "no PKCE",
            vec![("code_challenge", None), ("code_challenge_method", None)],
            "invalid_request",
        ),
        (
            "plain PKCE",
            vec![("code_challenge_method", Some("plain"))],
            "invalid_request",
        ),
        (
            "no PKCE method",
            vec![("code_challenge_method", None)],
            "invalid_request",
        ),
        (
            "short challenge",
            vec![("code_challenge", Some("abc"))],
            "invalid_request",
        ),
        (
            "implicit",
            vec![("response_type", Some("token"))],
            "unsupported_response_type",
        ),
        (
            "id_token",
            vec![("response_type", Some("id_token"))],
            "unsupported_response_type",
        ),
        (
            "hybrid",
            vec![("response_type", Some("code id_token"))],
            "unsupported_response_type",
        ),
        (
            "hybrid token",
            vec![("response_type", Some("code token"))],
            "unsupported_response_type",
        ),
        (
            "no response_type",
            vec![("response_type", None)],
            "invalid_request",
        ),
        (
            "unregistered scope",
            vec![("scope", Some("openid admin"))],
            "invalid_scope",
        ),
        ("no scope", vec![("scope", None)], "invalid_scope"),
        (
            "request object",
            vec![("request", Some("eyJhbGciOiJub25lIn0.e30."))],
            "request_not_supported",
        ),
        (
            "request_uri",
            vec![("request_uri", Some("https://rp.example/r"))],
            "request_uri_not_supported",
        ),
        (
            "prompt=none, signed out",
            vec![("prompt", Some("none"))],
            "login_required",
        ),
        (
            "unknown prompt",
            vec![("prompt", Some("bogus"))],
            "invalid_request",
        ),
        (
            "prompt none with login",
            vec![("prompt", Some("none login"))],
            "invalid_request",
        ),
        (
            "negative max_age",
            vec![("max_age", Some("-1"))],
            "invalid_request",
        ),
        (
            "fragment mode",
            vec![("response_mode", Some("fragment"))],
            "invalid_request",
        ),
        (
            "bad claims",
            vec![("claims", Some("{not json"))],
            "invalid_request",
        ),
        (
            "a claim name that would read as scopes",
            vec![(
                "claims",
                Some(r#"{"userinfo":{"x holder offline_access":null}}"#),
            )],
            "invalid_request",
        ),
        (
            "long nonce",
            vec![("nonce", Some(long.as_str()))],
            "invalid_request",
        ),
    ];
    for (why, extra, error) in table {
        let page = browser.get(&authorize_url(&server, &extra)).await;
        assert_error_redirect(&server, &page, error, why);
    }
    // What the request said is never echoed outside RFC 6749's error_description charset.
    let page = browser
        .get(&authorize_url(
            &server,
            &[("response_type", Some("to\"k<é>\\en"))],
        ))
        .await;
    assert_error_redirect(
        &server,
        &page,
        "unsupported_response_type",
        "odd response_type",
    );
    let description = page.redirect_params()["error_description"].clone();
    assert!(
        description
            .chars()
            .all(|c| (' '..='~').contains(&c) && c != '"' && c != '\\'),
        "{description}"
    );
    // A parameter given twice (other than client_id and redirect_uri).
    let doubled = format!("{}&scope=openid", authorize_url(&server, &[]));
    assert_error_redirect(
        &server,
        &browser.get(&doubled).await,
        "invalid_request",
        "repeated scope",
    );
    // The same request by POST (OIDC Core §3.1.2.1).
    let query = authorize_url(&server, &[("response_type", Some("token"))]);
    let form: Vec<(String, String)> = url::Url::parse(&query)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    let fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let page = browser
        .post(&format!("{}/authorize", server.base), &fields)
        .await;
    assert_error_redirect(&server, &page, "unsupported_response_type", "POST");
}

/// Signs in through `page` and follows to the next step.
async fn sign_in_and_continue(server: &TestServer, browser: &mut Browser, page: &Page) -> Page {
    let signed = browser.sign_in(&server.base, page, "ann", PASSWORD).await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    browser.follow(&server.base, &signed).await
}

#[tokio::test]
async fn prompt_max_age_login_hint_and_consent() {
    let (server, _) = setup().await;
    let mut browser = Browser::new();
    // login_hint fills the form.
    let page = browser
        .get(&authorize_url(&server, &[("login_hint", Some("ann"))]))
        .await;
    assert_eq!(page.field("username").as_deref(), Some("ann"));
    let consent = sign_in_and_continue(&server, &mut browser, &page).await;
    assert!(
        consent.body.contains("Photo Prints"),
        "the client's name: {}",
        consent.body
    );
    assert!(consent.body.contains("Your email address"));

    // Denied: access_denied, with state and iss; nothing remembered.
    let denied = browser.consent(&server.base, &consent, "deny").await;
    assert_error_redirect(&server, &denied, "access_denied", "denied");
    let page = browser
        .get(&authorize_url(&server, &[("prompt", Some("none"))]))
        .await;
    assert_error_redirect(&server, &page, "consent_required", "nothing was allowed");

    // Allowed: a code, and later requests within the same scopes need no page.
    let page = browser.get(&authorize_url(&server, &[])).await;
    let allowed = browser.consent(&server.base, &page, "allow").await;
    assert_eq!(allowed.status, 303);
    assert!(allowed.redirect_params().contains_key("code"));
    let silent = browser
        .get(&authorize_url(&server, &[("prompt", Some("none"))]))
        .await;
    assert_eq!(silent.status, 303, "{}", silent.body);
    assert!(
        silent.redirect_params().contains_key("code"),
        "prompt=none with a session and consent"
    );
    assert_eq!(silent.redirect_params()["iss"], server.base);
    // A narrower request is covered; a wider one asks again.
    let narrower = browser
        .get(&authorize_url(&server, &[("scope", Some("openid"))]))
        .await;
    assert!(narrower.redirect_params().contains_key("code"));
    let wider = browser
        .get(&authorize_url(
            &server,
            &[("scope", Some("openid email profile"))],
        ))
        .await;
    assert_eq!(wider.status, 200);
    assert!(wider.body.contains("/authorize/consent"));

    // prompt=consent asks even when covered.
    let again = browser
        .get(&authorize_url(&server, &[("prompt", Some("consent"))]))
        .await;
    assert!(again.body.contains("/authorize/consent"), "{}", again.body);

    // prompt=login and max_age=0 make the user sign in again, then go on.
    for extra in [("prompt", Some("login")), ("max_age", Some("0"))] {
        let page = browser.get(&authorize_url(&server, &[extra])).await;
        assert!(
            page.body.contains("action=\"/login\""),
            "{extra:?}: {}",
            page.body
        );
        let next = sign_in_and_continue(&server, &mut browser, &page).await;
        assert_eq!(next.status, 303, "{extra:?}: {}", next.body);
        assert!(next.redirect_params().contains_key("code"));
    }
    // A huge max_age neither overflows nor fails: the session is recent enough.
    let page = browser
        .get(&authorize_url(
            &server,
            &[("max_age", Some("9223372036854775807"))],
        ))
        .await;
    assert!(page.redirect_params().contains_key("code"), "{}", page.body);
    // A generous max_age keeps the session.
    let page = browser
        .get(&authorize_url(&server, &[("max_age", Some("3600"))]))
        .await;
    assert!(page.redirect_params().contains_key("code"));

    // The consent form cannot skip a sign-in the request asked for: a `prompt=login`
    // request's sealed form posted straight to the consent endpoint shows the sign-in page.
    let page = browser
        .get(&authorize_url(
            &server,
            &[("prompt", Some("login consent"))],
        ))
        .await;
    assert!(page.body.contains("action=\"/login\""));
    let (tx, csrf) = (page.field("tx").unwrap(), page.field("csrf").unwrap());
    let skipped = browser
        .post(
            &format!("{}/authorize/consent", server.base),
            &[
                ("csrf", csrf.as_str()),
                ("tx", tx.as_str()),
                ("decision", "allow"),
            ],
        )
        .await;
    assert_eq!(skipped.status, 200, "{}", skipped.body);
    assert!(
        skipped.body.contains("action=\"/login\""),
        "no code without the sign-in"
    );

    // A sealed request altered on the way is refused with a page.
    let page = browser
        .get(&authorize_url(&server, &[("prompt", Some("login"))]))
        .await;
    let tx = page.field("tx").unwrap();
    let mut tampered = tx.clone();
    tampered.insert(3, 'A');
    let refused = browser
        .get(&format!(
            "{}/authorize/continue?tx={}",
            server.base, tampered
        ))
        .await;
    assert_error_page(&refused, "tampered tx");
}

/// A confidential client the operator let skip PKCE (`--allow-no-pkce`, for conformance
/// suites that send none): a request without a challenge gets a code that redeems without
/// a verifier; `plain` stays refused; every other client still needs PKCE.
#[tokio::test]
async fn only_a_client_allowed_to_skip_pkce_may_send_no_challenge() {
    use crate::oidc_login::SECRET;
    let (server, _) = setup().await;
    let (status, body) = server
        .admin_post(
            "/admin/clients",
            serde_json::json!({"client_id": "cert", "redirect_uris": [REDIRECT], "client_secret": SECRET, "allow_no_pkce": true}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let mut browser = Browser::new();
    let no_pkce = [
        ("client_id", Some("cert")),
        ("code_challenge", None),
        ("code_challenge_method", None),
    ];
    let page = browser.get(&authorize_url(&server, &no_pkce)).await;
    let consent = sign_in_and_continue(&server, &mut browser, &page).await;
    let back = browser.consent(&server.base, &consent, "allow").await;
    let code = back.redirect_params()["code"].clone();
    let token = |code: String, verifier: Option<&'static str>| {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "authorization_code")
            .append_pair("code", &code)
            .append_pair("redirect_uri", REDIRECT);
        if let Some(v) = verifier {
            form.append_pair("code_verifier", v);
        }
        server
            .client
            .post(server.url("/token"))
            .basic_auth("cert", Some(SECRET))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.finish())
            .send()
    };
    assert_eq!(token(code, None).await.unwrap().status(), 200);
    // A verifier for a code issued without a challenge does not match.
    let back = browser.get(&authorize_url(&server, &no_pkce)).await;
    let code = back.redirect_params()["code"].clone();
    assert_eq!(
        token(code.clone(), Some(VERIFIER)).await.unwrap().status(),
        400
    );
    assert_eq!(
        token(code, None).await.unwrap().status(),
        200,
        "the code was not burnt"
    );
    // With a challenge, the code needs its verifier, for this client too.
    let back = browser
        .get(&authorize_url(&server, &[("client_id", Some("cert"))]))
        .await;
    let code = back.redirect_params()["code"].clone();
    assert_eq!(token(code.clone(), None).await.unwrap().status(), 400);
    assert_eq!(token(code, Some(VERIFIER)).await.unwrap().status(), 200);
    // plain stays refused.
    let page = browser
        .get(&authorize_url(
            &server,
            &[
                ("client_id", Some("cert")),
                ("code_challenge_method", Some("plain")),
            ],
        ))
        .await;
    assert_error_redirect(&server, &page, "invalid_request", "plain");
}
