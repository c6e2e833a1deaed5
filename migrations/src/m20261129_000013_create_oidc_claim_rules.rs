//! `oidc_claim_rules`: which OpenID Connect claim a held verifiable credential may back,
//! per scope (`vc:email` → `email_verified` from an `EmailCredential`), from which issuers
//! (NULL: this server's DIDs) and from which field of the credential (NULL: `true`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OidcClaimRules {
    Table,
    Id,
    Scope,
    Claim,
    CredentialType,
    Issuers,
    FromPath,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OidcClaimRules::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(OidcClaimRules::Id)
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(OidcClaimRules::Scope)
                            .string_len(128)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OidcClaimRules::Claim)
                            .string_len(128)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OidcClaimRules::CredentialType)
                            .string_len(256)
                            .not_null(),
                    )
                    .col(ColumnDef::new(OidcClaimRules::Issuers).text().null())
                    .col(ColumnDef::new(OidcClaimRules::FromPath).text().null())
                    .col(
                        ColumnDef::new(OidcClaimRules::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_oidc_claim_rules_unique")
                    .table(OidcClaimRules::Table)
                    .col(OidcClaimRules::Scope)
                    .col(OidcClaimRules::Claim)
                    .col(OidcClaimRules::CredentialType)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(OidcClaimRules::Table).to_owned())
            .await
    }
}
