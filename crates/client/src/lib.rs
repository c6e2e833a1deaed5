//! `sichat-client`: the client side of a Sichat sovereign individual system.
//!
//! It works with no server at all: it creates identities (`did:key`, `did:peer:2`) and
//! resolves DIDs offline (did:key, did:jwk, did:peer) or over the guarded HTTPS fetcher
//! (did:web). With a server it uses the server's resolver and admin API ([`server`]),
//! through the same wire types the server's handlers use (`sichat_core::api`). The
//! [`didcomm`] keeps the identities it messages as and packs/unpacks DIDComm v2 messages
//! with the same core code as the server's mediator. The wallet and offline credential
//! verification arrive on top of this.
//!
//! The command-line tool is behind the default `cli` feature; a library user who wants
//! the library alone sets `default-features = false`.

pub mod didcomm;
pub mod identity;
pub mod server;

use std::sync::Arc;

use sichat_core::SystemClock;
use sichat_core::did::web_fetch::{FetchPolicy, GuardedFetcher};
use sichat_core::did::{CachePolicy, DidResolver, Resolution, ResolveError, StandardResolver};
use sichat_core::id::Did;

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
