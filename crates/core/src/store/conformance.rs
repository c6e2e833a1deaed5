//! The key-store contract as executable checks. Each backend runs all of them through
//! [`store_conformance!`](crate::store_conformance); a check panics (fails the
//! test) when the backend breaks the contract.

use super::{KeyRecord, KeyStatus, KeyStore, StoreError};
use crate::keys::KeyType;

/// A record with unique id and public key, for tests.
pub fn sample_record(owner: &str, n: i64) -> KeyRecord {
    let secret = crate::keys::SecretKey::generate(KeyType::Ed25519);
    KeyRecord {
        id: format!("k{}", hex::encode(rand::random::<[u8; 8]>())),
        owner: owner.to_owned(),
        key_type: KeyType::Ed25519,
        public_multibase: secret.public_key().to_multibase(),
        sealed_private: vec![1, 2, 3, n as u8],
        status: KeyStatus::Active,
        created_at: 1_700_000_000_000 + n,
        retired_at: None,
    }
}

pub async fn insert_then_get_round_trips(store: &impl KeyStore) {
    let rec = sample_record("server", 1);
    store.insert_key(&rec).await.unwrap();
    assert_eq!(store.get_key(&rec.id).await.unwrap(), Some(rec));
    assert_eq!(store.get_key("missing").await.unwrap(), None);
}

pub async fn duplicate_id_or_public_key_is_a_typed_error(store: &impl KeyStore) {
    let rec = sample_record("server", 1);
    store.insert_key(&rec).await.unwrap();
    let same_id = KeyRecord {
        public_multibase: sample_record("x", 0).public_multibase,
        ..rec.clone()
    };
    assert!(matches!(
        store.insert_key(&same_id).await,
        Err(StoreError::Duplicate(_))
    ));
    let same_key = KeyRecord {
        id: "another-id".into(),
        ..rec.clone()
    };
    assert!(matches!(
        store.insert_key(&same_key).await,
        Err(StoreError::Duplicate(_))
    ));
}

pub async fn list_is_per_owner_and_oldest_first(store: &impl KeyStore) {
    let b = sample_record("user:alice", 2);
    let a = sample_record("user:alice", 1);
    let other = sample_record("user:bob", 0);
    for r in [&b, &a, &other] {
        store.insert_key(r).await.unwrap();
    }
    let ids: Vec<String> = store
        .list_keys("user:alice")
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(ids, vec![a.id, b.id]);
    assert!(store.list_keys("nobody").await.unwrap().is_empty());
}

pub async fn keys_created_together_list_by_type(store: &impl KeyStore) {
    for t in [KeyType::X25519, KeyType::Ed25519, KeyType::P256] {
        let secret = crate::keys::SecretKey::generate(t);
        let record = KeyRecord {
            key_type: t,
            public_multibase: secret.public_key().to_multibase(),
            ..sample_record("user:carol", 7)
        };
        store.insert_key(&record).await.unwrap();
    }
    let types: Vec<KeyType> = store
        .list_keys("user:carol")
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.key_type)
        .collect();
    assert_eq!(types, KeyType::ALL.to_vec());
}

pub async fn rotation_retires_old_key_and_keeps_it(store: &impl KeyStore) {
    let old = sample_record("server", 1);
    store.insert_key(&old).await.unwrap();
    let new = sample_record("server", 2);
    store
        .rotate_key(&old.id, &new, 1_800_000_000_000)
        .await
        .unwrap();
    let old_now = store.get_key(&old.id).await.unwrap().unwrap();
    assert_eq!(old_now.status, KeyStatus::Retired);
    assert_eq!(old_now.retired_at, Some(1_800_000_000_000));
    assert_eq!(
        store.get_key(&new.id).await.unwrap().unwrap().status,
        KeyStatus::Active
    );
    assert_eq!(store.list_keys("server").await.unwrap().len(), 2);
}

pub async fn rotating_twice_or_missing_key_fails_without_side_effects(store: &impl KeyStore) {
    let old = sample_record("server", 1);
    store.insert_key(&old).await.unwrap();
    store
        .rotate_key(&old.id, &sample_record("server", 2), 5)
        .await
        .unwrap();
    let again = sample_record("server", 3);
    assert!(matches!(
        store.rotate_key(&old.id, &again, 6).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.get_key(&again.id).await.unwrap(),
        None,
        "failed rotation must not insert"
    );
    let orphan = sample_record("server", 4);
    assert!(matches!(
        store.rotate_key("missing", &orphan, 7).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.get_key(&orphan.id).await.unwrap(), None);
}

/// Generates one test per contract check of the store traits (today `KeyStore`; the
/// credential and message stores add their checks here). `$factory` is a closure returning a future that
/// yields a fresh, empty store. The caller's crate must depend on tokio (macros, rt).
#[macro_export]
macro_rules! store_conformance {
    ($name:ident, $factory:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $crate::store_conformance!(@check $factory, insert_then_get_round_trips);
            $crate::store_conformance!(@check $factory, duplicate_id_or_public_key_is_a_typed_error);
            $crate::store_conformance!(@check $factory, list_is_per_owner_and_oldest_first);
            $crate::store_conformance!(@check $factory, keys_created_together_list_by_type);
            $crate::store_conformance!(@check $factory, rotation_retires_old_key_and_keeps_it);
            $crate::store_conformance!(@check $factory, rotating_twice_or_missing_key_fails_without_side_effects);
        }
    };
    (@check $factory:expr, $check:ident) => {
        #[tokio::test]
        async fn $check() {
            let store = ($factory)().await;
            $crate::store::conformance::$check(&store).await;
        }
    };
}
