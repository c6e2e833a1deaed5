//! Identities a client creates by itself: a `did:key` (one Ed25519 key) or a `did:peer:2`
//! (an Ed25519 signing key and an X25519 key-agreement key, optionally a DIDComm service).

use serde_json::{Value, json};
use sichat_core::did::key::did_key;
use sichat_core::did::peer::{Purpose, create_peer2};
use sichat_core::id::Did;
use sichat_core::keys::{KeyType, SecretKey};

/// The DID method of a new local identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Method {
    Key,
    Peer,
}

/// A DID with its private keys.
pub struct LocalIdentity {
    pub did: Did,
    /// `(verification method id, key)`.
    pub keys: Vec<(String, SecretKey)>,
}

impl std::fmt::Debug for LocalIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalIdentity")
            .field("did", &self.did)
            .field("keys", &self.keys.len())
            .finish()
    }
}

/// Creates a fresh identity. `endpoint` adds a DIDComm service to a did:peer:2.
pub fn create(method: Method, endpoint: Option<&str>) -> LocalIdentity {
    let signing = SecretKey::generate(KeyType::Ed25519);
    match method {
        Method::Key => {
            let did = did_key(&signing.public_key());
            let vm = did.with_fragment(&signing.public_key().to_multibase());
            LocalIdentity {
                did,
                keys: vec![(vm, signing)],
            }
        }
        Method::Peer => {
            let agreement = SecretKey::generate(KeyType::X25519);
            let services: Vec<Value> = endpoint
                .map(|uri| json!({"type": "DIDCommMessaging", "serviceEndpoint": {"uri": uri, "accept": ["didcomm/v2"], "routingKeys": []}}))
                .into_iter()
                .collect();
            let (sp, ap) = (signing.public_key(), agreement.public_key());
            let did = create_peer2(
                &[(Purpose::Verification, &sp), (Purpose::Encryption, &ap)],
                &services,
            );
            // SICPA-style ids: '#' + the first 8 characters after 'z'.
            let short = |mb: String| mb.chars().skip(1).take(8).collect::<String>();
            let keys = vec![
                (did.with_fragment(&short(ap.to_multibase())), agreement),
                (did.with_fragment(&short(sp.to_multibase())), signing),
            ];
            LocalIdentity { did, keys }
        }
    }
}

impl LocalIdentity {
    /// The identity as JSON with private JWKs, for a file only its owner can read.
    pub fn to_private_json(&self) -> Value {
        let keys: Vec<Value> = self
            .keys
            .iter()
            .map(|(id, k)| json!({"id": id, "privateKeyJwk": k.to_private_jwk_value()}))
            .collect();
        json!({"did": self.did.as_str(), "keys": keys})
    }

    /// Reads what [`Self::to_private_json`] wrote.
    pub fn from_private_json(value: &Value) -> Result<Self, String> {
        let did = value.get("did").and_then(Value::as_str).ok_or("no `did`")?;
        let did = Did::parse(did).map_err(|e| e.to_string())?;
        let keys = value
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("no `keys`")?
            .iter()
            .map(|k| {
                let id = k
                    .get("id")
                    .and_then(Value::as_str)
                    .ok_or("a key has no `id`")?;
                let jwk = k
                    .get("privateKeyJwk")
                    .ok_or("a key has no `privateKeyJwk`")?;
                let key = SecretKey::from_jwk_value(jwk).map_err(|e| format!("`{id}`: {e}"))?;
                Ok((id.to_owned(), key))
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Self { did, keys })
    }

    /// The first key that signs (Ed25519 or P-256) and its method id.
    pub fn signing_key(&self) -> Option<(&str, &SecretKey)> {
        self.keys
            .iter()
            .find(|(_, k)| matches!(k.key_type(), KeyType::Ed25519 | KeyType::P256))
            .map(|(id, k)| (id.as_str(), k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sichat_core::did::StandardResolver;

    #[test]
    fn created_identities_resolve_offline_with_their_keys() {
        for method in [Method::Key, Method::Peer] {
            let id = create(method, Some("https://mediator.example/didcomm"));
            let doc = StandardResolver::resolve_offline(&id.did).unwrap().document;
            for (vm, key) in &id.keys {
                let found = doc
                    .verification_method(vm)
                    .unwrap_or_else(|| panic!("{vm} in {}", id.did));
                assert_eq!(
                    sichat_core::did::DidDocument::public_key_of(found).unwrap(),
                    key.public_key()
                );
            }
        }
    }
}
