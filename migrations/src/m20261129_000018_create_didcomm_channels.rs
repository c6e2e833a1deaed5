//! Credential-bound DIDComm channels: `didcomm_channels` (a recipient DID whose forwards
//! only peers holding a credential of the policy may send), `didcomm_channel_members`
//! (peers bound by a verified presentation, with the credential they presented) and
//! `didcomm_channel_challenges` (one-time challenges of the opening exchange).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum DidcommChannels {
    Table,
    Id,
    Name,
    Owner,
    Recipient,
    Policy,
    CreatedAt,
}

#[derive(DeriveIden)]
enum DidcommChannelMembers {
    Table,
    ChannelId,
    Peer,
    Credential,
    BoundAt,
}

#[derive(DeriveIden)]
enum DidcommChannelChallenges {
    Table,
    Challenge,
    ChannelId,
    Peer,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DidcommChannels::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(DidcommChannels::Id)
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(DidcommChannels::Name)
                            .string_len(128)
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(DidcommChannels::Owner)
                            .string_len(128)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(DidcommChannels::Recipient)
                            .string_len(2048)
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(DidcommChannels::Policy).text().not_null())
                    .col(
                        ColumnDef::new(DidcommChannels::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DidcommChannelMembers::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(DidcommChannelMembers::ChannelId)
                            .string_len(36)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(DidcommChannelMembers::Peer)
                            .string_len(2048)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(DidcommChannelMembers::Credential)
                            .text()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(DidcommChannelMembers::BoundAt)
                            .big_integer()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(DidcommChannelMembers::ChannelId)
                            .col(DidcommChannelMembers::Peer),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_didcomm_channel_members_channel")
                            .from(
                                DidcommChannelMembers::Table,
                                DidcommChannelMembers::ChannelId,
                            )
                            .to(DidcommChannels::Table, DidcommChannels::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DidcommChannelChallenges::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(DidcommChannelChallenges::Challenge)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(DidcommChannelChallenges::ChannelId)
                            .string_len(36)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(DidcommChannelChallenges::Peer)
                            .string_len(2048)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(DidcommChannelChallenges::ExpiresAt)
                            .big_integer()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_didcomm_channel_challenges_channel")
                            .from(
                                DidcommChannelChallenges::Table,
                                DidcommChannelChallenges::ChannelId,
                            )
                            .to(DidcommChannels::Table, DidcommChannels::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            DidcommChannelChallenges::Table.into_iden(),
            DidcommChannelMembers::Table.into_iden(),
            DidcommChannels::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
