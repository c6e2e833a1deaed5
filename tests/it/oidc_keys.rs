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
    // A new server has its Ed25519 and P-256 identity keys (X25519 never signs), and an
    // RSA key made before the set is first served.
    assert_eq!(algs(&keys), ["ES256", "EdDSA", "RS256"]);
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
    let published = keys
        .iter()
        .find(|k| k["n"] == rsa["publicKeyJwk"]["n"])
        .expect("the new RSA key is published");
    assert_eq!(published["alg"], "RS256");
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
    assert_eq!(algs(&keys), ["ES256", "EdDSA", "RS256", "RS256", "RS256"]);
    let n = |v: &Value| v["publicKeyJwk"]["n"].clone();
    assert!(keys.iter().any(|k| k["n"] == n(&next)), "the successor");
    assert!(keys.iter().any(|k| k["n"] == n(&rsa)), "the retired key");
}

/// ID tokens signed here verify in the openidconnect crate (an independent relying-party
/// implementation) against the served JWKS, for each algorithm, with nonce, `azp`,
/// `auth_time`, `at_hash` and profile claims as signed.
#[tokio::test]
async fn id_tokens_verify_in_the_openidconnect_relying_party_library() {
    use openidconnect::core::{
        CoreIdToken, CoreIdTokenVerifier, CoreJsonWebKeySet, CoreJwsSigningAlgorithm,
    };
    use openidconnect::{AccessToken, AccessTokenHash, ClientId, IssuerUrl, Nonce};
    use sichat::service::id_tokens::IdTokenContent;
    use sichat_core::keys::jws::JwsAlg;
    use std::str::FromStr;

    let server = TestServer::spawn().await;
    let issuer = server.base.clone();
    let now = chrono::Utc::now();
    for (alg, core_alg) in [
        (JwsAlg::RS256, CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256),
        (JwsAlg::ES256, CoreJwsSigningAlgorithm::EcdsaP256Sha256),
        (JwsAlg::EdDSA, CoreJwsSigningAlgorithm::EdDsa),
    ] {
        let content = IdTokenContent {
            issuer: issuer.clone(),
            client_id: "rp".into(),
            subject: "user-123".into(),
            alg,
            issued_at: now,
            lifetime: std::time::Duration::from_secs(300),
            auth_time: Some(now - chrono::Duration::seconds(30)),
            nonce: Some("n-0S6_WzA2Mj +%é".into()),
            access_token: Some("an-access-token".into()),
            email: Some("user@example.org".into()),
            email_verified: false,
            name: Some("Ann User".into()),
            extra: Default::default(),
        };
        let token = server.services.id_tokens.sign(&content).await.unwrap();
        // The relying party: the JWKS as served, the algorithm it expects.
        let jwks: CoreJsonWebKeySet = server.get("/jwks").await.json().await.unwrap();
        let verifier = CoreIdTokenVerifier::new_confidential_client(
            ClientId::new("rp".into()),
            openidconnect::ClientSecret::new("unused".into()),
            IssuerUrl::new(issuer.clone()).unwrap(),
            jwks.clone(),
        )
        .set_allowed_algs([core_alg.clone()]);
        let id_token = CoreIdToken::from_str(&token).unwrap();
        let claims = id_token
            .claims(&verifier, &Nonce::new("n-0S6_WzA2Mj +%é".into()))
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(claims.subject().as_str(), "user-123");
        assert_eq!(claims.authorized_party().unwrap().as_str(), "rp");
        assert_eq!(claims.email().unwrap().as_str(), "user@example.org");
        assert_eq!(
            claims.name().unwrap().get(None).unwrap().as_str(),
            "Ann User"
        );
        assert!(claims.auth_time().is_some());
        // at_hash as the relying party computes it from the signing key.
        let key = id_token.signing_key(&verifier).unwrap();
        let expected = AccessTokenHash::from_token(
            &AccessToken::new("an-access-token".into()),
            &core_alg,
            key,
        )
        .unwrap();
        assert_eq!(claims.access_token_hash(), Some(&expected), "{alg}");
        // A wrong nonce, another audience, or another algorithm than the RP's fail.
        assert!(
            id_token
                .claims(&verifier, &Nonce::new("other".into()))
                .is_err()
        );
        let other_rp = CoreIdTokenVerifier::new_public_client(
            ClientId::new("other-rp".into()),
            IssuerUrl::new(issuer.clone()).unwrap(),
            jwks.clone(),
        )
        .set_allowed_algs([core_alg.clone()]);
        assert!(
            id_token
                .claims(&other_rp, &Nonce::new("n-0S6_WzA2Mj +%é".into()))
                .is_err()
        );
        let default_rs256_only = CoreIdTokenVerifier::new_public_client(
            ClientId::new("rp".into()),
            IssuerUrl::new(issuer.clone()).unwrap(),
            jwks,
        );
        if alg != JwsAlg::RS256 {
            assert!(
                id_token
                    .claims(&default_rs256_only, &Nonce::new("n-0S6_WzA2Mj +%é".into()))
                    .is_err()
            );
        }
    }
}
