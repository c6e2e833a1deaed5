//! The key service: generate, import, list, rotate and unseal keys over any [`KeyStore`].
//! The same code runs on the server (sea-orm store) and on the client (wallet).

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use super::{Kek, KeyError, KeyType, PublicKey, SecretKey};
use crate::clock::Clock;
use crate::store::{KeyRecord, KeyStatus, KeyStore, StoreError};

/// Why a key operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyServiceError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("key `{0}` not found")]
    NotFound(String),
    #[error("key `{0}` is retired and cannot be used to sign")]
    Retired(String),
}

/// The public view of a stored key.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct KeyInfo {
    pub id: String,
    pub owner: String,
    #[serde(rename = "type")]
    pub key_type: KeyType,
    pub status: KeyStatus,
    /// Multikey encoding (multicodec + base58btc).
    pub public_key_multibase: String,
    /// Public JWK (RFC 7517 / RFC 8037).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub public_key_jwk: Value,
    /// The `did:key` of this key.
    pub did_key: String,
    /// RFC 3339.
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<String>,
}

pub(crate) fn rfc3339(millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(millis)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl KeyInfo {
    /// Builds the public view; fails only if the stored public key is corrupt.
    pub fn from_record(record: &KeyRecord) -> Result<Self, KeyError> {
        let public = PublicKey::from_multibase(&record.public_multibase)?;
        Ok(Self {
            id: record.id.clone(),
            owner: record.owner.clone(),
            key_type: record.key_type,
            status: record.status,
            public_key_jwk: public.to_jwk_value(),
            did_key: crate::did::key::did_key(&public),
            public_key_multibase: record.public_multibase.clone(),
            created_at: rfc3339(record.created_at),
            retired_at: record.retired_at.map(rfc3339),
        })
    }
}

/// The public view of a stored record; a stored public key that no longer parses is a
/// storage fault, not the caller's.
fn info(record: &KeyRecord) -> Result<KeyInfo, KeyServiceError> {
    KeyInfo::from_record(record).map_err(|e| {
        StoreError::Backend(format!("stored key {} is corrupt: {e}", record.id)).into()
    })
}

/// Key management over a [`KeyStore`], sealing private keys under a [`Kek`].
pub struct KeyService<S> {
    store: S,
    kek: Kek,
    clock: Arc<dyn Clock>,
}

impl<S: KeyStore> KeyService<S> {
    pub fn new(store: S, kek: Kek, clock: Arc<dyn Clock>) -> Self {
        Self { store, kek, clock }
    }

    fn new_id() -> String {
        format!("k{}", hex::encode(rand::random::<[u8; 12]>()))
    }

    /// Seals a private key into a new record for `owner` (not yet stored).
    pub fn seal_record(&self, owner: &str, secret: &SecretKey) -> KeyRecord {
        let id = Self::new_id();
        KeyRecord {
            sealed_private: self.kek.seal(&secret.to_bytes(), id.as_bytes()),
            id,
            owner: owner.to_owned(),
            key_type: secret.key_type(),
            public_multibase: secret.public_key().to_multibase(),
            status: KeyStatus::Active,
            created_at: self.clock.now_millis(),
            retired_at: None,
        }
    }

    /// Generates and stores a new key.
    pub async fn generate(
        &self,
        owner: &str,
        key_type: KeyType,
    ) -> Result<KeyInfo, KeyServiceError> {
        let record = self.seal_record(owner, &SecretKey::generate(key_type));
        self.store.insert_key(&record).await?;
        info(&record)
    }

    /// Imports a private JWK (OKP Ed25519/X25519 or EC P-256).
    pub async fn import_jwk(&self, owner: &str, jwk: &Value) -> Result<KeyInfo, KeyServiceError> {
        let secret = SecretKey::from_jwk_value(jwk)?;
        let record = self.seal_record(owner, &secret);
        self.store.insert_key(&record).await?;
        info(&record)
    }

    pub async fn list(&self, owner: &str) -> Result<Vec<KeyInfo>, KeyServiceError> {
        let records = self.store.list_keys(owner).await?;
        records.iter().map(info).collect()
    }

    pub async fn get(&self, id: &str) -> Result<KeyInfo, KeyServiceError> {
        let record = self.record(id).await?;
        info(&record)
    }

    async fn record(&self, id: &str) -> Result<KeyRecord, KeyServiceError> {
        self.store
            .get_key(id)
            .await?
            .ok_or_else(|| KeyServiceError::NotFound(id.to_owned()))
    }

    /// Replaces an active key by a new one of the same type and owner. The old key is kept,
    /// retired: still published for verification, never used to sign.
    pub async fn rotate(&self, id: &str) -> Result<KeyInfo, KeyServiceError> {
        let old = self.record(id).await?;
        let new = self.seal_record(&old.owner, &SecretKey::generate(old.key_type));
        self.store
            .rotate_key(id, &new, self.clock.now_millis())
            .await?;
        info(&new)
    }

    /// Unseals an active key for signing or key agreement.
    pub async fn secret(&self, id: &str) -> Result<SecretKey, KeyServiceError> {
        let record = self.record(id).await?;
        if record.status != KeyStatus::Active {
            return Err(KeyServiceError::Retired(id.to_owned()));
        }
        let bytes = self
            .kek
            .open(&record.sealed_private, record.id.as_bytes())?;
        Ok(SecretKey::from_bytes(record.key_type, &bytes)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::store::MemoryKeyStore;

    fn service() -> (KeyService<MemoryKeyStore>, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(1_700_000_000_000));
        (
            KeyService::new(MemoryKeyStore::new(), Kek::generate(), clock.clone()),
            clock,
        )
    }

    #[tokio::test]
    async fn generated_keys_are_listed_and_unseal_to_the_same_public_key() {
        let (svc, _) = service();
        for t in KeyType::ALL {
            let info = svc.generate("server", t).await.unwrap();
            assert_eq!(info.key_type, t);
            let secret = svc.secret(&info.id).await.unwrap();
            assert_eq!(
                secret.public_key().to_multibase(),
                info.public_key_multibase
            );
        }
        assert_eq!(svc.list("server").await.unwrap().len(), 3);
    }

    #[tokio::test]
    async fn rotation_keeps_the_old_key_published_but_unusable() {
        let (svc, clock) = service();
        let old = svc.generate("server", KeyType::P256).await.unwrap();
        clock.advance(1000);
        let new = svc.rotate(&old.id).await.unwrap();
        assert_eq!(new.key_type, KeyType::P256);
        let listed = svc.list("server").await.unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].status, KeyStatus::Retired);
        assert_eq!(
            listed[0].retired_at.as_deref(),
            Some("2023-11-14T22:13:21.000Z")
        );
        assert!(matches!(
            svc.secret(&old.id).await,
            Err(KeyServiceError::Retired(_))
        ));
        assert!(svc.secret(&new.id).await.is_ok());
        assert!(matches!(
            svc.rotate(&old.id).await,
            Err(KeyServiceError::Store(StoreError::Conflict(_)))
        ));
    }

    #[tokio::test]
    async fn import_refuses_bad_jwk_and_duplicates() {
        let (svc, _) = service();
        assert!(matches!(
            svc.import_jwk("server", &serde_json::json!({"kty":"oct"}))
                .await,
            Err(KeyServiceError::Key(_))
        ));
        let jwk = serde_json::json!({"kty":"OKP","crv":"Ed25519",
            "d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
            "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
        let info = svc.import_jwk("server", &jwk).await.unwrap();
        assert_eq!(
            info.public_key_jwk["x"],
            "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
        );
        assert!(matches!(
            svc.import_jwk("server", &jwk).await,
            Err(KeyServiceError::Store(StoreError::Duplicate(_)))
        ));
        assert!(matches!(
            svc.get("nope").await,
            Err(KeyServiceError::NotFound(_))
        ));
    }
}
