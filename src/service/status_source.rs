//! Where this server's verifier gets status lists: its own from committed state (no
//! HTTP to itself, always current), others through the guarded fetcher (public addresses,
//! https, size and concurrency caps), kept for their `ttl` (at most five minutes).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use sichat_core::Clock;
use sichat_core::did::ResolveError;
use sichat_core::did::web_fetch::GuardedFetcher;
use sichat_core::vc::status::{SourceError, StatusListSource};

use super::status_lists::StatusLists;

/// The largest list credential fetched (a list of a million random bits is ~170 KB).
const MAX_LIST_BYTES: usize = 1024 * 1024;
const MAX_CACHE_MS: i64 = 300_000;
const MAX_CACHED: usize = 256;

pub struct ServerStatusSource {
    local: Arc<StatusLists>,
    fetcher: GuardedFetcher,
    clock: Arc<dyn Clock>,
    cache: Mutex<HashMap<String, (i64, Value)>>,
    /// URLs that could not be retrieved, until when, and why: not tried again meanwhile.
    failures: Mutex<HashMap<String, (i64, String)>>,
}

/// How long a retrieval failure is remembered.
const FAILURE_MS: i64 = 30_000;

impl ServerStatusSource {
    pub fn new(local: Arc<StatusLists>, fetcher: GuardedFetcher, clock: Arc<dyn Clock>) -> Self {
        Self {
            local,
            fetcher,
            clock,
            cache: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, url: &str) -> Option<Value> {
        let now = self.clock.now_millis();
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(url)
            .filter(|(until, _)| *until > now)
            .map(|(_, v)| v.clone())
    }

    fn remember(&self, url: &str, value: &Value) {
        let ttl = value
            .pointer("/credentialSubject/ttl")
            .and_then(Value::as_i64)
            .unwrap_or(MAX_CACHE_MS)
            .clamp(0, MAX_CACHE_MS);
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= MAX_CACHED {
            let now = self.clock.now_millis();
            cache.retain(|_, (until, _)| *until > now);
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
        }
        cache.insert(
            url.to_owned(),
            (self.clock.now_millis() + ttl, value.clone()),
        );
    }
}

fn unavailable(e: impl std::fmt::Display) -> SourceError {
    SourceError::Unavailable(e.to_string())
}

#[async_trait::async_trait]
impl StatusListSource for ServerStatusSource {
    async fn fetch(&self, url: &str) -> Result<Value, SourceError> {
        if let Some(id) = self.local.local_id(url) {
            return match self.local.credential(id).await {
                Ok(Some(list)) => Ok((*list).clone()),
                Ok(None) => Err(unavailable("no such status list on this server")),
                Err(e) if e.0.kind == crate::error::ProblemKind::SERVER_BUSY => {
                    Err(SourceError::Busy(e.0.detail))
                }
                Err(e) => Err(unavailable(e.0.detail)),
            };
        }
        if let Some(hit) = self.cached(url) {
            return Ok(hit);
        }
        let now = self.clock.now_millis();
        if let Some((_, why)) = self
            .failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(url)
            .filter(|(until, _)| *until > now)
        {
            return Err(unavailable(format!("{why} (remembered for a while)")));
        }
        let fetched = self.fetch_remote(url).await;
        if let Err(SourceError::Unavailable(why)) = &fetched {
            let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
            if failures.len() >= MAX_CACHED {
                failures.retain(|_, (until, _)| *until > now);
                if failures.len() >= MAX_CACHED {
                    failures.clear();
                }
            }
            failures.insert(url.to_owned(), (now + FAILURE_MS, why.clone()));
        }
        fetched
    }
}

impl ServerStatusSource {
    async fn fetch_remote(&self, url: &str) -> Result<Value, SourceError> {
        let parsed = url::Url::parse(url).map_err(unavailable)?;
        let body = self
            .fetcher
            .fetch_bounded(
                &parsed,
                "application/vc+ld+json, application/vc+jwt, application/vc, application/json",
                MAX_LIST_BYTES,
            )
            .await
            .map_err(|e| match e {
                ResolveError::Busy(d) => SourceError::Busy(d),
                other => unavailable(other),
            })?;
        let value = sichat_core::vc::status::published_from_bytes(&body).map_err(unavailable)?;
        self.remember(url, &value);
        Ok(value)
    }
}
