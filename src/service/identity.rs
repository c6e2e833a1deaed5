//! The server's identities: its own `did:web:<host>` and each user's
//! `did:web:<host>:users:<name>`, with documents built from their stored keys. Signing keys
//! are also reachable as their `did:key` (same key material, linked by `alsoKnownAs`).

use sea_orm::DatabaseConnection;
use serde::Serialize;
use serde_json::json;
use sichat_core::did::document::Relationship;
use sichat_core::did::web::did_web_for;
use sichat_core::did::{DidDocument, DocumentBuilder, Resolution};
use sichat_core::keys::{KeyType, PublicKey};
use sichat_core::store::{KeyRecord, KeyStatus, StoreError};

use super::users::UserName;
use super::{SERVER_OWNER, user_owner};
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
    public_url: url::Url,
    server_did: String,
}

impl IdentityService {
    pub fn new(db: DatabaseConnection, public_url: &url::Url) -> Self {
        Self {
            server_did: did_web_for(public_url, &[]),
            db,
            public_url: public_url.clone(),
        }
    }

    pub fn server_did(&self) -> &str {
        &self.server_did
    }

    pub fn user_did(&self, name: &str) -> String {
        did_web_for(&self.public_url, &["users", name])
    }

    /// The owner behind one of this server's did:web DIDs, if `did` is one.
    pub fn owner_of(&self, did: &str) -> Option<String> {
        if did == self.server_did {
            return Some(SERVER_OWNER.to_owned());
        }
        let name = did
            .strip_prefix(&self.server_did)?
            .strip_prefix(":users:")?;
        UserName::parse(name).ok().map(|n| n.owner())
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
        if UserName::parse(name).is_err() {
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

#[cfg(test)]
mod tests {
    use super::*;
    use sichat_core::keys::KeyType;

    const ED: &str = "z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp";
    const ED_OLD: &str = "z6MkpTHR8VNsBxYAAWHut2Geadd9jSwuBV8xRoAnwWsdvktH";
    const P256: &str = "zDnaerx9CtbPJ1q36T5Ln5wYt3MQYeGRG5ehnPAmxcf5mDZpv";
    const X: &str = "z6LSeu9HkTHSfLLeUs2nnzUSNedgDUevfNQgQjQC23ZCit6F";

    fn record(mb: &str, key_type: KeyType, status: KeyStatus, created_at: i64) -> KeyRecord {
        KeyRecord {
            id: format!("k-{mb}"),
            owner: "server".into(),
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
        let did = "did:web:id.example";
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
        let resolution = document_for(did, &records);
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
