//! Users: each gets an Ed25519, a P-256 and an X25519 key and a did:web under
//! `/users/<name>`, stored together in one unit of work. Passwords (for the login pages)
//! go through the bounded [`PasswordHasher`].

use std::sync::Arc;

use sichat_core::api::UserView;
use sichat_core::id::{InvalidId, Owner, UserId, UserName};
use sichat_core::store::{
    Changes, InvalidProfile, StoreError, UnitOfWork, UserProfile, UserRecord, UserStore,
};
use sichat_core::{Clock, Secret};

use super::ServerKeys;
use super::identity::IdentityService;
use super::passwords::{PasswordError, PasswordHasher};
use crate::store::SeaStore;

/// Why a user operation failed.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error(transparent)]
    InvalidId(#[from] InvalidId),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error("user `{0}` already exists")]
    Exists(UserName),
    #[error("user `{0}` not found")]
    NotFound(UserName),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Profile(#[from] InvalidProfile),
}

pub struct UserService {
    store: Arc<SeaStore>,
    keys: Arc<ServerKeys>,
    identity: Arc<IdentityService>,
    passwords: Arc<PasswordHasher>,
    clock: Arc<dyn Clock>,
}

impl UserService {
    pub fn new(
        store: Arc<SeaStore>,
        keys: Arc<ServerKeys>,
        identity: Arc<IdentityService>,
        passwords: Arc<PasswordHasher>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            keys,
            identity,
            passwords,
            clock,
        }
    }

    /// Creates a user with fresh keys; the user and the keys commit together.
    pub async fn create(
        &self,
        name: &UserName,
        password: Option<Secret<String>>,
        profile: UserProfile,
    ) -> Result<UserView, UserError> {
        profile.check()?;
        let password_hash = match password {
            Some(p) => Some(self.passwords.hash(p).await?),
            None => None,
        };
        let user = UserRecord {
            id: UserId::generate(),
            name: name.clone(),
            password_hash,
            created_at: self.clock.now_millis(),
            profile,
        };
        let mut changes = Changes::new().user(user.clone());
        for key in self.keys.fresh_identity_records(&Owner::User(name.clone())) {
            changes = changes.key(key);
        }
        if let Err(e) = self.store.save_changes(&changes).await {
            // Fresh keys cannot clash: a duplicate here is the name, taken meanwhile.
            if matches!(e, StoreError::Duplicate(_)) && self.store.get_user(name).await?.is_some() {
                return Err(UserError::Exists(name.clone()));
            }
            return Err(e.into());
        }
        self.view(user).await
    }

    pub async fn get(&self, name: &UserName) -> Result<UserView, UserError> {
        let user = self
            .store
            .get_user(name)
            .await?
            .ok_or_else(|| UserError::NotFound(name.clone()))?;
        self.view(user).await
    }

    pub async fn list(&self) -> Result<Vec<UserView>, UserError> {
        let mut out = Vec::new();
        for user in self.store.list_users().await? {
            out.push(self.view(user).await?);
        }
        Ok(out)
    }

    /// Parses an owner (`server` or `user:<name>`) and checks that the user exists: the one
    /// check the admin API and the CLI share.
    pub async fn owner(&self, text: Option<&str>) -> Result<Owner, UserError> {
        let owner = Owner::parse(text.unwrap_or("server"))?;
        if let Owner::User(name) = &owner
            && self.store.get_user(name).await?.is_none()
        {
            return Err(UserError::NotFound(name.clone()));
        }
        Ok(owner)
    }

    async fn view(&self, user: UserRecord) -> Result<UserView, UserError> {
        let owner = Owner::User(user.name.clone());
        let keys = self
            .keys
            .list(&owner)
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        Ok(UserView {
            did: self.identity.user_did(&user.name),
            has_password: user.password_hash.is_some(),
            email: user.profile.email,
            display_name: user.profile.display_name,
            created_at: sichat_core::clock::rfc3339(user.created_at),
            id: user.id,
            name: user.name,
            keys,
        })
    }
}
