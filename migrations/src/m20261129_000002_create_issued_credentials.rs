//! `issued_credentials`: what addresses each credential this server issued (id, issuer,
//! owner, subject, types, format, time); the credential itself goes to its holder.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum IssuedCredentials {
    Table,
    Id,
    Issuer,
    UserId,
    Subject,
    Types,
    Format,
    IssuedAt,
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
                    .table(IssuedCredentials::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(IssuedCredentials::Id)
                            .text()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(IssuedCredentials::Issuer).text().not_null())
                    .col(
                        ColumnDef::new(IssuedCredentials::UserId)
                            .string_len(36)
                            .null(),
                    )
                    .col(ColumnDef::new(IssuedCredentials::Subject).text().null())
                    .col(ColumnDef::new(IssuedCredentials::Types).text().not_null())
                    .col(
                        ColumnDef::new(IssuedCredentials::Format)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(IssuedCredentials::IssuedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(IssuedCredentials::Table, IssuedCredentials::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("issued_credentials_issuer")
                    .table(IssuedCredentials::Table)
                    .col(IssuedCredentials::Issuer)
                    .col(IssuedCredentials::IssuedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(IssuedCredentials::Table).to_owned())
            .await
    }
}
