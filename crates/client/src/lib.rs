//! `sichat-client`: the client side of a Sichat sovereign individual system.
//!
//! It works with no server at all: it creates identities (`did:key`, `did:peer:2`) and
//! resolves DIDs offline (did:key, did:jwk, did:peer) or over the guarded HTTPS fetcher
//! (did:web). With a server it uses the server's resolver and admin API ([`server`]),
//! through the same wire types the server's handlers use (`sichat_core::api`). The
//! [`didcomm`] keeps the identities it messages as and packs/unpacks DIDComm v2 messages
//! with the same core code as the server's mediator.
//!
//! It verifies credentials and presentations **offline** ([`offline`]) from a trust
//! bundle ([`bundle`]) built while online ([`bundle_build`]): the server's verifier, from
//! `sichat-core`, fed with pinned DID documents and status lists, never the network.
//!
//! ```
//! use sichat_client::bundle::TrustBundle;
//! use sichat_client::offline::{OfflineVerifier, Verdict};
//!
//! # fn block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! // A bundle file, as `sichat-client bundle build` writes it (here: empty, since the
//! // credential's issuer is a did:key, which needs no pinned document).
//! let bundle = TrustBundle::load(br#"{"type": "SichatTrustBundle", "version": 1,
//!     "createdAt": "2026-01-01T00:00:00Z"}"#).unwrap();
//! let verifier = OfflineVerifier::builder(bundle)
//!     .max_status_age(std::time::Duration::from_secs(24 * 3600))
//!     .build();
//! // The W3C vc-di-eddsa test vector (Data Integrity EdDSA Cryptosuites, appendix A.1).
//! let credential: serde_json::Value = serde_json::from_str(include_str!(
//!     "../../../tests/vectors/vc-di-eddsa/eddsa-rdfc-2022/signedDataInt.json"
//! )).unwrap();
//! let report = block_on(verifier.verify_credential(&credential)).unwrap();
//! assert_eq!(report.verdict, Verdict::Valid, "{report:?}");
//! assert!(report.checks.contains(&"proof".to_string()));
//!
//! // One changed claim and the proof no longer verifies.
//! let mut tampered = credential.clone();
//! tampered["credentialSubject"]["alumniOf"] = "Another School".into();
//! let report = block_on(verifier.verify_credential(&tampered)).unwrap();
//! assert_eq!(report.verdict, Verdict::Invalid);
//! assert_eq!(report.errors[0].check, "proof");
//! ```
//!
//! Features: `net` (default, through `cli`) adds the server client, bundle building and
//! DIDComm identities kept in files; `cli` the `sichat-client` tool. With
//! `default-features = false` the crate is the offline verifier and local identities, and
//! builds for `wasm32-unknown-unknown`.

pub mod bundle;
#[cfg(feature = "net")]
pub mod bundle_build;
#[cfg(feature = "net")]
pub mod didcomm;
pub mod identity;
pub mod offline;
#[cfg(feature = "net")]
pub mod server;

#[cfg(feature = "net")]
use std::sync::Arc;

#[cfg(feature = "net")]
use sichat_core::SystemClock;
#[cfg(feature = "net")]
use sichat_core::did::web_fetch::{FetchPolicy, GuardedFetcher};
#[cfg(feature = "net")]
use sichat_core::did::{CachePolicy, DidResolver, Resolution, ResolveError, StandardResolver};
#[cfg(feature = "net")]
use sichat_core::id::Did;

#[cfg(feature = "net")]
/// A local resolver: offline methods in-process, did:web through the guarded fetcher,
/// documents cached per `policy`.
pub fn local_resolver(policy: CachePolicy) -> Result<StandardResolver, ResolveError> {
    let fetcher = Arc::new(GuardedFetcher::new(FetchPolicy::default())?);
    Ok(StandardResolver::with_cached_web(
        fetcher,
        Arc::new(SystemClock),
        policy,
    ))
}

#[cfg(feature = "net")]
/// Resolves a DID locally (no Sichat server involved).
///
/// ```
/// # tokio_test_block_on(async {
/// let r = sichat_client::resolve_locally("did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp").await.unwrap();
/// assert_eq!(r.document.id(), "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp");
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
/// # }
/// ```
pub async fn resolve_locally(did: &str) -> Result<Resolution, ResolveError> {
    let did = Did::parse(did)?;
    local_resolver(CachePolicy::default())?.resolve(&did).await
}
