//! The store contract as executable checks (feature `testing`). Each backend runs all of
//! them through [`store_conformance!`](crate::store_conformance); a check panics (fails the
//! test) when the backend breaks the contract.

use super::{
    Changes, HeldCredentialRecord, IssuedCredentialRecord, KeyRecord, KeyStatus, MediationRecord,
    MessageQuota, QueuedMessage, RecipientUpdate, Rotation, StatusAssignment, StatusChange,
    StatusListRecord, Store, StoreError, UserRecord,
};
use crate::id::{KeyId, Owner, UserId, UserName};
use crate::keys::KeyType;
use crate::vc::status::StatusPurpose;

/// A user record with a fresh id.
pub fn sample_user(name: &str) -> UserRecord {
    UserRecord {
        id: UserId::generate(),
        name: UserName::parse(name).expect("sample user names are valid"),
        password_hash: None,
        created_at: 1_700_000_000_000,
        profile: Default::default(),
    }
}

/// A key record with a unique id and public key.
pub fn sample_key(owner: &Owner, n: i64) -> KeyRecord {
    sample_key_of_type(owner, n, KeyType::Ed25519)
}

fn sample_key_of_type(owner: &Owner, n: i64, key_type: KeyType) -> KeyRecord {
    let secret = crate::keys::SecretKey::generate(key_type);
    KeyRecord {
        id: KeyId::generate(),
        owner: owner.clone(),
        key_type,
        public_multibase: secret.public_key().to_multibase(),
        sealed_private: vec![1, 2, 3, n as u8],
        status: KeyStatus::Active,
        created_at: 1_700_000_000_000 + n,
        retired_at: None,
    }
}

async fn with_user(store: &impl Store, name: &str) -> Owner {
    let user = sample_user(name);
    store
        .save_changes(&Changes::new().user(user.clone()))
        .await
        .unwrap();
    Owner::User(user.name)
}

pub async fn insert_then_get_round_trips(store: &impl Store) {
    let rec = sample_key(&Owner::Server, 1);
    store.insert_key(&rec).await.unwrap();
    assert_eq!(store.get_key(&rec.id).await.unwrap(), Some(rec));
    let missing = KeyId::parse("missing").unwrap();
    assert_eq!(store.get_key(&missing).await.unwrap(), None);
}

pub async fn duplicate_id_or_public_key_is_a_typed_error(store: &impl Store) {
    let rec = sample_key(&Owner::Server, 1);
    store.insert_key(&rec).await.unwrap();
    let same_id = KeyRecord {
        public_multibase: sample_key(&Owner::Server, 0).public_multibase,
        ..rec.clone()
    };
    assert!(matches!(
        store.insert_key(&same_id).await,
        Err(StoreError::Duplicate(_))
    ));
    let same_key = KeyRecord {
        id: KeyId::generate(),
        ..rec.clone()
    };
    assert!(matches!(
        store.insert_key(&same_key).await,
        Err(StoreError::Duplicate(_))
    ));
}

pub async fn list_is_per_owner_and_oldest_first(store: &impl Store) {
    let alice = with_user(store, "alice").await;
    let bob = with_user(store, "bob").await;
    let b = sample_key(&alice, 2);
    let a = sample_key(&alice, 1);
    let other = sample_key(&bob, 0);
    for r in [&b, &a, &other] {
        store.insert_key(r).await.unwrap();
    }
    let ids: Vec<KeyId> = store
        .list_keys(&alice)
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(ids, vec![a.id, b.id]);
    assert!(store.list_keys(&Owner::Server).await.unwrap().is_empty());
    let nobody = Owner::User(UserName::parse("nobody").unwrap());
    assert!(store.list_keys(&nobody).await.unwrap().is_empty());
}

pub async fn keys_created_together_list_by_type(store: &impl Store) {
    let carol = with_user(store, "carol").await;
    let mut changes = Changes::new();
    for t in [KeyType::X25519, KeyType::Ed25519, KeyType::P256] {
        changes = changes.key(sample_key_of_type(&carol, 7, t));
    }
    store.save_changes(&changes).await.unwrap();
    let types: Vec<KeyType> = store
        .list_keys(&carol)
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.key_type)
        .collect();
    assert_eq!(types, KeyType::ALL.to_vec());
}

pub async fn rotation_retires_old_key_and_keeps_it(store: &impl Store) {
    let old = sample_key(&Owner::Server, 1);
    store.insert_key(&old).await.unwrap();
    let new = sample_key(&Owner::Server, 2);
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
    assert_eq!(store.list_keys(&Owner::Server).await.unwrap().len(), 2);
}

pub async fn rotating_twice_or_missing_key_fails_without_side_effects(store: &impl Store) {
    let old = sample_key(&Owner::Server, 1);
    store.insert_key(&old).await.unwrap();
    store
        .rotate_key(&old.id, &sample_key(&Owner::Server, 2), 5)
        .await
        .unwrap();
    let again = sample_key(&Owner::Server, 3);
    assert!(matches!(
        store.rotate_key(&old.id, &again, 6).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.get_key(&again.id).await.unwrap(),
        None,
        "failed rotation must not insert"
    );
    assert_eq!(
        store.get_key(&old.id).await.unwrap().unwrap().retired_at,
        Some(5),
        "failed rotation must not touch the retired key"
    );
    let orphan = sample_key(&Owner::Server, 4);
    let missing = KeyId::parse("missing").unwrap();
    assert!(matches!(
        store.rotate_key(&missing, &orphan, 7).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.get_key(&orphan.id).await.unwrap(), None);
}

/// A rotation whose successor cannot be stored (duplicate public key, another owner)
/// leaves the old key active.
pub async fn a_failed_rotation_leaves_the_old_key_active(store: &impl Store) {
    let taken = sample_key(&Owner::Server, 1);
    let old = sample_key(&Owner::Server, 2);
    store.insert_key(&taken).await.unwrap();
    store.insert_key(&old).await.unwrap();
    let clash = KeyRecord {
        id: KeyId::generate(),
        ..taken.clone()
    };
    assert!(matches!(
        store.rotate_key(&old.id, &clash, 9).await,
        Err(StoreError::Duplicate(_))
    ));
    let zoe = with_user(store, "zoe").await;
    let foreign = sample_key(&zoe, 3);
    assert!(matches!(
        store.rotate_key(&old.id, &foreign, 9).await,
        Err(StoreError::Conflict(_))
    ));
    let still = store.get_key(&old.id).await.unwrap().unwrap();
    assert_eq!((still.status, still.retired_at), (KeyStatus::Active, None));
    assert_eq!(store.get_key(&foreign.id).await.unwrap(), None);
}

pub async fn users_are_unique_by_name_and_listed_by_name(store: &impl Store) {
    let mut zed = sample_user("zed");
    zed.profile = super::UserProfile {
        email: Some("zed@example.org".into()),
        display_name: Some("Zed Ünïcode".into()),
    };
    let amy = sample_user("amy");
    store
        .save_changes(&Changes::new().user(zed.clone()).user(amy.clone()))
        .await
        .unwrap();
    assert_eq!(store.get_user(&zed.name).await.unwrap(), Some(zed.clone()));
    assert_eq!(
        store
            .get_user(&UserName::parse("nobody").unwrap())
            .await
            .unwrap(),
        None
    );
    let again = UserRecord {
        id: UserId::generate(),
        ..zed.clone()
    };
    assert!(matches!(
        store.save_changes(&Changes::new().user(again)).await,
        Err(StoreError::Duplicate(_))
    ));
    let names: Vec<String> = store
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.name.to_string())
        .collect();
    assert_eq!(names, ["amy", "zed"]);
}

/// A user and their keys commit together; when one write fails, none remains.
pub async fn a_batch_is_all_or_nothing(store: &impl Store) {
    let taken = sample_key(&Owner::Server, 1);
    store.insert_key(&taken).await.unwrap();
    let user = sample_user("dora");
    let owner = Owner::User(user.name.clone());
    let first = sample_key(&owner, 2);
    let clash = KeyRecord {
        id: KeyId::generate(),
        owner: owner.clone(),
        ..taken.clone()
    };
    let result = store
        .save_changes(
            &Changes::new()
                .user(user.clone())
                .key(first.clone())
                .key(clash),
        )
        .await;
    assert!(
        matches!(result, Err(StoreError::Duplicate(_))),
        "{result:?}"
    );
    assert_eq!(store.get_user(&user.name).await.unwrap(), None);
    assert_eq!(store.get_key(&first.id).await.unwrap(), None);
    // The same batch without the clash commits whole.
    store
        .save_changes(&Changes::new().user(user.clone()).key(first.clone()))
        .await
        .unwrap();
    assert_eq!(store.get_user(&user.name).await.unwrap(), Some(user));
    assert_eq!(store.list_keys(&owner).await.unwrap(), vec![first]);
}

/// A record of an issued credential with a fresh `urn:uuid:` id.
pub fn sample_issued(owner: &Owner) -> IssuedCredentialRecord {
    IssuedCredentialRecord {
        id: format!("urn:uuid:{}", uuid::Uuid::new_v4()),
        issuer: "did:web:example.org".into(),
        owner: owner.clone(),
        subject: Some("did:example:subject".into()),
        types: vec!["VerifiableCredential".into(), "ExampleCredential".into()],
        format: "eddsa-rdfc-2022".into(),
        issued_at: 1_700_000_000_123,
        statuses: vec![],
    }
}

/// A fresh status list of `size` entries for `issuer`.
pub fn sample_list(issuer: &str, purpose: StatusPurpose, size: u32) -> StatusListRecord {
    StatusListRecord {
        id: uuid::Uuid::new_v4().simple().to_string(),
        issuer: issuer.into(),
        owner: Owner::Server,
        purpose,
        size,
        key: rand::random(),
        created_at: 1_700_000_000_000,
    }
}

/// Counters are handed out once per list, in order; a full list is followed by the
/// fresh one; lists are per issuer and purpose.
pub async fn status_counters_are_reserved_once_and_full_lists_roll_over(store: &impl Store) {
    let issuer = "did:web:example.org";
    let first = sample_list(issuer, StatusPurpose::Revocation, 3);
    for expected in 0..3 {
        let fresh = sample_list(issuer, StatusPurpose::Revocation, 3);
        let (list, counters) = store
            .reserve_status(if expected == 0 { &first } else { &fresh }, 1)
            .await
            .unwrap();
        assert_eq!(
            (list.id.as_str(), counters),
            (first.id.as_str(), expected..expected + 1)
        );
    }
    let second = sample_list(issuer, StatusPurpose::Revocation, 3);
    // A block: as many as asked, or what is left.
    let (list, counters) = store.reserve_status(&second, 2).await.unwrap();
    assert_eq!((list, counters), (second.clone(), 0..2));
    let (list, counters) = store.reserve_status(&second, 5).await.unwrap();
    assert_eq!((list.id, counters), (second.id.clone(), 2..3));
    let other = sample_list(issuer, StatusPurpose::Suspension, 3);
    let (list, _) = store.reserve_status(&other, 1).await.unwrap();
    assert_eq!(list.id, other.id);
    assert_eq!(
        store.get_status_list(&first.id).await.unwrap(),
        Some(first.clone())
    );
    let ids: Vec<String> = store
        .list_status_lists()
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.id)
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(ids.contains(&first.id) && ids.contains(&second.id) && ids.contains(&other.id));
    let third = sample_list(issuer, StatusPurpose::Revocation, 3);
    let (list, counters) = store.reserve_status(&third, 1).await.unwrap();
    assert_eq!(
        (list.id, counters),
        (third.id, 0..1),
        "both earlier lists are full"
    );

    // Concurrent reservations never share a counter.
    let big = sample_list("did:web:big.example", StatusPurpose::Revocation, 1000);
    let reservations =
        futures_util::future::join_all((0..64).map(|_| store.reserve_status(&big, 3))).await;
    let mut counters: Vec<u32> = reservations
        .into_iter()
        .flat_map(|r| {
            let (list, c) = r.unwrap();
            assert_eq!(list.issuer, "did:web:big.example");
            assert_eq!(c.len(), 3);
            c
        })
        .collect();
    counters.sort_unstable();
    counters.dedup();
    assert_eq!(counters.len(), 64 * 3);
}

/// Entries are assigned with their credential, once per (list, index); bits change only
/// through status changes, and a revocation is never cleared.
pub async fn status_entries_are_assigned_once_and_revocation_is_permanent(store: &impl Store) {
    let issuer = "did:web:example.org";
    let revocation = sample_list(issuer, StatusPurpose::Revocation, 16);
    let suspension = sample_list(issuer, StatusPurpose::Suspension, 16);
    store.reserve_status(&revocation, 1).await.unwrap();
    store.reserve_status(&suspension, 1).await.unwrap();
    let mut credential = sample_issued(&Owner::Server);
    credential.statuses = vec![
        StatusAssignment {
            list: revocation.id.clone(),
            index: 5,
            purpose: StatusPurpose::Revocation,
        },
        StatusAssignment {
            list: suspension.id.clone(),
            index: 7,
            purpose: StatusPurpose::Suspension,
        },
    ];
    store
        .save_changes(&Changes::new().issued(credential.clone()))
        .await
        .unwrap();
    assert_eq!(
        store.get_issued(&credential.id).await.unwrap(),
        Some(credential.clone())
    );
    let statuses = store.credential_status(&credential.id).await.unwrap();
    assert_eq!(statuses.len(), 2);
    assert!(statuses.iter().all(|s| !s.set));

    // The same index again: refused, and nothing of the batch is kept.
    let mut clash = sample_issued(&Owner::Server);
    clash.statuses = vec![credential.statuses[0].clone()];
    let result = store
        .save_changes(&Changes::new().issued(clash.clone()))
        .await;
    assert!(
        matches!(result, Err(StoreError::Duplicate(_))),
        "{result:?}"
    );
    assert_eq!(store.get_issued(&clash.id).await.unwrap(), None);
    // An entry on a list of another issuer or purpose, or beyond the list: refused.
    for (list, index, purpose) in [
        (&suspension.id, 1, StatusPurpose::Revocation),
        (&revocation.id, 16, StatusPurpose::Revocation),
    ] {
        let mut wrong = sample_issued(&Owner::Server);
        wrong.statuses = vec![StatusAssignment {
            list: list.clone(),
            index,
            purpose,
        }];
        let result = store.save_changes(&Changes::new().issued(wrong)).await;
        assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
    }

    let before = store
        .status_list_state(&revocation.id)
        .await
        .unwrap()
        .unwrap();
    assert!(before.set.is_empty());
    let change = |purpose, set| StatusChange {
        credential: credential.id.clone(),
        purpose,
        set,
        at: 1_700_000_000_999,
    };
    store
        .save_changes(&Changes::new().status(change(StatusPurpose::Revocation, true)))
        .await
        .unwrap();
    let after = store
        .status_list_state(&revocation.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.set, vec![5]);
    assert!(after.version > before.version);
    assert_eq!(
        store.status_list_version(&revocation.id).await.unwrap(),
        Some(after.version)
    );
    // Clearing a revocation is refused, even inside a batch with a valid change.
    let result = store
        .save_changes(
            &Changes::new()
                .status(change(StatusPurpose::Suspension, true))
                .status(change(StatusPurpose::Revocation, false)),
        )
        .await;
    assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
    assert_eq!(
        store
            .status_list_state(&revocation.id)
            .await
            .unwrap()
            .unwrap()
            .set,
        vec![5]
    );
    assert!(
        store
            .status_list_state(&suspension.id)
            .await
            .unwrap()
            .unwrap()
            .set
            .is_empty()
    );
    // Suspension goes both ways.
    store
        .save_changes(&Changes::new().status(change(StatusPurpose::Suspension, true)))
        .await
        .unwrap();
    assert_eq!(
        store
            .status_list_state(&suspension.id)
            .await
            .unwrap()
            .unwrap()
            .set,
        vec![7]
    );
    store
        .save_changes(&Changes::new().status(change(StatusPurpose::Suspension, false)))
        .await
        .unwrap();
    assert!(
        store
            .status_list_state(&suspension.id)
            .await
            .unwrap()
            .unwrap()
            .set
            .is_empty()
    );
    let statuses = store.credential_status(&credential.id).await.unwrap();
    assert!(
        statuses
            .iter()
            .any(|s| s.assignment.purpose == StatusPurpose::Revocation && s.set)
    );
    // No such credential, or no entry for the purpose.
    let result = store
        .save_changes(&Changes::new().status(StatusChange {
            credential: "urn:uuid:missing".into(),
            purpose: StatusPurpose::Revocation,
            set: true,
            at: 1_700_000_000_999,
        }))
        .await;
    assert!(matches!(result, Err(StoreError::NotFound(_))), "{result:?}");
    assert_eq!(store.status_list_state("missing").await.unwrap(), None);
}

/// Issued credentials round-trip, an id is issued once, and a failed batch records none.
pub async fn issued_credentials_are_recorded_once(store: &impl Store) {
    let owner = with_user(store, "erin").await;
    let first = sample_issued(&Owner::Server);
    let second = sample_issued(&owner);
    store
        .save_changes(&Changes::new().issued(first.clone()).issued(second.clone()))
        .await
        .unwrap();
    assert_eq!(
        store.get_issued(&first.id).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(store.get_issued(&second.id).await.unwrap(), Some(second));
    assert_eq!(store.get_issued("urn:uuid:missing").await.unwrap(), None);

    let third = sample_issued(&Owner::Server);
    let result = store
        .save_changes(&Changes::new().issued(third.clone()).issued(first.clone()))
        .await;
    assert!(
        matches!(result, Err(StoreError::Duplicate(_))),
        "{result:?}"
    );
    assert_eq!(store.get_issued(&third.id).await.unwrap(), None);

    let ghost = Owner::User(UserName::parse("ghost").unwrap());
    let result = store
        .save_changes(&Changes::new().issued(sample_issued(&ghost)))
        .await;
    assert!(matches!(result, Err(StoreError::NotFound(_))), "{result:?}");
}

/// A held credential for `holder`.
pub fn sample_held(holder: &UserName, id: &str, at: i64) -> HeldCredentialRecord {
    HeldCredentialRecord {
        holder: holder.clone(),
        id: id.into(),
        document: format!(r#"{{"id":"{id}"}}"#),
        format: "eddsa-rdfc-2022".into(),
        issuer: "did:web:issuer.example".into(),
        types: vec!["VerifiableCredential".into()],
        received_at: at,
    }
}

/// Each holder sees only their credentials; an id is kept once per holder (two holders
/// may keep the same one); forgetting what is not kept fails; a failed batch keeps nothing.
pub async fn held_credentials_are_per_holder(store: &impl Store) {
    let Owner::User(alice) = with_user(store, "alice").await else {
        unreachable!()
    };
    let Owner::User(bob) = with_user(store, "bob").await else {
        unreachable!()
    };
    let a1 = sample_held(&alice, "urn:uuid:a1", 2);
    let a2 = sample_held(&alice, "urn:uuid:a2", 1);
    let b1 = sample_held(&bob, "urn:uuid:a1", 3);
    store
        .save_changes(
            &Changes::new()
                .hold(a1.clone())
                .hold(a2.clone())
                .hold(b1.clone()),
        )
        .await
        .unwrap();
    assert_eq!(
        store.list_held(&alice).await.unwrap(),
        vec![a2.clone(), a1.clone()]
    );
    assert_eq!(store.list_held(&bob).await.unwrap(), vec![b1.clone()]);
    assert_eq!(store.count_held(&alice).await.unwrap(), 2);
    assert_eq!(store.get_held(&bob, "urn:uuid:a2").await.unwrap(), None);
    assert_eq!(
        store.get_held(&alice, "urn:uuid:a2").await.unwrap(),
        Some(a2.clone())
    );

    let a3 = sample_held(&alice, "urn:uuid:a3", 4);
    let result = store
        .save_changes(&Changes::new().hold(a3.clone()).hold(a1.clone()))
        .await;
    assert!(
        matches!(result, Err(StoreError::Duplicate(_))),
        "{result:?}"
    );
    assert_eq!(store.get_held(&alice, &a3.id).await.unwrap(), None);

    store
        .save_changes(&Changes::new().forget(alice.clone(), a1.id.clone()))
        .await
        .unwrap();
    assert_eq!(store.list_held(&alice).await.unwrap(), vec![a2]);
    assert_eq!(
        store.list_held(&bob).await.unwrap(),
        vec![b1],
        "bob's copy stays"
    );
    let result = store
        .save_changes(&Changes::new().forget(alice.clone(), a1.id.clone()))
        .await;
    assert!(matches!(result, Err(StoreError::NotFound(_))), "{result:?}");
    let ghost = UserName::parse("ghost").unwrap();
    let result = store
        .save_changes(&Changes::new().hold(sample_held(&ghost, "urn:uuid:g", 1)))
        .await;
    assert!(matches!(result, Err(StoreError::NotFound(_))), "{result:?}");
}

/// A user's key needs the user: the contract holds whatever the backend's schema is.
pub async fn keys_of_an_unknown_user_are_refused(store: &impl Store) {
    let ghost = Owner::User(UserName::parse("ghost").unwrap());
    let key = sample_key(&ghost, 1);
    assert!(matches!(
        store.insert_key(&key).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.get_key(&key.id).await.unwrap(), None);
}

/// Two rotations of one key at the same time: exactly one wins, the other is a conflict,
/// and the key has exactly one successor.
pub async fn concurrent_rotations_of_one_key_exactly_one_wins(store: &impl Store) {
    let old = sample_key(&Owner::Server, 1);
    store.insert_key(&old).await.unwrap();
    let (a, b) = (sample_key(&Owner::Server, 2), sample_key(&Owner::Server, 3));
    let rotate = |new: KeyRecord| {
        let retire = old.id.clone();
        async move {
            store
                .save_changes(&Changes::new().rotation(Rotation {
                    retire,
                    at: 9,
                    successor: new,
                }))
                .await
        }
    };
    let (ra, rb) = futures_join(rotate(a.clone()), rotate(b.clone())).await;
    let wins = [&ra, &rb].iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1, "{ra:?} {rb:?}");
    assert!(
        [&ra, &rb]
            .iter()
            .any(|r| matches!(r, Err(StoreError::Conflict(_)))),
        "{ra:?} {rb:?}"
    );
    let keys = store.list_keys(&Owner::Server).await.unwrap();
    assert_eq!(keys.len(), 2, "one successor only");
    assert_eq!(
        keys.iter()
            .filter(|k| k.status == KeyStatus::Active)
            .count(),
        1
    );
}

/// Polls two futures concurrently (core has no async runtime of its own).
async fn futures_join<A: std::future::Future, B: std::future::Future>(
    a: A,
    b: B,
) -> (A::Output, B::Output) {
    use std::pin::pin;
    use std::task::Poll;
    let (mut a, mut b) = (pin!(a), pin!(b));
    let (mut ra, mut rb) = (None, None);
    std::future::poll_fn(|cx| {
        if ra.is_none()
            && let Poll::Ready(v) = a.as_mut().poll(cx)
        {
            ra = Some(v);
        }
        if rb.is_none()
            && let Poll::Ready(v) = b.as_mut().poll(cx)
        {
            rb = Some(v);
        }
        if ra.is_some() && rb.is_some() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    (
        ra.expect("polled to completion"),
        rb.expect("polled to completion"),
    )
}

fn mediated(client: &str) -> Changes {
    Changes::new().mediation(MediationRecord {
        client: client.into(),
        granted_at: 1,
    })
}

fn recipient(client: &str, recipient: &str, add: bool) -> Changes {
    Changes::new().recipient_update(RecipientUpdate {
        client: client.into(),
        recipient: recipient.into(),
        add,
        at: 2,
    })
}

pub fn sample_queued(recipient: &str, id: &str, at: i64) -> QueuedMessage {
    QueuedMessage {
        recipient: recipient.into(),
        id: id.into(),
        message: format!("{{\"ciphertext\":\"{id}\"}}"),
        received_at: at,
        expires_at: at + 1_000,
    }
}

const ROOMY: MessageQuota = MessageQuota {
    max_messages: 1_000,
    max_bytes: 1 << 20,
};

/// Mediations and recipient lists: a grant is idempotent, a recipient belongs to one
/// client, adds and removes are idempotent, and a list needs its mediation.
pub async fn mediations_and_recipient_lists(store: &impl Store) {
    let (a, b) = ("did:example:a", "did:example:b");
    assert_eq!(store.get_mediation(a).await.unwrap(), None);
    assert!(matches!(
        store
            .save_changes(&recipient(a, "did:example:r1", true))
            .await,
        Err(StoreError::NotFound(_))
    ));
    store.save_changes(&mediated(a)).await.unwrap();
    store.save_changes(&mediated(a)).await.unwrap();
    store.save_changes(&mediated(b)).await.unwrap();
    assert_eq!(store.get_mediation(a).await.unwrap().unwrap().client, a);
    for r in ["did:example:r2", "did:example:r1", "did:example:r2"] {
        store.save_changes(&recipient(a, r, true)).await.unwrap();
    }
    assert_eq!(
        store.recipients_of(a).await.unwrap(),
        ["did:example:r1", "did:example:r2"],
        "added at the same time: by DID"
    );
    assert!(matches!(
        store
            .save_changes(&recipient(b, "did:example:r1", true))
            .await,
        Err(StoreError::Conflict(_))
    ));
    // Another client's remove is a no-op.
    store
        .save_changes(&recipient(b, "did:example:r1", false))
        .await
        .unwrap();
    assert_eq!(
        store.client_of("did:example:r1").await.unwrap().as_deref(),
        Some(a)
    );
    store
        .save_changes(&recipient(a, "did:example:r1", false))
        .await
        .unwrap();
    store
        .save_changes(&recipient(a, "did:example:r1", false))
        .await
        .unwrap();
    assert_eq!(store.client_of("did:example:r1").await.unwrap(), None);
    assert_eq!(store.recipients_of(a).await.unwrap(), ["did:example:r2"]);
    assert!(store.recipients_of(b).await.unwrap().is_empty());
}

/// The queue: FIFO per recipient, a repeated (recipient, id) stored once, deleted only by
/// acknowledgement (repeatable) or expiry, quota by count and bytes checked per batch.
pub async fn the_message_queue_is_fifo_acknowledged_and_bounded(store: &impl Store) {
    let (r, other) = ("did:example:r", "did:example:other");
    let mut batch = Changes::new();
    for (n, id) in ["m3", "m1", "m2"].iter().enumerate() {
        batch = batch.enqueue(sample_queued(r, id, 100 + n as i64), ROOMY);
    }
    batch = batch.enqueue(sample_queued(other, "m1", 100), ROOMY);
    store.save_changes(&batch).await.unwrap();
    // The same message again: no second copy.
    store
        .save_changes(&Changes::new().enqueue(sample_queued(r, "m1", 200), ROOMY))
        .await
        .unwrap();
    let ids = |v: Vec<QueuedMessage>| v.into_iter().map(|m| m.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.queued(r, 10, 150).await.unwrap()),
        ["m3", "m1", "m2"]
    );
    assert_eq!(ids(store.queued(r, 2, 150).await.unwrap()), ["m3", "m1"]);
    let status = store.queue_status(r, 150).await.unwrap();
    assert_eq!(status.count, 3);
    assert_eq!(
        status.bytes,
        3 * sample_queued(r, "m1", 0).message.len() as u64
    );
    assert_eq!(
        (status.oldest_received_at, status.newest_received_at),
        (Some(100), Some(102))
    );
    // Acknowledged: gone; again: fine; another recipient's id: untouched.
    let ack = Changes::new().acknowledge(r.into(), "m1".into());
    store.save_changes(&ack).await.unwrap();
    store.save_changes(&ack).await.unwrap();
    assert_eq!(ids(store.queued(r, 10, 150).await.unwrap()), ["m3", "m2"]);
    assert_eq!(ids(store.queued(other, 10, 150).await.unwrap()), ["m1"]);
    // Quota: count, then bytes; a failing batch leaves nothing behind.
    let two = MessageQuota {
        max_messages: 2,
        max_bytes: 1 << 20,
    };
    let err = store
        .save_changes(
            &Changes::new()
                .acknowledge(other.into(), "m1".into())
                .enqueue(sample_queued(r, "m4", 150), two),
        )
        .await;
    assert!(matches!(err, Err(StoreError::QuotaExceeded(_))), "{err:?}");
    assert_eq!(ids(store.queued(other, 10, 150).await.unwrap()), ["m1"]);
    let small = MessageQuota {
        max_messages: 100,
        max_bytes: 50,
    };
    assert!(matches!(
        store
            .save_changes(&Changes::new().enqueue(sample_queued(r, "m4", 150), small))
            .await,
        Err(StoreError::QuotaExceeded(_))
    ));
    // Expired messages are neither delivered nor shown in the status; they count toward
    // the quota until purged.
    assert!(store.queued(r, 10, 1_103).await.unwrap().is_empty());
    assert_eq!(store.queue_status(r, 1_200).await.unwrap().count, 0);
    assert!(matches!(
        store
            .save_changes(&Changes::new().enqueue(sample_queued(r, "m5", 1_150), two))
            .await,
        Err(StoreError::QuotaExceeded(_))
    ));
    assert_eq!(store.purge_expired(1_200, 1).await.unwrap(), 1);
    assert_eq!(store.purge_expired(1_200, 100).await.unwrap(), 2);
    assert_eq!(store.purge_expired(1_200, 100).await.unwrap(), 0);
    store
        .save_changes(&Changes::new().enqueue(sample_queued(r, "m5", 1_150), two))
        .await
        .unwrap();
    store
        .save_changes(&Changes::new().enqueue(sample_queued(r, "m6", 1_150), two))
        .await
        .unwrap();
    assert_eq!(ids(store.queued(r, 10, 1_200).await.unwrap()), ["m5", "m6"]);
    // Acknowledged messages free their room at once.
    assert!(matches!(
        store
            .save_changes(&Changes::new().enqueue(sample_queued(r, "m7", 1_150), two))
            .await,
        Err(StoreError::QuotaExceeded(_))
    ));
    store
        .save_changes(&Changes::new().acknowledge(r.into(), "m5".into()))
        .await
        .unwrap();
    store
        .save_changes(&Changes::new().enqueue(sample_queued(r, "m7", 1_150), two))
        .await
        .unwrap();
}

/// Generates one test per contract check of the store traits. `$factory` is a closure
/// returning a future that yields a fresh, empty store. The caller's crate must depend on
/// tokio (macros, rt-multi-thread).
#[macro_export]
macro_rules! store_conformance {
    ($name:ident, $factory:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $crate::store_conformance!(@check $factory,
                insert_then_get_round_trips,
                duplicate_id_or_public_key_is_a_typed_error,
                list_is_per_owner_and_oldest_first,
                keys_created_together_list_by_type,
                rotation_retires_old_key_and_keeps_it,
                rotating_twice_or_missing_key_fails_without_side_effects,
                a_failed_rotation_leaves_the_old_key_active,
                users_are_unique_by_name_and_listed_by_name,
                a_batch_is_all_or_nothing,
                keys_of_an_unknown_user_are_refused,
                concurrent_rotations_of_one_key_exactly_one_wins,
                issued_credentials_are_recorded_once,
                status_counters_are_reserved_once_and_full_lists_roll_over,
                status_entries_are_assigned_once_and_revocation_is_permanent,
                held_credentials_are_per_holder,
                mediations_and_recipient_lists,
                the_message_queue_is_fifo_acknowledged_and_bounded
            );
        }
    };
    (@check $factory:expr, $($check:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let store = ($factory)().await;
                $crate::store::conformance::$check(&store).await;
            }
        )*
    };
}
