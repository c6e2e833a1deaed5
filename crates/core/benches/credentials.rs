//! Issuing and verifying one credential in-process (issue 12 targets on a 2-core machine:
//! eddsa-rdfc-2022 issue and verify ≤ 700 µs each, vc+jwt issue and verify ≤ 100 µs).
//! The credential: VC 2.0, ~2 KB, 54 canonical quads, with two Bitstring status entries
//! (one with `statusMessage`) on a list the verifier checks (served from memory, as from a
//! cache or a bundle); issuer and key a did:key (offline resolution), keys in memory.

use std::sync::Arc;

/// The allocator the server binary uses (most of JSON-LD processing is allocation).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Map, Value};
use sichat_core::clock::ManualClock;
use sichat_core::did::StandardResolver;
use sichat_core::id::Owner;
use sichat_core::keys::{Kek, KeyService, KeyType};
use sichat_core::store::MemoryStore;
use sichat_core::vc::status::{ListCredential, SourceError, StatusListSource, StatusPurpose};
use sichat_core::vc::{
    Canonicalizer, Cryptosuite, DidMethods, Issuer, IssuerKey, ProofFormat, VcVersion, Verifier,
    VerifyOptions,
};

/// The benchmark credential (`bench/fixtures/degree-credential.json`, shared with the
/// client's offline benchmark) with its issuer and status list filled in.
fn credential(issuer: &str, list: &str) -> Map<String, Value> {
    let text = include_str!("../../../bench/fixtures/degree-credential.json")
        .replace("ISSUER_DID", issuer)
        .replace("STATUS_LIST_URL", list);
    serde_json::from_str(&text).expect("the fixture is a JSON object")
}

const LIST: &str = "https://university.example/status/1";

/// Serves the one status list, as a verifier's source would from a cache or a bundle.
struct OneList(Value);

#[async_trait::async_trait]
impl StatusListSource for OneList {
    async fn fetch(&self, _url: &str) -> Result<Value, SourceError> {
        Ok(self.0.clone())
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let keys = Arc::new(KeyService::new(
        MemoryStore::new(),
        Kek::generate(),
        Arc::new(ManualClock::new(1_750_000_000_000)),
    ));
    let info = rt
        .block_on(keys.generate(&Owner::Server, KeyType::Ed25519))
        .unwrap();
    let issuer_did = info
        .did_key
        .clone()
        .expect("an Ed25519 key has a did:key")
        .to_string();
    let key = IssuerKey {
        issuer: issuer_did.clone(),
        method: info
            .did_key
            .clone()
            .expect("an Ed25519 key has a did:key")
            .with_fragment(&info.public_key_multibase),
        key: info.id.clone(),
        key_type: KeyType::Ed25519,
    };
    let clock = Arc::new(ManualClock::new(1_750_000_000_000));
    let issuer = Issuer::new(Canonicalizer::default(), keys.clone(), clock.clone());
    let list = ListCredential {
        url: LIST,
        issuer: &issuer_did,
        purpose: StatusPurpose::Revocation,
        encoded_list: sichat_core::vc::status::encode_list(131_072, [7, 99]),
        valid_from: "2025-01-01T00:00:00Z".into(),
        valid_until: "2035-01-01T00:00:00Z".into(),
        ttl_millis: 300_000,
    }
    .to_credential();
    let list = rt
        .block_on(issuer.secure(
            list,
            VcVersion::V2,
            &key,
            ProofFormat::DataIntegrity(Cryptosuite::EddsaRdfc2022),
        ))
        .unwrap();
    let verifier = Verifier::new(
        Canonicalizer::default(),
        Arc::new(DidMethods(Arc::new(StandardResolver::offline()))),
        clock,
        std::time::Duration::from_secs(300),
    )
    .with_status_source(Arc::new(OneList(list)));
    let unsigned = credential(&issuer_did, LIST);
    let bytes = serde_json::to_vec(&unsigned).unwrap().len();
    let quads = rt
        .block_on(Canonicalizer::default().canonicalize(&Value::Object(unsigned.clone())))
        .unwrap()
        .len();
    eprintln!("the credential: {bytes} bytes of JSON, {quads} canonical quads");
    let mut group = c.benchmark_group(format!("credential_{bytes}_bytes"));
    for (name, format) in [
        (
            "eddsa_rdfc_2022",
            ProofFormat::DataIntegrity(Cryptosuite::EddsaRdfc2022),
        ),
        ("vc_jwt", ProofFormat::VcJwt),
    ] {
        let signed = rt
            .block_on(issuer.secure(unsigned.clone(), VcVersion::V2, &key, format))
            .unwrap();
        let report = rt
            .block_on(verifier.verify_credential(&signed, &VerifyOptions::default()))
            .unwrap();
        assert!(report.verified, "{report:?}");
        assert!(report.checks.iter().any(|c| c == "status"), "{report:?}");
        group.bench_function(format!("issue_{name}"), |b| {
            b.iter(|| {
                rt.block_on(issuer.secure(unsigned.clone(), VcVersion::V2, &key, format))
                    .unwrap()
            })
        });
        group.bench_function(format!("verify_{name}"), |b| {
            b.iter(|| {
                rt.block_on(verifier.verify_credential(&signed, &VerifyOptions::default()))
                    .unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
