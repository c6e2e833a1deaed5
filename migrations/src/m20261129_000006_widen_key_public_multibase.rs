//! `keys.public_multibase` grows from 128 to 1,024 characters: an RSA key's Multikey value
//! (the server's RS256 ID-token keys) is ~370 characters for 2,048 bits, ~720 for 4,096.
//! SQLite does not enforce `varchar` lengths, so only PostgreSQL changes.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Keys {
    Table,
    PublicMultibase,
}

async fn set_length(manager: &SchemaManager<'_>, length: u32) -> Result<(), DbErr> {
    if manager.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(());
    }
    manager
        .alter_table(
            Table::alter()
                .table(Keys::Table)
                .modify_column(
                    ColumnDef::new(Keys::PublicMultibase)
                        .string_len(length)
                        .not_null(),
                )
                .to_owned(),
        )
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        set_length(manager, 1024).await
    }

    /// Fails on PostgreSQL while an RSA key is stored (its value no longer fits).
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        set_length(manager, 128).await
    }
}
