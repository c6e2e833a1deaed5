//! The keys that sign ID tokens: `GET /jwks`, RSA keys kept out of DIDs, rotation.

use serde_json::{Value, json};

use crate::common::TestServer;

async fn jwks(server: &TestServer) -> Vec<Value> {
    let resp = server.get("/jwks").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(resp.headers()["cache-control"], "public, max-age=300");
    let body: Value = resp.json().await.unwrap();
    body["keys"].as_array().unwrap().clone()
}

fn algs(keys: &[Value]) -> Vec<&str> {
    let mut algs: Vec<&str> = keys.iter().map(|k| k["alg"].as_str().unwrap()).collect();
    algs.sort();
    algs
}

#[tokio::test]
async fn jwks_publishes_signing_keys_and_rsa_keys_stay_out_of_dids() {
    let server = TestServer::spawn().await;
    let keys = jwks(&server).await;
    // A new server has its Ed25519 and P-256 identity keys (X25519 never signs).
    assert_eq!(algs(&keys), ["ES256", "EdDSA"]);
    for key in &keys {
        assert_eq!(key["use"], "sig");
        assert!(key.get("d").is_none(), "no private member");
        assert_eq!(
            sichat_core::keys::jwk_thumbprint(key).unwrap(),
            key["kid"].as_str().unwrap(),
            "kid is the RFC 7638 thumbprint"
        );
    }

    let (status, rsa) = server
        .admin_post("/admin/keys", json!({"type": "RSA"}))
        .await;
    assert_eq!(status, 201, "{rsa}");
    assert_eq!(rsa["type"], "RSA");
    assert!(
        rsa.get("didKey").is_none(),
        "an RSA key has no did:key: {rsa}"
    );
    let keys = jwks(&server).await;
    assert_eq!(algs(&keys), ["ES256", "EdDSA", "RS256"]);
    let published = keys.iter().find(|k| k["alg"] == "RS256").unwrap();
    assert_eq!(published["n"], rsa["publicKeyJwk"]["n"]);
    assert_eq!(published["e"], "AQAB");

    // Never in the server's DID document or its list of DIDs.
    let doc: Value = server
        .get("/.well-known/did.json")
        .await
        .json()
        .await
        .unwrap();
    let multibase = rsa["publicKeyMultibase"].as_str().unwrap();
    assert!(!doc.to_string().contains(multibase));
    let (_, dids) = server.admin_get("/admin/dids").await;
    assert!(!dids.to_string().contains(multibase));

    // Rotation: the successor is published, and the retired key stays while tokens it
    // signed may be in use.
    let id = rsa["id"].as_str().unwrap();
    let (status, next) = server
        .admin_post(&format!("/admin/keys/{id}/rotate"), json!({}))
        .await;
    assert_eq!(status, 201, "{next}");
    let keys = jwks(&server).await;
    assert_eq!(algs(&keys), ["ES256", "EdDSA", "RS256", "RS256"]);
}
