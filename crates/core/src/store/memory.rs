//! In-memory [`Store`](super::Store): for tests, examples and a client with no disk. A batch
//! is applied to a copy of the state, which replaces the state only when every write in it
//! succeeded.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{
    Changes, CredentialStatus, CredentialStore, HeldCredentialRecord, IssuedCredentialRecord,
    IssuedCredentialStore, KeyRecord, KeyStatus, KeyStore, MediationRecord, MessageStore,
    QueueStatus, QueuedMessage, StatusListRecord, StatusListState, StatusListStore, StoreError,
    UnitOfWork, UserRecord, UserStore,
};
use crate::id::{KeyId, Owner, UserName};
use crate::vc::status::StatusPurpose;

#[derive(Debug, Default, Clone)]
struct State {
    users: BTreeMap<UserName, UserRecord>,
    keys: BTreeMap<KeyId, KeyRecord>,
    issued: BTreeMap<String, IssuedCredentialRecord>,
    lists: BTreeMap<String, StatusList>,
    /// (list, index) → whether the bit is set.
    bits: BTreeMap<(String, u32), bool>,
    held: BTreeMap<(UserName, String), HeldCredentialRecord>,
    mediations: BTreeMap<String, MediationRecord>,
    /// recipient → (client, added at).
    recipients: BTreeMap<String, (String, i64)>,
    /// seq → message: FIFO.
    queue: BTreeMap<u64, QueuedMessage>,
    next_seq: u64,
}

#[derive(Debug, Clone)]
struct StatusList {
    record: StatusListRecord,
    next: u32,
    version: i64,
}

#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, State>, StoreError> {
        self.state
            .lock()
            .map_err(|_| StoreError::Backend("memory store lock poisoned".into()))
    }
}

impl State {
    fn insert_user(&mut self, user: &UserRecord) -> Result<(), StoreError> {
        if self.users.contains_key(&user.name) || self.users.values().any(|u| u.id == user.id) {
            return Err(StoreError::Duplicate(format!("user `{}`", user.name)));
        }
        self.users.insert(user.name.clone(), user.clone());
        Ok(())
    }

    fn insert_key(&mut self, record: &KeyRecord) -> Result<(), StoreError> {
        if let Owner::User(name) = &record.owner
            && !self.users.contains_key(name)
        {
            return Err(StoreError::NotFound(format!("user `{name}`")));
        }
        if self.keys.contains_key(&record.id) {
            return Err(StoreError::Duplicate(format!("key {}", record.id)));
        }
        if self
            .keys
            .values()
            .any(|k| k.public_multibase == record.public_multibase)
        {
            return Err(StoreError::Duplicate(format!(
                "public key {}",
                record.public_multibase
            )));
        }
        self.keys.insert(record.id.clone(), record.clone());
        Ok(())
    }

    fn apply(&mut self, changes: &Changes) -> Result<(), StoreError> {
        for user in &changes.new_users {
            self.insert_user(user)?;
        }
        for key in &changes.new_keys {
            self.insert_key(key)?;
        }
        for rotation in &changes.rotations {
            let old = self
                .keys
                .get_mut(&rotation.retire)
                .ok_or_else(|| StoreError::NotFound(format!("key {}", rotation.retire)))?;
            if old.status != KeyStatus::Active {
                return Err(StoreError::Conflict(format!(
                    "key {} is already retired",
                    rotation.retire
                )));
            }
            if old.owner != rotation.successor.owner {
                return Err(StoreError::Conflict(format!(
                    "the successor of key {} must have the same owner",
                    rotation.retire
                )));
            }
            old.status = KeyStatus::Retired;
            old.retired_at = Some(rotation.at);
            self.insert_key(&rotation.successor)?;
        }
        for record in &changes.issued_credentials {
            if let Owner::User(name) = &record.owner
                && !self.users.contains_key(name)
            {
                return Err(StoreError::NotFound(format!("user `{name}`")));
            }
            if self.issued.contains_key(&record.id) {
                return Err(StoreError::Duplicate(format!("credential `{}`", record.id)));
            }
            for status in &record.statuses {
                let list = self
                    .lists
                    .get(&status.list)
                    .ok_or_else(|| StoreError::NotFound(format!("status list {}", status.list)))?;
                if list.record.issuer != record.issuer || list.record.purpose != status.purpose {
                    return Err(StoreError::Conflict(format!(
                        "status list {} is for {} by {}",
                        status.list, list.record.purpose, list.record.issuer
                    )));
                }
                if status.index >= list.record.size {
                    return Err(StoreError::Conflict(format!(
                        "index {} is beyond status list {}",
                        status.index, status.list
                    )));
                }
                let at = (status.list.clone(), status.index);
                if self.bits.contains_key(&at) {
                    return Err(StoreError::Duplicate(format!(
                        "index {} of status list {}",
                        status.index, status.list
                    )));
                }
                self.bits.insert(at, false);
            }
            self.issued.insert(record.id.clone(), record.clone());
        }
        for change in &changes.status_changes {
            if change.purpose == StatusPurpose::Revocation && !change.set {
                return Err(StoreError::Conflict("a revocation is permanent".into()));
            }
            let assignment = self
                .issued
                .get(&change.credential)
                .and_then(|r| r.statuses.iter().find(|s| s.purpose == change.purpose))
                .ok_or_else(|| {
                    StoreError::NotFound(format!(
                        "{} entry of credential `{}`",
                        change.purpose, change.credential
                    ))
                })?
                .clone();
            self.bits
                .insert((assignment.list.clone(), assignment.index), change.set);
            if let Some(list) = self.lists.get_mut(&assignment.list) {
                list.version += 1;
            }
        }
        for record in &changes.held {
            if !self.users.contains_key(&record.holder) {
                return Err(StoreError::NotFound(format!("user `{}`", record.holder)));
            }
            let at = (record.holder.clone(), record.id.clone());
            let kept = self
                .held
                .keys()
                .filter(|(h, _)| h == &record.holder)
                .count() as u64;
            if kept >= super::MAX_HELD_PER_HOLDER {
                return Err(StoreError::Conflict(format!(
                    "{} already keeps {} credentials",
                    record.holder,
                    super::MAX_HELD_PER_HOLDER
                )));
            }
            if self.held.contains_key(&at) {
                return Err(StoreError::Duplicate(format!(
                    "credential `{}` of {}",
                    record.id, record.holder
                )));
            }
            self.held.insert(at, record.clone());
        }
        for (holder, id) in &changes.forgotten {
            if self.held.remove(&(holder.clone(), id.clone())).is_none() {
                return Err(StoreError::NotFound(format!(
                    "credential `{id}` of {holder}"
                )));
            }
        }
        for m in &changes.mediations {
            self.mediations
                .entry(m.client.clone())
                .or_insert_with(|| m.clone());
        }
        for u in &changes.recipient_updates {
            if !self.mediations.contains_key(&u.client) {
                return Err(StoreError::NotFound(format!("mediation of {}", u.client)));
            }
            match (self.recipients.get(&u.recipient), u.add) {
                (Some((client, _)), true) if client != &u.client => {
                    return Err(StoreError::Conflict(format!(
                        "{} is another DID's recipient",
                        u.recipient
                    )));
                }
                (Some(_), true) => {}
                (None, true) => {
                    self.recipients
                        .insert(u.recipient.clone(), (u.client.clone(), u.at));
                }
                (Some((client, _)), false) if client == &u.client => {
                    self.recipients.remove(&u.recipient);
                }
                (_, false) => {}
            }
        }
        for e in &changes.queued {
            let m = &e.message;
            let held = self.queue.values().filter(|q| q.recipient == m.recipient);
            if self
                .queue
                .values()
                .any(|q| q.recipient == m.recipient && q.id == m.id)
            {
                continue;
            }
            let (count, bytes) = held.fold((0u64, 0u64), |(c, b), q| {
                (c + 1, b + q.message.len() as u64)
            });
            if count + 1 > e.quota.max_messages
                || bytes + m.message.len() as u64 > e.quota.max_bytes
            {
                return Err(StoreError::QuotaExceeded(format!(
                    "the queue of {} is full",
                    m.recipient
                )));
            }
            self.next_seq += 1;
            self.queue.insert(self.next_seq, m.clone());
        }
        for (recipient, id) in &changes.acknowledged {
            self.queue
                .retain(|_, q| !(&q.recipient == recipient && &q.id == id));
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl UnitOfWork for MemoryStore {
    async fn save_changes(&self, changes: &Changes) -> Result<(), StoreError> {
        let mut state = self.lock()?;
        let mut next = state.clone();
        next.apply(changes)?;
        *state = next;
        Ok(())
    }
}

#[async_trait::async_trait]
impl KeyStore for MemoryStore {
    async fn get_key(&self, id: &KeyId) -> Result<Option<KeyRecord>, StoreError> {
        Ok(self.lock()?.keys.get(id).cloned())
    }

    async fn list_keys(&self, owner: &Owner) -> Result<Vec<KeyRecord>, StoreError> {
        let mut out: Vec<KeyRecord> = self
            .lock()?
            .keys
            .values()
            .filter(|k| &k.owner == owner)
            .cloned()
            .collect();
        out.sort_by(|a, b| {
            (a.created_at, a.key_type.as_str(), &a.id).cmp(&(
                b.created_at,
                b.key_type.as_str(),
                &b.id,
            ))
        });
        Ok(out)
    }
}

#[async_trait::async_trait]
impl UserStore for MemoryStore {
    async fn get_user(&self, name: &UserName) -> Result<Option<UserRecord>, StoreError> {
        Ok(self.lock()?.users.get(name).cloned())
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        Ok(self.lock()?.users.values().cloned().collect())
    }
}

#[async_trait::async_trait]
impl IssuedCredentialStore for MemoryStore {
    async fn get_issued(&self, id: &str) -> Result<Option<IssuedCredentialRecord>, StoreError> {
        Ok(self.lock()?.issued.get(id).cloned())
    }
}

#[async_trait::async_trait]
impl StatusListStore for MemoryStore {
    async fn reserve_status(
        &self,
        fresh: &StatusListRecord,
        count: u32,
    ) -> Result<(StatusListRecord, std::ops::Range<u32>), StoreError> {
        let mut state = self.lock()?;
        let open = state
            .lists
            .values()
            .filter(|l| {
                l.record.issuer == fresh.issuer
                    && l.record.purpose == fresh.purpose
                    && l.next < l.record.size
            })
            .min_by(|a, b| {
                (a.record.created_at, &a.record.id).cmp(&(b.record.created_at, &b.record.id))
            })
            .map(|l| l.record.id.clone());
        let id = match open {
            Some(id) => id,
            None => {
                if state.lists.contains_key(&fresh.id) {
                    return Err(StoreError::Duplicate(format!("status list {}", fresh.id)));
                }
                state.lists.insert(
                    fresh.id.clone(),
                    StatusList {
                        record: fresh.clone(),
                        next: 0,
                        version: 0,
                    },
                );
                fresh.id.clone()
            }
        };
        let list = state
            .lists
            .get_mut(&id)
            .ok_or_else(|| StoreError::Backend("status list vanished".into()))?;
        let start = list.next;
        list.next = list.record.size.min(start + count.max(1));
        Ok((list.record.clone(), start..list.next))
    }

    async fn get_status_list(&self, id: &str) -> Result<Option<StatusListRecord>, StoreError> {
        Ok(self.lock()?.lists.get(id).map(|l| l.record.clone()))
    }

    async fn list_status_lists(&self) -> Result<Vec<StatusListRecord>, StoreError> {
        let mut lists: Vec<StatusListRecord> = self
            .lock()?
            .lists
            .values()
            .map(|l| l.record.clone())
            .collect();
        lists.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(lists)
    }

    async fn status_list_state(&self, id: &str) -> Result<Option<StatusListState>, StoreError> {
        let state = self.lock()?;
        let Some(list) = state.lists.get(id) else {
            return Ok(None);
        };
        let set = state
            .bits
            .range((id.to_owned(), 0)..=(id.to_owned(), u32::MAX))
            .filter(|(_, set)| **set)
            .map(|((_, index), _)| *index)
            .collect();
        Ok(Some(StatusListState {
            version: list.version,
            set,
        }))
    }

    async fn status_list_version(&self, id: &str) -> Result<Option<i64>, StoreError> {
        Ok(self.lock()?.lists.get(id).map(|l| l.version))
    }

    async fn credential_status(
        &self,
        credential: &str,
    ) -> Result<Vec<CredentialStatus>, StoreError> {
        let state = self.lock()?;
        let Some(record) = state.issued.get(credential) else {
            return Ok(vec![]);
        };
        Ok(record
            .statuses
            .iter()
            .map(|a| CredentialStatus {
                assignment: a.clone(),
                set: state
                    .bits
                    .get(&(a.list.clone(), a.index))
                    .copied()
                    .unwrap_or(false),
            })
            .collect())
    }
}

#[async_trait::async_trait]
impl CredentialStore for MemoryStore {
    async fn get_held(
        &self,
        holder: &UserName,
        id: &str,
    ) -> Result<Option<HeldCredentialRecord>, StoreError> {
        Ok(self
            .lock()?
            .held
            .get(&(holder.clone(), id.to_owned()))
            .cloned())
    }

    async fn list_held(&self, holder: &UserName) -> Result<Vec<HeldCredentialRecord>, StoreError> {
        let mut out: Vec<HeldCredentialRecord> = self
            .lock()?
            .held
            .values()
            .filter(|r| &r.holder == holder)
            .cloned()
            .collect();
        out.sort_by(|a, b| (a.received_at, &a.id).cmp(&(b.received_at, &b.id)));
        Ok(out)
    }

    async fn count_held(&self, holder: &UserName) -> Result<u64, StoreError> {
        Ok(self
            .lock()?
            .held
            .keys()
            .filter(|(h, _)| h == holder)
            .count() as u64)
    }
}

#[async_trait::async_trait]
impl MessageStore for MemoryStore {
    async fn get_mediation(&self, client: &str) -> Result<Option<MediationRecord>, StoreError> {
        Ok(self.lock()?.mediations.get(client).cloned())
    }

    async fn recipients_of(&self, client: &str) -> Result<Vec<String>, StoreError> {
        let state = self.lock()?;
        let mut out: Vec<(i64, String)> = state
            .recipients
            .iter()
            .filter(|(_, (c, _))| c == client)
            .map(|(r, (_, at))| (*at, r.clone()))
            .collect();
        out.sort();
        Ok(out.into_iter().map(|(_, r)| r).collect())
    }

    async fn client_of(&self, recipient: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .lock()?
            .recipients
            .get(recipient)
            .map(|(c, _)| c.clone()))
    }

    async fn queued(
        &self,
        recipient: &str,
        limit: u32,
        now: i64,
    ) -> Result<Vec<QueuedMessage>, StoreError> {
        Ok(self
            .lock()?
            .queue
            .values()
            .filter(|q| q.recipient == recipient && q.expires_at > now)
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn queue_status(&self, recipient: &str, now: i64) -> Result<QueueStatus, StoreError> {
        let state = self.lock()?;
        let mut status = QueueStatus::default();
        for q in state
            .queue
            .values()
            .filter(|q| q.recipient == recipient && q.expires_at > now)
        {
            status.count += 1;
            status.bytes += q.message.len() as u64;
            status.oldest_received_at = Some(
                status
                    .oldest_received_at
                    .map_or(q.received_at, |o| o.min(q.received_at)),
            );
            status.newest_received_at = Some(
                status
                    .newest_received_at
                    .map_or(q.received_at, |n| n.max(q.received_at)),
            );
        }
        Ok(status)
    }

    async fn purge_expired(&self, now: i64, limit: u32) -> Result<u64, StoreError> {
        let mut state = self.lock()?;
        let expired: Vec<u64> = state
            .queue
            .iter()
            .filter(|(_, q)| q.expires_at <= now)
            .map(|(seq, _)| *seq)
            .take(limit as usize)
            .collect();
        for seq in &expired {
            state.queue.remove(seq);
        }
        Ok(expired.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Changes, MAX_HELD_PER_HOLDER, UnitOfWork};

    #[tokio::test]
    async fn a_holder_keeps_at_most_the_maximum() {
        let store = super::MemoryStore::new();
        let user = crate::store::conformance::sample_user("full");
        store
            .save_changes(&Changes::new().user(user.clone()))
            .await
            .unwrap();
        let mut batch = Changes::new();
        for i in 0..MAX_HELD_PER_HOLDER {
            batch = batch.hold(crate::store::conformance::sample_held(
                &user.name,
                &format!("urn:uuid:{i}"),
                1,
            ));
        }
        store.save_changes(&batch).await.unwrap();
        let one_more = Changes::new().hold(crate::store::conformance::sample_held(
            &user.name,
            "urn:uuid:one-more",
            2,
        ));
        assert!(matches!(
            store.save_changes(&one_more).await,
            Err(super::StoreError::Conflict(_))
        ));
    }

    crate::store_conformance!(memory, || async { crate::store::MemoryStore::new() });
}
