//! `oidc_grants` (what a user granted a client: the family every code and token of one
//! authorization belongs to; revoking it ends them all) and `oidc_codes` (authorization
//! codes by SHA-256, single-use, bound to client, redirect URI and PKCE challenge).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OidcGrants {
    Table,
    Id,
    ClientId,
    UserId,
    Scope,
    Nonce,
    AuthTime,
    CreatedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum OidcCodes {
    Table,
    CodeSha256,
    GrantId,
    ClientId,
    RedirectUri,
    CodeChallenge,
    ExpiresAt,
    RedeemedAt,
}

#[derive(DeriveIden)]
enum OidcClients {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OidcGrants::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(OidcGrants::Id)
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(OidcGrants::ClientId)
                            .string_len(128)
                            .not_null(),
                    )
                    .col(ColumnDef::new(OidcGrants::UserId).string_len(36).null())
                    .col(ColumnDef::new(OidcGrants::Scope).text().not_null())
                    .col(ColumnDef::new(OidcGrants::Nonce).text().null())
                    .col(ColumnDef::new(OidcGrants::AuthTime).big_integer().null())
                    .col(
                        ColumnDef::new(OidcGrants::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(OidcGrants::RevokedAt).big_integer().null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(OidcGrants::Table, OidcGrants::ClientId)
                            .to(OidcClients::Table, OidcClients::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(OidcGrants::Table, OidcGrants::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OidcCodes::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(OidcCodes::CodeSha256)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(OidcCodes::GrantId).string_len(36).not_null())
                    .col(
                        ColumnDef::new(OidcCodes::ClientId)
                            .string_len(128)
                            .not_null(),
                    )
                    .col(ColumnDef::new(OidcCodes::RedirectUri).text().not_null())
                    .col(
                        ColumnDef::new(OidcCodes::CodeChallenge)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OidcCodes::ExpiresAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(OidcCodes::RedeemedAt).big_integer().null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(OidcCodes::Table, OidcCodes::GrantId)
                            .to(OidcGrants::Table, OidcGrants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("oidc_codes_expires")
                    .table(OidcCodes::Table)
                    .col(OidcCodes::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(OidcCodes::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(OidcGrants::Table).to_owned())
            .await
    }
}
