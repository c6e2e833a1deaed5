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

sichat_core::store_conformance!(sea_orm_store, fresh);

/// SQLite is opened for durability: WAL, `synchronous=FULL` (survives power loss, not only
/// a killed process), foreign keys on, and a busy timeout for concurrent writers.
#[tokio::test]
async fn sqlite_connections_are_configured_for_durability() {
    use sea_orm::{ConnectionTrait, Statement};
    if crate::common::is_postgres() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = sichat::store::connect(&crate::common::fresh_database_url(dir.path()).await)
        .await
        .unwrap();
    let pragma = |name: &'static str| {
        let db = db.clone();
        async move {
            let row = db
                .query_one_raw(Statement::from_string(
                    db.get_database_backend(),
                    format!("PRAGMA {name}"),
                ))
                .await
                .unwrap()
                .unwrap();
            row.try_get_by_index::<String>(0)
                .or_else(|_| row.try_get_by_index::<i64>(0).map(|n| n.to_string()))
                .unwrap()
        }
    };
    assert_eq!(pragma("journal_mode").await, "wal");
    assert_eq!(pragma("synchronous").await, "2", "FULL");
    assert_eq!(pragma("foreign_keys").await, "1");
    assert_eq!(pragma("busy_timeout").await, "10000");
}
