//! Resolves DIDs offline with `sichat-core` (no server, no network):
//! `cargo run --example resolve_did -- did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp`

use sichat_core::did::StandardResolver;
use sichat_core::id::Did;

fn main() -> anyhow::Result<()> {
    let dids: Vec<String> = std::env::args().skip(1).collect();
    let dids = if dids.is_empty() {
        vec![
            "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp".to_owned(),
            "did:peer:0z6MkqRYqQiSgvZQdnBytw86Qbs2ZWUkGv22od935YF4s8M7V".to_owned(),
        ]
    } else {
        dids
    };
    for did in dids {
        let resolution = StandardResolver::resolve_offline(&Did::parse(&did)?)?;
        println!(
            "{}",
            serde_json::to_string_pretty(&resolution.to_universal_resolver_json())?
        );
    }
    Ok(())
}
