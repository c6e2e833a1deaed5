//! The DIDComm mediator's state: `didcomm_mediations` (the DIDs this server mediates for),
//! `didcomm_recipients` (the recipient DIDs each of them registered: a forward whose
//! `next` is one is queued for it), and `didcomm_queue` (messages waiting for their
//! recipient, FIFO by `seq`, each (recipient, id) once, deleted when acknowledged or
//! expired).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum DidcommMediations {
    Table,
    Client,
    GrantedAt,
}

#[derive(DeriveIden)]
enum DidcommRecipients {
    Table,
    Recipient,
    Client,
    AddedAt,
}

#[derive(DeriveIden)]
enum DidcommQueue {
    Table,
    Seq,
    Recipient,
    Id,
    Message,
    Size,
    ReceivedAt,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DidcommMediations::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(DidcommMediations::Client)
                            .string_len(2048)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(DidcommMediations::GrantedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DidcommRecipients::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(DidcommRecipients::Recipient)
                            .string_len(2048)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(DidcommRecipients::Client)
                            .string_len(2048)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(DidcommRecipients::AddedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_didcomm_recipients_client")
                            .from(DidcommRecipients::Table, DidcommRecipients::Client)
                            .to(DidcommMediations::Table, DidcommMediations::Client)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_didcomm_recipients_client")
                    .table(DidcommRecipients::Table)
                    .col(DidcommRecipients::Client)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DidcommQueue::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(DidcommQueue::Seq)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(DidcommQueue::Recipient)
                            .string_len(2048)
                            .not_null(),
                    )
                    .col(ColumnDef::new(DidcommQueue::Id).string_len(64).not_null())
                    .col(ColumnDef::new(DidcommQueue::Message).text().not_null())
                    .col(ColumnDef::new(DidcommQueue::Size).big_integer().not_null())
                    .col(
                        ColumnDef::new(DidcommQueue::ReceivedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(DidcommQueue::ExpiresAt)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_didcomm_queue_recipient_id")
                    .table(DidcommQueue::Table)
                    .col(DidcommQueue::Recipient)
                    .col(DidcommQueue::Id)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_didcomm_queue_recipient_seq")
                    .table(DidcommQueue::Table)
                    .col(DidcommQueue::Recipient)
                    .col(DidcommQueue::Seq)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_didcomm_queue_expires_at")
                    .table(DidcommQueue::Table)
                    .col(DidcommQueue::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            DidcommQueue::Table.into_iden(),
            DidcommRecipients::Table.into_iden(),
            DidcommMediations::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
