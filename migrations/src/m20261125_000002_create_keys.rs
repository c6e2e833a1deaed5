//! `keys`: public keys in clear, private keys sealed (XChaCha20-Poly1305 under the KEK).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Keys {
    Table,
    Id,
    Owner,
    KeyType,
    PublicMultibase,
    SealedPrivate,
    Status,
    CreatedAt,
    RetiredAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Keys::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Keys::Id)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Keys::Owner).string_len(128).not_null())
                    .col(ColumnDef::new(Keys::KeyType).string_len(16).not_null())
                    .col(
                        ColumnDef::new(Keys::PublicMultibase)
                            .string_len(128)
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(Keys::SealedPrivate).blob().not_null())
                    .col(ColumnDef::new(Keys::Status).string_len(16).not_null())
                    .col(ColumnDef::new(Keys::CreatedAt).big_integer().not_null())
                    .col(ColumnDef::new(Keys::RetiredAt).big_integer().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_keys_owner_created")
                    .if_not_exists()
                    .table(Keys::Table)
                    .col(Keys::Owner)
                    .col(Keys::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Keys::Table).to_owned())
            .await
    }
}
