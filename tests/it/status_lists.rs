//! Bitstring Status Lists: every credential issued here gets a revocation and a
//! suspension entry; `POST /credentials/status` changes them (a revocation for good); the
//! lists are served signed from committed state; the verifier checks them.

use std::io::Read;

use serde_json::{Value, json};
use sichat_core::id::Owner;
use sichat_core::store::{
    Changes, IssuedCredentialRecord, StatusAssignment, StatusListRecord, StatusListStore,
    UnitOfWork,
};
use sichat_core::vc::status::{LIST_SIZE, StatusPurpose};

use crate::common::{Options, TestServer, assert_problem};

fn credential() -> Value {
    json!({
        "@context": [
            "https://www.w3.org/ns/credentials/v2",
            "https://www.w3.org/ns/credentials/examples/v2"
        ],
        "type": ["VerifiableCredential", "ExampleAlumniCredential"],
        "validFrom": "2020-01-01T00:00:00Z",
        "credentialSubject": {"id": "did:example:alice", "alumniOf": "Example University"},
    })
}

async fn issue(server: &TestServer, options: Value) -> Value {
    let (status, body) = server
        .admin_post(
            "/credentials/issue",
            json!({"credential": credential(), "options": options}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["verifiableCredential"].clone()
}

async fn set_status(server: &TestServer, id: &str, status: &str) -> reqwest::Response {
    server
        .admin_post_raw(
            "/credentials/status",
            &json!({"credentialId": id, "credentialStatus": [
                {"type": "BitstringStatusListCredential", "status": status}
            ]}),
        )
        .await
}

fn error_titles(report: &Value) -> Vec<(String, String)> {
    report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["check"].as_str().unwrap().to_owned(),
                e["title"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The bits of a served list credential.
fn bits_of(list: &Value) -> Vec<u8> {
    let encoded = list["credentialSubject"]["encodedList"].as_str().unwrap();
    let (base, gz) = multibase::decode(encoded).unwrap();
    assert_eq!(base, multibase::Base::Base64Url);
    let mut bits = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut bits)
        .unwrap();
    bits
}

fn bit(bits: &[u8], index: usize) -> bool {
    bits[index / 8] & (0x80 >> (index % 8)) != 0
}

fn path_of(server: &TestServer, url: &str) -> String {
    url.strip_prefix(&server.base).unwrap().to_owned()
}

async fn list(server: &TestServer, url: &str) -> Value {
    let resp = server.get(&path_of(server, url)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/vc");
    resp.json().await.unwrap()
}

#[tokio::test]
async fn issued_credentials_carry_entries_on_published_signed_lists() {
    let server = TestServer::spawn().await;
    let vc = issue(&server, json!({})).await;
    let entries = vc["credentialStatus"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    let purposes: Vec<&str> = entries
        .iter()
        .map(|e| e["statusPurpose"].as_str().unwrap())
        .collect();
    assert_eq!(purposes, ["revocation", "suspension"]);
    for e in entries {
        assert_eq!(e["type"], "BitstringStatusListEntry");
        let url = e["statusListCredential"].as_str().unwrap();
        assert!(
            url.starts_with(&format!("{}/status/", server.base)),
            "{url}"
        );
        let index: u32 = e["statusListIndex"].as_str().unwrap().parse().unwrap();
        assert!(index < LIST_SIZE);
        assert_eq!(e["id"], format!("{url}#{index}"));
    }
    let (status, report) = server.verify_credential(&vc).await;
    assert_eq!(status, 200, "{report}");
    assert!(
        report["checks"]
            .as_array()
            .unwrap()
            .contains(&json!("status")),
        "{report}"
    );

    // Both lists are published, signed by the issuer, and verify.
    let (status, published) = server.get_json("/status").await;
    assert_eq!(status, 200);
    let lists = published["statusLists"].as_array().unwrap();
    assert_eq!(lists.len(), 2, "{published}");
    for l in lists {
        assert_eq!(l["issuer"], server.host_did());
        assert_eq!(l["size"], LIST_SIZE);
        let served = list(&server, l["id"].as_str().unwrap()).await;
        assert_eq!(served["id"], l["id"]);
        assert_eq!(served["issuer"], server.host_did());
        assert_eq!(
            served["credentialSubject"]["statusPurpose"],
            l["statusPurpose"]
        );
        assert_eq!(bits_of(&served).len(), LIST_SIZE as usize / 8);
        assert!(bits_of(&served).iter().all(|b| *b == 0));
        let (status, report) = server.verify_credential(&served).await;
        assert_eq!(status, 200, "{report}");
    }

    // Indices are spread over the list, never handed out twice.
    let mut indices = std::collections::HashSet::new();
    for _ in 0..20 {
        let vc = issue(
            &server,
            json!({"credentialStatus": {"statusPurpose": "revocation"}}),
        )
        .await;
        let entry = &vc["credentialStatus"];
        assert_eq!(entry["statusPurpose"], "revocation", "one entry: {entry}");
        assert!(indices.insert(entry["statusListIndex"].as_str().unwrap().to_owned()));
    }
    let sorted: Vec<u32> = {
        let mut v: Vec<u32> = indices.iter().map(|i| i.parse().unwrap()).collect();
        v.sort();
        v
    };
    assert!(
        sorted.last().unwrap() - sorted.first().unwrap() > 1000,
        "indices in issuing order would tell who was issued when: {sorted:?}"
    );

    // Opting out: no entry.
    let vc = issue(&server, json!({"credentialStatus": false})).await;
    assert!(vc.get("credentialStatus").is_none(), "{vc}");
}

#[tokio::test]
async fn revocation_is_permanent_and_suspension_reversible() {
    let server = TestServer::spawn().await;
    let vc = issue(&server, json!({})).await;
    let id = vc["id"].as_str().unwrap();
    let entry = |purpose: &str| {
        vc["credentialStatus"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["statusPurpose"] == purpose)
            .unwrap()
            .clone()
    };
    let index = |e: &Value| {
        e["statusListIndex"]
            .as_str()
            .unwrap()
            .parse::<usize>()
            .unwrap()
    };

    // Suspend, then lift the suspension.
    let resp = set_status(&server, id, "suspended").await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "suspended", "{body}");
    let suspension = entry("suspension");
    let served = list(
        &server,
        suspension["statusListCredential"].as_str().unwrap(),
    )
    .await;
    assert!(bit(&bits_of(&served), index(&suspension)));
    let (status, report) = server.verify_credential(&vc).await;
    assert_eq!(status, 400);
    assert_eq!(
        error_titles(&report),
        [("status".into(), "Suspended".into())]
    );
    let resp = set_status(&server, id, "active").await;
    assert_eq!(resp.status(), 200);
    let (status, report) = server.verify_credential(&vc).await;
    assert_eq!(status, 200, "{report}");

    // Revoke: the credential fails, the bit is set, and nothing clears it.
    let resp = set_status(&server, id, "revoked").await;
    assert_eq!(resp.status(), 200);
    let (status, report) = server.verify_credential(&vc).await;
    assert_eq!(status, 400);
    assert_eq!(error_titles(&report), [("status".into(), "Revoked".into())]);
    assert_eq!(
        report["errors"][0]["type"],
        "https://www.w3.org/ns/credentials/status-list#STATUS_SET"
    );
    let resp = set_status(&server, id, "active").await;
    assert_problem(resp, 409, "conflict").await;
    let resp = set_status(&server, id, "revoked").await;
    assert_eq!(resp.status(), 200, "revoking twice is harmless");
    let revocation = entry("revocation");
    let served = list(
        &server,
        revocation["statusListCredential"].as_str().unwrap(),
    )
    .await;
    assert!(bit(&bits_of(&served), index(&revocation)));
    let (status, _) = server.verify_credential(&vc).await;
    assert_eq!(status, 400);
    // Not even the store accepts clearing it.
    let result = server
        .services
        .store
        .save_changes(&Changes::new().status(sichat_core::store::StatusChange {
            credential: id.into(),
            purpose: StatusPurpose::Revocation,
            set: false,
            at: 0,
        }))
        .await;
    assert!(matches!(
        result,
        Err(sichat_core::store::StoreError::Conflict(_))
    ));
}

#[tokio::test]
async fn status_requests_are_checked() {
    let server = TestServer::spawn().await;
    let vc = issue(&server, json!({})).await;
    let id = vc["id"].as_str().unwrap();
    let resp = set_status(
        &server,
        "urn:uuid:0d9e4f0c-1111-4222-8333-444455556666",
        "revoked",
    )
    .await;
    assert_problem(resp, 404, "not-found").await;
    let resp = set_status(&server, id, "deleted").await;
    let body = assert_problem(resp, 422, "validation-failed").await;
    assert_eq!(body["field"], "credentialStatus[0].status");
    let resp = server
        .admin_post_raw(
            "/credentials/status",
            &json!({"credentialId": id, "credentialStatus": [{"type": "StatusList2021Credential", "status": "revoked"}]}),
        )
        .await;
    let body = assert_problem(resp, 422, "validation-failed").await;
    assert_eq!(body["field"], "credentialStatus[0].type");
    let resp = server
        .admin_post_raw(
            "/credentials/status",
            &json!({"credentialId": id, "credentialStatus": []}),
        )
        .await;
    assert_problem(resp, 422, "validation-failed").await;
    let many = vec![json!({"type": "BitstringStatusListCredential", "status": "suspended"}); 4];
    let resp = server
        .admin_post_raw(
            "/credentials/status",
            &json!({"credentialId": id, "credentialStatus": many}),
        )
        .await;
    assert_problem(resp, 422, "validation-failed").await;
    let resp = server
        .admin_post_raw("/credentials/status", &json!({"credentialId": id}))
        .await;
    assert_eq!(resp.status(), 422);
    // Without the token.
    let resp = server
        .client
        .post(server.url("/credentials/status"))
        .json(&json!({"credentialId": id, "credentialStatus": [{"type": "BitstringStatusListCredential", "status": "revoked"}]}))
        .send()
        .await
        .unwrap();
    assert_problem(resp, 401, "unauthorized").await;
    // A credential issued without entries has nothing to change.
    let bare = issue(&server, json!({"credentialStatus": false})).await;
    let resp = set_status(&server, bare["id"].as_str().unwrap(), "revoked").await;
    assert_problem(resp, 409, "conflict").await;
    let resp = set_status(&server, bare["id"].as_str().unwrap(), "active").await;
    assert_problem(resp, 409, "conflict").await;
    // Issue options that ask for what is not issued here.
    for (options, field) in [
        (
            json!({"credentialStatus": {"statusPurpose": "message"}}),
            "options.credentialStatus",
        ),
        (
            json!({"credentialStatus": {"type": "StatusList2021Entry"}}),
            "options.credentialStatus",
        ),
        (
            json!({"credentialStatus": "yes"}),
            "options.credentialStatus",
        ),
    ] {
        let resp = server
            .admin_post_raw(
                "/credentials/issue",
                &json!({"credential": credential(), "options": options}),
            )
            .await;
        let body = assert_problem(resp, 422, "validation-failed").await;
        assert_eq!(body["field"], field);
    }
    // Unknown and malformed list ids.
    for path in [
        "/status/0123456789abcdef",
        "/status/..%2Fadmin",
        "/status/a-b",
    ] {
        let resp = server.get(path).await;
        assert_problem(resp, 404, "not-found").await;
    }
}

#[tokio::test]
async fn a_list_of_another_issuer_or_a_tampered_list_fails_the_status_check() {
    let server = TestServer::spawn().await;
    let vc = issue(
        &server,
        json!({"credentialStatus": {"statusPurpose": "revocation"}}),
    )
    .await;
    let url = vc["credentialStatus"]["statusListCredential"]
        .as_str()
        .unwrap()
        .to_owned();
    // The same credential, now pointing at a list of another issuer (a user's).
    let (status, _) = server
        .admin_post("/admin/users", json!({"name": "mallory"}))
        .await;
    assert_eq!(status, 201);
    let user_did = format!("{}:users:mallory", server.host_did());
    let (status, body) = server
        .admin_post(
            "/credentials/issue",
            json!({"credential": {
                "@context": ["https://www.w3.org/ns/credentials/v2"],
                "type": ["VerifiableCredential"],
                "issuer": user_did,
                "credentialSubject": {"id": "did:example:bob"},
            }, "options": {"credentialStatus": {"statusPurpose": "revocation"}}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let other_url = body["verifiableCredential"]["credentialStatus"]["statusListCredential"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(other_url, url);
    // Re-issue the server's credential pointing at mallory's list: the proof is fine, the
    // list is not the issuer's.
    let mut unsigned = credential();
    unsigned["credentialStatus"] = json!({
        "id": format!("{other_url}#1"),
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": "1",
        "statusListCredential": other_url,
    });
    let (status, body) = server
        .admin_post(
            "/credentials/issue",
            json!({"credential": unsigned, "options": {}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, report) = server
        .verify_credential(&body["verifiableCredential"])
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        error_titles(&report),
        [("status".into(), "Status list from another issuer".into())]
    );
    // An entry whose index is beyond the list, and one pointing at no list.
    for (index, list_url, title) in [
        (
            LIST_SIZE.to_string(),
            url.clone(),
            "Status index out of range",
        ),
        (
            "3".to_string(),
            format!("{}/status/0000000000000000", server.base),
            "Status list unavailable",
        ),
    ] {
        let mut unsigned = credential();
        unsigned["credentialStatus"] = json!({
            "type": "BitstringStatusListEntry",
            "statusPurpose": "revocation",
            "statusListIndex": index,
            "statusListCredential": list_url,
        });
        let (status, body) = server
            .admin_post(
                "/credentials/issue",
                json!({"credential": unsigned, "options": {}}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let (status, report) = server
            .verify_credential(&body["verifiableCredential"])
            .await;
        assert_eq!(status, 400);
        assert_eq!(error_titles(&report), [("status".into(), title.into())]);
    }
}

/// 1,000 revocations at once on one list set exactly 1,000 bits (SQLite and PostgreSQL).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_revocations_set_a_thousand_bits() {
    // Room for all 1,000 connections at once (the default holds 512).
    let server =
        TestServer::spawn_with(Options::default().with("SICHAT_MAX_CONNECTIONS", "1100")).await;
    let store = &server.services.store;
    let fresh = StatusListRecord {
        id: uuid::Uuid::new_v4().simple().to_string(),
        issuer: server.host_did(),
        owner: Owner::Server,
        purpose: StatusPurpose::Revocation,
        size: LIST_SIZE,
        key: [9; 32],
        created_at: 1,
    };
    let (list, _) = store.reserve_status(&fresh, 1).await.unwrap();
    let mut changes = Changes::new();
    let ids: Vec<String> = (0..1000)
        .map(|_| format!("urn:uuid:{}", uuid::Uuid::new_v4()))
        .collect();
    for (i, id) in ids.iter().enumerate() {
        changes = changes.issued(IssuedCredentialRecord {
            id: id.clone(),
            issuer: server.host_did(),
            owner: Owner::Server,
            subject: None,
            types: vec!["VerifiableCredential".into()],
            format: "eddsa-rdfc-2022".into(),
            issued_at: 1,
            statuses: vec![StatusAssignment {
                list: list.id.clone(),
                index: (i * 131) as u32,
                purpose: StatusPurpose::Revocation,
            }],
        });
    }
    store.save_changes(&changes).await.unwrap();

    let results =
        futures_util::future::join_all(ids.iter().map(|id| set_status(&server, id, "revoked")))
            .await;
    for resp in results {
        assert_eq!(resp.status(), 200);
    }
    let served = list_at(&server, &list.id).await;
    let bits = bits_of(&served);
    let set: usize = bits.iter().map(|b| b.count_ones() as usize).sum();
    assert_eq!(set, 1000);
    assert!((0..1000).all(|i| bit(&bits, i * 131)));
}

async fn list_at(server: &TestServer, id: &str) -> Value {
    list(server, &format!("{}/status/{id}", server.base)).await
}
