//! The DIDComm mediator's tables: `didcomm_mediations`, `didcomm_recipients` and the
//! message queue `didcomm_queue` (FIFO by `seq`).

use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use std::collections::{HashMap, HashSet};

use sea_orm::sea_query::Query;
use sea_orm::{DatabaseBackend, QueryOrder, QuerySelect, QueryTrait, Statement};
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

/// Queues the messages of several batches with a few statements whatever their number
/// (the group commit of forwards): each batch whole, every message within its recipient's
/// quota counted with the batches before it, or not at all (its entry is
/// [`StoreError::QuotaExceeded`]). A (recipient, id) queued already, or earlier in these
/// batches, is left as it is. `Err`: the statements failed, and nothing can be said of any
/// batch (the caller rolls the transaction back).
pub async fn enqueue_many(
    db: &impl ConnectionTrait,
    batches: &[&[Enqueue]],
) -> Result<Vec<Result<(), StoreError>>, StoreError> {
    let mut recipients: Vec<&str> = batches
        .iter()
        .flat_map(|b| b.iter().map(|e| e.message.recipient.as_str()))
        .collect();
    recipients.sort_unstable();
    recipients.dedup();
    if recipients.is_empty() {
        return Ok(batches.iter().map(|_| Ok(())).collect());
    }
    let postgres = db.get_database_backend() == DatabaseBackend::Postgres;
    if postgres {
        // Serializes quota checks of these recipients across instances until commit,
        // taking the locks in one order so that two writers never wait on each other.
        db.execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT hashtextextended(r, 7) AS h \
             FROM json_array_elements_text($1::json) AS r ORDER BY h) AS l",
            [serde_json::to_string(&recipients)
                .unwrap_or_default()
                .into()],
        ))
        .await
        .map_err(map_err)?;
    }
    // (messages, bytes) each recipient has queued (expired ones count until purged).
    let mut usage_now: HashMap<String, (i64, i64)> = HashMap::new();
    for chunk in recipients.chunks(CHUNK) {
        let rows = usage::Entity::find()
            .filter(usage::Column::Recipient.is_in(chunk.iter().copied()))
            .all(db)
            .await
            .map_err(map_err)?;
        usage_now.extend(
            rows.into_iter()
                .map(|u| (u.recipient, (u.messages, u.bytes))),
        );
    }
    let mut results = Vec::with_capacity(batches.len());
    let mut accepted: HashSet<(&str, &str)> = HashSet::new();
    let mut rows: Vec<&QueuedMessage> = Vec::new();
    for batch in batches {
        let mut after: HashMap<&str, (i64, i64)> = HashMap::new();
        let mut fresh: Vec<&QueuedMessage> = Vec::new();
        let mut full = None;
        for e in batch.iter() {
            let m = &e.message;
            let key = (m.recipient.as_str(), m.id.as_str());
            if accepted.contains(&key)
                || fresh
                    .iter()
                    .any(|f| (f.recipient.as_str(), f.id.as_str()) == key)
            {
                continue;
            }
            let used = after
                .entry(m.recipient.as_str())
                .or_insert_with(|| usage_now.get(&m.recipient).copied().unwrap_or_default());
            let size = m.message.len() as i64;
            if (used.0 + 1) as u64 > e.quota.max_messages
                || (used.1 + size) as u64 > e.quota.max_bytes
            {
                full = Some(&m.recipient);
                break;
            }
            *used = (used.0 + 1, used.1 + size);
            fresh.push(m);
        }
        if let Some(recipient) = full {
            results.push(Err(StoreError::QuotaExceeded(format!(
                "the queue of {recipient} is full"
            ))));
            continue;
        }
        for (recipient, used) in after {
            usage_now.insert(recipient.to_owned(), used);
        }
        for m in fresh {
            accepted.insert((m.recipient.as_str(), m.id.as_str()));
            rows.push(m);
        }
        results.push(Ok(()));
    }
    // The rows inserted (those queued already are not), and each recipient's new usage.
    let mut added: HashMap<String, (i64, i64)> = HashMap::new();
    let mut announced = Vec::new();
    for chunk in rows.chunks(CHUNK) {
        let mut insert = queue::Entity::insert_many(chunk.iter().map(|m| queue::ActiveModel {
            seq: NotSet,
            recipient: Set(m.recipient.clone()),
            id: Set(m.id.clone()),
            message: Set(m.message.clone()),
            size: Set(m.message.len() as i64),
            received_at: Set(m.received_at),
            expires_at: Set(m.expires_at),
        }))
        .on_conflict(
            OnConflict::columns([queue::Column::Recipient, queue::Column::Id])
                .do_nothing()
                .to_owned(),
        )
        .into_query();
        insert.returning(Query::returning().columns([
            queue::Column::Recipient,
            queue::Column::Id,
            queue::Column::Size,
        ]));
        for row in db.query_all(&insert).await.map_err(map_err)? {
            let recipient: String = row.try_get("", "recipient").map_err(map_err)?;
            let id: String = row.try_get("", "id").map_err(map_err)?;
            let size: i64 = row.try_get("", "size").map_err(map_err)?;
            let slot = added.entry(recipient.clone()).or_default();
            *slot = (slot.0 + 1, slot.1 + size);
            if postgres {
                announced.push(serde_json::json!({"r": recipient, "m": id}).to_string());
            }
        }
    }
    let added: Vec<usage::ActiveModel> = added
        .into_iter()
        .map(|(recipient, (messages, bytes))| usage::ActiveModel {
            recipient: Set(recipient),
            messages: Set(messages),
            bytes: Set(bytes),
        })
        .collect();
    for chunk in added.chunks(CHUNK) {
        usage::Entity::insert_many(chunk.iter().cloned())
            .on_conflict(
                OnConflict::column(usage::Column::Recipient)
                    .value(
                        usage::Column::Messages,
                        Expr::col((usage::Entity, usage::Column::Messages))
                            .add(Expr::cust("excluded.messages")),
                    )
                    .value(
                        usage::Column::Bytes,
                        Expr::col((usage::Entity, usage::Column::Bytes))
                            .add(Expr::cust("excluded.bytes")),
                    )
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await
            .map_err(map_err)?;
    }
    if !announced.is_empty() {
        // Delivered to listeners when the transaction commits (never before).
        db.execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT pg_notify($1, p) FROM json_array_elements_text($2::json) AS p",
            [
                NOTIFY_CHANNEL.into(),
                serde_json::to_string(&announced).unwrap_or_default().into(),
            ],
        ))
        .await
        .map_err(map_err)?;
    }
    Ok(results)
}

/// Rows (or values) one statement carries at most.
const CHUNK: usize = 500;

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
