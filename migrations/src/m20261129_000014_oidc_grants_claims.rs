//! `oidc_grants.claims`: the claim names the authorization request asked for with the
//! `claims` parameter (OIDC Core §5.5), as a JSON array, released on top of the scopes'.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OidcGrants {
    Table,
    Claims,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(OidcGrants::Table)
                    .add_column(ColumnDef::new(OidcGrants::Claims).text().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(OidcGrants::Table)
                    .drop_column(OidcGrants::Claims)
                    .to_owned(),
            )
            .await
    }
}
