//! The admin token: high-entropy, shown once, stored as its SHA-256 and compared in
//! constant time.

use std::sync::Arc;

use super::secret_digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sichat_core::Secret;
use sichat_core::store::StoreError;
use subtle::ConstantTimeEq;

use crate::store::{SeaStore, settings};

/// A fresh token: `sat_` + 32 random bytes, base64url.
pub fn generate() -> Secret<String> {
    Secret::new(format!(
        "sat_{}",
        URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
    ))
}

/// The admin token's store and check.
pub struct AdminTokens {
    store: Arc<SeaStore>,
}

impl AdminTokens {
    pub fn new(store: Arc<SeaStore>) -> Self {
        Self { store }
    }

    /// Stores the token's hash unless one is stored already; returns whether it was stored.
    pub async fn store_if_absent(&self, token: &Secret<String>) -> Result<bool, StoreError> {
        settings::insert_if_absent(
            self.store.db(),
            settings::ADMIN_TOKEN_SHA256,
            &secret_digest(token.expose()),
        )
        .await
    }

    /// Replaces the token with a fresh one (rotation); the old one stops working at once.
    pub async fn rotate(&self) -> Result<Secret<String>, StoreError> {
        let token = generate();
        settings::put(
            self.store.db(),
            settings::ADMIN_TOKEN_SHA256,
            &secret_digest(token.expose()),
        )
        .await?;
        Ok(token)
    }

    /// Checks a presented token against the stored hash.
    pub async fn verify(&self, presented: &str) -> Result<bool, StoreError> {
        let Some(stored) = settings::get(self.store.db(), settings::ADMIN_TOKEN_SHA256).await?
        else {
            return Ok(false);
        };
        Ok(bool::from(
            secret_digest(presented).as_bytes().ct_eq(stored.as_bytes()),
        ))
    }
}
