//! Packing and unpacking with resolved DIDs (`sichat_core::didcomm::pack`): the spec's
//! appendix messages unpacked as Bob, round trips between did:peer:2 parties in every
//! layering, forwards along routing keys, and each sender-binding, expiry and replay rule
//! refused with its error.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Value, json};
use sichat_core::clock::ManualClock;
use sichat_core::did::peer::{Purpose, create_peer2};
use sichat_core::did::{DidDocument, DidResolver, Resolution, ResolveError, StandardResolver};
use sichat_core::didcomm::jwe::{self, AgreementKey, ContentEnc, To};
use sichat_core::didcomm::pack::FORWARD;
use sichat_core::didcomm::{DidcommError, Message, OwnerKeys, PackOptions, Packer, ReplayGuard};
use sichat_core::id::{Did, Owner};
use sichat_core::keys::{Kek, KeyService, KeyType, PublicKey};
use sichat_core::store::MemoryStore;

fn vector(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/vectors/didcomm/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// The appendix's documents by DID, everything else through the offline resolver.
#[derive(Default)]
struct Docs(std::sync::Mutex<HashMap<String, Value>>);

impl Docs {
    fn add(&self, doc: Value) {
        let id = doc["id"].as_str().unwrap().to_owned();
        self.0.lock().unwrap().insert(id, doc);
    }
}

#[async_trait::async_trait]
impl DidResolver for Docs {
    async fn resolve(&self, did: &Did) -> Result<Resolution, ResolveError> {
        let known = self.0.lock().unwrap().get(did.as_str()).cloned();
        match known {
            Some(doc) => Ok(Resolution::new(DidDocument::from_json(did, doc)?)),
            None => StandardResolver::offline().resolve(did).await,
        }
    }
}

const NOW: i64 = 1_516_269_022_000; // the appendix's created_time

struct Party {
    packer: Packer,
    keys: Arc<KeyService<MemoryStore>>,
    clock: Arc<ManualClock>,
}

fn party(docs: &Arc<Docs>) -> Party {
    let clock = Arc::new(ManualClock::new(NOW));
    let keys = Arc::new(KeyService::new(
        MemoryStore::new(),
        Kek::generate(),
        clock.clone(),
    ));
    let packer = Packer::new(
        docs.clone(),
        Arc::new(OwnerKeys::new(keys.clone(), Owner::Server)),
        clock.clone(),
    )
    .with_replay_guard(Arc::new(ReplayGuard::new(600, 10_000)));
    Party {
        packer,
        keys,
        clock,
    }
}

impl Party {
    /// A did:peer:2 with a fresh X25519 and Ed25519 key (and `services`).
    async fn peer_did(&self, services: &[Value]) -> Did {
        let mut keys = Vec::new();
        for t in [KeyType::X25519, KeyType::Ed25519] {
            let info = self.keys.generate(&Owner::Server, t).await.unwrap();
            keys.push(PublicKey::from_multibase(&info.public_key_multibase).unwrap());
        }
        create_peer2(
            &[
                (Purpose::Encryption, &keys[0]),
                (Purpose::Verification, &keys[1]),
            ],
            services,
        )
    }
}

/// Bob with the appendix's secrets; no replay guard (every example is one message).
fn bob_with_appendix_keys(docs: &Arc<Docs>) -> impl std::future::Future<Output = Party> {
    let mut bob = party(docs);
    bob.packer = Packer::new(
        docs.clone(),
        Arc::new(OwnerKeys::new(bob.keys.clone(), Owner::Server)),
        bob.clock.clone(),
    );
    async move {
        let secrets: Vec<Value> = serde_json::from_str(&vector("secrets_bob.json")).unwrap();
        for mut jwk in secrets {
            jwk.as_object_mut().unwrap().remove("kid ");
            if matches!(jwk["crv"].as_str(), Some("X25519" | "P-256")) {
                bob.keys.import_jwk(&Owner::Server, &jwk).await.unwrap();
            }
        }
        bob
    }
}

fn appendix_docs() -> Arc<Docs> {
    let docs = Arc::new(Docs::default());
    docs.add(serde_json::from_str(&vector("diddoc_alice.json")).unwrap());
    docs.add(serde_json::from_str(&vector("diddoc_bob.json")).unwrap());
    docs
}

fn expected() -> Message {
    Message::parse(vector("plaintext_as_signed_and_encrypted.json").as_bytes()).unwrap()
}

#[tokio::test]
async fn the_appendix_messages_unpack_as_bob_with_their_metadata() {
    let docs = appendix_docs();
    let bob = bob_with_appendix_keys(&docs).await;
    let (m, meta) = bob
        .packer
        .unpack(vector("anoncrypt_x25519_xc20p.json").as_bytes())
        .await
        .unwrap();
    assert_eq!(m, expected());
    assert!(meta.encrypted && !meta.authenticated && !meta.non_repudiation);
    assert_eq!(meta.enc_alg_anon.as_deref(), Some("ECDH-ES+A256KW+XC20P"));
    assert_eq!(meta.encrypted_to.len(), 3);

    let (m, meta) = bob
        .packer
        .unpack(vector("authcrypt_x25519_a256cbc-hs512.json").as_bytes())
        .await
        .unwrap();
    assert_eq!(m, expected());
    assert!(meta.authenticated && !meta.non_repudiation);
    assert_eq!(
        meta.encrypted_from.as_deref(),
        Some("did:example:alice#key-x25519-1")
    );

    let (m, meta) = bob
        .packer
        .unpack(vector("authcrypt_p256_a256cbc-hs512_signed.json").as_bytes())
        .await
        .unwrap();
    assert_eq!(m, expected());
    assert!(meta.authenticated && meta.non_repudiation);
    assert_eq!(meta.sign_from.as_deref(), Some("did:example:alice#key-1"));
    assert_eq!(
        meta.encrypted_from.as_deref(),
        Some("did:example:alice#key-p256-1")
    );

    for (file, kid, alg) in [
        ("signed_eddsa.json", "did:example:alice#key-1", "EdDSA"),
        ("signed_es256.json", "did:example:alice#key-2", "ES256"),
    ] {
        let (m, meta) = bob.packer.unpack(vector(file).as_bytes()).await.unwrap();
        assert_eq!(m, expected(), "{file}");
        assert!(!meta.encrypted && meta.non_repudiation, "{file}");
        assert_eq!(meta.sign_from.as_deref(), Some(kid));
        assert_eq!(meta.sign_alg.as_deref(), Some(alg));
    }
    let err = bob
        .packer
        .unpack(vector("signed_es256k.json").as_bytes())
        .await
        .unwrap_err();
    assert!(matches!(err, DidcommError::Jws(_)), "{err}");

    // The appendix message expires at 1516385931: an hour later it is refused.
    bob.clock.advance(200_000_000);
    let err = bob
        .packer
        .unpack(vector("authcrypt_x25519_a256cbc-hs512.json").as_bytes())
        .await
        .unwrap_err();
    assert_eq!(err, DidcommError::Expired);
}

/// Two parties on did:peer:2, a shared resolver.
async fn alice_and_bob() -> (Arc<Docs>, Party, Did, Party, Did) {
    let docs = Arc::new(Docs::default());
    let alice = party(&docs);
    let bob = party(&docs);
    let a = alice.peer_did(&[]).await;
    let b = bob.peer_did(&[]).await;
    (docs, alice, a, bob, b)
}

fn hello(from: &Did, to: &Did) -> Message {
    let mut m = Message::new(
        "https://didcomm.org/basicmessage/2.0/message",
        json!({"content": "hi"}),
    );
    m.from = Some(from.to_string());
    m.to = Some(vec![to.to_string()]);
    m.created_time = Some((NOW / 1000) as u64);
    m
}

#[tokio::test]
async fn every_layering_round_trips_between_peer_dids() {
    let (_docs, alice, a, bob, b) = alice_and_bob().await;
    let cases = [
        (false, false, false, ContentEnc::Xc20p),
        (false, false, false, ContentEnc::A256Gcm),
        (false, false, false, ContentEnc::A256CbcHs512),
        (true, false, false, ContentEnc::Xc20p),
        (true, true, false, ContentEnc::Xc20p),
        (true, true, true, ContentEnc::A256Gcm),
        (false, true, false, ContentEnc::Xc20p),
    ];
    for (auth, sign, protect, enc) in cases {
        let msg = hello(&a, &b);
        let packed = alice
            .packer
            .pack_encrypted(
                &msg,
                b.as_str(),
                auth.then_some(a.as_str()),
                sign.then_some(a.as_str()),
                PackOptions {
                    enc_anon: enc,
                    protect_sender: protect,
                    forward: true,
                },
            )
            .await
            .unwrap();
        assert!(!packed.forwarded && packed.service_uri.is_none());
        let (got, meta) = bob.packer.unpack(packed.packed.as_bytes()).await.unwrap();
        let case = format!("auth {auth} sign {sign} protect {protect} {enc:?}");
        assert_eq!(got, msg, "{case}");
        assert_eq!(meta.authenticated, auth || sign, "{case}");
        assert_eq!(meta.non_repudiation, sign, "{case}");
        assert_eq!(meta.anonymous_sender, protect, "{case}");
        assert_eq!(meta.encrypted_from.is_some(), auth, "{case}");
        // The SICPA key-id form is what we send.
        assert!(
            meta.decrypted_with
                .unwrap()
                .starts_with(&format!("{b}#6LS")),
            "{case}"
        );
    }
    // Signed only.
    let msg = hello(&a, &b);
    let (jws, kid) = alice.packer.pack_signed(&msg, a.as_str()).await.unwrap();
    assert!(kid.starts_with(&format!("{a}#6Mk")));
    let (got, meta) = bob.packer.unpack(jws.as_bytes()).await.unwrap();
    assert_eq!(got, msg);
    assert!(meta.non_repudiation && !meta.encrypted);
}

#[tokio::test]
async fn the_spec_key_id_form_key_n_is_accepted_on_receipt() {
    let (_docs, alice, a, bob, b) = alice_and_bob().await;
    let msg = hello(&a, &b);
    // Encrypt to `#key-1` (Affinidi's form) by hand, from Alice's `#key-1`.
    let b_doc = StandardResolver::resolve_offline(&b).unwrap().document;
    let b_key = b_doc
        .verification_method(&format!("{b}#key-1"))
        .unwrap()
        .clone();
    let b_pub = AgreementKey::from_public(&DidDocument::public_key_of(&b_key).unwrap()).unwrap();
    let a_info = alice.keys.list(&Owner::Server).await.unwrap();
    let a_x = a_info
        .iter()
        .find(|k| k.key_type == KeyType::X25519)
        .unwrap();
    let mut sent = None;
    let skid = format!("{a}#key-1");
    let kid = format!("{b}#key-1");
    use sichat_core::keys::KeyAgreement;
    alice
        .keys
        .with_secret(&a_x.id, &mut |secret| {
            let s = AgreementKey::from_secret(secret).unwrap();
            sent = Some(
                jwe::encrypt(
                    &msg.to_bytes(),
                    &[To {
                        kid: &kid,
                        key: &b_pub,
                    }],
                    Some((&skid, &s)),
                    ContentEnc::A256CbcHs512,
                )
                .unwrap(),
            );
        })
        .await
        .unwrap();
    let (got, meta) = bob.packer.unpack(sent.unwrap().as_bytes()).await.unwrap();
    assert_eq!(got, msg);
    assert_eq!(meta.encrypted_from.as_deref(), Some(skid.as_str()));
}

#[tokio::test]
async fn forwards_wrap_along_routing_keys_and_a_mediator_unwraps_them() {
    let docs = Arc::new(Docs::default());
    let mediator = party(&docs);
    let m = mediator
        .peer_did(&[json!({"type":"DIDCommMessaging","serviceEndpoint":{"uri":"https://mediator.example/didcomm","accept":["didcomm/v2"]}})])
        .await;
    let alice = party(&docs);
    let a = alice.peer_did(&[]).await;
    let bob = party(&docs);
    // Bob's service endpoint is the mediator's DID.
    let b = bob
        .peer_did(&[json!({"type":"DIDCommMessaging","serviceEndpoint":{"uri": m.as_str(),"accept":["didcomm/v2"]}})])
        .await;
    let msg = hello(&a, &b);
    let packed = alice
        .packer
        .pack_encrypted(
            &msg,
            b.as_str(),
            Some(a.as_str()),
            None,
            PackOptions::default(),
        )
        .await
        .unwrap();
    assert!(packed.forwarded);
    assert_eq!(
        packed.service_uri.as_deref(),
        Some("https://mediator.example/didcomm")
    );
    // Bob cannot open the outer layer; the mediator can, and finds a forward to Bob.
    assert_eq!(
        bob.packer
            .unpack(packed.packed.as_bytes())
            .await
            .unwrap_err(),
        DidcommError::NotForUs
    );
    let (forward, meta) = mediator
        .packer
        .unpack(packed.packed.as_bytes())
        .await
        .unwrap();
    assert_eq!(forward.type_, FORWARD);
    assert!(!meta.authenticated);
    assert_eq!(forward.body["next"], b.as_str());
    let inner = forward.attachments.unwrap()[0].content().unwrap();
    let (got, _) = bob.packer.unpack(&inner).await.unwrap();
    assert_eq!(got, msg);
}

/// Encrypts raw `bytes` by hand for `to`'s first key-agreement key: authcrypt from
/// `sender` (a did:peer:2 of `who`), or anoncrypt without one, so that the content can
/// lie (a plaintext claiming another `from` or `to`, an envelope inside another).
async fn encrypt_raw(sender: Option<(&Party, &Did)>, to: &Did, bytes: &[u8]) -> String {
    let first_agreement = |did: &Did| {
        let doc = StandardResolver::resolve_offline(did).unwrap().document;
        let kid = doc.relationship(sichat_core::did::Relationship::KeyAgreement)[0].to_owned();
        let key = DidDocument::public_key_of(doc.verification_method(&kid).unwrap()).unwrap();
        (kid, key)
    };
    let (kid, key) = first_agreement(to);
    let public = AgreementKey::from_public(&key).unwrap();
    let to = [To {
        kid: &kid,
        key: &public,
    }];
    let Some((who, sender)) = sender else {
        return jwe::encrypt(bytes, &to, None, ContentEnc::Xc20p).unwrap();
    };
    let (skid, _) = first_agreement(sender);
    let info = who.keys.list(&Owner::Server).await.unwrap();
    let x = info.iter().find(|k| k.key_type == KeyType::X25519).unwrap();
    let mut out = None;
    use sichat_core::keys::KeyAgreement;
    who.keys
        .with_secret(&x.id, &mut |secret| {
            let s = AgreementKey::from_secret(secret).unwrap();
            out = Some(
                jwe::encrypt(bytes, &to, Some((&skid, &s)), ContentEnc::A256CbcHs512).unwrap(),
            );
        })
        .await
        .unwrap();
    out.unwrap()
}

/// Authcrypts `msg` from `sender` (a did:peer:2 of `who`) to `to` by hand.
async fn authcrypt_as(who: &Party, sender: &Did, to: &Did, msg: &Message) -> String {
    encrypt_raw(Some((who, sender)), to, &msg.to_bytes()).await
}

#[tokio::test]
async fn sender_binding_expiry_and_replay_are_enforced() {
    let (docs, alice, a, bob, b) = alice_and_bob().await;
    let mallory = party(&docs);
    let mal = mallory.peer_did(&[]).await;
    let binding = |e: DidcommError| assert!(matches!(e, DidcommError::Binding(_)), "{e}");

    // Mallory authcrypts with her own key but claims to be Alice.
    let spoof = authcrypt_as(&mallory, &mal, &b, &hello(&a, &b)).await;
    binding(bob.packer.unpack(spoof.as_bytes()).await.unwrap_err());
    // Authcrypt to Bob whose `to` names someone else (a message re-encrypted to another).
    let carol = party(&docs).peer_did(&[]).await;
    let misdirected = authcrypt_as(&alice, &a, &b, &hello(&a, &carol)).await;
    binding(bob.packer.unpack(misdirected.as_bytes()).await.unwrap_err());
    // Authcrypt without `to`.
    let mut no_to = hello(&a, &b);
    no_to.to = None;
    binding(
        bob.packer
            .unpack(authcrypt_as(&alice, &a, &b, &no_to).await.as_bytes())
            .await
            .unwrap_err(),
    );
    // Signed by Mallory, `from` Alice; and Alice authcrypting what Mallory signed.
    let mut mal_msg = hello(&mal, &b);
    let (jws, _) = mallory
        .packer
        .pack_signed(&mal_msg, mal.as_str())
        .await
        .unwrap();
    let mut forged: Value = serde_json::from_str(&jws).unwrap();
    mal_msg.from = Some(a.to_string());
    forged["payload"] = json!(base64_url(&mal_msg.to_bytes()));
    let err = bob
        .packer
        .unpack(forged.to_string().as_bytes())
        .await
        .unwrap_err();
    assert!(
        matches!(err, DidcommError::Jws(_)),
        "payload swapped: {err}"
    );
    // A valid signature by Mallory inside Alice's authcrypt: signer ≠ sender.
    let signed_by_mal = mallory
        .packer
        .pack_signed(&hello(&mal, &b), mal.as_str())
        .await
        .unwrap()
        .0;
    let mut m = hello(&a, &b);
    m.body = json!({});
    let wrapped = encrypt_raw(Some((&alice, &a)), &b, signed_by_mal.as_bytes()).await;
    binding(bob.packer.unpack(wrapped.as_bytes()).await.unwrap_err());

    // Packing refuses what unpacking would: a sender or signer that is not `from`, a
    // recipient not in `to`.
    let msg = hello(&a, &b);
    binding(
        alice
            .packer
            .pack_encrypted(&msg, carol.as_str(), None, None, PackOptions::default())
            .await
            .unwrap_err(),
    );
    binding(
        mallory
            .packer
            .pack_encrypted(
                &msg,
                b.as_str(),
                Some(mal.as_str()),
                None,
                PackOptions::default(),
            )
            .await
            .unwrap_err(),
    );
    assert!(
        matches!(
            mallory
                .packer
                .pack_encrypted(
                    &msg,
                    b.as_str(),
                    Some(a.as_str()),
                    None,
                    PackOptions::default()
                )
                .await
                .unwrap_err(),
            DidcommError::Key(_)
        ),
        "Alice's keys are not Mallory's"
    );

    // Replay: the same message twice; a re-encryption of it too.
    let once = alice
        .packer
        .pack_encrypted(
            &msg,
            b.as_str(),
            Some(a.as_str()),
            None,
            PackOptions::default(),
        )
        .await
        .unwrap();
    bob.packer.unpack(once.packed.as_bytes()).await.unwrap();
    assert_eq!(
        bob.packer.unpack(once.packed.as_bytes()).await.unwrap_err(),
        DidcommError::Replay
    );
    let again = alice
        .packer
        .pack_encrypted(
            &msg,
            b.as_str(),
            Some(a.as_str()),
            None,
            PackOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        bob.packer
            .unpack(again.packed.as_bytes())
            .await
            .unwrap_err(),
        DidcommError::Replay
    );
    // Anonymous: the identical envelope twice.
    let mut anon = hello(&a, &b);
    anon.from = None;
    let anon = alice
        .packer
        .pack_encrypted(&anon, b.as_str(), None, None, PackOptions::default())
        .await
        .unwrap();
    bob.packer.unpack(anon.packed.as_bytes()).await.unwrap();
    assert_eq!(
        bob.packer.unpack(anon.packed.as_bytes()).await.unwrap_err(),
        DidcommError::Replay
    );
    // After the window a message created at the start is too old to be checked.
    bob.clock.advance(601_000);
    let fresh = alice
        .packer
        .pack_encrypted(
            &hello(&a, &b),
            b.as_str(),
            Some(a.as_str()),
            None,
            PackOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        bob.packer
            .unpack(fresh.packed.as_bytes())
            .await
            .unwrap_err(),
        DidcommError::Expired
    );
    // Expired.
    let mut late = hello(&a, &b);
    late.created_time = None;
    late.expires_time = Some((NOW / 1000) as u64);
    let late = alice
        .packer
        .pack_encrypted(&late, b.as_str(), None, None, PackOptions::default())
        .await
        .unwrap();
    assert_eq!(
        bob.packer.unpack(late.packed.as_bytes()).await.unwrap_err(),
        DidcommError::Expired
    );
    // Not for Bob; from_prior.
    let for_carol = alice
        .packer
        .pack_encrypted(
            &hello(&a, &carol),
            carol.as_str(),
            None,
            None,
            PackOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        bob.packer
            .unpack(for_carol.packed.as_bytes())
            .await
            .unwrap_err(),
        DidcommError::NotForUs
    );
    let mut rotated = hello(&a, &b);
    rotated.created_time = None;
    rotated.from_prior = Some("eyJ.eyJ.sig".into());
    let rotated = alice
        .packer
        .pack_encrypted(
            &rotated,
            b.as_str(),
            Some(a.as_str()),
            None,
            PackOptions::default(),
        )
        .await
        .unwrap();
    assert!(matches!(
        bob.packer
            .unpack(rotated.packed.as_bytes())
            .await
            .unwrap_err(),
        DidcommError::Unsupported(_)
    ));
    // Tampered ciphertext: one opaque error.
    let mut tampered: Value = serde_json::from_str(&once.packed).unwrap();
    let ct = tampered["ciphertext"].as_str().unwrap().to_owned();
    let flipped = if ct.starts_with('A') { 'B' } else { 'A' };
    tampered["ciphertext"] = json!(format!("{flipped}{}", &ct[1..]));
    assert!(matches!(
        bob.packer
            .unpack(tampered.to_string().as_bytes())
            .await
            .unwrap_err(),
        DidcommError::Jwe(jwe::JweError::Decryption)
    ));
}

#[tokio::test]
async fn layers_out_of_order_and_garbage_are_malformed() {
    let (_docs, alice, a, bob, b) = alice_and_bob().await;
    // anoncrypt(anoncrypt(...)): one anoncrypt layer at most.
    let mut inner = hello(&a, &b);
    inner.from = None;
    let anon = alice
        .packer
        .pack_encrypted(&inner, b.as_str(), None, None, PackOptions::default())
        .await
        .unwrap();
    let wrapped = encrypt_raw(None, &b, anon.packed.as_bytes()).await;
    let err = bob.packer.unpack(wrapped.as_bytes()).await.unwrap_err();
    assert!(
        matches!(err, DidcommError::Malformed(_)),
        "anoncrypt inside anoncrypt: {err}"
    );
    for garbage in [
        &b"not json"[..],
        b"[1]",
        b"{\"ciphertext\":1}",
        b"{\"signatures\":[]}",
    ] {
        let err = bob.packer.unpack(garbage).await.unwrap_err();
        assert!(
            matches!(
                err,
                DidcommError::Malformed(_)
                    | DidcommError::Jwe(_)
                    | DidcommError::Jws(_)
                    | DidcommError::Message(_)
            ),
            "{err}"
        );
    }
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
