//! Persistence contracts. Every backend (the server's sea-orm store, the client's wallet,
//! the in-memory store here) implements these traits and passes the same conformance
//! suite (`conformance`, feature `testing`, run with `store_conformance!`).
//!
//! Reads go through the per-area traits ([`KeyStore`], [`UserStore`]); writes go through
//! one [`UnitOfWork::save_changes`] call per atomic batch ([`Changes`]): the backend owns the
//! transaction, so a service commits a user and their keys (and, later, a credential with
//! its status index, or a batch of queued messages) all or nothing.

#[cfg(any(test, feature = "testing"))]
pub mod conformance;
mod memory;

pub use memory::MemoryStore;

use serde::{Deserialize, Serialize};

use crate::id::{KeyId, Owner, UserId, UserName};
use crate::keys::KeyType;
use crate::vc::status::StatusPurpose;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// A unique key (an id, a name, a public key) already exists.
    #[error("already exists: {0}")]
    Duplicate(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// The row is not in the state the operation needs (e.g. rotating a retired key).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A quota would be exceeded (a recipient's queued messages, in count or bytes).
    #[error("quota exceeded: {0}")]
    QuotaExceeded(String),
    /// The backend failed (I/O, connection, driver).
    #[error("storage backend error: {0}")]
    Backend(String),
}

/// Lifecycle of a stored key. Retired keys stay published so that what they signed still
/// verifies, but they are never used to sign again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    Active,
    Retired,
}

impl KeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Retired => "retired",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(KeyStatus::Active),
            "retired" => Some(KeyStatus::Retired),
            _ => None,
        }
    }
}

/// A key as stored: public part in clear, private part sealed under the KEK.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub id: KeyId,
    pub owner: Owner,
    pub key_type: KeyType,
    pub public_multibase: String,
    pub sealed_private: Vec<u8>,
    pub status: KeyStatus,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

impl std::fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRecord")
            .field("id", &self.id)
            .field("owner", &self.owner)
            .field("key_type", &self.key_type)
            .field("public_multibase", &self.public_multibase)
            .field("sealed_private", &"<sealed>")
            .field("status", &self.status)
            .finish()
    }
}

/// A user as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub id: UserId,
    pub name: UserName,
    /// PHC string (Argon2id), when the user has a password.
    pub password_hash: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    pub profile: UserProfile,
}

/// What a user's profile says about them (OpenID Connect's `email` and `name` claims).
/// The operator sets it; nothing here is verified (a verified email comes from a
/// credential the user holds).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserProfile {
    pub email: Option<String>,
    pub display_name: Option<String>,
}

/// Why a profile was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidProfile {
    pub field: &'static str,
    pub reason: &'static str,
}

impl UserProfile {
    /// The longest email address (RFC 5321 §4.5.3.1.3 path limit) and display name.
    pub const MAX_EMAIL: usize = 254;
    pub const MAX_NAME: usize = 128;

    /// Checks the shape: an address `local@domain` (one `@`, a dot-free local part is
    /// fine, no spaces or control characters) and a name without control characters.
    pub fn check(&self) -> Result<(), InvalidProfile> {
        if let Some(email) = &self.email {
            let ok = email.len() <= Self::MAX_EMAIL
                && !email.chars().any(|c| c.is_whitespace() || c.is_control())
                && matches!(email.split_once('@'), Some((local, domain))
                    if !local.is_empty() && !domain.is_empty() && !domain.contains('@')
                        && !domain.starts_with('.') && !domain.ends_with('.'));
            if !ok {
                return Err(InvalidProfile {
                    field: "email",
                    reason: "an address local@domain of at most 254 characters, no spaces",
                });
            }
        }
        if let Some(name) = &self.display_name
            && (name.trim().is_empty()
                || name.chars().count() > Self::MAX_NAME
                || name.chars().any(char::is_control))
        {
            return Err(InvalidProfile {
                field: "displayName",
                reason: "1 to 128 characters, no control characters",
            });
        }
        Ok(())
    }
}

impl std::fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("has_password", &self.password_hash.is_some())
            .finish()
    }
}

/// Replaces an active key by its successor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// The key to retire; it must be active.
    pub retire: KeyId,
    /// When it is retired (milliseconds since the Unix epoch).
    pub at: i64,
    /// The new key (same owner).
    pub successor: KeyRecord,
}

/// One atomic batch of writes: applied all together, in the order users, keys, rotations,
/// issued credentials (with their status entries), status changes, held credentials
/// kept, then forgotten; or not at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub new_users: Vec<UserRecord>,
    /// New keys; a user's key needs the user (stored, or in `new_users`).
    pub new_keys: Vec<KeyRecord>,
    pub rotations: Vec<Rotation>,
    /// Credentials just issued; an id is issued once.
    pub issued_credentials: Vec<IssuedCredentialRecord>,
    /// Revocations, suspensions and their reversal.
    pub status_changes: Vec<StatusChange>,
    /// Credentials a holder keeps; (holder, id) is unique.
    pub held: Vec<HeldCredentialRecord>,
    /// Held credentials to forget: (holder, id); each must exist.
    pub forgotten: Vec<(UserName, String)>,
    /// DIDs granted mediation (a DID already mediated is left as it is).
    pub mediations: Vec<MediationRecord>,
    /// Recipient DIDs added to or removed from a mediated DID's list.
    pub recipient_updates: Vec<RecipientUpdate>,
    /// Messages to queue, each within its quota (see [`MessageStore`]).
    pub queued: Vec<Enqueue>,
    /// Queued messages acknowledged by their recipient: (recipient, message id); deleting
    /// one that is gone already is not an error (acknowledgements are repeated).
    pub acknowledged: Vec<(String, String)>,
}

/// A DID this server mediates for (coordinate-mediation's granted `mediate-request`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediationRecord {
    /// The mediated DID (the requester's `from`).
    pub client: String,
    /// Unix milliseconds.
    pub granted_at: i64,
}

/// Adds or removes a recipient DID of a mediated DID. Adding one the client has is a
/// no-op; one another client has is [`StoreError::Conflict`]; removing one the client does
/// not have is a no-op.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientUpdate {
    pub client: String,
    pub recipient: String,
    pub add: bool,
    /// Unix milliseconds.
    pub at: i64,
}

/// A message waiting for its recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMessage {
    /// The recipient DID (a forward's `next`, without a fragment).
    pub recipient: String,
    /// Opaque and unique per recipient (the hex SHA-256 of the message): queueing the
    /// same message again for the same recipient is a no-op.
    pub id: String,
    /// The packed message, as received.
    pub message: String,
    /// Unix milliseconds.
    pub received_at: i64,
    /// Unix milliseconds; after it the message is no longer delivered and is purged.
    pub expires_at: i64,
}

/// A recipient's queue limits, checked in the batch's transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageQuota {
    pub max_messages: u64,
    pub max_bytes: u64,
}

/// A message to queue and the quota its recipient's queue must stay within.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enqueue {
    pub message: QueuedMessage,
    pub quota: MessageQuota,
}

/// A recipient's queue at a moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStatus {
    pub count: u64,
    pub bytes: u64,
    /// Unix milliseconds of the oldest and newest message.
    pub oldest_received_at: Option<i64>,
    pub newest_received_at: Option<i64>,
}

/// A credential its holder keeps (the server's holder store, a client's wallet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldCredentialRecord {
    pub holder: UserName,
    /// The credential's `id`, or a `urn:uuid:` given when it had none.
    pub id: String,
    /// The secured credential as received (JSON: a Data Integrity credential, or an
    /// `EnvelopedVerifiableCredential`).
    pub document: String,
    /// `eddsa-rdfc-2022`, `ecdsa-rdfc-2019`, `vc+jwt`...
    pub format: String,
    pub issuer: String,
    pub types: Vec<String>,
    /// Unix milliseconds.
    pub received_at: i64,
}

/// A published Bitstring Status List: one purpose, one issuer; a full list is followed by
/// a new one. Its bits are the `set` values of the entries assigned on it.
#[derive(Clone, PartialEq, Eq)]
pub struct StatusListRecord {
    /// The list's path segment (`/status/{id}`).
    pub id: String,
    /// The DID that signs the list (the issuer of every credential on it).
    pub issuer: String,
    pub owner: Owner,
    pub purpose: StatusPurpose,
    /// Entries (bits) in the list.
    pub size: u32,
    /// The secret of the list's index order ([`crate::vc::status::IndexPermutation`]).
    pub key: [u8; 32],
    /// Unix milliseconds.
    pub created_at: i64,
}

impl std::fmt::Debug for StatusListRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusListRecord")
            .field("id", &self.id)
            .field("issuer", &self.issuer)
            .field("purpose", &self.purpose)
            .field("size", &self.size)
            .finish()
    }
}

/// A credential's entry on a status list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusAssignment {
    pub list: String,
    pub index: u32,
    pub purpose: StatusPurpose,
}

/// The state of one of a credential's entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialStatus {
    pub assignment: StatusAssignment,
    pub set: bool,
}

/// Sets or clears a credential's bit for `purpose`. A revocation bit is never cleared: a
/// batch that tries is refused with [`StoreError::Conflict`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub credential: String,
    pub purpose: StatusPurpose,
    pub set: bool,
    /// Unix milliseconds.
    pub at: i64,
}

/// A list's bits as committed: `version` moves with every status change on the list
/// and is read before the bits, so a state is never newer-labelled than its bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusListState {
    pub version: i64,
    /// Indices whose bit is set, ascending.
    pub set: Vec<u32>,
}

/// What addresses a credential this server issued (not its content, which the holder
/// keeps): its id, who issued it in which format, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCredentialRecord {
    /// The credential's `id` (a URL; `urn:uuid:` unless the request set one).
    pub id: String,
    /// The issuer DID.
    pub issuer: String,
    /// Whose DID issued it: the server, or a user.
    pub owner: Owner,
    /// The first subject's `id`, if it has one.
    pub subject: Option<String>,
    pub types: Vec<String>,
    /// `eddsa-rdfc-2022`, `ecdsa-rdfc-2019`, `vc+jwt`...
    pub format: String,
    /// Unix milliseconds.
    pub issued_at: i64,
    /// Its status entries, in purpose order (revocation, suspension); each (list, index)
    /// is assigned once.
    pub statuses: Vec<StatusAssignment>,
}

impl Changes {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn user(mut self, user: UserRecord) -> Self {
        self.new_users.push(user);
        self
    }
    pub fn key(mut self, key: KeyRecord) -> Self {
        self.new_keys.push(key);
        self
    }
    pub fn rotation(mut self, rotation: Rotation) -> Self {
        self.rotations.push(rotation);
        self
    }
    pub fn issued(mut self, record: IssuedCredentialRecord) -> Self {
        self.issued_credentials.push(record);
        self
    }
    pub fn status(mut self, change: StatusChange) -> Self {
        self.status_changes.push(change);
        self
    }
    pub fn hold(mut self, record: HeldCredentialRecord) -> Self {
        self.held.push(record);
        self
    }
    pub fn forget(mut self, holder: UserName, id: String) -> Self {
        self.forgotten.push((holder, id));
        self
    }
    pub fn mediation(mut self, record: MediationRecord) -> Self {
        self.mediations.push(record);
        self
    }
    pub fn recipient_update(mut self, update: RecipientUpdate) -> Self {
        self.recipient_updates.push(update);
        self
    }
    pub fn enqueue(mut self, message: QueuedMessage, quota: MessageQuota) -> Self {
        self.queued.push(Enqueue { message, quota });
        self
    }
    pub fn acknowledge(mut self, recipient: String, id: String) -> Self {
        self.acknowledged.push((recipient, id));
        self
    }
    pub fn is_empty(&self) -> bool {
        self.new_users.is_empty()
            && self.new_keys.is_empty()
            && self.rotations.is_empty()
            && self.issued_credentials.is_empty()
            && self.status_changes.is_empty()
            && self.held.is_empty()
            && self.forgotten.is_empty()
            && self.mediations.is_empty()
            && self.recipient_updates.is_empty()
            && self.queued.is_empty()
            && self.acknowledged.is_empty()
    }
}

/// Atomic writes. A failed batch leaves nothing behind, and the error says why:
/// [`StoreError::Duplicate`] (an id, name or public key exists), [`StoreError::NotFound`]
/// (a rotated key, or the user of a new key, does not exist), [`StoreError::Conflict`]
/// (a rotated key is not active; of two concurrent rotations of one key exactly one wins).
#[async_trait::async_trait]
pub trait UnitOfWork: Send + Sync {
    async fn save_changes(&self, changes: &Changes) -> Result<(), StoreError>;
}

/// Reading stored keys; writing them is [`UnitOfWork::save_changes`].
#[async_trait::async_trait]
pub trait KeyStore: UnitOfWork {
    async fn get_key(&self, id: &KeyId) -> Result<Option<KeyRecord>, StoreError>;
    /// The owner's keys, oldest first; keys created in the same millisecond are ordered by
    /// key type name (`Ed25519`, `P-256`, `X25519`), then id.
    async fn list_keys(&self, owner: &Owner) -> Result<Vec<KeyRecord>, StoreError>;

    /// Inserts one key (a batch of one).
    async fn insert_key(&self, record: &KeyRecord) -> Result<(), StoreError> {
        self.save_changes(&Changes::new().key(record.clone())).await
    }

    /// Atomically retires `old` (which must be active) and inserts `new`.
    async fn rotate_key(&self, old: &KeyId, new: &KeyRecord, at: i64) -> Result<(), StoreError> {
        self.save_changes(&Changes::new().rotation(Rotation {
            retire: old.clone(),
            at,
            successor: new.clone(),
        }))
        .await
    }
}

/// Reading stored users; writing them is [`UnitOfWork::save_changes`].
#[async_trait::async_trait]
pub trait UserStore: UnitOfWork {
    async fn get_user(&self, name: &UserName) -> Result<Option<UserRecord>, StoreError>;
    /// Every user, by name.
    async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError>;
}

/// Reading the records of issued credentials; writing them is
/// [`UnitOfWork::save_changes`].
#[async_trait::async_trait]
pub trait IssuedCredentialStore: UnitOfWork {
    async fn get_issued(&self, id: &str) -> Result<Option<IssuedCredentialRecord>, StoreError>;
}

/// Status lists: reserving indices, reading bits. Assigning an index (with the issued
/// credential) and changing a bit go through [`UnitOfWork::save_changes`].
#[async_trait::async_trait]
pub trait StatusListStore: UnitOfWork {
    /// Reserves the next `count` counters (fewer if the list has fewer left, at least one)
    /// of the oldest list of `fresh.issuer` for `fresh.purpose` that is not full,
    /// inserting `fresh` when there is none. A counter is handed out once, also to
    /// concurrent callers in other processes sharing the database; one reserved but never
    /// assigned (the issuing failed, the process stopped) is skipped, never reused.
    async fn reserve_status(
        &self,
        fresh: &StatusListRecord,
        count: u32,
    ) -> Result<(StatusListRecord, std::ops::Range<u32>), StoreError>;
    async fn get_status_list(&self, id: &str) -> Result<Option<StatusListRecord>, StoreError>;
    /// Every list, oldest first.
    async fn list_status_lists(&self) -> Result<Vec<StatusListRecord>, StoreError>;
    /// The list's committed bits, or `None` when there is no such list.
    async fn status_list_state(&self, id: &str) -> Result<Option<StatusListState>, StoreError>;
    /// The list's version alone (cheap: a cache of the list's bits is checked with it).
    async fn status_list_version(&self, id: &str) -> Result<Option<i64>, StoreError>;
    /// The entries of an issued credential.
    async fn credential_status(
        &self,
        credential: &str,
    ) -> Result<Vec<CredentialStatus>, StoreError>;
}

/// Credentials one holder may keep.
pub const MAX_HELD_PER_HOLDER: u64 = 10_000;

/// A holder's credentials (the server keeps each user's; a wallet its owner's). Keeping
/// and forgetting go through [`UnitOfWork::save_changes`]: keeping an id the holder has
/// is [`StoreError::Duplicate`], forgetting one they do not is [`StoreError::NotFound`],
/// a holder of a user that does not exist is [`StoreError::NotFound`], and one more than
/// [`MAX_HELD_PER_HOLDER`] is [`StoreError::Conflict`] (checked in the batch's
/// transaction, so concurrent batches cannot pass it together).
#[async_trait::async_trait]
pub trait CredentialStore: UnitOfWork {
    async fn get_held(
        &self,
        holder: &UserName,
        id: &str,
    ) -> Result<Option<HeldCredentialRecord>, StoreError>;
    /// The holder's credentials, oldest first (then by id).
    async fn list_held(&self, holder: &UserName) -> Result<Vec<HeldCredentialRecord>, StoreError>;
    async fn count_held(&self, holder: &UserName) -> Result<u64, StoreError>;
}

/// The DIDComm mediator's state: mediations, their recipient DIDs, and the message queue
/// (FIFO per recipient). Writes go through [`UnitOfWork::save_changes`]: a message is
/// durable when the batch returns; a batch whose message would take its recipient's
/// queue past its [`MessageQuota`] fails whole with [`StoreError::QuotaExceeded`]
/// (checked in the batch's transaction; a message counts toward it until it is
/// acknowledged or purged, expired or not); a message leaves the queue only when
/// acknowledged or purged after it expired.
#[async_trait::async_trait]
pub trait MessageStore: UnitOfWork {
    async fn get_mediation(&self, client: &str) -> Result<Option<MediationRecord>, StoreError>;
    /// The recipient DIDs of a mediated DID, by the time they were added, then by DID.
    async fn recipients_of(&self, client: &str) -> Result<Vec<String>, StoreError>;
    /// The mediated DID a recipient DID belongs to.
    async fn client_of(&self, recipient: &str) -> Result<Option<String>, StoreError>;
    /// Up to `limit` messages for `recipient` not expired at `now` (Unix ms), oldest first.
    async fn queued(
        &self,
        recipient: &str,
        limit: u32,
        now: i64,
    ) -> Result<Vec<QueuedMessage>, StoreError>;
    /// The messages waiting for `recipient` (not expired at `now`).
    async fn queue_status(&self, recipient: &str, now: i64) -> Result<QueueStatus, StoreError>;
    /// Deletes up to `limit` messages expired at `now`; returns how many.
    async fn purge_expired(&self, now: i64, limit: u32) -> Result<u64, StoreError>;
}

/// Everything a server or wallet stores.
pub trait Store:
    KeyStore + UserStore + IssuedCredentialStore + StatusListStore + CredentialStore + MessageStore
{
}
impl<
    T: KeyStore + UserStore + IssuedCredentialStore + StatusListStore + CredentialStore + MessageStore,
> Store for T
{
}

#[async_trait::async_trait]
impl<T: MessageStore + ?Sized> MessageStore for std::sync::Arc<T> {
    async fn get_mediation(&self, client: &str) -> Result<Option<MediationRecord>, StoreError> {
        (**self).get_mediation(client).await
    }
    async fn recipients_of(&self, client: &str) -> Result<Vec<String>, StoreError> {
        (**self).recipients_of(client).await
    }
    async fn client_of(&self, recipient: &str) -> Result<Option<String>, StoreError> {
        (**self).client_of(recipient).await
    }
    async fn queued(
        &self,
        recipient: &str,
        limit: u32,
        now: i64,
    ) -> Result<Vec<QueuedMessage>, StoreError> {
        (**self).queued(recipient, limit, now).await
    }
    async fn queue_status(&self, recipient: &str, now: i64) -> Result<QueueStatus, StoreError> {
        (**self).queue_status(recipient, now).await
    }
    async fn purge_expired(&self, now: i64, limit: u32) -> Result<u64, StoreError> {
        (**self).purge_expired(now, limit).await
    }
}

#[async_trait::async_trait]
impl<T: CredentialStore + ?Sized> CredentialStore for std::sync::Arc<T> {
    async fn get_held(
        &self,
        holder: &UserName,
        id: &str,
    ) -> Result<Option<HeldCredentialRecord>, StoreError> {
        (**self).get_held(holder, id).await
    }
    async fn list_held(&self, holder: &UserName) -> Result<Vec<HeldCredentialRecord>, StoreError> {
        (**self).list_held(holder).await
    }
    async fn count_held(&self, holder: &UserName) -> Result<u64, StoreError> {
        (**self).count_held(holder).await
    }
}

#[async_trait::async_trait]
impl<T: StatusListStore + ?Sized> StatusListStore for std::sync::Arc<T> {
    async fn reserve_status(
        &self,
        fresh: &StatusListRecord,
        count: u32,
    ) -> Result<(StatusListRecord, std::ops::Range<u32>), StoreError> {
        (**self).reserve_status(fresh, count).await
    }
    async fn get_status_list(&self, id: &str) -> Result<Option<StatusListRecord>, StoreError> {
        (**self).get_status_list(id).await
    }
    async fn list_status_lists(&self) -> Result<Vec<StatusListRecord>, StoreError> {
        (**self).list_status_lists().await
    }
    async fn status_list_state(&self, id: &str) -> Result<Option<StatusListState>, StoreError> {
        (**self).status_list_state(id).await
    }
    async fn status_list_version(&self, id: &str) -> Result<Option<i64>, StoreError> {
        (**self).status_list_version(id).await
    }
    async fn credential_status(
        &self,
        credential: &str,
    ) -> Result<Vec<CredentialStatus>, StoreError> {
        (**self).credential_status(credential).await
    }
}

#[async_trait::async_trait]
impl<T: IssuedCredentialStore + ?Sized> IssuedCredentialStore for std::sync::Arc<T> {
    async fn get_issued(&self, id: &str) -> Result<Option<IssuedCredentialRecord>, StoreError> {
        (**self).get_issued(id).await
    }
}

#[async_trait::async_trait]
impl<T: UnitOfWork + ?Sized> UnitOfWork for std::sync::Arc<T> {
    async fn save_changes(&self, changes: &Changes) -> Result<(), StoreError> {
        (**self).save_changes(changes).await
    }
}

#[async_trait::async_trait]
impl<T: KeyStore + ?Sized> KeyStore for std::sync::Arc<T> {
    async fn get_key(&self, id: &KeyId) -> Result<Option<KeyRecord>, StoreError> {
        (**self).get_key(id).await
    }
    async fn list_keys(&self, owner: &Owner) -> Result<Vec<KeyRecord>, StoreError> {
        (**self).list_keys(owner).await
    }
}

#[async_trait::async_trait]
impl<T: UserStore + ?Sized> UserStore for std::sync::Arc<T> {
    async fn get_user(&self, name: &UserName) -> Result<Option<UserRecord>, StoreError> {
        (**self).get_user(name).await
    }
    async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        (**self).list_users().await
    }
}
