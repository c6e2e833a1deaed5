//! Persistence contracts. Every backend (the server's sea-orm store, the client's wallet,
//! the in-memory store here) implements these traits and passes the same conformance
//! suite ([`conformance`], run with [`store_conformance!`](crate::store_conformance)).

pub mod conformance;
mod memory;

pub use memory::MemoryKeyStore;

use serde::{Deserialize, Serialize};

use crate::keys::KeyType;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// A unique key (an id, a name) already exists.
    #[error("already exists: {0}")]
    Duplicate(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// The row is not in the state the operation needs (e.g. rotating a retired key).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The backend failed (I/O, connection, driver).
    #[error("storage backend error: {0}")]
    Backend(String),
}

/// Lifecycle of a stored key. Retired keys stay published so that what they signed still
/// verifies, but they are never used to sign again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    Active,
    Retired,
}

impl KeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Retired => "retired",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(KeyStatus::Active),
            "retired" => Some(KeyStatus::Retired),
            _ => None,
        }
    }
}

/// A key as stored: public part in clear, private part sealed under the KEK.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub id: String,
    /// Who the key belongs to: `server` or `user:<name>`.
    pub owner: String,
    pub key_type: KeyType,
    pub public_multibase: String,
    pub sealed_private: Vec<u8>,
    pub status: KeyStatus,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

impl std::fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRecord")
            .field("id", &self.id)
            .field("owner", &self.owner)
            .field("key_type", &self.key_type)
            .field("public_multibase", &self.public_multibase)
            .field("sealed_private", &"<sealed>")
            .field("status", &self.status)
            .finish()
    }
}

/// Storage of key records.
#[async_trait::async_trait]
pub trait KeyStore: Send + Sync {
    /// Inserts a new key; [`StoreError::Duplicate`] when the id or public key exists.
    async fn insert_key(&self, record: &KeyRecord) -> Result<(), StoreError>;
    async fn get_key(&self, id: &str) -> Result<Option<KeyRecord>, StoreError>;
    /// The owner's keys, oldest first; keys created in the same millisecond are ordered by
    /// key type name (`Ed25519`, `P-256`, `X25519`), then id.
    async fn list_keys(&self, owner: &str) -> Result<Vec<KeyRecord>, StoreError>;
    /// Atomically retires `old_id` (which must be active) and inserts `new`.
    async fn rotate_key(
        &self,
        old_id: &str,
        new: &KeyRecord,
        retired_at: i64,
    ) -> Result<(), StoreError>;
}

#[async_trait::async_trait]
impl<T: KeyStore + ?Sized> KeyStore for std::sync::Arc<T> {
    async fn insert_key(&self, record: &KeyRecord) -> Result<(), StoreError> {
        (**self).insert_key(record).await
    }
    async fn get_key(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        (**self).get_key(id).await
    }
    async fn list_keys(&self, owner: &str) -> Result<Vec<KeyRecord>, StoreError> {
        (**self).list_keys(owner).await
    }
    async fn rotate_key(
        &self,
        old_id: &str,
        new: &KeyRecord,
        retired_at: i64,
    ) -> Result<(), StoreError> {
        (**self).rotate_key(old_id, new, retired_at).await
    }
}
