//! Opening a data directory: create it, load or create the master key, connect and migrate
//! the database, check the master key against it, create the admin token and the server's
//! keys on first start. `sichat serve`, `sichat init` and every admin command go through
//! here, so each works on a fresh or an existing data dir, even while a server runs.

use std::path::Path;
use std::sync::Arc;

use sea_orm::DatabaseConnection;
use sichat_core::keys::{Kek, KeyError, KeyType, SecretKey};
use sichat_core::store::StoreError;
use sichat_core::{Clock, Secret, SystemClock};
use zeroize::Zeroizing;

use super::identity::IdentityService;
use super::{SERVER_OWNER, ServerKeys, admin_token};
use crate::config::Config;
use crate::store::{self, keys::SeaKeyStore, settings};

const KEK_CHECK_PLAINTEXT: &[u8] = b"sichat master key check v1";
const KEY_FILE: &str = "master.key";

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
    #[error("SICHAT_ADMIN_TOKEN must be at least 32 characters")]
    AdminToken,
    #[error("database {0}: {1}")]
    Database(String, String),
    #[error("storage: {0}")]
    Store(#[from] StoreError),
}

/// What opening the data dir produced.
pub struct Opened {
    pub db: DatabaseConnection,
    pub keys: Arc<ServerKeys>,
    pub identity: Arc<IdentityService>,
    /// The admin token, when it was generated just now (to print once).
    pub new_admin_token: Option<Secret<String>>,
    /// Whether the admin token came from SICHAT_ADMIN_TOKEN at this first start.
    pub admin_token_from_env: bool,
    /// Whether this call initialised the server (first start).
    pub initialised: bool,
}

fn redacted_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Loads the KEK from `SICHAT_MASTER_KEY`, else from `<data>/master.key`, creating the
/// file (mode 0600) when it does not exist and `may_create` (the database holds no sealed
/// keys yet: a new key file next to existing keys could never open them).
fn load_kek(data_dir: &Path, env_key: Option<&str>, may_create: bool) -> Result<Kek, InitError> {
    if let Some(text) = env_key {
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
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp)?;
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

/// Opens (and on first use initialises) the data dir described by `config`.
/// The public URL in effect is written back into `config`: the one given explicitly, else
/// the one the data dir was initialised with (so that admin commands run with only
/// `--data-dir` see the server's real DIDs), else the default.
pub async fn open(
    config: &mut Config,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Opened, InitError> {
    let dir = &config.data_dir;
    let existed = dir.exists();
    std::fs::create_dir_all(dir).map_err(|e| InitError::DataDir(dir.display().to_string(), e))?;
    #[cfg(unix)]
    if !existed {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    let db = store::connect(&config.database_url)
        .await
        .map_err(|e| InitError::Database(redacted_url(&config.database_url), e.to_string()))?;
    let has_keys = settings::get(&db, settings::KEK_CHECK).await?.is_some();
    let master = env("SICHAT_MASTER_KEY").map(Zeroizing::new);
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

    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let keys = Arc::new(ServerKeys::new(SeaKeyStore::new(db.clone()), kek, clock));

    let given = config.public_url.as_str().trim_end_matches('/').to_owned();
    if !settings::insert_if_absent(&db, settings::PUBLIC_URL, &given).await? {
        let stored = settings::get(&db, settings::PUBLIC_URL)
            .await?
            .unwrap_or_default();
        if stored != given {
            if config.public_url_explicit {
                tracing::warn!(old = %stored, new = %given, "the public URL changed: the server's and users' did:web DIDs change with it");
                settings::put(&db, settings::PUBLIC_URL, &given).await?;
            } else if let Ok(url) = crate::config::parse_public_url(&stored) {
                config.public_url = url;
            }
        }
    }
    let identity = Arc::new(IdentityService::new(db.clone(), &config.public_url));
    let created_keys = ensure_server_keys(&db, &keys).await?;
    // After the keys: if anything before failed, the next start still shows the token.
    let env_token = env("SICHAT_ADMIN_TOKEN").map(Secret::new);
    if env_token
        .as_ref()
        .is_some_and(|t| t.expose().chars().count() < 32)
    {
        return Err(InitError::AdminToken);
    }
    let candidate = env_token.clone().unwrap_or_else(admin_token::generate);
    let token_stored = admin_token::store_if_absent(&db, candidate.expose()).await?;
    let (new_admin_token, admin_token_from_env) = match (token_stored, env_token.is_some()) {
        (true, false) => (Some(candidate), false),
        (true, true) => (None, true),
        (false, _) => (None, false),
    };

    Ok(Opened {
        db,
        keys,
        identity,
        new_admin_token,
        admin_token_from_env,
        initialised: first || created_keys,
    })
}

/// Creates the server's first keys (one of each type) exactly once, even when several
/// processes start on one database: a marker row is claimed in the same transaction.
async fn ensure_server_keys(
    db: &DatabaseConnection,
    keys: &ServerKeys,
) -> Result<bool, StoreError> {
    let txn = store::begin_write(db).await.map_err(store::map_err)?;
    if !settings::insert_if_absent(&txn, settings::SERVER_KEYS_CREATED, "1").await? {
        txn.rollback().await.map_err(store::map_err)?;
        return Ok(false);
    }
    for t in KeyType::ALL {
        let record = keys.seal_record(SERVER_OWNER, &SecretKey::generate(t));
        store::keys::insert(&txn, &record).await?;
    }
    txn.commit().await.map_err(store::map_err)?;
    Ok(true)
}
