//! Offline verification from a trust bundle (issue targets on a 2-core machine: verify
//! eddsa-rdfc-2022 ≤ 700 µs and vc+jwt ≤ 100 µs per credential, as the server's verifier;
//! loading a bundle of 1,000 DID documents and 100 status lists ≤ 50 ms).
//!
//! The credential is the server benchmark's: VC 2.0, ~2 KB, 54 canonical quads, two
//! Bitstring status entries (one with `statusMessage`); its issuer a did:web whose
//! document, and the status list, are pinned in the bundle.

use std::sync::Arc;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use chrono::{DateTime, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Map, Value};
use sichat_client::bundle::{PinnedDocument, PinnedStatusList, TrustBundle};
use sichat_client::identity::{Method, create};
use sichat_client::offline::{OfflineVerifier, Verdict};
use sichat_core::clock::ManualClock;
use sichat_core::did::{DocumentBuilder, Relationship};
use sichat_core::id::{Did, Owner};
use sichat_core::keys::{Kek, KeyService, KeyType, PublicKey};
use sichat_core::store::MemoryStore;
use sichat_core::vc::status::{ListCredential, StatusPurpose, encode_list};
use sichat_core::vc::{Canonicalizer, Cryptosuite, Issuer, IssuerKey, ProofFormat, VcVersion};

const NOW_MS: i64 = 1_750_000_000_000;

/// The benchmark credential (`bench/fixtures/degree-credential.json`, shared with the
/// client's offline benchmark) with its issuer and status list filled in.
fn credential(issuer: &str, list: &str) -> Map<String, Value> {
    let text = include_str!("../../../bench/fixtures/degree-credential.json")
        .replace("ISSUER_DID", issuer)
        .replace("STATUS_LIST_URL", list);
    serde_json::from_str(&text).expect("the fixture is a JSON object")
}

/// An issuer with a did:web document: its signer, key and document.
struct WebIssuer {
    issuer: Issuer,
    key: IssuerKey,
    document: Value,
}

fn web_issuer(rt: &tokio::runtime::Runtime, host: &str) -> WebIssuer {
    let clock = Arc::new(ManualClock::new(NOW_MS));
    let keys = Arc::new(KeyService::new(
        MemoryStore::new(),
        Kek::generate(),
        clock.clone(),
    ));
    let info = rt
        .block_on(keys.generate(&Owner::Server, KeyType::Ed25519))
        .unwrap();
    let did = Did::parse(&format!("did:web:{host}")).unwrap();
    let public = PublicKey::from_multibase(&info.public_key_multibase).unwrap();
    let document = DocumentBuilder::new(&did)
        .multikey(
            "key-1",
            &public,
            &[Relationship::AssertionMethod, Relationship::Authentication],
        )
        .build()
        .into_json();
    WebIssuer {
        issuer: Issuer::new(Canonicalizer::default(), keys, clock),
        key: IssuerKey {
            issuer: did.as_str().to_owned(),
            method: did.with_fragment("key-1"),
            key: info.id,
            key_type: KeyType::Ed25519,
        },
        document,
    }
}

fn signed_list(rt: &tokio::runtime::Runtime, issuer: &WebIssuer, url: &str) -> Value {
    let list = ListCredential {
        url,
        issuer: &issuer.key.issuer,
        purpose: StatusPurpose::Revocation,
        encoded_list: encode_list(131_072, [7, 99]),
        valid_from: "2025-01-01T00:00:00Z".into(),
        valid_until: "2035-01-01T00:00:00Z".into(),
        ttl_millis: 300_000,
    }
    .to_credential();
    rt.block_on(issuer.issuer.secure(
        list,
        VcVersion::V2,
        &issuer.key,
        ProofFormat::DataIntegrity(Cryptosuite::EddsaRdfc2022),
    ))
    .unwrap()
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(NOW_MS).unwrap()
}

fn pin_list(url: &str, credential: Value) -> PinnedStatusList {
    PinnedStatusList {
        url: url.to_owned(),
        credential,
        fetched_at: now(),
        valid_until: DateTime::parse_from_rfc3339("2035-01-01T00:00:00Z")
            .ok()
            .map(|t| t.with_timezone(&Utc)),
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let university = web_issuer(&rt, "university.example");
    let list_url = "https://university.example/status/1";
    let mut bundle = TrustBundle::new(now());
    bundle.did_documents.push(PinnedDocument {
        did: university.key.issuer.clone(),
        document: university.document.clone(),
        fetched_at: now(),
    });
    bundle
        .status_lists
        .push(pin_list(list_url, signed_list(&rt, &university, list_url)));
    let verifier = OfflineVerifier::builder(bundle.index().unwrap())
        .clock(Arc::new(ManualClock::new(NOW_MS)))
        .max_status_age(std::time::Duration::from_secs(86_400))
        .build();
    let unsigned = credential(&university.key.issuer, list_url);
    let bytes = serde_json::to_vec(&unsigned).unwrap().len();
    let mut group = c.benchmark_group(format!("offline_credential_{bytes}_bytes"));
    for (name, format) in [
        (
            "eddsa_rdfc_2022",
            ProofFormat::DataIntegrity(Cryptosuite::EddsaRdfc2022),
        ),
        ("vc_jwt", ProofFormat::VcJwt),
    ] {
        let signed = rt
            .block_on(university.issuer.secure(
                unsigned.clone(),
                VcVersion::V2,
                &university.key,
                format,
            ))
            .unwrap();
        let report = rt.block_on(verifier.verify_credential(&signed)).unwrap();
        assert_eq!(report.verdict, Verdict::Valid, "{report:?}");
        assert!(report.checks.iter().any(|c| c == "status"), "{report:?}");
        group.bench_function(format!("verify_{name}"), |b| {
            b.iter(|| rt.block_on(verifier.verify_credential(&signed)).unwrap())
        });
    }
    group.finish();

    // A bundle of 1,000 DID documents and 100 status lists, signed.
    let mut big = TrustBundle::new(now());
    for i in 0..1_000 {
        let host = format!("issuer{i}.example");
        let id = create(Method::Key, None);
        let (_, key) = id.signing_key().unwrap();
        let did = Did::parse(&format!("did:web:{host}")).unwrap();
        let document = DocumentBuilder::new(&did)
            .multikey("key-1", &key.public_key(), &[Relationship::AssertionMethod])
            .build()
            .into_json();
        big.did_documents.push(PinnedDocument {
            did: did.as_str().to_owned(),
            document,
            fetched_at: now(),
        });
    }
    for i in 0..100 {
        let url = format!("https://university.example/status/{i}");
        big.status_lists
            .push(pin_list(&url, signed_list(&rt, &university, &url)));
    }
    let signer = create(Method::Key, None);
    let (method, key) = signer.signing_key().unwrap();
    big.sign(method, key).unwrap();
    let file = serde_json::to_vec(&big).unwrap();
    eprintln!("the large bundle: {} bytes", file.len());
    assert!(TrustBundle::load(&file).unwrap().signer.is_some());
    c.bench_function("bundle_load_1000_documents_100_lists", |b| {
        b.iter(|| TrustBundle::load(&file).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
