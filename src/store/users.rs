//! The `users` table.

use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue::Set, QueryOrder, QuerySelect};
use sichat_core::id::{UserId, UserName};
use sichat_core::store::{StoreError, UserRecord};

use super::map_err;

pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub name: String,
        pub password_hash: Option<String>,
        pub created_at: i64,
        pub email: Option<String>,
        pub display_name: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(has_many = "crate::store::keys::entity::Entity")]
        Keys,
    }

    impl Related<crate::store::keys::entity::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Keys.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub use entity::Model as UserRow;
use entity::{ActiveModel, Column, Entity};

fn to_record(row: UserRow) -> Result<UserRecord, StoreError> {
    let corrupt =
        |e: sichat_core::id::InvalidId| StoreError::Backend(format!("corrupt user row: {e}"));
    Ok(UserRecord {
        id: UserId::parse(&row.id).map_err(corrupt)?,
        name: UserName::parse(&row.name).map_err(corrupt)?,
        password_hash: row.password_hash,
        created_at: row.created_at,
        profile: sichat_core::store::UserProfile {
            email: row.email,
            display_name: row.display_name,
        },
    })
}

pub async fn insert(db: &impl ConnectionTrait, user: &UserRecord) -> Result<(), StoreError> {
    let am = ActiveModel {
        id: Set(user.id.to_string()),
        name: Set(user.name.to_string()),
        password_hash: Set(user.password_hash.clone()),
        created_at: Set(user.created_at),
        email: Set(user.profile.email.clone()),
        display_name: Set(user.profile.display_name.clone()),
    };
    Entity::insert(am)
        .exec_without_returning(db)
        .await
        .map_err(|e| match map_err(e) {
            StoreError::Duplicate(_) => StoreError::Duplicate(format!("user `{}`", user.name)),
            other => other,
        })?;
    Ok(())
}

pub async fn find_by_name(
    db: &impl ConnectionTrait,
    name: &UserName,
) -> Result<Option<UserRecord>, StoreError> {
    Entity::find()
        .filter(Column::Name.eq(name.as_str()))
        .one(db)
        .await
        .map_err(map_err)?
        .map(to_record)
        .transpose()
}

pub async fn find_by_id(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<UserRecord>, StoreError> {
    Entity::find_by_id(id.to_owned())
        .one(db)
        .await
        .map_err(map_err)?
        .map(to_record)
        .transpose()
}

/// The row id of the user called `name`.
pub async fn id_of(
    db: &impl ConnectionTrait,
    name: &UserName,
) -> Result<Option<String>, StoreError> {
    Entity::find()
        .select_only()
        .column(Column::Id)
        .filter(Column::Name.eq(name.as_str()))
        .into_tuple::<String>()
        .one(db)
        .await
        .map_err(map_err)
}

pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<UserRecord>, StoreError> {
    Entity::find()
        .order_by_asc(Column::Name)
        .all(db)
        .await
        .map_err(map_err)?
        .into_iter()
        .map(to_record)
        .collect()
}

/// The name of the user with row id `id`.
pub async fn name_of(db: &impl ConnectionTrait, id: &str) -> Result<Option<UserName>, StoreError> {
    Entity::find_by_id(id.to_owned())
        .one(db)
        .await
        .map_err(map_err)?
        .map(|row| to_record(row).map(|u| u.name))
        .transpose()
}
