//! `didcomm_outbox`: messages this server forwards to another server's mediator, kept
//! until that server accepts them (or they expire), retried with backoff; a row is
//! leased (`next_attempt_at` moved ahead) by the instance sending it.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum DidcommOutbox {
    Table,
    Id,
    Recipient,
    Uri,
    Message,
    Attempts,
    NextAttemptAt,
    CreatedAt,
    ExpiresAt,
    LastError,
    FailedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DidcommOutbox::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(DidcommOutbox::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(DidcommOutbox::Recipient).text().not_null())
                    .col(ColumnDef::new(DidcommOutbox::Uri).text().not_null())
                    .col(ColumnDef::new(DidcommOutbox::Message).text().not_null())
                    .col(ColumnDef::new(DidcommOutbox::Attempts).integer().not_null())
                    .col(
                        ColumnDef::new(DidcommOutbox::NextAttemptAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(DidcommOutbox::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(DidcommOutbox::ExpiresAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(DidcommOutbox::LastError).text().null())
                    .col(ColumnDef::new(DidcommOutbox::FailedAt).big_integer().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_didcomm_outbox_due")
                    .table(DidcommOutbox::Table)
                    .col(DidcommOutbox::NextAttemptAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(DidcommOutbox::Table).to_owned())
            .await
    }
}
