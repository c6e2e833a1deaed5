//! The server's sea-orm store passes the core store contract (on SQLite, and on
//! PostgreSQL when `SICHAT_TEST_DATABASE_URL` is set).

use sichat::store::SeaStore;
use sichat_core::id::{KeyId, Owner, UserName};
use sichat_core::store::{
    Changes, CredentialStatus, CredentialStore, HeldCredentialRecord, IssuedCredentialRecord,
    IssuedCredentialStore, KeyRecord, KeyStore, MediationRecord, MessageStore, QueueStatus,
    QueuedMessage, StatusListRecord, StatusListState, StatusListStore, StoreError, UnitOfWork,
    UserRecord, UserStore,
};
use tempfile::TempDir;

/// The store plus the temp dir its SQLite file lives in.
pub struct HeldStore(SeaStore, #[allow(dead_code)] TempDir);

#[async_trait::async_trait]
impl UnitOfWork for HeldStore {
    async fn save_changes(&self, changes: &Changes) -> Result<(), StoreError> {
        self.0.save_changes(changes).await
    }
}

#[async_trait::async_trait]
impl KeyStore for HeldStore {
    async fn get_key(&self, id: &KeyId) -> Result<Option<KeyRecord>, StoreError> {
        self.0.get_key(id).await
    }
    async fn list_keys(&self, owner: &Owner) -> Result<Vec<KeyRecord>, StoreError> {
        self.0.list_keys(owner).await
    }
}

#[async_trait::async_trait]
impl UserStore for HeldStore {
    async fn get_user(&self, name: &UserName) -> Result<Option<UserRecord>, StoreError> {
        self.0.get_user(name).await
    }
    async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        self.0.list_users().await
    }
}

#[async_trait::async_trait]
impl IssuedCredentialStore for HeldStore {
    async fn get_issued(&self, id: &str) -> Result<Option<IssuedCredentialRecord>, StoreError> {
        self.0.get_issued(id).await
    }
}

#[async_trait::async_trait]
impl StatusListStore for HeldStore {
    async fn reserve_status(
        &self,
        fresh: &StatusListRecord,
        count: u32,
    ) -> Result<(StatusListRecord, std::ops::Range<u32>), StoreError> {
        self.0.reserve_status(fresh, count).await
    }
    async fn get_status_list(&self, id: &str) -> Result<Option<StatusListRecord>, StoreError> {
        self.0.get_status_list(id).await
    }
    async fn list_status_lists(&self) -> Result<Vec<StatusListRecord>, StoreError> {
        self.0.list_status_lists().await
    }
    async fn status_list_state(&self, id: &str) -> Result<Option<StatusListState>, StoreError> {
        self.0.status_list_state(id).await
    }
    async fn status_list_version(&self, id: &str) -> Result<Option<i64>, StoreError> {
        self.0.status_list_version(id).await
    }
    async fn credential_status(
        &self,
        credential: &str,
    ) -> Result<Vec<CredentialStatus>, StoreError> {
        self.0.credential_status(credential).await
    }
}

#[async_trait::async_trait]
impl CredentialStore for HeldStore {
    async fn get_held(
        &self,
        holder: &UserName,
        id: &str,
    ) -> Result<Option<HeldCredentialRecord>, StoreError> {
        self.0.get_held(holder, id).await
    }
    async fn list_held(&self, holder: &UserName) -> Result<Vec<HeldCredentialRecord>, StoreError> {
        self.0.list_held(holder).await
    }
    async fn count_held(&self, holder: &UserName) -> Result<u64, StoreError> {
        self.0.count_held(holder).await
    }
}

#[async_trait::async_trait]
impl MessageStore for HeldStore {
    async fn get_mediation(&self, client: &str) -> Result<Option<MediationRecord>, StoreError> {
        self.0.get_mediation(client).await
    }
    async fn recipients_of(&self, client: &str) -> Result<Vec<String>, StoreError> {
        self.0.recipients_of(client).await
    }
    async fn client_of(&self, recipient: &str) -> Result<Option<String>, StoreError> {
        self.0.client_of(recipient).await
    }
    async fn queued(
        &self,
        recipient: &str,
        limit: u32,
        now: i64,
    ) -> Result<Vec<QueuedMessage>, StoreError> {
        self.0.queued(recipient, limit, now).await
    }
    async fn queue_status(&self, recipient: &str, now: i64) -> Result<QueueStatus, StoreError> {
        self.0.queue_status(recipient, now).await
    }
    async fn purge_expired(&self, now: i64, limit: u32) -> Result<u64, StoreError> {
        self.0.purge_expired(now, limit).await
    }
}

async fn fresh() -> HeldStore {
    let dir = tempfile::tempdir().unwrap();
    let url = crate::common::fresh_database_url(dir.path()).await;
    let db = sichat::store::connect(&url).await.unwrap();
    HeldStore(SeaStore::new(db), dir)
}

sichat_core::store_conformance!(sea_orm_store, fresh);

/// SQLite is opened for durability: WAL, `synchronous=FULL` (survives power loss, not only
/// a killed process), foreign keys on, and a busy timeout for concurrent writers. (A
/// SQLite property: checked on SQLite in the PostgreSQL run too.)
#[tokio::test]
async fn sqlite_connections_are_configured_for_durability() {
    use sea_orm::{ConnectionTrait, Statement};
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("s.db").display());
    let db = sichat::store::connect(&url).await.unwrap();
    let pragma = |name: &'static str| {
        let db = db.clone();
        async move {
            let row = db
                .query_one_raw(Statement::from_string(
                    db.get_database_backend(),
                    format!("PRAGMA {name}"),
                ))
                .await
                .unwrap()
                .unwrap();
            row.try_get_by_index::<String>(0)
                .or_else(|_| row.try_get_by_index::<i64>(0).map(|n| n.to_string()))
                .unwrap()
        }
    };
    assert_eq!(pragma("journal_mode").await, "wal");
    assert_eq!(pragma("synchronous").await, "2", "FULL");
    assert_eq!(pragma("foreign_keys").await, "1");
    assert_eq!(pragma("busy_timeout").await, "10000");
}

/// Group commit: batches sent at once share commits, yet each stays all or nothing on its
/// own — a failing batch (a duplicate user) is rolled back alone, the others commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_batches_commit_together_and_fail_alone() {
    use sichat_core::store::conformance::{sample_key, sample_user};
    let store = fresh().await;
    let taken = sample_user("taken");
    store
        .save_changes(&Changes::new().user(taken.clone()))
        .await
        .unwrap();
    let batches: Vec<Changes> = (0..60)
        .map(|i| {
            if i % 6 == 0 {
                // A new key and a duplicate user: the key must not survive.
                let mut dup = sample_user("taken");
                dup.id = sichat_core::id::UserId::generate();
                Changes::new().key(sample_key(&Owner::Server, i)).user(dup)
            } else {
                let user = sample_user(&format!("u{i}"));
                let owner = Owner::User(user.name.clone());
                Changes::new().user(user).key(sample_key(&owner, i))
            }
        })
        .collect();
    let results =
        futures_util::future::join_all(batches.iter().map(|b| store.save_changes(b))).await;
    let failed = results.iter().filter(|r| r.is_err()).count();
    assert_eq!(failed, 10, "{results:?}");
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| matches!(e, StoreError::Duplicate(_)))
    );
    assert_eq!(store.list_users().await.unwrap().len(), 51);
    assert!(
        store.list_keys(&Owner::Server).await.unwrap().is_empty(),
        "the failed batches' keys were rolled back with them"
    );
}

/// Forwards committed together (the batches that only queue messages share a few
/// statements): each batch is whole or refused on its own, the quota holds across the
/// batches of one commit, a message sent twice is queued once, and the usage counters
/// match the queue afterwards (checked by filling it again to the brim).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_forwards_are_queued_together_within_their_quota() {
    use sichat_core::store::MessageQuota;
    use sichat_core::store::conformance::{sample_queued, sample_user};
    let store = fresh().await;
    store
        .save_changes(&Changes::new().user(sample_user("taken")))
        .await
        .unwrap();
    let ten = MessageQuota {
        max_messages: 10,
        max_bytes: 1 << 20,
    };
    let (r, s) = ("did:example:r", "did:example:s");
    let mut batches: Vec<Changes> = (0..40)
        .map(|i| Changes::new().enqueue(sample_queued(r, &format!("m{i}"), i), ten))
        .collect();
    // Two messages each for `s`: whole or not at all (10 fit: 5 batches).
    batches.extend((0..8).map(|i| {
        Changes::new()
            .enqueue(sample_queued(s, &format!("a{i}"), i), ten)
            .enqueue(sample_queued(s, &format!("b{i}"), i), ten)
    }));
    // A batch that fails for another reason, and one that acknowledges too.
    let mut dup = sample_user("taken");
    dup.id = sichat_core::id::UserId::generate();
    batches.push(Changes::new().user(dup));
    batches.push(
        Changes::new()
            .acknowledge(s.into(), "none".into())
            .enqueue(sample_queued(s, "mixed", 0), ten),
    );
    let results =
        futures_util::future::join_all(batches.iter().map(|b| store.save_changes(b))).await;
    let accepted = |range: std::ops::Range<usize>| {
        results[range]
            .iter()
            .filter(|r| match r {
                Ok(()) => true,
                Err(StoreError::QuotaExceeded(_)) => false,
                Err(e) => panic!("{e:?}"),
            })
            .count() as u64
    };
    assert_eq!(accepted(0..40), 10, "{results:?}");
    assert!(matches!(results[48], Err(StoreError::Duplicate(_))));
    let for_s = 2 * accepted(40..48) + accepted(49..50);
    assert!((9..=10).contains(&for_s), "{results:?}");
    assert_eq!(store.queue_status(r, 0).await.unwrap().count, 10);
    assert_eq!(store.queue_status(s, 0).await.unwrap().count, for_s);
    for (i, b) in batches[40..48].iter().enumerate() {
        let queued = store.queued(s, 100, 0).await.unwrap();
        let has = |id: &str| queued.iter().any(|m| m.id == id);
        assert_eq!(has(&format!("a{i}")), has(&format!("b{i}")), "{b:?}");
    }
    // The same messages again, at once: nothing new, nothing refused that fits.
    let again: Vec<Changes> = store
        .queued(r, 100, 0)
        .await
        .unwrap()
        .into_iter()
        .flat_map(|m| {
            let c = Changes::new().enqueue(m, ten);
            [c.clone(), c]
        })
        .collect();
    let results = futures_util::future::join_all(again.iter().map(|b| store.save_changes(b))).await;
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(()) | Err(StoreError::QuotaExceeded(_)))),
        "{results:?}"
    );
    assert_eq!(store.queue_status(r, 0).await.unwrap().count, 10);
    // Acknowledge everything: the counters are back to zero, so ten fit again.
    let mut ack = Changes::new();
    for m in store.queued(r, 100, 0).await.unwrap() {
        ack = ack.acknowledge(r.into(), m.id);
    }
    store.save_changes(&ack).await.unwrap();
    let refill: Vec<Changes> = (0..11)
        .map(|i| Changes::new().enqueue(sample_queued(r, &format!("n{i}"), i), ten))
        .collect();
    let results =
        futures_util::future::join_all(refill.iter().map(|b| store.save_changes(b))).await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        10,
        "{results:?}"
    );
    assert_eq!(store.queue_status(r, 0).await.unwrap().count, 10);
}

/// Issue requests that commit at once are recorded together (records and status entries
/// in a few statements for all); a credential id issued before, or twice in the group,
/// fails its own batch alone, and none of that batch's entries is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_issues_are_recorded_together_and_a_duplicate_fails_alone() {
    use sichat_core::store::StatusAssignment;
    use sichat_core::store::conformance::{sample_issued, sample_list, sample_user};
    use sichat_core::vc::status::StatusPurpose;
    let store = fresh().await;
    store
        .save_changes(&Changes::new().user(sample_user("ivy")))
        .await
        .unwrap();
    let ivy = Owner::User(UserName::parse("ivy").unwrap());
    let issuer = "did:web:example.org";
    let revocation = sample_list(issuer, StatusPurpose::Revocation, 1_000);
    let suspension = sample_list(issuer, StatusPurpose::Suspension, 1_000);
    store.reserve_status(&revocation, 1).await.unwrap();
    store.reserve_status(&suspension, 1).await.unwrap();
    let entries = |index: u32| {
        vec![
            StatusAssignment {
                list: revocation.id.clone(),
                index,
                purpose: StatusPurpose::Revocation,
            },
            StatusAssignment {
                list: suspension.id.clone(),
                index,
                purpose: StatusPurpose::Suspension,
            },
        ]
    };
    let earlier = sample_issued(&Owner::Server);
    store
        .save_changes(&Changes::new().issued(earlier.clone()))
        .await
        .unwrap();
    let issue_all = |records: Vec<IssuedCredentialRecord>| {
        let store = &store;
        async move {
            let batches: Vec<Changes> = records
                .iter()
                .map(|r| Changes::new().issued(r.clone()))
                .collect();
            let results =
                futures_util::future::join_all(batches.iter().map(|b| store.save_changes(b))).await;
            for (record, result) in records.iter().zip(&results) {
                if result.is_ok() {
                    assert_eq!(
                        store.get_issued(&record.id).await.unwrap().as_ref(),
                        Some(record)
                    );
                }
            }
            results
        }
    };
    let record = |i: u32| {
        let mut r = sample_issued(if i.is_multiple_of(3) {
            &ivy
        } else {
            &Owner::Server
        });
        r.statuses = entries(i);
        r
    };
    // All accepted (together, when the writer finds them waiting).
    let results = issue_all((200..240).map(record).collect()).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let mut records: Vec<IssuedCredentialRecord> = (0..40).map(record).collect();
    // An id issued before, and one issued twice in this group.
    let mut again = sample_issued(&Owner::Server);
    again.id = earlier.id.clone();
    again.statuses = entries(100);
    let mut twin = records[1].clone();
    twin.statuses = entries(101);
    records.extend([again, twin]);
    let results = issue_all(records).await;
    assert!(results[..40].iter().all(Result::is_ok), "{results:?}");
    assert!(
        matches!(results[40], Err(StoreError::Duplicate(_))),
        "{results:?}"
    );
    assert!(
        matches!(results[41], Err(StoreError::Duplicate(_))),
        "{results:?}"
    );
    assert_eq!(store.get_issued(&earlier.id).await.unwrap(), Some(earlier));
    // The refused batches' entries were not kept: their indices are free.
    for index in [100, 101] {
        let mut late = sample_issued(&Owner::Server);
        late.statuses = entries(index);
        store
            .save_changes(&Changes::new().issued(late))
            .await
            .unwrap();
    }
}
