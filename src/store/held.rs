//! The `held_credentials` table: each user's credentials.

use sea_orm::ActiveValue::Set;
use sea_orm::entity::prelude::*;
use sea_orm::{PaginatorTrait, QueryOrder};
use sichat_core::id::UserName;
use sichat_core::store::{HeldCredentialRecord, MAX_HELD_PER_HOLDER, StoreError};

use super::{map_err, users};

pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "held_credentials")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub document: String,
        pub format: String,
        pub issuer: String,
        /// JSON array of strings.
        pub types: String,
        pub received_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{ActiveModel, Column, Entity, Model};

async fn user_id(db: &impl ConnectionTrait, holder: &UserName) -> Result<String, StoreError> {
    users::id_of(db, holder)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("user `{holder}`")))
}

fn record(holder: &UserName, row: Model) -> Result<HeldCredentialRecord, StoreError> {
    Ok(HeldCredentialRecord {
        holder: holder.clone(),
        types: serde_json::from_str(&row.types)
            .map_err(|e| StoreError::Backend(format!("corrupt held credential row: {e}")))?,
        id: row.id,
        document: row.document,
        format: row.format,
        issuer: row.issuer,
        received_at: row.received_at,
    })
}

pub async fn insert(db: &impl ConnectionTrait, r: &HeldCredentialRecord) -> Result<(), StoreError> {
    let uid = user_id(db, &r.holder).await?;
    let kept = Entity::find()
        .filter(Column::UserId.eq(uid.clone()))
        .count(db)
        .await
        .map_err(map_err)?;
    if kept >= MAX_HELD_PER_HOLDER {
        return Err(StoreError::Conflict(format!(
            "{} already keeps {MAX_HELD_PER_HOLDER} credentials",
            r.holder
        )));
    }
    let am = ActiveModel {
        user_id: Set(uid),
        id: Set(r.id.clone()),
        document: Set(r.document.clone()),
        format: Set(r.format.clone()),
        issuer: Set(r.issuer.clone()),
        types: Set(serde_json::to_string(&r.types).expect("strings serialize")),
        received_at: Set(r.received_at),
    };
    Entity::insert(am)
        .exec_without_returning(db)
        .await
        .map_err(|e| match map_err(e) {
            StoreError::Duplicate(_) => {
                StoreError::Duplicate(format!("credential `{}` of {}", r.id, r.holder))
            }
            other => other,
        })?;
    Ok(())
}

pub async fn delete(
    db: &impl ConnectionTrait,
    holder: &UserName,
    id: &str,
) -> Result<(), StoreError> {
    let deleted = Entity::delete_many()
        .filter(Column::UserId.eq(user_id(db, holder).await?))
        .filter(Column::Id.eq(id.to_owned()))
        .exec(db)
        .await
        .map_err(map_err)?;
    if deleted.rows_affected == 0 {
        return Err(StoreError::NotFound(format!(
            "credential `{id}` of {holder}"
        )));
    }
    Ok(())
}

pub async fn find(
    db: &impl ConnectionTrait,
    holder: &UserName,
    id: &str,
) -> Result<Option<HeldCredentialRecord>, StoreError> {
    let Some(uid) = users::id_of(db, holder).await? else {
        return Ok(None);
    };
    Entity::find_by_id((uid, id.to_owned()))
        .one(db)
        .await
        .map_err(map_err)?
        .map(|row| record(holder, row))
        .transpose()
}

pub async fn list(
    db: &impl ConnectionTrait,
    holder: &UserName,
) -> Result<Vec<HeldCredentialRecord>, StoreError> {
    let Some(uid) = users::id_of(db, holder).await? else {
        return Ok(vec![]);
    };
    Entity::find()
        .filter(Column::UserId.eq(uid))
        .order_by_asc(Column::ReceivedAt)
        .order_by_asc(Column::Id)
        .all(db)
        .await
        .map_err(map_err)?
        .into_iter()
        .map(|row| record(holder, row))
        .collect()
}

pub async fn count(db: &impl ConnectionTrait, holder: &UserName) -> Result<u64, StoreError> {
    let Some(uid) = users::id_of(db, holder).await? else {
        return Ok(0);
    };
    Entity::find()
        .filter(Column::UserId.eq(uid))
        .count(db)
        .await
        .map_err(map_err)
}
