//! The DIDComm v2.1 spec's appendix vectors (`tests/vectors/didcomm/`, see its SOURCE.md):
//! every encrypted example on Sichat's curves decrypts for every recipient to the message
//! the examples carry; the others are refused as unsupported.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::Value;
use sichat_core::didcomm::jwe::{AgreementKey, Envelope, JweError, KeyWrap};

fn vector(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/vectors/didcomm/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// A secret JWK of the appendix by key id (A.2 spells the member `"kid "`).
fn secret(file: &str, kid: &str) -> AgreementKey {
    let keys: Vec<Value> = serde_json::from_str(&vector(file)).unwrap();
    let jwk = keys
        .into_iter()
        .find(|k| {
            k.get("kid")
                .or_else(|| k.get("kid "))
                .and_then(Value::as_str)
                == Some(kid)
        })
        .unwrap_or_else(|| panic!("no key {kid} in {file}"));
    AgreementKey::from_jwk(&jwk).unwrap()
}

/// A key-agreement key of Alice's DID document (B.1), by key id.
fn alice_public(kid: &str) -> AgreementKey {
    let doc: Value = serde_json::from_str(&vector("diddoc_alice.json")).unwrap();
    // B.1 embeds its methods in the relationships.
    let vm = doc["keyAgreement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == kid)
        .unwrap_or_else(|| panic!("no method {kid}"));
    AgreementKey::from_jwk(&vm["publicKeyJwk"]).unwrap()
}

fn expected_plaintext() -> Value {
    serde_json::from_str(&vector("plaintext_as_signed_and_encrypted.json")).unwrap()
}

#[test]
fn the_spec_encrypted_examples_decrypt_for_every_recipient() {
    for (file, sender) in [
        ("anoncrypt_x25519_xc20p.json", None),
        (
            "authcrypt_x25519_a256cbc-hs512.json",
            Some("did:example:alice#key-x25519-1"),
        ),
        (
            "authcrypt_p256_a256cbc-hs512_signed.json",
            Some("did:example:alice#key-p256-1"),
        ),
    ] {
        let envelope = Envelope::parse(&vector(file)).unwrap();
        envelope.check_didcomm().unwrap();
        assert_eq!(envelope.skid.as_deref(), sender, "{file}");
        assert_eq!(
            envelope.alg,
            if sender.is_some() {
                KeyWrap::Ecdh1PuA256Kw
            } else {
                KeyWrap::EcdhEsA256Kw
            }
        );
        let kids: Vec<String> = envelope.recipient_kids().map(str::to_owned).collect();
        assert!(kids.len() >= 2, "{file}: several recipients");
        for kid in &kids {
            let sender_key = sender.map(alice_public);
            let plaintext = envelope
                .decrypt(kid, &secret("secrets_bob.json", kid), sender_key.as_ref())
                .unwrap_or_else(|e| panic!("{file} for {kid}: {e}"));
            let message: Value = serde_json::from_slice(&plaintext).unwrap();
            if file.ends_with("_signed.json") {
                // Signed, then encrypted: the plaintext is a JWS whose payload is the message.
                let payload = B64.decode(message["payload"].as_str().unwrap()).unwrap();
                assert_eq!(
                    serde_json::from_slice::<Value>(&payload).unwrap(),
                    expected_plaintext()
                );
                let inner = sichat_core::didcomm::jws::SignedEnvelope::parse(
                    std::str::from_utf8(&plaintext).unwrap(),
                )
                .unwrap();
                let signer = "did:example:alice#key-1";
                inner.verify(signer, &alice_signing(signer)).unwrap();
            } else {
                assert_eq!(message, expected_plaintext(), "{file} for {kid}");
            }
        }
        // Someone else's key opens nothing; authcrypt with another sender key neither.
        let other = secret("secrets_bob.json", &kids[0])
            .generate_like()
            .unwrap();
        assert!(
            envelope
                .decrypt(&kids[0], &other, sender.map(alice_public).as_ref())
                .is_err()
        );
    }
}

#[test]
fn the_spec_examples_on_other_curves_are_refused_as_unsupported() {
    for file in [
        "anoncrypt_p384_a256cbc-hs512.json",
        "anoncrypt_p521_a256gcm.json",
        "anoncrypt_p521_xc20p_authcrypt_p521_signed.json",
    ] {
        match Envelope::parse(&vector(file)) {
            Err(JweError::Unsupported(why)) => assert!(why.contains("EC/P-"), "{file}: {why}"),
            other => panic!("{file}: {other:?}"),
        }
    }
}

/// An authentication key of Alice's DID document (B.1), by key id.
fn alice_signing(kid: &str) -> sichat_core::keys::PublicKey {
    let doc: Value = serde_json::from_str(&vector("diddoc_alice.json")).unwrap();
    let vm = doc["authentication"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == kid)
        .unwrap_or_else(|| panic!("no method {kid}"));
    sichat_core::keys::PublicKey::from_jwk_value(&vm["publicKeyJwk"]).unwrap()
}

#[test]
fn the_spec_signed_examples_verify_and_es256k_is_unsupported() {
    use sichat_core::didcomm::jws::{JwsError, SignedEnvelope};
    for (file, kid) in [
        ("signed_eddsa.json", "did:example:alice#key-1"),
        ("signed_es256.json", "did:example:alice#key-2"),
    ] {
        let signed = SignedEnvelope::parse(&vector(file)).unwrap();
        assert_eq!(signed.signers().collect::<Vec<_>>(), [kid], "{file}");
        signed.verify(kid, &alice_signing(kid)).unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(signed.payload()).unwrap(),
            expected_plaintext()
        );
        // Another key, or another signer named, fails.
        let other = if kid.ends_with("-1") {
            "did:example:alice#key-2"
        } else {
            "did:example:alice#key-1"
        };
        assert!(matches!(
            signed.verify(kid, &alice_signing(other)),
            Err(JwsError::BadSignature(_))
        ));
        assert!(matches!(
            signed.verify(other, &alice_signing(other)),
            Err(JwsError::NoSuchSigner(_))
        ));
        // A payload changed after signing.
        let mut v: Value = serde_json::from_str(&vector(file)).unwrap();
        v["payload"] = serde_json::json!(B64.encode(b"{\"id\":\"forged\"}"));
        let forged = SignedEnvelope::parse(&v.to_string()).unwrap();
        assert!(forged.verify(kid, &alice_signing(kid)).is_err());
    }
    assert!(matches!(
        SignedEnvelope::parse(&vector("signed_es256k.json")),
        Err(JwsError::Unsupported(_))
    ));
}

/// Signed through the key service (the server's Ed25519 and P-256 keys), verified with the
/// published public keys.
#[tokio::test]
async fn messages_signed_through_the_key_service_verify() {
    use sichat_core::didcomm::jws::{SignedEnvelope, sign};
    use sichat_core::id::Owner;
    use sichat_core::keys::jws::JwsAlg;
    use sichat_core::keys::{KeyType, Signer};
    let server = crate::common::TestServer::spawn().await;
    let keys = server.services.keys.clone();
    for (key_type, alg) in [
        (KeyType::Ed25519, JwsAlg::EdDSA),
        (KeyType::P256, JwsAlg::ES256),
    ] {
        let info = keys
            .list(&Owner::Server)
            .await
            .unwrap()
            .into_iter()
            .find(|k| k.key_type == key_type)
            .unwrap();
        let kid = format!("{}#{}", server.host_did(), info.id);
        let jws = sign(&*keys, &info.id, alg, &kid, b"{\"id\":\"1\"}")
            .await
            .unwrap();
        let signed = SignedEnvelope::parse(&jws).unwrap();
        signed
            .verify(&kid, &keys.public_key(&info.id).await.unwrap())
            .unwrap();
        assert_eq!(signed.payload(), b"{\"id\":\"1\"}");
    }
}
