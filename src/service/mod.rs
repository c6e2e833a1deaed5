//! The server's domain services, built once per process from the opened data directory
//! ([`bootstrap::open`]) and shared by `serve` and every CLI command. No HTTP types here:
//! handlers call these, these call the store and `sichat-core`.

pub mod access_tokens;
pub mod admin_token;
pub mod authorize;
pub mod background;
pub mod bootstrap;
pub mod claim_rules;
pub mod client_auth;
pub mod credentials;
pub mod discovery;
pub mod holder;
pub mod id_token_keys;
pub mod id_tokens;
pub mod identity;
pub mod issuer_keys;
pub mod keyed_mac;
pub mod logout;
pub mod mediator;
pub mod oauth_error;
pub mod oidc_callers;
pub mod oidc_clients;
pub mod oidc_codes;
pub mod pages;
pub mod passwords;
pub mod public_url;
pub mod rate_limit;
pub mod readiness;
pub mod registration;
pub mod resolver;
pub mod sessions;
pub mod status_lists;
pub mod status_source;
pub mod token_endpoint;
pub mod user_tokens;
pub mod userinfo;
pub mod users;
pub mod work_gate;

use std::sync::Arc;
use std::time::Duration;

use sichat_core::Clock;
use sichat_core::keys::KeyService;

use crate::config::Config;
use crate::store::SeaStore;

/// SHA-256 (hex) of a high-entropy secret (API and admin tokens, client secrets, codes,
/// refresh tokens): what is stored and looked up instead of the secret. A slow hash adds
/// nothing for 256-bit random values.
pub fn secret_digest(secret: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(secret.as_bytes()))
}

/// The key service over the server's database; it is also the server's signer
/// (`sichat_core::keys::Signer`): everything that signs goes through it.
pub type ServerKeys = KeyService<Arc<SeaStore>>;

/// Every service of one server process.
pub struct Services {
    pub clock: Arc<dyn Clock>,
    pub store: Arc<SeaStore>,
    pub keys: Arc<ServerKeys>,
    pub identity: Arc<identity::IdentityService>,
    pub users: Arc<users::UserService>,
    pub credentials: Arc<credentials::CredentialService>,
    pub holder: Arc<holder::HolderService>,
    pub id_token_keys: Arc<id_token_keys::IdTokenKeys>,
    pub id_tokens: Arc<id_tokens::IdTokenSigner>,
    pub clients: Arc<oidc_clients::ClientService>,
    pub codes: Arc<oidc_codes::AuthorizationCodes>,
    pub client_auth: Arc<client_auth::ClientAuth>,
    pub access_tokens: Arc<access_tokens::AccessTokens>,
    pub tokens: Arc<token_endpoint::TokenService>,
    pub userinfo: Arc<userinfo::UserInfo>,
    pub claim_rules: Arc<claim_rules::ClaimRules>,
    pub sessions: Arc<sessions::Sessions>,
    pub authorizer: Arc<authorize::Authorizer>,
    pub discovery: Arc<discovery::Discovery>,
    pub pages: Arc<pages::Pages>,
    pub logout: Arc<logout::Logout>,
    pub registration: Arc<registration::Registration>,
    pub oidc_callers: Arc<oidc_callers::OidcCallers>,
    pub resolver: Arc<resolver::ServerResolver>,
    pub mediator: Arc<mediator::Mediator>,
    pub admin_tokens: Arc<admin_token::AdminTokens>,
    pub user_tokens: Arc<user_tokens::UserTokens>,
    pub passwords: Arc<passwords::PasswordHasher>,
    pub readiness: Arc<readiness::Readiness>,
    pub public_urls: Arc<public_url::PublicUrls>,
    pub background: background::Background,
}

impl Services {
    /// Starts the tasks a serving process runs (the identity sync); `serve` drains them on
    /// shutdown through [`background::Background::drain`].
    pub fn start_background(&self, config: &Config) {
        let interval = Duration::from_millis(config.identity_sync_interval_ms.max(50));
        let identity = self.identity.clone();
        let stop = self.background.stop_token();
        self.background
            .spawn("identity-sync", identity.watch(interval, stop));
        // Live delivery across instances sharing one PostgreSQL database.
        if self.store.db().get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            let stop = self.background.stop_token();
            self.background.spawn(
                "didcomm-listen",
                self.mediator.clone().follow_other_instances(stop),
            );
        }
        // Messages relayed to other servers' mediators.
        let stop = self.background.stop_token();
        self.background
            .spawn("didcomm-outbox", self.mediator.outbox().clone().run(stop));
        // Expired queued DIDComm messages, in bounded batches.
        let (mediator, clock) = (self.mediator.clone(), self.clock.clone());
        self.background
            .every("didcomm-purge", Duration::from_secs(300), move || {
                let mediator = mediator.clone();
                let now = clock.now_millis();
                async move {
                    use sichat_core::store::MessageStore;
                    match mediator.store().purge_expired(now, 10_000).await {
                        Ok(0) => {}
                        Ok(n) => tracing::debug!(rows = n, "purged expired DIDComm messages"),
                        Err(e) => {
                            tracing::warn!(error = %e, "purging expired DIDComm messages failed")
                        }
                    }
                    // Expired channel challenges; outbox messages given up a week ago.
                    let db = mediator.store().db();
                    if let Err(e) = crate::store::didcomm_channels::purge_challenges(db, now).await
                    {
                        tracing::warn!(error = %e, "purging channel challenges failed");
                    }
                    let week_ago = now - 7 * 24 * 3600 * 1000;
                    if let Err(e) = crate::store::didcomm_outbox::purge_failed(db, week_ago).await {
                        tracing::warn!(error = %e, "purging the DIDComm outbox failed");
                    }
                }
            });
        // Expired codes and refresh tokens (an hour after expiry: a replay within the hour
        // still finds its code and revokes the grant), and ended sessions.
        let (codes, sessions) = (self.codes.clone(), self.sessions.clone());
        self.background
            .every("oidc-purge", Duration::from_secs(600), move || {
                let (codes, sessions) = (codes.clone(), sessions.clone());
                async move {
                    match codes.purge().await {
                        Ok(0) => {}
                        Ok(n) => {
                            tracing::debug!(rows = n, "purged expired codes and refresh tokens")
                        }
                        Err(e) => {
                            tracing::warn!(error = %e.0.detail, "purging expired codes failed")
                        }
                    }
                    if let Err(e) = sessions.purge().await {
                        tracing::warn!(error = %e.0.detail, "purging ended sessions failed");
                    }
                }
            });
    }
}
