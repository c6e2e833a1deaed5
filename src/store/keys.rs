//! The `keys` table: public keys in clear, private keys sealed, each owned by the server
//! (`user_id` NULL) or by a user (foreign key to `users`).

use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue::Set, QueryOrder, sea_query::Expr};
use sichat_core::id::{KeyId, Owner, UserName};
use sichat_core::keys::KeyType;
use sichat_core::store::{KeyRecord, KeyStatus, StoreError};

use super::{map_err, users};

pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "keys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub user_id: Option<String>,
        pub key_type: String,
        pub public_multibase: String,
        pub sealed_private: Vec<u8>,
        pub status: String,
        pub created_at: i64,
        pub retired_at: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "crate::store::users::entity::Entity",
            from = "Column::UserId",
            to = "crate::store::users::entity::Column::Id"
        )]
        User,
    }

    impl Related<crate::store::users::entity::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::User.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{ActiveModel, Column, Entity, Model};

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("corrupt key row: {what}"))
}

fn to_record(m: Model, user: Option<users::UserRow>) -> Result<KeyRecord, StoreError> {
    let owner = match (&m.user_id, user) {
        (None, _) => Owner::Server,
        (Some(_), Some(u)) => Owner::User(UserName::parse(&u.name).map_err(corrupt)?),
        (Some(id), None) => return Err(corrupt(format!("user {id} of key {} is gone", m.id))),
    };
    Ok(KeyRecord {
        key_type: m.key_type.parse::<KeyType>().map_err(corrupt)?,
        status: KeyStatus::parse(&m.status)
            .ok_or_else(|| corrupt(format!("unknown key status `{}`", m.status)))?,
        id: KeyId::parse(&m.id).map_err(corrupt)?,
        owner,
        public_multibase: m.public_multibase,
        sealed_private: m.sealed_private,
        created_at: m.created_at,
        retired_at: m.retired_at,
    })
}

/// Inserts a key row; `user_id` is the owner's row id (`None` for the server).
pub async fn insert(
    db: &impl ConnectionTrait,
    r: &KeyRecord,
    user_id: Option<String>,
) -> Result<(), StoreError> {
    let row = ActiveModel {
        id: Set(r.id.to_string()),
        user_id: Set(user_id),
        key_type: Set(r.key_type.as_str().to_owned()),
        public_multibase: Set(r.public_multibase.clone()),
        sealed_private: Set(r.sealed_private.clone()),
        status: Set(r.status.as_str().to_owned()),
        created_at: Set(r.created_at),
        retired_at: Set(r.retired_at),
    };
    Entity::insert(row)
        .exec_without_returning(db)
        .await
        .map_err(|e| match map_err(e) {
            StoreError::Duplicate(_) => {
                StoreError::Duplicate(format!("key {} or public key {}", r.id, r.public_multibase))
            }
            other => other,
        })?;
    Ok(())
}

pub async fn find(db: &impl ConnectionTrait, id: &KeyId) -> Result<Option<KeyRecord>, StoreError> {
    Entity::find_by_id(id.to_string())
        .find_also_related(users::entity::Entity)
        .one(db)
        .await
        .map_err(map_err)?
        .map(|(k, u)| to_record(k, u))
        .transpose()
}

/// The owner's keys, oldest first; keys created together (a new user's) list Ed25519,
/// P-256, X25519.
pub async fn list(db: &impl ConnectionTrait, owner: &Owner) -> Result<Vec<KeyRecord>, StoreError> {
    list_where(db, Some(owner)).await
}

/// Every key of every owner, in the same order (backups, audits).
pub async fn list_all(db: &impl ConnectionTrait) -> Result<Vec<KeyRecord>, StoreError> {
    list_where(db, None).await
}

async fn list_where(
    db: &impl ConnectionTrait,
    owner: Option<&Owner>,
) -> Result<Vec<KeyRecord>, StoreError> {
    let query = Entity::find().find_also_related(users::entity::Entity);
    let query = match owner {
        None => query,
        Some(Owner::Server) => query.filter(Column::UserId.is_null()),
        Some(Owner::User(name)) => query.filter(users::entity::Column::Name.eq(name.as_str())),
    };
    query
        .order_by_asc(Column::CreatedAt)
        .order_by_asc(Column::KeyType)
        .order_by_asc(Column::Id)
        .all(db)
        .await
        .map_err(map_err)?
        .into_iter()
        .map(|(k, u)| to_record(k, u))
        .collect()
}

/// Retires `id` if it is active; returns whether a row changed. The condition is in the
/// statement, so of two concurrent retirements exactly one changes the row.
pub async fn retire(db: &impl ConnectionTrait, id: &KeyId, at: i64) -> Result<bool, StoreError> {
    let res = Entity::update_many()
        .col_expr(Column::Status, Expr::value(KeyStatus::Retired.as_str()))
        .col_expr(Column::RetiredAt, Expr::value(at))
        .filter(Column::Id.eq(id.as_str()))
        .filter(Column::Status.eq(KeyStatus::Active.as_str()))
        .exec(db)
        .await
        .map_err(map_err)?;
    Ok(res.rows_affected == 1)
}
