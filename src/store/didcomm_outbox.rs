//! The `didcomm_outbox` table: messages on their way to another server's mediator.

use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::entity::prelude::*;
use sea_orm::{QueryOrder, QuerySelect};
use sichat_core::store::StoreError;

use super::map_err;

pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "didcomm_outbox")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub recipient: String,
        pub uri: String,
        pub message: String,
        pub attempts: i32,
        pub next_attempt_at: i64,
        pub created_at: i64,
        pub expires_at: i64,
        pub last_error: Option<String>,
        pub failed_at: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub use entity::Model as OutboxRow;
use entity::{ActiveModel, Column, Entity};

/// Stores messages to send (committed when this returns).
pub async fn insert(
    db: &impl ConnectionTrait,
    rows: &[(String, String, String)],
    now: i64,
    expires_at: i64,
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    Entity::insert_many(rows.iter().map(|(recipient, uri, message)| ActiveModel {
        id: NotSet,
        recipient: Set(recipient.clone()),
        uri: Set(uri.clone()),
        message: Set(message.clone()),
        attempts: Set(0),
        next_attempt_at: Set(now),
        created_at: Set(now),
        expires_at: Set(expires_at),
        last_error: Set(None),
        failed_at: Set(None),
    }))
    .exec_without_returning(db)
    .await
    .map_err(map_err)?;
    Ok(())
}

/// Leases up to `limit` rows due at `now` until `now + lease_ms` (a row another instance
/// leased meanwhile is skipped): the ones this caller must send.
pub async fn claim_due(
    db: &impl ConnectionTrait,
    now: i64,
    lease_ms: i64,
    limit: u64,
) -> Result<Vec<OutboxRow>, StoreError> {
    let due = Entity::find()
        .filter(Column::FailedAt.is_null())
        .filter(Column::NextAttemptAt.lte(now))
        .order_by_asc(Column::NextAttemptAt)
        .limit(limit)
        .all(db)
        .await
        .map_err(map_err)?;
    let mut claimed = Vec::with_capacity(due.len());
    for row in due {
        let res = Entity::update_many()
            .col_expr(Column::NextAttemptAt, Expr::value(now + lease_ms))
            .filter(Column::Id.eq(row.id))
            .filter(Column::NextAttemptAt.eq(row.next_attempt_at))
            .exec(db)
            .await
            .map_err(map_err)?;
        if res.rows_affected == 1 {
            claimed.push(row);
        }
    }
    Ok(claimed)
}

pub async fn delivered(db: &impl ConnectionTrait, id: i64) -> Result<(), StoreError> {
    Entity::delete_by_id(id).exec(db).await.map_err(map_err)?;
    Ok(())
}

/// Records a failed attempt: tried again at `next_attempt_at`, or given up (`failed_at`)
/// when that is `None`.
pub async fn attempt_failed(
    db: &impl ConnectionTrait,
    id: i64,
    attempts: i32,
    error: &str,
    next_attempt_at: Option<i64>,
    now: i64,
) -> Result<(), StoreError> {
    let mut q = Entity::update_many()
        .col_expr(Column::Attempts, Expr::value(attempts))
        .col_expr(
            Column::LastError,
            Expr::value(error.chars().take(500).collect::<String>()),
        )
        .filter(Column::Id.eq(id));
    q = match next_attempt_at {
        Some(at) => q.col_expr(Column::NextAttemptAt, Expr::value(at)),
        None => q.col_expr(Column::FailedAt, Expr::value(now)),
    };
    q.exec(db).await.map_err(map_err)?;
    Ok(())
}

/// Deletes rows given up on before `before` (Unix ms).
pub async fn purge_failed(db: &impl ConnectionTrait, before: i64) -> Result<u64, StoreError> {
    Ok(Entity::delete_many()
        .filter(Column::FailedAt.lt(before))
        .exec(db)
        .await
        .map_err(map_err)?
        .rows_affected)
}
