//! The server's and users' did:web documents: served, valid, resolvable, durable.

use serde_json::{Value, json};
use sichat_core::did::document::Relationship;
use sichat_core::did::{DidDocument, web};

use crate::common::{Options, TestServer};

fn check_document(did: &str, doc: Value) -> DidDocument {
    let doc = DidDocument::from_json(&crate::common::did(did), doc)
        .expect("a valid DID document for the DID");
    for vm in doc.verification_methods() {
        DidDocument::public_key_of(vm).expect("every verification method has a valid key");
    }
    doc
}

#[tokio::test]
async fn server_did_document_has_signing_and_key_agreement_keys_that_resolve() {
    let server = TestServer::spawn().await;
    let resp = server.get("/.well-known/did.json").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let did = server.host_did();
    let doc = check_document(&did, resp.json().await.unwrap());
    let assertion = doc.relationship(Relationship::AssertionMethod);
    assert_eq!(assertion.len(), 2, "Ed25519 and P-256 assertion keys");
    let types: Vec<String> = assertion
        .iter()
        .map(|id| {
            DidDocument::public_key_of(doc.verification_method(id).unwrap())
                .unwrap()
                .key_type()
                .to_string()
        })
        .collect();
    assert_eq!(types, vec!["Ed25519", "P-256"]);
    let ka = doc.relationship(Relationship::KeyAgreement);
    assert_eq!(ka.len(), 1);
    assert_eq!(
        DidDocument::public_key_of(doc.verification_method(ka[0]).unwrap())
            .unwrap()
            .key_type()
            .to_string(),
        "X25519"
    );
    // Each signing key is also the server's did:key, linked by alsoKnownAs, and resolves.
    let aka = doc.as_json()["alsoKnownAs"].as_array().unwrap().clone();
    assert_eq!(aka.len(), 2);
    for alias in aka {
        let alias = alias.as_str().unwrap();
        let (status, body) = server.get_json(&format!("/1.0/identifiers/{alias}")).await;
        assert_eq!(status, 200);
        let key_doc = check_document(alias, body["didDocument"].clone());
        let key_mb = &alias["did:key:".len()..];
        assert!(
            doc.verification_method(&format!("{did}#{key_mb}"))
                .is_some()
        );
        assert!(
            !key_doc
                .relationship(Relationship::AssertionMethod)
                .is_empty()
        );
    }
    // The did:web maps back to this very URL.
    assert_eq!(
        web::did_web_url(&crate::common::did(&did), true)
            .unwrap()
            .as_str(),
        server.url("/.well-known/did.json")
    );
}

#[tokio::test]
async fn user_added_over_the_api_has_a_resolvable_did_web() {
    let server = TestServer::spawn().await;
    let (status, user) = server
        .admin_post(
            "/admin/users",
            json!({"name": "alice", "password": "correct horse"}),
        )
        .await;
    assert_eq!(status, 201, "{user}");
    let did = format!("{}:users:alice", server.host_did());
    assert_eq!(user["did"], did);
    assert_eq!(user["hasPassword"], true);
    assert_eq!(user["keys"].as_array().unwrap().len(), 3);
    let (status, doc) = server.get_json("/users/alice/did.json").await;
    assert_eq!(status, 200);
    let doc = check_document(&did, doc);
    assert_eq!(doc.relationship(Relationship::Authentication).len(), 2);
    let (status, resolved) = server.get_json(&format!("/1.0/identifiers/{did}")).await;
    assert_eq!(status, 200);
    assert_eq!(&resolved["didDocument"], doc.as_json());
    assert!(resolved["didDocumentMetadata"]["created"].is_string());
    let resp = server.get("/users/bob/did.json").await;
    crate::common::assert_problem(resp, 404, "did-not-found").await;
}

#[tokio::test]
async fn restart_keeps_server_and_user_dids_and_keys() {
    let server = TestServer::spawn().await;
    server
        .admin_post("/admin/users", json!({"name": "carol"}))
        .await;
    let (_, before_server) = server.get_json("/.well-known/did.json").await;
    let (_, before_user) = server.get_json("/users/carol/did.json").await;
    let addr = server.addr();
    let (dir, db, keep) = server.stop().await;
    let again = TestServer::start(dir, db, &addr, Options::default()).await;
    let (_, after_server) = again.get_json("/.well-known/did.json").await;
    let (_, after_user) = again.get_json("/users/carol/did.json").await;
    assert_eq!(before_server, after_server);
    assert_eq!(before_user, after_user);
    assert_eq!(
        before_user["id"],
        format!("{}:users:carol", again.host_did())
    );
    drop(keep);
}

#[tokio::test]
async fn rotated_key_stays_published_for_verification() {
    let server = TestServer::spawn().await;
    // Served (and cached) before the rotation: the rotation must show at once.
    let (_, before) = server.get_json("/.well-known/did.json").await;
    assert!(before["verificationMethod"].is_array());
    let (_, keys) = server.admin_get("/admin/keys").await;
    let ed = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["type"] == "Ed25519")
        .unwrap()
        .clone();
    let (status, new_key) = server
        .admin_post(
            &format!("/admin/keys/{}/rotate", ed["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(status, 201, "{new_key}");
    let did = server.host_did();
    let (_, doc) = server.get_json("/.well-known/did.json").await;
    let doc = DidDocument::from_json(&crate::common::did(&did), doc).unwrap();
    let old_id = format!("{did}#{}", ed["publicKeyMultibase"].as_str().unwrap());
    let new_id = format!("{did}#{}", new_key["publicKeyMultibase"].as_str().unwrap());
    assert!(
        doc.verification_method(&old_id).is_some(),
        "retired key still resolvable"
    );
    assert!(
        doc.relationship(Relationship::AssertionMethod)
            .contains(&old_id.as_str())
    );
    assert!(
        !doc.relationship(Relationship::Authentication)
            .contains(&old_id.as_str())
    );
    assert!(
        doc.relationship(Relationship::Authentication)
            .contains(&new_id.as_str())
    );
    let (_, listed) = server.admin_get("/admin/keys").await;
    let old = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == ed["id"])
        .unwrap();
    assert_eq!(old["status"], "retired");
    let again = server
        .admin_post_raw(
            &format!("/admin/keys/{}/rotate", ed["id"].as_str().unwrap()),
            &json!({}),
        )
        .await;
    let problem = crate::common::assert_problem(again, 409, "conflict").await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("already retired"),
        "a retired key cannot be rotated again: {problem}"
    );
}

/// Anything answered 2xx is committed before the answer: it survives `kill -9` (the
/// user, their keys and their DID). Power-loss durability rests on `synchronous=FULL`,
/// checked in `store_conformance`.
#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::common::fresh_database_url(dir.path()).await;
    let mut server = crate::common::ServerProcess::start(dir.path(), &db, "warn").await;
    let client = reqwest::Client::new();
    let resp = client
        .post(format!("{}/admin/users", server.base))
        .bearer_auth(crate::common::ADMIN_TOKEN)
        .json(&json!({"name": "heidi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let created: Value = resp.json().await.unwrap();
    server.child.kill().unwrap(); // SIGKILL: no shutdown, no checkpoint
    server.child.wait().unwrap();
    let port = server.port();
    drop(server);
    let again = crate::common::ServerProcess::start_on(dir.path(), &db, "warn", port, &[]).await;
    let resp = client
        .get(format!("{}/users/heidi/did.json", again.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let doc: Value = resp.json().await.unwrap();
    for key in created["keys"].as_array().unwrap() {
        let mb = key["publicKeyMultibase"].as_str().unwrap();
        assert!(doc.to_string().contains(mb), "key {mb} survived");
    }
}

/// `GET /dids`: the did:web identifiers hosted here (the server's, each user's), open like
/// the documents themselves; no did:key (they need no document).
#[tokio::test]
async fn the_hosted_dids_are_listed_for_verifiers_to_pin() {
    let server = TestServer::spawn().await;
    let (status, body) = server.get_json("/dids").await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"dids": [server.host_did()]}));
    for name in ["alice", "bob"] {
        let (status, _) = server
            .admin_post("/admin/users", json!({"name": name}))
            .await;
        assert_eq!(status, 201);
    }
    let (_, body) = server.get_json("/dids").await;
    let host = server.host_did();
    assert_eq!(
        body["dids"],
        json!([
            host,
            format!("{host}:users:alice"),
            format!("{host}:users:bob")
        ])
    );
    // Only GET.
    let resp = server
        .client
        .post(server.url("/dids"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
}
