//! The W3C Data Integrity cryptosuite vectors (VC-DI-EdDSA and VC-DI-ECDSA appendices) and
//! the VC-JOSE-COSE test suite's inputs, reproduced byte for byte; see each directory's
//! SOURCE.md in tests/vectors/.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Map, Value, json};
use sichat_core::clock::ManualClock;
use sichat_core::did::{Relationship, StandardResolver};
use sichat_core::id::{KeyId, Owner};
use sichat_core::keys::{Kek, KeyService, PublicKey};
use sichat_core::store::MemoryStore;
use sichat_core::vc::data_integrity::{self, hash_input};
use sichat_core::vc::{Canonicalizer, DidMethods, StaticMethods, Verifier, VerifyOptions};

fn path(p: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(p)
}

fn text(p: &str) -> String {
    std::fs::read_to_string(path(p)).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn json_file(p: &str) -> Map<String, Value> {
    serde_json::from_str::<Value>(&text(p))
        .unwrap()
        .as_object()
        .unwrap()
        .clone()
}

/// A key service holding the vector's key pair (multibase secret: multicodec prefix +
/// 32 bytes), and the key's id.
async fn vector_key(
    public_multibase: &str,
    secret_multibase: &str,
) -> (Arc<KeyService<MemoryStore>>, KeyId) {
    let public = PublicKey::from_multibase(public_multibase).unwrap();
    let (_, secret) = multibase::decode(secret_multibase).unwrap();
    let mut jwk = public.to_jwk_value();
    jwk["d"] = json!(B64.encode(&secret[2..]));
    // 2023-02-24T23:36:38Z, the vectors' `created`.
    let keys = Arc::new(KeyService::new(
        MemoryStore::new(),
        Kek::generate(),
        Arc::new(ManualClock::new(1_677_281_798_000)),
    ));
    let info = keys.import_jwk(&Owner::Server, &jwk).await.unwrap();
    assert_eq!(info.public_key_multibase, public_multibase);
    (keys, info.id)
}

/// The vetted contexts plus the one the `employ/` vectors use.
fn canon() -> Canonicalizer {
    let contexts = sichat_core::contexts::Contexts::vetted()
        .with_context(
            "https://w3id.org/citizenship/v4rc1",
            &text("contexts/citizenship-v4rc1.jsonld"),
        )
        .unwrap();
    Canonicalizer::new(contexts, Default::default())
}

fn verifier(at_millis: i64) -> Verifier {
    Verifier::new(
        canon(),
        Arc::new(DidMethods(Arc::new(StandardResolver::offline()))),
        Arc::new(ManualClock::new(at_millis)),
        std::time::Duration::from_secs(300),
    )
}

struct SuiteVector {
    dir: &'static str,
    unsigned: &'static str,
    suffix: &'static str,
    public: &'static str,
    secret: &'static str,
}

async fn reproduce(v: &SuiteVector) {
    let file = |name: &str| format!("{}/{name}{}", v.dir, v.suffix);
    let unsigned = json_file(v.unsigned);
    let mut options = json_file(&format!("{}.json", file("proofConfig")));
    options.remove("@context");
    let canon = canon();

    // Every intermediate value of the proof.
    let input = hash_input(&canon, &unsigned, &options).await.unwrap();
    assert_eq!(
        input.canonical_document.concat(),
        text(&format!("{}.txt", file("canonDoc"))),
        "{}",
        v.dir
    );
    assert_eq!(
        input.canonical_proof_config.concat(),
        text(&format!("{}.txt", file("proofCanon"))),
        "{}",
        v.dir
    );
    assert_eq!(
        hex::encode(&input.hash_data),
        text(&format!("{}.txt", file("combinedHash")))
    );

    // The signature, through the signing seam, and the signed credential.
    let (keys, key) = vector_key(v.public, v.secret).await;
    let proof = data_integrity::create_proof(&canon, &unsigned, options, keys.as_ref(), &key)
        .await
        .unwrap();
    assert_eq!(
        proof["proofValue"],
        text(&format!("{}.txt", file("sigBTC58"))),
        "{}",
        v.dir
    );
    let mut signed = unsigned.clone();
    signed.insert("proof".into(), Value::Object(proof));
    let expected = json_file(&format!("{}.json", file("signed")));
    assert_eq!(
        Value::Object(signed.clone()),
        Value::Object(expected.clone())
    );

    // The published signed credential verifies; the issuer is not a DID (a warning).
    let report = verifier(1_700_000_000_000)
        .verify_credential(&Value::Object(expected.clone()), &VerifyOptions::default())
        .await
        .unwrap();
    for check in ["proof", "proofPurpose"] {
        assert!(
            report.checks.iter().any(|c| c == check),
            "{check}: {report:?}"
        );
    }
    if v.dir.ends_with("employ") {
        // The `employ/` credentials name a did:key issuer whose key did not sign them:
        // the signature is good, the issuer check fails (and only it).
        assert!(!report.verified);
        let failed: Vec<&str> = report.errors.iter().map(|e| e.check.as_str()).collect();
        assert_eq!(failed, ["issuer"], "{report:?}");
    } else {
        assert!(report.verified, "{}: {report:?}", v.dir);
    }

    // One changed letter in the subject breaks it.
    let mut tampered = expected;
    tampered["credentialSubject"]["alumniOf"] = json!("The School of Exampler");
    if tampered["credentialSubject"].get("alumniOf").is_some()
        && v.unsigned.ends_with("unsigned.json")
    {
        let report = verifier(1_700_000_000_000)
            .verify_credential(&Value::Object(tampered), &VerifyOptions::default())
            .await
            .unwrap();
        assert!(!report.verified);
        assert_eq!(report.errors[0].check, "proof");
    }
}

#[tokio::test]
async fn eddsa_rdfc_2022_vectors_reproduce_exactly() {
    for (dir, unsigned) in [
        ("vc-di-eddsa/eddsa-rdfc-2022", "vc-di-eddsa/unsigned.json"),
        (
            "vc-di-eddsa/eddsa-rdfc-2022/employ",
            "vc-di-eddsa/employmentAuth.json",
        ),
    ] {
        reproduce(&SuiteVector {
            dir,
            unsigned,
            suffix: "DataInt",
            public: "z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2",
            secret: "z3u2en7t5LR2WtQH5PfFqMqwVHBeXouLzo6haApm8XHqvjxq",
        })
        .await;
    }
}

/// The vectors are signed with RFC 6979 and not normalised to low S (the main vector's S
/// is high): RustCrypto's P-256 signer makes the same bytes.
#[tokio::test]
async fn ecdsa_rdfc_2019_p256_vectors_reproduce_exactly() {
    for (dir, unsigned) in [
        (
            "vc-di-ecdsa/ecdsa-rdfc-2019-p256",
            "vc-di-ecdsa/unsigned.json",
        ),
        (
            "vc-di-ecdsa/ecdsa-rdfc-2019-p256/employ",
            "vc-di-ecdsa/employmentAuth.json",
        ),
    ] {
        reproduce(&SuiteVector {
            dir,
            unsigned,
            suffix: "ECDSAP256",
            public: "zDnaepBuvsQ8cpsWrVKw8fbpGpvPeNSjVPTWoq6cRqaYzBKVP",
            secret: "z42twTcNeSYcnqg1FLuSFs2bsGH3ZqbRHFmvS9XMsYhjxvHN",
        })
        .await;
    }
}

/// The VC-JOSE-COSE test suite's JOSE inputs (tests/test-mapping.js gives the expected
/// outcome and the key each is checked with).
#[tokio::test]
async fn vc_jose_cose_suite_inputs_verify_as_the_suite_expects() {
    let mut methods = StaticMethods::default();
    let mut kids = std::collections::HashMap::new();
    for file in ["vm-p256.json", "vm-ed25519.json"] {
        let vm = Value::Object(json_file(&format!("vc-jose-cose/input/{file}")));
        // The suite's JWS name keys by JWK thumbprint; the issuer is the controller.
        let kid = vm["publicKeyJwk"]["kid"].as_str().unwrap().to_owned();
        let controller = vm["controller"].as_str().unwrap();
        let mut by_kid = vm.clone();
        by_kid["id"] = json!(format!("{controller}#{kid}"));
        methods
            .insert(&by_kid, &[Relationship::AssertionMethod])
            .unwrap();
        kids.insert(file, kid);
    }
    let verifier = Verifier::new(
        Canonicalizer::default(),
        Arc::new(methods),
        Arc::new(ManualClock::new(1_700_000_000_000)),
        std::time::Duration::from_secs(300),
    );
    let cases = [
        ("credential-jose-minimal.txt", true),
        ("credential-issuer-match-signed.txt", true),
        ("credential-jose-bad-signature.txt", false),
        ("credential-jose-bad-media-type.txt", false),
        ("credential-jose-vc-vp-claims.txt", false),
        // Signed with P-521, which Sichat does not verify.
        ("credential-jose-unknown-extensions.txt", false),
    ];
    for (file, expected) in cases {
        let jws = text(&format!("vc-jose-cose/input/{file}"));
        let envelope =
            sichat_core::vc::jose::envelope(jws.trim(), sichat_core::vc::jose::Secured::Credential);
        let report = verifier
            .verify_credential(&envelope, &VerifyOptions::default())
            .await
            .unwrap();
        assert_eq!(report.verified, expected, "{file}: {report:?}");
    }
}

/// Cross-implementation vectors made with Digital Bazaar's JavaScript libraries (jsonld.js,
/// rdf-canonize, the eddsa/ecdsa cryptosuites; tests/vectors/js-interop/SOURCE.md): a
/// ~2 KB credential with two status entries (one with `statusSize` and `statusMessage`),
/// non-ASCII text, an integer and a double. The canonical N-Quads match byte for byte, the
/// Ed25519 proof is the same bytes, and both JavaScript proofs verify here.
#[tokio::test]
async fn javascript_data_integrity_vectors_reproduce_and_verify() {
    let canon = canon();
    for (input, nquads) in [
        ("js-interop/credential.json", "js-interop/credential.nq"),
        (
            "js-interop/credential-ecdsa.json",
            "js-interop/credential-ecdsa.nq",
        ),
    ] {
        let doc = Value::Object(json_file(input));
        let lines = canon.canonicalize(&doc).await.unwrap();
        assert_eq!(lines.concat(), text(nquads), "{input}");
    }

    // Signing the same credential with the same key at the same time gives the same proof.
    let unsigned = json_file("js-interop/credential.json");
    let expected = json_file("js-interop/signed-eddsa.json");
    let mut options = expected["proof"].as_object().unwrap().clone();
    options.remove("proofValue");
    let input = hash_input(&canon, &unsigned, &options).await.unwrap();
    assert_eq!(
        input.canonical_proof_config.concat(),
        text("js-interop/eddsa-proof-config.nq")
    );
    let (keys, key) = vector_key(
        "z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2",
        "z3u2en7t5LR2WtQH5PfFqMqwVHBeXouLzo6haApm8XHqvjxq",
    )
    .await;
    let proof = data_integrity::create_proof(&canon, &unsigned, options, keys.as_ref(), &key)
        .await
        .unwrap();
    let mut signed = unsigned.clone();
    signed.insert("proof".into(), Value::Object(proof));
    assert_eq!(Value::Object(signed), Value::Object(expected));

    // Both JavaScript proofs verify here (the ECDSA one has a high S on purpose). No
    // status source is configured: the status entries are reported as not checked.
    for file in [
        "js-interop/signed-eddsa.json",
        "js-interop/signed-ecdsa.json",
    ] {
        let vc = Value::Object(json_file(file));
        let report = verifier(1_700_000_000_000)
            .verify_credential(&vc, &VerifyOptions::default())
            .await
            .unwrap();
        assert!(report.verified, "{file}: {report:?}");
        assert!(
            report.warnings.iter().any(|w| w.check == "status"),
            "{report:?}"
        );
        let mut tampered = vc.clone();
        tampered["credentialStatus"][1]["statusMessage"][2]["message"] = json!("accepted");
        let report = verifier(1_700_000_000_000)
            .verify_credential(&tampered, &VerifyOptions::default())
            .await
            .unwrap();
        assert!(!report.verified, "{file}");
        assert_eq!(report.errors[0].check, "proof");
    }
}

/// ssi (0.16), a third implementation, verifies the same credential (its own JSON-LD
/// processing, canonicalization and did:key resolution): the JavaScript Ed25519 proof,
/// which is byte for byte the one Sichat makes, and the JavaScript P-256 one.
#[tokio::test]
async fn ssi_verifies_the_cross_implementation_credentials() {
    use ssi::claims::VerificationParameters;
    use ssi::claims::data_integrity::AnyDataIntegrity;
    use ssi::dids::{DIDKey, VerificationMethodDIDResolver};
    let params = VerificationParameters::from_resolver(VerificationMethodDIDResolver::<
        _,
        ssi::verification_methods::AnyMethod,
    >::new(DIDKey));
    for file in [
        "js-interop/signed-eddsa.json",
        "js-interop/signed-ecdsa.json",
    ] {
        let vc: AnyDataIntegrity<ssi::claims::vc::AnyJsonCredential> =
            ssi::claims::data_integrity::from_json_str(&text(file)).unwrap();
        let outcome = vc.verify(&params).await.unwrap();
        assert!(outcome.is_ok(), "{file}: {outcome:?}");
    }
}

/// VC 1.1-era suites, verified (never issued): the VC-DI-EdDSA appendix's
/// Ed25519Signature2020 vector (same hashing as eddsa-rdfc-2022: every intermediate value
/// reproduces), and the JsonWebSignature2020 draft's `vc_0` (a detached EdDSA JWS).
#[tokio::test]
async fn legacy_ed25519_signature_2020_and_json_web_signature_2020_verify() {
    let canon = canon();
    let signed = json_file("ed25519-signature-2020/signedEdSig.json");
    let mut unsigned = signed.clone();
    unsigned.remove("proof");
    let config = json_file("ed25519-signature-2020/proofConfigEdSig.json");
    let input = hash_input(&canon, &unsigned, &config).await.unwrap();
    assert_eq!(
        input.canonical_document.concat(),
        text("ed25519-signature-2020/canonDocEdSig.txt")
    );
    assert_eq!(
        input.canonical_proof_config.concat(),
        text("ed25519-signature-2020/proofCanonEdSig.txt")
    );
    assert_eq!(
        hex::encode(&input.hash_data),
        text("ed25519-signature-2020/combinedHashEdSig.txt")
    );
    assert_eq!(
        signed["proof"]["proofValue"],
        text("ed25519-signature-2020/sigBTC58EdSig.txt")
    );
    let report = verifier(1_700_000_000_000)
        .verify_credential(&Value::Object(signed.clone()), &VerifyOptions::default())
        .await
        .unwrap();
    assert!(report.verified, "{report:?}");
    let mut tampered = signed;
    tampered["credentialSubject"]["alumniOf"] = json!("The School of Exampler");
    let report = verifier(1_700_000_000_000)
        .verify_credential(&Value::Object(tampered), &VerifyOptions::default())
        .await
        .unwrap();
    assert_eq!(report.errors[0].check, "proof", "{report:?}");

    let mut methods = StaticMethods::default();
    methods
        .insert(
            &Value::Object(json_file("jws-2020/issuer_0-key.json")),
            &[Relationship::AssertionMethod],
        )
        .unwrap();
    let jws_verifier = Verifier::new(
        canon.clone(),
        Arc::new(methods),
        Arc::new(ManualClock::new(1_700_000_000_000)),
        std::time::Duration::from_secs(300),
    );
    let vc = Value::Object(json_file("jws-2020/vc_0.json"));
    let report = jws_verifier
        .verify_credential(&vc, &VerifyOptions::default())
        .await
        .unwrap();
    assert!(report.verified, "{report:?}");
    // The same signature under another header (alg none, HS256, b64 true) fails.
    let jws = vc["proof"]["jws"].as_str().unwrap();
    let signature = jws.rsplit('.').next().unwrap();
    for header in [
        json!({"alg": "none", "b64": false, "crit": ["b64"]}),
        json!({"alg": "HS256", "b64": false, "crit": ["b64"]}),
        json!({"alg": "EdDSA"}),
        json!({"alg": "ES256", "b64": false, "crit": ["b64"]}),
    ] {
        let mut forged = vc.clone();
        forged["proof"]["jws"] = json!(format!("{}..{signature}", B64.encode(header.to_string())));
        let report = jws_verifier
            .verify_credential(&forged, &VerifyOptions::default())
            .await
            .unwrap();
        assert!(!report.verified, "{header}");
        assert_eq!(report.errors[0].check, "proof", "{header}: {report:?}");
    }
}
