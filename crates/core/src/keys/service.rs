//! The key service: generate, import, list and rotate keys over any [`KeyStore`], and sign
//! with them ([`Signer`]). The same code runs on the server (sea-orm store) and on the
//! client (wallet). Private keys leave the store only sealed; they are opened here for one
//! signature and wiped at once.

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use super::{Kek, KeyError, KeyType, PublicKey, SecretKey, SignError, Signer};
use crate::clock::{Clock, rfc3339};
use crate::id::{KeyId, Owner};
use crate::store::{KeyRecord, KeyStatus, KeyStore, StoreError};

/// Why a key operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyServiceError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("key `{0}` not found")]
    NotFound(KeyId),
}

/// The public view of a stored key.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct KeyInfo {
    pub id: KeyId,
    pub owner: Owner,
    #[serde(rename = "type")]
    pub key_type: KeyType,
    pub status: KeyStatus,
    /// Multikey encoding (multicodec + base58btc).
    pub public_key_multibase: String,
    /// Public JWK (RFC 7517 / RFC 8037).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub public_key_jwk: Value,
    /// The `did:key` of this key (none for RSA keys, which no DID carries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub did_key: Option<crate::id::Did>,
    /// RFC 3339.
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<String>,
}

impl KeyInfo {
    /// Builds the public view; fails only if the stored public key is corrupt.
    pub fn from_record(record: &KeyRecord) -> Result<Self, KeyError> {
        let public = PublicKey::from_multibase_cached(&record.public_multibase)?;
        Ok(Self {
            id: record.id.clone(),
            owner: record.owner.clone(),
            key_type: record.key_type,
            status: record.status,
            public_key_jwk: public.to_jwk_value(),
            did_key: record
                .key_type
                .in_did_documents()
                .then(|| crate::did::key::did_key(&public)),
            public_key_multibase: record.public_multibase.clone(),
            created_at: rfc3339(record.created_at),
            retired_at: record.retired_at.map(rfc3339),
        })
    }
}

/// A stored public key that no longer parses is a storage fault, not the caller's.
fn corrupt(record: &KeyRecord, e: KeyError) -> StoreError {
    StoreError::Backend(format!("stored key {} is corrupt: {e}", record.id))
}

fn info(record: &KeyRecord) -> Result<KeyInfo, KeyServiceError> {
    KeyInfo::from_record(record).map_err(|e| corrupt(record, e).into())
}

/// RSA keys are the server's only (for OpenID Connect ID tokens); users' keys are the
/// ones their DIDs carry.
fn may_own(owner: &Owner, key_type: KeyType) -> Result<(), KeyError> {
    if key_type.in_did_documents() || *owner == Owner::Server {
        return Ok(());
    }
    Err(KeyError::UnsupportedKeyType(format!(
        "{key_type} for a user (RSA keys are the server's, for OpenID Connect ID tokens)"
    )))
}

/// A new private key; an RSA key's prime search (0.1–1 s) runs on a blocking thread when
/// there is a Tokio runtime to give it one.
async fn fresh_secret(key_type: KeyType) -> SecretKey {
    #[cfg(feature = "http")]
    if key_type == KeyType::Rsa
        && let Ok(runtime) = tokio::runtime::Handle::try_current()
        && let Ok(secret) = runtime
            .spawn_blocking(move || SecretKey::generate(key_type))
            .await
    {
        return secret;
    }
    SecretKey::generate(key_type)
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

    /// The store the keys are kept in.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Seals a private key into a new record for `owner`, to be stored by the caller's
    /// unit of work (e.g. a new user together with their keys).
    pub fn seal_record(&self, owner: &Owner, secret: &SecretKey) -> KeyRecord {
        let id = KeyId::generate();
        KeyRecord {
            sealed_private: self.kek.seal(&secret.to_bytes(), id.as_str().as_bytes()),
            id,
            owner: owner.clone(),
            key_type: secret.key_type(),
            public_multibase: secret.public_key().to_multibase(),
            status: KeyStatus::Active,
            created_at: self.clock.now_millis(),
            retired_at: None,
        }
    }

    /// Fresh records of every key type for `owner` (a new identity's keys), unsaved.
    pub fn fresh_identity_records(&self, owner: &Owner) -> Vec<KeyRecord> {
        KeyType::ALL
            .iter()
            .map(|t| self.seal_record(owner, &SecretKey::generate(*t)))
            .collect()
    }

    /// Generates and stores a new key. RSA keys are server-owned only (ID tokens).
    pub async fn generate(
        &self,
        owner: &Owner,
        key_type: KeyType,
    ) -> Result<KeyInfo, KeyServiceError> {
        may_own(owner, key_type)?;
        let record = self.seal_record(owner, &fresh_secret(key_type).await);
        self.store.insert_key(&record).await?;
        info(&record)
    }

    /// Imports a private JWK (OKP Ed25519/X25519 or EC P-256).
    pub async fn import_jwk(&self, owner: &Owner, jwk: &Value) -> Result<KeyInfo, KeyServiceError> {
        let secret = SecretKey::from_jwk_value(jwk)?;
        may_own(owner, secret.key_type())?;
        let record = self.seal_record(owner, &secret);
        self.store.insert_key(&record).await?;
        info(&record)
    }

    pub async fn list(&self, owner: &Owner) -> Result<Vec<KeyInfo>, KeyServiceError> {
        let records = self.store.list_keys(owner).await?;
        records.iter().map(info).collect()
    }

    pub async fn get(&self, id: &KeyId) -> Result<KeyInfo, KeyServiceError> {
        info(&self.record(id).await?)
    }

    async fn record(&self, id: &KeyId) -> Result<KeyRecord, KeyServiceError> {
        self.store
            .get_key(id)
            .await?
            .ok_or_else(|| KeyServiceError::NotFound(id.clone()))
    }

    /// Replaces an active key by a new one of the same type and owner. The old key is kept,
    /// retired: still published for verification, never used to sign.
    pub async fn rotate(&self, id: &KeyId) -> Result<KeyInfo, KeyServiceError> {
        let old = self.record(id).await?;
        let new = self.seal_record(&old.owner, &fresh_secret(old.key_type).await);
        self.store
            .rotate_key(id, &new, self.clock.now_millis())
            .await?;
        info(&new)
    }

    /// Opens an active key's sealed private part; the caller uses it once and drops it.
    async fn open(&self, id: &KeyId) -> Result<SecretKey, SignError> {
        let record = self
            .store
            .get_key(id)
            .await?
            .ok_or_else(|| SignError::NotFound(id.clone()))?;
        if record.status != KeyStatus::Active {
            return Err(SignError::Retired(id.clone()));
        }
        let bytes = self
            .kek
            .open(&record.sealed_private, record.id.as_str().as_bytes())?;
        Ok(SecretKey::from_bytes(record.key_type, &bytes)?)
    }
}

#[async_trait::async_trait]
impl<S: KeyStore> Signer for KeyService<S> {
    async fn sign(&self, key: &KeyId, message: &[u8]) -> Result<Vec<u8>, SignError> {
        Ok(self.open(key).await?.sign(message)?)
    }

    async fn public_key(&self, key: &KeyId) -> Result<PublicKey, SignError> {
        let record = self
            .store
            .get_key(key)
            .await?
            .ok_or_else(|| SignError::NotFound(key.clone()))?;
        PublicKey::from_multibase_cached(&record.public_multibase)
            .map_err(|e| SignError::Store(corrupt(&record, e)))
    }
}

#[async_trait::async_trait]
impl<S: KeyStore> super::KeyAgreement for KeyService<S> {
    async fn with_secret(
        &self,
        key: &KeyId,
        op: &mut (dyn for<'s> FnMut(&'s SecretKey) + Send),
    ) -> Result<(), SignError> {
        let secret = self.open(key).await?;
        op(&secret);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::store::MemoryStore;

    fn service() -> (KeyService<MemoryStore>, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(1_700_000_000_000));
        (
            KeyService::new(MemoryStore::new(), Kek::generate(), clock.clone()),
            clock,
        )
    }

    fn verify(public: &PublicKey, message: &[u8], sig: &[u8]) -> bool {
        public.verify(message, sig)
    }

    #[tokio::test]
    async fn stored_keys_sign_and_the_signature_verifies_with_the_published_key() {
        let (svc, _) = service();
        for t in [KeyType::Ed25519, KeyType::P256] {
            let info = svc.generate(&Owner::Server, t).await.unwrap();
            let sig = svc.sign(&info.id, b"message").await.unwrap();
            assert_eq!(sig.len(), 64, "{t}: raw signature (r||s for ES256)");
            let public = svc.public_key(&info.id).await.unwrap();
            assert_eq!(public.to_multibase(), info.public_key_multibase);
            assert!(verify(&public, b"message", &sig), "{t}");
            assert!(!verify(&public, b"other", &sig), "{t}");
        }
        let x = svc.generate(&Owner::Server, KeyType::X25519).await.unwrap();
        assert!(matches!(
            svc.sign(&x.id, b"m").await,
            Err(SignError::Key(KeyError::CannotSign(KeyType::X25519)))
        ));
        let missing = KeyId::parse("nope").unwrap();
        assert!(matches!(
            svc.sign(&missing, b"m").await,
            Err(SignError::NotFound(_))
        ));
        assert_eq!(svc.list(&Owner::Server).await.unwrap().len(), 3);
    }

    #[tokio::test]
    async fn rotation_keeps_the_old_key_published_but_unable_to_sign() {
        let (svc, clock) = service();
        let old = svc.generate(&Owner::Server, KeyType::P256).await.unwrap();
        clock.advance(1000);
        let new = svc.rotate(&old.id).await.unwrap();
        assert_eq!(new.key_type, KeyType::P256);
        let listed = svc.list(&Owner::Server).await.unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].status, KeyStatus::Retired);
        assert_eq!(
            listed[0].retired_at.as_deref(),
            Some("2023-11-14T22:13:21.000Z")
        );
        assert!(matches!(
            svc.sign(&old.id, b"m").await,
            Err(SignError::Retired(_))
        ));
        assert!(svc.public_key(&old.id).await.is_ok(), "still published");
        assert!(svc.sign(&new.id, b"m").await.is_ok());
        assert!(matches!(
            svc.rotate(&old.id).await,
            Err(KeyServiceError::Store(StoreError::Conflict(_)))
        ));
    }

    #[tokio::test]
    async fn import_refuses_bad_jwk_and_duplicates() {
        let (svc, _) = service();
        assert!(matches!(
            svc.import_jwk(&Owner::Server, &serde_json::json!({"kty":"oct"}))
                .await,
            Err(KeyServiceError::Key(_))
        ));
        let jwk = serde_json::json!({"kty":"OKP","crv":"Ed25519",
            "d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
            "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
        let info = svc.import_jwk(&Owner::Server, &jwk).await.unwrap();
        assert_eq!(
            info.public_key_jwk["x"],
            "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
        );
        assert!(matches!(
            svc.import_jwk(&Owner::Server, &jwk).await,
            Err(KeyServiceError::Store(StoreError::Duplicate(_)))
        ));
        assert!(matches!(
            svc.get(&KeyId::parse("nope").unwrap()).await,
            Err(KeyServiceError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn rsa_keys_are_the_servers_sign_rs256_and_have_no_did_key() {
        let (svc, _) = service();
        let rsa = svc.generate(&Owner::Server, KeyType::Rsa).await.unwrap();
        assert_eq!((rsa.key_type, rsa.did_key.is_none()), (KeyType::Rsa, true));
        assert_eq!(rsa.public_key_jwk["kty"], "RSA");
        let sig = svc.sign(&rsa.id, b"id token").await.unwrap();
        assert_eq!(sig.len(), 256);
        let public = svc.public_key(&rsa.id).await.unwrap();
        assert!(verify(&public, b"id token", &sig));
        assert!(!verify(&public, b"id tokens", &sig));
        let user = Owner::User(crate::id::UserName::parse("alice").unwrap());
        assert!(matches!(
            svc.generate(&user, KeyType::Rsa).await,
            Err(KeyServiceError::Key(KeyError::UnsupportedKeyType(_)))
        ));
        let jwk = SecretKey::generate(KeyType::Rsa).to_private_jwk_value();
        assert!(matches!(
            svc.import_jwk(&user, &jwk).await,
            Err(KeyServiceError::Key(KeyError::UnsupportedKeyType(_)))
        ));
        let imported = svc.import_jwk(&Owner::Server, &jwk).await.unwrap();
        assert_eq!(imported.public_key_jwk["n"], jwk["n"]);
        let rotated = svc.rotate(&rsa.id).await.unwrap();
        assert_eq!(rotated.key_type, KeyType::Rsa);
    }
}
