//! Issuing: check the unsecured credential, then secure it with a Data Integrity proof
//! or as a `vc+jwt` envelope, signing through the [`Signer`] seam.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::canon::{CanonError, Canonicalizer};
use super::credential::{self, ShapeError, VcVersion};
use super::data_integrity::{self, Cryptosuite, PROOF_TYPE, ProofError};
use super::jose::{self, Secured};
use crate::clock::{Clock, rfc3339};
use crate::contexts::DATA_INTEGRITY_V2;
use crate::id::KeyId;
use crate::keys::{KeyType, SignError, Signer, SsiSigner};

/// How a credential is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofFormat {
    DataIntegrity(Cryptosuite),
    /// VC-JOSE-COSE compact JWS (`typ: vc+jwt`), as an `EnvelopedVerifiableCredential`.
    VcJwt,
    /// VC-JOSE-COSE SD-JWT (`typ: vc+sd-jwt`) with selectively disclosable claims.
    SdJwt,
}

impl ProofFormat {
    pub fn name(self) -> &'static str {
        match self {
            ProofFormat::DataIntegrity(suite) => suite.name(),
            ProofFormat::VcJwt => jose::VC_TYP,
            ProofFormat::SdJwt => jose::SD_TYP,
        }
    }
}

/// The key a credential is signed with, as its issuer publishes it.
#[derive(Debug, Clone)]
pub struct IssuerKey {
    /// The issuer's DID.
    pub issuer: String,
    /// The verification method (DID URL) the key is published under.
    pub method: String,
    pub key: KeyId,
    pub key_type: KeyType,
}

/// Why a credential was not issued.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error(transparent)]
    Shape(#[from] ShapeError),
    #[error("the credential is not valid JSON-LD: {0}")]
    JsonLd(#[from] CanonError),
    #[error("the issuer `{found}` is not `{expected}`, the DID whose key signs")]
    IssuerMismatch { expected: String, found: String },
    #[error("{0}")]
    Unsupported(String),
    #[error(transparent)]
    Sign(#[from] SignError),
    #[error("signing failed: {0}")]
    Signing(String),
}

impl From<ProofError> for IssueError {
    fn from(e: ProofError) -> Self {
        match e {
            ProofError::Canon(c) => IssueError::JsonLd(c),
            ProofError::Sign(s) => IssueError::Sign(s),
            other => IssueError::Signing(other.to_string()),
        }
    }
}

/// Secures credentials with stored keys.
#[derive(Clone)]
pub struct Issuer {
    canon: Canonicalizer,
    signer: Arc<dyn Signer>,
    clock: Arc<dyn Clock>,
}

impl Issuer {
    pub fn new(canon: Canonicalizer, signer: Arc<dyn Signer>, clock: Arc<dyn Clock>) -> Self {
        Self {
            canon,
            signer,
            clock,
        }
    }

    /// The current time as a dateTimeStamp, to the second.
    fn now(&self) -> String {
        let millis = self.clock.now_millis();
        rfc3339(millis - millis.rem_euclid(1000))
    }

    /// Checks the shape of an unsecured credential and fills in what the data model
    /// requires of its version (1.1: `issuanceDate`).
    pub fn prepare(
        &self,
        mut credential: Map<String, Value>,
        key: &IssuerKey,
    ) -> Result<(Map<String, Value>, credential::CheckedCredential), IssueError> {
        if credential.contains_key("proof") {
            return Err(ShapeError {
                field: "proof".into(),
                reason: "must not be present: the credential to issue is unsecured".into(),
            }
            .into());
        }
        let version = credential::version_of(&credential)?;
        if version == VcVersion::V1 && !credential.contains_key("issuanceDate") {
            credential.insert("issuanceDate".into(), Value::String(self.now()));
        }
        let checked = credential::check_credential(&credential)?;
        if checked.issuer != key.issuer {
            return Err(IssueError::IssuerMismatch {
                expected: key.issuer.clone(),
                found: checked.issuer,
            });
        }
        Ok((credential, checked))
    }

    /// Secures `credential` (checked by [`Self::prepare`]) in `format` with `key`.
    pub async fn secure(
        &self,
        mut credential: Map<String, Value>,
        version: VcVersion,
        key: &IssuerKey,
        format: ProofFormat,
    ) -> Result<Value, IssueError> {
        if version == VcVersion::V1 {
            if let ProofFormat::VcJwt | ProofFormat::SdJwt = format {
                return Err(IssueError::Unsupported(format!(
                    "{} secures VC Data Model 2.0 credentials only",
                    format.name()
                )));
            }
            add_context(&mut credential, DATA_INTEGRITY_V2);
        }
        self.sign(credential, key, format, Secured::Credential, Map::new())
            .await
    }

    /// Secures a VC 2.0 `credential` (checked by [`Self::prepare`]) as an SD-JWT whose
    /// claims at `pointers` are selectively disclosable (`None`: every claim of every
    /// subject but its `id` and `type`).
    pub async fn secure_sd(
        &self,
        credential: Map<String, Value>,
        key: &IssuerKey,
        pointers: Option<&[String]>,
    ) -> Result<Value, IssueError> {
        self.canon
            .check_terms(&Value::Object(credential.clone()))
            .await?;
        let pointers = match pointers {
            Some(p) => p.to_vec(),
            None => subject_claims(&credential),
        };
        for p in &pointers {
            let found = credential_pointer(&credential, p);
            // What a verifier must always see: hiding status or validity would let a
            // holder hide a revocation or an expiry.
            const ALWAYS_SHOWN: [&str; 9] = [
                "/@context",
                "/type",
                "/issuer",
                "/id",
                "/validFrom",
                "/validUntil",
                "/credentialStatus",
                "/credentialSchema",
                "/credentialSubject",
            ];
            let shown = ALWAYS_SHOWN.iter().any(|a| {
                p == a
                    || (p.starts_with(a)
                        && p.as_bytes().get(a.len()) == Some(&b'/')
                        && *a != "/credentialSubject")
            });
            if !found || p.is_empty() || shown {
                return Err(IssueError::Unsupported(format!(
                    "`{p}` cannot be made selectively disclosable (it must name a claim \
                     present in the credential, not @context, type, issuer, id, the validity \
                     dates, credentialStatus or credentialSchema)"
                )));
            }
        }
        let signer =
            SsiSigner::new(self.signer.clone(), key.key.clone(), key.method.clone()).await?;
        let sd_jwt = jose::sign_sd(&credential, &pointers, &signer)
            .await
            .map_err(|e| IssueError::Signing(e.to_string()))?;
        Ok(jose::envelope(&sd_jwt, Secured::SdCredential))
    }

    /// Signs a presentation as its holder (`key`, published under `authentication`):
    /// a Data Integrity proof with `challenge` and `domain`, or a `vp+jwt` envelope with
    /// them as `nonce` and `aud`. `presentation` must have passed
    /// [`credential::check_presentation`].
    pub async fn present(
        &self,
        presentation: Map<String, Value>,
        key: &IssuerKey,
        format: ProofFormat,
        challenge: Option<&str>,
        domain: Option<&str>,
    ) -> Result<Value, IssueError> {
        let mut binding = Map::new();
        if let Some(c) = challenge {
            binding.insert("challenge".into(), Value::String(c.into()));
        }
        if let Some(d) = domain {
            binding.insert("domain".into(), Value::String(d.into()));
        }
        self.sign(presentation, key, format, Secured::Presentation, binding)
            .await
    }

    /// Secures `document` as a credential (purpose `assertionMethod`) or a presentation
    /// (`authentication`); `binding` holds a presentation's `challenge` and `domain`.
    async fn sign(
        &self,
        mut document: Map<String, Value>,
        key: &IssuerKey,
        format: ProofFormat,
        secured: Secured,
        binding: Map<String, Value>,
    ) -> Result<Value, IssueError> {
        match format {
            ProofFormat::DataIntegrity(suite) => {
                if suite.key_type() != key.key_type {
                    return Err(IssueError::Unsupported(format!(
                        "{suite} needs a {} key; `{}` is {}",
                        suite.key_type(),
                        key.method,
                        key.key_type
                    )));
                }
                let purpose = match secured {
                    Secured::Credential | Secured::SdCredential => "assertionMethod",
                    Secured::Presentation => "authentication",
                };
                let mut options = Map::new();
                options.insert("type".into(), json!(PROOF_TYPE));
                options.insert("cryptosuite".into(), json!(suite.name()));
                options.insert("created".into(), json!(self.now()));
                options.insert("verificationMethod".into(), json!(key.method));
                options.insert("proofPurpose".into(), json!(purpose));
                options.extend(binding);
                let proof = data_integrity::create_proof(
                    &self.canon,
                    &document,
                    options,
                    self.signer.as_ref(),
                    &key.key,
                )
                .await?;
                document.insert("proof".into(), Value::Object(proof));
                Ok(Value::Object(document))
            }
            ProofFormat::SdJwt => match secured {
                Secured::Credential => self.secure_sd(document, key, None).await,
                _ => Err(IssueError::Unsupported(
                    "presentations are not secured as SD-JWT here (use vp+jwt or Data Integrity)"
                        .into(),
                )),
            },
            ProofFormat::VcJwt => {
                self.canon
                    .check_terms(&Value::Object(document.clone()))
                    .await?;
                // VC-JOSE-COSE: a presentation's challenge and domain are the JWT's
                // `nonce` and `aud`.
                if let Some(c) = binding.get("challenge") {
                    document.insert("nonce".into(), c.clone());
                }
                if let Some(d) = binding.get("domain") {
                    document.insert("aud".into(), d.clone());
                }
                let signer =
                    SsiSigner::new(self.signer.clone(), key.key.clone(), key.method.clone())
                        .await?;
                let jws = jose::sign(&document, secured, &signer)
                    .await
                    .map_err(|e| IssueError::Signing(e.to_string()))?;
                Ok(jose::envelope(&jws, secured))
            }
        }
    }
}

/// Escapes a member name for a JSON pointer (RFC 6901).
fn escape(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

/// The pointers to every claim of every subject but `id` and `type`.
fn subject_claims(credential: &Map<String, Value>) -> Vec<String> {
    let claims = |prefix: &str, subject: &Map<String, Value>| -> Vec<String> {
        subject
            .keys()
            .filter(|k| *k != "id" && *k != "type")
            .map(|k| format!("{prefix}/{}", escape(k)))
            .collect()
    };
    match credential.get("credentialSubject") {
        Some(Value::Object(s)) => claims("/credentialSubject", s),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                s.as_object()
                    .map(|s| claims(&format!("/credentialSubject/{i}"), s))
            })
            .flatten()
            .collect(),
        _ => vec![],
    }
}

/// Whether `pointer` names a member of `credential`.
fn credential_pointer(credential: &Map<String, Value>, pointer: &str) -> bool {
    Value::Object(credential.clone()).pointer(pointer).is_some()
}

/// Appends `context` to the document's `@context` unless it is there.
fn add_context(doc: &mut Map<String, Value>, context: &str) {
    let entry = doc.entry("@context").or_insert_with(|| json!([]));
    if let Value::String(one) = entry {
        *entry = json!([one.clone()]);
    }
    if let Value::Array(items) = entry
        && !items.iter().any(|c| c.as_str() == Some(context))
    {
        items.push(Value::String(context.into()));
    }
}
