//! `sichat-client` talks to the server through the same wire types the handlers use.

use sichat_client::server::{ServerClient, ServerError};
use sichat_core::Secret;
use sichat_core::api::{CreateUser, DidKind, GenerateKey};
use sichat_core::id::{Owner, UserName};
use sichat_core::keys::KeyType;

use crate::common::{ADMIN_TOKEN, TestServer};

#[tokio::test]
async fn the_client_administers_a_server_with_the_shared_types() {
    let server = TestServer::spawn().await;
    let base = url::Url::parse(&server.base).unwrap();
    let admin = ServerClient::new(base.clone())
        .unwrap()
        .with_admin_token(Secret::new(ADMIN_TOKEN.to_owned()));
    let name = UserName::parse("iris").unwrap();
    let user = admin
        .create_user(&CreateUser {
            name: name.clone(),
            password: Some("a long password".into()),
            email: Some("iris@example.org".into()),
            display_name: Some("Iris Example".into()),
        })
        .await
        .unwrap();
    assert_eq!(user.name, name);
    assert!(user.has_password);
    assert_eq!(user.email.as_deref(), Some("iris@example.org"));
    assert_eq!(user.display_name.as_deref(), Some("Iris Example"));
    assert_eq!(
        user.did.as_str(),
        format!("{}:users:iris", server.host_did())
    );
    assert_eq!(user.keys.len(), 3);
    assert!(
        user.keys
            .iter()
            .all(|k| k.owner == Owner::User(name.clone()))
    );
    assert_eq!(admin.user(&name).await.unwrap(), user);
    assert_eq!(admin.list_users().await.unwrap(), vec![user.clone()]);

    let key = admin
        .generate_key(&GenerateKey {
            key_type: KeyType::P256,
            owner: Some("user:iris".into()),
        })
        .await
        .unwrap();
    assert_eq!(admin.list_keys("user:iris").await.unwrap().len(), 4);
    let rotated = admin.rotate_key(&key.id).await.unwrap();
    assert_eq!(rotated.key_type, KeyType::P256);
    assert_eq!(admin.key(&key.id).await.unwrap().status.as_str(), "retired");

    let dids = admin.list_dids().await.unwrap();
    assert_eq!(dids[0].did.as_str(), server.host_did());
    assert!(
        dids.iter()
            .any(|d| d.method == DidKind::Key && d.owner == Owner::User(name.clone()))
    );

    // Refusals arrive as typed problems.
    let again = admin
        .create_user(&CreateUser {
            name: name.clone(),
            password: None,
            email: None,
            display_name: None,
        })
        .await
        .unwrap_err();
    match again {
        ServerError::Problem(p) => {
            assert_eq!(p.status, 409);
            assert!(p.type_.ends_with("/problems/conflict"), "{}", p.type_);
            assert!(p.detail.contains("iris"));
        }
        other => panic!("{other}"),
    }
    let anonymous = ServerClient::new(base).unwrap();
    match anonymous.list_users().await.unwrap_err() {
        ServerError::Problem(p) => assert_eq!(p.status, 401),
        other => panic!("{other}"),
    }
    // Resolution through the server, a DID URL included.
    let did = "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp";
    let resolved = anonymous.resolve(did).await.unwrap();
    assert_eq!(resolved["didDocument"]["id"], did);
    let vm = anonymous
        .resolve(&format!(
            "{did}#z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp"
        ))
        .await
        .unwrap();
    assert_eq!(vm["content"]["type"], "Multikey");
}

/// `examples/issue_and_verify.rs` against a running server: it issues, verifies, revokes
/// and verifies again in both formats, and exits 0 only if every step went as it should.
#[tokio::test]
async fn the_issue_and_verify_example_runs_against_a_server() {
    let server = crate::common::TestServer::spawn().await;
    let stdout = crate::common::run_example("issue_and_verify", &server).await;
    assert_eq!(
        stdout.matches("NOT verified (status: Revoked)").count(),
        2,
        "{stdout}"
    );
}
