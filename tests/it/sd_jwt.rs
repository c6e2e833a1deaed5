//! SD-JWT credentials (VC-JOSE-COSE §3.2): issued with selectively disclosable claims,
//! verified with the disclosures they carry, kept by a holder who presents only some.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};

use crate::common::{TestServer, assert_problem};

fn credential(subject: &str) -> Value {
    json!({
        "@context": ["https://www.w3.org/ns/credentials/v2", "https://www.w3.org/ns/credentials/examples/v2"],
        "type": ["VerifiableCredential", "ExampleAlumniCredential"],
        "credentialSubject": {"id": subject, "alumniOf": "Example University", "name": "Alice"},
    })
}

async fn issue(server: &TestServer, vc: Value, options: Value) -> (u16, Value) {
    server
        .admin_post(
            "/credentials/issue",
            json!({"credential": vc, "options": options}),
        )
        .await
}

fn sd_jwt_of(envelope: &Value) -> String {
    envelope["id"]
        .as_str()
        .unwrap()
        .strip_prefix("data:application/vc+sd-jwt,")
        .unwrap_or_else(|| panic!("not an SD-JWT envelope: {envelope}"))
        .to_owned()
}

fn part(jws: &str, i: usize) -> Value {
    serde_json::from_slice(&B64.decode(jws.split('.').nth(i).unwrap()).unwrap()).unwrap()
}

/// The disclosed (name, value) pairs of an SD-JWT.
fn disclosed(sd_jwt: &str) -> Vec<(String, Value)> {
    sd_jwt
        .split('~')
        .skip(1)
        .filter(|d| !d.is_empty())
        .map(|d| {
            let array: Value = serde_json::from_slice(&B64.decode(d).unwrap()).unwrap();
            (array[1].as_str().unwrap().to_owned(), array[2].clone())
        })
        .collect()
}

fn with_sd_jwt(sd_jwt: &str) -> Value {
    json!({
        "@context": "https://www.w3.org/ns/credentials/v2",
        "id": format!("data:application/vc+sd-jwt,{sd_jwt}"),
        "type": "EnvelopedVerifiableCredential",
    })
}

#[tokio::test]
async fn sd_jwt_credentials_conceal_claims_and_verify() {
    let server = TestServer::spawn().await;
    let (status, body) = issue(
        &server,
        credential("did:example:alice"),
        json!({"format": "vc+sd-jwt"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let envelope = &body["verifiableCredential"];
    assert_eq!(envelope["type"], "EnvelopedVerifiableCredential");
    let sd_jwt = sd_jwt_of(envelope);
    assert!(sd_jwt.ends_with('~'));
    let jws = sd_jwt.split('~').next().unwrap();
    let header = part(jws, 0);
    assert_eq!(header["typ"], "vc+sd-jwt");
    assert_eq!(header["cty"], "vc");
    let payload = part(jws, 1);
    assert_eq!(payload["_sd_alg"], "sha-256");
    let subject = &payload["credentialSubject"];
    assert_eq!(
        subject["id"], "did:example:alice",
        "the id is not concealed"
    );
    assert!(
        subject.get("alumniOf").is_none() && subject.get("name").is_none(),
        "{payload}"
    );
    assert_eq!(subject["_sd"].as_array().unwrap().len(), 2);
    let mut names: Vec<String> = disclosed(&sd_jwt).into_iter().map(|(n, _)| n).collect();
    names.sort();
    assert_eq!(names, ["alumniOf", "name"]);

    let (status, report) = server.verify_credential(envelope).await;
    assert_eq!(status, 200, "{report}");
    for check in ["proof", "issuer", "credential", "status"] {
        assert!(
            report["checks"].as_array().unwrap().contains(&json!(check)),
            "{check}: {report}"
        );
    }

    // Fewer disclosures still verify; a changed or foreign one does not.
    let mut parts: Vec<&str> = sd_jwt.split('~').collect();
    let dropped = format!("{}~{}~", parts[0], parts[1]);
    let (status, report) = server.verify_credential(&with_sd_jwt(&dropped)).await;
    assert_eq!(status, 200, "{report}");
    let forged = B64.encode(r#"["c2FsdA","alumniOf","Forged University"]"#);
    parts[1] = &forged;
    let (status, report) = server
        .verify_credential(&with_sd_jwt(&parts.join("~")))
        .await;
    assert_eq!(status, 400, "{report}");
    assert_eq!(report["errors"][0]["check"], "proof", "{report}");
    // More disclosures than are ever read: refused before revealing anything.
    let many = format!("{}~{}", parts[0], "WyJzIiwibiIsMV0~".repeat(200));
    let (status, report) = server.verify_credential(&with_sd_jwt(&many)).await;
    assert_eq!(status, 400, "{report}");
    assert!(
        report["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("disclosures"),
        "{report}"
    );

    // Only the chosen claims are concealed.
    let (status, body) = issue(
        &server,
        credential("did:example:alice"),
        json!({"format": "vc+sd-jwt", "selectivePointers": ["/credentialSubject/name"]}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let sd_jwt = sd_jwt_of(&body["verifiableCredential"]);
    assert_eq!(disclosed(&sd_jwt), [("name".to_owned(), json!("Alice"))]);
    let payload = part(sd_jwt.split('~').next().unwrap(), 1);
    assert_eq!(
        payload["credentialSubject"]["alumniOf"],
        "Example University"
    );
}

#[tokio::test]
async fn sd_jwt_options_are_checked() {
    let server = TestServer::spawn().await;
    for (vc, options, field) in [
        (
            credential("did:example:a"),
            json!({"selectivePointers": ["/credentialSubject/name"]}),
            "options.selectivePointers",
        ),
        (
            credential("did:example:a"),
            json!({"format": "vc+sd-jwt", "selectivePointers": ["/credentialSubject/nothing"]}),
            "",
        ),
        (
            credential("did:example:a"),
            json!({"format": "vc+sd-jwt", "selectivePointers": ["/issuer"]}),
            "",
        ),
        (
            credential("did:example:a"),
            json!({"format": "vc+sd-jwt", "selectivePointers": ["no-slash"]}),
            "",
        ),
        (
            credential("did:example:a"),
            json!({"format": "vc+sd-jwt", "selectivePointers": ["/credentialStatus"]}),
            "",
        ),
        (
            credential("did:example:a"),
            json!({"format": "vc+sd-jwt", "selectivePointers": ["/credentialStatus/0"]}),
            "",
        ),
        (
            credential("did:example:a"),
            json!({"format": "vc+sd-jwt", "selectivePointers": ["/credentialSubject"]}),
            "",
        ),
        (
            credential("did:example:a"),
            json!({"format": "vc+sd-jwt", "selectivePointers": ["/id"]}),
            "",
        ),
        (
            credential("did:example:a"),
            json!({"format": "vc+sd-jwt", "selectivePointers": ["/validUntil"]}),
            "",
        ),
        (
            json!({
                "@context": ["https://www.w3.org/2018/credentials/v1"],
                "type": ["VerifiableCredential"],
                "credentialSubject": {"id": "did:example:a"},
            }),
            json!({"format": "vc+sd-jwt"}),
            "",
        ),
    ] {
        let resp = server
            .admin_post_raw(
                "/credentials/issue",
                &json!({"credential": vc, "options": options}),
            )
            .await;
        let body = assert_problem(resp, 422, "validation-failed").await;
        if !field.is_empty() {
            assert_eq!(body["field"], field);
        }
    }
}

#[tokio::test]
async fn a_holder_discloses_only_what_they_choose() {
    let server = TestServer::spawn().await;
    let (status, _) = server
        .admin_post("/admin/users", json!({"name": "alice"}))
        .await;
    assert_eq!(status, 201);
    let (_, token) = server
        .admin_post("/admin/users/alice/tokens", json!({}))
        .await;
    let token = token["token"].as_str().unwrap().to_owned();
    let alice_did = format!("{}:users:alice", server.host_did());
    let mut vc = credential(&alice_did);
    vc["id"] = json!("urn:uuid:7c4b1e0e-6c2a-4d8e-9b1f-2f0a6f3e9d11");
    let (status, body) = issue(&server, vc, json!({"format": "vc+sd-jwt"})).await;
    assert_eq!(status, 201);
    let resp = server
        .client
        .post(server.url("/credentials"))
        .bearer_auth(&token)
        .json(&json!({"verifiableCredential": body["verifiableCredential"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let kept: Value = resp.json().await.unwrap();
    assert_eq!(kept["format"], "vc+sd-jwt");
    let id = kept["id"].as_str().unwrap().to_owned();

    for (keep, expected) in [
        (vec![], vec![]),
        (vec!["/credentialSubject/alumniOf"], vec!["alumniOf"]),
    ] {
        let resp = server
            .client
            .post(server.url("/presentations"))
            .bearer_auth(&token)
            .json(&json!({"credentials": [id], "disclose": {&id: keep}, "options": {"challenge": "n-1"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
        let vp = resp.json::<Value>().await.unwrap()["verifiablePresentation"].clone();
        let inner = &vp["verifiableCredential"][0];
        let names: Vec<String> = disclosed(&sd_jwt_of(inner))
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, expected);
        let resp = server
            .client
            .post(server.url("/presentations/verify"))
            .json(&json!({"verifiablePresentation": vp, "options": {"challenge": "n-1"}}))
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let report: Value = resp.json().await.unwrap();
        assert_eq!(status, 200, "{report}");
    }
    // Disclosing from a credential that is not an SD-JWT, or one not presented.
    let resp = server
        .client
        .post(server.url("/presentations"))
        .bearer_auth(&token)
        .json(&json!({"credentials": [id], "disclose": {"urn:uuid:other": []}}))
        .send()
        .await
        .unwrap();
    let body = assert_problem(resp, 422, "validation-failed").await;
    assert_eq!(body["field"], "disclose");
}
