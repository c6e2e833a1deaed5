//! `oidc_codes` carry what their grant says (user, scope, nonce, auth time, claims), so
//! that a redemption is one conditional `UPDATE … RETURNING` (the grant's revocation is
//! checked in its `WHERE`), with no second read. NULL in codes issued before.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum OidcCodes {
    Table,
    UserId,
    Scope,
    Nonce,
    AuthTime,
    Claims,
}

const COLUMNS: [OidcCodes; 5] = [
    OidcCodes::UserId,
    OidcCodes::Scope,
    OidcCodes::Nonce,
    OidcCodes::AuthTime,
    OidcCodes::Claims,
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One ADD COLUMN per statement (SQLite accepts no more).
        for column in COLUMNS {
            let mut def = ColumnDef::new(column);
            match column {
                OidcCodes::UserId => def.string_len(36),
                OidcCodes::AuthTime => def.big_integer(),
                _ => def.text(),
            };
            manager
                .alter_table(
                    Table::alter()
                        .table(OidcCodes::Table)
                        .add_column(def.null())
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in COLUMNS {
            manager
                .alter_table(
                    Table::alter()
                        .table(OidcCodes::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
