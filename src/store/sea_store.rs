//! [`SeaStore`]: the server's implementation of the core store contracts over sea-orm.
//! `save_changes` goes through group commit: one writer task takes every batch waiting at
//! that moment, applies each in its own savepoint of one write transaction (a batch that
//! fails is rolled back alone and answered its error), commits once, and only then answers
//! each caller — nothing is acknowledged before it is durable, and a commit (an fsync with
//! `synchronous=FULL`) serves many requests. Every batch that touches users or keys
//! also writes a fresh identity stamp, so that caches of DID documents in this process
//! (at once, through [`IdentityEpoch`]) and in other processes sharing the database
//! (within a poll interval) drop what they built from the old rows.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, TransactionTrait};
use sichat_core::id::{KeyId, Owner, UserName};
use sichat_core::store::{
    Changes, CredentialStatus, CredentialStore, Enqueue, HeldCredentialRecord,
    IssuedCredentialRecord, IssuedCredentialStore, KeyRecord, KeyStore, MediationRecord,
    MessageStore, QueueStatus, QueuedMessage, StatusListRecord, StatusListState, StatusListStore,
    StoreError, UnitOfWork, UserRecord, UserStore,
};
use tokio::sync::{mpsc, oneshot};

use super::epoch_cache::EpochCache;
use super::oidc_clients::ClientRow;
use super::{begin_write, didcomm, held, issued, keys, map_err, settings, status, users};

/// A counter that moves whenever identity data (users, keys, the public URL) may have
/// changed; caches compare it with the value they were filled at.
#[derive(Debug, Default)]
pub struct IdentityEpoch(AtomicU64);

impl IdentityEpoch {
    pub fn current(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
    pub fn bump(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}

/// Writes a new identity stamp inside the caller's transaction.
pub async fn stamp_identity_change(db: &impl ConnectionTrait) -> Result<(), StoreError> {
    settings::put(
        db,
        settings::IDENTITY_STAMP,
        &hex::encode(rand::random::<[u8; 12]>()),
    )
    .await
}

/// Batches one commit serves at most.
const MAX_GROUP: usize = 64;
/// Batches waiting for the writer at most; beyond, callers wait for room.
const QUEUE: usize = 4096;

/// One caller's batch, and where its outcome goes.
struct Job {
    changes: Changes,
    reply: oneshot::Sender<Result<(), StoreError>>,
}

/// The server's store: the only way services write users and keys.
#[derive(Clone)]
pub struct SeaStore {
    db: DatabaseConnection,
    epoch: Arc<IdentityEpoch>,
    writer: mpsc::Sender<Job>,
    /// OpenID Connect clients by id (client writes stamp an identity change).
    clients: Arc<EpochCache<String, Option<Arc<ClientRow>>>>,
    /// Users by row id.
    users_by_id: Arc<EpochCache<String, Option<Arc<UserRecord>>>>,
    /// Key records (sealed) by id: every key write stamps an identity change.
    keys_by_id: Arc<EpochCache<KeyId, Option<KeyRecord>>>,
    /// Each owner's keys (DIDComm looks its agreement key up by public key per message).
    keys_by_owner: Arc<EpochCache<Owner, Vec<KeyRecord>>>,
}

impl SeaStore {
    /// Opens the store over `db` and starts its writer task (on the current tokio
    /// runtime); the task ends when the last clone of the store is dropped.
    pub fn new(db: DatabaseConnection) -> Self {
        let epoch = Arc::new(IdentityEpoch::default());
        let (writer, jobs) = mpsc::channel(QUEUE);
        tokio::spawn(write_groups(db.clone(), epoch.clone(), jobs));
        Self {
            clients: Arc::new(EpochCache::new(epoch.clone(), 10_000)),
            users_by_id: Arc::new(EpochCache::new(epoch.clone(), 10_000)),
            keys_by_id: Arc::new(EpochCache::new(epoch.clone(), 10_000)),
            keys_by_owner: Arc::new(EpochCache::new(epoch.clone(), 10_000)),
            db,
            epoch,
            writer,
        }
    }

    /// An OpenID Connect client, from memory while the identity epoch holds.
    pub async fn client(&self, id: &str) -> Result<Option<Arc<ClientRow>>, StoreError> {
        // Only well-formed ids are looked up (and remembered): junk cannot fill the cache.
        if sichat_core::oauth::check_client_id(id).is_err() {
            return Ok(None);
        }
        self.clients
            .get_or_load(&id.to_owned(), || async {
                Ok(super::oidc_clients::get(&self.db, id).await?.map(Arc::new))
            })
            .await
    }

    /// A user by row id, from memory while the identity epoch holds.
    pub async fn user_by_id(&self, id: &str) -> Result<Option<Arc<UserRecord>>, StoreError> {
        self.users_by_id
            .get_or_load(&id.to_owned(), || async {
                Ok(users::find_by_id(&self.db, id).await?.map(Arc::new))
            })
            .await
    }

    /// The connection, for the server's own repository functions (settings, readiness).
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    pub fn epoch(&self) -> &Arc<IdentityEpoch> {
        &self.epoch
    }

    /// Checks the database answers (readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        super::ping(&self.db).await.map_err(map_err)
    }
}

async fn owner_row(
    txn: &impl ConnectionTrait,
    owner: &Owner,
) -> Result<Option<String>, StoreError> {
    match owner {
        Owner::Server => Ok(None),
        Owner::User(name) => users::id_of(txn, name)
            .await?
            .map(Some)
            .ok_or_else(|| StoreError::NotFound(format!("user `{name}`"))),
    }
}

async fn apply(txn: &impl ConnectionTrait, changes: &Changes) -> Result<(), StoreError> {
    for user in &changes.new_users {
        users::insert(txn, user).await?;
    }
    for key in &changes.new_keys {
        keys::insert(txn, key, owner_row(txn, &key.owner).await?).await?;
    }
    for rotation in &changes.rotations {
        if !keys::retire(txn, &rotation.retire, rotation.at).await? {
            return Err(match keys::find(txn, &rotation.retire).await? {
                Some(_) => {
                    StoreError::Conflict(format!("key {} is already retired", rotation.retire))
                }
                None => StoreError::NotFound(format!("key {}", rotation.retire)),
            });
        }
        let retired = keys::find(txn, &rotation.retire)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("key {}", rotation.retire)))?;
        if retired.owner != rotation.successor.owner {
            return Err(StoreError::Conflict(format!(
                "the successor of key {} must have the same owner",
                rotation.retire
            )));
        }
        let successor = &rotation.successor;
        keys::insert(txn, successor, owner_row(txn, &successor.owner).await?).await?;
    }
    if !changes.issued_credentials.is_empty() {
        let records: Vec<&IssuedCredentialRecord> = changes.issued_credentials.iter().collect();
        issued::insert_many(txn, &records).await?;
    }
    for change in &changes.status_changes {
        status::change(txn, change, change.at).await?;
    }
    for record in &changes.held {
        held::insert(txn, record).await?;
    }
    for (holder, id) in &changes.forgotten {
        held::delete(txn, holder, id).await?;
    }
    for m in &changes.mediations {
        didcomm::grant(txn, m).await?;
    }
    for u in &changes.recipient_updates {
        didcomm::update_recipient(txn, u).await?;
    }
    if !changes.queued.is_empty() {
        let queued = didcomm::enqueue_many(txn, &[&changes.queued]).await?;
        queued.into_iter().next().unwrap_or(Ok(()))?;
    }
    // One statement set per recipient, whatever the number of ids.
    let mut acks: Vec<(&str, Vec<&str>)> = Vec::new();
    for (recipient, id) in &changes.acknowledged {
        match acks.iter_mut().find(|(r, _)| r == recipient) {
            Some((_, ids)) => ids.push(id),
            None => acks.push((recipient, vec![id])),
        }
    }
    for (recipient, ids) in acks {
        for chunk in ids.chunks(500) {
            didcomm::acknowledge(txn, recipient, chunk).await?;
        }
    }
    if touches_identity(changes) {
        stamp_identity_change(txn).await?;
    }
    Ok(())
}

/// Whether a batch changes what DID documents are built from (users and keys).
fn touches_identity(changes: &Changes) -> bool {
    !(changes.new_users.is_empty() && changes.new_keys.is_empty() && changes.rotations.is_empty())
}

impl SeaStore {
    /// Runs one write transaction: `claim` (if any) is a settings marker that must not be
    /// set yet and is set with the changes. Returns whether the changes were applied.
    async fn transact(&self, claim: Option<&str>, changes: &Changes) -> Result<bool, StoreError> {
        let txn = begin_write(&self.db).await.map_err(map_err)?;
        let result = async {
            if let Some(marker) = claim
                && !settings::insert_if_absent(&txn, marker, "1").await?
            {
                return Ok(false);
            }
            apply(&txn, changes).await.map(|()| true)
        }
        .await;
        match result {
            Ok(true) => {
                txn.commit().await.map_err(map_err)?;
                if touches_identity(changes) {
                    self.epoch.bump();
                }
                Ok(true)
            }
            other => {
                // Dropping the transaction rolls it back too; an explicit rollback frees
                // the connection (and SQLite's write lock) before the result travels up.
                let _ = txn.rollback().await;
                other
            }
        }
    }

    /// Applies `changes` once per database: only if the settings marker `marker` is not
    /// set, setting it in the same transaction (first-start initialisation that several
    /// processes may attempt at once). Returns whether this call applied them.
    pub async fn save_changes_once(
        &self,
        marker: &str,
        changes: &Changes,
    ) -> Result<bool, StoreError> {
        self.transact(Some(marker), changes).await
    }
}

/// The writer task: takes the batches waiting, commits them together, answers each.
async fn write_groups(
    db: DatabaseConnection,
    epoch: Arc<IdentityEpoch>,
    mut jobs: mpsc::Receiver<Job>,
) {
    while let Some(first) = jobs.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        // Each group in its own task: a panic answers its callers with an error and the
        // writer goes on.
        let batches: Vec<Changes> = group.iter().map(|job| job.changes.clone()).collect();
        let count = batches.len();
        let db_for_group = db.clone();
        let results = tokio::spawn(async move { commit_group(&db_for_group, &batches).await })
            .await
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "a group commit failed unexpectedly");
                (0..count)
                    .map(|_| Err(StoreError::Backend("the write failed unexpectedly".into())))
                    .collect()
            });
        if group
            .iter()
            .zip(&results)
            .any(|(job, r)| r.is_ok() && touches_identity(&job.changes))
        {
            epoch.bump();
        }
        for (job, result) in group.into_iter().zip(results) {
            // A caller that has gone (its request was cancelled) needs no answer; what
            // it asked for is committed all the same.
            let _ = job.reply.send(result);
        }
    }
}

/// Whether `changes` holds only changes of `kind` (a field of [`Changes`]): the batches
/// that only queue messages (forwards) and those that only record issued credentials (issue
/// requests) are applied together, a few statements for all of a group.
fn only(changes: &Changes, kind: &str) -> bool {
    // Every field named: a new kind of change must be listed.
    let Changes {
        new_users,
        new_keys,
        rotations,
        issued_credentials,
        status_changes,
        held,
        forgotten,
        mediations,
        recipient_updates,
        queued,
        acknowledged,
    } = changes;
    let present = [
        ("new_users", !new_users.is_empty()),
        ("new_keys", !new_keys.is_empty()),
        ("rotations", !rotations.is_empty()),
        ("issued_credentials", !issued_credentials.is_empty()),
        ("status_changes", !status_changes.is_empty()),
        ("held", !held.is_empty()),
        ("forgotten", !forgotten.is_empty()),
        ("mediations", !mediations.is_empty()),
        ("recipient_updates", !recipient_updates.is_empty()),
        ("queued", !queued.is_empty()),
        ("acknowledged", !acknowledged.is_empty()),
    ];
    debug_assert!(
        present.iter().any(|&(name, _)| name == kind),
        "no kind {kind}"
    );
    present.iter().all(|&(name, some)| some == (name == kind))
}

/// Applies `changes` in a savepoint of `txn`: the batch's own outcome, or (outer error)
/// the failure that left the transaction unusable.
async fn in_savepoint(
    txn: &DatabaseTransaction,
    changes: &Changes,
) -> Result<Result<(), StoreError>, StoreError> {
    let savepoint = txn.begin().await.map_err(map_err)?;
    match apply(&savepoint, changes).await {
        Ok(()) => {
            savepoint.commit().await.map_err(map_err)?;
            Ok(Ok(()))
        }
        Err(e) => {
            savepoint.rollback().await.map_err(map_err)?;
            Ok(Err(e))
        }
    }
}

/// Records the issued credentials of the batches `which` together, in a savepoint: whether
/// that worked (if not, nothing of it stays and the caller applies them one by one).
async fn issue_together(
    txn: &DatabaseTransaction,
    group: &[Changes],
    which: &[usize],
) -> Result<bool, StoreError> {
    let records: Vec<&IssuedCredentialRecord> = which
        .iter()
        .flat_map(|&i| group[i].issued_credentials.iter())
        .collect();
    let savepoint = txn.begin().await.map_err(map_err)?;
    match issued::insert_many(&savepoint, &records).await {
        Ok(()) => {
            savepoint.commit().await.map_err(map_err)?;
            Ok(true)
        }
        Err(_) => {
            savepoint.rollback().await.map_err(map_err)?;
            Ok(false)
        }
    }
}

/// Applies each batch in its own savepoint of one write transaction (after the others,
/// the batches that only record issued credentials together, and those that only queue
/// messages together), then commits. A savepoint that cannot be released or rolled back,
/// or queueing statements that fail, leave the transaction unusable (PostgreSQL aborts
/// it): then nothing is committed and every batch gets the error.
async fn commit_group(db: &DatabaseConnection, group: &[Changes]) -> Vec<Result<(), StoreError>> {
    let all = |e: StoreError| group.iter().map(|_| Err(e.clone())).collect();
    let txn = match begin_write(db).await {
        Ok(txn) => txn,
        Err(e) => return all(map_err(e)),
    };
    let mut results: Vec<Option<Result<(), StoreError>>> = vec![None; group.len()];
    let queues: Vec<usize> = (0..group.len())
        .filter(|&i| only(&group[i], "queued"))
        .collect();
    let mut issues: Vec<usize> = (0..group.len())
        .filter(|&i| only(&group[i], "issued_credentials"))
        .collect();
    if issues.len() < 2 {
        issues.clear();
    }
    let alone = group.len() == 1 && queues.is_empty();
    for (i, changes) in group.iter().enumerate() {
        if queues.contains(&i) || issues.contains(&i) {
            continue;
        }
        if alone {
            results[i] = Some(apply(&txn, changes).await);
            continue;
        }
        match in_savepoint(&txn, changes).await {
            Ok(result) => results[i] = Some(result),
            Err(e) => {
                let _ = txn.rollback().await;
                return all(e);
            }
        }
    }
    if !issues.is_empty() {
        match issue_together(&txn, group, &issues).await {
            Ok(true) => {
                for &i in &issues {
                    results[i] = Some(Ok(()));
                }
            }
            // One of them failed (a credential id issued before, say): each on its own.
            Ok(false) => {
                for &i in &issues {
                    match in_savepoint(&txn, &group[i]).await {
                        Ok(result) => results[i] = Some(result),
                        Err(e) => {
                            let _ = txn.rollback().await;
                            return all(e);
                        }
                    }
                }
            }
            Err(e) => {
                let _ = txn.rollback().await;
                return all(e);
            }
        }
    }
    if !queues.is_empty() {
        let batches: Vec<&[Enqueue]> = queues.iter().map(|&i| &group[i].queued[..]).collect();
        match didcomm::enqueue_many(&txn, &batches).await {
            Ok(queued) => {
                for (&i, result) in queues.iter().zip(queued) {
                    results[i] = Some(result);
                }
            }
            Err(e) => {
                let _ = txn.rollback().await;
                return all(e);
            }
        }
    }
    let results: Vec<Result<(), StoreError>> = results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(StoreError::Backend("not applied".into()))))
        .collect();
    if results.iter().all(Result::is_err) {
        // Nothing to keep.
        let _ = txn.rollback().await;
        return results;
    }
    if let Err(e) = txn.commit().await {
        return all(map_err(e));
    }
    results
}

#[async_trait::async_trait]
impl UnitOfWork for SeaStore {
    async fn save_changes(&self, changes: &Changes) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let (reply, outcome) = oneshot::channel();
        self.writer
            .send(Job {
                changes: changes.clone(),
                reply,
            })
            .await
            .map_err(|_| StoreError::Backend("the store's writer has stopped".into()))?;
        outcome
            .await
            .map_err(|_| StoreError::Backend("the store's writer has stopped".into()))?
    }
}

#[async_trait::async_trait]
impl KeyStore for SeaStore {
    async fn get_key(&self, id: &KeyId) -> Result<Option<KeyRecord>, StoreError> {
        self.keys_by_id
            .get_or_load(id, || keys::find(&self.db, id))
            .await
    }

    async fn list_keys(&self, owner: &Owner) -> Result<Vec<KeyRecord>, StoreError> {
        self.keys_by_owner
            .get_or_load(owner, || keys::list(&self.db, owner))
            .await
    }
}

#[async_trait::async_trait]
impl UserStore for SeaStore {
    async fn get_user(&self, name: &UserName) -> Result<Option<UserRecord>, StoreError> {
        users::find_by_name(&self.db, name).await
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        users::list(&self.db).await
    }
}

#[async_trait::async_trait]
impl IssuedCredentialStore for SeaStore {
    async fn get_issued(&self, id: &str) -> Result<Option<IssuedCredentialRecord>, StoreError> {
        issued::find(&self.db, id).await
    }
}

#[async_trait::async_trait]
impl StatusListStore for SeaStore {
    async fn reserve_status(
        &self,
        fresh: &StatusListRecord,
        count: u32,
    ) -> Result<(StatusListRecord, std::ops::Range<u32>), StoreError> {
        let txn = begin_write(&self.db).await.map_err(map_err)?;
        let result = async {
            let user = owner_row(&txn, &fresh.owner).await?;
            status::reserve(&txn, fresh, user, count).await
        }
        .await;
        match result {
            Ok(reserved) => {
                txn.commit().await.map_err(map_err)?;
                Ok(reserved)
            }
            Err(e) => {
                let _ = txn.rollback().await;
                Err(e)
            }
        }
    }

    async fn get_status_list(&self, id: &str) -> Result<Option<StatusListRecord>, StoreError> {
        status::find(&self.db, id).await
    }

    async fn list_status_lists(&self) -> Result<Vec<StatusListRecord>, StoreError> {
        status::list(&self.db).await
    }

    async fn status_list_state(&self, id: &str) -> Result<Option<StatusListState>, StoreError> {
        status::state(&self.db, id).await
    }

    async fn status_list_version(&self, id: &str) -> Result<Option<i64>, StoreError> {
        status::version(&self.db, id).await
    }

    async fn credential_status(
        &self,
        credential: &str,
    ) -> Result<Vec<CredentialStatus>, StoreError> {
        status::of_credential(&self.db, credential).await
    }
}

#[async_trait::async_trait]
impl CredentialStore for SeaStore {
    async fn get_held(
        &self,
        holder: &UserName,
        id: &str,
    ) -> Result<Option<HeldCredentialRecord>, StoreError> {
        held::find(&self.db, holder, id).await
    }

    async fn list_held(&self, holder: &UserName) -> Result<Vec<HeldCredentialRecord>, StoreError> {
        held::list(&self.db, holder).await
    }

    async fn count_held(&self, holder: &UserName) -> Result<u64, StoreError> {
        held::count(&self.db, holder).await
    }
}

#[async_trait::async_trait]
impl MessageStore for SeaStore {
    async fn get_mediation(&self, client: &str) -> Result<Option<MediationRecord>, StoreError> {
        didcomm::find_mediation(&self.db, client).await
    }

    async fn recipients_of(&self, client: &str) -> Result<Vec<String>, StoreError> {
        didcomm::recipients_of(&self.db, client).await
    }

    async fn client_of(&self, recipient: &str) -> Result<Option<String>, StoreError> {
        didcomm::client_of(&self.db, recipient).await
    }

    async fn queued(
        &self,
        recipient: &str,
        limit: u32,
        now: i64,
    ) -> Result<Vec<QueuedMessage>, StoreError> {
        didcomm::queued(&self.db, recipient, limit, now).await
    }

    async fn queue_status(&self, recipient: &str, now: i64) -> Result<QueueStatus, StoreError> {
        didcomm::status(&self.db, recipient, now).await
    }

    async fn purge_expired(&self, now: i64, limit: u32) -> Result<u64, StoreError> {
        didcomm::purge_expired(&self.db, now, limit).await
    }
}
