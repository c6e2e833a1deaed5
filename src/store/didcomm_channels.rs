//! Credential-bound channels: `didcomm_channels`, their members and one-time challenges.

use sea_orm::ActiveValue::Set;
use sea_orm::QueryOrder;
use sea_orm::entity::prelude::*;
use sichat_core::store::StoreError;

use super::map_err;

pub mod channel {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "didcomm_channels")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub name: String,
        pub owner: String,
        pub recipient: String,
        /// JSON: `{credentialType, issuers, claims}`.
        pub policy: String,
        pub created_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod member {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "didcomm_channel_members")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub channel_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub peer: String,
        pub credential: String,
        pub bound_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod challenge {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "didcomm_channel_challenges")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub challenge: String,
        pub channel_id: String,
        pub peer: String,
        pub expires_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub use channel::Model as ChannelRow;
pub use member::Model as MemberRow;

pub async fn insert(db: &impl ConnectionTrait, row: &ChannelRow) -> Result<(), StoreError> {
    channel::Entity::insert(channel::ActiveModel {
        id: Set(row.id.clone()),
        name: Set(row.name.clone()),
        owner: Set(row.owner.clone()),
        recipient: Set(row.recipient.clone()),
        policy: Set(row.policy.clone()),
        created_at: Set(row.created_at),
    })
    .exec_without_returning(db)
    .await
    .map_err(|e| match map_err(e) {
        StoreError::Duplicate(_) => StoreError::Duplicate(format!(
            "a channel named `{}` or for {}",
            row.name, row.recipient
        )),
        other => other,
    })?;
    Ok(())
}

pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<ChannelRow>, StoreError> {
    channel::Entity::find()
        .order_by_asc(channel::Column::Name)
        .all(db)
        .await
        .map_err(map_err)
}

pub async fn by_name(
    db: &impl ConnectionTrait,
    name: &str,
) -> Result<Option<ChannelRow>, StoreError> {
    channel::Entity::find()
        .filter(channel::Column::Name.eq(name.to_owned()))
        .one(db)
        .await
        .map_err(map_err)
}

pub async fn by_recipient(
    db: &impl ConnectionTrait,
    recipient: &str,
) -> Result<Option<ChannelRow>, StoreError> {
    channel::Entity::find()
        .filter(channel::Column::Recipient.eq(recipient.to_owned()))
        .one(db)
        .await
        .map_err(map_err)
}

/// Deletes a channel (its members and challenges go with it); `false` when none.
pub async fn delete(db: &impl ConnectionTrait, name: &str) -> Result<bool, StoreError> {
    let Some(row) = by_name(db, name).await? else {
        return Ok(false);
    };
    member::Entity::delete_many()
        .filter(member::Column::ChannelId.eq(row.id.clone()))
        .exec(db)
        .await
        .map_err(map_err)?;
    challenge::Entity::delete_many()
        .filter(challenge::Column::ChannelId.eq(row.id.clone()))
        .exec(db)
        .await
        .map_err(map_err)?;
    channel::Entity::delete_by_id(row.id)
        .exec(db)
        .await
        .map_err(map_err)?;
    Ok(true)
}

pub async fn add_challenge(
    db: &impl ConnectionTrait,
    challenge: &str,
    channel_id: &str,
    peer: &str,
    expires_at: i64,
) -> Result<(), StoreError> {
    challenge::Entity::insert(challenge::ActiveModel {
        challenge: Set(challenge.to_owned()),
        channel_id: Set(channel_id.to_owned()),
        peer: Set(peer.to_owned()),
        expires_at: Set(expires_at),
    })
    .exec_without_returning(db)
    .await
    .map_err(map_err)?;
    Ok(())
}

/// Spends a challenge issued to `peer` for the channel, unexpired at `now`: `true` for
/// exactly one of concurrent callers.
pub async fn spend_challenge(
    db: &impl ConnectionTrait,
    challenge: &str,
    channel_id: &str,
    peer: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let done = challenge::Entity::delete_many()
        .filter(challenge::Column::Challenge.eq(challenge.to_owned()))
        .filter(challenge::Column::ChannelId.eq(channel_id.to_owned()))
        .filter(challenge::Column::Peer.eq(peer.to_owned()))
        .filter(challenge::Column::ExpiresAt.gt(now))
        .exec(db)
        .await
        .map_err(map_err)?;
    Ok(done.rows_affected == 1)
}

pub async fn purge_challenges(db: &impl ConnectionTrait, now: i64) -> Result<u64, StoreError> {
    Ok(challenge::Entity::delete_many()
        .filter(challenge::Column::ExpiresAt.lte(now))
        .exec(db)
        .await
        .map_err(map_err)?
        .rows_affected)
}

/// Binds (or rebinds, with a newer credential) a peer.
pub async fn bind(db: &impl ConnectionTrait, row: &MemberRow) -> Result<(), StoreError> {
    member::Entity::insert(member::ActiveModel {
        channel_id: Set(row.channel_id.clone()),
        peer: Set(row.peer.clone()),
        credential: Set(row.credential.clone()),
        bound_at: Set(row.bound_at),
    })
    .on_conflict(
        sea_orm::sea_query::OnConflict::columns([member::Column::ChannelId, member::Column::Peer])
            .update_columns([member::Column::Credential, member::Column::BoundAt])
            .to_owned(),
    )
    .exec_without_returning(db)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub async fn member(
    db: &impl ConnectionTrait,
    channel_id: &str,
    peer: &str,
) -> Result<Option<MemberRow>, StoreError> {
    member::Entity::find_by_id((channel_id.to_owned(), peer.to_owned()))
        .one(db)
        .await
        .map_err(map_err)
}

pub async fn members(
    db: &impl ConnectionTrait,
    channel_id: &str,
) -> Result<Vec<MemberRow>, StoreError> {
    member::Entity::find()
        .filter(member::Column::ChannelId.eq(channel_id.to_owned()))
        .order_by_asc(member::Column::BoundAt)
        .all(db)
        .await
        .map_err(map_err)
}

pub async fn unbind(
    db: &impl ConnectionTrait,
    channel_id: &str,
    peer: &str,
) -> Result<(), StoreError> {
    member::Entity::delete_by_id((channel_id.to_owned(), peer.to_owned()))
        .exec(db)
        .await
        .map_err(map_err)?;
    Ok(())
}
