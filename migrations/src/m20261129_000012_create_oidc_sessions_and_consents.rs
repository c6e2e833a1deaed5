//! `oidc_sessions` (a user signed in to this server's pages: the session cookie's secret
//! by SHA-256, when the user authenticated, until when it is remembered) and
//! `oidc_consents` (what a user allowed a client: the scopes, remembered per user and
//! client so the consent page is shown once).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OidcSessions {
    Table,
    Id,
    SecretSha256,
    UserId,
    AuthTime,
    CreatedAt,
    LastSeenAt,
    ExpiresAt,
    RevokedAt,
    Label,
}

#[derive(DeriveIden)]
enum OidcConsents {
    Table,
    UserId,
    ClientId,
    Scope,
    GrantedAt,
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
                    .table(OidcSessions::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(OidcSessions::Id)
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(OidcSessions::SecretSha256)
                            .string_len(64)
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(OidcSessions::UserId)
                            .string_len(36)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OidcSessions::AuthTime)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OidcSessions::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OidcSessions::LastSeenAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OidcSessions::ExpiresAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(OidcSessions::RevokedAt).big_integer().null())
                    .col(ColumnDef::new(OidcSessions::Label).text().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(OidcSessions::Table, OidcSessions::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_oidc_sessions_user")
                    .table(OidcSessions::Table)
                    .col(OidcSessions::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_oidc_sessions_expires")
                    .table(OidcSessions::Table)
                    .col(OidcSessions::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OidcConsents::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(OidcConsents::UserId)
                            .string_len(36)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OidcConsents::ClientId)
                            .string_len(128)
                            .not_null(),
                    )
                    .col(ColumnDef::new(OidcConsents::Scope).text().not_null())
                    .col(
                        ColumnDef::new(OidcConsents::GrantedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(OidcConsents::UserId)
                            .col(OidcConsents::ClientId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(OidcConsents::Table, OidcConsents::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(OidcConsents::Table, OidcConsents::ClientId)
                            .to(OidcClients::Table, OidcClients::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(OidcConsents::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(OidcSessions::Table).to_owned())
            .await
    }
}
