//! A bounded, time-limited cache in front of any resolver, by the injected [`Clock`]:
//! documents live `ttl`, failures `negative_ttl` (so a flood of lookups of one dead DID
//! costs one fetch), and concurrent resolutions of one DID share a single fetch
//! (single-flight). "Busy" refusals are never cached: they say nothing about the DID.
//! The cache holds at most `capacity` entries and `max_bytes` of documents (weighed as
//! serialized JSON), whichever comes first.

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
    pub max_bytes: usize,
}

impl Default for CachePolicy {
    fn default() -> Self {
        Self {
            ttl_secs: 300,
            negative_ttl_secs: 30,
            capacity: 1_000,
            max_bytes: 8 * 1024 * 1024,
        }
    }
}

/// What an entry costs: its document as JSON text, or its error message, plus its key.
fn weight(did: &Did, outcome: &Outcome) -> usize {
    let body = match outcome {
        Ok(r) => serde_json::to_vec(r.document.as_json()).map_or(0, |b| b.len()),
        Err(e) => e.to_string().len(),
    };
    did.as_str().len() + body
}

type Outcome = Result<Resolution, ResolveError>;
type Flight = Shared<BoxFuture<'static, Outcome>>;

struct Done {
    expires: i64,
    weight: usize,
    outcome: Outcome,
}

struct Entries {
    done: HashMap<Did, Done>,
    /// The sum of the entries' weights.
    bytes: usize,
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
    max_bytes: usize,
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
            max_bytes: policy.max_bytes,
            entries: Arc::new(Mutex::new(Entries {
                done: HashMap::new(),
                bytes: 0,
                in_flight: HashMap::new(),
            })),
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
        if let Some(hit) = entries.done.get(did)
            && hit.expires > now
        {
            return Ok(hit.outcome.clone());
        }
        if let Some(flight) = entries.in_flight.get(did).and_then(WeakShared::upgrade) {
            return Err(flight);
        }
        if entries.in_flight.len() >= self.capacity {
            entries.in_flight.retain(|_, f| f.upgrade().is_some());
        }
        let (inner, key, store) = (self.inner.clone(), did.clone(), self.entries.clone());
        let (clock, ttl, negative_ttl, capacity, max_bytes) = (
            self.clock.clone(),
            self.ttl_millis,
            self.negative_ttl_millis,
            self.capacity,
            self.max_bytes,
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
                let weight = weight(&key, &outcome);
                if let Some(keep) = keep.filter(|k| *k > 0)
                    && weight <= max_bytes
                {
                    let now = clock.now_millis();
                    entries.remove(&key);
                    entries.make_room(capacity, max_bytes.saturating_sub(weight), now);
                    entries.bytes += weight;
                    entries.done.insert(
                        key,
                        Done {
                            expires: now.saturating_add(keep),
                            weight,
                            outcome: outcome.clone(),
                        },
                    );
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

impl Entries {
    fn remove(&mut self, did: &Did) {
        if let Some(old) = self.done.remove(did) {
            self.bytes -= old.weight;
        }
    }

    /// Makes room for one more entry within `capacity` entries and `bytes` in all:
    /// expired entries go first, then those closest to expiry.
    fn make_room(&mut self, capacity: usize, bytes: usize, now: i64) {
        if self.done.len() < capacity && self.bytes <= bytes {
            return;
        }
        let expired: Vec<Did> = self
            .done
            .iter()
            .filter(|(_, d)| d.expires <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for did in expired {
            self.remove(&did);
        }
        while self.done.len() >= capacity || self.bytes > bytes {
            let Some(oldest) = self
                .done
                .iter()
                .min_by_key(|(_, d)| d.expires)
                .map(|(k, _)| k.clone())
            else {
                return;
            };
            self.remove(&oldest);
        }
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
            max_bytes: 1 << 20,
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
        clock.advance(1001);
        assert!(cache.resolve(&bad).await.is_err());
        assert_eq!(
            cache.inner.0.load(Ordering::SeqCst),
            4,
            "failures expire too"
        );
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

    #[tokio::test]
    async fn cache_stays_within_its_byte_budget() {
        let clock = Arc::new(ManualClock::new(0));
        let budget = CachePolicy {
            max_bytes: 2_000,
            ..policy(100)
        };
        let cache = CachingResolver::new(Counting(AtomicUsize::new(0)), clock, budget);
        for _ in 0..10 {
            let did = crate::did::key::did_key(
                &crate::keys::SecretKey::generate(crate::keys::KeyType::Ed25519).public_key(),
            );
            cache.resolve(&did).await.unwrap();
        }
        let entries = cache.entries.lock().unwrap();
        assert!(entries.bytes <= 2_000, "{}", entries.bytes);
        assert!(entries.done.len() < 10 && !entries.done.is_empty());
        assert_eq!(
            entries.bytes,
            entries.done.values().map(|d| d.weight).sum::<usize>()
        );
    }
}
