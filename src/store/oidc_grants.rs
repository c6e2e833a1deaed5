//! The `oidc_grants` and `oidc_codes` tables. A code is redeemed by one conditional
//! `UPDATE … RETURNING` that checks every binding at once (unredeemed, unexpired, client,
//! redirect URI, PKCE challenge), so that of concurrent redemptions exactly one wins and a
//! wrong verifier or redirect URI cannot burn the code; a second redemption revokes the
//! grant (RFC 6749 §4.1.2), which ends every token issued from it.

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Expr;
use sichat_core::store::StoreError;

use super::map_err;

pub mod grants {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "oidc_grants")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub client_id: String,
        /// NULL for a client acting for itself (`client_credentials`).
        pub user_id: Option<String>,
        /// Space-separated scopes granted.
        pub scope: String,
        pub nonce: Option<String>,
        /// When the user authenticated (Unix seconds).
        pub auth_time: Option<i64>,
        pub created_at: i64,
        pub revoked_at: Option<i64>,
        /// The claim names the request asked for by name (`claims` parameter), as a JSON
        /// array; NULL when it asked for none.
        pub claims: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod codes {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "oidc_codes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub code_sha256: String,
        pub grant_id: String,
        pub client_id: String,
        pub redirect_uri: String,
        /// The PKCE `S256` challenge (empty: a client allowed to skip PKCE sent none).
        pub code_challenge: String,
        pub expires_at: i64,
        pub redeemed_at: Option<i64>,
        /// The grant's fields, copied at issue (NULL in codes issued before they were).
        pub user_id: Option<String>,
        pub scope: Option<String>,
        pub nonce: Option<String>,
        pub auth_time: Option<i64>,
        pub claims: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub use codes::Model as CodeRow;
pub use grants::Model as GrantRow;

/// Inserts a grant and its code in one transaction of the caller's.
pub async fn insert_grant_with_code(
    db: &impl ConnectionTrait,
    grant: GrantRow,
    code: CodeRow,
) -> Result<(), StoreError> {
    use sea_orm::ActiveModelTrait;
    grants::Entity::insert(grants::ActiveModel::from(grant).reset_all())
        .exec_without_returning(db)
        .await
        .map_err(map_err)?;
    codes::Entity::insert(codes::ActiveModel::from(code).reset_all())
        .exec_without_returning(db)
        .await
        .map_err(map_err)?;
    Ok(())
}

pub async fn grant(db: &impl ConnectionTrait, id: &str) -> Result<Option<GrantRow>, StoreError> {
    grants::Entity::find_by_id(id.to_owned())
        .one(db)
        .await
        .map_err(map_err)
}

/// What a redemption found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redemption {
    /// This call redeemed the code: its grant (unrevoked at that moment).
    Redeemed(GrantRow),
    /// The code had been redeemed before: its grant is now revoked.
    Replayed,
    /// No such code, expired, or a binding (client, redirect URI, verifier) differs; the
    /// code is unchanged.
    Invalid,
}

/// The bindings a redemption must match.
#[derive(Debug, Clone, Copy)]
pub struct Bindings<'a> {
    pub code_sha256: &'a str,
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    /// The `S256` challenge computed from the presented verifier.
    pub challenge: &'a str,
}

/// Redeems a code at `now` (ms): one conditional `UPDATE … RETURNING` checks every binding
/// and that the grant stands, so of concurrent redemptions exactly one wins (on its own or
/// in the caller's transaction: [`super::redemptions`] batches them). A code redeemed
/// before revokes its grant.
pub async fn redeem(
    db: &impl ConnectionTrait,
    b: Bindings<'_>,
    now: i64,
) -> Result<Redemption, StoreError> {
    use codes::Column as C;
    use sea_orm::sea_query::{ExprTrait, Query};
    // Correlated: one primary-key lookup of this code's grant (an `IN (SELECT …)` would
    // collect every standing grant).
    let standing = Query::select()
        .expr(Expr::value(1))
        .from(grants::Entity)
        .and_where(
            Expr::col((grants::Entity, grants::Column::Id))
                .equals((codes::Entity, codes::Column::GrantId)),
        )
        .and_where(Expr::col((grants::Entity, grants::Column::RevokedAt)).is_null())
        .to_owned();
    let won = codes::Entity::update_many()
        .col_expr(C::RedeemedAt, Expr::value(now))
        .filter(C::CodeSha256.eq(b.code_sha256.to_owned()))
        .filter(C::RedeemedAt.is_null())
        .filter(C::ExpiresAt.gt(now))
        .filter(C::ClientId.eq(b.client_id.to_owned()))
        .filter(C::RedirectUri.eq(b.redirect_uri.to_owned()))
        .filter(C::CodeChallenge.eq(b.challenge.to_owned()))
        .filter(Expr::exists(standing))
        .exec_with_returning(db)
        .await
        .map_err(map_err)?;
    if let Some(code) = won.into_iter().next() {
        let Some(scope) = code.scope else {
            // Issued before codes carried their grant.
            return Ok(match grant(db, &code.grant_id).await? {
                Some(g) if g.revoked_at.is_none() => Redemption::Redeemed(g),
                _ => Redemption::Invalid,
            });
        };
        return Ok(Redemption::Redeemed(GrantRow {
            id: code.grant_id,
            client_id: code.client_id,
            user_id: code.user_id,
            scope,
            nonce: code.nonce,
            auth_time: code.auth_time,
            created_at: now,
            revoked_at: None,
            claims: code.claims,
        }));
    }
    let Some(code) = codes::Entity::find_by_id(b.code_sha256.to_owned())
        .one(db)
        .await
        .map_err(map_err)?
    else {
        return Ok(Redemption::Invalid);
    };
    if code.redeemed_at.is_none() {
        return Ok(Redemption::Invalid);
    }
    revoke_grant(db, &code.grant_id, now).await?;
    Ok(Redemption::Replayed)
}

/// Revokes a grant (and so everything issued from it); `false` if it already was.
pub async fn revoke_grant(
    db: &impl ConnectionTrait,
    id: &str,
    now: i64,
) -> Result<bool, StoreError> {
    use grants::Column as G;
    let result = grants::Entity::update_many()
        .col_expr(G::RevokedAt, Expr::value(now))
        .filter(G::Id.eq(id.to_owned()))
        .filter(G::RevokedAt.is_null())
        .exec(db)
        .await
        .map_err(map_err)?;
    Ok(result.rows_affected == 1)
}

/// Deletes codes and refresh tokens that expired before `before` (ms): they can no longer
/// be used, and a replay of one long expired only finds nothing. Returns how many rows.
pub async fn purge_expired(db: &impl ConnectionTrait, before: i64) -> Result<u64, StoreError> {
    let codes = codes::Entity::delete_many()
        .filter(codes::Column::ExpiresAt.lt(before))
        .exec(db)
        .await
        .map_err(map_err)?;
    let tokens = refresh::Entity::delete_many()
        .filter(refresh::Column::ExpiresAt.lt(before))
        .exec(db)
        .await
        .map_err(map_err)?;
    Ok(codes.rows_affected + tokens.rows_affected)
}

pub mod refresh {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "oidc_refresh_tokens")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub token_sha256: String,
        pub grant_id: String,
        pub expires_at: i64,
        pub used_at: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Stores a new refresh token of a grant.
pub async fn insert_refresh(
    db: &impl ConnectionTrait,
    token_sha256: &str,
    grant_id: &str,
    expires_at: i64,
) -> Result<(), StoreError> {
    use sea_orm::ActiveValue::Set;
    refresh::Entity::insert(refresh::ActiveModel {
        token_sha256: Set(token_sha256.to_owned()),
        grant_id: Set(grant_id.to_owned()),
        expires_at: Set(expires_at),
        used_at: Set(None),
    })
    .exec_without_returning(db)
    .await
    .map_err(map_err)?;
    Ok(())
}

/// What presenting a refresh token found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshUse {
    /// This call used it: the grant it continues (unrevoked, the caller's client).
    Used(GrantRow),
    /// It had been used before: the grant (the family) is now revoked.
    Reused,
    /// Unknown, expired, another client's, or its grant is revoked; nothing changed.
    Invalid,
}

/// Uses a refresh token for `client_id` at `now` (ms), atomically (inside the caller's
/// write transaction).
pub async fn use_refresh(
    db: &impl ConnectionTrait,
    token_sha256: &str,
    client_id: &str,
    now: i64,
) -> Result<RefreshUse, StoreError> {
    use refresh::Column as R;
    let Some(row) = refresh::Entity::find_by_id(token_sha256.to_owned())
        .one(db)
        .await
        .map_err(map_err)?
    else {
        return Ok(RefreshUse::Invalid);
    };
    let Some(family) = grant(db, &row.grant_id).await? else {
        return Ok(RefreshUse::Invalid);
    };
    if family.client_id != client_id || family.revoked_at.is_some() {
        return Ok(RefreshUse::Invalid);
    }
    let won = refresh::Entity::update_many()
        .col_expr(R::UsedAt, Expr::value(now))
        .filter(R::TokenSha256.eq(token_sha256.to_owned()))
        .filter(R::UsedAt.is_null())
        .filter(R::ExpiresAt.gt(now))
        .exec(db)
        .await
        .map_err(map_err)?;
    if won.rows_affected == 1 {
        return Ok(RefreshUse::Used(family));
    }
    if row.used_at.is_some()
        || refresh::Entity::find_by_id(token_sha256.to_owned())
            .one(db)
            .await
            .map_err(map_err)?
            .is_some_and(|r| r.used_at.is_some())
    {
        revoke_grant(db, &family.id, now).await?;
        return Ok(RefreshUse::Reused);
    }
    Ok(RefreshUse::Invalid)
}
