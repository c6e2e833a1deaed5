//! The `keys` table and the sea-orm implementation of the core `KeyStore` contract.

use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue::Set, DatabaseConnection, QueryOrder, sea_query::Expr};
use sichat_core::keys::KeyType;
use sichat_core::store::{KeyRecord, KeyStatus, KeyStore, StoreError};

use super::map_err;

pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "keys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub owner: String,
        pub key_type: String,
        pub public_multibase: String,
        pub sealed_private: Vec<u8>,
        pub status: String,
        pub created_at: i64,
        pub retired_at: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{ActiveModel, Column, Entity, Model};

fn to_record(m: Model) -> Result<KeyRecord, StoreError> {
    Ok(KeyRecord {
        key_type: m
            .key_type
            .parse::<KeyType>()
            .map_err(|e| StoreError::Backend(e.to_string()))?,
        status: KeyStatus::parse(&m.status)
            .ok_or_else(|| StoreError::Backend(format!("unknown key status `{}`", m.status)))?,
        id: m.id,
        owner: m.owner,
        public_multibase: m.public_multibase,
        sealed_private: m.sealed_private,
        created_at: m.created_at,
        retired_at: m.retired_at,
    })
}

pub async fn insert(db: &impl ConnectionTrait, r: &KeyRecord) -> Result<(), StoreError> {
    let row = ActiveModel {
        id: Set(r.id.clone()),
        owner: Set(r.owner.clone()),
        key_type: Set(r.key_type.as_str().to_owned()),
        public_multibase: Set(r.public_multibase.clone()),
        sealed_private: Set(r.sealed_private.clone()),
        status: Set(r.status.as_str().to_owned()),
        created_at: Set(r.created_at),
        retired_at: Set(r.retired_at),
    };
    Entity::insert(row)
        .exec_without_returning(db)
        .await
        .map_err(map_err)?;
    Ok(())
}

pub async fn find(db: &impl ConnectionTrait, id: &str) -> Result<Option<KeyRecord>, StoreError> {
    Entity::find_by_id(id.to_owned())
        .one(db)
        .await
        .map_err(map_err)?
        .map(to_record)
        .transpose()
}

pub async fn list(db: &impl ConnectionTrait, owner: &str) -> Result<Vec<KeyRecord>, StoreError> {
    list_where(db, Some(owner)).await
}

/// Every key of every owner, oldest first.
pub async fn list_all(db: &impl ConnectionTrait) -> Result<Vec<KeyRecord>, StoreError> {
    list_where(db, None).await
}

async fn list_where(
    db: &impl ConnectionTrait,
    owner: Option<&str>,
) -> Result<Vec<KeyRecord>, StoreError> {
    let mut query = Entity::find();
    if let Some(owner) = owner {
        query = query.filter(Column::Owner.eq(owner));
    }
    query
        .order_by_asc(Column::CreatedAt)
        // Keys created together (a new user's) list Ed25519, P-256, X25519.
        .order_by_asc(Column::KeyType)
        .order_by_asc(Column::Id)
        .all(db)
        .await
        .map_err(map_err)?
        .into_iter()
        .map(to_record)
        .collect()
}

/// Retires `old_id` if it is active; returns whether a row changed.
pub async fn retire(db: &impl ConnectionTrait, old_id: &str, at: i64) -> Result<bool, StoreError> {
    let res = Entity::update_many()
        .col_expr(Column::Status, Expr::value(KeyStatus::Retired.as_str()))
        .col_expr(Column::RetiredAt, Expr::value(at))
        .filter(Column::Id.eq(old_id))
        .filter(Column::Status.eq(KeyStatus::Active.as_str()))
        .exec(db)
        .await
        .map_err(map_err)?;
    Ok(res.rows_affected == 1)
}

/// The server's [`KeyStore`]: each call is one statement or one write transaction.
#[derive(Clone)]
pub struct SeaKeyStore {
    db: DatabaseConnection,
}

impl SeaKeyStore {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[async_trait::async_trait]
impl KeyStore for SeaKeyStore {
    async fn insert_key(&self, record: &KeyRecord) -> Result<(), StoreError> {
        insert(&self.db, record).await
    }

    async fn get_key(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        find(&self.db, id).await
    }

    async fn list_keys(&self, owner: &str) -> Result<Vec<KeyRecord>, StoreError> {
        list(&self.db, owner).await
    }

    async fn rotate_key(
        &self,
        old_id: &str,
        new: &KeyRecord,
        retired_at: i64,
    ) -> Result<(), StoreError> {
        let txn = super::begin_write(&self.db).await.map_err(map_err)?;
        if !retire(&txn, old_id, retired_at).await? {
            let exists = find(&txn, old_id).await?.is_some();
            txn.rollback().await.map_err(map_err)?;
            return Err(if exists {
                StoreError::Conflict(format!("key {old_id} is already retired"))
            } else {
                StoreError::NotFound(format!("key {old_id}"))
            });
        }
        insert(&txn, new).await?;
        txn.commit().await.map_err(map_err)
    }
}
