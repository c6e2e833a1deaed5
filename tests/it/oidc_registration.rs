//! Dynamic client registration (RFC 7591): off by default; on, a client registered by
//! the `openidconnect` crate logs a user in; bad metadata gets RFC 7591 §3.2.2 errors;
//! the registrations one address may make are bounded.

use openidconnect::core::{CoreClientRegistrationRequest, CoreJwsSigningAlgorithm};
use openidconnect::registration::EmptyAdditionalClientMetadata;
use openidconnect::{RedirectUrl, RegistrationUrl};
use serde_json::{Value, json};

use crate::browser::Browser;
use crate::common::{Options, TestServer, assert_problem};
use crate::oidc_login::{REDIRECT, login, rp_http, setup_with};

async fn register(server: &TestServer, body: &Value) -> (u16, Value) {
    let resp = server
        .client
        .post(server.url("/register"))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    if status != 404 {
        assert_eq!(resp.headers()["cache-control"], "no-store");
    }
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn registration_is_off_by_default() {
    let server = TestServer::spawn().await;
    let resp = server
        .client
        .post(server.url("/register"))
        .json(&json!({"redirect_uris": [REDIRECT]}))
        .send()
        .await
        .unwrap();
    assert_problem(resp, 404, "not-found").await;
    let (_, metadata) = server.get_json("/.well-known/openid-configuration").await;
    assert!(metadata.get("registration_endpoint").is_none());
}

#[tokio::test]
async fn a_self_registered_client_logs_a_user_in() {
    let (server, user_id) =
        setup_with(Options::default().with("SICHAT_OIDC_DYNAMIC_REGISTRATION", "true")).await;
    let (_, metadata) = server.get_json("/.well-known/openid-configuration").await;
    assert_eq!(metadata["registration_endpoint"], server.url("/register"));

    let http = rp_http();
    let registered = CoreClientRegistrationRequest::new(
        vec![RedirectUrl::new(REDIRECT.into()).unwrap()],
        EmptyAdditionalClientMetadata::default(),
    )
    .set_client_name(Some(
        [(
            None,
            openidconnect::ClientName::new("Self Registered".into()),
        )]
        .into_iter()
        .collect(),
    ))
    .register_async(
        &RegistrationUrl::new(server.url("/register")).unwrap(),
        &http,
    )
    .await
    .expect("the crate accepts the registration response");
    let client_id = registered.client_id().to_string();
    let secret = registered
        .client_secret()
        .expect("a confidential client")
        .secret()
        .clone();
    assert!(client_id.starts_with("dyn-"));

    let mut browser = Browser::new();
    let done = login(
        &server,
        &mut browser,
        &client_id,
        Some(&secret),
        REDIRECT,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        &["email"],
    )
    .await;
    assert_eq!(done.claims["sub"], user_id);
    // The admin sees where it came from.
    let (status, view) = server
        .admin_get(&format!("/admin/clients/{client_id}"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(view["client_name"], "Self Registered");
}

#[tokio::test]
async fn bad_metadata_gets_rfc7591_errors_and_registrations_are_bounded() {
    let server =
        TestServer::spawn_with(Options::default().with("SICHAT_OIDC_DYNAMIC_REGISTRATION", "true"))
            .await;
    for (body, error) in [
        (
            json!({"redirect_uris": ["https://rp.example/cb#frag"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["http://rp.example/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["com.example.app:/cb"]}),
            "invalid_redirect_uri",
        ),
        (json!({}), "invalid_redirect_uri"),
        (
            json!({"redirect_uris": [REDIRECT], "grant_types": ["client_credentials"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [REDIRECT], "grant_types": ["implicit"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [REDIRECT], "response_types": ["token"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [REDIRECT], "jwks_uri": "https://rp.example/jwks"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [REDIRECT], "scope": "openid issue:credentials"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "client_secret_jwt"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [REDIRECT], "id_token_signed_response_alg": "none"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": "https://rp.example/cb"}),
            "invalid_client_metadata",
        ),
        (json!([REDIRECT]), "invalid_client_metadata"),
    ] {
        let (status, answer) = register(&server, &body).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["error"], error, "{body}: {answer}");
        assert!(answer["error_description"].is_string());
    }
    // A native app: a private-use scheme, public, PKCE only; unknown metadata is ignored.
    let (status, answer) = register(
        &server,
        &json!({"redirect_uris": ["com.example.app:/cb"], "application_type": "native",
                "token_endpoint_auth_method": "none", "logo_uri": "https://rp.example/logo.png"}),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    assert!(answer.get("client_secret").is_none());
    assert_eq!(answer["token_endpoint_auth_method"], "none");
    // 13 refused + 1 accepted so far; the address may make 20 an hour.
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(
            register(&server, &json!({"redirect_uris": [REDIRECT]}))
                .await
                .0,
        );
    }
    assert_eq!(statuses, [201, 201, 201, 201, 201, 201, 429, 429]);
}
