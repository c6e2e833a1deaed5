//! `oidc_jtis`: the `jti` of each `private_key_jwt` client assertion seen, until it
//! expires, so that an assertion is accepted once (RFC 7523 §3, OIDC Core §9).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OidcJtis {
    Table,
    ClientId,
    Jti,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OidcJtis::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(OidcJtis::ClientId)
                            .string_len(128)
                            .not_null(),
                    )
                    .col(ColumnDef::new(OidcJtis::Jti).string_len(256).not_null())
                    .col(ColumnDef::new(OidcJtis::ExpiresAt).big_integer().not_null())
                    .primary_key(Index::create().col(OidcJtis::ClientId).col(OidcJtis::Jti))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("oidc_jtis_expires")
                    .table(OidcJtis::Table)
                    .col(OidcJtis::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(OidcJtis::Table).to_owned())
            .await
    }
}
