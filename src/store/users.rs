//! The `users` table.

use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue::Set, QueryOrder};
use sichat_core::store::StoreError;

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
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub use entity::Model as UserRow;
use entity::{ActiveModel, Column, Entity};

pub async fn insert(db: &impl ConnectionTrait, row: &UserRow) -> Result<(), StoreError> {
    let am = ActiveModel {
        id: Set(row.id.clone()),
        name: Set(row.name.clone()),
        password_hash: Set(row.password_hash.clone()),
        created_at: Set(row.created_at),
    };
    Entity::insert(am)
        .exec_without_returning(db)
        .await
        .map_err(|e| match map_err(e) {
            StoreError::Duplicate(_) => StoreError::Duplicate(format!("user `{}`", row.name)),
            other => other,
        })?;
    Ok(())
}

pub async fn find_by_name(
    db: &impl ConnectionTrait,
    name: &str,
) -> Result<Option<UserRow>, StoreError> {
    Entity::find()
        .filter(Column::Name.eq(name))
        .one(db)
        .await
        .map_err(map_err)
}

pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<UserRow>, StoreError> {
    Entity::find()
        .order_by_asc(Column::Name)
        .all(db)
        .await
        .map_err(map_err)
}
