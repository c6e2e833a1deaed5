//! In-memory [`KeyStore`]: for tests, examples and a client with no disk.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{KeyRecord, KeyStatus, KeyStore, StoreError};

#[derive(Debug, Default)]
pub struct MemoryKeyStore {
    keys: Mutex<BTreeMap<String, KeyRecord>>,
}

impl MemoryKeyStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, BTreeMap<String, KeyRecord>>, StoreError> {
        self.keys
            .lock()
            .map_err(|_| StoreError::Backend("memory store lock poisoned".into()))
    }
}

fn check_unique(keys: &BTreeMap<String, KeyRecord>, record: &KeyRecord) -> Result<(), StoreError> {
    if keys.contains_key(&record.id) {
        return Err(StoreError::Duplicate(format!("key {}", record.id)));
    }
    if keys
        .values()
        .any(|k| k.public_multibase == record.public_multibase)
    {
        return Err(StoreError::Duplicate(format!(
            "public key {}",
            record.public_multibase
        )));
    }
    Ok(())
}

#[async_trait::async_trait]
impl KeyStore for MemoryKeyStore {
    async fn insert_key(&self, record: &KeyRecord) -> Result<(), StoreError> {
        let mut keys = self.lock()?;
        check_unique(&keys, record)?;
        keys.insert(record.id.clone(), record.clone());
        Ok(())
    }

    async fn get_key(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        Ok(self.lock()?.get(id).cloned())
    }

    async fn list_keys(&self, owner: &str) -> Result<Vec<KeyRecord>, StoreError> {
        let mut out: Vec<KeyRecord> = self
            .lock()?
            .values()
            .filter(|k| k.owner == owner)
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

    async fn rotate_key(
        &self,
        old_id: &str,
        new: &KeyRecord,
        retired_at: i64,
    ) -> Result<(), StoreError> {
        let mut keys = self.lock()?;
        let old = keys
            .get(old_id)
            .ok_or_else(|| StoreError::NotFound(format!("key {old_id}")))?;
        if old.status != KeyStatus::Active {
            return Err(StoreError::Conflict(format!(
                "key {old_id} is already retired"
            )));
        }
        check_unique(&keys, new)?;
        if let Some(old) = keys.get_mut(old_id) {
            old.status = KeyStatus::Retired;
            old.retired_at = Some(retired_at);
        }
        keys.insert(new.id.clone(), new.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    crate::store_conformance!(memory, || async { crate::store::MemoryKeyStore::new() });
}
