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

/// Inserts a record; `user_id` is the owner's row id (`None` for the server).
pub async fn insert(
    db: &impl ConnectionTrait,
    record: &IssuedCredentialRecord,
    user_id: Option<String>,
) -> Result<(), StoreError> {
    let am = ActiveModel {
        id: Set(record.id.clone()),
        issuer: Set(record.issuer.clone()),
        user_id: Set(user_id),
        subject: Set(record.subject.clone()),
        types: Set(serde_json::to_string(&record.types).expect("strings serialize")),
        format: Set(record.format.clone()),
        issued_at: Set(record.issued_at),
    };
    Entity::insert(am)
        .exec_without_returning(db)
        .await
        .map_err(|e| match map_err(e) {
            StoreError::Duplicate(_) => {
                StoreError::Duplicate(format!("credential `{}`", record.id))
            }
            other => other,
        })?;
    status::assign(
        db,
        &record.id,
        &record.issuer,
        &record.statuses,
        record.issued_at,
    )
    .await
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
