//! The Bitstring Status Lists this server publishes: an entry per purpose for each new
//! credential, status changes (a revocation is permanent), and the list credentials,
//! signed by the credential's issuer and re-signed from committed state whenever a bit
//! changed (the list's version moved) or the signed copy is an hour old.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use sichat_core::Clock;
use sichat_core::clock::rfc3339;
use sichat_core::id::Owner;
use sichat_core::store::{
    Changes, CredentialStatus, IssuedCredentialStore, StatusAssignment, StatusChange,
    StatusListRecord, StatusListStore, UnitOfWork,
};
use sichat_core::vc::status::{self, IndexPermutation, ListCredential, StatusPurpose};
use sichat_core::vc::{Issuer, VcVersion};

use super::identity::IdentityService;
use super::issuer_keys::{self, Caller, IssuerKeys};
use crate::error::ApiError;
use crate::store::SeaStore;

/// How long a signed list stays valid (`validUntil`).
const VALIDITY_MS: i64 = 24 * 3600 * 1000;
/// A signed list older than this is re-signed even if no bit changed.
const RESIGN_AFTER_MS: i64 = 3600 * 1000;
/// How long verifiers may cache a list (`ttl`).
const TTL_MS: u64 = 300_000;
/// Signed lists kept in memory.
const MAX_CACHED: usize = 1024;
/// Counters reserved at a time per list: one write transaction serves this many
/// credentials. Counters reserved but not used when the process stops are skipped, never
/// handed out again (at most this many per list and process).
const RESERVE_BLOCK: u32 = 32;

struct Signed {
    version: i64,
    signed_at: i64,
    /// When the version was last compared with the committed one.
    checked_at: i64,
    credential: Arc<Value>,
}

/// How long a signed list is served without asking the database whether its version
/// moved. A change made through this process drops the copy at once; one made by another
/// process (a second instance, the CLI) is served within this delay.
const VERSION_CHECK_MS: i64 = 1000;

pub struct StatusLists {
    store: Arc<SeaStore>,
    identity: Arc<IdentityService>,
    issuer_keys: Arc<IssuerKeys>,
    issuer: Issuer,
    clock: Arc<dyn Clock>,
    signed: Mutex<HashMap<String, Signed>>,
    /// Per list, how many changes this process made: a copy signed from state read before
    /// a change is not kept after it.
    generations: Mutex<HashMap<String, u64>>,
    /// Reserved counters not yet used, per issuer and purpose.
    reserved: Mutex<Reserved>,
}

/// Blocks of counters reserved and not used yet, per (issuer, purpose).
type Reserved = HashMap<(String, StatusPurpose), Vec<(StatusListRecord, Range<u32>)>>;

/// The state a status request asks for (`POST /credentials/status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    Revoked,
    Suspended,
    Active,
}

impl Wanted {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "revoked" => Some(Wanted::Revoked),
            "suspended" => Some(Wanted::Suspended),
            "active" => Some(Wanted::Active),
            _ => None,
        }
    }
}

impl StatusLists {
    pub fn new(
        store: Arc<SeaStore>,
        identity: Arc<IdentityService>,
        issuer_keys: Arc<IssuerKeys>,
        issuer: Issuer,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            identity,
            issuer_keys,
            issuer,
            clock,
            signed: Mutex::new(HashMap::new()),
            generations: Mutex::new(HashMap::new()),
            reserved: Mutex::new(HashMap::new()),
        }
    }

    fn base(&self) -> String {
        format!(
            "{}/status/",
            self.identity.public_url().as_str().trim_end_matches('/')
        )
    }

    /// The URL a list is published at.
    pub fn url(&self, id: &str) -> String {
        format!("{}{id}", self.base())
    }

    /// The id of one of this server's lists, from its URL.
    pub fn local_id<'a>(&self, url: &'a str) -> Option<&'a str> {
        url.strip_prefix(&self.base())
            .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric()))
    }

    /// Reserves an index on the open list of `issuer` for each purpose: the assignments
    /// to record with the credential, and the `credentialStatus` entries to sign into it.
    pub async fn allocate(
        &self,
        issuer: &str,
        owner: &Owner,
        purposes: &[StatusPurpose],
    ) -> Result<(Vec<StatusAssignment>, Vec<Value>), ApiError> {
        let mut assignments = Vec::new();
        let mut entries = Vec::new();
        for &purpose in purposes {
            let (list, counter) = self.next_counter(issuer, owner, purpose).await?;
            let index = IndexPermutation::new(list.key, list.size)
                .index(counter)
                .ok_or_else(|| {
                    ApiError::internal("a reserved status counter is beyond its list")
                })?;
            entries.push(status::entry(&self.url(&list.id), index, purpose));
            assignments.push(StatusAssignment {
                list: list.id,
                index,
                purpose,
            });
        }
        Ok((assignments, entries))
    }

    /// The next unused counter of an open list of `issuer` for `purpose`, from the block
    /// this process reserved, or a new block.
    async fn next_counter(
        &self,
        issuer: &str,
        owner: &Owner,
        purpose: StatusPurpose,
    ) -> Result<(StatusListRecord, u32), ApiError> {
        let key = (issuer.to_owned(), purpose);
        let take = |reserved: &mut Reserved| {
            let blocks = reserved.get_mut(&key)?;
            while let Some((list, range)) = blocks.first_mut() {
                if let Some(counter) = range.next() {
                    return Some((list.clone(), counter));
                }
                blocks.remove(0);
            }
            None
        };
        if let Some(hit) = take(&mut self.reserved.lock().unwrap_or_else(|e| e.into_inner())) {
            return Ok(hit);
        }
        let fresh = StatusListRecord {
            id: uuid::Uuid::new_v4().simple().to_string(),
            issuer: issuer.to_owned(),
            owner: owner.clone(),
            purpose,
            size: status::LIST_SIZE,
            key: rand::random(),
            created_at: self.clock.now_millis(),
        };
        let (list, mut range) = self.store.reserve_status(&fresh, RESERVE_BLOCK).await?;
        let counter = range
            .next()
            .ok_or_else(|| ApiError::internal("the store reserved no status counter"))?;
        if !range.is_empty() {
            let mut reserved = self.reserved.lock().unwrap_or_else(|e| e.into_inner());
            if reserved.len() >= 10_000 {
                reserved.clear();
            }
            reserved.entry(key).or_default().push((list.clone(), range));
        }
        Ok((list, counter))
    }

    /// Every published list: its URL, issuer and purpose.
    pub async fn published(&self) -> Result<Vec<(String, StatusListRecord)>, ApiError> {
        Ok(self
            .store
            .list_status_lists()
            .await?
            .into_iter()
            .map(|l| (self.url(&l.id), l))
            .collect())
    }

    /// The signed list `id` if the copy in memory is current (one cheap query):
    /// `Ok(None)` when it must be signed (or there is no such list).
    pub async fn current(&self, id: &str) -> Result<Option<Arc<Value>>, ApiError> {
        let now = self.clock.now_millis();
        if let Some(hit) = self.lock().get(id)
            && now - hit.checked_at < VERSION_CHECK_MS
            && now - hit.signed_at < RESIGN_AFTER_MS
        {
            return Ok(Some(hit.credential.clone()));
        }
        let Some(version) = self.store.status_list_version(id).await? else {
            return Ok(None);
        };
        Ok(self
            .lock()
            .get_mut(id)
            .filter(|hit| hit.version == version && now - hit.signed_at < RESIGN_AFTER_MS)
            .map(|hit| {
                hit.checked_at = now;
                hit.credential.clone()
            }))
    }

    /// The signed list credential `id`, from committed state; `None` when there is no
    /// such list.
    pub async fn credential(&self, id: &str) -> Result<Option<Arc<Value>>, ApiError> {
        if let Some(hit) = self.current(id).await? {
            return Ok(Some(hit));
        }
        let now = self.clock.now_millis();
        let generation = self.generation(id);
        let (Some(list), Some(state)) = (
            self.store.get_status_list(id).await?,
            self.store.status_list_state(id).await?,
        ) else {
            return Ok(None);
        };
        let url = self.url(id);
        let unsigned = ListCredential {
            url: &url,
            issuer: &list.issuer,
            purpose: list.purpose,
            encoded_list: status::encode_list(list.size, state.set.iter().copied()),
            valid_from: rfc3339(now),
            valid_until: rfc3339(now + VALIDITY_MS),
            ttl_millis: TTL_MS,
        }
        .to_credential();
        let (key, _, format) = self
            .issuer_keys
            .for_issuer(&Caller::Admin, &list.issuer, None)
            .await
            .map_err(|_| {
                ApiError::new(
                    crate::error::ProblemKind::NOT_FOUND,
                    format!("the issuer of status list {id} has no active signing key"),
                )
            })?;
        let (unsigned, _) = self.issuer.prepare(unsigned, &key)?;
        let signed = Arc::new(
            self.issuer
                .secure(unsigned, VcVersion::V2, &key, format)
                .await?,
        );
        if self.generation(id) != generation {
            return Ok(Some(signed));
        }
        let mut cache = self.lock();
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(
            id.to_owned(),
            Signed {
                version: state.version,
                signed_at: now,
                checked_at: now,
                credential: signed.clone(),
            },
        );
        Ok(Some(signed))
    }

    fn generation(&self, id: &str) -> u64 {
        self.generations
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .copied()
            .unwrap_or(0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Signed>> {
        self.signed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets `credential`'s status as `wanted` asks; returns its entries after the change.
    /// A revoked credential stays revoked: asking `active` for it is a 409.
    pub async fn change(
        &self,
        caller: &Caller,
        credential: &str,
        wanted: &[Wanted],
    ) -> Result<Vec<CredentialStatus>, ApiError> {
        let record = self.store.get_issued(credential).await?.ok_or_else(|| {
            ApiError::not_found(format!("no credential `{credential}` was issued here"))
        })?;
        issuer_keys::allowed(caller, &record.owner, &record.issuer)?;
        let current = self.store.credential_status(credential).await?;
        let has = |p: StatusPurpose| current.iter().find(|s| s.assignment.purpose == p);
        let missing = |p: StatusPurpose| {
            ApiError::conflict(format!(
                "credential `{credential}` was issued without a {p} entry"
            ))
        };
        let now = self.clock.now_millis();
        let mut changes = Changes::new();
        for w in wanted {
            let (purpose, set) = match w {
                Wanted::Revoked => (StatusPurpose::Revocation, true),
                Wanted::Suspended => (StatusPurpose::Suspension, true),
                Wanted::Active => {
                    if has(StatusPurpose::Revocation).is_some_and(|s| s.set) {
                        return Err(ApiError::conflict(format!(
                            "credential `{credential}` is revoked; a revocation is permanent"
                        )));
                    }
                    match has(StatusPurpose::Suspension) {
                        Some(_) => (StatusPurpose::Suspension, false),
                        // Active, with nothing to clear.
                        None if has(StatusPurpose::Revocation).is_some() => continue,
                        None => return Err(missing(StatusPurpose::Suspension)),
                    }
                }
            };
            if has(purpose).is_none() {
                return Err(missing(purpose));
            }
            changes = changes.status(StatusChange {
                credential: credential.to_owned(),
                purpose,
                set,
                at: now,
            });
        }
        self.store.save_changes(&changes).await?;
        {
            let mut generations = self.generations.lock().unwrap_or_else(|e| e.into_inner());
            let mut cache = self.lock();
            for entry in &current {
                *generations
                    .entry(entry.assignment.list.clone())
                    .or_default() += 1;
                cache.remove(&entry.assignment.list);
            }
            if generations.len() > 100_000 {
                generations.clear();
            }
        }
        Ok(self.store.credential_status(credential).await?)
    }
}
