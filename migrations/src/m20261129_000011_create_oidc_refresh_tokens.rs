//! `oidc_refresh_tokens`: refresh tokens by SHA-256, each used once (rotation); a used one
//! presented again revokes its grant, the whole family (RFC 9700 §4.14.2).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OidcRefreshTokens {
    Table,
    TokenSha256,
    GrantId,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum OidcGrants {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OidcRefreshTokens::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(OidcRefreshTokens::TokenSha256)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(OidcRefreshTokens::GrantId)
                            .string_len(36)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OidcRefreshTokens::ExpiresAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OidcRefreshTokens::UsedAt)
                            .big_integer()
                            .null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(OidcRefreshTokens::Table, OidcRefreshTokens::GrantId)
                            .to(OidcGrants::Table, OidcGrants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("oidc_refresh_tokens_grant")
                    .table(OidcRefreshTokens::Table)
                    .col(OidcRefreshTokens::GrantId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(OidcRefreshTokens::Table).to_owned())
            .await
    }
}
