//! The holder API: a user keeps verified credentials, presents them signed as their
//! did:web, and never sees another user's.

use serde_json::{Value, json};

use crate::common::{ADMIN_TOKEN, TestServer, assert_problem};

struct User {
    token: String,
    did: String,
}

async fn user(server: &TestServer, name: &str) -> User {
    let (status, _) = server
        .admin_post("/admin/users", json!({"name": name}))
        .await;
    assert_eq!(status, 201);
    let (status, body) = server
        .admin_post(&format!("/admin/users/{name}/tokens"), json!({}))
        .await;
    assert_eq!(status, 201);
    User {
        token: body["token"].as_str().unwrap().to_owned(),
        did: format!("{}:users:{name}", server.host_did()),
    }
}

async fn issue_to(server: &TestServer, subject: &str, options: Value) -> Value {
    let (status, body) = server
        .admin_post(
            "/credentials/issue",
            json!({"credential": {
                "@context": ["https://www.w3.org/ns/credentials/v2", "https://www.w3.org/ns/credentials/examples/v2"],
                "type": ["VerifiableCredential", "ExampleAlumniCredential"],
                "credentialSubject": {"id": subject, "alumniOf": "Example University"},
            }, "options": options}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["verifiableCredential"].clone()
}

async fn call(
    server: &TestServer,
    method: reqwest::Method,
    token: Option<&str>,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut req = server.client.request(method, server.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap()
}

fn enc(id: &str) -> String {
    id.replace(':', "%3A")
}

async fn keep(server: &TestServer, u: &User, vc: &Value) -> reqwest::Response {
    call(
        server,
        reqwest::Method::POST,
        Some(&u.token),
        "/credentials",
        Some(json!({"verifiableCredential": vc})),
    )
    .await
}

async fn verify_presentation(server: &TestServer, vp: &Value, options: Value) -> (u16, Value) {
    let resp = call(
        server,
        reqwest::Method::POST,
        None,
        "/presentations/verify",
        Some(json!({"verifiablePresentation": vp, "options": options})),
    )
    .await;
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn a_user_keeps_lists_gets_and_deletes_only_their_credentials() {
    let server = TestServer::spawn().await;
    let alice = user(&server, "alice").await;
    let bob = user(&server, "bob").await;
    let vc = issue_to(&server, &alice.did, json!({})).await;
    let id = vc["id"].as_str().unwrap().to_owned();

    let resp = keep(&server, &alice, &vc).await;
    assert_eq!(resp.status(), 201);
    let kept: Value = resp.json().await.unwrap();
    assert_eq!(kept["id"], id);
    assert_eq!(kept["format"], "eddsa-rdfc-2022");
    assert_eq!(kept["issuer"], server.host_did());
    let resp = keep(&server, &alice, &vc).await;
    assert_problem(resp, 409, "conflict").await;
    // Bob may keep his own copy; it is his.
    assert_eq!(keep(&server, &bob, &vc).await.status(), 201);

    let list = |u: &User| {
        let token = u.token.clone();
        let server = &server;
        async move {
            let resp = call(
                server,
                reqwest::Method::GET,
                Some(&token),
                "/credentials",
                None,
            )
            .await;
            assert_eq!(resp.status(), 200);
            resp.json::<Value>().await.unwrap()["credentials"].clone()
        }
    };
    assert_eq!(list(&alice).await.as_array().unwrap().len(), 1);
    let resp = call(
        &server,
        reqwest::Method::GET,
        Some(&alice.token),
        &format!("/credentials/{}", enc(&id)),
        None,
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap(), vc);

    // Bob deletes his copy; alice's stays. Then bob sees nothing of alice's.
    let resp = call(
        &server,
        reqwest::Method::DELETE,
        Some(&bob.token),
        &format!("/credentials/{}", enc(&id)),
        None,
    )
    .await;
    assert_eq!(resp.status(), 204);
    assert_eq!(list(&alice).await.as_array().unwrap().len(), 1);
    assert!(list(&bob).await.as_array().unwrap().is_empty());
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let resp = call(
            &server,
            method,
            Some(&bob.token),
            &format!("/credentials/{}", enc(&id)),
            None,
        )
        .await;
        assert_problem(resp, 404, "not-found").await;
    }
    let resp = call(
        &server,
        reqwest::Method::POST,
        Some(&bob.token),
        "/presentations",
        Some(json!({"credentials": [id]})),
    )
    .await;
    assert_problem(resp, 404, "not-found").await;

    // The admin token acts for no user; no token is no access.
    let resp = call(
        &server,
        reqwest::Method::GET,
        Some(ADMIN_TOKEN),
        "/credentials",
        None,
    )
    .await;
    assert_problem(resp, 403, "forbidden").await;
    let resp = call(&server, reqwest::Method::GET, None, "/credentials", None).await;
    assert_problem(resp, 401, "unauthorized").await;

    let resp = call(
        &server,
        reqwest::Method::DELETE,
        Some(&alice.token),
        &format!("/credentials/{}", enc(&id)),
        None,
    )
    .await;
    assert_eq!(resp.status(), 204);
    assert!(list(&alice).await.as_array().unwrap().is_empty());
}

#[tokio::test]
async fn only_credentials_that_verify_are_kept() {
    let server = TestServer::spawn().await;
    let alice = user(&server, "alice").await;
    let vc = issue_to(&server, &alice.did, json!({})).await;

    let mut tampered = vc.clone();
    tampered["credentialSubject"]["alumniOf"] = json!("Another University");
    let resp = keep(&server, &alice, &tampered).await;
    assert_eq!(resp.status(), 400);
    let result: Value = resp.json().await.unwrap();
    assert_eq!(result["verified"], false);

    // Revoked: not kept.
    let (status, _) = server
        .admin_post(
            "/credentials/status",
            json!({"credentialId": vc["id"], "credentialStatus": [{"type": "BitstringStatusListCredential", "status": "revoked"}]}),
        )
        .await;
    assert_eq!(status, 200);
    let resp = keep(&server, &alice, &vc).await;
    assert_eq!(resp.status(), 400);
    let result: Value = resp.json().await.unwrap();
    assert_eq!(result["errors"][0]["title"], "Revoked", "{result}");

    // Not credentials at all.
    let resp = keep(&server, &alice, &json!("text")).await;
    assert_problem(resp, 422, "invalid-credential").await;
    let resp = keep(&server, &alice, &json!({"type": ["VerifiableCredential"]})).await;
    let body = assert_problem(resp, 422, "invalid-credential").await;
    assert_eq!(body["field"], "@context");
    let resp = call(
        &server,
        reqwest::Method::POST,
        Some(&alice.token),
        "/credentials",
        Some(json!({})),
    )
    .await;
    assert_problem(resp, 422, "validation-failed").await;
    let resp = call(
        &server,
        reqwest::Method::GET,
        Some(&alice.token),
        "/credentials",
        None,
    )
    .await;
    let listed: Value = resp.json().await.unwrap();
    assert!(listed["credentials"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn presentations_are_signed_as_the_holder_and_bound_to_the_request() {
    let server = TestServer::spawn().await;
    let alice = user(&server, "alice").await;
    let di = issue_to(&server, &alice.did, json!({})).await;
    let jwt = issue_to(&server, &alice.did, json!({"format": "vc+jwt"})).await;
    for vc in [&di, &jwt] {
        assert_eq!(keep(&server, &alice, vc).await.status(), 201);
    }
    let resp = call(
        &server,
        reqwest::Method::GET,
        Some(&alice.token),
        "/credentials",
        None,
    )
    .await;
    let listed: Value = resp.json().await.unwrap();
    let ids: Vec<String> = listed["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed["credentials"][1]["format"], "vc+jwt");

    for options in [
        json!({}),
        json!({"cryptosuite": "ecdsa-rdfc-2019"}),
        json!({"format": "vp+jwt"}),
    ] {
        let mut options = options;
        options["challenge"] = json!("c-123");
        options["domain"] = json!("verifier.example");
        let resp = call(
            &server,
            reqwest::Method::POST,
            Some(&alice.token),
            "/presentations",
            Some(json!({"credentials": ids, "options": options})),
        )
        .await;
        assert_eq!(resp.status(), 201, "{options}");
        let vp = resp.json::<Value>().await.unwrap()["verifiablePresentation"].clone();
        if options.get("format").is_none() {
            assert_eq!(vp["holder"], alice.did);
            assert_eq!(vp["proof"]["proofPurpose"], "authentication");
            assert_eq!(vp["verifiableCredential"].as_array().unwrap().len(), 2);
        }
        let (status, report) = verify_presentation(
            &server,
            &vp,
            json!({"challenge": "c-123", "domain": "verifier.example"}),
        )
        .await;
        assert_eq!(status, 200, "{options}: {report}");
        let (status, report) = verify_presentation(
            &server,
            &vp,
            json!({"challenge": "another", "domain": "verifier.example"}),
        )
        .await;
        assert_eq!(status, 400, "{options}: {report}");
        assert!(
            report["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["check"] == "challenge")
        );
    }

    // Requests that cannot be presented.
    for (body, status, field) in [
        (json!({"credentials": []}), 422, "credentials"),
        (
            json!({"credentials": vec![ids[0].clone(); 17]}),
            422,
            "credentials",
        ),
        (
            json!({"credentials": [ids[0]], "options": {"format": "ldp+zip"}}),
            422,
            "options.format",
        ),
        (
            json!({"credentials": [ids[0]], "options": {"cryptosuite": "bbs-2023"}}),
            422,
            "options.cryptosuite",
        ),
        (
            json!({"credentials": [ids[0]], "options": {"type": "Ed25519Signature2020"}}),
            422,
            "options.type",
        ),
    ] {
        let resp = call(
            &server,
            reqwest::Method::POST,
            Some(&alice.token),
            "/presentations",
            Some(body),
        )
        .await;
        let problem = assert_problem(resp, status, "validation-failed").await;
        assert_eq!(problem["field"], field);
    }
    let resp = call(
        &server,
        reqwest::Method::POST,
        Some(&alice.token),
        "/presentations",
        Some(json!({"credentials": ["urn:uuid:00000000-0000-4000-8000-000000000000"]})),
    )
    .await;
    assert_problem(resp, 404, "not-found").await;
}
