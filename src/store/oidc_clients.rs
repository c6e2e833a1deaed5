//! The `oidc_clients` table: OpenID Connect clients, secrets by SHA-256.

use sea_orm::QueryOrder;
use sea_orm::entity::prelude::*;
use sichat_core::store::StoreError;

use super::map_err;

pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "oidc_clients")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub secret_sha256: Option<String>,
        pub auth_method: String,
        pub public: bool,
        pub require_pkce: bool,
        /// JSON array of strings.
        pub redirect_uris: String,
        /// JSON array of strings.
        pub post_logout_redirect_uris: String,
        /// JSON array of strings.
        pub grant_types: String,
        /// Space-separated scope tokens.
        pub scope: String,
        pub id_token_alg: String,
        /// A JWK set (JSON), for `private_key_jwt`.
        pub jwks: Option<String>,
        /// JSON array of DIDs.
        pub issuer_dids: String,
        pub name: Option<String>,
        /// `admin` (CLI or admin API) or `dynamic` (RFC 7591 registration).
        pub origin: String,
        pub created_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub use entity::Model as ClientRow;
use entity::{ActiveModel, Column, Entity};

/// Inserts a client; a taken id is `StoreError::Duplicate`.
pub async fn insert(db: &impl ConnectionTrait, row: ClientRow) -> Result<(), StoreError> {
    Entity::insert(ActiveModel::from(row).reset_all())
        .exec_without_returning(db)
        .await
        .map_err(map_err)?;
    Ok(())
}

pub async fn get(db: &impl ConnectionTrait, id: &str) -> Result<Option<ClientRow>, StoreError> {
    Entity::find_by_id(id.to_owned())
        .one(db)
        .await
        .map_err(map_err)
}

/// Every client, oldest first.
pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<ClientRow>, StoreError> {
    Entity::find()
        .order_by_asc(Column::CreatedAt)
        .order_by_asc(Column::Id)
        .all(db)
        .await
        .map_err(map_err)
}

/// How many clients registered themselves (`origin = 'dynamic'`).
pub async fn count_dynamic(db: &impl ConnectionTrait) -> Result<u64, StoreError> {
    use sea_orm::PaginatorTrait;
    Entity::find()
        .filter(Column::Origin.eq("dynamic"))
        .count(db)
        .await
        .map_err(map_err)
}

/// Removes a client; `false` when there was none.
pub async fn remove(db: &impl ConnectionTrait, id: &str) -> Result<bool, StoreError> {
    let result = Entity::delete_by_id(id.to_owned())
        .exec(db)
        .await
        .map_err(map_err)?;
    Ok(result.rows_affected == 1)
}

pub mod jtis {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "oidc_jtis")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub client_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub jti: String,
        pub expires_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Records a client assertion's `jti`; `false` when the client used it before (a
/// replay). Entries expired before `now` are dropped first, so a `jti` is remembered for
/// as long as its assertion could be presented.
pub async fn remember_jti(
    db: &impl ConnectionTrait,
    client_id: &str,
    jti: &str,
    expires_at: i64,
    now: i64,
) -> Result<bool, StoreError> {
    use sea_orm::ActiveValue::Set;
    jtis::Entity::delete_many()
        .filter(jtis::Column::ExpiresAt.lt(now))
        .exec(db)
        .await
        .map_err(map_err)?;
    let row = jtis::ActiveModel {
        client_id: Set(client_id.to_owned()),
        jti: Set(jti.to_owned()),
        expires_at: Set(expires_at),
    };
    match jtis::Entity::insert(row)
        .exec_without_returning(db)
        .await
        .map_err(map_err)
    {
        Ok(_) => Ok(true),
        Err(StoreError::Duplicate(_)) => Ok(false),
        Err(e) => Err(e),
    }
}
