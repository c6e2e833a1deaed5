//! The UserInfo endpoint's claims (OIDC Core §5.3): `sub` always, then per granted scope
//! `profile` (`name`, `preferred_username`) and `email`, for an access token a user's
//! grant issued with `openid`; then the claims the user's held credentials back
//! ([`ClaimRules`]), verified now, which take precedence over the profile's.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::access_tokens::{AccessTokens, Subject, Validated};
use super::claim_rules::ClaimRules;
use crate::store::SeaStore;

/// Why a request gets no claims (RFC 6750 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserInfoError {
    /// No token, or one that is not valid (401, `invalid_token` when one was sent).
    InvalidToken,
    /// A valid token without `openid`, or not a user's (403, `insufficient_scope`).
    InsufficientScope,
}

pub struct UserInfo {
    access: Arc<AccessTokens>,
    store: Arc<SeaStore>,
    claim_rules: Arc<ClaimRules>,
}

impl UserInfo {
    pub fn new(
        access: Arc<AccessTokens>,
        store: Arc<SeaStore>,
        claim_rules: Arc<ClaimRules>,
    ) -> Self {
        Self {
            access,
            store,
            claim_rules,
        }
    }

    /// The claims `token` may read.
    pub async fn claims(&self, token: &str) -> Result<Map<String, Value>, UserInfoErrorOr> {
        let Some(valid) = self.access.validate(token).await? else {
            return Err(UserInfoError::InvalidToken.into());
        };
        let Validated {
            subject: Subject::Grant(_),
            user_id: Some(user_id),
            ..
        } = &valid
        else {
            return Err(UserInfoError::InsufficientScope.into());
        };
        if !valid.has_scope("openid") {
            return Err(UserInfoError::InsufficientScope.into());
        }
        let user = self
            .store
            .user_by_id(user_id)
            .await?
            .ok_or(UserInfoError::InvalidToken)?;
        let mut claims = Map::new();
        claims.insert("sub".into(), Value::String(user_id.clone()));
        if valid.has_scope("profile") {
            claims.insert(
                "preferred_username".into(),
                Value::String(user.name.to_string()),
            );
            if let Some(name) = user.profile.display_name.clone() {
                claims.insert("name".into(), Value::String(name));
            }
        }
        if valid.has_scope("email")
            && let Some(email) = user.profile.email.clone()
        {
            claims.insert("email".into(), Value::String(email));
            // Set by the operator, not proven: a verified address comes from a credential.
            claims.insert("email_verified".into(), Value::Bool(false));
        }
        let scopes = valid.scope.split(' ');
        let mut backed = self
            .claim_rules
            .release(user_id, scopes, &valid.claims)
            .await
            .map_err(UserInfoErrorOr::Internal)?;
        // `email_verified: true` only beside an address a credential proved.
        if !backed.get("email").is_some_and(Value::is_string) {
            backed.remove("email_verified");
        }
        claims.extend(backed);
        Ok(claims)
    }
}

/// A UserInfo refusal, or a storage failure.
#[derive(Debug)]
pub enum UserInfoErrorOr {
    Refused(UserInfoError),
    Store(sichat_core::store::StoreError),
    Internal(crate::error::ApiError),
}

impl From<UserInfoError> for UserInfoErrorOr {
    fn from(e: UserInfoError) -> Self {
        Self::Refused(e)
    }
}

impl From<sichat_core::store::StoreError> for UserInfoErrorOr {
    fn from(e: sichat_core::store::StoreError) -> Self {
        Self::Store(e)
    }
}
