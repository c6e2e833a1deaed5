//! A bounded, time-limited cache in front of any resolver. Only successful resolutions are
//! cached; an entry lives `ttl` milliseconds by the injected [`Clock`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::resolver::{DidResolver, Resolution, ResolveError};
use crate::clock::Clock;

pub struct CachingResolver<R> {
    inner: R,
    clock: Arc<dyn Clock>,
    ttl_millis: i64,
    capacity: usize,
    entries: Mutex<HashMap<String, (i64, Resolution)>>,
}

impl<R: DidResolver> CachingResolver<R> {
    pub fn new(inner: R, clock: Arc<dyn Clock>, ttl_millis: i64, capacity: usize) -> Self {
        Self {
            inner,
            clock,
            ttl_millis,
            capacity: capacity.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Drops every cached entry (e.g. after a local DID document changed).
    pub fn clear(&self) {
        if let Ok(mut e) = self.entries.lock() {
            e.clear();
        }
    }

    /// Drops one DID's entry.
    pub fn invalidate(&self, did: &str) {
        if let Ok(mut e) = self.entries.lock() {
            e.remove(did);
        }
    }
}

#[async_trait::async_trait]
impl<R: DidResolver> DidResolver for CachingResolver<R> {
    async fn resolve(&self, did: &str) -> Result<Resolution, ResolveError> {
        let now = self.clock.now_millis();
        if let Ok(entries) = self.entries.lock()
            && let Some((expires, hit)) = entries.get(did)
            && *expires > now
        {
            return Ok(hit.clone());
        }
        let resolved = self.inner.resolve(did).await?;
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= self.capacity {
                entries.retain(|_, (expires, _)| *expires > now);
                if entries.len() >= self.capacity {
                    // Still full of live entries: evict the one closest to expiry.
                    if let Some(oldest) = entries
                        .iter()
                        .min_by_key(|(_, (e, _))| *e)
                        .map(|(k, _)| k.clone())
                    {
                        entries.remove(&oldest);
                    }
                }
            }
            entries.insert(
                did.to_owned(),
                (now.saturating_add(self.ttl_millis), resolved.clone()),
            );
        }
        Ok(resolved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counting(AtomicUsize);

    #[async_trait::async_trait]
    impl DidResolver for Counting {
        async fn resolve(&self, did: &str) -> Result<Resolution, ResolveError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            crate::did::StandardResolver::resolve_offline(did)
        }
    }

    const DID: &str = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK";

    #[tokio::test]
    async fn cache_hits_until_ttl_then_refetches() {
        let clock = Arc::new(ManualClock::new(0));
        let cache = CachingResolver::new(Counting(AtomicUsize::new(0)), clock.clone(), 1000, 8);
        cache.resolve(DID).await.unwrap();
        cache.resolve(DID).await.unwrap();
        assert_eq!(cache.inner.0.load(Ordering::SeqCst), 1);
        clock.advance(1001);
        cache.resolve(DID).await.unwrap();
        assert_eq!(cache.inner.0.load(Ordering::SeqCst), 2);
        assert!(cache.resolve("did:key:bad").await.is_err());
        cache.invalidate(DID);
        cache.resolve(DID).await.unwrap();
        assert_eq!(cache.inner.0.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn cache_stays_within_capacity() {
        let clock = Arc::new(ManualClock::new(0));
        let cache = CachingResolver::new(Counting(AtomicUsize::new(0)), clock, 1000, 2);
        for _ in 0..3 {
            let did = crate::did::key::did_key(
                &crate::keys::SecretKey::generate(crate::keys::KeyType::Ed25519).public_key(),
            );
            cache.resolve(&did).await.unwrap();
        }
        assert_eq!(cache.entries.lock().unwrap().len(), 2);
    }
}
