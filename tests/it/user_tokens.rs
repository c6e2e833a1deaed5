//! Users' API tokens: created by the admin (API or CLI), shown once, stored hashed; a
//! token issues only as its user's DIDs and changes the status only of what they issued;
//! revoked, it stops working at once.

use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::common::{
    Options, ServerProcess, TestServer, assert_problem, fresh_database_url, sichat_cmd,
};

fn credential(issuer: Option<&str>) -> Value {
    let mut vc = json!({
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential"],
        "credentialSubject": {"id": "did:example:subject"},
    });
    if let Some(issuer) = issuer {
        vc["issuer"] = json!(issuer);
    }
    vc
}

async fn post(server: &TestServer, token: &str, path: &str, body: Value) -> reqwest::Response {
    server
        .client
        .post(server.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn new_token(server: &TestServer, user: &str) -> String {
    let (status, body) = server
        .admin_post(
            &format!("/admin/users/{user}/tokens"),
            json!({"label": "tests"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("sut_") && token.len() > 40, "{token}");
    token
}

#[tokio::test]
async fn a_user_token_issues_only_as_its_users_dids() {
    let server = TestServer::spawn().await;
    for name in ["alice", "bob"] {
        let (status, _) = server
            .admin_post("/admin/users", json!({"name": name}))
            .await;
        assert_eq!(status, 201);
    }
    let alice = new_token(&server, "alice").await;
    let bob = new_token(&server, "bob").await;
    let alice_did = format!("{}:users:alice", server.host_did());
    let bob_did = format!("{}:users:bob", server.host_did());

    // The token's user is the default issuer, and may be named.
    for issuer in [None, Some(alice_did.as_str())] {
        let resp = post(
            &server,
            &alice,
            "/credentials/issue",
            json!({"credential": credential(issuer), "options": {}}),
        )
        .await;
        assert_eq!(resp.status(), 201);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["verifiableCredential"]["issuer"], alice_did);
    }
    // Anyone else's DID: 403; the server's did:key too.
    let (_, keys) = server.admin_get("/admin/dids").await;
    let server_key = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["did"].as_str().unwrap().starts_with("did:key:"))
        .unwrap()["did"]
        .as_str()
        .unwrap()
        .to_owned();
    for issuer in [server.host_did(), bob_did.clone(), server_key] {
        let resp = post(
            &server,
            &alice,
            "/credentials/issue",
            json!({"credential": credential(Some(&issuer)), "options": {}}),
        )
        .await;
        assert_problem(resp, 403, "forbidden").await;
    }

    // Status: only what the user issued.
    let resp = post(
        &server,
        &alice,
        "/credentials/issue",
        json!({"credential": credential(None), "options": {}}),
    )
    .await;
    let vc: Value = resp.json().await.unwrap();
    let id = vc["verifiableCredential"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let revoke = json!({"credentialId": id, "credentialStatus": [{"type": "BitstringStatusListCredential", "status": "suspended"}]});
    let resp = post(&server, &bob, "/credentials/status", revoke.clone()).await;
    assert_problem(resp, 403, "forbidden").await;
    let resp = post(&server, &alice, "/credentials/status", revoke.clone()).await;
    assert_eq!(resp.status(), 200);
    let (status, server_vc) = server
        .admin_post(
            "/credentials/issue",
            json!({"credential": credential(None), "options": {}}),
        )
        .await;
    assert_eq!(status, 201);
    let resp = post(
        &server,
        &alice,
        "/credentials/status",
        json!({"credentialId": server_vc["verifiableCredential"]["id"], "credentialStatus": [{"type": "BitstringStatusListCredential", "status": "revoked"}]}),
    )
    .await;
    assert_problem(resp, 403, "forbidden").await;

    // A user token is not an admin token.
    let resp = server
        .client
        .get(server.url("/admin/users"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_problem(resp, 401, "unauthorized").await;
}

#[tokio::test]
async fn tokens_are_listed_without_secrets_and_revoked_at_once() {
    let server = TestServer::spawn().await;
    let (status, _) = server
        .admin_post("/admin/users", json!({"name": "carol"}))
        .await;
    assert_eq!(status, 201);
    let token = new_token(&server, "carol").await;
    let (status, list) = server.admin_get("/admin/users/carol/tokens").await;
    assert_eq!(status, 200);
    let listed = list.as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["label"], "tests");
    assert!(listed[0].get("token").is_none(), "{list}");
    assert!(!list.to_string().contains(&token[4..]));
    // The secret is not stored in clear either.
    let id = listed[0]["id"].as_str().unwrap().to_owned();

    let issue = json!({"credential": credential(None), "options": {}});
    assert_eq!(
        post(&server, &token, "/credentials/issue", issue.clone())
            .await
            .status(),
        201
    );
    let resp = server
        .client
        .delete(server.url(&format!("/admin/users/carol/tokens/{id}")))
        .bearer_auth(crate::common::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let resp = post(&server, &token, "/credentials/issue", issue.clone()).await;
    assert_problem(resp, 401, "unauthorized").await;
    let resp = server
        .client
        .delete(server.url(&format!("/admin/users/carol/tokens/{id}")))
        .bearer_auth(crate::common::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_problem(resp, 404, "not-found").await;
    let (_, list) = server.admin_get("/admin/users/carol/tokens").await;
    assert!(list[0]["revokedAt"].is_i64(), "{list}");
    for path in [
        format!("/admin/users/carol/tokens/{}", "x".repeat(65)),
        "/admin/users/NOT%20A%20NAME/tokens/abc".to_owned(),
    ] {
        let resp = server
            .client
            .delete(server.url(&path))
            .bearer_auth(crate::common::ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_problem(resp, 404, "not-found").await;
    }

    // Garbage and look-alike tokens.
    for bad in ["sut_", "sut_AAAA", "sat_nope", "x", &"sut_A".repeat(100)] {
        let resp = post(&server, bad, "/credentials/issue", issue.clone()).await;
        assert_problem(resp, 401, "unauthorized").await;
    }
    // Unknown users, bad labels, and no admin token.
    let (status, _) = server
        .admin_post("/admin/users/nobody/tokens", json!({}))
        .await;
    assert_eq!(status, 404);
    let (status, body) = server
        .admin_post(
            "/admin/users/carol/tokens",
            json!({"label": "x".repeat(129)}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["field"], "label");
    let resp = server
        .client
        .post(server.url("/admin/users/carol/tokens"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_problem(resp, 401, "unauthorized").await;
}

#[tokio::test]
async fn verification_can_require_a_token() {
    let server = TestServer::spawn_with(
        Options::default().with("SICHAT_CREDENTIAL_VERIFY_REQUIRES_TOKEN", "true"),
    )
    .await;
    let (status, vc) = server
        .admin_post(
            "/credentials/issue",
            json!({"credential": credential(None), "options": {}}),
        )
        .await;
    assert_eq!(status, 201);
    let body = json!({"verifiableCredential": vc["verifiableCredential"]});
    let resp = server
        .client
        .post(server.url("/credentials/verify"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_problem(resp, 401, "unauthorized").await;
    let resp = server
        .client
        .post(server.url("/presentations/verify"))
        .json(&json!({"verifiablePresentation": {}}))
        .send()
        .await
        .unwrap();
    assert_problem(resp, 401, "unauthorized").await;
    let (status, _) = server
        .admin_post("/admin/users", json!({"name": "dave"}))
        .await;
    assert_eq!(status, 201);
    let token = new_token(&server, "dave").await;
    assert_eq!(
        post(&server, &token, "/credentials/verify", body.clone())
            .await
            .status(),
        200
    );
    let (status, _) = server.admin_post("/credentials/verify", body).await;
    assert_eq!(status, 200);
}

fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_cli_creates_lists_and_revokes_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database_url(dir.path()).await;
    let server = ServerProcess::start(dir.path(), &db, "warn").await;
    let (ok, _, err) = run(sichat_cmd(dir.path(), &db).args(["user", "add", "erin"]));
    assert!(ok, "{err}");
    let (ok, token, err) =
        run(sichat_cmd(dir.path(), &db).args(["user", "token", "erin", "--label", "laptop"]));
    assert!(ok, "{err}");
    let token = token.trim().to_owned();
    assert!(token.starts_with("sut_"), "{token}");
    assert!(err.contains("shown once"), "{err}");

    let client = reqwest::Client::new();
    let issue = || {
        client
            .post(format!("{}/credentials/issue", server.base))
            .bearer_auth(&token)
            .json(&json!({"credential": credential(None), "options": {}}))
            .send()
    };
    assert_eq!(issue().await.unwrap().status(), 201);

    let (ok, listed, err) = run(sichat_cmd(dir.path(), &db).args(["user", "tokens", "erin"]));
    assert!(ok, "{err}");
    let line = listed.lines().next().unwrap().to_owned();
    assert!(line.ends_with("\tactive\tlaptop"), "{line}");
    assert!(!listed.contains(&token[4..]));
    let id = line.split('\t').next().unwrap();
    let (ok, _, err) = run(sichat_cmd(dir.path(), &db).args(["user", "revoke-token", "erin", id]));
    assert!(ok, "{err}");
    assert_eq!(issue().await.unwrap().status(), 401);
    let (ok, _, err) = run(sichat_cmd(dir.path(), &db).args(["user", "revoke-token", "erin", id]));
    assert!(!ok && err.contains("no active token"), "{err}");
    server.stop();
}
