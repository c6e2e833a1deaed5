//! DID documents (DID Core §5) as validated JSON, and a builder for the documents Sichat
//! produces. Documents fetched from elsewhere keep every property they carry; relative ids
//! (`#key-1`) are made absolute so lookups work by full DID URL.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::resolver::ResolveError;
use crate::id::Did;
use crate::keys::PublicKey;

pub const DID_CONTEXT_V1: &str = "https://www.w3.org/ns/did/v1";
pub const MULTIKEY_CONTEXT_V1: &str = "https://w3id.org/security/multikey/v1";
pub const JWS_2020_CONTEXT: &str = "https://w3id.org/security/suites/jws-2020/v1";
pub const ED25519_2020_CONTEXT: &str = "https://w3id.org/security/suites/ed25519-2020/v1";
pub const X25519_2020_CONTEXT: &str = "https://w3id.org/security/suites/x25519-2020/v1";

/// Verification relationships (DID Core §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relationship {
    Authentication,
    AssertionMethod,
    KeyAgreement,
    CapabilityInvocation,
    CapabilityDelegation,
}

impl Relationship {
    pub const ALL: [Relationship; 5] = [
        Relationship::Authentication,
        Relationship::AssertionMethod,
        Relationship::KeyAgreement,
        Relationship::CapabilityInvocation,
        Relationship::CapabilityDelegation,
    ];
    /// The four relationships of a signing key.
    pub const SIGNING: [Relationship; 4] = [
        Relationship::Authentication,
        Relationship::AssertionMethod,
        Relationship::CapabilityInvocation,
        Relationship::CapabilityDelegation,
    ];

    pub fn property(self) -> &'static str {
        match self {
            Relationship::Authentication => "authentication",
            Relationship::AssertionMethod => "assertionMethod",
            Relationship::KeyAgreement => "keyAgreement",
            Relationship::CapabilityInvocation => "capabilityInvocation",
            Relationship::CapabilityDelegation => "capabilityDelegation",
        }
    }
}

/// A DID document: a JSON object whose `id` is the DID it was resolved for. Cloning it is
/// cheap (the JSON is shared): caches hand out clones.
#[derive(Debug, Clone, PartialEq)]
pub struct DidDocument {
    did: Did,
    json: Arc<Value>,
}

impl DidDocument {
    /// Validates a document obtained for `did`: an object, `id` equal to `did`, verification
    /// methods with `id`/`type`/`controller`. Relative ids are resolved against `did`.
    pub fn from_json(did: &Did, value: Value) -> Result<Self, ResolveError> {
        let did_str = did.as_str();
        let Value::Object(mut obj) = value else {
            return Err(ResolveError::InvalidDocument("not a JSON object".into()));
        };
        match obj.get("id").and_then(Value::as_str) {
            Some(id) if id == did_str => {}
            Some(id) => {
                // The id comes from elsewhere: echo a bounded prefix of it.
                let shown: String = id.chars().take(100).collect();
                return Err(ResolveError::InvalidDocument(format!(
                    "`id` is `{shown}`, expected `{did}`"
                )));
            }
            None => return Err(ResolveError::InvalidDocument("missing `id`".into())),
        }
        let absolute = |v: &mut Value| {
            if let Some(s) = v.as_str()
                && s.starts_with('#')
            {
                *v = Value::String(format!("{did_str}{s}"));
            }
        };
        if let Some(vms) = obj.get_mut("verificationMethod") {
            let Value::Array(vms) = vms else {
                return Err(ResolveError::InvalidDocument(
                    "`verificationMethod` is not an array".into(),
                ));
            };
            for vm in vms.iter_mut() {
                check_method(vm)?;
                if let Some(id) = vm.get_mut("id") {
                    absolute(id);
                }
            }
        }
        for rel in Relationship::ALL {
            let Some(entries) = obj.get_mut(rel.property()) else {
                continue;
            };
            let Value::Array(entries) = entries else {
                return Err(ResolveError::InvalidDocument(format!(
                    "`{}` is not an array",
                    rel.property()
                )));
            };
            for entry in entries.iter_mut() {
                match entry {
                    Value::String(_) => absolute(entry),
                    Value::Object(_) => {
                        check_method(entry)?;
                        if let Some(id) = entry.get_mut("id") {
                            absolute(id);
                        }
                    }
                    _ => {
                        return Err(ResolveError::InvalidDocument(format!(
                            "`{}` holds neither a reference nor a method",
                            rel.property()
                        )));
                    }
                }
            }
        }
        if let Some(Value::Array(services)) = obj.get_mut("service") {
            for s in services.iter_mut() {
                if let Some(id) = s.get_mut("id") {
                    absolute(id);
                }
            }
        }
        Ok(Self {
            did: did.clone(),
            json: Arc::new(Value::Object(obj)),
        })
    }

    pub fn id(&self) -> &str {
        self.did.as_str()
    }

    /// The DID this document was obtained for (its `id`).
    pub fn did(&self) -> &Did {
        &self.did
    }

    pub fn as_json(&self) -> &Value {
        &self.json
    }

    pub fn into_json(self) -> Value {
        Arc::unwrap_or_clone(self.json)
    }

    /// All verification methods: `verificationMethod` entries and methods embedded in
    /// relationships.
    pub fn verification_methods(&self) -> impl Iterator<Item = &Value> {
        let listed = self
            .json
            .get("verificationMethod")
            .and_then(Value::as_array)
            .into_iter()
            .flatten();
        let embedded = Relationship::ALL
            .into_iter()
            .filter_map(|r| self.json.get(r.property()).and_then(Value::as_array))
            .flatten()
            .filter(|v| v.is_object());
        listed.chain(embedded)
    }

    /// `#fragment` made absolute against this document's DID.
    fn absolute(&self, did_url: &str) -> String {
        if did_url.starts_with('#') {
            format!("{}{did_url}", self.id())
        } else {
            did_url.to_owned()
        }
    }

    /// Finds a verification method by DID URL (absolute, or a `#fragment`). For `did:peer:2`
    /// both key-id conventions resolve to the same key (see [`super::peer`]).
    pub fn verification_method(&self, did_url: &str) -> Option<&Value> {
        let wanted = self.absolute(did_url);
        let found = self
            .verification_methods()
            .find(|vm| vm.get("id").and_then(Value::as_str) == Some(&wanted));
        found.or_else(|| {
            let alias = super::peer::alias_key_id(self, &wanted)?;
            self.verification_methods()
                .find(|vm| vm.get("id").and_then(Value::as_str) == Some(&alias))
        })
    }

    /// Finds a service by DID URL (absolute, or a `#fragment`).
    pub fn service(&self, did_url: &str) -> Option<&Value> {
        let wanted = self.absolute(did_url);
        self.json
            .get("service")
            .and_then(Value::as_array)?
            .iter()
            .find(|s| s.get("id").and_then(Value::as_str) == Some(&wanted))
    }

    /// DID URL dereferencing of a fragment (DID Core §7.2, DID Resolution §Dereferencing):
    /// the verification method or service the fragment names.
    pub fn dereference(&self, fragment: &str) -> Option<&Value> {
        let url = self.did.with_fragment(fragment);
        self.verification_method(&url)
            .or_else(|| self.service(&url))
    }

    /// The ids referenced (or embedded) under a verification relationship.
    pub fn relationship(&self, rel: Relationship) -> Vec<&str> {
        self.json
            .get(rel.property())
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().or_else(|| v.get("id").and_then(Value::as_str)))
            .collect()
    }

    /// The public key of a verification method: `publicKeyMultibase`, `publicKeyJwk` or
    /// the legacy `publicKeyBase58` (Ed25519/X25519 2018–2019 suites).
    pub fn public_key_of(method: &Value) -> Result<PublicKey, ResolveError> {
        let bad = |e: crate::keys::KeyError| ResolveError::InvalidPublicKey(e.to_string());
        if let Some(mb) = method.get("publicKeyMultibase").and_then(Value::as_str) {
            return PublicKey::from_multibase_cached(mb).map_err(bad);
        }
        if let Some(jwk) = method.get("publicKeyJwk") {
            return PublicKey::from_jwk_value(jwk).map_err(bad);
        }
        if let Some(b58) = method.get("publicKeyBase58").and_then(Value::as_str) {
            let key_type = match method.get("type").and_then(Value::as_str) {
                Some("Ed25519VerificationKey2018" | "Ed25519VerificationKey2020") => {
                    crate::keys::KeyType::Ed25519
                }
                Some("X25519KeyAgreementKey2019" | "X25519KeyAgreementKey2020") => {
                    crate::keys::KeyType::X25519
                }
                other => {
                    return Err(ResolveError::InvalidPublicKey(format!(
                        "publicKeyBase58 with type {other:?}"
                    )));
                }
            };
            let raw = bs58::decode(b58)
                .into_vec()
                .map_err(|e| ResolveError::InvalidPublicKey(e.to_string()))?;
            return PublicKey::from_bytes(key_type, &raw).map_err(bad);
        }
        Err(ResolveError::InvalidPublicKey(
            "no supported public key property".into(),
        ))
    }
}

fn check_method(vm: &Value) -> Result<(), ResolveError> {
    for member in ["id", "type", "controller"] {
        if vm.get(member).and_then(Value::as_str).is_none() {
            return Err(ResolveError::InvalidDocument(format!(
                "verification method without string `{member}`"
            )));
        }
    }
    Ok(())
}

/// Builds the documents Sichat itself produces.
#[derive(Debug, Clone)]
pub struct DocumentBuilder {
    did: Did,
    contexts: Vec<&'static str>,
    methods: Vec<Value>,
    relationships: Vec<(Relationship, String)>,
    services: Vec<Value>,
    also_known_as: Vec<String>,
}

impl DocumentBuilder {
    pub fn new(did: &Did) -> Self {
        Self {
            did: did.clone(),
            contexts: vec![DID_CONTEXT_V1],
            methods: Vec::new(),
            relationships: Vec::new(),
            services: Vec::new(),
            also_known_as: Vec::new(),
        }
    }

    pub fn context(&mut self, ctx: &'static str) -> &mut Self {
        if !self.contexts.contains(&ctx) {
            self.contexts.push(ctx);
        }
        self
    }

    /// Adds a verification method object as is (its id must be absolute).
    pub fn method(&mut self, method: Value, relationships: &[Relationship]) -> &mut Self {
        let id = method
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let known = self
            .methods
            .iter()
            .any(|m| m.get("id").and_then(Value::as_str) == Some(&id));
        if !known {
            self.methods.push(method);
        }
        for rel in relationships {
            if !self.relationships.iter().any(|(r, i)| r == rel && *i == id) {
                self.relationships.push((*rel, id.clone()));
            }
        }
        self
    }

    /// Adds a `Multikey` verification method for `key` with the given fragment.
    pub fn multikey(
        &mut self,
        fragment: &str,
        key: &PublicKey,
        relationships: &[Relationship],
    ) -> &mut Self {
        self.context(MULTIKEY_CONTEXT_V1);
        let method = json!({
            "id": self.did.with_fragment(fragment),
            "type": "Multikey",
            "controller": self.did.as_str(),
            "publicKeyMultibase": key.to_multibase(),
        });
        self.method(method, relationships)
    }

    pub fn service(&mut self, service: Value) -> &mut Self {
        self.services.push(service);
        self
    }

    pub fn also_known_as(&mut self, uri: String) -> &mut Self {
        if !self.also_known_as.contains(&uri) {
            self.also_known_as.push(uri);
        }
        self
    }

    pub fn build(&self) -> DidDocument {
        let mut obj = Map::new();
        obj.insert("@context".into(), json!(self.contexts));
        obj.insert("id".into(), json!(self.did.as_str()));
        if !self.also_known_as.is_empty() {
            obj.insert("alsoKnownAs".into(), json!(self.also_known_as));
        }
        obj.insert(
            "verificationMethod".into(),
            Value::Array(self.methods.clone()),
        );
        for rel in Relationship::ALL {
            let ids: Vec<&String> = self
                .relationships
                .iter()
                .filter(|(r, _)| *r == rel)
                .map(|(_, id)| id)
                .collect();
            if !ids.is_empty() {
                obj.insert(rel.property().into(), json!(ids));
            }
        }
        if !self.services.is_empty() {
            obj.insert("service".into(), Value::Array(self.services.clone()));
        }
        DidDocument {
            did: self.did.clone(),
            json: Arc::new(Value::Object(obj)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn did(s: &str) -> Did {
        Did::parse(s).unwrap()
    }

    #[test]
    fn relative_ids_become_absolute_and_resolve() {
        let doc = DidDocument::from_json(
            &did("did:web:example.com"),
            json!({"id":"did:web:example.com","verificationMethod":[{"id":"#k1","type":"Multikey",
              "controller":"did:web:example.com","publicKeyMultibase":"z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"}],
              "assertionMethod":["#k1"]}),
        )
        .unwrap();
        assert_eq!(
            doc.relationship(Relationship::AssertionMethod),
            vec!["did:web:example.com#k1"]
        );
        let vm = doc.verification_method("#k1").unwrap();
        assert!(DidDocument::public_key_of(vm).is_ok());
    }

    #[test]
    fn documents_for_another_did_or_malformed_are_refused() {
        let err = DidDocument::from_json(&did("did:web:a.com"), json!({"id":"did:web:b.com"}))
            .unwrap_err();
        assert_eq!(err.code(), "invalidDidDocument");
        assert!(DidDocument::from_json(&did("did:web:a.com"), json!([1])).is_err());
        assert!(
            DidDocument::from_json(
                &did("did:web:a.com"),
                json!({"id":"did:web:a.com","verificationMethod":{}})
            )
            .is_err()
        );
        assert!(
            DidDocument::from_json(
                &did("did:web:a.com"),
                json!({"id":"did:web:a.com","verificationMethod":[{"id":"#x"}]})
            )
            .is_err()
        );
        assert!(
            DidDocument::from_json(
                &did("did:web:a.com"),
                json!({"id":"did:web:a.com","authentication":[3]})
            )
            .is_err()
        );
    }
}
