//! Signing in to this server's pages: a username and password checked with Argon2id (off
//! the runtime threads, through the bounded [`PasswordHasher`]), rate-limited per account
//! and per client address before any hashing, with a dummy hash for unknown users so that
//! the answer takes as long whether or not the account exists. A successful sign-in
//! creates a session: a random secret for the cookie, stored as SHA-256, remembered for
//! [`SESSION_LIFETIME_MS`] unless the user ends it (sign-out, the account page).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sichat_core::id::UserName;
use sichat_core::store::UserRecord;
use sichat_core::{Clock, Secret};
use tokio::sync::OnceCell;

use super::passwords::{PasswordError, PasswordHasher};
use super::rate_limit::RateLimiter;
use super::secret_digest;
use crate::error::ApiError;
use crate::store::oidc_sessions::{self, SessionRow};
use crate::store::{SeaStore, users};

/// How long a session is remembered.
pub const SESSION_LIFETIME_MS: i64 = 14 * 24 * 3600 * 1000;
/// Sign-in attempts per account per minute, and per client address per minute.
pub const ATTEMPTS_PER_ACCOUNT: u32 = 10;
pub const ATTEMPTS_PER_ADDRESS: u32 = 30;
/// The longest `User-Agent` kept as a session's label.
const MAX_LABEL: usize = 120;

/// Why a sign-in failed.
#[derive(Debug)]
pub enum LoginError {
    /// Too many attempts for this account or address: retry after this many seconds.
    TooMany(u64),
    /// Unknown user, no password, or a wrong one (the page never says which).
    Invalid,
    Other(ApiError),
}

impl From<PasswordError> for LoginError {
    fn from(e: PasswordError) -> Self {
        LoginError::Other(e.into())
    }
}

impl From<sichat_core::store::StoreError> for LoginError {
    fn from(e: sichat_core::store::StoreError) -> Self {
        LoginError::Other(e.into())
    }
}

/// A live session and whose it is.
#[derive(Debug, Clone)]
pub struct Session {
    pub row: SessionRow,
    pub user: UserName,
}

pub struct Sessions {
    store: Arc<SeaStore>,
    passwords: Arc<PasswordHasher>,
    clock: Arc<dyn Clock>,
    per_account: RateLimiter,
    per_address: RateLimiter,
    /// A hash of a random password with the same parameters, checked for unknown users.
    dummy: OnceCell<String>,
}

impl Sessions {
    pub fn new(
        store: Arc<SeaStore>,
        passwords: Arc<PasswordHasher>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let minute = Duration::from_secs(60);
        Self {
            per_account: RateLimiter::new(ATTEMPTS_PER_ACCOUNT, minute, clock.clone()),
            per_address: RateLimiter::new(ATTEMPTS_PER_ADDRESS, minute, clock.clone()),
            store,
            passwords,
            clock,
            dummy: OnceCell::new(),
        }
    }

    async fn dummy_hash(&self) -> Result<&str, PasswordError> {
        self.dummy
            .get_or_try_init(|| async {
                let random = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 24]>());
                self.passwords.hash(Secret::new(random)).await
            })
            .await
            .map(String::as_str)
    }

    /// Checks `username` and `password` and opens a session. Returns the cookie's secret
    /// (to send once) and the session. `address` is the client's, for the rate limit;
    /// `label` its `User-Agent`.
    pub async fn login(
        &self,
        username: &str,
        password: Secret<String>,
        address: Option<IpAddr>,
        label: &str,
    ) -> Result<(Secret<String>, Session), LoginError> {
        if let Some(ip) = address {
            self.per_address
                .hit(&ip.to_string())
                .map_err(LoginError::TooMany)?;
        }
        let account = username.trim().to_lowercase();
        let account_key: String = account.chars().take(64).collect();
        self.per_account
            .hit(&account_key)
            .map_err(LoginError::TooMany)?;
        // The dummy exists before the lookup, so that its first computation is not a tell.
        let dummy = self.dummy_hash().await?.to_owned();
        let user: Option<UserRecord> = match UserName::parse(&account) {
            Ok(name) => users::find_by_name(self.store.db(), &name).await?,
            Err(_) => None,
        };
        let (phc, user) = match user {
            Some(u) => match u.password_hash.clone() {
                Some(phc) => (phc, Some(u)),
                None => (dummy, None),
            },
            None => (dummy, None),
        };
        let matches = self.passwords.verify(password, &phc).await?;
        let Some(user) = user.filter(|_| matches) else {
            return Err(LoginError::Invalid);
        };
        let now = self.clock.now_millis();
        let secret = Secret::new(URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>()));
        let row = SessionRow {
            id: uuid::Uuid::new_v4().to_string(),
            secret_sha256: secret_digest(secret.expose()),
            user_id: user.id.to_string(),
            auth_time: now,
            created_at: now,
            last_seen_at: now,
            expires_at: now + SESSION_LIFETIME_MS,
            revoked_at: None,
            label: label
                .chars()
                .filter(|c| !c.is_control())
                .take(MAX_LABEL)
                .collect(),
        };
        oidc_sessions::insert_session(self.store.db(), row.clone()).await?;
        Ok((
            secret,
            Session {
                row,
                user: user.name,
            },
        ))
    }

    /// The live session a cookie's secret opens, if any.
    pub async fn current(&self, secret: &str) -> Result<Option<Session>, ApiError> {
        if secret.is_empty() || secret.len() > 128 {
            return Ok(None);
        }
        let db = self.store.db();
        let now = self.clock.now_millis();
        let Some(row) = oidc_sessions::live_session(db, &secret_digest(secret), now).await? else {
            return Ok(None);
        };
        Ok(self
            .store
            .user_by_id(&row.user_id)
            .await?
            .map(|user| Session {
                user: user.name.clone(),
                row,
            }))
    }

    /// Records that the session was used (a code issued through it).
    pub async fn touch(&self, session: &Session) -> Result<(), ApiError> {
        let now = self.clock.now_millis();
        Ok(oidc_sessions::touch_session(self.store.db(), &session.row.id, now).await?)
    }

    /// The user's live sessions, most recently used first.
    pub async fn list(&self, user_id: &str) -> Result<Vec<SessionRow>, ApiError> {
        let now = self.clock.now_millis();
        Ok(oidc_sessions::sessions_of(self.store.db(), user_id, now).await?)
    }

    /// Ends one of the user's sessions; `false` if there was no such live session.
    pub async fn revoke(&self, user_id: &str, id: &str) -> Result<bool, ApiError> {
        let now = self.clock.now_millis();
        Ok(oidc_sessions::revoke_session(self.store.db(), user_id, id, now).await?)
    }

    /// Deletes sessions that ended more than a day ago.
    pub async fn purge(&self) -> Result<u64, ApiError> {
        let before = self.clock.now_millis() - 24 * 3600 * 1000;
        Ok(oidc_sessions::purge_sessions(self.store.db(), before).await?)
    }
}
