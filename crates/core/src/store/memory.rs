//! In-memory [`Store`](super::Store): for tests, examples and a client with no disk. A batch
//! is applied to a copy of the state, which replaces the state only when every write in it
//! succeeded.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{
    Changes, IssuedCredentialRecord, IssuedCredentialStore, KeyRecord, KeyStatus, KeyStore,
    StoreError, UnitOfWork, UserRecord, UserStore,
};
use crate::id::{KeyId, Owner, UserName};

#[derive(Debug, Default, Clone)]
struct State {
    users: BTreeMap<UserName, UserRecord>,
    keys: BTreeMap<KeyId, KeyRecord>,
    issued: BTreeMap<String, IssuedCredentialRecord>,
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
            self.issued.insert(record.id.clone(), record.clone());
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

#[cfg(test)]
mod tests {
    crate::store_conformance!(memory, || async { crate::store::MemoryStore::new() });
}
