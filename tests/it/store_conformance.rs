//! The server's sea-orm key store passes the core key-store contract (on SQLite, and on
//! PostgreSQL when `SICHAT_TEST_DATABASE_URL` is set).

use sichat::store::keys::SeaKeyStore;
use sichat_core::store::{KeyRecord, KeyStore, StoreError};
use tempfile::TempDir;

/// The store plus the temp dir its SQLite file lives in.
pub struct HeldStore(SeaKeyStore, #[allow(dead_code)] TempDir);

#[async_trait::async_trait]
impl KeyStore for HeldStore {
    async fn insert_key(&self, record: &KeyRecord) -> Result<(), StoreError> {
        self.0.insert_key(record).await
    }
    async fn get_key(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        self.0.get_key(id).await
    }
    async fn list_keys(&self, owner: &str) -> Result<Vec<KeyRecord>, StoreError> {
        self.0.list_keys(owner).await
    }
    async fn rotate_key(
        &self,
        old_id: &str,
        new: &KeyRecord,
        retired_at: i64,
    ) -> Result<(), StoreError> {
        self.0.rotate_key(old_id, new, retired_at).await
    }
}

async fn fresh() -> HeldStore {
    let dir = tempfile::tempdir().unwrap();
    let url = crate::common::fresh_database_url(dir.path()).await;
    let db = sichat::store::connect(&url).await.unwrap();
    HeldStore(SeaKeyStore::new(db), dir)
}

sichat_core::key_store_conformance!(sea_orm_store, fresh);
