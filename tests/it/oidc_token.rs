//! `POST /token`: authorization codes (PKCE) and client credentials, with OAuth error
//! objects, `no-store`, and ID tokens a standard relying-party library accepts.

use base64::Engine;
use reqwest::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, PRAGMA, WWW_AUTHENTICATE};
use serde_json::{Value, json};
use sichat::service::access_tokens::Subject;
use sichat::service::oidc_codes::NewGrant;
use sichat_core::oauth::s256_challenge;

use crate::common::TestServer;

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const REDIRECT: &str = "https://app.example/cb";
const SECRET: &str = "app-secret-0123456789-0123456789-abcdef";

fn basic(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

async fn post(
    server: &TestServer,
    form: &[(&str, &str)],
    auth: Option<String>,
) -> reqwest::Response {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let mut req = server
        .client
        .post(server.url("/token"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body);
    if let Some(auth) = auth {
        req = req.header(AUTHORIZATION, auth);
    }
    req.send().await.unwrap()
}

async fn oauth_error(resp: reqwest::Response, status: u16, error: &str) -> Value {
    assert_eq!(resp.status(), status);
    assert_eq!(resp.headers()[CACHE_CONTROL], "no-store");
    assert_eq!(resp.headers()[PRAGMA], "no-cache");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], error, "{body}");
    assert!(body["error_description"].is_string());
    body
}

async fn setup() -> (TestServer, String) {
    let server = TestServer::spawn().await;
    let (status, user) = server
        .admin_post(
            "/admin/users",
            json!({"name": "ann", "email": "ann@example.org", "displayName": "Ann Example"}),
        )
        .await;
    assert_eq!(status, 201);
    for body in [
        json!({"client_id": "app", "redirect_uris": [REDIRECT], "client_secret": SECRET, "id_token_signed_response_alg": "EdDSA"}),
        json!({"client_id": "phone", "public": true, "redirect_uris": ["http://127.0.0.1/cb"]}),
        json!({"client_id": "bot", "grant_types": ["client_credentials"], "scope": "issue:credentials other", "client_secret": SECRET, "token_endpoint_auth_method": "client_secret_post"}),
    ] {
        let (status, c) = server.admin_post("/admin/clients", body).await;
        assert_eq!(status, 201, "{c}");
    }
    (server, user["id"].as_str().unwrap().to_owned())
}

async fn code_for(server: &TestServer, user: &str, client: &str, redirect: &str) -> String {
    let grant = NewGrant {
        client_id: client.into(),
        user_id: Some(sichat_core::id::UserId::parse(user).unwrap()),
        scope: "openid email profile".into(),
        nonce: Some("nonce-1".into()),
        auth_time: Some(chrono::Utc::now().timestamp()),
        claims: vec![],
    };
    let (code, _) = server
        .services
        .codes
        .issue(grant, redirect, &s256_challenge(VERIFIER))
        .await
        .unwrap();
    code.expose().clone()
}

#[tokio::test]
async fn an_authorization_code_becomes_tokens_once() {
    use openidconnect::core::{
        CoreIdToken, CoreIdTokenVerifier, CoreJsonWebKeySet, CoreJwsSigningAlgorithm,
    };
    use openidconnect::{AccessToken, AccessTokenHash, ClientId, IssuerUrl, Nonce};
    use std::str::FromStr;

    let (server, user) = setup().await;
    let code = code_for(&server, &user, "app", REDIRECT).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let resp = post(&server, &form, Some(basic("app", SECRET))).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()[CACHE_CONTROL], "no-store");
    assert_eq!(resp.headers()[PRAGMA], "no-cache");
    let tokens: Value = resp.json().await.unwrap();
    assert_eq!(
        (tokens["token_type"].as_str(), tokens["expires_in"].as_i64()),
        (Some("Bearer"), Some(600))
    );
    let access = tokens["access_token"].as_str().unwrap().to_owned();

    // The ID token, as a relying party checks it (EdDSA, as the client registered).
    let jwks: CoreJsonWebKeySet = server.get("/jwks").await.json().await.unwrap();
    let verifier = CoreIdTokenVerifier::new_confidential_client(
        ClientId::new("app".into()),
        openidconnect::ClientSecret::new(SECRET.into()),
        IssuerUrl::new(server.base.clone()).unwrap(),
        jwks,
    )
    .set_allowed_algs([CoreJwsSigningAlgorithm::EdDsa]);
    let id_token = CoreIdToken::from_str(tokens["id_token"].as_str().unwrap()).unwrap();
    let claims = id_token
        .claims(&verifier, &Nonce::new("nonce-1".into()))
        .unwrap();
    assert_eq!(claims.subject().as_str(), user);
    assert_eq!(claims.email().unwrap().as_str(), "ann@example.org");
    assert_eq!(
        claims.name().unwrap().get(None).unwrap().as_str(),
        "Ann Example"
    );
    let key = id_token.signing_key(&verifier).unwrap();
    let expected = AccessTokenHash::from_token(
        &AccessToken::new(access.clone()),
        &CoreJwsSigningAlgorithm::EdDsa,
        key,
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected));

    let valid = server
        .services
        .access_tokens
        .validate(&access)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (valid.user_id.as_deref(), valid.client_id.as_str()),
        (Some(user.as_str()), "app")
    );
    assert!(matches!(valid.subject, Subject::Grant(_)));
    assert!(valid.has_scope("email"));

    // UserInfo, with the token as a header or a form field.
    let resp = server
        .client
        .get(server.url("/userinfo"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()[CACHE_CONTROL], "no-store");
    let info: Value = resp.json().await.unwrap();
    assert_eq!(
        info,
        json!({"sub": user, "name": "Ann Example", "preferred_username": "ann", "email": "ann@example.org", "email_verified": false})
    );
    let resp = server
        .client
        .post(server.url("/userinfo"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("access_token={access}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.json::<Value>().await.unwrap(), info);
    let both = server
        .client
        .post(server.url("/userinfo"))
        .bearer_auth(&access)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("access_token={access}"))
        .send()
        .await
        .unwrap();
    assert_eq!(both.status(), 400);

    // A second redemption fails and revokes what the first issued.
    oauth_error(
        post(&server, &form, Some(basic("app", SECRET))).await,
        400,
        "invalid_grant",
    )
    .await;
    assert!(
        server
            .services
            .access_tokens
            .validate(&access)
            .await
            .unwrap()
            .is_none()
    );
    let resp = server
        .client
        .get(server.url("/userinfo"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(
        resp.headers()[WWW_AUTHENTICATE],
        "Bearer realm=\"sichat\", error=\"invalid_token\""
    );
    // A tampered token is nothing.
    let mut forged = access.clone();
    forged.replace_range(6..7, if &access[6..7] == "A" { "B" } else { "A" });
    assert!(
        server
            .services
            .access_tokens
            .validate(&forged)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_public_client_redeems_with_pkce_alone() {
    let (server, user) = setup().await;
    let code = code_for(&server, &user, "phone", "http://127.0.0.1/cb").await;
    // Another verifier fails and leaves the code usable.
    let form = |verifier: &'static str| {
        vec![
            ("grant_type", "authorization_code"),
            ("client_id", "phone"),
            ("redirect_uri", "http://127.0.0.1/cb"),
            ("code_verifier", verifier),
        ]
    };
    let mut wrong = form("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl");
    wrong.push(("code", code.as_str()));
    oauth_error(post(&server, &wrong, None).await, 400, "invalid_grant").await;
    let mut right = form(VERIFIER);
    right.push(("code", code.as_str()));
    let resp = post(&server, &right, None).await;
    assert_eq!(resp.status(), 200);
    let tokens: Value = resp.json().await.unwrap();
    assert!(
        tokens["id_token"].as_str().unwrap().starts_with("eyJ"),
        "RS256 by default"
    );
}

#[tokio::test]
async fn client_credentials_tokens_carry_only_registered_scopes() {
    let (server, _) = setup().await;
    let form = |scope: Option<&'static str>| {
        let mut f = vec![
            ("grant_type", "client_credentials"),
            ("client_id", "bot"),
            ("client_secret", SECRET),
        ];
        if let Some(s) = scope {
            f.push(("scope", s));
        }
        f
    };
    let resp = post(&server, &form(Some("issue:credentials")), None).await;
    assert_eq!(resp.status(), 200);
    let tokens: Value = resp.json().await.unwrap();
    assert_eq!(tokens["scope"], "issue:credentials");
    assert!(tokens.get("id_token").is_none());
    let valid = server
        .services
        .access_tokens
        .validate(tokens["access_token"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(valid.subject, Subject::Client("bot".into()));
    let all: Value = post(&server, &form(None), None).await.json().await.unwrap();
    assert_eq!(all["scope"], "issue:credentials other");
    for scope in ["openid", "issue:credentials admin", "holder"] {
        oauth_error(
            post(&server, &form(Some(scope)), None).await,
            400,
            "invalid_scope",
        )
        .await;
    }
}

#[tokio::test]
async fn bad_token_requests_get_oauth_errors() {
    let (server, user) = setup().await;
    let code = code_for(&server, &user, "app", REDIRECT).await;
    let cc = [("grant_type", "client_credentials")];
    // Client authentication.
    let resp = post(&server, &cc, Some(basic("app", "wrong-secret"))).await;
    assert_eq!(
        resp.headers()[WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .split(' ')
            .next(),
        Some("Basic")
    );
    oauth_error(resp, 401, "invalid_client").await;
    oauth_error(
        post(&server, &cc, Some("Bearer abc".into())).await,
        401,
        "invalid_client",
    )
    .await;
    oauth_error(post(&server, &cc, None).await, 401, "invalid_client").await;
    // The app may not use client_credentials, the bot not authorization_code.
    oauth_error(
        post(&server, &cc, Some(basic("app", SECRET))).await,
        400,
        "unauthorized_client",
    )
    .await;
    // Grant types and parameters.
    oauth_error(
        post(
            &server,
            &[
                ("grant_type", "password"),
                ("username", "ann"),
                ("password", "x"),
            ],
            Some(basic("app", SECRET)),
        )
        .await,
        400,
        "unsupported_grant_type",
    )
    .await;
    oauth_error(
        post(&server, &[("grant_type", "implicit")], None).await,
        400,
        "unsupported_grant_type",
    )
    .await;
    oauth_error(
        post(
            &server,
            &[("code", code.as_str())],
            Some(basic("app", SECRET)),
        )
        .await,
        400,
        "invalid_request",
    )
    .await;
    for missing in ["code", "redirect_uri", "code_verifier"] {
        let form: Vec<(&str, &str)> = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ]
        .into_iter()
        .filter(|(k, _)| *k != missing)
        .collect();
        oauth_error(
            post(&server, &form, Some(basic("app", SECRET))).await,
            400,
            "invalid_request",
        )
        .await;
    }
    // A parameter twice.
    oauth_error(
        post(
            &server,
            &[
                ("grant_type", "authorization_code"),
                ("grant_type", "client_credentials"),
            ],
            Some(basic("app", SECRET)),
        )
        .await,
        400,
        "invalid_request",
    )
    .await;
    // Not a form.
    let resp = server
        .client
        .post(server.url("/token"))
        .header(AUTHORIZATION, basic("app", SECRET))
        .json(&json!({"grant_type": "authorization_code"}))
        .send()
        .await
        .unwrap();
    oauth_error(resp, 400, "invalid_request").await;
    // The code survived all of this.
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    assert_eq!(
        post(&server, &form, Some(basic("app", SECRET)))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn userinfo_needs_a_users_openid_token() {
    let (server, _) = setup().await;
    let resp = server
        .client
        .get(server.url("/userinfo"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers()[WWW_AUTHENTICATE], "Bearer realm=\"sichat\"");
    for token in ["garbage", "soa_e30.AAAA", &"x".repeat(5000)] {
        let resp = server
            .client
            .get(server.url("/userinfo"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "{token}");
    }
    let resp = server
        .client
        .get(server.url("/userinfo"))
        .header(AUTHORIZATION, "Basic YTpi")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    // A client's own token (client_credentials) has no user behind it.
    let tokens: Value = post(
        &server,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "bot"),
            ("client_secret", SECRET),
        ],
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let resp = server
        .client
        .get(server.url("/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(
        resp.headers()[WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
}

fn id_token_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reuse_revokes_the_family() {
    let (server, user) = setup().await;
    let body = json!({"client_id": "rt", "redirect_uris": [REDIRECT], "client_secret": SECRET,
                      "grant_types": ["authorization_code", "refresh_token"]});
    assert_eq!(server.admin_post("/admin/clients", body).await.0, 201);
    let grant = NewGrant {
        client_id: "rt".into(),
        user_id: Some(sichat_core::id::UserId::parse(&user).unwrap()),
        scope: "email offline_access openid".into(),
        nonce: Some("nonce-r".into()),
        auth_time: Some(1_700_000_000),
        claims: vec![],
    };
    let (code, _) = server
        .services
        .codes
        .issue(grant, REDIRECT, &s256_challenge(VERIFIER))
        .await
        .unwrap();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.expose().as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let first: Value = post(&server, &form, Some(basic("rt", SECRET)))
        .await
        .json()
        .await
        .unwrap();
    let r1 = first["refresh_token"].as_str().unwrap().to_owned();
    assert!(r1.starts_with("sor_"));
    // The app client may not refresh: it got none.
    let code_app = code_for(&server, &user, "app", REDIRECT).await;
    let app: Value = post(
        &server,
        &[
            ("grant_type", "authorization_code"),
            ("code", code_app.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
        Some(basic("app", SECRET)),
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(app.get("refresh_token").is_none());

    let refresh = |token: String, scope: Option<&'static str>| {
        let server = &server;
        async move {
            let mut form = vec![
                ("grant_type", "refresh_token".to_owned()),
                ("refresh_token", token),
            ];
            if let Some(s) = scope {
                form.push(("scope", s.to_owned()));
            }
            let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post(server, &pairs, Some(basic("rt", SECRET))).await
        }
    };
    // Widening is refused and spends nothing; another client cannot use it either.
    oauth_error(
        refresh(r1.clone(), Some("openid profile")).await,
        400,
        "invalid_scope",
    )
    .await;
    let other = post(
        &server,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", r1.as_str()),
        ],
        Some(basic("app", SECRET)),
    )
    .await;
    oauth_error(other, 400, "unauthorized_client").await;
    // A use rotates it; the refreshed ID token keeps auth_time and carries no nonce.
    let resp = refresh(r1.clone(), None).await;
    assert_eq!(resp.status(), 200);
    let second: Value = resp.json().await.unwrap();
    let r2 = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(r1, r2);
    let claims = id_token_claims(second["id_token"].as_str().unwrap());
    assert_eq!(
        (claims["auth_time"].as_i64(), claims.get("nonce")),
        (Some(1_700_000_000), None)
    );
    // Narrowing works.
    let third: Value = refresh(r2.clone(), Some("openid"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(third["scope"], "openid");
    let r3 = third["refresh_token"].as_str().unwrap().to_owned();
    let access = third["access_token"].as_str().unwrap().to_owned();
    assert!(
        server
            .services
            .access_tokens
            .validate(&access)
            .await
            .unwrap()
            .is_some()
    );
    // Reusing r1 revokes the family: r3 and the newest access token die with it.
    oauth_error(refresh(r1, None).await, 400, "invalid_grant").await;
    oauth_error(refresh(r3, None).await, 400, "invalid_grant").await;
    assert!(
        server
            .services
            .access_tokens
            .validate(&access)
            .await
            .unwrap()
            .is_none()
    );
    oauth_error(
        refresh("sor_unknown".into(), None).await,
        400,
        "invalid_grant",
    )
    .await;
    oauth_error(
        post(
            &server,
            &[("grant_type", "refresh_token")],
            Some(basic("rt", SECRET)),
        )
        .await,
        400,
        "invalid_request",
    )
    .await;
}
