//! Resolution cost of the offline DID methods (issue target: under 20 µs each).

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use sichat_core::did::StandardResolver;
use sichat_core::id::Did;

const DID_KEY_ED25519: &str = "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp";
const DID_KEY_P256: &str = "did:key:zDnaerx9CtbPJ1q36T5Ln5wYt3MQYeGRG5ehnPAmxcf5mDZpv";
const DID_KEY_X25519: &str = "did:key:z6LSeu9HkTHSfLLeUs2nnzUSNedgDUevfNQgQjQC23ZCit6F";
const DID_JWK: &str = "did:jwk:eyJjcnYiOiJQLTI1NiIsImt0eSI6IkVDIiwieCI6ImFjYklRaXVNczNpOF91c3pFakoydHBUdFJNNEVVM3l6OTFQSDZDZEgyVjAiLCJ5IjoiX0tjeUxqOXZXTXB0bm1LdG00NkdxRHo4d2Y3NEk1TEtncmwyR3pIM25TRSJ9";
const DID_PEER_0: &str = "did:peer:0z6MkqRYqQiSgvZQdnBytw86Qbs2ZWUkGv22od935YF4s8M7V";
const DID_PEER_2: &str = "did:peer:2.Ez6LSpSrLxbAhg2SHwKk7kwpsH7DM7QjFS5iK6qP87eViohud.Vz6MkqRYqQiSgvZQdnBytw86Qbs2ZWUkGv22od935YF4s8M7V.SeyJ0IjoiZG0iLCJzIjoiaHR0cHM6Ly9leGFtcGxlLmNvbS9lbmRwb2ludDEiLCJyIjpbImRpZDpleGFtcGxlOnNvbWVtZWRpYXRvciNzb21la2V5MSJdLCJhIjpbImRpZGNvbW0vdjIiLCJkaWRjb21tL2FpcDI7ZW52PXJmYzU4NyJdfQ";

fn resolve(c: &mut Criterion) {
    let mut group = c.benchmark_group("resolve");
    for (name, did) in [
        ("did_key_ed25519", DID_KEY_ED25519),
        ("did_key_p256", DID_KEY_P256),
        ("did_key_x25519", DID_KEY_X25519),
        ("did_jwk_p256", DID_JWK),
        ("did_peer_0", DID_PEER_0),
        ("did_peer_2", DID_PEER_2),
    ] {
        group.bench_function(name, |b| {
            // Parsing the DID is part of the cost, as on the HTTP path.
            b.iter(|| {
                let did = Did::parse(black_box(did)).unwrap();
                StandardResolver::resolve_offline(&did).unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, resolve);
criterion_main!(benches);
