//! The `api_tokens` table: users' API tokens, by the SHA-256 of the token.

use sea_orm::ActiveValue::Set;
use sea_orm::QueryOrder;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Expr;
use sichat_core::id::UserName;
use sichat_core::store::StoreError;

use super::{map_err, users};

pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "api_tokens")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub user_id: String,
        pub label: Option<String>,
        pub token_sha256: String,
        pub created_at: i64,
        pub revoked_at: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub use entity::Model as TokenRow;
use entity::{ActiveModel, Column, Entity};

fn no_user(name: &UserName) -> StoreError {
    StoreError::NotFound(format!("user `{name}`"))
}

pub async fn insert(
    db: &impl ConnectionTrait,
    user: &UserName,
    id: &str,
    label: Option<&str>,
    sha256: &str,
    now: i64,
) -> Result<TokenRow, StoreError> {
    let user_id = users::id_of(db, user).await?.ok_or_else(|| no_user(user))?;
    let am = ActiveModel {
        id: Set(id.to_owned()),
        user_id: Set(user_id),
        label: Set(label.map(str::to_owned)),
        token_sha256: Set(sha256.to_owned()),
        created_at: Set(now),
        revoked_at: Set(None),
    };
    Entity::insert(am.clone())
        .exec_without_returning(db)
        .await
        .map_err(map_err)?;
    Ok(TokenRow {
        id: id.to_owned(),
        user_id: am.user_id.unwrap(),
        label: label.map(str::to_owned),
        token_sha256: sha256.to_owned(),
        created_at: now,
        revoked_at: None,
    })
}

/// The user an unrevoked token with this hash belongs to.
pub async fn user_of(
    db: &impl ConnectionTrait,
    sha256: &str,
) -> Result<Option<UserName>, StoreError> {
    let Some(row) = Entity::find()
        .filter(Column::TokenSha256.eq(sha256.to_owned()))
        .filter(Column::RevokedAt.is_null())
        .one(db)
        .await
        .map_err(map_err)?
    else {
        return Ok(None);
    };
    users::name_of(db, &row.user_id).await
}

/// The user's tokens, oldest first.
pub async fn list(db: &impl ConnectionTrait, user: &UserName) -> Result<Vec<TokenRow>, StoreError> {
    let user_id = users::id_of(db, user).await?.ok_or_else(|| no_user(user))?;
    Entity::find()
        .filter(Column::UserId.eq(user_id))
        .order_by_asc(Column::CreatedAt)
        .order_by_asc(Column::Id)
        .all(db)
        .await
        .map_err(map_err)
}

/// Revokes the user's token `id`; `false` when the user has no such (unrevoked) token.
pub async fn revoke(
    db: &impl ConnectionTrait,
    user: &UserName,
    id: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let user_id = users::id_of(db, user).await?.ok_or_else(|| no_user(user))?;
    let result = Entity::update_many()
        .col_expr(Column::RevokedAt, Expr::value(now))
        .filter(Column::Id.eq(id.to_owned()))
        .filter(Column::UserId.eq(user_id))
        .filter(Column::RevokedAt.is_null())
        .exec(db)
        .await
        .map_err(map_err)?;
    Ok(result.rows_affected == 1)
}
