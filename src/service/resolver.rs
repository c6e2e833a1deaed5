//! The server's resolver: its own did:web DIDs from the database (no network round trip
//! to itself), everything else through the standard resolver (offline methods computed,
//! other did:web documents fetched with the guarded fetcher and cached).

use std::sync::Arc;

use sichat_core::SystemClock;
use sichat_core::did::web_fetch::GuardedFetcher;
use sichat_core::did::{
    DidResolver, Resolution, ResolutionOptions, ResolveError, StandardResolver, parse_did,
};

use super::identity::IdentityService;

pub struct ServerResolver {
    identity: Arc<IdentityService>,
    remote: StandardResolver,
}

impl ServerResolver {
    pub fn new(
        identity: Arc<IdentityService>,
        allow_loopback: bool,
        cache_ttl_secs: u64,
    ) -> Result<Self, ResolveError> {
        let fetcher = Arc::new(GuardedFetcher::new(allow_loopback)?);
        let remote = StandardResolver::with_cached_web(
            fetcher,
            Arc::new(SystemClock),
            cache_ttl_secs,
            1_000,
        );
        Ok(Self { identity, remote })
    }

    /// Resolves with DID Resolution options (did:key `publicKeyFormat`).
    pub async fn resolve_with(
        &self,
        did: &str,
        options: &ResolutionOptions,
    ) -> Result<Resolution, ResolveError> {
        options.key_format()?;
        if self.identity.is_own_namespace(did) {
            return self.resolve(did).await;
        }
        self.remote.resolve_with(did, options).await
    }
}

#[async_trait::async_trait]
impl DidResolver for ServerResolver {
    async fn resolve(&self, did: &str) -> Result<Resolution, ResolveError> {
        parse_did(did)?;
        if self.identity.is_own_namespace(did) {
            return self
                .identity
                .resolve_local(did)
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "local DID lookup failed");
                    ResolveError::Fetch("local store unavailable".into())
                })?
                .ok_or_else(|| ResolveError::NotFound(did.to_owned()));
        }
        self.remote.resolve(did).await
    }
}
