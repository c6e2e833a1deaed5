//! Users: each gets an Ed25519, a P-256 and an X25519 key and a did:web under
//! `/users/<name>`, created in one transaction. Passwords (for the coming login pages) are
//! hashed with Argon2id off the async runtime.

use std::sync::Arc;

use argon2::password_hash::{PasswordHasher, SaltString};
use sea_orm::DatabaseConnection;
use serde::Serialize;
use sichat_core::keys::{KeyInfo, KeyType, SecretKey};
use sichat_core::store::StoreError;
use sichat_core::{Clock, Secret, SystemClock};

use super::identity::IdentityService;
use super::{ServerKeys, user_owner};
use crate::store::{self, users::UserRow};

/// Why a user operation failed.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error(
        "invalid user name `{0}`: use 1-64 characters a-z, 0-9, '.', '_' or '-', starting with a letter or digit"
    )]
    InvalidName(String),
    #[error("password must be 8 to 1024 characters")]
    InvalidPassword,
    #[error("user `{0}` already exists")]
    Exists(String),
    #[error("user `{0}` not found")]
    NotFound(String),
    #[error(transparent)]
    Store(StoreError),
    #[error("password hashing failed: {0}")]
    Hash(String),
}

impl From<StoreError> for UserError {
    fn from(e: StoreError) -> Self {
        UserError::Store(e)
    }
}

/// A user as the admin API and CLI show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    pub id: String,
    pub name: String,
    pub did: String,
    pub has_password: bool,
    pub created_at: String,
    pub keys: Vec<KeyInfo>,
}

pub struct UserService {
    db: DatabaseConnection,
    keys: Arc<ServerKeys>,
    identity: Arc<IdentityService>,
}

/// A user name: 1–64 characters a–z, 0–9, `.`, `_`, `-`, starting with a letter or digit,
/// so that it is usable as is in a did:web path segment and a URL path segment.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserName(String);

impl UserName {
    pub fn parse(name: &str) -> Result<Self, UserError> {
        let ok = (1..=64).contains(&name.len())
            && name
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            && name.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
            });
        if ok {
            Ok(Self(name.to_owned()))
        } else {
            Err(UserError::InvalidName(name.chars().take(80).collect()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The owner string of this user's keys (`user:<name>`).
    pub fn owner(&self) -> String {
        user_owner(&self.0)
    }
}

impl std::fmt::Display for UserName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl UserService {
    pub fn new(
        db: DatabaseConnection,
        keys: Arc<ServerKeys>,
        identity: Arc<IdentityService>,
    ) -> Self {
        Self { db, keys, identity }
    }

    /// Creates a user with fresh keys; all of it is committed in one transaction.
    pub async fn create(
        &self,
        name: &UserName,
        password: Option<Secret<String>>,
    ) -> Result<UserView, UserError> {
        let password_hash = match password {
            Some(p) => {
                if !(8..=1024).contains(&p.expose().chars().count()) {
                    return Err(UserError::InvalidPassword);
                }
                Some(hash_password(p).await?)
            }
            None => None,
        };
        let owner = name.owner();
        let records: Vec<_> = KeyType::ALL
            .iter()
            .map(|t| self.keys.seal_record(&owner, &SecretKey::generate(*t)))
            .collect();
        let row = UserRow {
            id: uuid::Uuid::new_v4().to_string(),
            name: name.to_string(),
            password_hash,
            created_at: SystemClock.now_millis(),
        };
        let txn = store::begin_write(&self.db).await.map_err(store::map_err)?;
        match store::users::insert(&txn, &row).await {
            Err(StoreError::Duplicate(_)) => return Err(UserError::Exists(name.to_string())),
            other => other?,
        }
        for r in &records {
            store::keys::insert(&txn, r).await?;
        }
        txn.commit().await.map_err(store::map_err)?;
        self.view(row).await
    }

    pub async fn get(&self, name: &str) -> Result<UserView, UserError> {
        let Ok(name) = UserName::parse(name) else {
            return Err(UserError::NotFound(name.chars().take(80).collect()));
        };
        let row = store::users::find_by_name(&self.db, name.as_str())
            .await?
            .ok_or_else(|| UserError::NotFound(name.to_string()))?;
        self.view(row).await
    }

    pub async fn list(&self) -> Result<Vec<UserView>, UserError> {
        let mut out = Vec::new();
        for row in store::users::list(&self.db).await? {
            out.push(self.view(row).await?);
        }
        Ok(out)
    }

    /// Whether the user exists (owner checks).
    pub async fn exists(&self, name: &UserName) -> Result<bool, StoreError> {
        Ok(store::users::find_by_name(&self.db, name.as_str())
            .await?
            .is_some())
    }

    async fn view(&self, row: UserRow) -> Result<UserView, UserError> {
        let keys = self
            .keys
            .list(&user_owner(&row.name))
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        Ok(UserView {
            did: self.identity.user_did(&row.name),
            has_password: row.password_hash.is_some(),
            created_at: chrono::DateTime::from_timestamp_millis(row.created_at)
                .unwrap_or_default()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            id: row.id,
            name: row.name,
            keys,
        })
    }
}

async fn hash_password(password: Secret<String>) -> Result<String, UserError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        argon2::Argon2::default()
            .hash_password(password.expose().as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| UserError::Hash(e.to_string()))
    })
    .await
    .map_err(|e| UserError::Hash(e.to_string()))?
}
