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
use sichat_core::did::{CachingResolver, DidResolver, Resolution, ResolveError, StandardResolver};

/// A local resolver: offline methods in-process, did:web through the guarded fetcher,
/// results cached for `ttl_secs`.
pub fn local_resolver(ttl_secs: u64) -> Result<impl DidResolver, ResolveError> {
    let fetcher = GuardedFetcher::new(false)?;
    let ttl = i64::try_from(ttl_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    Ok(CachingResolver::new(
        StandardResolver::with_web(Arc::new(fetcher)),
        Arc::new(SystemClock),
        ttl,
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
