//! Storage: sea-orm entities and repository functions, the only code that touches the
//! database. SQLite (WAL, `synchronous=FULL`, `busy_timeout`, foreign keys) is the default;
//! PostgreSQL shares the same migrations.

pub mod didcomm;
pub mod didcomm_channels;
pub mod didcomm_outbox;
pub mod epoch_cache;
pub mod held;
pub mod issued;
pub mod keys;
pub mod oidc_claim_rules;
pub mod oidc_clients;
pub mod oidc_grants;
pub mod oidc_sessions;
pub mod redemptions;
mod sea_store;
pub mod settings;
pub mod status;
pub mod tokens;
pub mod users;

pub use sea_store::{IdentityEpoch, SeaStore, stamp_identity_change};

use std::time::Duration;

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbErr,
    SqlErr, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use sichat_core::store::StoreError;
use sichat_migrations::{Migrator, MigratorTrait};

/// How long a SQLite connection waits for another writer (another process included).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens the database and brings its schema up to date.
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut opt = ConnectOptions::new(url.to_owned());
    opt.sqlx_logging(false)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(15));
    if url.starts_with("sqlite:") {
        opt.max_connections(8).map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Full)
                .busy_timeout(BUSY_TIMEOUT)
                .foreign_keys(true)
                .create_if_missing(true)
        });
    } else {
        opt.max_connections(16);
    }
    let db = Database::connect(opt).await?;
    if Migrator::up(&db, None).await.is_err() {
        // Another process (a CLI command, a second instance) may be migrating the same
        // database at this moment; once it is done, this run finds nothing left to do.
        tokio::time::sleep(Duration::from_millis(500)).await;
        Migrator::up(&db, None).await?;
    }
    Ok(db)
}

/// Starts a write transaction. On SQLite it is `BEGIN IMMEDIATE`: the write lock is taken
/// up front, where the busy handler can wait for it, instead of on the first write, where
/// a lock upgrade fails at once with SQLITE_BUSY.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}

/// Checks the database answers (readiness).
pub async fn ping(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    db.execute_unprepared("SELECT 1").await.map(|_| ())
}

/// Maps a driver error: unique-key violations become [`StoreError::Duplicate`].
pub fn map_err(err: DbErr) -> StoreError {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(detail)) => StoreError::Duplicate(detail),
        _ => StoreError::Backend(err.to_string()),
    }
}
