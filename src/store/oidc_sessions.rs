//! The `oidc_sessions` and `oidc_consents` tables: who is signed in to this server's pages
//! (by the SHA-256 of the session cookie's secret) and what each user allowed each client.
//! Revoking a consent also revokes the user's grants for that client, so that the tokens
//! it issued stop working at once.

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{QueryOrder, Set};
use sichat_core::store::StoreError;

use super::map_err;
use super::oidc_grants::grants;

pub mod sessions {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "oidc_sessions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub secret_sha256: String,
        pub user_id: String,
        /// When the user authenticated (ms).
        pub auth_time: i64,
        pub created_at: i64,
        pub last_seen_at: i64,
        pub expires_at: i64,
        pub revoked_at: Option<i64>,
        /// The browser's `User-Agent` (truncated), shown on the account page.
        pub label: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod consents {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "oidc_consents")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub client_id: String,
        /// Space-separated, sorted scopes allowed.
        pub scope: String,
        pub granted_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub use consents::Model as ConsentRow;
pub use sessions::Model as SessionRow;

pub async fn insert_session(db: &impl ConnectionTrait, row: SessionRow) -> Result<(), StoreError> {
    use sea_orm::ActiveModelTrait;
    sessions::Entity::insert(sessions::ActiveModel::from(row).reset_all())
        .exec_without_returning(db)
        .await
        .map_err(map_err)?;
    Ok(())
}

/// The live session whose secret hashes to `secret_sha256` (unrevoked, unexpired at `now`).
pub async fn live_session(
    db: &impl ConnectionTrait,
    secret_sha256: &str,
    now: i64,
) -> Result<Option<SessionRow>, StoreError> {
    use sessions::Column as S;
    sessions::Entity::find()
        .filter(S::SecretSha256.eq(secret_sha256.to_owned()))
        .filter(S::RevokedAt.is_null())
        .filter(S::ExpiresAt.gt(now))
        .one(db)
        .await
        .map_err(map_err)
}

/// Records that the session was used at `now`.
pub async fn touch_session(
    db: &impl ConnectionTrait,
    id: &str,
    now: i64,
) -> Result<(), StoreError> {
    sessions::Entity::update_many()
        .col_expr(sessions::Column::LastSeenAt, Expr::value(now))
        .filter(sessions::Column::Id.eq(id.to_owned()))
        .exec(db)
        .await
        .map_err(map_err)?;
    Ok(())
}

/// A user's live sessions, most recent first.
pub async fn sessions_of(
    db: &impl ConnectionTrait,
    user_id: &str,
    now: i64,
) -> Result<Vec<SessionRow>, StoreError> {
    use sessions::Column as S;
    sessions::Entity::find()
        .filter(S::UserId.eq(user_id.to_owned()))
        .filter(S::RevokedAt.is_null())
        .filter(S::ExpiresAt.gt(now))
        .order_by_desc(S::LastSeenAt)
        .all(db)
        .await
        .map_err(map_err)
}

/// Ends one of `user_id`'s sessions; `false` when there was no such live session.
pub async fn revoke_session(
    db: &impl ConnectionTrait,
    user_id: &str,
    id: &str,
    now: i64,
) -> Result<bool, StoreError> {
    use sessions::Column as S;
    let result = sessions::Entity::update_many()
        .col_expr(S::RevokedAt, Expr::value(now))
        .filter(S::Id.eq(id.to_owned()))
        .filter(S::UserId.eq(user_id.to_owned()))
        .filter(S::RevokedAt.is_null())
        .exec(db)
        .await
        .map_err(map_err)?;
    Ok(result.rows_affected == 1)
}

/// Deletes sessions expired or revoked before `before` (ms).
pub async fn purge_sessions(db: &impl ConnectionTrait, before: i64) -> Result<u64, StoreError> {
    use sessions::Column as S;
    let result = sessions::Entity::delete_many()
        .filter(S::ExpiresAt.lt(before).or(S::RevokedAt.lt(before)))
        .exec(db)
        .await
        .map_err(map_err)?;
    Ok(result.rows_affected)
}

pub async fn consent(
    db: &impl ConnectionTrait,
    user_id: &str,
    client_id: &str,
) -> Result<Option<ConsentRow>, StoreError> {
    consents::Entity::find_by_id((user_id.to_owned(), client_id.to_owned()))
        .one(db)
        .await
        .map_err(map_err)
}

/// Records (or replaces) what `user_id` allowed `client_id`.
pub async fn put_consent(db: &impl ConnectionTrait, row: ConsentRow) -> Result<(), StoreError> {
    use consents::Column as C;
    consents::Entity::insert(consents::ActiveModel {
        user_id: Set(row.user_id),
        client_id: Set(row.client_id),
        scope: Set(row.scope),
        granted_at: Set(row.granted_at),
    })
    .on_conflict(
        OnConflict::columns([C::UserId, C::ClientId])
            .update_columns([C::Scope, C::GrantedAt])
            .to_owned(),
    )
    .exec_without_returning(db)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub async fn consents_of(
    db: &impl ConnectionTrait,
    user_id: &str,
) -> Result<Vec<ConsentRow>, StoreError> {
    consents::Entity::find()
        .filter(consents::Column::UserId.eq(user_id.to_owned()))
        .order_by_asc(consents::Column::ClientId)
        .all(db)
        .await
        .map_err(map_err)
}

/// Withdraws a consent and revokes the user's grants for that client (every code, access
/// and refresh token they issued). `false` when there was no such consent.
pub async fn revoke_consent(
    db: &impl ConnectionTrait,
    user_id: &str,
    client_id: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let deleted = consents::Entity::delete_by_id((user_id.to_owned(), client_id.to_owned()))
        .exec(db)
        .await
        .map_err(map_err)?;
    use grants::Column as G;
    grants::Entity::update_many()
        .col_expr(G::RevokedAt, Expr::value(now))
        .filter(G::UserId.eq(user_id.to_owned()))
        .filter(G::ClientId.eq(client_id.to_owned()))
        .filter(G::RevokedAt.is_null())
        .exec(db)
        .await
        .map_err(map_err)?;
    Ok(deleted.rows_affected == 1)
}
