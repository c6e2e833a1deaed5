//! The signing seam: sign with a stored key by id, without the secret ever leaving the
//! key store's owner. Credentials, ID tokens and DIDComm messages all sign through a
//! [`Signer`]; [`crate::did::SsiSigner`]-style adapters plug it into ssi.

use super::{KeyError, PublicKey};
use crate::id::KeyId;
use crate::store::StoreError;

/// Why a signature could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("key `{0}` not found")]
    NotFound(KeyId),
    /// Retired keys stay published for verification but never sign again.
    #[error("key `{0}` is retired and cannot sign")]
    Retired(KeyId),
    /// Key-agreement keys (X25519) cannot sign; a sealed key that does not open.
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Signs with stored keys. Ed25519 keys sign the message itself (RFC 8032); P-256 keys
/// sign its SHA-256 and return the fixed-size `r || s` (64 bytes, the JWS `ES256` form).
#[async_trait::async_trait]
pub trait Signer: Send + Sync {
    /// Signs `message` with the active key `key`.
    async fn sign(&self, key: &KeyId, message: &[u8]) -> Result<Vec<u8>, SignError>;
    /// The public key of `key` (active or retired).
    async fn public_key(&self, key: &KeyId) -> Result<PublicKey, SignError>;
}

/// Key agreement with stored keys (DIDComm envelopes): the secret is opened for one
/// operation, handed to `op`, and wiped when it returns. The operation decides which key
/// types it can use.
#[async_trait::async_trait]
pub trait KeyAgreement: Send + Sync {
    /// Runs `op` with the secret of the active key `key`.
    async fn with_secret(
        &self,
        key: &KeyId,
        op: &mut (dyn for<'s> FnMut(&'s super::SecretKey) + Send),
    ) -> Result<(), SignError>;
}

#[async_trait::async_trait]
impl<T: KeyAgreement + ?Sized> KeyAgreement for std::sync::Arc<T> {
    async fn with_secret(
        &self,
        key: &KeyId,
        op: &mut (dyn for<'s> FnMut(&'s super::SecretKey) + Send),
    ) -> Result<(), SignError> {
        (**self).with_secret(key, op).await
    }
}

#[async_trait::async_trait]
impl<T: Signer + ?Sized> Signer for std::sync::Arc<T> {
    async fn sign(&self, key: &KeyId, message: &[u8]) -> Result<Vec<u8>, SignError> {
        (**self).sign(key, message).await
    }
    async fn public_key(&self, key: &KeyId) -> Result<PublicKey, SignError> {
        (**self).public_key(key).await
    }
}
