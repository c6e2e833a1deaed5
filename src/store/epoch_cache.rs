//! A cache of rows that change only with the identity epoch (clients, users by id): read
//! once, then served from memory until anything stamps an identity change — in this
//! process or, through the identity watcher, in another one sharing the database.
//! Bounded: past `capacity` entries it starts over.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use super::IdentityEpoch;

pub struct EpochCache<K, V> {
    epoch: Arc<IdentityEpoch>,
    capacity: usize,
    entries: Mutex<(u64, HashMap<K, V>)>,
}

impl<K: Eq + Hash + Clone, V: Clone> EpochCache<K, V> {
    pub fn new(epoch: Arc<IdentityEpoch>, capacity: usize) -> Self {
        Self {
            epoch,
            capacity,
            entries: Mutex::new((u64::MAX, HashMap::new())),
        }
    }

    /// The cached value for `key`, or `load`'s (kept if the epoch did not move meanwhile).
    pub async fn get_or_load<E, F, Fut>(&self, key: &K, load: F) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        // Read before the rows: a change committed meanwhile moves it.
        let epoch = self.epoch.current();
        {
            let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            if entries.0 != epoch {
                *entries = (epoch, HashMap::new());
            } else if let Some(v) = entries.1.get(key) {
                return Ok(v.clone());
            }
        }
        let value = load().await?;
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.0 == epoch {
            if entries.1.len() >= self.capacity {
                entries.1.clear();
            }
            entries.1.insert(key.clone(), value.clone());
        }
        Ok(value)
    }
}
