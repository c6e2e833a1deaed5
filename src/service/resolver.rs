//! The server's resolver: its own did:web DIDs from the identity service (no network round
//! trip to itself, cached documents), everything else through the standard resolver
//! (offline methods computed; other did:web documents fetched with the guarded fetcher,
//! cached, one fetch per DID at a time, failures remembered briefly).

use std::sync::Arc;

use serde_json::Value;
use sichat_core::Clock;
use sichat_core::did::web::DidWebFetcher;
use sichat_core::did::{
    CachePolicy, DidResolver, Resolution, ResolutionOptions, ResolveError, StandardResolver,
};
use sichat_core::id::{Did, DidUrl};

use super::identity::IdentityService;

pub struct ServerResolver {
    identity: Arc<IdentityService>,
    remote: StandardResolver,
}

impl ServerResolver {
    pub fn new(
        identity: Arc<IdentityService>,
        fetcher: Arc<dyn DidWebFetcher>,
        clock: Arc<dyn Clock>,
        policy: CachePolicy,
    ) -> Self {
        Self {
            identity,
            remote: StandardResolver::with_cached_web(fetcher, clock, policy),
        }
    }

    /// Resolves with DID Resolution options (did:key `publicKeyFormat`).
    pub async fn resolve_with(
        &self,
        did: &Did,
        options: &ResolutionOptions,
    ) -> Result<Resolution, ResolveError> {
        options.key_format()?;
        if self.identity.is_own_namespace(did) {
            return self.resolve(did).await;
        }
        self.remote.resolve_with(did, options).await
    }

    /// DID URL dereferencing of a fragment (DID Resolution §Dereferencing): the resolved
    /// document's verification method or service with that fragment, and the resolution
    /// it came from. Both did:peer:2 key-id conventions find the same key.
    pub async fn dereference(
        &self,
        url: &DidUrl,
        options: &ResolutionOptions,
    ) -> Result<(Resolution, Value), ResolveError> {
        let resolution = self.resolve_with(&url.did, options).await?;
        let content = resolution
            .document
            .dereference(&url.fragment)
            .cloned()
            .ok_or_else(|| ResolveError::NotFound(url.to_string()))?;
        Ok((resolution, content))
    }
}

#[async_trait::async_trait]
impl DidResolver for ServerResolver {
    async fn resolve(&self, did: &Did) -> Result<Resolution, ResolveError> {
        if self.identity.is_own_namespace(did) {
            return self
                .identity
                .document(did)
                .await
                .map_err(|e| ResolveError::Internal(e.to_string()))?
                .map(|doc| doc.resolution.clone())
                .ok_or_else(|| ResolveError::NotFound(did.to_string()));
        }
        self.remote.resolve(did).await
    }
}
