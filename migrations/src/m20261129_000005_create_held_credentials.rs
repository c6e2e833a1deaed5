//! `held_credentials`: each user's credential store (the holder side of the VC-API).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum HeldCredentials {
    Table,
    UserId,
    Id,
    Document,
    Format,
    Issuer,
    Types,
    ReceivedAt,
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
                    .table(HeldCredentials::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(HeldCredentials::UserId)
                            .string_len(36)
                            .not_null(),
                    )
                    .col(ColumnDef::new(HeldCredentials::Id).text().not_null())
                    .col(ColumnDef::new(HeldCredentials::Document).text().not_null())
                    .col(
                        ColumnDef::new(HeldCredentials::Format)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(ColumnDef::new(HeldCredentials::Issuer).text().not_null())
                    .col(ColumnDef::new(HeldCredentials::Types).text().not_null())
                    .col(
                        ColumnDef::new(HeldCredentials::ReceivedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(HeldCredentials::UserId)
                            .col(HeldCredentials::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(HeldCredentials::Table, HeldCredentials::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(HeldCredentials::Table).to_owned())
            .await
    }
}
