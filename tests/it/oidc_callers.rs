//! OpenID Connect access tokens on Sichat's own APIs: a client's own token with scope
//! `issue:credentials` issues credentials (as the DIDs it was registered for), the way the
//! W3C VC-API test suites authenticate; a user's token with scope `holder` acts for them.

use serde_json::{Value, json};
use sichat::service::oidc_codes::NewGrant;
use sichat_core::oauth::s256_challenge;

use crate::common::TestServer;

const SECRET: &str = "bot-secret-0123456789-0123456789-abcdef";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

fn credential(issuer: Option<&str>) -> Value {
    let mut vc = json!({
        "@context": ["https://www.w3.org/ns/credentials/v2", "https://www.w3.org/ns/credentials/examples/v2"],
        "type": ["VerifiableCredential", "ExampleAlumniCredential"],
        "credentialSubject": {"id": "did:example:alice", "alumniOf": "Example University"},
    });
    if let Some(issuer) = issuer {
        vc["issuer"] = issuer.into();
    }
    vc
}

async fn client_token(server: &TestServer, client: &str, scope: &str) -> String {
    let body = format!(
        "grant_type=client_credentials&client_id={client}&client_secret={SECRET}&scope={scope}"
    );
    let resp = server
        .client
        .post(server.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn issue(server: &TestServer, token: &str, issuer: Option<&str>) -> (u16, Value) {
    let resp = server
        .client
        .post(server.url("/credentials/issue"))
        .bearer_auth(token)
        .json(&json!({"credential": credential(issuer), "options": {}}))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_client_credentials_token_issues_as_its_registered_dids_only() {
    let server = TestServer::spawn().await;
    let (_, user) = server
        .admin_post("/admin/users", json!({"name": "uma"}))
        .await;
    let user_did = user["did"].as_str().unwrap().to_owned();
    let server_did = server.host_did();
    for body in [
        json!({"client_id": "vc-bot", "grant_types": ["client_credentials"], "scope": "issue:credentials other",
               "client_secret": SECRET, "token_endpoint_auth_method": "client_secret_post"}),
        json!({"client_id": "uma-bot", "grant_types": ["client_credentials"], "scope": "issue:credentials",
               "client_secret": SECRET, "token_endpoint_auth_method": "client_secret_post", "issuer_dids": [user_did]}),
    ] {
        assert_eq!(server.admin_post("/admin/clients", body).await.0, 201);
    }
    // The default: the server's did:web.
    let token = client_token(&server, "vc-bot", "issue:credentials").await;
    let (status, vc) = issue(&server, &token, None).await;
    assert_eq!(status, 201, "{vc}");
    assert_eq!(vc["verifiableCredential"]["issuer"], server_did.as_str());
    // Its status can be changed by the same client.
    let id = vc["verifiableCredential"]["id"].as_str().unwrap();
    let resp = server
        .client
        .post(server.url("/credentials/status"))
        .bearer_auth(&token)
        .json(&json!({"credentialId": id, "credentialStatus": [{"type": "BitstringStatusListCredential", "status": "revoked"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // Not as a user's DID it was not registered for.
    assert_eq!(issue(&server, &token, Some(&user_did)).await.0, 403);
    // A client registered for the user's DID issues as it by default, and not as the server.
    let uma = client_token(&server, "uma-bot", "issue:credentials").await;
    let (status, vc) = issue(&server, &uma, None).await;
    assert_eq!(
        (status, vc["verifiableCredential"]["issuer"].as_str()),
        (201, Some(user_did.as_str()))
    );
    assert_eq!(issue(&server, &uma, Some(&server_did)).await.0, 403);
    // Without the scope, or with a broken token.
    let other = client_token(&server, "vc-bot", "other").await;
    assert_eq!(issue(&server, &other, None).await.0, 403);
    let mut forged = token.clone();
    forged.push('A');
    assert_eq!(issue(&server, &forged, None).await.0, 401);
    // No holder API for a client.
    let resp = server
        .client
        .get(server.url("/credentials"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    // Removing the client ends its tokens.
    let resp = server
        .client
        .delete(server.url("/admin/clients/vc-bot"))
        .bearer_auth(crate::common::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(issue(&server, &token, None).await.0, 401);
}

#[tokio::test]
async fn a_users_token_with_scope_holder_uses_their_holder_api() {
    let server = TestServer::spawn().await;
    let (_, user) = server
        .admin_post("/admin/users", json!({"name": "vic"}))
        .await;
    let body = json!({"client_id": "wallet", "redirect_uris": ["https://w.example/cb"], "client_secret": SECRET,
                      "token_endpoint_auth_method": "client_secret_post", "scope": "openid holder"});
    assert_eq!(server.admin_post("/admin/clients", body).await.0, 201);
    let token_for = |scope: &'static str| {
        let server = &server;
        let user_id = user["id"].as_str().unwrap().to_owned();
        async move {
            let grant = NewGrant {
                client_id: "wallet".into(),
                user_id: Some(sichat_core::id::UserId::parse(&user_id).unwrap()),
                scope: scope.into(),
                nonce: None,
                auth_time: None,
                claims: vec![],
            };
            let (code, _) = server
                .services
                .codes
                .issue(grant, "https://w.example/cb", &s256_challenge(VERIFIER))
                .await
                .unwrap();
            let body = format!(
                "grant_type=authorization_code&code={}&redirect_uri=https%3A%2F%2Fw.example%2Fcb&code_verifier={VERIFIER}&client_id=wallet&client_secret={SECRET}",
                code.expose()
            );
            let resp = server
                .client
                .post(server.url("/token"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            resp.json::<Value>().await.unwrap()["access_token"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let holder = token_for("openid holder").await;
    let resp = server
        .client
        .get(server.url("/credentials"))
        .bearer_auth(&holder)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // It issues as the user's DID only.
    let (status, vc) = issue(&server, &holder, None).await;
    assert_eq!(
        (status, vc["verifiableCredential"]["issuer"].as_str()),
        (201, user["did"].as_str())
    );
    assert_eq!(
        issue(&server, &holder, Some(&server.host_did())).await.0,
        403
    );
    // Without scope holder: nothing here.
    let login_only = token_for("openid").await;
    let resp = server
        .client
        .get(server.url("/credentials"))
        .bearer_auth(&login_only)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(issue(&server, &login_only, None).await.0, 403);
}
