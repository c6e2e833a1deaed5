//! The server's resolver: its own did:web DIDs from the database (no network round trip
//! to itself), everything else through the cached standard resolver with the guarded
//! did:web fetcher.

use std::sync::Arc;

use sichat_core::SystemClock;
use sichat_core::did::web_fetch::GuardedFetcher;
use sichat_core::did::{
    CachingResolver, DidResolver, Resolution, ResolutionOptions, ResolveError, StandardResolver,
    parse_did,
};

use super::identity::IdentityService;

pub struct ServerResolver {
    identity: Arc<IdentityService>,
    remote: CachingResolver<StandardResolver>,
}

impl ServerResolver {
    pub fn new(
        identity: Arc<IdentityService>,
        allow_loopback: bool,
        cache_ttl_secs: u64,
    ) -> Result<Self, ResolveError> {
        let fetcher = GuardedFetcher::new(allow_loopback)?;
        let ttl = i64::try_from(cache_ttl_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        let remote = CachingResolver::new(
            StandardResolver::with_web(Arc::new(fetcher)),
            Arc::new(SystemClock),
            ttl,
            1_000,
        );
        Ok(Self { identity, remote })
    }
}

impl ServerResolver {
    /// Resolves with DID Resolution options (did:key `publicKeyFormat`).
    pub async fn resolve_with(
        &self,
        did: &str,
        options: &ResolutionOptions,
    ) -> Result<Resolution, ResolveError> {
        if let Some(name) = options.public_key_format.as_deref() {
            // Checked for every method, so the answer does not depend on which DID it is.
            if sichat_core::did::key::KeyFormat::from_name(name).is_none() {
                return Err(ResolveError::UnsupportedPublicKeyType(
                    name.chars().take(64).collect(),
                ));
            }
            if parse_did(did)?.0 != "web" {
                return StandardResolver::resolve_offline_with(did, options);
            }
        }
        self.resolve(did).await
    }
}

#[async_trait::async_trait]
impl DidResolver for ServerResolver {
    async fn resolve(&self, did: &str) -> Result<Resolution, ResolveError> {
        let (method, _) = parse_did(did)?;
        if method != "web" {
            // Microseconds to compute: caching them would only let callers fill memory.
            return StandardResolver::resolve_offline(did);
        }
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
