//! Users' API tokens: `sut_` + 32 random bytes (base64url), shown once, stored as SHA-256
//! (a high-entropy secret needs no slow hash), looked up by that hash, revocable. A token
//! acts for its user only: issuing as the user's DIDs, the user's holder API.

use std::sync::Arc;

use super::secret_digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sichat_core::api::UserTokenView;
use sichat_core::id::UserName;
use sichat_core::store::StoreError;
use sichat_core::{Clock, Secret};

use crate::error::ApiError;
use crate::store::{SeaStore, tokens};

/// The prefix of every user token (admin tokens start `sat_`).
pub const PREFIX: &str = "sut_";
/// Longest label kept.
const MAX_LABEL: usize = 128;

fn view(row: tokens::TokenRow) -> UserTokenView {
    UserTokenView {
        id: row.id,
        label: row.label,
        created_at: row.created_at,
        revoked_at: row.revoked_at,
    }
}

pub struct UserTokens {
    store: Arc<SeaStore>,
    clock: Arc<dyn Clock>,
}

impl UserTokens {
    pub fn new(store: Arc<SeaStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// Creates a token for `user`: its description, and the token itself (shown once).
    pub async fn create(
        &self,
        user: &UserName,
        label: Option<&str>,
    ) -> Result<(UserTokenView, Secret<String>), ApiError> {
        if label.is_some_and(|l| l.chars().count() > MAX_LABEL || l.chars().any(char::is_control)) {
            return Err(ApiError::validation(format!(
                "a token label is at most {MAX_LABEL} characters, without control characters"
            ))
            .with("field", "label".into()));
        }
        let token = Secret::new(format!(
            "{PREFIX}{}",
            URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
        ));
        let row = tokens::insert(
            self.store.db(),
            user,
            &uuid::Uuid::new_v4().to_string(),
            label,
            &secret_digest(token.expose()),
            self.clock.now_millis(),
        )
        .await?;
        Ok((view(row), token))
    }

    pub async fn list(&self, user: &UserName) -> Result<Vec<UserTokenView>, StoreError> {
        Ok(tokens::list(self.store.db(), user)
            .await?
            .into_iter()
            .map(view)
            .collect())
    }

    /// Revokes a token; it stops working at once. `false`: no such unrevoked token.
    pub async fn revoke(&self, user: &UserName, id: &str) -> Result<bool, StoreError> {
        tokens::revoke(self.store.db(), user, id, self.clock.now_millis()).await
    }

    /// The user a presented token acts for, if it is a valid, unrevoked user token.
    pub async fn authenticate(&self, presented: &str) -> Result<Option<UserName>, StoreError> {
        if !presented.starts_with(PREFIX) || presented.len() > 128 {
            return Ok(None);
        }
        tokens::user_of(self.store.db(), &secret_digest(presented)).await
    }
}
