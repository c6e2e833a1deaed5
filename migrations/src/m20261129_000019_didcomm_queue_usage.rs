//! `didcomm_queue_usage`: each recipient's queued messages and bytes, kept with the queue
//! in the same transactions, so a quota check is one row read instead of a count over the
//! recipient's queue. Filled from the queue as it stands.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum DidcommQueueUsage {
    Table,
    Recipient,
    Messages,
    Bytes,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DidcommQueueUsage::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(DidcommQueueUsage::Recipient)
                            .string_len(2048)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(DidcommQueueUsage::Messages)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(DidcommQueueUsage::Bytes)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO didcomm_queue_usage (recipient, messages, bytes) \
                 SELECT recipient, COUNT(*), CAST(SUM(size) AS BIGINT) FROM didcomm_queue GROUP BY recipient",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(DidcommQueueUsage::Table).to_owned())
            .await
    }
}
