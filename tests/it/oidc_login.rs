//! A whole OpenID Connect login driven by the `openidconnect` crate as the relying party:
//! discovery, the authorization request, the real sign-in and consent pages (submitted
//! like a browser would), the code exchange, the ID token checked by the library, and
//! userinfo; credential-backed claims released while the credential verifies and gone
//! once it is revoked.

use std::collections::BTreeMap;

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AdditionalClaims, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse, UserInfoClaims,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sichat::service::discovery::SichatProviderMetadata;

use crate::browser::Browser;
use crate::common::{Options, TestServer};

pub const PASSWORD: &str = "correct horse battery";
pub const SECRET: &str = "rp-secret-0123456789-0123456789-abcdef";
pub const REDIRECT: &str = "https://rp.example/callback";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Extra {
    #[serde(flatten)]
    claims: BTreeMap<String, Value>,
}
impl AdditionalClaims for Extra {}

/// The relying party's HTTP client: reqwest 0.13 behind the crate's async client trait.
pub fn rp_http() -> impl Fn(
    openidconnect::HttpRequest,
) -> std::pin::Pin<
    Box<
        dyn std::future::Future<Output = Result<openidconnect::HttpResponse, reqwest::Error>>
            + Send,
    >,
> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    move |req: openidconnect::HttpRequest| {
        let http = http.clone();
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let resp = http
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await?;
            let mut builder = openidconnect::http::Response::builder().status(resp.status());
            for (k, v) in resp.headers() {
                builder = builder.header(k, v);
            }
            Ok(builder
                .body(resp.bytes().await?.to_vec())
                .expect("a real response"))
        })
    }
}

pub async fn setup() -> (TestServer, String) {
    setup_with(Options::default()).await
}

pub async fn setup_with(options: Options) -> (TestServer, String) {
    let server = TestServer::spawn_with(options).await;
    let (status, user) = server
        .admin_post(
            "/admin/users",
            json!({"name": "ann", "password": PASSWORD, "email": "ann@example.org", "displayName": "Ann Example"}),
        )
        .await;
    assert_eq!(status, 201, "{user}");
    for body in [
        json!({"client_id": "rp-rs256", "client_name": "Photo Prints", "redirect_uris": [REDIRECT], "client_secret": SECRET,
               "scope": "openid profile email offline_access vc:email", "grant_types": ["authorization_code", "refresh_token"]}),
        json!({"client_id": "rp-es256", "redirect_uris": [REDIRECT], "client_secret": SECRET, "token_endpoint_auth_method": "client_secret_post",
               "id_token_signed_response_alg": "ES256"}),
        json!({"client_id": "rp-eddsa", "public": true, "redirect_uris": ["http://127.0.0.1/callback"], "id_token_signed_response_alg": "EdDSA"}),
    ] {
        let (status, c) = server.admin_post("/admin/clients", body).await;
        assert_eq!(status, 201, "{c}");
    }
    (server, user["id"].as_str().unwrap().to_owned())
}

pub struct Login {
    pub claims: BTreeMap<String, Value>,
    pub userinfo: Value,
    pub requests: usize,
}

/// One login through the pages, as `client`; `browser` may already be signed in.
pub async fn login(
    server: &TestServer,
    browser: &mut Browser,
    client_id: &str,
    secret: Option<&str>,
    redirect: &str,
    alg: CoreJwsSigningAlgorithm,
    scopes: &[&str],
) -> Login {
    let http = rp_http();
    let mut requests = 0;
    let provider =
        SichatProviderMetadata::discover_async(IssuerUrl::new(server.base.clone()).unwrap(), &http)
            .await
            .expect("discovery (and the JWKS it fetches)");
    requests += 2;
    let client = CoreClient::from_provider_metadata(
        provider,
        ClientId::new(client_id.into()),
        secret.map(|s| ClientSecret::new(s.into())),
    )
    .set_redirect_uri(RedirectUrl::new(redirect.into()).unwrap());
    let client = if client_id == "rp-es256" {
        client.set_auth_type(openidconnect::AuthType::RequestBody)
    } else {
        client
    };
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            || CsrfToken::new("st ate+%é".into()),
            || Nonce::new("n-0S6_WzA2Mj é+".into()),
        )
        .set_pkce_challenge(challenge);
    for s in scopes {
        request = request.add_scope(Scope::new((*s).into()));
    }
    let (url, state, nonce) = request.url();

    let mut page = browser.get(url.as_str()).await;
    requests += 1;
    if page.status == 200 && page.body.contains("action=\"/login\"") {
        page = browser.sign_in(&server.base, &page, "ann", PASSWORD).await;
        requests += 1;
        assert_eq!(page.status, 303, "{}", page.body);
        page = browser.follow(&server.base, &page).await;
        requests += 1;
    }
    if page.status == 200 {
        page = browser.consent(&server.base, &page, "allow").await;
        requests += 1;
    }
    assert_eq!(page.status, 303, "{}", page.body);
    let location = page.location().unwrap();
    assert!(location.starts_with(redirect), "{location}");
    let params = page.redirect_params();
    assert_eq!(
        params["state"],
        *state.secret(),
        "state round-trips byte for byte"
    );
    assert_eq!(params["iss"], server.base, "RFC 9207 iss");

    let token = client
        .exchange_code(AuthorizationCode::new(params["code"].clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("token response");
    requests += 1;
    let id_token = token.id_token().expect("an ID token");
    let verifier = client.id_token_verifier().set_allowed_algs(vec![alg]);
    let claims = id_token
        .claims(&verifier, &nonce)
        .expect("the ID token verifies");
    assert_eq!(claims.nonce().unwrap().secret(), nonce.secret());
    let at_hash = claims.access_token_hash().expect("at_hash");
    let expected = openidconnect::AccessTokenHash::from_token(
        token.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(*at_hash, expected);
    let claims = serde_json::from_value(serde_json::to_value(claims).unwrap()).unwrap();
    let userinfo: UserInfoClaims<Extra, CoreGenderClaim> = client
        .user_info(token.access_token().clone(), None)
        .unwrap()
        .request_async(&http)
        .await
        .expect("userinfo");
    requests += 1;
    Login {
        claims,
        userinfo: serde_json::to_value(userinfo).unwrap(),
        requests,
    }
}

#[tokio::test]
async fn standard_relying_parties_log_a_user_in_with_every_algorithm_and_auth_method() {
    let (server, user_id) = setup().await;
    let mut browser = Browser::new();
    let first = login(
        &server,
        &mut browser,
        "rp-rs256",
        Some(SECRET),
        REDIRECT,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        &["profile", "email"],
    )
    .await;
    assert_eq!(first.claims["sub"], user_id);
    assert_eq!(first.claims["email"], "ann@example.org");
    assert_eq!(
        first.claims["email_verified"], false,
        "the profile's address is not proven"
    );
    assert!(first.claims["auth_time"].is_i64());
    assert_eq!(first.userinfo["sub"], user_id);
    assert_eq!(first.userinfo["name"], "Ann Example");
    assert_eq!(first.userinfo["preferred_username"], "ann");
    assert!(
        first.requests <= 8,
        "a whole login took {} requests",
        first.requests
    );

    // Signed in already: the next client only asks for consent.
    let second = login(
        &server,
        &mut browser,
        "rp-es256",
        Some(SECRET),
        REDIRECT,
        CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        &[],
    )
    .await;
    assert_eq!(second.claims["sub"], user_id);
    assert!(
        !second.claims.contains_key("email"),
        "no email scope, no email"
    );

    // A public client on a loopback redirect, any port (RFC 8252 §7.3).
    let third = login(
        &server,
        &mut browser,
        "rp-eddsa",
        None,
        "http://127.0.0.1:53123/callback",
        CoreJwsSigningAlgorithm::EdDsa,
        &[],
    )
    .await;
    assert_eq!(third.claims["sub"], user_id);

    // Consent is remembered per client and scope set: no page at all the second time.
    let again = login(
        &server,
        &mut browser,
        "rp-rs256",
        Some(SECRET),
        REDIRECT,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        &["profile", "email"],
    )
    .await;
    assert_eq!(
        again.requests, 5,
        "discovery, jwks, authorize, token, userinfo"
    );
}

/// Issues an `EmailCredential` about `subject` and keeps it in `user`'s store.
async fn email_credential(server: &TestServer, user: &str, subject: &str) -> String {
    let (status, body) = server
        .admin_post(
            "/credentials/issue",
            json!({"credential": {
                "@context": ["https://www.w3.org/ns/credentials/v2", "https://www.w3.org/ns/credentials/examples/v2"],
                "type": ["VerifiableCredential", "EmailCredential"],
                "credentialSubject": {"id": subject, "email": "ann@proven.example"},
            }}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let vc = body["verifiableCredential"].clone();
    let (status, token) = server
        .admin_post(&format!("/admin/users/{user}/tokens"), json!({}))
        .await;
    assert_eq!(status, 201);
    let resp = server
        .client
        .post(server.url("/credentials"))
        .bearer_auth(token["token"].as_str().unwrap())
        .json(&json!({"verifiableCredential": vc}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    vc["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_credential_backs_claims_while_it_verifies() {
    let (server, _) = setup().await;
    for rule in [
        json!({"scope": "vc:email", "claim": "email", "credential_type": "EmailCredential", "from": "credentialSubject.email"}),
        json!({"scope": "vc:email", "claim": "email_verified", "credential_type": "EmailCredential"}),
    ] {
        let (status, body) = server.admin_post("/admin/oidc/claims", rule).await;
        assert_eq!(status, 201, "{body}");
    }
    // Discovery lists the scope and its claims.
    let (_, metadata) = server.get_json("/.well-known/openid-configuration").await;
    assert!(
        metadata["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("vc:email"))
    );
    assert!(
        metadata["claims_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("email_verified"))
    );

    // A credential about someone else backs nothing.
    email_credential(&server, "ann", "did:example:someone-else").await;
    let ann_did = format!("{}:users:ann", server.host_did());
    let id = email_credential(&server, "ann", &ann_did).await;

    let mut browser = Browser::new();
    let http = rp_http();
    // The consent page says which credential backs which claim.
    let provider =
        SichatProviderMetadata::discover_async(IssuerUrl::new(server.base.clone()).unwrap(), &http)
            .await
            .unwrap();
    let client = CoreClient::from_provider_metadata(
        provider,
        ClientId::new("rp-rs256".into()),
        Some(ClientSecret::new(SECRET.into())),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let (url, _, _) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("vc:email".into()))
        .set_pkce_challenge(challenge)
        .url();
    let page = browser.get(url.as_str()).await;
    let page = browser.sign_in(&server.base, &page, "ann", PASSWORD).await;
    let consent = browser.follow(&server.base, &page).await;
    assert!(
        consent.body.contains("Proven by your credentials"),
        "{}",
        consent.body
    );
    assert!(consent.body.contains("EmailCredential"));
    assert!(
        consent.body.contains(&server.host_did()),
        "the issuer is shown"
    );

    let released = login(
        &server,
        &mut browser,
        "rp-rs256",
        Some(SECRET),
        REDIRECT,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        &["vc:email"],
    )
    .await;
    assert_eq!(released.claims["email"], "ann@proven.example");
    assert_eq!(released.claims["email_verified"], true);
    assert_eq!(released.userinfo["email"], "ann@proven.example");
    assert_eq!(released.userinfo["email_verified"], true);

    // Revoked: the claim is gone at the next release.
    let (status, body) = server
        .admin_post(
            "/credentials/status",
            json!({"credentialId": id, "credentialStatus": [{"type": "BitstringStatusListCredential", "status": "revoked"}]}),
        )
        .await;
    assert!(status == 200 || status == 204, "{status} {body}");
    let after = login(
        &server,
        &mut browser,
        "rp-rs256",
        Some(SECRET),
        REDIRECT,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        &["vc:email"],
    )
    .await;
    assert!(
        after
            .claims
            .get("email_verified")
            .is_none_or(|v| v == false),
        "{:?}",
        after.claims
    );
    assert!(
        after.userinfo.get("email_verified").is_none(),
        "{}",
        after.userinfo
    );
    assert!(after.userinfo.get("email").is_none());
}

/// `examples/oidc_login.rs` against a running server: it prints the authorization URL,
/// the test signs in and consents through the pages like a browser, the browser lands on
/// the example's loopback callback, and the example prints the verified claims.
#[tokio::test]
async fn the_oidc_login_example_logs_a_user_in() {
    use tokio::io::AsyncBufReadExt;
    let (server, user_id) = setup().await;
    let (status, body) = server
        .admin_post(
            "/admin/clients",
            json!({"client_id": "demo", "public": true, "redirect_uris": ["http://127.0.0.1/callback"]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let example = crate::common::example_path("oidc_login");
    let mut child = tokio::process::Command::new(example)
        .env("SICHAT_URL", &server.base)
        .env("OIDC_CLIENT_ID", "demo")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let url = lines
        .next_line()
        .await
        .unwrap()
        .expect("the authorization URL");
    assert!(
        url.starts_with(&format!("{}/authorize?", server.base)),
        "{url}"
    );

    let mut browser = Browser::new();
    let page = browser.get(&url).await;
    let signed = browser.sign_in(&server.base, &page, "ann", PASSWORD).await;
    let consent = browser.follow(&server.base, &signed).await;
    let back = browser.consent(&server.base, &consent, "allow").await;
    let callback = back.location().unwrap().to_owned();
    assert!(callback.starts_with("http://127.0.0.1:"), "{callback}");
    let landed = browser.get(&callback).await;
    assert_eq!(landed.status, 200);
    assert!(landed.body.contains("Signed in"));

    let out = lines.next_line().await.unwrap().expect("the claims");
    let status = child.wait().await.unwrap();
    assert!(status.success());
    let result: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(result["id_token_claims"]["sub"], user_id);
    assert_eq!(result["userinfo"]["email"], "ann@example.org");
    assert_eq!(result["userinfo"]["preferred_username"], "ann");
}
