//! Migrations move existing data: a database written by an earlier version opens with
//! its rows in the new shape.

use sea_orm::{ConnectionTrait, Database};
use sichat_core::id::{KeyId, Owner, UserName};
use sichat_migrations::{Migrator, MigratorTrait};

/// `keys.owner` (`server` / `user:<name>`) becomes a foreign key to `users`.
#[tokio::test]
async fn key_owners_become_user_foreign_keys() {
    let dir = tempfile::tempdir().unwrap();
    let url = crate::common::fresh_database_url(dir.path()).await;
    let db = Database::connect(url.as_str()).await.unwrap();
    // The schema of 2026-11-25 (the first three migrations), with a user and keys in it.
    Migrator::up(&db, Some(3)).await.unwrap();
    let user_id = "7b0e3f3c-4a57-4f7e-9a86-0d0f7a3f1c11";
    for stmt in [
        format!("INSERT INTO users (id, name, password_hash, created_at) VALUES ('{user_id}', 'olga', NULL, 1)"),
        "INSERT INTO keys (id, owner, key_type, public_multibase, sealed_private, status, created_at, retired_at) VALUES ('kserver', 'server', 'Ed25519', 'z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp', x'00', 'active', 1, NULL)".into(),
        "INSERT INTO keys (id, owner, key_type, public_multibase, sealed_private, status, created_at, retired_at) VALUES ('kolga', 'user:olga', 'P-256', 'zDnaerx9CtbPJ1q36T5Ln5wYt3MQYeGRG5ehnPAmxcf5mDZpv', x'00', 'retired', 2, 3)".into(),
    ] {
        let stmt = if crate::common::is_postgres() {
            stmt.replace("x'00'", "'\\x00'::bytea")
        } else {
            stmt
        };
        db.execute_unprepared(&stmt).await.unwrap();
    }
    drop(db);
    let db = sichat::store::connect(&url).await.unwrap();
    let server_key = sichat::store::keys::find(&db, &KeyId::parse("kserver").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(server_key.owner, Owner::Server);
    let olga = Owner::User(UserName::parse("olga").unwrap());
    let olgas = sichat::store::keys::list(&db, &olga).await.unwrap();
    assert_eq!(olgas.len(), 1);
    assert_eq!(olgas[0].id.as_str(), "kolga");
    assert_eq!(olgas[0].retired_at, Some(3));
    // The foreign key holds: a key for a user id that does not exist is refused.
    let orphan = "INSERT INTO keys (id, user_id, key_type, public_multibase, sealed_private, status, created_at) VALUES ('kx', '00000000-0000-4000-8000-000000000000', 'Ed25519', 'z6MkpTHR8VNsBxYAAWHut2Geadd9jSwuBV8xRoAnwWsdvktH', x'00', 'active', 4)";
    let orphan = if crate::common::is_postgres() {
        orphan.replace("x'00'", "'\\x00'::bytea")
    } else {
        orphan.to_owned()
    };
    let err = db
        .execute_unprepared(&orphan)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.to_lowercase().contains("foreign key"),
        "refused by the foreign key: {err}"
    );
    // The same row for the user that exists is accepted.
    db.execute_unprepared(&orphan.replace("00000000-0000-4000-8000-000000000000", user_id))
        .await
        .unwrap();
}
