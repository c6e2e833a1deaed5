//! W3C Data Integrity proofs with the RDFC cryptosuites: `eddsa-rdfc-2022` (VC-DI-EdDSA
//! §3.3, Ed25519) and `ecdsa-rdfc-2019` (VC-DI-ECDSA §3.3, P-256); and, to verify what
//! VC 1.1 issuers still send, their predecessors `Ed25519Signature2020` (the same hashing,
//! VC-DI-EdDSA Appendix) and `JsonWebSignature2020` (the same hashing, signed as a
//! detached JWS with `b64: false`, W3C CCG draft §3).
//!
//! Both suites: canonicalize the document without its proof and the proof configuration
//! (the proof without `proofValue`, with the document's `@context`) with RDFC-1.0, hash
//! each with SHA-256, sign `hash(config) || hash(document)`, and encode the signature as
//! base58btc multibase. Signing goes through the [`Signer`] seam; the JSON-LD work
//! through the bounded [`Canonicalizer`].
//!
//! This is written here rather than taken from ssi's suites because the checks ssi leaves
//! out (proof purpose against the controller document, challenge, domain, proof sets and
//! chains) need the intermediate values, and so do the work bound and the context cache.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::canon::{CanonError, Canonicalizer};
use crate::id::KeyId;
use crate::keys::{KeyType, PublicKey, SignError, Signer};

pub const PROOF_TYPE: &str = "DataIntegrityProof";
pub const ED25519_SIGNATURE_2020: &str = "Ed25519Signature2020";
pub const JSON_WEB_SIGNATURE_2020: &str = "JsonWebSignature2020";

/// What a proof is, by its `type` (and `cryptosuite`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofSuite {
    DataIntegrity(Cryptosuite),
    /// Verified, never made.
    Ed25519Signature2020,
    /// Verified, never made.
    JsonWebSignature2020,
}

/// The suite of a proof this module can verify.
pub fn proof_suite(proof: &Map<String, Value>) -> Result<ProofSuite, ProofError> {
    match proof.get("type").and_then(Value::as_str) {
        Some(ED25519_SIGNATURE_2020) => Ok(ProofSuite::Ed25519Signature2020),
        Some(JSON_WEB_SIGNATURE_2020) => Ok(ProofSuite::JsonWebSignature2020),
        _ => suite_of(proof).map(ProofSuite::DataIntegrity),
    }
}

/// The cryptosuites Sichat signs and verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Cryptosuite {
    #[serde(rename = "eddsa-rdfc-2022")]
    EddsaRdfc2022,
    #[serde(rename = "ecdsa-rdfc-2019")]
    EcdsaRdfc2019,
}

impl Cryptosuite {
    pub const ALL: [Cryptosuite; 2] = [Cryptosuite::EddsaRdfc2022, Cryptosuite::EcdsaRdfc2019];

    pub fn name(self) -> &'static str {
        match self {
            Cryptosuite::EddsaRdfc2022 => "eddsa-rdfc-2022",
            Cryptosuite::EcdsaRdfc2019 => "ecdsa-rdfc-2019",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The key type the suite signs with.
    pub fn key_type(self) -> KeyType {
        match self {
            Cryptosuite::EddsaRdfc2022 => KeyType::Ed25519,
            Cryptosuite::EcdsaRdfc2019 => KeyType::P256,
        }
    }

    /// The suite for a signing key.
    pub fn for_key(key_type: KeyType) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.key_type() == key_type)
    }
}

impl std::fmt::Display for Cryptosuite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a proof could not be made or checked.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    #[error(transparent)]
    Canon(#[from] CanonError),
    #[error("the proof is malformed: {0}")]
    Malformed(String),
    #[error("unsupported cryptosuite `{0}`")]
    UnsupportedCryptosuite(String),
    #[error("the {suite} cryptosuite cannot use a {key} key")]
    WrongKeyType { suite: Cryptosuite, key: KeyType },
    #[error("the proof's `@context` is not the start of the document's")]
    ContextMismatch,
    #[error("the signature does not verify")]
    BadSignature,
    #[error("JWS algorithm `{0}` is not accepted (EdDSA, ES256)")]
    UnsupportedAlgorithm(String),
    #[error(transparent)]
    Sign(#[from] SignError),
}

/// The canonical forms and hash input of one proof: what the W3C vectors publish.
#[derive(Debug, Clone)]
pub struct HashInput {
    pub canonical_document: Vec<String>,
    pub canonical_proof_config: Vec<String>,
    /// `SHA-256(config) || SHA-256(document)`.
    pub hash_data: Vec<u8>,
}

/// The cryptosuite a proof names, checked to be one this module handles.
pub fn suite_of(proof: &Map<String, Value>) -> Result<Cryptosuite, ProofError> {
    match proof.get("type").and_then(Value::as_str) {
        Some(PROOF_TYPE) => {}
        Some(other) => return Err(ProofError::Malformed(format!("proof type `{other}`"))),
        None => return Err(ProofError::Malformed("proof without `type`".into())),
    }
    let name = proof
        .get("cryptosuite")
        .and_then(Value::as_str)
        .ok_or_else(|| ProofError::Malformed("proof without `cryptosuite`".into()))?;
    Cryptosuite::parse(name).ok_or_else(|| ProofError::UnsupportedCryptosuite(name.into()))
}

/// Canonicalizes and hashes `unsecured` (a document without `proof`) and `config` (a
/// proof without `proofValue`) as both suites specify.
pub async fn hash_input(
    canon: &Canonicalizer,
    unsecured: &Map<String, Value>,
    config: &Map<String, Value>,
) -> Result<HashInput, ProofError> {
    let mut unsecured = unsecured.clone();
    // VC-DI-EdDSA §3.3.2 / VC-DI-ECDSA §3.3.2: a proof carrying its own `@context` must
    // name a prefix of the document's, and is then the context the document is read in.
    if let Some(proof_context) = config.get("@context") {
        let doc = as_list(unsecured.get("@context"));
        let proof = as_list(Some(proof_context));
        if proof.len() > doc.len() || doc[..proof.len()] != proof[..] {
            return Err(ProofError::ContextMismatch);
        }
        unsecured.insert("@context".into(), proof_context.clone());
    }
    let mut config = config.clone();
    match unsecured.get("@context") {
        Some(context) => config.insert("@context".into(), context.clone()),
        None => config.remove("@context"),
    };
    let canonical_document = canon.canonicalize(&Value::Object(unsecured)).await?;
    let canonical_proof_config = canon.canonicalize(&Value::Object(config)).await?;
    let mut hash_data = sha256_lines(&canonical_proof_config);
    hash_data.extend(sha256_lines(&canonical_document));
    Ok(HashInput {
        canonical_document,
        canonical_proof_config,
        hash_data,
    })
}

fn as_list(value: Option<&Value>) -> Vec<Value> {
    match value {
        None => vec![],
        Some(Value::Array(items)) => items.clone(),
        Some(other) => vec![other.clone()],
    }
}

fn sha256_lines(lines: &[String]) -> Vec<u8> {
    lines
        .iter()
        .fold(Sha256::new(), |h, l| h.chain_update(l.as_bytes()))
        .finalize()
        .to_vec()
}

/// Adds a proof to `unsecured`: `options` are the proof's members (`type`, `cryptosuite`,
/// `created`, `verificationMethod`, `proofPurpose`, optional `challenge`, `domain`,
/// `expires`, `previousProof`...). Returns the proof object with its `proofValue`.
pub async fn create_proof(
    canon: &Canonicalizer,
    unsecured: &Map<String, Value>,
    options: Map<String, Value>,
    signer: &dyn Signer,
    key: &KeyId,
) -> Result<Map<String, Value>, ProofError> {
    let suite = suite_of(&options)?;
    let key_type = signer.public_key(key).await?.key_type();
    if key_type != suite.key_type() {
        return Err(ProofError::WrongKeyType {
            suite,
            key: key_type,
        });
    }
    let input = hash_input(canon, unsecured, &options).await?;
    let signature = signer.sign(key, &input.hash_data).await?;
    let mut proof = options;
    proof.insert(
        "proofValue".into(),
        Value::String(multibase::encode(multibase::Base::Base58Btc, signature)),
    );
    Ok(proof)
}

/// Checks a proof's signature: `unsecured` is the document the proof covers (without
/// `proof`, or with the proofs a `previousProof` names), `key` the verification method's
/// public key.
pub async fn verify_proof(
    canon: &Canonicalizer,
    unsecured: &Map<String, Value>,
    proof: &Map<String, Value>,
    key: &PublicKey,
) -> Result<(), ProofError> {
    let suite = proof_suite(proof)?;
    let needs = |wanted: KeyType, suite: Cryptosuite| {
        if key.key_type() == wanted {
            Ok(())
        } else {
            Err(ProofError::WrongKeyType {
                suite,
                key: key.key_type(),
            })
        }
    };
    let mut config = proof.clone();
    match suite {
        ProofSuite::DataIntegrity(suite) => needs(suite.key_type(), suite)?,
        ProofSuite::Ed25519Signature2020 => needs(KeyType::Ed25519, Cryptosuite::EddsaRdfc2022)?,
        ProofSuite::JsonWebSignature2020 => {
            let jws = config
                .remove("jws")
                .and_then(|v| v.as_str().map(str::to_owned))
                .ok_or_else(|| ProofError::Malformed("proof without string `jws`".into()))?;
            let input = hash_input(canon, unsecured, &config).await?;
            return verify_detached_jws(&jws, &input.hash_data, key);
        }
    }
    let value = config
        .remove("proofValue")
        .and_then(|v| v.as_str().map(str::to_owned))
        .ok_or_else(|| ProofError::Malformed("proof without string `proofValue`".into()))?;
    let signature = match multibase::decode(&value) {
        Ok((multibase::Base::Base58Btc, bytes)) => bytes,
        _ => {
            return Err(ProofError::Malformed(
                "`proofValue` is not base58btc multibase".into(),
            ));
        }
    };
    let input = hash_input(canon, unsecured, &config).await?;
    if key.verify(&input.hash_data, &signature) {
        Ok(())
    } else {
        Err(ProofError::BadSignature)
    }
}

/// A detached JWS over `payload` with unencoded payload (RFC 7797: `b64: false`, listed
/// in `crit`), as JsonWebSignature2020 signs: `alg` must match the key (EdDSA for
/// Ed25519, ES256 for P-256); `none`, HMAC and anything else are refused.
fn verify_detached_jws(jws: &str, payload: &[u8], key: &PublicKey) -> Result<(), ProofError> {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    let malformed = |what: &str| ProofError::Malformed(format!("`jws` {what}"));
    let mut parts = jws.split('.');
    let (Some(header_b64), Some(""), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed(
            "is not a detached compact JWS (`header..signature`)",
        ));
    };
    let header: Map<String, Value> = B64
        .decode(header_b64)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| malformed("header is not base64url JSON"))?;
    let crit_b64 = header
        .get("crit")
        .and_then(Value::as_array)
        .is_some_and(|c| c.iter().any(|v| v.as_str() == Some("b64")));
    if header.get("b64") != Some(&Value::Bool(false)) || !crit_b64 {
        return Err(malformed("header must have `b64: false` listed in `crit`"));
    }
    if let Some(crit) = header.get("crit").and_then(Value::as_array)
        && crit.iter().any(|c| c.as_str() != Some("b64"))
    {
        return Err(malformed("header has a `crit` extension other than `b64`"));
    }
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
    let wanted = match alg {
        "EdDSA" => KeyType::Ed25519,
        "ES256" => KeyType::P256,
        other => return Err(ProofError::UnsupportedAlgorithm(other.into())),
    };
    if key.key_type() != wanted {
        return Err(ProofError::UnsupportedAlgorithm(format!(
            "{alg} with a {} key",
            key.key_type()
        )));
    }
    let signature = B64
        .decode(signature_b64)
        .map_err(|_| malformed("signature is not base64url"))?;
    let mut input = Vec::with_capacity(header_b64.len() + 1 + payload.len());
    input.extend_from_slice(header_b64.as_bytes());
    input.push(b'.');
    input.extend_from_slice(payload);
    if key.verify(&input, &signature) {
        Ok(())
    } else {
        Err(ProofError::BadSignature)
    }
}
