//! A bounded, time-limited cache in front of any resolver, by the injected [`Clock`]:
//! documents live `ttl`, failures `negative_ttl` (so a flood of lookups of one dead DID
//! costs one fetch), and concurrent resolutions of one DID share a single fetch
//! (single-flight). "Busy" refusals are never cached: they say nothing about the DID.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared, WeakShared};

use super::resolver::{DidResolver, Resolution, ResolveError};
use crate::clock::Clock;
use crate::id::Did;

/// How long results are kept, and how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachePolicy {
    pub ttl_secs: u64,
    pub negative_ttl_secs: u64,
    pub capacity: usize,
}

impl Default for CachePolicy {
    fn default() -> Self {
        Self {
            ttl_secs: 300,
            negative_ttl_secs: 30,
            capacity: 1_000,
        }
    }
}

type Outcome = Result<Resolution, ResolveError>;
type Flight = Shared<BoxFuture<'static, Outcome>>;

struct Entries {
    done: HashMap<Did, (i64, Outcome)>,
    /// Weak: when every caller waiting on a flight has gone (cancelled requests), the flight
    /// is dropped and the next caller starts a new one.
    in_flight: HashMap<Did, WeakShared<BoxFuture<'static, Outcome>>>,
}

pub struct CachingResolver<R> {
    inner: Arc<R>,
    clock: Arc<dyn Clock>,
    ttl_millis: i64,
    negative_ttl_millis: i64,
    capacity: usize,
    entries: Arc<Mutex<Entries>>,
}

fn millis(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
}

impl<R: DidResolver + 'static> CachingResolver<R> {
    pub fn new(inner: R, clock: Arc<dyn Clock>, policy: CachePolicy) -> Self {
        Self {
            inner: Arc::new(inner),
            clock,
            ttl_millis: millis(policy.ttl_secs),
            negative_ttl_millis: millis(policy.negative_ttl_secs),
            capacity: policy.capacity.max(1),
            entries: Arc::new(Mutex::new(Entries {
                done: HashMap::new(),
                in_flight: HashMap::new(),
            })),
        }
    }

    /// Drops every cached entry (e.g. after a local DID document changed).
    pub fn clear(&self) {
        if let Ok(mut e) = self.entries.lock() {
            e.done.clear();
        }
    }

    /// Drops one DID's entry.
    pub fn invalidate(&self, did: &Did) {
        if let Ok(mut e) = self.entries.lock() {
            e.done.remove(did);
        }
    }

    /// The finished result for `did`, or the flight to join (started here if none).
    fn lookup(&self, did: &Did) -> Result<Outcome, Flight> {
        let now = self.clock.now_millis();
        let Ok(mut entries) = self.entries.lock() else {
            // A poisoned lock only loses caching: resolve directly.
            let (inner, did) = (self.inner.clone(), did.clone());
            return Err(async move { inner.resolve(&did).await }.boxed().shared());
        };
        if let Some((expires, outcome)) = entries.done.get(did)
            && *expires > now
        {
            return Ok(outcome.clone());
        }
        if let Some(flight) = entries.in_flight.get(did).and_then(WeakShared::upgrade) {
            return Err(flight);
        }
        if entries.in_flight.len() >= self.capacity {
            entries.in_flight.retain(|_, f| f.upgrade().is_some());
        }
        let (inner, key, store) = (self.inner.clone(), did.clone(), self.entries.clone());
        let (clock, ttl, negative_ttl, capacity) = (
            self.clock.clone(),
            self.ttl_millis,
            self.negative_ttl_millis,
            self.capacity,
        );
        let flight = async move {
            let outcome = inner.resolve(&key).await;
            if let Ok(mut entries) = store.lock() {
                entries.in_flight.remove(&key);
                let keep = match &outcome {
                    Ok(_) => Some(ttl),
                    Err(ResolveError::Busy(_)) => None,
                    Err(_) => Some(negative_ttl),
                };
                if let Some(keep) = keep.filter(|k| *k > 0) {
                    let now = clock.now_millis();
                    make_room(&mut entries.done, capacity, now);
                    entries
                        .done
                        .insert(key, (now.saturating_add(keep), outcome.clone()));
                }
            }
            outcome
        }
        .boxed()
        .shared();
        if let Some(weak) = flight.downgrade() {
            entries.in_flight.insert(did.clone(), weak);
        }
        Err(flight)
    }
}

/// Frees one slot when `done` is full: expired entries first, else the one closest to expiry.
fn make_room(done: &mut HashMap<Did, (i64, Outcome)>, capacity: usize, now: i64) {
    if done.len() < capacity {
        return;
    }
    done.retain(|_, (expires, _)| *expires > now);
    if done.len() >= capacity
        && let Some(oldest) = done
            .iter()
            .min_by_key(|(_, (e, _))| *e)
            .map(|(k, _)| k.clone())
    {
        done.remove(&oldest);
    }
}

#[async_trait::async_trait]
impl<R: DidResolver + 'static> DidResolver for CachingResolver<R> {
    async fn resolve(&self, did: &Did) -> Result<Resolution, ResolveError> {
        match self.lookup(did) {
            Ok(outcome) => outcome,
            // If the caller is cancelled, the flight goes on for the others sharing it;
            // when nobody polls it any more it is dropped with its last clone.
            Err(flight) => flight.await,
        }
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
        async fn resolve(&self, did: &Did) -> Result<Resolution, ResolveError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            crate::did::StandardResolver::resolve_offline(did)
        }
    }

    const DID: &str = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK";

    fn policy(capacity: usize) -> CachePolicy {
        CachePolicy {
            ttl_secs: 1,
            negative_ttl_secs: 1,
            capacity,
        }
    }

    #[tokio::test]
    async fn cache_hits_until_ttl_then_refetches_and_remembers_failures() {
        let clock = Arc::new(ManualClock::new(0));
        let cache = CachingResolver::new(Counting(AtomicUsize::new(0)), clock.clone(), policy(8));
        let did = Did::parse(DID).unwrap();
        cache.resolve(&did).await.unwrap();
        cache.resolve(&did).await.unwrap();
        assert_eq!(cache.inner.0.load(Ordering::SeqCst), 1);
        clock.advance(1001);
        cache.resolve(&did).await.unwrap();
        assert_eq!(cache.inner.0.load(Ordering::SeqCst), 2);
        let bad = Did::parse("did:key:zBad").unwrap();
        assert!(cache.resolve(&bad).await.is_err());
        assert!(cache.resolve(&bad).await.is_err());
        assert_eq!(cache.inner.0.load(Ordering::SeqCst), 3, "failure cached");
        cache.invalidate(&did);
        cache.resolve(&did).await.unwrap();
        assert_eq!(cache.inner.0.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn concurrent_resolutions_of_one_did_share_one_fetch() {
        let clock = Arc::new(ManualClock::new(0));
        let cache = CachingResolver::new(Counting(AtomicUsize::new(0)), clock, policy(8));
        let did = Did::parse(DID).unwrap();
        let all = futures_util::future::join_all((0..50).map(|_| cache.resolve(&did))).await;
        assert!(all.iter().all(Result::is_ok));
        assert_eq!(cache.inner.0.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn cache_stays_within_capacity() {
        let clock = Arc::new(ManualClock::new(0));
        let cache = CachingResolver::new(Counting(AtomicUsize::new(0)), clock, policy(2));
        for _ in 0..3 {
            let did = crate::did::key::did_key(
                &crate::keys::SecretKey::generate(crate::keys::KeyType::Ed25519).public_key(),
            );
            cache.resolve(&did).await.unwrap();
        }
        let entries = cache.entries.lock().unwrap();
        assert_eq!(entries.done.len(), 2);
        assert!(entries.in_flight.is_empty());
    }
}
