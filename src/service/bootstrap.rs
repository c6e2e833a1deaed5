//! Opening a data directory: create it, load or create the master key, connect and migrate
//! the database, check the master key and the public URL against it, create the admin
//! token and the server's keys on first start, and build the [`Services`]. `sichat serve`,
//! `sichat init` and every admin command go through here, so each works on a fresh or an
//! existing data dir, even while a server runs.

use std::path::Path;
use std::sync::Arc;

use sichat_core::did::CachePolicy;
use sichat_core::did::web::DidWebFetcher;
use sichat_core::id::Owner;
use sichat_core::keys::{Kek, KeyError};
use sichat_core::store::{Changes, StoreError};
use sichat_core::vc::{Canonicalizer, DidMethods, Issuer, Verifier};
use sichat_core::{Clock, Secret};
use zeroize::Zeroizing;

use super::access_tokens::AccessTokens;
use super::admin_token::{self, AdminTokens};
use super::authorize::Authorizer;
use super::background::Background;
use super::claim_rules::ClaimRules;
use super::client_auth::ClientAuth;
use super::credentials::{CredentialService, CredentialSettings};
use super::discovery::Discovery;
use super::holder::HolderService;
use super::id_token_keys::IdTokenKeys;
use super::id_tokens::IdTokenSigner;
use super::identity::IdentityService;
use super::issuer_keys::IssuerKeys;
use super::keyed_mac::KeyedMac;
use super::logout::Logout;
use super::mediator::channels::Channels;
use super::mediator::outbox::Outbox;
use super::mediator::{Mediator, MediatorDeps, MediatorSettings};
use super::oidc_callers::OidcCallers;
use super::oidc_clients::ClientService;
use super::oidc_codes::AuthorizationCodes;
use super::pages::Pages;
use super::passwords::PasswordHasher;
use super::public_url::PublicUrls;
use super::readiness::Readiness;
use super::registration::Registration;
use super::resolver::ServerResolver;
use super::sessions::Sessions;
use super::status_lists::StatusLists;
use super::status_source::ServerStatusSource;
use super::token_endpoint::TokenService;
use super::user_tokens::UserTokens;
use super::userinfo::UserInfo;
use super::users::UserService;
use super::work_gate::WorkGate;
use super::{ServerKeys, Services};
use crate::config::{Config, ConfigError, redacted_url};
use crate::store::{self, SeaStore, settings};
use sichat_core::didcomm::{OwnerKeys, Packer};
use sichat_core::store::MessageQuota;

const KEK_CHECK_PLAINTEXT: &[u8] = b"sichat master key check v1";
const KEY_FILE: &str = "master.key";
/// How long a retired ID-token key stays in the JWKS: longer than any ID token lives.
const ID_TOKEN_KEY_RETENTION: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Why a data dir could not be opened. One line each.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("data dir {0}: {1}")]
    DataDir(String, std::io::Error),
    #[error("SICHAT_MASTER_KEY: {0}")]
    MasterKeyEnv(KeyError),
    #[error("master key file {0}: {1}")]
    MasterKeyFile(String, String),
    #[error(
        "no master key: set SICHAT_MASTER_KEY or restore {0} (this database already holds keys sealed under it)"
    )]
    MasterKeyMissing(String),
    #[error(
        "the master key does not open this database's keys (SICHAT_MASTER_KEY or master.key is not the one it was initialised with)"
    )]
    WrongMasterKey,
    #[error("{0} must be at least 32 characters")]
    AdminToken(&'static str),
    #[error(
        "the public URL is {given} but this data was initialised with {stored}: the server's DIDs derive from it. Start with --public-url {stored}, or change it with `sichat public-url set {given}`"
    )]
    PublicUrlMismatch { stored: String, given: String },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("database {0}: {1}")]
    Database(String, String),
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("DID resolution: {0}")]
    Resolver(String),
}

/// What the caller will do with the data dir: `serve` and `init` record the public URL at
/// first start; admin commands never persist one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Serve,
    Admin,
}

/// What opening the data dir produced.
pub struct Opened {
    pub services: Services,
    /// The admin token, when it was generated just now (to print once).
    pub new_admin_token: Option<Secret<String>>,
    /// Whether the admin token came from the environment (or its file) at this first start.
    pub admin_token_from_env: bool,
    /// Whether this call initialised the server (first start).
    pub initialised: bool,
}

/// Loads the KEK from `master_key` (SICHAT_MASTER_KEY or its file), else from
/// `<data>/master.key`, creating the file (mode 0600) when it does not exist and
/// `may_create` (the database holds no sealed keys yet: a new key file next to existing
/// keys could never open them).
fn load_kek(data_dir: &Path, master_key: Option<&str>, may_create: bool) -> Result<Kek, InitError> {
    if let Some(text) = master_key {
        return Kek::parse(text).map_err(InitError::MasterKeyEnv);
    }
    let path = data_dir.join(KEY_FILE);
    let shown = path.display().to_string();
    match std::fs::read_to_string(&path) {
        Ok(text) => Kek::parse(&text).map_err(|e| InitError::MasterKeyFile(shown, e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !may_create => {
            Err(InitError::MasterKeyMissing(shown))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let kek = Kek::generate();
            match write_private_file(&path, kek.to_text().as_bytes()) {
                Ok(()) => Ok(kek),
                // Another process created it first: use theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let text = std::fs::read_to_string(&path)
                        .map_err(|e| InitError::MasterKeyFile(shown.clone(), e.to_string()))?;
                    Kek::parse(&text).map_err(|e| InitError::MasterKeyFile(shown, e.to_string()))
                }
                Err(e) => Err(InitError::MasterKeyFile(shown, e.to_string())),
            }
        }
        Err(e) => Err(InitError::MasterKeyFile(shown, e.to_string())),
    }
}

/// Creates a file readable by its owner only; fails if it exists (never overwrites a key).
/// The file is written under a temporary name and synced, then linked into place (never
/// over an existing file) and the directory synced, so a crash never leaves keys sealed
/// under a key file that is gone.
fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension(format!("tmp-{}", hex::encode(rand::random::<[u8; 8]>())));
    let mut f = private_options().write(true).create_new(true).open(&tmp)?;
    f.write_all(contents)?;
    f.sync_all()?;
    drop(f);
    // hard_link fails if `path` appeared meanwhile (another process won): keep theirs.
    let linked = std::fs::hard_link(&tmp, path);
    std::fs::remove_file(&tmp)?;
    linked?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// `OpenOptions` creating files with mode 0600.
fn private_options() -> std::fs::OpenOptions {
    #[allow(unused_mut)]
    let mut opts = std::fs::OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts
}

/// The SQLite database file of a `sqlite://` URL, if it is one (not `:memory:`).
fn sqlite_file(database_url: &str) -> Option<std::path::PathBuf> {
    let rest = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.contains(":memory:")).then(|| std::path::PathBuf::from(path))
}

/// Creates the SQLite database file (and tightens existing ones, with their `-wal` and
/// `-shm`) as owner-only: SQLite gives `-wal` and `-shm` the mode of the database file,
/// and would otherwise create it 0644 in a directory that already existed (a volume).
fn private_sqlite_files(database_url: &str) -> Result<(), InitError> {
    let Some(db) = sqlite_file(database_url) else {
        return Ok(());
    };
    let err = |e: std::io::Error| InitError::DataDir(db.display().to_string(), e);
    if let Err(e) = private_options().write(true).create_new(true).open(&db)
        && e.kind() != std::io::ErrorKind::AlreadyExists
    {
        return Err(err(e));
    }
    #[cfg(unix)]
    for suffix in ["", "-wal", "-shm"] {
        use std::os::unix::fs::PermissionsExt;
        let path = std::path::PathBuf::from(format!("{}{suffix}", db.display()));
        match std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(err(e)),
            _ => {}
        }
    }
    Ok(())
}

/// A secret from `NAME` or from the file named by `NAME_FILE` (containers pass secrets as
/// files); both set is an error.
pub fn secret_from_env(
    env: &dyn Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<Option<Zeroizing<String>>, ConfigError> {
    let file_var = format!("{name}_FILE");
    match (env(name), env(&file_var)) {
        (Some(_), Some(_)) => Err(ConfigError(format!("set {name} or {file_var}, not both"))),
        (Some(v), None) => Ok(Some(Zeroizing::new(v))),
        (None, Some(path)) => {
            let mut text = Zeroizing::new(
                std::fs::read_to_string(&path)
                    .map_err(|e| ConfigError(format!("{file_var}: cannot read {path}: {e}")))?,
            );
            let len = text.trim_end_matches(['\n', '\r']).len();
            text.truncate(len);
            Ok(Some(text))
        }
        (None, None) => Ok(None),
    }
}

/// Opens (and on first use initialises) the data dir described by `config` and builds the
/// services. The public URL in effect is written back into `config`: the stored one when
/// none was given, the given one at first start.
pub async fn open(
    config: &mut Config,
    env: &dyn Fn(&str) -> Option<String>,
    clock: Arc<dyn Clock>,
    purpose: Purpose,
) -> Result<Opened, InitError> {
    let dir = &config.data_dir;
    let existed = dir.exists();
    std::fs::create_dir_all(dir).map_err(|e| InitError::DataDir(dir.display().to_string(), e))?;
    #[cfg(unix)]
    if !existed {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    private_sqlite_files(&config.database_url)?;
    let db = store::connect(&config.database_url)
        .await
        .map_err(|e| InitError::Database(redacted_url(&config.database_url), e.to_string()))?;
    let has_keys = settings::get(&db, settings::KEK_CHECK).await?.is_some();
    let master = secret_from_env(env, "SICHAT_MASTER_KEY")?;
    let kek = load_kek(dir, master.as_deref().map(String::as_str), !has_keys)?;

    // The master key must be the one the database was initialised with.
    let check = kek.seal(KEK_CHECK_PLAINTEXT, settings::KEK_CHECK.as_bytes());
    let first = settings::insert_if_absent(&db, settings::KEK_CHECK, &hex::encode(&check)).await?;
    if !first {
        let stored = settings::get(&db, settings::KEK_CHECK)
            .await?
            .unwrap_or_default();
        let sealed = hex::decode(stored).map_err(|_| InitError::WrongMasterKey)?;
        kek.open(&sealed, settings::KEK_CHECK.as_bytes())
            .map_err(|_| InitError::WrongMasterKey)?;
    }

    settle_public_url(&db, config, purpose).await?;
    if config
        .public_url
        .host()
        .is_some_and(|h| !matches!(h, url::Host::Domain(_)))
        && purpose == Purpose::Serve
    {
        tracing::warn!(url = %config.public_url,
            "the public URL's host is an IP address: did:web forbids IP hosts, so other resolvers will refuse this server's DIDs (fine for local development only)");
    }

    let store = Arc::new(SeaStore::new(db));
    let access_token_key = kek.derive_subkey(super::access_tokens::KEY_LABEL);
    let tx_key = kek.derive_subkey(super::authorize::TX_KEY_LABEL);
    let csrf_key = kek.derive_subkey(super::pages::CSRF_KEY_LABEL);
    let keys = Arc::new(ServerKeys::new(store.clone(), kek, clock.clone()));
    let identity = Arc::new(
        IdentityService::new(store.clone(), &config.public_url)?
            .with_published_list(config.publish_did_list),
    );
    let passwords = Arc::new(PasswordHasher::new(
        config.password_hash_concurrency,
        config.password_hash_queue,
    ));
    let fetcher: Arc<dyn DidWebFetcher> = Arc::new(
        crate::outbound::did_web_fetcher(config).map_err(|e| InitError::Resolver(e.to_string()))?,
    );
    let resolver = Arc::new(ServerResolver::new(
        identity.clone(),
        fetcher,
        clock.clone(),
        CachePolicy {
            ttl_secs: config.resolver_cache_ttl_secs,
            negative_ttl_secs: config.resolver_negative_cache_ttl_secs,
            ..CachePolicy::default()
        },
    ));
    let gate = Arc::new(WorkGate::new(
        config.credential_work_concurrency,
        config.credential_work_queue,
    ));
    let credentials = {
        let canon = Canonicalizer::default();
        let issuer = Issuer::new(canon.clone(), keys.clone(), clock.clone());
        let issuer_keys = Arc::new(IssuerKeys::new(
            keys.clone(),
            identity.clone(),
            store.epoch().clone(),
        ));
        let status_lists = Arc::new(StatusLists::new(
            store.clone(),
            identity.clone(),
            issuer_keys.clone(),
            issuer.clone(),
            clock.clone(),
        ));
        let status_source = ServerStatusSource::new(
            status_lists.clone(),
            crate::outbound::status_list_fetcher(config)
                .map_err(|e| InitError::Resolver(e.to_string()))?,
            clock.clone(),
        );
        let verifier = Verifier::new(
            canon,
            Arc::new(DidMethods(resolver.clone())),
            clock.clone(),
            std::time::Duration::from_secs(config.credential_clock_skew_secs),
        )
        .with_status_source(Arc::new(status_source));
        Arc::new(CredentialService::new(
            issuer,
            verifier,
            CredentialSettings {
                verify_requires_token: config.credential_verify_requires_token,
                gate: gate.clone(),
            },
            issuer_keys,
            status_lists,
            store.clone(),
            clock.clone(),
        ))
    };
    let holder = Arc::new(HolderService::new(
        store.clone(),
        credentials.clone(),
        identity.clone(),
        clock.clone(),
    ));
    let id_token_keys = Arc::new(IdTokenKeys::new(
        keys.clone(),
        store.clone(),
        clock.clone(),
        ID_TOKEN_KEY_RETENTION,
    ));
    let id_tokens = Arc::new(IdTokenSigner::new(
        id_token_keys.clone(),
        keys.clone(),
        gate.clone(),
    ));
    let codes = Arc::new(AuthorizationCodes::new(store.clone(), clock.clone()));
    let client_auth = Arc::new(ClientAuth::new(store.clone(), clock.clone()));
    let access_tokens = Arc::new(AccessTokens::new(
        access_token_key,
        store.clone(),
        clock.clone(),
    ));
    let claim_rules = Arc::new(ClaimRules::new(
        store.clone(),
        credentials.clone(),
        identity.clone(),
        clock.clone(),
    ));
    let tokens = Arc::new(TokenService {
        client_auth: client_auth.clone(),
        codes: codes.clone(),
        access: access_tokens.clone(),
        id_tokens: id_tokens.clone(),
        identity: identity.clone(),
        claim_rules: claim_rules.clone(),
        store: store.clone(),
        clock: clock.clone(),
    });
    let sessions = Arc::new(Sessions::new(
        store.clone(),
        passwords.clone(),
        clock.clone(),
    ));
    let authorizer = Arc::new(Authorizer::new(
        store.clone(),
        codes.clone(),
        sessions.clone(),
        claim_rules.clone(),
        identity.clone(),
        clock.clone(),
        KeyedMac::new(tx_key),
    ));
    let discovery = Arc::new(Discovery::new(
        identity.clone(),
        claim_rules.clone(),
        store.epoch().clone(),
        config.oidc_dynamic_registration,
    ));
    let clients = Arc::new(ClientService::new(store.clone(), clock.clone()));
    let logout = Arc::new(Logout::new(
        id_token_keys.clone(),
        store.clone(),
        identity.clone(),
    ));
    let pages = Arc::new(Pages::new(
        KeyedMac::new(csrf_key),
        identity.public_url().scheme() == "https",
    ));
    let background = Background::new();
    let mediator = Arc::new(Mediator::new(
        identity.server_did().clone(),
        Packer::new(
            resolver.clone(),
            Arc::new(OwnerKeys::new(keys.clone(), Owner::Server)),
            clock.clone(),
        ),
        store.clone(),
        clock.clone(),
        MediatorSettings {
            endpoint: format!(
                "{}/didcomm",
                identity.public_url().as_str().trim_end_matches('/')
            ),
            max_message_bytes: config.didcomm_max_message_bytes,
            quota: MessageQuota {
                max_messages: config.didcomm_queue_max_messages,
                max_bytes: config.didcomm_queue_max_bytes,
            },
            ttl_ms: i64::try_from(config.didcomm_message_ttl_secs.saturating_mul(1000))
                .unwrap_or(i64::MAX),
            replay_window_secs: config.didcomm_replay_window_secs,
            max_sessions: config.max_connections,
            max_in_flight: config.didcomm_max_in_flight,
        },
        MediatorDeps {
            stop: background.stop_token(),
            outbox: Arc::new(Outbox::new(
                store.clone(),
                crate::outbound::didcomm_fetcher(config)
                    .map_err(|e| InitError::Resolver(e.to_string()))?,
                clock.clone(),
            )),
            channels: Arc::new(Channels::new(
                store.clone(),
                credentials.clone(),
                identity.clone(),
                clock.clone(),
            )),
        },
    ));
    let services = Services {
        mediator,
        credentials,
        holder,
        id_token_keys,
        id_tokens,
        registration: Arc::new(Registration::new(
            clients.clone(),
            store.clone(),
            clock.clone(),
        )),
        clients,
        codes,
        client_auth,
        userinfo: Arc::new(UserInfo::new(
            access_tokens.clone(),
            store.clone(),
            claim_rules.clone(),
        )),
        claim_rules,
        sessions,
        authorizer,
        discovery,
        pages,
        logout,
        oidc_callers: Arc::new(OidcCallers::new(
            access_tokens.clone(),
            identity.clone(),
            store.clone(),
        )),
        access_tokens,
        tokens,
        users: Arc::new(UserService::new(
            store.clone(),
            keys.clone(),
            identity.clone(),
            passwords.clone(),
            clock.clone(),
        )),
        admin_tokens: Arc::new(AdminTokens::new(store.clone())),
        user_tokens: Arc::new(UserTokens::new(store.clone(), clock.clone())),
        readiness: Arc::new(Readiness::new(store.clone(), identity.clone())),
        public_urls: Arc::new(PublicUrls::new(store.clone())),
        clock,
        store,
        keys,
        identity,
        resolver,
        passwords,
        background,
    };

    let created_keys = ensure_server_keys(&services).await?;
    // After the keys: if anything before failed, the next start still shows the token.
    let env_token =
        secret_from_env(env, "SICHAT_ADMIN_TOKEN")?.map(|t| Secret::new(t.as_str().to_owned()));
    if env_token
        .as_ref()
        .is_some_and(|t| t.expose().chars().count() < 32)
    {
        return Err(InitError::AdminToken("SICHAT_ADMIN_TOKEN"));
    }
    let candidate = env_token.clone().unwrap_or_else(admin_token::generate);
    let token_stored = services.admin_tokens.store_if_absent(&candidate).await?;
    let (new_admin_token, admin_token_from_env) = match (token_stored, env_token.is_some()) {
        (true, false) => (Some(candidate), false),
        (true, true) => (None, true),
        (false, _) => (None, false),
    };

    Ok(Opened {
        services,
        new_admin_token,
        admin_token_from_env,
        initialised: first || created_keys,
    })
}

/// The stored public URL wins when none was given; a given one that differs is refused;
/// `serve`/`init` store the one in effect at first start.
async fn settle_public_url(
    db: &sea_orm::DatabaseConnection,
    config: &mut Config,
    purpose: Purpose,
) -> Result<(), InitError> {
    let given = config.public_url.as_str().trim_end_matches('/').to_owned();
    let stored = match settings::get(db, settings::PUBLIC_URL).await? {
        Some(stored) => Some(stored),
        None if purpose == Purpose::Serve => {
            if settings::insert_if_absent(db, settings::PUBLIC_URL, &given).await? {
                return Ok(());
            }
            // Another instance stored one first.
            settings::get(db, settings::PUBLIC_URL).await?
        }
        None => None,
    };
    match stored {
        Some(stored) if stored == given => Ok(()),
        Some(stored) if config.public_url_explicit => {
            Err(InitError::PublicUrlMismatch { stored, given })
        }
        Some(stored) => {
            config.public_url = crate::config::parse_public_url(&stored).map_err(|e| {
                InitError::Store(StoreError::Backend(format!("stored public URL: {e}")))
            })?;
            Ok(())
        }
        None => Ok(()),
    }
}

/// Creates the server's first keys (one of each type) exactly once, even when several
/// processes start on one database: the keys commit together with a marker row.
async fn ensure_server_keys(services: &Services) -> Result<bool, StoreError> {
    let mut changes = Changes::new();
    for record in services.keys.fresh_identity_records(&Owner::Server) {
        changes = changes.key(record);
    }
    services
        .store
        .save_changes_once(settings::SERVER_KEYS_CREATED, &changes)
        .await
}
