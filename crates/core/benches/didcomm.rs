//! Packing and unpacking one DIDComm message in-process (issue 14 targets on a 2-core
//! machine: authcrypt pack ≤ 200 µs and unpack ≤ 150 µs per op, X25519). Two did:peer:2
//! parties (X25519 + Ed25519, resolved offline), keys in a key service over memory (each
//! operation opens the sealed key, as the server does), a ~1 KiB basic message.

use std::sync::Arc;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use sichat_core::clock::ManualClock;
use sichat_core::did::StandardResolver;
use sichat_core::did::peer::{Purpose, create_peer2};
use sichat_core::didcomm::jwe::ContentEnc;
use sichat_core::didcomm::{Message, OwnerKeys, PackOptions, Packer};
use sichat_core::id::{Did, Owner};
use sichat_core::keys::{Kek, KeyService, KeyType, PublicKey};
use sichat_core::store::MemoryStore;

fn party(rt: &tokio::runtime::Runtime) -> (Packer, Did) {
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let keys = Arc::new(KeyService::new(
        MemoryStore::new(),
        Kek::generate(),
        clock.clone(),
    ));
    let mut public = Vec::new();
    for t in [KeyType::X25519, KeyType::Ed25519] {
        let info = rt.block_on(keys.generate(&Owner::Server, t)).unwrap();
        public.push(PublicKey::from_multibase(&info.public_key_multibase).unwrap());
    }
    let did = create_peer2(
        &[
            (Purpose::Encryption, &public[0]),
            (Purpose::Verification, &public[1]),
        ],
        &[],
    );
    let packer = Packer::new(
        Arc::new(StandardResolver::offline()),
        Arc::new(OwnerKeys::new(keys, Owner::Server)),
        clock,
    );
    (packer, did)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (alice, a) = party(&rt);
    let (bob, b) = party(&rt);
    let mut m = Message::new(
        "https://didcomm.org/basicmessage/2.0/message",
        json!({"content": "x".repeat(900)}),
    );
    m.from = Some(a.to_string());
    m.to = Some(vec![b.to_string()]);
    let auth = PackOptions::default();
    let anon = PackOptions {
        enc_anon: ContentEnc::A256CbcHs512,
        ..PackOptions::default()
    };
    let mut g = c.benchmark_group("didcomm");
    g.bench_function("authcrypt pack (X25519)", |bench| {
        bench.iter(|| {
            rt.block_on(alice.pack_encrypted(&m, b.as_str(), Some(a.as_str()), None, auth))
                .unwrap()
        })
    });
    let packed = rt
        .block_on(alice.pack_encrypted(&m, b.as_str(), Some(a.as_str()), None, auth))
        .unwrap()
        .packed;
    g.bench_function("authcrypt unpack (X25519)", |bench| {
        bench.iter(|| rt.block_on(bob.unpack(packed.as_bytes())).unwrap())
    });
    let mut anonymous = m.clone();
    anonymous.from = None;
    g.bench_function("anoncrypt pack (X25519, A256CBC-HS512)", |bench| {
        bench.iter(|| {
            rt.block_on(alice.pack_encrypted(&anonymous, b.as_str(), None, None, anon))
                .unwrap()
        })
    });
    let packed = rt
        .block_on(alice.pack_encrypted(&anonymous, b.as_str(), None, None, anon))
        .unwrap()
        .packed;
    g.bench_function("anoncrypt unpack (X25519, A256CBC-HS512)", |bench| {
        bench.iter(|| rt.block_on(bob.unpack(packed.as_bytes())).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
