//! Trust bundles: what an offline verifier needs, gathered while online.
//!
//! A bundle is one versioned JSON file holding pinned DID documents (did:web; the offline
//! methods need none), status list credentials as their issuers published them, extra
//! JSON-LD contexts and, optionally, the issuers to trust. Each pinned input carries the
//! time it was fetched, so a verdict can say how fresh it was. A bundle may be signed by
//! a DID: a compact JWS over the SHA-256 of the bundle's JCS form (RFC 8785) without its
//! `signature` member; loading checks that signature whenever one is present. A signature
//! says who made the bundle and that nothing changed since; whether that maker is trusted
//! is the caller's to say ([`LoadedBundle::require_signer`], `verify --bundle-signer`).
//!
//! Loading checks the structure and the bounds below; it trusts nothing it pins: a pinned
//! status list is verified (proof, issuer) every time a verdict uses it, exactly as a
//! server verifies the list it fetches.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Utc};
use json_syntax::Print;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use sichat_core::contexts::{ContextError, Contexts};
use sichat_core::did::{DidDocument, Relationship, StandardResolver};
use sichat_core::id::Did;
use sichat_core::keys::SecretKey;
use sichat_core::keys::jws::{self, JwsAlg};
use sichat_core::vc::methods::method_in;

/// The bundle format this library writes and reads.
pub const VERSION: u32 = 1;
/// The `type` of a bundle file.
pub const BUNDLE_TYPE: &str = "SichatTrustBundle";
/// The `typ` of a bundle's signature.
pub const SIGNATURE_TYP: &str = "sichat-trust-bundle+jws";

/// Bounds on what a bundle may hold (a bundle is input: it may come from anywhere).
pub const MAX_BYTES: usize = 256 * 1024 * 1024;
pub const MAX_DOCUMENTS: usize = 100_000;
pub const MAX_STATUS_LISTS: usize = 10_000;
pub const MAX_CONTEXTS: usize = 256;
pub const MAX_TRUSTED_ISSUERS: usize = 100_000;

/// A pinned DID document.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PinnedDocument {
    pub did: String,
    pub document: Value,
    pub fetched_at: DateTime<Utc>,
}

/// A pinned status list credential, as published (a JSON object, or a `vc+jwt` string).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PinnedStatusList {
    pub url: String,
    pub credential: Value,
    pub fetched_at: DateTime<Utc>,
    /// The list credential's `validUntil`, read when it was pinned: past it, the pinned
    /// copy says nothing about status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<DateTime<Utc>>,
}

/// An extra JSON-LD context (beyond the vetted ones built into `sichat-core`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PinnedContext {
    pub url: String,
    pub document: Value,
}

/// Where a bundle's inputs came from, so that `refresh` fetches them again.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Sources {
    /// A Sichat server whose DIDs and status lists were pinned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dids: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub status_lists: Vec<String>,
}

/// A bundle's signature: a compact JWS whose payload is `{"bundleSha256": ...}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BundleSignature {
    pub jws: String,
}

/// A trust bundle (see the module documentation).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrustBundle {
    #[serde(rename = "type")]
    pub kind: String,
    pub version: u32,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub sources: Sources,
    #[serde(default)]
    pub did_documents: Vec<PinnedDocument>,
    #[serde(default)]
    pub status_lists: Vec<PinnedStatusList>,
    #[serde(default)]
    pub contexts: Vec<PinnedContext>,
    /// When set, only credentials from these issuers are accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_issuers: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<BundleSignature>,
}

/// Why a bundle was refused.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("the bundle is not valid JSON of the trust bundle format: {0}")]
    Malformed(String),
    #[error("the bundle is larger than {MAX_BYTES} bytes")]
    TooLarge,
    #[error("bundle version {0} is not supported (this library reads version {VERSION})")]
    UnsupportedVersion(u32),
    #[error("the bundle holds {count} {what}; at most {max} are accepted")]
    TooMany {
        what: &'static str,
        count: usize,
        max: usize,
    },
    #[error("pinned DID document for `{did}`: {reason}")]
    InvalidDocument { did: String, reason: String },
    #[error("`{0}` is pinned twice")]
    Duplicate(String),
    #[error(transparent)]
    Context(#[from] ContextError),
    #[error("the bundle's signature does not verify: {0}")]
    BadSignature(String),
    #[error("the bundle is not signed, and a signature by `{0}` is required")]
    Unsigned(String),
    #[error("the bundle is signed by `{found}`, not by the required `{expected}`")]
    WrongSigner { expected: String, found: String },
    #[error("cannot sign the bundle: {0}")]
    Sign(String),
}

/// A bundle that loaded: its parts indexed for the verifier.
#[derive(Debug, Clone)]
pub struct LoadedBundle {
    pub bundle: TrustBundle,
    /// The DID that signed it, when it is signed (the signature verified).
    pub signer: Option<String>,
    pub(crate) documents: HashMap<String, (DidDocument, DateTime<Utc>)>,
    pub(crate) lists: HashMap<String, PinnedStatusList>,
    pub(crate) contexts: Contexts,
}

impl TrustBundle {
    /// An empty bundle created now.
    pub fn new(created_at: DateTime<Utc>) -> Self {
        Self {
            kind: BUNDLE_TYPE.into(),
            version: VERSION,
            created_at,
            sources: Sources::default(),
            did_documents: Vec::new(),
            status_lists: Vec::new(),
            contexts: Vec::new(),
            trusted_issuers: None,
            signature: None,
        }
    }

    /// Parses and checks a bundle file: format, bounds, documents, contexts and, when
    /// present, the signature.
    pub fn load(bytes: &[u8]) -> Result<LoadedBundle, BundleError> {
        if bytes.len() > MAX_BYTES {
            return Err(BundleError::TooLarge);
        }
        let bundle: TrustBundle =
            serde_json::from_slice(bytes).map_err(|e| BundleError::Malformed(e.to_string()))?;
        bundle.index()
    }

    /// Checks this bundle and indexes it for verification.
    pub fn index(self) -> Result<LoadedBundle, BundleError> {
        if self.kind != BUNDLE_TYPE {
            return Err(BundleError::Malformed(format!(
                "`type` is `{}`, not `{BUNDLE_TYPE}`",
                self.kind
            )));
        }
        if self.version != VERSION {
            return Err(BundleError::UnsupportedVersion(self.version));
        }
        for (what, count, max) in [
            ("DID documents", self.did_documents.len(), MAX_DOCUMENTS),
            ("status lists", self.status_lists.len(), MAX_STATUS_LISTS),
            ("contexts", self.contexts.len(), MAX_CONTEXTS),
            (
                "trusted issuers",
                self.trusted_issuers.as_ref().map_or(0, Vec::len),
                MAX_TRUSTED_ISSUERS,
            ),
        ] {
            if count > max {
                return Err(BundleError::TooMany { what, count, max });
            }
        }
        let mut documents = HashMap::with_capacity(self.did_documents.len());
        for pinned in &self.did_documents {
            let invalid = |reason: String| BundleError::InvalidDocument {
                did: pinned.did.chars().take(256).collect(),
                reason,
            };
            let did = Did::parse(&pinned.did).map_err(|e| invalid(e.to_string()))?;
            let document = DidDocument::from_json(&did, pinned.document.clone())
                .map_err(|e| invalid(e.to_string()))?;
            if documents
                .insert(pinned.did.clone(), (document, pinned.fetched_at))
                .is_some()
            {
                return Err(BundleError::Duplicate(pinned.did.clone()));
            }
        }
        let mut lists = HashMap::with_capacity(self.status_lists.len());
        for list in &self.status_lists {
            if lists.insert(list.url.clone(), list.clone()).is_some() {
                return Err(BundleError::Duplicate(list.url.clone()));
            }
        }
        let mut contexts = Contexts::vetted();
        for context in &self.contexts {
            contexts = contexts.with_context(&context.url, &context.document.to_string())?;
        }
        let signer = match &self.signature {
            None => None,
            Some(signature) => Some(self.check_signature(signature, &documents)?),
        };
        Ok(LoadedBundle {
            bundle: self,
            signer,
            documents,
            lists,
            contexts,
        })
    }

    /// The SHA-256 of the bundle's JCS form without `signature`.
    pub fn digest(&self) -> Result<[u8; 32], BundleError> {
        let mut unsigned = self.clone();
        unsigned.signature = None;
        let value =
            serde_json::to_value(&unsigned).map_err(|e| BundleError::Malformed(e.to_string()))?;
        let mut canonical = json_syntax::Value::from_serde_json(value);
        canonical.canonicalize();
        Ok(Sha256::digest(canonical.compact_print().to_string()).into())
    }

    /// Signs the bundle with `key`, the verification method `method` of a DID (whose
    /// document lists it under `assertionMethod`). Replaces any earlier signature.
    pub fn sign(&mut self, method: &str, key: &SecretKey) -> Result<(), BundleError> {
        let alg = JwsAlg::for_key_type(key.key_type())
            .ok_or_else(|| BundleError::Sign(format!("a {} key cannot sign", key.key_type())))?;
        let header = json!({"alg": alg.as_str(), "kid": method, "typ": SIGNATURE_TYP});
        let payload = json!({"bundleSha256": B64.encode(self.digest()?)});
        let mut token = B64.encode(header.to_string());
        token.push('.');
        token.push_str(&B64.encode(payload.to_string()));
        let signature = key
            .sign(token.as_bytes())
            .map_err(|e| BundleError::Sign(e.to_string()))?;
        token.push('.');
        token.push_str(&B64.encode(signature));
        self.signature = Some(BundleSignature { jws: token });
        Ok(())
    }

    /// Checks the signature: the signer's method from an offline DID method or a document
    /// pinned in this bundle, listed under `assertionMethod`; the digest this bundle's.
    fn check_signature(
        &self,
        signature: &BundleSignature,
        documents: &HashMap<String, (DidDocument, DateTime<Utc>)>,
    ) -> Result<String, BundleError> {
        let bad = |reason: String| BundleError::BadSignature(reason);
        let decoded = jws::decode(&signature.jws, &[JwsAlg::EdDSA, JwsAlg::ES256])
            .map_err(|e| bad(e.to_string()))?;
        if decoded.typ() != Some(SIGNATURE_TYP) {
            return Err(bad(format!("its `typ` is not `{SIGNATURE_TYP}`")));
        }
        let kid = decoded
            .kid()
            .ok_or_else(|| bad("its header has no `kid`".into()))?
            .to_owned();
        let did_part = kid.split('#').next().unwrap_or_default();
        let did = Did::parse(did_part).map_err(|e| bad(format!("`kid`: {e}")))?;
        let document = match documents.get(did.as_str()) {
            Some((document, _)) => document.clone(),
            None => StandardResolver::resolve_offline(&did)
                .map_err(|e| {
                    bad(format!(
                        "the signer `{did}` is neither an offline DID nor pinned in the bundle ({e})"
                    ))
                })?
                .document,
        };
        let method = method_in(&document, &kid).map_err(|e| bad(e.to_string()))?;
        if !method.allows(Relationship::AssertionMethod) {
            return Err(bad(format!("`{kid}` is not an assertionMethod of `{did}`")));
        }
        let payload = decoded
            .verify(&method.key)
            .map_err(|e| bad(e.to_string()))?;
        let payload: Map<String, Value> =
            serde_json::from_slice(&payload).map_err(|_| bad("its payload is not JSON".into()))?;
        let digest = B64.encode(self.digest()?);
        if payload.get("bundleSha256").and_then(Value::as_str) != Some(digest.as_str()) {
            return Err(bad(
                "the bundle was changed after it was signed (its digest differs)".into(),
            ));
        }
        Ok(did.as_str().to_owned())
    }
}

impl LoadedBundle {
    /// Requires the bundle to be signed by `did`.
    pub fn require_signer(&self, did: &str) -> Result<(), BundleError> {
        match &self.signer {
            None => Err(BundleError::Unsigned(did.into())),
            Some(found) if found != did => Err(BundleError::WrongSigner {
                expected: did.into(),
                found: found.clone(),
            }),
            Some(_) => Ok(()),
        }
    }

    /// The pinned document of `did` and when it was fetched.
    pub fn document(&self, did: &str) -> Option<&(DidDocument, DateTime<Utc>)> {
        self.documents.get(did)
    }

    /// The pinned status list at `url`.
    pub fn status_list(&self, url: &str) -> Option<&PinnedStatusList> {
        self.lists.get(url)
    }

    /// The JSON-LD contexts a verifier of this bundle loads: the vetted ones and the
    /// bundle's.
    pub fn contexts(&self) -> &Contexts {
        &self.contexts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{Method, create};

    fn empty() -> TrustBundle {
        TrustBundle::new(DateTime::from_timestamp(1_767_225_600, 0).unwrap())
    }

    fn load_err(value: Value) -> String {
        TrustBundle::load(&serde_json::to_vec(&value).unwrap())
            .unwrap_err()
            .to_string()
    }

    fn as_value(bundle: &TrustBundle) -> Value {
        serde_json::to_value(bundle).unwrap()
    }

    #[test]
    fn the_format_is_checked() {
        let mut v = as_value(&empty());
        v["version"] = json!(2);
        assert!(load_err(v).contains("version 2 is not supported"));
        let mut v = as_value(&empty());
        v["type"] = json!("SomethingElse");
        assert!(load_err(v).contains("`type`"));
        let mut v = as_value(&empty());
        v["unexpected"] = json!(1);
        assert!(load_err(v).contains("unknown field"));
        assert!(
            TrustBundle::load(b"[]")
                .unwrap_err()
                .to_string()
                .contains("not valid JSON")
        );
    }

    #[test]
    fn documents_must_be_the_dids_and_pinned_once() {
        let id = create(Method::Key, None);
        let doc = StandardResolver::resolve_offline(&id.did)
            .unwrap()
            .document
            .into_json();
        let pinned = |did: &str| PinnedDocument {
            did: did.into(),
            document: doc.clone(),
            fetched_at: Utc::now(),
        };
        let mut b = empty();
        b.did_documents.push(pinned("did:web:other.example"));
        assert!(matches!(
            b.index().unwrap_err(),
            BundleError::InvalidDocument { .. }
        ));
        let mut b = empty();
        b.did_documents.push(pinned(id.did.as_str()));
        b.did_documents.push(pinned(id.did.as_str()));
        assert!(matches!(b.index().unwrap_err(), BundleError::Duplicate(_)));
        let mut b = empty();
        b.did_documents.push(pinned("not a did"));
        assert!(matches!(
            b.index().unwrap_err(),
            BundleError::InvalidDocument { .. }
        ));
    }

    #[test]
    fn contexts_must_be_contexts_and_cannot_replace_vetted_ones() {
        let mut b = empty();
        b.contexts.push(PinnedContext {
            url: "https://www.w3.org/ns/credentials/v2".into(),
            document: json!({"@context": {}}),
        });
        assert!(matches!(
            b.index().unwrap_err(),
            BundleError::Context(ContextError::Vetted(_))
        ));
        let mut b = empty();
        b.contexts.push(PinnedContext {
            url: "https://example.org/ctx".into(),
            document: json!({"no": "context"}),
        });
        assert!(matches!(b.index().unwrap_err(), BundleError::Context(_)));
        let mut b = empty();
        b.contexts.push(PinnedContext {
            url: "https://example.org/ctx".into(),
            document: json!({"@context": {"name": "https://schema.org/name"}}),
        });
        assert!(
            b.index()
                .unwrap()
                .contexts()
                .contains("https://example.org/ctx")
        );
    }

    #[test]
    fn bounds_are_enforced() {
        let mut b = empty();
        b.trusted_issuers = Some(vec![String::new(); MAX_TRUSTED_ISSUERS + 1]);
        assert!(matches!(
            b.index().unwrap_err(),
            BundleError::TooMany {
                what: "trusted issuers",
                ..
            }
        ));
    }

    #[test]
    fn a_signature_covers_every_member_but_itself() {
        let id = create(Method::Peer, None);
        let (method, key) = id.signing_key().unwrap();
        let mut b = empty();
        b.trusted_issuers = Some(vec!["did:web:issuer.example".into()]);
        b.sign(method, key).unwrap();
        let loaded = b.clone().index().unwrap();
        assert_eq!(loaded.signer.as_deref(), Some(id.did.as_str()));
        // Signing again replaces the signature and still verifies.
        b.sign(method, key).unwrap();
        assert!(b.clone().index().is_ok());
        let mut changed = b.clone();
        changed.created_at = Utc::now();
        assert!(matches!(
            changed.index().unwrap_err(),
            BundleError::BadSignature(_)
        ));
        let mut changed = b.clone();
        changed.trusted_issuers = None;
        assert!(matches!(
            changed.index().unwrap_err(),
            BundleError::BadSignature(_)
        ));
        // A key-agreement key is not an assertion method.
        let (agreement_id, agreement) = &id.keys[0];
        assert!(b.sign(agreement_id, agreement).is_err());
    }

    #[test]
    fn a_signer_that_cannot_be_resolved_offline_or_from_the_bundle_is_refused() {
        let id = create(Method::Key, None);
        let (_, key) = id.signing_key().unwrap();
        let mut b = empty();
        b.sign("did:web:signer.example#key-1", key).unwrap();
        let err = b.index().unwrap_err().to_string();
        assert!(err.contains("neither an offline DID nor pinned"), "{err}");
    }
}
