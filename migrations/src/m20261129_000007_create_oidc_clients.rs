//! `oidc_clients`: OpenID Connect clients (RFC 7591 §2 metadata). Secrets are stored as
//! SHA-256 (they are 32 random bytes or at least 32 characters); list-valued metadata as
//! JSON arrays in text columns.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OidcClients {
    Table,
    Id,
    SecretSha256,
    AuthMethod,
    Public,
    RequirePkce,
    RedirectUris,
    PostLogoutRedirectUris,
    GrantTypes,
    Scope,
    IdTokenAlg,
    Jwks,
    IssuerDids,
    Name,
    Origin,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OidcClients::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(OidcClients::Id)
                            .string_len(128)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(OidcClients::SecretSha256)
                            .string_len(64)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(OidcClients::AuthMethod)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(ColumnDef::new(OidcClients::Public).boolean().not_null())
                    .col(
                        ColumnDef::new(OidcClients::RequirePkce)
                            .boolean()
                            .not_null(),
                    )
                    .col(ColumnDef::new(OidcClients::RedirectUris).text().not_null())
                    .col(
                        ColumnDef::new(OidcClients::PostLogoutRedirectUris)
                            .text()
                            .not_null(),
                    )
                    .col(ColumnDef::new(OidcClients::GrantTypes).text().not_null())
                    .col(ColumnDef::new(OidcClients::Scope).text().not_null())
                    .col(
                        ColumnDef::new(OidcClients::IdTokenAlg)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(ColumnDef::new(OidcClients::Jwks).text().null())
                    .col(ColumnDef::new(OidcClients::IssuerDids).text().not_null())
                    .col(ColumnDef::new(OidcClients::Name).text().null())
                    .col(
                        ColumnDef::new(OidcClients::Origin)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OidcClients::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(OidcClients::Table).to_owned())
            .await
    }
}
