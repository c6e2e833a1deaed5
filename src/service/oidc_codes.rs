//! Authorization codes (RFC 6749 §4.1, RFC 7636): 32 random bytes, kept only as SHA-256,
//! valid 60 s, redeemable once, and only by the client they were issued to, with the same
//! redirect URI and the PKCE verifier of their `S256` challenge. A second redemption
//! revokes the grant, and with it whatever the first one issued.

use std::sync::Arc;

use super::secret_digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sichat_core::id::UserId;
use sichat_core::{Clock, Secret, oauth};

use crate::error::ApiError;
use crate::store::oidc_grants::{self, Bindings, CodeRow, GrantRow, Redemption, RefreshUse};
use crate::store::redemptions::Redemptions;
use crate::store::{SeaStore, begin_write, map_err};

/// How long a code may wait to be redeemed (RFC 6749 §4.1.2 recommends at most 10 min;
/// a browser redirect takes seconds).
pub const CODE_LIFETIME_MS: i64 = 60_000;
/// How long a refresh token may wait to be used (each use replaces it).
pub const REFRESH_LIFETIME_MS: i64 = 30 * 24 * 3600 * 1000;
/// How long after expiry codes and refresh tokens are deleted.
const PURGE_AFTER_MS: i64 = 3600 * 1000;
/// The prefix of refresh tokens.
pub const REFRESH_PREFIX: &str = "sor_";

/// What presenting a refresh token did.
#[derive(Debug)]
pub enum Rotation {
    /// Used, and replaced by the new token.
    Rotated(GrantRow, Secret<String>),
    /// Valid, but the caller's check refused the request: nothing changed.
    Refused(GrantRow),
    /// Used before: the grant is now revoked.
    Reused,
    /// Unknown, expired, another client's, or its grant revoked: nothing changed.
    Invalid,
}

/// What the user granted the client, recorded when the code is issued.
#[derive(Debug, Clone)]
pub struct NewGrant {
    pub client_id: String,
    pub user_id: Option<UserId>,
    pub scope: String,
    pub nonce: Option<String>,
    /// Unix seconds.
    pub auth_time: Option<i64>,
    /// Claims asked for by name with the `claims` parameter (OIDC Core §5.5).
    pub claims: Vec<String>,
}

fn new_refresh_token() -> Secret<String> {
    Secret::new(format!(
        "{REFRESH_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
    ))
}

pub struct AuthorizationCodes {
    store: Arc<SeaStore>,
    clock: Arc<dyn Clock>,
    redemptions: Redemptions,
}

impl AuthorizationCodes {
    pub fn new(store: Arc<SeaStore>, clock: Arc<dyn Clock>) -> Self {
        Self {
            redemptions: Redemptions::start(store.db().clone()),
            store,
            clock,
        }
    }

    /// Records the grant and issues its code, bound to `redirect_uri` and the `S256`
    /// `challenge`. Returns the code (to send once) and the grant id.
    pub async fn issue(
        &self,
        grant: NewGrant,
        redirect_uri: &str,
        challenge: &str,
    ) -> Result<(Secret<String>, String), ApiError> {
        // Empty: a client allowed to skip PKCE sent no challenge.
        if !challenge.is_empty() {
            oauth::check_code_challenge(challenge).map_err(|e| ApiError::validation(e.0))?;
        }
        let now = self.clock.now_millis();
        let code = Secret::new(URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>()));
        let grant_id = uuid::Uuid::new_v4().to_string();
        let grant_row = GrantRow {
            id: grant_id.clone(),
            client_id: grant.client_id.clone(),
            user_id: grant.user_id.map(|u| u.to_string()),
            scope: grant.scope,
            nonce: grant.nonce,
            auth_time: grant.auth_time,
            created_at: now,
            revoked_at: None,
            claims: (!grant.claims.is_empty())
                .then(|| serde_json::to_string(&grant.claims).unwrap_or_default()),
        };
        let code_row = CodeRow {
            code_sha256: secret_digest(code.expose()),
            grant_id: grant_id.clone(),
            client_id: grant.client_id,
            redirect_uri: redirect_uri.to_owned(),
            code_challenge: challenge.to_owned(),
            expires_at: now + CODE_LIFETIME_MS,
            redeemed_at: None,
            user_id: grant_row.user_id.clone(),
            scope: Some(grant_row.scope.clone()),
            nonce: grant_row.nonce.clone(),
            auth_time: grant_row.auth_time,
            claims: grant_row.claims.clone(),
        };
        let txn = begin_write(self.store.db()).await.map_err(map_err)?;
        oidc_grants::insert_grant_with_code(&txn, grant_row, code_row).await?;
        txn.commit().await.map_err(map_err)?;
        Ok((code, grant_id))
    }

    /// Redeems `code` for `client_id` with `redirect_uri` and the PKCE `verifier` (empty
    /// for a code issued without a challenge): one atomic conditional update that also
    /// returns the grant, so a concurrent replay can only revoke it afterwards; committed
    /// with the other redemptions waiting at that moment (group commit).
    pub async fn redeem(
        &self,
        code: &str,
        client_id: &str,
        redirect_uri: &str,
        verifier: &str,
    ) -> Result<Redemption, ApiError> {
        // Inputs a database could refuse (NUL, over-long) never reach a batch.
        let storable = |v: &str| v.len() <= 2048 && !v.chars().any(char::is_control);
        if code.len() > 256
            || !storable(code)
            || !storable(redirect_uri)
            || oauth::check_client_id(client_id).is_err()
            || (!verifier.is_empty() && oauth::check_code_verifier(verifier).is_err())
        {
            return Ok(Redemption::Invalid);
        }
        let code_sha256 = secret_digest(code);
        // No verifier matches only a code stored without a challenge.
        let challenge = if verifier.is_empty() {
            String::new()
        } else {
            oauth::s256_challenge(verifier)
        };
        let bindings = Bindings {
            code_sha256: &code_sha256,
            client_id,
            redirect_uri,
            challenge: &challenge,
        };
        Ok(self
            .redemptions
            .redeem(bindings, self.clock.now_millis())
            .await?)
    }

    /// A new refresh token for `grant_id` (stored as SHA-256).
    pub async fn issue_refresh(&self, grant_id: &str) -> Result<Secret<String>, ApiError> {
        let token = new_refresh_token();
        let expires = self.clock.now_millis() + REFRESH_LIFETIME_MS;
        oidc_grants::insert_refresh(
            self.store.db(),
            &secret_digest(token.expose()),
            grant_id,
            expires,
        )
        .await?;
        Ok(token)
    }

    /// Uses a refresh token for `client_id` and, when that succeeds and `accept` agrees
    /// (the requested scope, say), issues its successor in the same write transaction
    /// (rotation); when `accept` refuses, nothing changes. A token used before revokes
    /// its grant.
    pub async fn rotate_refresh(
        &self,
        token: &str,
        client_id: &str,
        accept: impl FnOnce(&GrantRow) -> bool,
    ) -> Result<Rotation, ApiError> {
        if token.len() > 256 || !token.starts_with(REFRESH_PREFIX) {
            return Ok(Rotation::Invalid);
        }
        let now = self.clock.now_millis();
        let txn = begin_write(self.store.db()).await.map_err(map_err)?;
        let rotation =
            match oidc_grants::use_refresh(&txn, &secret_digest(token), client_id, now).await? {
                RefreshUse::Used(grant) if !accept(&grant) => {
                    // Dropping the transaction rolls the use back.
                    return Ok(Rotation::Refused(grant));
                }
                RefreshUse::Used(grant) => {
                    let next = new_refresh_token();
                    oidc_grants::insert_refresh(
                        &txn,
                        &secret_digest(next.expose()),
                        &grant.id,
                        now + REFRESH_LIFETIME_MS,
                    )
                    .await?;
                    Rotation::Rotated(grant, next)
                }
                RefreshUse::Reused => Rotation::Reused,
                RefreshUse::Invalid => Rotation::Invalid,
            };
        txn.commit().await.map_err(map_err)?;
        Ok(rotation)
    }

    /// Deletes codes and refresh tokens expired for more than an hour (a replay within the
    /// hour still finds its code and revokes the grant).
    pub async fn purge(&self) -> Result<u64, ApiError> {
        let before = self.clock.now_millis() - PURGE_AFTER_MS;
        Ok(oidc_grants::purge_expired(self.store.db(), before).await?)
    }

    /// Revokes a grant: every token issued from it stops working.
    pub async fn revoke(&self, grant_id: &str) -> Result<bool, ApiError> {
        Ok(oidc_grants::revoke_grant(self.store.db(), grant_id, self.clock.now_millis()).await?)
    }

    pub async fn grant(&self, grant_id: &str) -> Result<Option<GrantRow>, ApiError> {
        Ok(oidc_grants::grant(self.store.db(), grant_id).await?)
    }
}
