//! The admin token: high-entropy, shown once, stored as its SHA-256 and compared in
//! constant time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sea_orm::ConnectionTrait;
use sha2::{Digest, Sha256};
use sichat_core::Secret;
use sichat_core::store::StoreError;
use subtle::ConstantTimeEq;

use crate::store::settings;

/// A fresh token: `sat_` + 32 random bytes, base64url.
pub fn generate() -> Secret<String> {
    Secret::new(format!(
        "sat_{}",
        URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
    ))
}

fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Stores the token's hash unless one is stored already; returns whether it was stored.
pub async fn store_if_absent(db: &impl ConnectionTrait, token: &str) -> Result<bool, StoreError> {
    settings::insert_if_absent(db, settings::ADMIN_TOKEN_SHA256, &digest(token)).await
}

/// Replaces the token (rotation); the old one stops working at once.
pub async fn replace(db: &impl ConnectionTrait, token: &str) -> Result<(), StoreError> {
    settings::put(db, settings::ADMIN_TOKEN_SHA256, &digest(token)).await
}

/// Checks a presented token against the stored hash.
pub async fn verify(db: &impl ConnectionTrait, presented: &str) -> Result<bool, StoreError> {
    let Some(stored) = settings::get(db, settings::ADMIN_TOKEN_SHA256).await? else {
        return Ok(false);
    };
    Ok(bool::from(
        digest(presented).as_bytes().ct_eq(stored.as_bytes()),
    ))
}
