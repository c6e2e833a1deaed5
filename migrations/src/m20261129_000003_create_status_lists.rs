//! `status_lists` (one Bitstring Status List per issuer and purpose at a time, with the
//! counter that hands out its indices) and `credential_statuses` (each issued
//! credential's entry on a list, and whether its bit is set).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum StatusLists {
    Table,
    Id,
    Issuer,
    UserId,
    Purpose,
    Size,
    PermutationKey,
    NextCounter,
    Version,
    CreatedAt,
}

#[derive(DeriveIden)]
enum CredentialStatuses {
    Table,
    ListId,
    Idx,
    CredentialId,
    Purpose,
    Value,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum IssuedCredentials {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(StatusLists::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(StatusLists::Id)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(StatusLists::Issuer).text().not_null())
                    .col(ColumnDef::new(StatusLists::UserId).string_len(36).null())
                    .col(
                        ColumnDef::new(StatusLists::Purpose)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(ColumnDef::new(StatusLists::Size).integer().not_null())
                    .col(
                        ColumnDef::new(StatusLists::PermutationKey)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(StatusLists::NextCounter)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(StatusLists::Version)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(StatusLists::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(StatusLists::Table, StatusLists::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("status_lists_issuer_purpose")
                    .table(StatusLists::Table)
                    .col(StatusLists::Issuer)
                    .col(StatusLists::Purpose)
                    .col(StatusLists::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CredentialStatuses::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(CredentialStatuses::ListId)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(ColumnDef::new(CredentialStatuses::Idx).integer().not_null())
                    .col(
                        ColumnDef::new(CredentialStatuses::CredentialId)
                            .text()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CredentialStatuses::Purpose)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CredentialStatuses::Value)
                            .small_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(CredentialStatuses::UpdatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(CredentialStatuses::ListId)
                            .col(CredentialStatuses::Idx),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(CredentialStatuses::Table, CredentialStatuses::ListId)
                            .to(StatusLists::Table, StatusLists::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(CredentialStatuses::Table, CredentialStatuses::CredentialId)
                            .to(IssuedCredentials::Table, IssuedCredentials::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("credential_statuses_credential_purpose")
                    .table(CredentialStatuses::Table)
                    .col(CredentialStatuses::CredentialId)
                    .col(CredentialStatuses::Purpose)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CredentialStatuses::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(StatusLists::Table).to_owned())
            .await
    }
}
