//! The `settings` table: named server-wide values.

use sea_orm::ActiveValue::Set;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::OnConflict;
use sichat_core::store::StoreError;

use super::map_err;

pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "settings")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        pub value: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{ActiveModel, Column, Entity};

/// The SHA-256 (hex) of the admin token.
pub const ADMIN_TOKEN_SHA256: &str = "admin_token_sha256";
/// A value sealed under the KEK, to detect a wrong master key before anything else.
pub const KEK_CHECK: &str = "kek_check";
/// Set once the server's first keys exist.
pub const SERVER_KEYS_CREATED: &str = "server_keys_created";
/// The public URL the server's DIDs derive from.
pub const PUBLIC_URL: &str = "public_url";
/// A random value rewritten by every change to users, keys or the public URL: processes
/// sharing the database poll it to drop cached DID documents.
pub const IDENTITY_STAMP: &str = "identity_stamp";

pub async fn get(db: &impl ConnectionTrait, name: &str) -> Result<Option<String>, StoreError> {
    Ok(Entity::find_by_id(name.to_owned())
        .one(db)
        .await
        .map_err(map_err)?
        .map(|m| m.value))
}

/// Inserts `value` unless `name` is already set; returns whether it was inserted.
pub async fn insert_if_absent(
    db: &impl ConnectionTrait,
    name: &str,
    value: &str,
) -> Result<bool, StoreError> {
    let row = ActiveModel {
        name: Set(name.to_owned()),
        value: Set(value.to_owned()),
    };
    let inserted = Entity::insert(row)
        .on_conflict(OnConflict::column(Column::Name).do_nothing().to_owned())
        .exec_without_returning(db)
        .await
        .map_err(map_err)?;
    Ok(inserted == 1)
}

/// Sets `name` to `value`, replacing any previous value.
pub async fn put(db: &impl ConnectionTrait, name: &str, value: &str) -> Result<(), StoreError> {
    let row = ActiveModel {
        name: Set(name.to_owned()),
        value: Set(value.to_owned()),
    };
    Entity::insert(row)
        .on_conflict(
            OnConflict::column(Column::Name)
                .update_column(Column::Value)
                .to_owned(),
        )
        .exec_without_returning(db)
        .await
        .map_err(map_err)?;
    Ok(())
}
