//! The `oidc_claim_rules` table: which claim a held credential may back, per scope.

use sea_orm::QueryOrder;
use sea_orm::entity::prelude::*;
use sichat_core::store::StoreError;

use super::map_err;

pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "oidc_claim_rules")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub scope: String,
        pub claim: String,
        pub credential_type: String,
        /// JSON array of DIDs; NULL: this server's DIDs.
        pub issuers: Option<String>,
        /// A dotted path into the credential; NULL: the claim is `true`.
        pub from_path: Option<String>,
        pub created_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub use entity::Model as ClaimRuleRow;
use entity::{ActiveModel, Column, Entity};

/// Inserts a rule; the same scope, claim and credential type twice is a duplicate.
pub async fn insert(db: &impl ConnectionTrait, row: ClaimRuleRow) -> Result<(), StoreError> {
    use sea_orm::ActiveModelTrait;
    Entity::insert(ActiveModel::from(row).reset_all())
        .exec_without_returning(db)
        .await
        .map_err(map_err)?;
    Ok(())
}

pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<ClaimRuleRow>, StoreError> {
    Entity::find()
        .order_by_asc(Column::Scope)
        .order_by_asc(Column::Claim)
        .all(db)
        .await
        .map_err(map_err)
}

pub async fn remove(db: &impl ConnectionTrait, id: &str) -> Result<bool, StoreError> {
    let result = Entity::delete_by_id(id.to_owned())
        .exec(db)
        .await
        .map_err(map_err)?;
    Ok(result.rows_affected == 1)
}
