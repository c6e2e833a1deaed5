//! `sichat-client`: the client side of a Sichat sovereign individual system.
//!
//! It works with no server at all: it creates identities (`did:key`, `did:peer:2`) and
//! resolves DIDs offline (did:key, did:jwk, did:peer) or over the guarded HTTPS fetcher
//! (did:web). With a server it asks that server's resolver. The wallet, offline credential
//! verification and DIDComm arrive on top of this in later versions.

pub mod identity;
pub mod server;

use std::sync::Arc;

use sichat_core::SystemClock;
use sichat_core::did::web_fetch::GuardedFetcher;
use sichat_core::did::{DidResolver, Resolution, ResolveError, StandardResolver};

/// A local resolver: offline methods in-process, did:web through the guarded fetcher,
/// documents cached for `ttl_secs`.
pub fn local_resolver(ttl_secs: u64) -> Result<StandardResolver, ResolveError> {
    let fetcher = Arc::new(GuardedFetcher::new(false)?);
    Ok(StandardResolver::with_cached_web(
        fetcher,
        Arc::new(SystemClock),
        ttl_secs,
        1024,
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
    local_resolver(300)?.resolve(did).await
}
