//! The server's identities: its own `did:web:<host>` and each user's
//! `did:web:<host>:users:<name>`, with documents built from their stored keys. Signing keys
//! are also reachable as their `did:key` (same key material, linked by `alsoKnownAs`).
//!
//! Built documents are cached with their serialized bytes: a GET of a DID document is a
//! map lookup. The cache is dropped whenever the [`IdentityEpoch`] moves: at once after a
//! write in this process, and within the sync interval after a write by another process
//! sharing the database ([`IdentityService::watch`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use serde_json::json;
use sichat_core::api::{DidEntry, DidKind};
use sichat_core::did::document::Relationship;
use sichat_core::did::web::did_web_for;
use sichat_core::did::{DocumentBuilder, Resolution};
use sichat_core::id::{Did, Owner, UserName};
use sichat_core::keys::{KeyType, PublicKey};
use sichat_core::store::{KeyRecord, KeyStatus, KeyStore, StoreError, UserStore};
use tokio_util::sync::CancellationToken;

use crate::store::{SeaStore, settings};

/// The most documents kept; past it the cache starts over (a flood of distinct user names
/// must not grow memory).
const CACHE_CAPACITY: usize = 10_000;

/// A DID document of this server, ready to serve.
pub struct LocalDocument {
    pub resolution: Resolution,
    /// The document as JSON bytes.
    pub json: Bytes,
}

#[derive(Default)]
struct Cache {
    epoch: u64,
    documents: HashMap<Did, Arc<LocalDocument>>,
}

pub struct IdentityService {
    store: Arc<SeaStore>,
    public_url: url::Url,
    server_did: Did,
    cache: Mutex<Cache>,
    /// Set when the shared database names another public URL than this process serves.
    public_url_changed: AtomicBool,
    /// Whether the hosted DIDs may be listed (`GET /dids`).
    publish_list: bool,
}

impl IdentityService {
    pub fn new(store: Arc<SeaStore>, public_url: &url::Url) -> Result<Self, StoreError> {
        let server_did = did_web_for(public_url, &[])
            .map_err(|e| StoreError::Backend(format!("public URL gives no DID: {e}")))?;
        Ok(Self {
            store,
            server_did,
            public_url: public_url.clone(),
            cache: Mutex::new(Cache::default()),
            public_url_changed: AtomicBool::new(false),
            publish_list: true,
        })
    }

    pub fn server_did(&self) -> &Did {
        &self.server_did
    }

    pub fn public_url(&self) -> &url::Url {
        &self.public_url
    }

    /// The OpenID Connect issuer identifier: the public URL without a trailing slash, the
    /// same string in discovery, ID tokens and authorization responses (RPs compare it
    /// byte for byte).
    pub fn issuer(&self) -> String {
        self.public_url.as_str().trim_end_matches('/').to_owned()
    }

    pub fn user_did(&self, name: &UserName) -> Did {
        // Invariant: a user name is made of DID idchars, so the did:web of a valid server
        // DID with two more segments is valid too.
        did_web_for(&self.public_url, &["users", name.as_str()]).expect("a user's did:web is a DID")
    }

    /// The owner behind one of this server's did:web DIDs, if `did` is one.
    pub fn owner_of(&self, did: &Did) -> Option<Owner> {
        if did == &self.server_did {
            return Some(Owner::Server);
        }
        let name = did
            .as_str()
            .strip_prefix(self.server_did.as_str())?
            .strip_prefix(":users:")?;
        UserName::parse(name).ok().map(Owner::User)
    }

    /// Whether `did` is in this server's did:web namespace (itself or below it).
    pub fn is_own_namespace(&self, did: &Did) -> bool {
        did == &self.server_did
            || did
                .as_str()
                .strip_prefix(self.server_did.as_str())
                .is_some_and(|rest| rest.starts_with(':'))
    }

    /// Whether another process changed the stored public URL under this one.
    pub fn public_url_changed(&self) -> bool {
        self.public_url_changed.load(Ordering::Acquire)
    }

    fn cached(&self, did: &Did) -> Option<Arc<LocalDocument>> {
        let epoch = self.store.epoch().current();
        let mut cache = self.cache.lock().ok()?;
        if cache.epoch != epoch {
            cache.documents.clear();
            cache.epoch = epoch;
            return None;
        }
        cache.documents.get(did).cloned()
    }

    fn remember(&self, epoch: u64, did: &Did, doc: Arc<LocalDocument>) {
        if let Ok(mut cache) = self.cache.lock()
            && cache.epoch == epoch
        {
            if cache.documents.len() >= CACHE_CAPACITY {
                cache.documents.clear();
            }
            cache.documents.insert(did.clone(), doc);
        }
    }

    /// The DID document of one of this server's did:web DIDs, or `None` when `did` is not
    /// one or names no user.
    pub async fn document(&self, did: &Did) -> Result<Option<Arc<LocalDocument>>, StoreError> {
        if let Some(hit) = self.cached(did) {
            return Ok(Some(hit));
        }
        // Read the epoch before the rows: a change committed meanwhile moves it, and the
        // document built from older rows is then not kept.
        let epoch = self.store.epoch().current();
        let Some(owner) = self.owner_of(did) else {
            return Ok(None);
        };
        if let Owner::User(name) = &owner
            && self.store.get_user(name).await?.is_none()
        {
            return Ok(None);
        }
        let records = self.store.list_keys(&owner).await?;
        if records.is_empty() {
            return Ok(None);
        }
        let services = if owner == Owner::Server {
            didcomm_services(did, &self.public_url)
        } else {
            Vec::new()
        };
        let resolution = document_for(did, &records, &services);
        let json = Bytes::from(
            serde_json::to_vec(resolution.document.as_json())
                .map_err(|e| StoreError::Backend(e.to_string()))?,
        );
        let doc = Arc::new(LocalDocument { resolution, json });
        self.remember(epoch, did, doc.clone());
        Ok(Some(doc))
    }

    pub async fn server_document(&self) -> Result<Arc<LocalDocument>, StoreError> {
        self.document(&self.server_did).await?.ok_or_else(|| {
            StoreError::NotFound("the server has no keys (run `sichat init`)".into())
        })
    }

    pub async fn user_document(
        &self,
        name: &UserName,
    ) -> Result<Option<Arc<LocalDocument>>, StoreError> {
        self.document(&self.user_did(name)).await
    }

    /// Every DID this server controls: its did:web, each user's, and the did:key of every
    /// active signing key.
    /// Whether `GET /dids` lists the hosted DIDs (`publish_did_list`).
    pub fn with_published_list(mut self, publish: bool) -> Self {
        self.publish_list = publish;
        self
    }

    /// The did:web identifiers hosted here (the server's, then each user's), or `None`
    /// when they are not to be listed.
    pub async fn hosted_dids(&self) -> Result<Option<Vec<Did>>, StoreError> {
        if !self.publish_list {
            return Ok(None);
        }
        let users = self.store.list_users().await?;
        Ok(Some(
            std::iter::once(self.server_did.clone())
                .chain(users.iter().map(|u| self.user_did(&u.name)))
                .collect(),
        ))
    }

    pub async fn all_dids(&self) -> Result<Vec<DidEntry>, StoreError> {
        let mut out = vec![DidEntry {
            did: self.server_did.clone(),
            owner: Owner::Server,
            method: DidKind::Web,
            key_id: None,
        }];
        let users = self.store.list_users().await?;
        for u in &users {
            out.push(DidEntry {
                did: self.user_did(&u.name),
                owner: Owner::User(u.name.clone()),
                method: DidKind::Web,
                key_id: None,
            });
        }
        let owners =
            std::iter::once(Owner::Server).chain(users.into_iter().map(|u| Owner::User(u.name)));
        for owner in owners {
            out.extend(self.key_dids(&owner).await?);
        }
        Ok(out)
    }

    /// The did:key of each of `owner`'s active signing keys.
    async fn key_dids(&self, owner: &Owner) -> Result<Vec<DidEntry>, StoreError> {
        let mut out = Vec::new();
        for k in self.store.list_keys(owner).await? {
            if k.key_type.is_signing()
                && k.key_type.in_did_documents()
                && k.status == KeyStatus::Active
                && let Ok(public) = PublicKey::from_multibase(&k.public_multibase)
            {
                out.push(DidEntry {
                    did: sichat_core::did::key::did_key(&public),
                    owner: owner.clone(),
                    method: DidKind::Key,
                    key_id: Some(k.id.clone()),
                });
            }
        }
        Ok(out)
    }

    /// The DIDs that name one user: their did:web and the did:key of their active keys.
    pub async fn user_dids(&self, name: &UserName) -> Result<Vec<Did>, StoreError> {
        let owner = Owner::User(name.clone());
        let mut out = vec![self.user_did(name)];
        out.extend(self.key_dids(&owner).await?.into_iter().map(|e| e.did));
        Ok(out)
    }

    /// Follows changes made by other processes sharing the database (CLI commands, other
    /// instances): every `interval`, reads the identity stamp and the public URL; a new
    /// stamp drops this process's cached documents, and a public URL other than the one
    /// served makes the instance report itself not ready (it must be restarted).
    pub async fn watch(self: Arc<Self>, interval: Duration, stop: CancellationToken) {
        // The stamp last seen (itself optional: no change was ever stamped).
        let mut seen: Option<Option<String>> = None;
        let served = self.public_url.as_str().trim_end_matches('/').to_owned();
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let db = self.store.db();
            match settings::get(db, settings::IDENTITY_STAMP).await {
                Ok(stamp) => {
                    // The first reading is the baseline: anything cached before it goes.
                    if seen.as_ref() != Some(&stamp) {
                        self.store.epoch().bump();
                    }
                    seen = Some(stamp);
                }
                Err(e) => tracing::warn!(error = %e, "identity sync: cannot read the database"),
            }
            if let Ok(Some(stored)) = settings::get(db, settings::PUBLIC_URL).await
                && stored != served
                && !self.public_url_changed.swap(true, Ordering::AcqRel)
            {
                tracing::error!(stored = %stored, served = %served,
                    "the public URL was changed in the database; this instance still serves the old DIDs and reports not ready until restarted");
            }
        }
    }
}

/// The server's DIDComm services (the mediator): `#didcomm-1` over HTTP(S), `#didcomm-2`
/// over WebSocket, in that order (clients such as the IOHK mediator test suite take the
/// first as HTTP and the second as WebSocket).
pub fn didcomm_services(did: &Did, public_url: &url::Url) -> Vec<serde_json::Value> {
    let base = public_url.as_str().trim_end_matches('/');
    let ws = match base.strip_prefix("https://") {
        Some(rest) => format!("wss://{rest}"),
        None => format!("ws://{}", base.trim_start_matches("http://")),
    };
    vec![
        json!({"id": did.with_fragment("didcomm-1"), "type": "DIDCommMessaging",
            "serviceEndpoint": {"uri": format!("{base}/didcomm"), "accept": ["didcomm/v2"], "routingKeys": []}}),
        json!({"id": did.with_fragment("didcomm-2"), "type": "DIDCommMessaging",
            "serviceEndpoint": {"uri": format!("{ws}/didcomm/ws"), "accept": ["didcomm/v2"], "routingKeys": []}}),
    ]
}

/// Builds a did:web document from an owner's keys: active signing keys in all four signing
/// relationships, retired signing keys in `assertionMethod` only (what they signed still
/// verifies), active X25519 keys in `keyAgreement`; never RSA keys (ID tokens only).
/// Method ids are the Multikey values.
pub fn document_for(
    did: &Did,
    records: &[KeyRecord],
    services: &[serde_json::Value],
) -> Resolution {
    let mut b = DocumentBuilder::new(did);
    for s in services {
        b.service(s.clone());
    }
    let mut created = i64::MAX;
    let mut updated = i64::MIN;
    for r in records.iter().filter(|r| r.key_type.in_did_documents()) {
        created = created.min(r.created_at);
        updated = updated.max(r.retired_at.unwrap_or(r.created_at));
        let Ok(key) = PublicKey::from_multibase(&r.public_multibase) else {
            tracing::error!(key = %r.id, "stored public key is corrupt; left out of the DID document");
            continue;
        };
        let rels: &[Relationship] = match (r.key_type, r.status) {
            (KeyType::X25519, KeyStatus::Active) => &[Relationship::KeyAgreement],
            (KeyType::X25519, KeyStatus::Retired) => &[],
            (_, KeyStatus::Active) => &Relationship::SIGNING,
            (_, KeyStatus::Retired) => &[Relationship::AssertionMethod],
        };
        b.multikey(&r.public_multibase, &key, rels);
        if r.key_type.is_signing() && r.status == KeyStatus::Active {
            b.also_known_as(format!("did:key:{}", r.public_multibase));
        }
    }
    let mut resolution = Resolution::new(b.build());
    if created != i64::MAX {
        // DID Resolution §7.2: `created` / `updated` are XML datetimes (seconds suffice).
        let iso = |ms: i64| {
            chrono::DateTime::from_timestamp_millis(ms)
                .unwrap_or_default()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        };
        resolution.document_metadata = json!({"created": iso(created), "updated": iso(updated)});
    }
    resolution
}

#[cfg(test)]
mod tests {
    use super::*;
    use sichat_core::id::KeyId;

    const ED: &str = "z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp";
    const ED_OLD: &str = "z6MkpTHR8VNsBxYAAWHut2Geadd9jSwuBV8xRoAnwWsdvktH";
    const P256: &str = "zDnaerx9CtbPJ1q36T5Ln5wYt3MQYeGRG5ehnPAmxcf5mDZpv";
    const X: &str = "z6LSeu9HkTHSfLLeUs2nnzUSNedgDUevfNQgQjQC23ZCit6F";

    fn record(mb: &str, key_type: KeyType, status: KeyStatus, created_at: i64) -> KeyRecord {
        KeyRecord {
            id: KeyId::generate(),
            owner: Owner::Server,
            key_type,
            public_multibase: mb.into(),
            sealed_private: vec![],
            status,
            created_at,
            retired_at: (status == KeyStatus::Retired).then_some(created_at + 1000),
        }
    }

    /// The wire format of the documents Sichat serves, pinned.
    #[test]
    fn did_web_document_shape_is_pinned() {
        let did = Did::parse("did:web:id.example").unwrap();
        let records = [
            record(
                ED_OLD,
                KeyType::Ed25519,
                KeyStatus::Retired,
                1_700_000_000_000,
            ),
            record(ED, KeyType::Ed25519, KeyStatus::Active, 1_700_000_001_000),
            record(P256, KeyType::P256, KeyStatus::Active, 1_700_000_001_000),
            record(X, KeyType::X25519, KeyStatus::Active, 1_700_000_001_000),
        ];
        let resolution = document_for(&did, &records, &[]);
        let did = did.as_str();
        let vm = |mb: &str| json!({"id": format!("{did}#{mb}"), "type": "Multikey", "controller": did, "publicKeyMultibase": mb});
        let id = |mb: &str| format!("{did}#{mb}");
        let expected = json!({
            "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
            "id": did,
            "alsoKnownAs": [format!("did:key:{ED}"), format!("did:key:{P256}")],
            "verificationMethod": [vm(ED_OLD), vm(ED), vm(P256), vm(X)],
            "authentication": [id(ED), id(P256)],
            "assertionMethod": [id(ED_OLD), id(ED), id(P256)],
            "capabilityInvocation": [id(ED), id(P256)],
            "capabilityDelegation": [id(ED), id(P256)],
            "keyAgreement": [id(X)],
        });
        assert_eq!(resolution.document.as_json(), &expected);
        assert_eq!(
            resolution.document_metadata,
            json!({"created": "2023-11-14T22:13:20Z", "updated": "2023-11-14T22:13:21Z"})
        );
    }
}
