//! The `issued_credentials` table.

use sea_orm::ActiveValue::Set;
use sea_orm::entity::prelude::*;
use sichat_core::id::{Owner, UserName};
use sichat_core::store::{IssuedCredentialRecord, StoreError};

use super::{map_err, status, users};

pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "issued_credentials")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub issuer: String,
        pub user_id: Option<String>,
        pub subject: Option<String>,
        /// JSON array of strings.
        pub types: String,
        pub format: String,
        pub issued_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{ActiveModel, Entity};

/// Inserts the records of issued credentials and their status entries: the owners' rows
/// read once per user, the records in one statement, the entries in one more
/// ([`status::assign_many`]). Any error fails them all (a caller committing several
/// requests' records together applies them one by one after a failure, to tell whose it
/// was).
pub async fn insert_many(
    db: &impl ConnectionTrait,
    records: &[&IssuedCredentialRecord],
) -> Result<(), StoreError> {
    let mut user_ids: std::collections::HashMap<&UserName, String> = Default::default();
    for record in records {
        if let Owner::User(name) = &record.owner
            && !user_ids.contains_key(name)
        {
            let id = users::id_of(db, name)
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("user `{name}`")))?;
            user_ids.insert(name, id);
        }
    }
    let rows: Vec<ActiveModel> = records
        .iter()
        .map(|record| ActiveModel {
            id: Set(record.id.clone()),
            issuer: Set(record.issuer.clone()),
            user_id: Set(match &record.owner {
                Owner::Server => None,
                Owner::User(name) => user_ids.get(name).cloned(),
            }),
            subject: Set(record.subject.clone()),
            types: Set(serde_json::to_string(&record.types).expect("strings serialize")),
            format: Set(record.format.clone()),
            issued_at: Set(record.issued_at),
        })
        .collect();
    // 7 parameters a row: far below either database's limit per statement.
    for chunk in rows.chunks(1_000) {
        Entity::insert_many(chunk.to_vec())
            .exec_without_returning(db)
            .await
            .map_err(|e| match map_err(e) {
                StoreError::Duplicate(_) => StoreError::Duplicate(format!(
                    "credential {}",
                    records
                        .iter()
                        .map(|r| format!("`{}`", r.id))
                        .collect::<Vec<_>>()
                        .join(" or ")
                )),
                other => other,
            })?;
    }
    let assignments: Vec<status::Assignment<'_>> = records
        .iter()
        .map(|r| status::Assignment {
            credential: &r.id,
            issuer: &r.issuer,
            statuses: &r.statuses,
            now: r.issued_at,
        })
        .collect();
    status::assign_many(db, &assignments).await
}

pub async fn find(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<IssuedCredentialRecord>, StoreError> {
    let Some(row) = Entity::find_by_id(id.to_owned())
        .one(db)
        .await
        .map_err(map_err)?
    else {
        return Ok(None);
    };
    let owner = match &row.user_id {
        None => Owner::Server,
        Some(user_id) => {
            let name: UserName = users::name_of(db, user_id).await?.ok_or_else(|| {
                StoreError::Backend(format!("issued credential of a missing user {user_id}"))
            })?;
            Owner::User(name)
        }
    };
    let types = serde_json::from_str(&row.types)
        .map_err(|e| StoreError::Backend(format!("corrupt issued credential row: {e}")))?;
    let statuses = status::of_credential(db, &row.id)
        .await?
        .into_iter()
        .map(|s| s.assignment)
        .collect();
    Ok(Some(IssuedCredentialRecord {
        id: row.id,
        issuer: row.issuer,
        owner,
        subject: row.subject,
        types,
        format: row.format,
        issued_at: row.issued_at,
        statuses,
    }))
}
