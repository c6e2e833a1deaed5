//! The negative table: credentials and presentations that must not verify, each built
//! from a valid one by one change (or signed wrongly on purpose), each sent to the
//! server's verifier and rejected by the check named for it.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Map, Value, json};
use sichat_core::clock::ManualClock;
use sichat_core::id::{KeyId, Owner};
use sichat_core::keys::{Kek, KeyService, KeyType, PublicKey};
use sichat_core::store::MemoryStore;
use sichat_core::vc::data_integrity;
use sichat_core::vc::{Canonicalizer, Issuer, IssuerKey, ProofFormat, VcVersion};

use crate::common::TestServer;

/// The W3C vc-di-eddsa test key: signs offline, as a did:key anyone resolves.
const KEY_PUBLIC: &str = "z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2";
const KEY_SECRET: &str = "z3u2en7t5LR2WtQH5PfFqMqwVHBeXouLzo6haApm8XHqvjxq";

struct OfflineKey {
    keys: Arc<KeyService<MemoryStore>>,
    id: KeyId,
    did: String,
    method: String,
}

async fn offline_key() -> OfflineKey {
    let public = PublicKey::from_multibase(KEY_PUBLIC).unwrap();
    let (_, secret) = multibase::decode(KEY_SECRET).unwrap();
    let mut jwk = public.to_jwk_value();
    jwk["d"] = json!(B64.encode(&secret[2..]));
    let keys = Arc::new(KeyService::new(
        MemoryStore::new(),
        Kek::generate(),
        Arc::new(ManualClock::new(1_700_000_000_000)),
    ));
    let info = keys.import_jwk(&Owner::Server, &jwk).await.unwrap();
    let did = format!("did:key:{KEY_PUBLIC}");
    OfflineKey {
        keys,
        id: info.id,
        method: format!("{did}#{KEY_PUBLIC}"),
        did,
    }
}

impl OfflineKey {
    fn issuer_key(&self) -> IssuerKey {
        IssuerKey {
            issuer: self.did.clone(),
            method: self.method.clone(),
            key: self.id.clone(),
            key_type: KeyType::Ed25519,
        }
    }

    /// `credential` with an eddsa-rdfc-2022 proof made of `options` (over the defaults).
    async fn sign_with(&self, credential: &Value, options: Value) -> Value {
        let mut proof = json!({
            "type": "DataIntegrityProof",
            "cryptosuite": "eddsa-rdfc-2022",
            "created": "2024-01-01T00:00:00Z",
            "verificationMethod": self.method,
            "proofPurpose": "assertionMethod",
        });
        for (k, v) in options.as_object().unwrap() {
            proof[k] = v.clone();
        }
        let unsecured = credential.as_object().unwrap();
        let proof = data_integrity::create_proof(
            &Canonicalizer::default(),
            unsecured,
            proof.as_object().unwrap().clone(),
            self.keys.as_ref(),
            &self.id,
        )
        .await
        .unwrap();
        let mut signed = unsecured.clone();
        signed.insert("proof".into(), Value::Object(proof));
        Value::Object(signed)
    }
}

fn unsigned(issuer: &str, extra: Value) -> Value {
    let mut vc = json!({
        "@context": ["https://www.w3.org/ns/credentials/v2", "https://www.w3.org/ns/credentials/examples/v2"],
        "id": format!("urn:uuid:{}", uuid::Uuid::new_v4()),
        "type": ["VerifiableCredential", "ExampleAlumniCredential"],
        "issuer": issuer,
        "validFrom": "2020-01-01T00:00:00Z",
        "credentialSubject": {"id": "did:example:alice", "alumniOf": "Example University"},
    });
    for (k, v) in extra.as_object().unwrap() {
        vc[k] = v.clone();
    }
    vc
}

async fn issue(server: &TestServer, credential: Value, options: Value) -> Value {
    let (status, body) = server
        .admin_post(
            "/credentials/issue",
            json!({"credential": credential, "options": options}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["verifiableCredential"].clone()
}

fn jws_parts(envelope: &Value) -> (Map<String, Value>, Map<String, Value>, String) {
    let id = envelope["id"].as_str().unwrap();
    let jws = id.split_once(',').unwrap().1;
    let mut parts = jws.split('.');
    let mut object = || -> Map<String, Value> {
        serde_json::from_slice(&B64.decode(parts.next().unwrap()).unwrap()).unwrap()
    };
    let (header, payload) = (object(), object());
    (header, payload, parts.next().unwrap().to_owned())
}

fn envelope(media: &str, header: &Value, payload: &Value, signature: &[u8]) -> Value {
    json!({
        "@context": "https://www.w3.org/ns/credentials/v2",
        "id": format!(
            "data:{media},{}.{}.{}",
            B64.encode(header.to_string()),
            B64.encode(payload.to_string()),
            B64.encode(signature)
        ),
        "type": "EnvelopedVerifiableCredential",
    })
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// One row: what is sent, and the check (and, where it matters, the title) that must fail.
struct Case {
    name: &'static str,
    presentation: Option<Value>,
    document: Value,
    check: &'static str,
    title: Option<&'static str>,
}

fn case(name: &'static str, document: Value, check: &'static str) -> Case {
    Case {
        name,
        presentation: None,
        document,
        check,
        title: None,
    }
}

fn titled(mut c: Case, title: &'static str) -> Case {
    c.title = Some(title);
    c
}

fn vp_case(name: &'static str, vp: Value, options: Value, check: &'static str) -> Case {
    Case {
        name,
        presentation: Some(options),
        document: vp,
        check,
        title: None,
    }
}

async fn table(server: &TestServer) -> Vec<Case> {
    let me = server.host_did();
    let key = offline_key().await;
    let good = issue(server, unsigned(&me, json!({})), json!({})).await;
    let good_ecdsa = issue(
        server,
        unsigned(&me, json!({})),
        json!({"cryptosuite": "ecdsa-rdfc-2019"}),
    )
    .await;
    let good_jwt = issue(
        server,
        unsigned(&me, json!({})),
        json!({"format": "vc+jwt"}),
    )
    .await;
    let good_sd = issue(
        server,
        unsigned(&me, json!({})),
        json!({"format": "vc+sd-jwt"}),
    )
    .await;
    let mut rows = Vec::new();

    // Data Integrity: the document or the proof changed after signing.
    let mut v = good.clone();
    v["credentialSubject"]["alumniOf"] = json!("Another University");
    rows.push(case("changed subject claim (eddsa)", v, "proof"));
    let mut v = good_ecdsa.clone();
    v["credentialSubject"]["id"] = json!("did:example:mallory");
    rows.push(case("changed subject id (ecdsa)", v, "proof"));
    let mut v = good.clone();
    v["validFrom"] = json!("2019-01-01T00:00:00Z");
    rows.push(case("changed validity date", v, "proof"));
    let mut v = good.clone();
    v["proof"]["proofValue"] = json!("not-multibase!");
    rows.push(case("proofValue not base58btc", v, "proof"));
    let mut v = good.clone();
    let other = good_ecdsa["proof"]["proofValue"].clone();
    v["proof"]["proofValue"] = other;
    rows.push(case("proofValue of another proof", v, "proof"));
    let mut v = good.clone();
    v["proof"]["cryptosuite"] = json!("bbs-2023");
    rows.push(titled(
        case("unknown cryptosuite", v, "proof"),
        "Unsupported cryptosuite",
    ));
    let mut v = good.clone();
    v["proof"]["type"] = json!("RsaSignature2018");
    rows.push(titled(
        case("unknown proof type", v, "proof"),
        "Unsupported proof type",
    ));
    let mut v = good.clone();
    v.as_object_mut().unwrap().remove("proof");
    rows.push(titled(case("no proof", v, "proof"), "No proof"));
    let mut v = good.clone();
    v["proof"]["verificationMethod"] = good_ecdsa["proof"]["verificationMethod"].clone();
    rows.push(case(
        "another key of the issuer (wrong key type)",
        v,
        "proof",
    ));
    let mut v = good.clone();
    v["credentialSubject"]["favouriteColour"] = json!("green");
    v["@context"] = json!(["https://www.w3.org/ns/credentials/v2"]);
    rows.push(case("undefined term (no @vocab context)", v, "proof"));
    let mut v = good.clone();
    v["@context"]
        .as_array_mut()
        .unwrap()
        .push(json!("https://evil.example/context.jsonld"));
    rows.push(case("remote context", v, "proof"));

    // Signed correctly, but not by or for the right thing.
    let forged_issuer = key.sign_with(&unsigned(&me, json!({})), json!({})).await;
    rows.push(case(
        "issuer does not control the key",
        forged_issuer,
        "issuer",
    ));
    let wrong_purpose = key
        .sign_with(
            &unsigned(&key.did, json!({})),
            json!({"proofPurpose": "authentication"}),
        )
        .await;
    rows.push(case(
        "proof purpose authentication",
        wrong_purpose,
        "proofPurpose",
    ));
    let expired_proof = key
        .sign_with(
            &unsigned(&key.did, json!({})),
            json!({"expires": "2021-01-01T00:00:00Z"}),
        )
        .await;
    rows.push(case("proof expired", expired_proof, "proofExpires"));
    let unknown_method = key
        .sign_with(
            &unsigned(&key.did, json!({})),
            json!({"verificationMethod": format!("{}#not-a-key", key.did)}),
        )
        .await;
    rows.push(case(
        "verification method not in the document",
        unknown_method,
        "proof",
    ));

    // Validity and status.
    let expired = issue(
        server,
        unsigned(&me, json!({"validUntil": "2021-01-01T00:00:00Z"})),
        json!({}),
    )
    .await;
    rows.push(titled(case("expired", expired, "validUntil"), "Expired"));
    let future = issue(
        server,
        unsigned(&me, json!({"validFrom": "2099-01-01T00:00:00Z"})),
        json!({}),
    )
    .await;
    rows.push(titled(
        case("not yet valid", future, "validFrom"),
        "Not yet valid",
    ));
    let v1_expired = issue(
        server,
        json!({
            "@context": ["https://www.w3.org/2018/credentials/v1", "https://www.w3.org/2018/credentials/examples/v1"],
            "type": ["VerifiableCredential", "AlumniCredential"],
            "issuer": me,
            "issuanceDate": "2020-01-01T00:00:00Z",
            "expirationDate": "2021-01-01T00:00:00Z",
            "credentialSubject": {"id": "did:example:alice", "alumniOf": "Example University"},
        }),
        json!({}),
    )
    .await;
    rows.push(case("VC 1.1 expired", v1_expired, "expirationDate"));
    for (status, title) in [("revoked", "Revoked"), ("suspended", "Suspended")] {
        let vc = issue(server, unsigned(&me, json!({})), json!({})).await;
        let (code, _) = server
            .admin_post(
                "/credentials/status",
                json!({"credentialId": vc["id"], "credentialStatus": [{"type": "BitstringStatusListCredential", "status": status}]}),
            )
            .await;
        assert_eq!(code, 200);
        rows.push(titled(
            case(
                if status == "revoked" {
                    "revoked"
                } else {
                    "suspended"
                },
                vc,
                "status",
            ),
            title,
        ));
    }

    // vc+jwt.
    let (header, payload, signature) = jws_parts(&good_jwt);
    let signature = B64.decode(signature).unwrap();
    let none = envelope(
        "application/vc+jwt",
        &json!({"alg": "none", "typ": "vc+jwt"}),
        &Value::Object(payload.clone()),
        &[],
    );
    rows.push(case("vc+jwt alg none", none, "proof"));
    let kid = header["kid"].as_str().unwrap();
    let (_, public) = multibase::decode(kid.rsplit('#').next().unwrap()).unwrap();
    let mut hs_header = header.clone();
    hs_header.insert("alg".into(), json!("HS256"));
    let hs_input = format!(
        "{}.{}",
        B64.encode(Value::Object(hs_header.clone()).to_string()),
        B64.encode(Value::Object(payload.clone()).to_string())
    );
    let hs = envelope(
        "application/vc+jwt",
        &Value::Object(hs_header),
        &Value::Object(payload.clone()),
        &hmac_sha256(&public, hs_input.as_bytes()),
    );
    rows.push(case("vc+jwt HS256 keyed with the public key", hs, "proof"));
    let mut changed = payload.clone();
    changed["credentialSubject"]["alumniOf"] = json!("Another University");
    let tampered = envelope(
        "application/vc+jwt",
        &Value::Object(header.clone()),
        &Value::Object(changed),
        &signature,
    );
    rows.push(case("vc+jwt changed payload", tampered, "proof"));
    // Extreme NumericDates (unsigned: the dates are judged before the signature): no
    // overflow, the proof fails.
    let mut extreme = payload.clone();
    extreme.insert("exp".into(), json!(i64::MAX));
    extreme.insert("nbf".into(), json!(i64::MIN));
    let extreme = envelope(
        "application/vc+jwt",
        &Value::Object(header.clone()),
        &Value::Object(extreme),
        &signature,
    );
    rows.push(case("vc+jwt with extreme exp and nbf", extreme, "proof"));
    let mut other_kid = header.clone();
    other_kid.insert(
        "kid".into(),
        good_ecdsa["proof"]["verificationMethod"].clone(),
    );
    let wrong_key = envelope(
        "application/vc+jwt",
        &Value::Object(other_kid),
        &Value::Object(payload.clone()),
        &signature,
    );
    rows.push(case("vc+jwt names another key", wrong_key, "proof"));
    let mut typ = header.clone();
    typ.insert("typ".into(), json!("JWT"));
    let bad_typ = envelope(
        "application/vc+jwt",
        &Value::Object(typ),
        &Value::Object(payload.clone()),
        &signature,
    );
    rows.push(titled(
        case("vc+jwt typ JWT", bad_typ, "proof"),
        "Wrong media type",
    ));
    // The same credential, with its signature, signed by the offline key as the issuer.
    let offline = Issuer::new(
        Canonicalizer::default(),
        key.keys.clone(),
        Arc::new(ManualClock::new(1_700_000_000_000)),
    );
    let mut claims = payload.clone();
    claims.remove("proof");
    let foreign = offline
        .secure(claims, VcVersion::V2, &key.issuer_key(), ProofFormat::VcJwt)
        .await
        .unwrap();
    rows.push(case(
        "vc+jwt signed by a key the issuer does not control",
        foreign,
        "issuer",
    ));

    // vc+sd-jwt.
    let sd = good_sd["id"]
        .as_str()
        .unwrap()
        .split_once(',')
        .unwrap()
        .1
        .to_owned();
    let mut parts: Vec<String> = sd.split('~').map(str::to_owned).collect();
    parts[1] = B64.encode(r#"["c2FsdA","alumniOf","Forged University"]"#);
    let forged = json!({
        "@context": "https://www.w3.org/ns/credentials/v2",
        "id": format!("data:application/vc+sd-jwt,{}", parts.join("~")),
        "type": "EnvelopedVerifiableCredential",
    });
    rows.push(case("vc+sd-jwt forged disclosure", forged, "proof"));

    // Legacy suite with an unaccepted algorithm.
    let mut legacy = key
        .sign_with(&unsigned(&key.did, json!({})), json!({}))
        .await;
    legacy["proof"] = json!({
        "type": "JsonWebSignature2020",
        "created": "2024-01-01T00:00:00Z",
        "verificationMethod": key.method,
        "proofPurpose": "assertionMethod",
        "jws": format!("{}..", B64.encode(r#"{"alg":"none","b64":false,"crit":["b64"]}"#)),
    });
    rows.push(case("JsonWebSignature2020 alg none", legacy, "proof"));

    // Presentations (a user's, over the holder API).
    let vp = crate::common::present_as_new_user(server, "holder", &good, "c1", "d.example").await;
    let right = json!({"challenge": "c1", "domain": "d.example"});
    rows.push(vp_case(
        "presentation, wrong challenge",
        vp.clone(),
        json!({"challenge": "c2", "domain": "d.example"}),
        "challenge",
    ));
    rows.push(vp_case(
        "presentation, wrong domain",
        vp.clone(),
        json!({"challenge": "c1", "domain": "e.example"}),
        "domain",
    ));
    let mut v = vp.clone();
    v["verifiableCredential"][0]["credentialSubject"]["alumniOf"] = json!("Another University");
    rows.push(vp_case(
        "presentation with a tampered credential",
        v,
        right.clone(),
        "proof",
    ));
    let mut v = vp.clone();
    v["holder"] = json!(me);
    rows.push(vp_case(
        "presentation, holder changed",
        v,
        right.clone(),
        "proof",
    ));
    let mut v = vp.clone();
    v.as_object_mut().unwrap().remove("proof");
    rows.push(vp_case("unsigned presentation", v, right, "proof"));
    rows
}

#[tokio::test]
async fn every_row_of_the_negative_table_is_rejected_for_its_reason() {
    let server = TestServer::spawn().await;
    let rows = table(&server).await;
    assert!(rows.len() >= 25, "{} rows", rows.len());
    for row in &rows {
        let (path, body) = match &row.presentation {
            None => (
                "/credentials/verify",
                json!({"verifiableCredential": row.document}),
            ),
            Some(options) => (
                "/presentations/verify",
                json!({"verifiablePresentation": row.document, "options": options}),
            ),
        };
        let resp = server
            .client
            .post(server.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let report: Value = resp.json().await.unwrap();
        assert_eq!(status, 400, "{}: {report}", row.name);
        assert_eq!(report["verified"], false, "{}: {report}", row.name);
        let errors = report["errors"].as_array().unwrap();
        let hit = errors.iter().find(|e| e["check"] == row.check);
        assert!(
            hit.is_some(),
            "{}: expected a `{}` failure: {report}",
            row.name,
            row.check
        );
        if let Some(title) = row.title {
            assert_eq!(hit.unwrap()["title"], title, "{}: {report}", row.name);
        }
        assert!(
            !report["checks"]
                .as_array()
                .unwrap()
                .contains(&json!(row.check)),
            "{}: a failed check is not listed as passed",
            row.name
        );
    }
    // The same rows offline, from a bundle of this server, with the server stopped: each
    // rejected for the same reason.
    let bundle = crate::offline_verify::bundle_of(&server).await;
    server.stop().await;
    let verifier = sichat_client::offline::OfflineVerifier::new(bundle);
    for row in &rows {
        let report = crate::offline_verify::without_io(|| async {
            match &row.presentation {
                None => verifier.verify_credential(&row.document).await,
                Some(options) => {
                    verifier
                        .verify_presentation(
                            &row.document,
                            options["challenge"].as_str(),
                            options["domain"].as_str(),
                        )
                        .await
                }
            }
        })
        .unwrap();
        assert_eq!(
            report.verdict,
            sichat_client::offline::Verdict::Invalid,
            "{} offline: {report:?}",
            row.name
        );
        let hit = report.errors.iter().find(|e| e.check == row.check);
        assert!(
            hit.is_some(),
            "{} offline: expected a `{}` failure: {report:?}",
            row.name,
            row.check
        );
        if let Some(title) = row.title {
            assert_eq!(hit.unwrap().title, title, "{} offline", row.name);
        }
    }
}

/// A proof set may carry another party's proof (a notary's) beside the issuer's: each
/// must verify, and one must be the issuer's. With none of the issuer's, `issuer` fails.
#[tokio::test]
async fn a_proof_set_verifies_when_one_proof_is_the_issuers() {
    let server = TestServer::spawn().await;
    let key = offline_key().await;
    let issued = issue(
        &server,
        unsigned(&server.host_did(), json!({})),
        json!({"credentialStatus": false}),
    )
    .await;
    let mut bare = issued.clone();
    let issuer_proof = bare.as_object_mut().unwrap().remove("proof").unwrap();
    let notarised = key.sign_with(&bare, json!({})).await;
    let mut set = bare.clone();
    set["proof"] = json!([issuer_proof, notarised["proof"]]);
    let verify = |vc: Value| {
        let server = &server;
        async move {
            let resp = server
                .client
                .post(server.url("/credentials/verify"))
                .json(&json!({"verifiableCredential": vc}))
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };
    let (status, report) = verify(set).await;
    assert_eq!(status, 200, "{report}");
    // Only the notary's proof: the issuer signed nothing.
    let (status, report) = verify(notarised).await;
    assert_eq!(status, 400);
    assert_eq!(report["errors"][0]["check"], "issuer", "{report}");
}
