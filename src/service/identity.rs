//! The server's identities: its own `did:web:<host>` and each user's
//! `did:web:<host>:users:<name>`, with documents built from their stored keys. Signing keys
//! are also reachable as their `did:key` (same key material, linked by `alsoKnownAs`).

use std::sync::Arc;

use sea_orm::DatabaseConnection;
use serde::Serialize;
use serde_json::json;
use sichat_core::did::document::Relationship;
use sichat_core::did::web::did_web_for;
use sichat_core::did::{DidDocument, DocumentBuilder, Resolution};
use sichat_core::keys::{KeyType, PublicKey};
use sichat_core::store::{KeyRecord, KeyStatus, StoreError};

use super::{SERVER_OWNER, ServerKeys, user_owner};
use crate::store;

/// A DID this server controls, for `sichat did list` and `GET /admin/dids`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DidEntry {
    pub did: String,
    /// `server` or `user:<name>`.
    pub owner: String,
    /// `did:web`, or `did:key` for a signing key of that owner.
    pub method: String,
    /// For did:key entries, the key's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
}

pub struct IdentityService {
    db: DatabaseConnection,
    keys: Arc<ServerKeys>,
    public_url: url::Url,
    server_did: String,
}

impl IdentityService {
    pub fn new(db: DatabaseConnection, keys: Arc<ServerKeys>, public_url: &url::Url) -> Self {
        Self {
            server_did: did_web_for(public_url, &[]),
            db,
            keys,
            public_url: public_url.clone(),
        }
    }

    pub fn server_did(&self) -> &str {
        &self.server_did
    }

    pub fn user_did(&self, name: &str) -> String {
        did_web_for(&self.public_url, &["users", name])
    }

    pub fn keys(&self) -> &ServerKeys {
        &self.keys
    }

    /// The owner behind one of this server's did:web DIDs, if `did` is one.
    pub fn owner_of(&self, did: &str) -> Option<String> {
        if did == self.server_did {
            return Some(SERVER_OWNER.to_owned());
        }
        let name = did
            .strip_prefix(&self.server_did)?
            .strip_prefix(":users:")?;
        super::users::validate_name(name)
            .ok()
            .map(|_| user_owner(name))
    }

    /// Whether `did` is in this server's did:web namespace (itself or below it).
    pub fn is_own_namespace(&self, did: &str) -> bool {
        did == self.server_did
            || did
                .strip_prefix(&self.server_did)
                .is_some_and(|rest| rest.starts_with(':'))
    }

    /// The DID document of one of this server's did:web DIDs.
    pub async fn resolve_local(&self, did: &str) -> Result<Option<Resolution>, StoreError> {
        let Some(owner) = self.owner_of(did) else {
            return Ok(None);
        };
        if let Some(name) = owner.strip_prefix("user:")
            && store::users::find_by_name(&self.db, name).await?.is_none()
        {
            return Ok(None);
        }
        let records = store::keys::list(&self.db, &owner).await?;
        if records.is_empty() {
            return Ok(None);
        }
        Ok(Some(document_for(did, &records)))
    }

    pub async fn server_document(&self) -> Result<Resolution, StoreError> {
        self.resolve_local(&self.server_did).await?.ok_or_else(|| {
            StoreError::NotFound("the server has no keys (run `sichat init`)".into())
        })
    }

    pub async fn user_document(&self, name: &str) -> Result<Option<Resolution>, StoreError> {
        if super::users::validate_name(name).is_err() {
            return Ok(None);
        }
        self.resolve_local(&self.user_did(name)).await
    }

    /// Every DID this server controls: its did:web, each user's, and the did:key of every
    /// active signing key.
    pub async fn all_dids(&self) -> Result<Vec<DidEntry>, StoreError> {
        let mut out = vec![DidEntry {
            did: self.server_did.clone(),
            owner: SERVER_OWNER.into(),
            method: "did:web".into(),
            key_id: None,
        }];
        let users = store::users::list(&self.db).await?;
        for u in &users {
            out.push(DidEntry {
                did: self.user_did(&u.name),
                owner: user_owner(&u.name),
                method: "did:web".into(),
                key_id: None,
            });
        }
        let owners = std::iter::once(SERVER_OWNER.to_owned())
            .chain(users.iter().map(|u| user_owner(&u.name)));
        for owner in owners {
            for k in store::keys::list(&self.db, &owner).await? {
                if k.key_type.is_signing() && k.status == KeyStatus::Active {
                    out.push(DidEntry {
                        did: format!("did:key:{}", k.public_multibase),
                        owner: owner.clone(),
                        method: "did:key".into(),
                        key_id: Some(k.id.clone()),
                    });
                }
            }
        }
        Ok(out)
    }
}

/// Builds a did:web document from an owner's keys: active signing keys in all four signing
/// relationships, retired signing keys in `assertionMethod` only (what they signed still
/// verifies), active X25519 keys in `keyAgreement`. Method ids are the Multikey values.
pub fn document_for(did: &str, records: &[KeyRecord]) -> Resolution {
    let mut b = DocumentBuilder::new(did);
    let mut created = i64::MAX;
    let mut updated = i64::MIN;
    for r in records {
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
    let document: DidDocument = b.build();
    let iso = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let mut resolution = Resolution::new(document);
    if created != i64::MAX {
        resolution.document_metadata = json!({"created": iso(created), "updated": iso(updated)});
    }
    resolution
}
