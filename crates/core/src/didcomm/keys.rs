//! Which of our stored keys answer for a key named in a DID document: the seam between
//! DIDComm and the key service. Messages are decrypted and signed through it without a
//! secret leaving the key service ([`Signer`], [`KeyAgreement`]).

use std::sync::Arc;

use crate::id::{Did, KeyId, Owner};
use crate::keys::{KeyAgreement, KeyService, PublicKey, SecretKey, SignError, Signer};
use crate::store::{KeyStatus, KeyStore, StoreError};

/// The keys one party (the server, a user's device) uses for DIDComm.
#[async_trait::async_trait]
pub trait DidcommKeys: Signer + KeyAgreement {
    /// The active stored key whose public key is `public`, when this party holds it and
    /// may use it as `did` (the DID whose document lists it).
    async fn key_for(&self, did: &Did, public: &PublicKey) -> Result<Option<KeyId>, StoreError>;
}

/// The keys of one owner in a [`KeyService`]: a key answers for any DID whose document
/// lists it.
pub struct OwnerKeys<S: KeyStore> {
    service: Arc<KeyService<S>>,
    owner: Owner,
}

impl<S: KeyStore> OwnerKeys<S> {
    pub fn new(service: Arc<KeyService<S>>, owner: Owner) -> Self {
        Self { service, owner }
    }
}

#[async_trait::async_trait]
impl<S: KeyStore> Signer for OwnerKeys<S> {
    async fn sign(&self, key: &KeyId, message: &[u8]) -> Result<Vec<u8>, SignError> {
        self.service.sign(key, message).await
    }
    async fn public_key(&self, key: &KeyId) -> Result<PublicKey, SignError> {
        self.service.public_key(key).await
    }
}

#[async_trait::async_trait]
impl<S: KeyStore> KeyAgreement for OwnerKeys<S> {
    async fn with_secret(
        &self,
        key: &KeyId,
        op: &mut (dyn for<'s> FnMut(&'s SecretKey) + Send),
    ) -> Result<(), SignError> {
        self.service.with_secret(key, op).await
    }
}

#[async_trait::async_trait]
impl<S: KeyStore> DidcommKeys for OwnerKeys<S> {
    async fn key_for(&self, _did: &Did, public: &PublicKey) -> Result<Option<KeyId>, StoreError> {
        let wanted = public.to_multibase();
        Ok(self
            .service
            .store()
            .list_keys(&self.owner)
            .await?
            .into_iter()
            .find(|r| r.status == KeyStatus::Active && r.public_multibase == wanted)
            .map(|r| r.id))
    }
}
