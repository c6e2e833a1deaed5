//! The VC-API over HTTP: issuing as the server's DIDs and users' DIDs in every format,
//! verifying what was issued, and refusing what must be refused, each for its reason.

use serde_json::{Value, json};
use sichat_core::store::IssuedCredentialStore;

use crate::common::{ADMIN_TOKEN, TestServer, assert_problem};

fn credential(extra: Value) -> Value {
    let mut vc = json!({
        "@context": [
            "https://www.w3.org/ns/credentials/v2",
            "https://www.w3.org/ns/credentials/examples/v2"
        ],
        "type": ["VerifiableCredential", "ExampleAlumniCredential"],
        "validFrom": "2020-01-01T00:00:00Z",
        "credentialSubject": {"id": "did:example:alice", "alumniOf": "Example University"},
    });
    for (k, v) in extra.as_object().unwrap() {
        vc[k] = v.clone();
    }
    vc
}

async fn issue(server: &TestServer, credential: Value, options: Value) -> (u16, Value) {
    server
        .admin_post(
            "/credentials/issue",
            json!({"credential": credential, "options": options}),
        )
        .await
}

fn failed_checks(report: &Value) -> Vec<String> {
    report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["check"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn every_format_round_trips_and_is_recorded() {
    let server = TestServer::spawn().await;
    let server_did = server.host_did();
    let (status, user) = server
        .admin_post("/admin/users", json!({"name": "alice"}))
        .await;
    assert_eq!(status, 201, "{user}");
    let user_did = user["did"].as_str().unwrap().to_owned();
    let (_, keys) = server.admin_get("/admin/keys?owner=server").await;
    let p256_did_key = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["type"] == "P-256")
        .map(|k| k["didKey"].as_str().unwrap().to_owned())
        .expect("the server has a P-256 key");

    let cases = [
        (json!({}), json!({}), "eddsa-rdfc-2022"),
        (
            json!({}),
            json!({"type": "DataIntegrityProof", "cryptosuite": "ecdsa-rdfc-2019"}),
            "ecdsa-rdfc-2019",
        ),
        (
            json!({"issuer": user_did}),
            json!({"cryptosuite": "eddsa-rdfc-2022"}),
            "eddsa-rdfc-2022",
        ),
        (
            json!({"issuer": {"id": p256_did_key, "name": "Key"}}),
            json!({}),
            "ecdsa-rdfc-2019",
        ),
        (
            json!({"issuer": server_did}),
            json!({"format": "vc+jwt"}),
            "vc+jwt",
        ),
        (
            json!({"issuer": user_did}),
            json!({"format": "vc+jwt", "checks": ["ignored"]}),
            "vc+jwt",
        ),
    ];
    for (extra, options, format) in cases {
        let (status, body) = issue(&server, credential(extra.clone()), options.clone()).await;
        assert_eq!(status, 201, "{extra} {options}: {body}");
        let vc = &body["verifiableCredential"];
        if format == "vc+jwt" {
            assert_eq!(vc["type"], "EnvelopedVerifiableCredential");
            let jws = vc["id"]
                .as_str()
                .unwrap()
                .strip_prefix("data:application/vc+jwt,")
                .unwrap();
            let header: Value = serde_json::from_slice(
                &base64::Engine::decode(
                    &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                    jws.split('.').next().unwrap(),
                )
                .unwrap(),
            )
            .unwrap();
            assert_eq!(header["typ"], "vc+jwt");
            assert_eq!(header["cty"], "vc");
        } else {
            assert_eq!(vc["proof"]["cryptosuite"], format);
            assert_eq!(vc["proof"]["proofPurpose"], "assertionMethod");
            assert!(vc["id"].as_str().unwrap().starts_with("urn:uuid:"));
            let id = vc["id"].as_str().unwrap();
            let record = server.services.store.get_issued(id).await.unwrap().unwrap();
            assert_eq!(record.format, format);
            assert_eq!(record.subject.as_deref(), Some("did:example:alice"));
        }
        let (status, report) = server.verify_credential(vc).await;
        assert_eq!(status, 200, "{format}: {report}");
        assert_eq!(report["verified"], true);
        for check in ["proof", "proofPurpose", "issuer", "validFrom"] {
            assert!(
                report["checks"].as_array().unwrap().contains(&json!(check)),
                "{check}: {report}"
            );
        }

        // One changed claim: 400, verified false, the proof check named.
        let mut tampered = vc.clone();
        if format == "vc+jwt" {
            let id = tampered["id"].as_str().unwrap().to_owned();
            let mut parts: Vec<String> = id.split('.').map(str::to_owned).collect();
            let mut payload: Value = serde_json::from_slice(
                &base64::Engine::decode(
                    &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                    &parts[1],
                )
                .unwrap(),
            )
            .unwrap();
            payload["credentialSubject"]["alumniOf"] = json!("Fake University");
            parts[1] = base64::Engine::encode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                serde_json::to_vec(&payload).unwrap(),
            );
            tampered["id"] = json!(parts.join("."));
        } else {
            tampered["credentialSubject"]["alumniOf"] = json!("Fake University");
        }
        let (status, report) = server.verify_credential(&tampered).await;
        assert_eq!(status, 400, "{report}");
        assert_eq!(report["verified"], false);
        assert_eq!(failed_checks(&report), ["proof"], "{report}");
        assert_eq!(report["problemDetails"], report["errors"]);
    }
}

#[tokio::test]
async fn version_one_credentials_get_the_data_integrity_context() {
    let server = TestServer::spawn().await;
    let v1 = json!({
        "@context": ["https://www.w3.org/2018/credentials/v1", "https://www.w3.org/2018/credentials/examples/v1"],
        "type": ["VerifiableCredential", "AlumniCredential"],
        "credentialSubject": {"id": "did:example:alice", "alumniOf": "Example University"},
    });
    let (status, body) = issue(&server, v1, json!({})).await;
    assert_eq!(status, 201, "{body}");
    let vc = &body["verifiableCredential"];
    assert!(vc["issuanceDate"].is_string());
    // The status context defines the entries' terms, Data Integrity v2 the proof's.
    assert_eq!(
        vc["@context"].as_array().unwrap()[2..],
        [
            "https://www.w3.org/ns/credentials/status/v1",
            "https://w3id.org/security/data-integrity/v2"
        ]
    );
    let (status, report) = server.verify_credential(vc).await;
    assert_eq!(status, 200, "{report}");
    assert!(
        report["checks"]
            .as_array()
            .unwrap()
            .contains(&json!("issuanceDate"))
    );
}

#[tokio::test]
async fn invalid_requests_are_refused_naming_the_field() {
    let server = TestServer::spawn().await;
    let cases = [
        (json!({"@context": null}), "@context"),
        (json!({"type": ["ExampleAlumniCredential"]}), "type"),
        (json!({"id": null}), "id"),
        (json!({"credentialSubject": {}}), "credentialSubject"),
        (json!({"validFrom": "yesterday"}), "validFrom"),
        (json!({"validUntil": "2019-01-01T00:00:00Z"}), "validUntil"),
        (
            json!({"credentialStatus": {"id": "https://example.org/s"}}),
            "credentialStatus.type",
        ),
        // VC DM 2.0 §5.3, as the W3C vc2.0 suite sends them.
        (
            json!({"relatedResource": ["https://www.w3.org/ns/credentials/v2"]}),
            "relatedResource",
        ),
        (
            json!({"relatedResource": [{"digestMultibase": "uEiBZlVztZpfWHgPyslVv6-UwirFoQoRvW1htfx963sknNA"}]}),
            "relatedResource.id",
        ),
        (
            json!({"relatedResource": [{"id": "https://www.w3.org/ns/credentials/v2"}]}),
            "relatedResource",
        ),
        (
            json!({"relatedResource": [
                {"id": "https://example.org/a", "digestSRI": "sha384-x"},
                {"id": "https://example.org/a", "digestSRI": "sha384-y"}
            ]}),
            "relatedResource.id",
        ),
    ];
    for (extra, field) in cases {
        let mut vc = credential(json!({}));
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() && k != "id" {
                vc.as_object_mut().unwrap().remove(k);
            } else {
                vc[k] = v.clone();
            }
        }
        let resp = server
            .admin_post_raw(
                "/credentials/issue",
                &json!({"credential": vc, "options": {}}),
            )
            .await;
        assert_eq!(resp.status(), 422, "{field}");
        let problem = assert_problem(resp, 422, "invalid-credential").await;
        assert_eq!(problem["field"], field, "{problem}");
    }

    // Not a DID this server controls.
    for issuer in [
        "did:web:elsewhere.example",
        "https://example.org/issuer",
        "did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2",
    ] {
        let resp = server
            .admin_post_raw(
                "/credentials/issue",
                &json!({"credential": credential(json!({"issuer": issuer})), "options": {}}),
            )
            .await;
        let problem = assert_problem(resp, 422, "validation-failed").await;
        assert_eq!(problem["field"], "issuer", "{problem}");
    }

    // An undefined term (the examples context has an `@vocab`: without it), a remote
    // context: JSON-LD refusals.
    let undefined = json!({
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential"],
        "credentialSubject": {"id": "did:example:alice"},
        "shoeSize": 42,
    });
    let resp = server
        .admin_post_raw(
            "/credentials/issue",
            &json!({"credential": undefined, "options": {}}),
        )
        .await;
    let problem = assert_problem(resp, 422, "invalid-json-ld").await;
    assert_eq!(problem["term"], "shoeSize");
    let mut remote = credential(json!({}));
    remote["@context"][1] = json!("https://attacker.example/ctx.jsonld");
    let resp = server
        .admin_post_raw(
            "/credentials/issue",
            &json!({"credential": remote, "options": {"format": "vc+jwt"}}),
        )
        .await;
    assert_problem(resp, 422, "invalid-json-ld").await;

    // Unsupported options.
    for options in [
        json!({"cryptosuite": "bbs-2023"}),
        json!({"format": "ldp+cose"}),
        json!({"type": "Ed25519Signature2018"}),
    ] {
        let resp = server
            .admin_post_raw(
                "/credentials/issue",
                &json!({"credential": credential(json!({})), "options": options}),
            )
            .await;
        assert_problem(resp, 422, "validation-failed").await;
    }

    // The same id twice.
    let fixed = credential(json!({"id": "https://example.org/credentials/1"}));
    assert_eq!(issue(&server, fixed.clone(), json!({})).await.0, 201);
    let resp = server
        .admin_post_raw(
            "/credentials/issue",
            &json!({"credential": fixed, "options": {}}),
        )
        .await;
    assert_problem(resp, 409, "conflict").await;
}

#[tokio::test]
async fn issuing_needs_the_admin_token_and_verifying_is_open() {
    let server = TestServer::spawn().await;
    let body = json!({"credential": credential(json!({})), "options": {}});
    let resp = server
        .client
        .post(server.url("/credentials/issue"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_problem(resp, 401, "unauthorized").await;
    let resp = server
        .client
        .post(server.url("/credentials/issue"))
        .bearer_auth("not-the-token")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_problem(resp, 401, "unauthorized").await;
    assert_ne!(ADMIN_TOKEN, "not-the-token");

    // Malformed verification input is a problem, not a verdict.
    let resp = server
        .client
        .post(server.url("/credentials/verify"))
        .json(&json!({"verifiableCredential": "a string"}))
        .send()
        .await
        .unwrap();
    assert_problem(resp, 400, "malformed-credential").await;
    let resp = server
        .client
        .post(server.url("/credentials/verify"))
        .json(&json!({"verifiableCredential": {"@context": ["https://www.w3.org/ns/credentials/v2"], "type": ["VerifiableCredential"]}}))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(resp, 400, "malformed-credential").await;
    assert_eq!(problem["field"], "issuer");
}

/// Tampered and invalid credentials, each rejected for its own reason.
#[tokio::test]
async fn forged_credentials_fail_the_right_check() {
    let server = TestServer::spawn().await;
    let (_, body) = issue(&server, credential(json!({})), json!({})).await;
    let good = body["verifiableCredential"].clone();
    let (_, other) = server
        .admin_post("/admin/users", json!({"name": "mallory"}))
        .await;
    let mallory = other["did"].as_str().unwrap().to_owned();
    let (_, expired) = issue(
        &server,
        credential(
            json!({"validFrom": "2020-01-01T00:00:00Z", "validUntil": "2021-01-01T00:00:00Z"}),
        ),
        json!({}),
    )
    .await;
    let (_, future) = issue(
        &server,
        credential(json!({"validFrom": "2999-01-01T00:00:00Z"})),
        json!({}),
    )
    .await;

    let with = |f: &dyn Fn(&mut Value)| {
        let mut vc = good.clone();
        f(&mut vc);
        vc
    };
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "changed subject",
            with(&|vc| vc["credentialSubject"]["id"] = json!("did:example:mallory")),
            "proof",
        ),
        (
            "issuer swapped",
            with(&|vc| vc["issuer"] = json!(mallory)),
            "issuer",
        ),
        (
            "wrong purpose",
            with(&|vc| vc["proof"]["proofPurpose"] = json!("authentication")),
            "proofPurpose",
        ),
        (
            "bad proofValue",
            with(&|vc| vc["proof"]["proofValue"] = json!("zzzz")),
            "proof",
        ),
        (
            "not multibase",
            with(&|vc| vc["proof"]["proofValue"] = json!("abc")),
            "proof",
        ),
        (
            "unknown cryptosuite",
            with(&|vc| vc["proof"]["cryptosuite"] = json!("eddsa-2099")),
            "proof",
        ),
        (
            "no proof",
            with(&|vc| {
                vc.as_object_mut().unwrap().remove("proof");
            }),
            "proof",
        ),
        (
            "unknown method",
            with(&|vc| {
                vc["proof"]["verificationMethod"] = json!(
                    "did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2#z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"
                )
            }),
            "proof",
        ),
        (
            "remote context",
            with(&|vc| vc["@context"][1] = json!("https://attacker.example/ctx")),
            "proof",
        ),
        (
            "expired",
            expired["verifiableCredential"].clone(),
            "validUntil",
        ),
        (
            "not yet valid",
            future["verifiableCredential"].clone(),
            "validFrom",
        ),
    ];
    for (name, vc, check) in cases {
        let (status, report) = server.verify_credential(&vc).await;
        assert_eq!(status, 400, "{name}: {report}");
        assert_eq!(report["verified"], false, "{name}");
        assert!(
            failed_checks(&report).contains(&check.to_owned()),
            "{name}: {report}"
        );
    }
}

/// A presentation of `credentials` held by the server's DID, signed with its Ed25519 key
/// for `authentication` with `challenge` and `domain`.
async fn signed_presentation(server: &TestServer, credentials: Vec<Value>, purpose: &str) -> Value {
    use sichat_core::id::Owner;
    use sichat_core::keys::KeyType;
    use sichat_core::store::KeyStatus;
    let holder = server.host_did();
    let key = server
        .services
        .keys
        .list(&Owner::Server)
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.key_type == KeyType::Ed25519 && k.status == KeyStatus::Active)
        .unwrap();
    let vp = json!({
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiablePresentation"],
        "holder": holder,
        "verifiableCredential": credentials,
    });
    let options = json!({
        "type": "DataIntegrityProof",
        "cryptosuite": "eddsa-rdfc-2022",
        "created": "2026-01-01T00:00:00Z",
        "verificationMethod": format!("{holder}#{}", key.public_key_multibase),
        "proofPurpose": purpose,
        "challenge": "c-123",
        "domain": "verifier.example",
    });
    let vp = vp.as_object().unwrap().clone();
    let proof = sichat_core::vc::data_integrity::create_proof(
        &sichat_core::vc::Canonicalizer::default(),
        &vp,
        options.as_object().unwrap().clone(),
        server.services.keys.as_ref(),
        &key.id,
    )
    .await
    .unwrap();
    let mut signed = vp;
    signed.insert("proof".into(), Value::Object(proof));
    Value::Object(signed)
}

async fn verify_presentation(server: &TestServer, vp: &Value, options: Value) -> reqwest::Response {
    server
        .client
        .post(server.url("/presentations/verify"))
        .json(&json!({"verifiablePresentation": vp, "options": options}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn presentations_are_verified_with_their_credentials_challenge_and_domain() {
    let server = TestServer::spawn().await;
    let (_, body) = issue(&server, credential(json!({})), json!({})).await;
    let vc = body["verifiableCredential"].clone();
    let options = json!({"challenge": "c-123", "domain": "verifier.example"});

    let vp = signed_presentation(&server, vec![vc.clone()], "authentication").await;
    let resp = verify_presentation(&server, &vp, options.clone()).await;
    assert_eq!(resp.status(), 200);
    let report: Value = resp.json().await.unwrap();
    for check in [
        "proof",
        "proofPurpose",
        "holder",
        "challenge",
        "domain",
        "credentials",
    ] {
        assert!(
            report["checks"].as_array().unwrap().contains(&json!(check)),
            "{check}: {report}"
        );
    }

    let refused = |vp: Value, options: Value, check: &'static str| {
        let server = &server;
        async move {
            let resp = verify_presentation(server, &vp, options).await;
            assert_eq!(resp.status(), 400);
            let report: Value = resp.json().await.unwrap();
            assert_eq!(report["verified"], false);
            assert!(
                failed_checks(&report).contains(&check.to_owned()),
                "{check}: {report}"
            );
        }
    };
    refused(
        vp.clone(),
        json!({"challenge": "other", "domain": "verifier.example"}),
        "challenge",
    )
    .await;
    refused(
        vp.clone(),
        json!({"challenge": "c-123", "domain": "evil.example"}),
        "domain",
    )
    .await;
    let mut tampered = vc.clone();
    tampered["credentialSubject"]["alumniOf"] = json!("Fake University");
    let vp_tampered = signed_presentation(&server, vec![tampered], "authentication").await;
    refused(vp_tampered, options.clone(), "proof").await;
    let wrong_purpose = signed_presentation(&server, vec![vc.clone()], "assertionMethod").await;
    refused(wrong_purpose, options.clone(), "proofPurpose").await;
    let mut unsigned = vp.clone();
    unsigned.as_object_mut().unwrap().remove("proof");
    refused(unsigned, options.clone(), "proof").await;

    // Not a presentation, or more than is verified: problems, not verdicts.
    let resp = verify_presentation(&server, &json!([]), json!({})).await;
    assert_problem(resp, 400, "malformed-credential").await;
    let mut no_type = vp.clone();
    no_type["type"] = json!(["VerifiableCredential"]);
    let problem = assert_problem(
        verify_presentation(&server, &no_type, json!({})).await,
        400,
        "malformed-credential",
    )
    .await;
    assert_eq!(problem["field"], "type");
    let mut crowded = vp.clone();
    crowded["verifiableCredential"] = json!(vec![vc.clone(); 17]);
    let problem = assert_problem(
        verify_presentation(&server, &crowded, json!({})).await,
        400,
        "malformed-credential",
    )
    .await;
    assert_eq!(problem["field"], "verifiableCredential");
    let mut many_proofs = vc.clone();
    many_proofs["proof"] = json!(vec![vc["proof"].clone(); 5]);
    let resp = server
        .client
        .post(server.url("/credentials/verify"))
        .json(&json!({"verifiableCredential": many_proofs}))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(resp, 400, "malformed-credential").await;
    assert_eq!(problem["field"], "proof");
}

/// A credential whose verification method is a did:web on a host whose DNS never
/// answers: verifying it holds a place until the lookup times out.
fn stalled_credential(host: &str) -> Value {
    let mut vc = credential(json!({"issuer": format!("did:web:{host}")}));
    vc["proof"] = json!({
        "type": "DataIntegrityProof",
        "cryptosuite": "eddsa-rdfc-2022",
        "created": "2026-01-01T00:00:00Z",
        "verificationMethod": format!("did:web:{host}#key-1"),
        "proofPurpose": "assertionMethod",
        "proofValue": "z5",
    });
    vc
}

/// Verification work is bounded: beyond the places and the queue, and when the resolver
/// is saturated, the answer is 503 with Retry-After, not a verdict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saturated_verification_is_answered_503() {
    use sichat_core::testing::{DnsAnswer, FakeDns};
    let dns = FakeDns::start(&[("*.slow.test", DnsAnswer::Silent)])
        .await
        .unwrap();
    let options = |concurrency: &str| {
        crate::common::Options::allow_loopback()
            .with("SICHAT_DID_WEB_DNS_SERVERS", dns.addr().to_string())
            .with("SICHAT_DID_WEB_DNS_TIMEOUT_SECS", "3")
            .with("SICHAT_DID_WEB_MAX_FETCHES", "1")
            .with("SICHAT_CREDENTIAL_WORK_CONCURRENCY", concurrency)
            .with("SICHAT_CREDENTIAL_WORK_QUEUE", "0")
    };
    for (concurrency, why, detail) in [
        ("1", "no place is free", "credential operations"),
        ("2", "the resolver is saturated", "did:web fetches"),
    ] {
        let server = TestServer::spawn_with(options(concurrency)).await;
        let url = server.url("/credentials/verify");
        let client = server.client.clone();
        let first = tokio::spawn(async move {
            client
                .post(url)
                .json(&json!({"verifiableCredential": stalled_credential("a.slow.test")}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        });
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let resp = server
            .client
            .post(server.url("/credentials/verify"))
            .json(&json!({"verifiableCredential": stalled_credential("b.slow.test")}))
            .send()
            .await
            .unwrap();
        assert!(resp.headers().contains_key("retry-after"), "{why}");
        let problem = assert_problem(resp, 503, "server-busy").await;
        assert!(
            problem["detail"].as_str().unwrap().contains(detail),
            "{why}: {problem}"
        );
        // The stalled one ends with a verdict once its lookup times out.
        assert_eq!(first.await.unwrap(), 400, "{why}");
    }
}

/// A credential this server issues with status entries, as one of its did:key DIDs,
/// verifies in ssi (an independent verifier: its own JSON-LD processing and did:key
/// resolution), in both Data Integrity suites.
#[tokio::test]
async fn ssi_verifies_credentials_issued_here() {
    use ssi::claims::VerificationParameters;
    use ssi::claims::data_integrity::AnyDataIntegrity;
    use ssi::dids::{DIDKey, VerificationMethodDIDResolver};
    let server = TestServer::spawn().await;
    let (_, dids) = server.admin_get("/admin/dids").await;
    let params = VerificationParameters::from_resolver(VerificationMethodDIDResolver::<
        _,
        ssi::verification_methods::AnyMethod,
    >::new(DIDKey));
    let keys: Vec<String> = dids
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["did"].as_str())
        .filter(|d| d.starts_with("did:key:"))
        .map(str::to_owned)
        .collect();
    assert_eq!(keys.len(), 2, "an Ed25519 and a P-256 did:key");
    for issuer in keys {
        let (status, body) = issue(&server, credential(json!({"issuer": issuer})), json!({})).await;
        assert_eq!(status, 201, "{body}");
        let vc = &body["verifiableCredential"];
        assert_eq!(vc["credentialStatus"].as_array().unwrap().len(), 2);
        let parsed: AnyDataIntegrity<ssi::claims::vc::AnyJsonCredential> =
            ssi::claims::data_integrity::from_json_str(&vc.to_string()).unwrap();
        let outcome = parsed.verify(&params).await.unwrap();
        assert!(outcome.is_ok(), "{issuer}: {outcome:?}");
    }
}
