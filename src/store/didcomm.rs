//! The DIDComm mediator's tables: `didcomm_mediations`, `didcomm_recipients` and the
//! message queue `didcomm_queue` (FIFO by `seq`).

use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{DatabaseBackend, QueryOrder, QuerySelect, Statement};
use sichat_core::store::{
    Enqueue, MediationRecord, QueueStatus, QueuedMessage, RecipientUpdate, StoreError,
};

use super::map_err;

/// The PostgreSQL channel on which queued messages are announced to other instances.
pub const NOTIFY_CHANNEL: &str = "sichat_didcomm";

pub mod mediation {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "didcomm_mediations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub client: String,
        pub granted_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod recipient {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "didcomm_recipients")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub recipient: String,
        pub client: String,
        pub added_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod usage {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "didcomm_queue_usage")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub recipient: String,
        pub messages: i64,
        pub bytes: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Adds `messages` and `bytes` (negative: removes) to a recipient's usage.
async fn add_usage(
    db: &impl ConnectionTrait,
    recipient: &str,
    messages: i64,
    bytes: i64,
) -> Result<(), StoreError> {
    usage::Entity::insert(usage::ActiveModel {
        recipient: Set(recipient.to_owned()),
        messages: Set(Ord::max(messages, 0)),
        bytes: Set(Ord::max(bytes, 0)),
    })
    .on_conflict(
        OnConflict::column(usage::Column::Recipient)
            .value(
                usage::Column::Messages,
                Expr::col((usage::Entity, usage::Column::Messages)).add(messages),
            )
            .value(
                usage::Column::Bytes,
                Expr::col((usage::Entity, usage::Column::Bytes)).add(bytes),
            )
            .to_owned(),
    )
    .exec_without_returning(db)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub mod queue {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "didcomm_queue")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub seq: i64,
        pub recipient: String,
        pub id: String,
        pub message: String,
        pub size: i64,
        pub received_at: i64,
        pub expires_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub async fn grant(db: &impl ConnectionTrait, m: &MediationRecord) -> Result<(), StoreError> {
    mediation::Entity::insert(mediation::ActiveModel {
        client: Set(m.client.clone()),
        granted_at: Set(m.granted_at),
    })
    .on_conflict(
        OnConflict::column(mediation::Column::Client)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub async fn update_recipient(
    db: &impl ConnectionTrait,
    u: &RecipientUpdate,
) -> Result<(), StoreError> {
    if find_mediation(db, &u.client).await?.is_none() {
        return Err(StoreError::NotFound(format!("mediation of {}", u.client)));
    }
    let owner = client_of(db, &u.recipient).await?;
    match (owner, u.add) {
        (Some(client), true) if client != u.client => Err(StoreError::Conflict(format!(
            "{} is another DID's recipient",
            u.recipient
        ))),
        (Some(_), true) => Ok(()),
        (None, true) => {
            recipient::Entity::insert(recipient::ActiveModel {
                recipient: Set(u.recipient.clone()),
                client: Set(u.client.clone()),
                added_at: Set(u.at),
            })
            .exec_without_returning(db)
            .await
            .map_err(|e| match map_err(e) {
                StoreError::Duplicate(_) => {
                    StoreError::Conflict(format!("{} is another DID's recipient", u.recipient))
                }
                other => other,
            })?;
            Ok(())
        }
        (_, false) => {
            recipient::Entity::delete_many()
                .filter(recipient::Column::Recipient.eq(u.recipient.clone()))
                .filter(recipient::Column::Client.eq(u.client.clone()))
                .exec(db)
                .await
                .map_err(map_err)?;
            Ok(())
        }
    }
}

pub async fn find_mediation(
    db: &impl ConnectionTrait,
    client: &str,
) -> Result<Option<MediationRecord>, StoreError> {
    Ok(mediation::Entity::find_by_id(client.to_owned())
        .one(db)
        .await
        .map_err(map_err)?
        .map(|m| MediationRecord {
            client: m.client,
            granted_at: m.granted_at,
        }))
}

pub async fn recipients_of(
    db: &impl ConnectionTrait,
    client: &str,
) -> Result<Vec<String>, StoreError> {
    recipient::Entity::find()
        .select_only()
        .column(recipient::Column::Recipient)
        .filter(recipient::Column::Client.eq(client.to_owned()))
        .order_by_asc(recipient::Column::AddedAt)
        .order_by_asc(recipient::Column::Recipient)
        .into_tuple::<String>()
        .all(db)
        .await
        .map_err(map_err)
}

pub async fn client_of(
    db: &impl ConnectionTrait,
    recipient: &str,
) -> Result<Option<String>, StoreError> {
    recipient::Entity::find_by_id(recipient.to_owned())
        .select_only()
        .column(recipient::Column::Client)
        .into_tuple::<String>()
        .one(db)
        .await
        .map_err(map_err)
}

/// (messages, bytes) `recipient` has queued (expired ones count until purged).
async fn usage_of(db: &impl ConnectionTrait, recipient: &str) -> Result<(i64, i64), StoreError> {
    Ok(usage::Entity::find_by_id(recipient.to_owned())
        .one(db)
        .await
        .map_err(map_err)?
        .map_or((0, 0), |u| (u.messages, u.bytes)))
}

/// Queues a message within its quota; a (recipient, id) already queued is left as it is.
pub async fn enqueue(db: &impl ConnectionTrait, e: &Enqueue) -> Result<(), StoreError> {
    let m = &e.message;
    if db.get_database_backend() == DatabaseBackend::Postgres {
        // Serializes quota checks of one recipient across instances until commit.
        db.execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 7))",
            [m.recipient.clone().into()],
        ))
        .await
        .map_err(map_err)?;
    }
    let (count, bytes) = usage_of(db, &m.recipient).await?;
    let size = m.message.len() as u64;
    if count as u64 + 1 > e.quota.max_messages || bytes as u64 + size > e.quota.max_bytes {
        return Err(StoreError::QuotaExceeded(format!(
            "the queue of {} is full",
            m.recipient
        )));
    }
    let inserted = queue::Entity::insert(queue::ActiveModel {
        seq: NotSet,
        recipient: Set(m.recipient.clone()),
        id: Set(m.id.clone()),
        message: Set(m.message.clone()),
        size: Set(size as i64),
        received_at: Set(m.received_at),
        expires_at: Set(m.expires_at),
    })
    .on_conflict(
        OnConflict::columns([queue::Column::Recipient, queue::Column::Id])
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await
    .map_err(map_err)?;
    if inserted == 0 {
        // Queued already (the same message again): nothing changes.
        return Ok(());
    }
    add_usage(db, &m.recipient, 1, size as i64).await?;
    if db.get_database_backend() == DatabaseBackend::Postgres {
        // Delivered to listeners when the transaction commits (never before).
        let payload = serde_json::json!({"r": m.recipient, "m": m.id});
        db.execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [NOTIFY_CHANNEL.into(), payload.to_string().into()],
        ))
        .await
        .map_err(map_err)?;
    }
    Ok(())
}

/// One queued message by recipient and id.
pub async fn find(
    db: &impl ConnectionTrait,
    recipient: &str,
    id: &str,
) -> Result<Option<QueuedMessage>, StoreError> {
    Ok(queue::Entity::find()
        .filter(queue::Column::Recipient.eq(recipient.to_owned()))
        .filter(queue::Column::Id.eq(id.to_owned()))
        .one(db)
        .await
        .map_err(map_err)?
        .map(message))
}

pub async fn acknowledge(
    db: &impl ConnectionTrait,
    recipient: &str,
    ids: &[&str],
) -> Result<(), StoreError> {
    let ids: Vec<String> = ids.iter().map(|s| String::from(*s)).collect();
    let sizes: Vec<i64> = queue::Entity::find()
        .select_only()
        .column(queue::Column::Size)
        .filter(queue::Column::Recipient.eq(recipient.to_owned()))
        .filter(queue::Column::Id.is_in(ids.clone()))
        .into_tuple::<i64>()
        .all(db)
        .await
        .map_err(map_err)?;
    if sizes.is_empty() {
        return Ok(());
    }
    let done = queue::Entity::delete_many()
        .filter(queue::Column::Recipient.eq(recipient.to_owned()))
        .filter(queue::Column::Id.is_in(ids))
        .exec(db)
        .await
        .map_err(map_err)?;
    // The rows read are the rows deleted: the batch holds the write lock (SQLite) or the
    // recipient's advisory lock is not needed for deletes that only lower the usage.
    add_usage(
        db,
        recipient,
        -(done.rows_affected as i64),
        -sizes.iter().sum::<i64>(),
    )
    .await
}

fn message(row: queue::Model) -> QueuedMessage {
    QueuedMessage {
        recipient: row.recipient,
        id: row.id,
        message: row.message,
        received_at: row.received_at,
        expires_at: row.expires_at,
    }
}

pub async fn queued(
    db: &impl ConnectionTrait,
    recipient: &str,
    limit: u32,
    now: i64,
) -> Result<Vec<QueuedMessage>, StoreError> {
    Ok(queue::Entity::find()
        .filter(queue::Column::Recipient.eq(recipient.to_owned()))
        .filter(queue::Column::ExpiresAt.gt(now))
        .order_by_asc(queue::Column::Seq)
        .limit(u64::from(limit))
        .all(db)
        .await
        .map_err(map_err)?
        .into_iter()
        .map(message)
        .collect())
}

pub async fn status(
    db: &impl ConnectionTrait,
    recipient: &str,
    now: i64,
) -> Result<QueueStatus, StoreError> {
    let row = queue::Entity::find()
        .select_only()
        .column_as(Expr::cust("COUNT(*)"), "n")
        .column_as(
            Expr::cust("CAST(COALESCE(SUM(size), 0) AS BIGINT)"),
            "bytes",
        )
        .column_as(queue::Column::ReceivedAt.min(), "oldest")
        .column_as(queue::Column::ReceivedAt.max(), "newest")
        .filter(queue::Column::Recipient.eq(recipient.to_owned()))
        .filter(queue::Column::ExpiresAt.gt(now))
        .into_tuple::<(i64, i64, Option<i64>, Option<i64>)>()
        .one(db)
        .await
        .map_err(map_err)?;
    let (count, bytes, oldest, newest) = row.unwrap_or((0, 0, None, None));
    Ok(QueueStatus {
        count: count as u64,
        bytes: bytes as u64,
        oldest_received_at: oldest,
        newest_received_at: newest,
    })
}

pub async fn purge_expired(
    db: &impl ConnectionTrait,
    now: i64,
    limit: u32,
) -> Result<u64, StoreError> {
    let rows: Vec<(i64, String, i64)> = queue::Entity::find()
        .select_only()
        .column(queue::Column::Seq)
        .column(queue::Column::Recipient)
        .column(queue::Column::Size)
        .filter(queue::Column::ExpiresAt.lte(now))
        .order_by_asc(queue::Column::Seq)
        .limit(u64::from(limit))
        .into_tuple()
        .all(db)
        .await
        .map_err(map_err)?;
    if rows.is_empty() {
        return Ok(0);
    }
    let done = queue::Entity::delete_many()
        .filter(queue::Column::Seq.is_in(rows.iter().map(|r| r.0)))
        .exec(db)
        .await
        .map_err(map_err)?;
    let mut per_recipient: std::collections::HashMap<&str, (i64, i64)> = Default::default();
    for (_, recipient, size) in &rows {
        let e = per_recipient.entry(recipient).or_default();
        e.0 += 1;
        e.1 += size;
    }
    for (recipient, (messages, bytes)) in per_recipient {
        add_usage(db, recipient, -messages, -bytes).await?;
    }
    Ok(done.rows_affected)
}
