//! The `status_lists` and `credential_statuses` tables.

use sea_orm::ActiveValue::Set;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{QueryOrder, QuerySelect};
use sichat_core::id::{Owner, UserName};
use sichat_core::store::{
    CredentialStatus, StatusAssignment, StatusChange, StatusListRecord, StatusListState, StoreError,
};
use sichat_core::vc::status::StatusPurpose;

use super::{map_err, users};

pub mod lists {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "status_lists")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub issuer: String,
        pub user_id: Option<String>,
        pub purpose: String,
        pub size: i32,
        /// Hex.
        pub permutation_key: String,
        pub next_counter: i32,
        pub version: i64,
        pub created_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod entries {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "credential_statuses")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub list_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub idx: i32,
        pub credential_id: String,
        pub purpose: String,
        pub value: i16,
        pub updated_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Backend(format!("corrupt status row: {what}"))
}

fn purpose(s: &str) -> Result<StatusPurpose, StoreError> {
    StatusPurpose::parse(s).ok_or_else(|| corrupt(&format!("purpose `{s}`")))
}

async fn to_record(
    db: &impl ConnectionTrait,
    row: lists::Model,
) -> Result<StatusListRecord, StoreError> {
    let owner = match &row.user_id {
        None => Owner::Server,
        Some(user_id) => {
            let name: UserName = users::name_of(db, user_id)
                .await?
                .ok_or_else(|| corrupt("list of a missing user"))?;
            Owner::User(name)
        }
    };
    let key: [u8; 32] = hex::decode(&row.permutation_key)
        .ok()
        .and_then(|k| k.try_into().ok())
        .ok_or_else(|| corrupt("permutation key"))?;
    Ok(StatusListRecord {
        purpose: purpose(&row.purpose)?,
        id: row.id,
        issuer: row.issuer,
        owner,
        size: u32::try_from(row.size).map_err(|_| corrupt("size"))?,
        key,
        created_at: row.created_at,
    })
}

/// Reserves the next `count` counters (or what is left) of the oldest open list of
/// `fresh`'s issuer and purpose, inserting `fresh` when none is open. Runs in the caller's
/// write transaction; the conditional `UPDATE … RETURNING` hands each counter out once
/// even to another process racing on the same row (PostgreSQL re-checks the condition
/// after the row lock).
pub async fn reserve(
    db: &impl ConnectionTrait,
    fresh: &StatusListRecord,
    fresh_user_id: Option<String>,
    count: u32,
) -> Result<(StatusListRecord, std::ops::Range<u32>), StoreError> {
    for _ in 0..8 {
        let open = lists::Entity::find()
            .filter(lists::Column::Issuer.eq(fresh.issuer.clone()))
            .filter(lists::Column::Purpose.eq(fresh.purpose.as_str()))
            .filter(Expr::col(lists::Column::NextCounter).lt(Expr::col(lists::Column::Size)))
            .order_by_asc(lists::Column::CreatedAt)
            .order_by_asc(lists::Column::Id)
            .limit(1)
            .one(db)
            .await
            .map_err(map_err)?;
        let (id, left) = match open {
            Some(row) => (row.id, row.size - row.next_counter),
            None => {
                let am = lists::ActiveModel {
                    id: Set(fresh.id.clone()),
                    issuer: Set(fresh.issuer.clone()),
                    user_id: Set(fresh_user_id.clone()),
                    purpose: Set(fresh.purpose.as_str().into()),
                    size: Set(i32::try_from(fresh.size).map_err(|_| corrupt("size"))?),
                    permutation_key: Set(hex::encode(fresh.key)),
                    next_counter: Set(0),
                    version: Set(0),
                    created_at: Set(fresh.created_at),
                };
                // A concurrent caller may be inserting the same fresh list: the second
                // insert waits for the first and then does nothing.
                lists::Entity::insert(am)
                    .on_conflict(
                        OnConflict::column(lists::Column::Id)
                            .do_nothing()
                            .to_owned(),
                    )
                    .exec_without_returning(db)
                    .await
                    .map_err(map_err)?;
                (
                    fresh.id.clone(),
                    i32::try_from(fresh.size).unwrap_or(i32::MAX),
                )
            }
        };
        let take = Ord::min(
            i32::try_from(Ord::max(count, 1)).unwrap_or(i32::MAX),
            Ord::max(left, 1),
        );
        let updated = lists::Entity::update_many()
            .col_expr(
                lists::Column::NextCounter,
                Expr::col(lists::Column::NextCounter).add(take),
            )
            .filter(lists::Column::Id.eq(id.clone()))
            .filter(
                Expr::col(lists::Column::NextCounter)
                    .add(take)
                    .lte(Expr::col(lists::Column::Size)),
            )
            .exec_with_returning(db)
            .await
            .map_err(map_err)?;
        if let Some(row) = updated.into_iter().next() {
            let end = u32::try_from(row.next_counter).map_err(|_| corrupt("counter"))?;
            let start = end
                .checked_sub(take as u32)
                .ok_or_else(|| corrupt("counter"))?;
            return Ok((to_record(db, row).await?, start..end));
        }
        // Filled (or advanced) by someone else in the meantime: look again.
    }
    Err(StoreError::Conflict(
        "status lists fill faster than they can be reserved; retry".into(),
    ))
}

pub async fn find(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<StatusListRecord>, StoreError> {
    match lists::Entity::find_by_id(id.to_owned())
        .one(db)
        .await
        .map_err(map_err)?
    {
        Some(row) => Ok(Some(to_record(db, row).await?)),
        None => Ok(None),
    }
}

pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<StatusListRecord>, StoreError> {
    let rows = lists::Entity::find()
        .order_by_asc(lists::Column::CreatedAt)
        .order_by_asc(lists::Column::Id)
        .all(db)
        .await
        .map_err(map_err)?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push(to_record(db, row).await?);
    }
    Ok(out)
}

pub async fn version(db: &impl ConnectionTrait, id: &str) -> Result<Option<i64>, StoreError> {
    lists::Entity::find_by_id(id.to_owned())
        .select_only()
        .column(lists::Column::Version)
        .into_tuple()
        .one(db)
        .await
        .map_err(map_err)
}

/// The version, read before the bits (see [`StatusListState`]).
pub async fn state(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<StatusListState>, StoreError> {
    let Some(list) = lists::Entity::find_by_id(id.to_owned())
        .one(db)
        .await
        .map_err(map_err)?
    else {
        return Ok(None);
    };
    let set: Vec<i32> = entries::Entity::find()
        .select_only()
        .column(entries::Column::Idx)
        .filter(entries::Column::ListId.eq(id.to_owned()))
        .filter(entries::Column::Value.ne(0))
        .order_by_asc(entries::Column::Idx)
        .into_tuple()
        .all(db)
        .await
        .map_err(map_err)?;
    Ok(Some(StatusListState {
        version: list.version,
        set: set
            .into_iter()
            .map(|i| u32::try_from(i).map_err(|_| corrupt("index")))
            .collect::<Result<_, _>>()?,
    }))
}

/// The status entries of one issued credential.
pub struct Assignment<'a> {
    pub credential: &'a str,
    pub issuer: &'a str,
    pub statuses: &'a [StatusAssignment],
    pub now: i64,
}

/// Assigns the status entries of issued credentials (in the issuing transaction, after the
/// credentials' rows). Two statements whatever the number of credentials and entries
/// (each one a round trip to SQLite's worker thread): the lists read together, the entries
/// inserted together. Any error fails them all.
pub async fn assign_many(
    db: &impl ConnectionTrait,
    assignments: &[Assignment<'_>],
) -> Result<(), StoreError> {
    let all = || {
        assignments
            .iter()
            .flat_map(|a| a.statuses.iter().map(move |s| (a, s)))
    };
    if all().next().is_none() {
        return Ok(());
    }
    let mut ids: Vec<String> = all().map(|(_, s)| s.list.clone()).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut lists = std::collections::HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        for list in lists::Entity::find()
            .filter(lists::Column::Id.is_in(chunk.to_vec()))
            .all(db)
            .await
            .map_err(map_err)?
        {
            lists.insert(list.id.clone(), list);
        }
    }
    for (assignment, status) in all() {
        let list: &lists::Model = lists
            .get(&status.list)
            .ok_or_else(|| StoreError::NotFound(format!("status list {}", status.list)))?;
        if list.issuer != assignment.issuer || list.purpose != status.purpose.as_str() {
            return Err(StoreError::Conflict(format!(
                "status list {} is for {} by {}",
                status.list, list.purpose, list.issuer
            )));
        }
        if i64::from(status.index) >= i64::from(list.size) {
            return Err(StoreError::Conflict(format!(
                "index {} is beyond status list {}",
                status.index, status.list
            )));
        }
    }
    let rows: Vec<entries::ActiveModel> = all()
        .map(|(assignment, status)| entries::ActiveModel {
            list_id: Set(status.list.clone()),
            idx: Set(status.index as i32),
            credential_id: Set(assignment.credential.to_owned()),
            purpose: Set(status.purpose.as_str().into()),
            value: Set(0),
            updated_at: Set(assignment.now),
        })
        .collect();
    // At most 6 parameters a row: far below either database's limit per statement.
    for chunk in rows.chunks(1_000) {
        entries::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(db)
            .await
            .map_err(|e| match map_err(e) {
                StoreError::Duplicate(_) => StoreError::Duplicate(
                    all()
                        .map(|(_, s)| format!("index {} of status list {}", s.index, s.list))
                        .collect::<Vec<_>>()
                        .join(" or "),
                ),
                other => other,
            })?;
    }
    Ok(())
}

/// Applies one status change (in the caller's transaction) and moves the list's version.
pub async fn change(
    db: &impl ConnectionTrait,
    change: &StatusChange,
    now: i64,
) -> Result<(), StoreError> {
    if change.purpose == StatusPurpose::Revocation && !change.set {
        return Err(StoreError::Conflict("a revocation is permanent".into()));
    }
    let entry = entries::Entity::find()
        .filter(entries::Column::CredentialId.eq(change.credential.clone()))
        .filter(entries::Column::Purpose.eq(change.purpose.as_str()))
        .one(db)
        .await
        .map_err(map_err)?
        .ok_or_else(|| {
            StoreError::NotFound(format!(
                "{} entry of credential `{}`",
                change.purpose, change.credential
            ))
        })?;
    let mut update = entries::Entity::update_many()
        .col_expr(entries::Column::Value, Expr::value(i16::from(change.set)))
        .col_expr(entries::Column::UpdatedAt, Expr::value(now))
        .filter(entries::Column::ListId.eq(entry.list_id.clone()))
        .filter(entries::Column::Idx.eq(entry.idx));
    if change.purpose == StatusPurpose::Revocation {
        // Belt and braces: whatever reaches here, a set revocation bit stays set.
        update = update.filter(entries::Column::Value.eq(0));
    }
    update.exec(db).await.map_err(map_err)?;
    lists::Entity::update_many()
        .col_expr(
            lists::Column::Version,
            Expr::col(lists::Column::Version).add(1),
        )
        .filter(lists::Column::Id.eq(entry.list_id))
        .exec(db)
        .await
        .map_err(map_err)?;
    Ok(())
}

/// A credential's entries and their bits.
pub async fn of_credential(
    db: &impl ConnectionTrait,
    credential: &str,
) -> Result<Vec<CredentialStatus>, StoreError> {
    let rows = entries::Entity::find()
        .filter(entries::Column::CredentialId.eq(credential.to_owned()))
        .order_by_asc(entries::Column::Purpose)
        .all(db)
        .await
        .map_err(map_err)?;
    rows.into_iter()
        .map(|row| {
            Ok(CredentialStatus {
                assignment: StatusAssignment {
                    purpose: purpose(&row.purpose)?,
                    list: row.list_id,
                    index: u32::try_from(row.idx).map_err(|_| corrupt("index"))?,
                },
                set: row.value != 0,
            })
        })
        .collect()
}
