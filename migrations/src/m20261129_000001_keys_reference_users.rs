//! `keys.owner` (`server` / `user:<name>` text) becomes `keys.user_id`, a foreign key to
//! `users.id` (NULL for the server's own keys). The table is rebuilt (SQLite cannot add a
//! foreign key to an existing table) and every row moves to the new shape.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Keys {
    Table,
    Id,
    Owner,
    KeyType,
    PublicMultibase,
    SealedPrivate,
    Status,
    CreatedAt,
    RetiredAt,
}

#[derive(DeriveIden)]
enum KeysNew {
    Table,
    UserId,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Name,
}

/// The columns both shapes share, in order.
const SHARED: [Keys; 7] = [
    Keys::Id,
    Keys::KeyType,
    Keys::PublicMultibase,
    Keys::SealedPrivate,
    Keys::Status,
    Keys::CreatedAt,
    Keys::RetiredAt,
];

async fn count(manager: &SchemaManager<'_>, table: impl IntoTableRef) -> Result<i64, DbErr> {
    let row = manager
        .get_connection()
        .query_one(
            Query::select()
                .expr_as(Expr::col(Asterisk).count(), Alias::new("n"))
                .from(table),
        )
        .await?
        .ok_or_else(|| DbErr::Migration("COUNT returned no row".into()))?;
    row.try_get("", "n")
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// One transaction on every backend (SQLite's default is none): the table is either
    /// rebuilt whole or left as it was.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        manager
            .create_table(
                Table::create()
                    .table(KeysNew::Table)
                    .col(
                        ColumnDef::new(Keys::Id)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(KeysNew::UserId).string_len(36).null())
                    .col(ColumnDef::new(Keys::KeyType).string_len(16).not_null())
                    .col(
                        ColumnDef::new(Keys::PublicMultibase)
                            .string_len(128)
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(Keys::SealedPrivate).blob().not_null())
                    .col(ColumnDef::new(Keys::Status).string_len(16).not_null())
                    .col(ColumnDef::new(Keys::CreatedAt).big_integer().not_null())
                    .col(ColumnDef::new(Keys::RetiredAt).big_integer().null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_keys_user")
                            .from(KeysNew::Table, KeysNew::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;

        // The server's keys: user_id NULL.
        let mut columns: Vec<DynIden> = vec![Keys::Id.into_iden(), KeysNew::UserId.into_iden()];
        columns.extend(SHARED[1..].iter().map(|c| c.into_iden()));
        let mut server_keys = Query::select();
        server_keys
            .column(Keys::Id)
            .expr(Expr::val(Option::<String>::None))
            .columns(SHARED[1..].to_vec())
            .from(Keys::Table)
            .and_where(Expr::col(Keys::Owner).eq("server"));
        db.execute(
            Query::insert()
                .into_table(KeysNew::Table)
                .columns(columns.clone())
                .select_from(server_keys)
                .map_err(|e| DbErr::Migration(e.to_string()))?,
        )
        .await?;

        // Each user's keys: user_id from the `user:<name>` owner.
        let users = db
            .query_all(
                Query::select()
                    .columns([Users::Id, Users::Name])
                    .from(Users::Table),
            )
            .await?;
        for user in users {
            let id: String = user.try_get("", "id")?;
            let name: String = user.try_get("", "name")?;
            let mut user_keys = Query::select();
            user_keys
                .column(Keys::Id)
                .expr(Expr::val(id))
                .columns(SHARED[1..].to_vec())
                .from(Keys::Table)
                .and_where(Expr::col(Keys::Owner).eq(format!("user:{name}")));
            db.execute(
                Query::insert()
                    .into_table(KeysNew::Table)
                    .columns(columns.clone())
                    .select_from(user_keys)
                    .map_err(|e| DbErr::Migration(e.to_string()))?,
            )
            .await?;
        }

        let (before, after) = (
            count(manager, Keys::Table).await?,
            count(manager, KeysNew::Table).await?,
        );
        if before != after {
            return Err(DbErr::Migration(format!(
                "{} key(s) belong to neither the server nor an existing user; fix `keys.owner` and restart",
                before - after
            )));
        }
        manager
            .drop_table(Table::drop().table(Keys::Table).to_owned())
            .await?;
        manager
            .rename_table(
                Table::rename()
                    .table(KeysNew::Table, Keys::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_keys_user_created")
                    .table(Keys::Table)
                    .col(KeysNew::UserId)
                    .col(Keys::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration(
            "keys_reference_users cannot be reverted: restore a backup".into(),
        ))
    }
}
