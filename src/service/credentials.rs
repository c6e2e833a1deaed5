//! Credentials over the VC-API: issuing as a DID this server controls (its did:web, the
//! did:key of one of its signing keys, a user's did:web), recording what was issued, and
//! verifying credentials and presentations with `sichat_core::vc`.

use std::sync::Arc;

use serde_json::{Map, Value};
use sichat_core::Clock;
use sichat_core::api::{IssueOptions, VerificationResult, VerifyOptions};
use sichat_core::store::{Changes, CredentialStatus, IssuedCredentialRecord, UnitOfWork};
use sichat_core::vc::status::{self, StatusPurpose};
use sichat_core::vc::{
    CanonError, Cryptosuite, IssueError, Issuer, ProofFormat, ShapeError, VcVersion, Verifier,
    VerifyError,
};

use super::issuer_keys::IssuerKeys;
use super::status_lists::{StatusLists, Wanted};
use super::work_gate::WorkGate;
use crate::error::{ApiError, ProblemKind};
use crate::store::SeaStore;

pub use super::issuer_keys::Caller;

pub struct CredentialService {
    gate: Arc<WorkGate>,
    verify_requires_token: bool,
    issuer: Issuer,
    verifier: Verifier,
    issuer_keys: Arc<IssuerKeys>,
    status: Arc<StatusLists>,
    store: Arc<SeaStore>,
    clock: Arc<dyn Clock>,
}

impl From<ShapeError> for ApiError {
    fn from(e: ShapeError) -> Self {
        ApiError::new(ProblemKind::INVALID_CREDENTIAL, e.to_string())
            .with("field", Value::String(e.field))
    }
}

impl From<CanonError> for ApiError {
    fn from(e: CanonError) -> Self {
        let term = match &e {
            CanonError::UndefinedTerm(t) => Some(t.clone()),
            _ => None,
        };
        let err = ApiError::new(ProblemKind::INVALID_JSON_LD, e.to_string());
        match term {
            Some(t) => err.with("term", Value::String(t)),
            None => err,
        }
    }
}

impl From<IssueError> for ApiError {
    fn from(e: IssueError) -> Self {
        match e {
            IssueError::Shape(s) => s.into(),
            IssueError::JsonLd(c) => c.into(),
            IssueError::IssuerMismatch { .. } | IssueError::Unsupported(_) => {
                ApiError::validation(e.to_string())
            }
            IssueError::Sign(s) => ApiError::internal(s),
            IssueError::Signing(s) => ApiError::internal(s),
        }
    }
}

impl From<VerifyError> for ApiError {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::Malformed(s) => {
                ApiError::new(ProblemKind::MALFORMED_CREDENTIAL, s.to_string())
                    .with("field", Value::String(s.field))
            }
            VerifyError::Busy(detail) => ApiError::busy(detail),
        }
    }
}

/// The proof format `options` ask for; `None` for the default of the issuer's key.
fn requested_format(options: &IssueOptions) -> Result<Option<ProofFormat>, ApiError> {
    if let Some(format) = &options.format {
        return match format.as_str() {
            "vc+jwt" => Ok(Some(ProofFormat::VcJwt)),
            "vc+sd-jwt" => Ok(Some(ProofFormat::SdJwt)),
            "ldp_vc" | "vc" | "application/vc" => Ok(None),
            other => Err(ApiError::validation(format!(
                "options.format `{other}` is not supported (vc+jwt, vc+sd-jwt, or a Data Integrity proof)"
            ))
            .with("field", "options.format".into())),
        };
    }
    Ok(data_integrity_suite(
        options.proof_type.as_deref(),
        options.cryptosuite.as_deref(),
    )?
    .map(ProofFormat::DataIntegrity))
}

/// The Data Integrity cryptosuite `options.type` and `options.cryptosuite` ask for, in an
/// issue or a presentation request; `None` when they leave it to the default.
pub fn data_integrity_suite(
    proof_type: Option<&str>,
    cryptosuite: Option<&str>,
) -> Result<Option<Cryptosuite>, ApiError> {
    match (proof_type, cryptosuite) {
        (None | Some("DataIntegrityProof"), Some(suite)) => {
            Cryptosuite::parse(suite).map(Some).ok_or_else(|| {
                ApiError::validation(format!(
                    "options.cryptosuite `{suite}` is not supported (eddsa-rdfc-2022, ecdsa-rdfc-2019)"
                ))
                .with("field", "options.cryptosuite".into())
            })
        }
        (None | Some("DataIntegrityProof"), None) => Ok(None),
        (Some(other), _) => Err(ApiError::validation(format!(
            "options.type `{other}` is not supported (DataIntegrityProof)"
        ))
        .with("field", "options.type".into())),
    }
}

/// The status purposes `options.credentialStatus` asks for: absent or `{}`, revocation
/// and suspension; `false` (or `[]` purposes), none; `{"statusPurpose": "revocation"}` or
/// a list of purposes, those. A credential that already has `credentialStatus` keeps it
/// and gets none of ours.
fn requested_purposes(options: &IssueOptions) -> Result<Vec<StatusPurpose>, ApiError> {
    let bad = |detail: String| {
        ApiError::validation(detail).with("field", "options.credentialStatus".into())
    };
    let Some(wanted) = &options.credential_status else {
        return Ok(StatusPurpose::ALL.to_vec());
    };
    let purposes = match wanted {
        Value::Bool(false) | Value::Null => return Ok(vec![]),
        Value::Bool(true) => return Ok(StatusPurpose::ALL.to_vec()),
        Value::Object(o) => {
            if let Some(t) = o.get("type")
                && t.as_str() != Some(status::ENTRY_TYPE)
            {
                return Err(bad(format!(
                    "`type` must be `{}` (the only status method issued here)",
                    status::ENTRY_TYPE
                )));
            }
            match o.get("statusPurpose") {
                None => return Ok(StatusPurpose::ALL.to_vec()),
                Some(Value::String(p)) => vec![p.as_str()],
                Some(Value::Array(ps)) => ps.iter().filter_map(Value::as_str).collect(),
                Some(_) => return Err(bad("`statusPurpose` must be a string or a list".into())),
            }
        }
        _ => return Err(bad("must be an object, or false for none".into())),
    };
    let mut out: Vec<StatusPurpose> = purposes
        .into_iter()
        .map(|p| {
            StatusPurpose::parse(p).ok_or_else(|| {
                bad(format!(
                    "status purpose `{p}` is not issued here (revocation, suspension)"
                ))
            })
        })
        .collect::<Result<_, _>>()?;
    out.sort();
    out.dedup();
    Ok(out)
}

/// The service's settings.
pub struct CredentialSettings {
    /// The verification endpoints need a valid token (admin or user).
    pub verify_requires_token: bool,
    /// The bound on CPU-heavy work, shared with the other services.
    pub gate: Arc<WorkGate>,
}

impl CredentialService {
    pub fn new(
        issuer: Issuer,
        verifier: Verifier,
        settings: CredentialSettings,
        issuer_keys: Arc<IssuerKeys>,
        status: Arc<StatusLists>,
        store: Arc<SeaStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            gate: settings.gate,
            verify_requires_token: settings.verify_requires_token,
            issuer,
            verifier,
            issuer_keys,
            status,
            store,
            clock,
        }
    }

    pub fn verify_requires_token(&self) -> bool {
        self.verify_requires_token
    }

    pub fn status_lists(&self) -> &Arc<StatusLists> {
        &self.status
    }

    /// Issues `credential`: checks it, secures it, records it, and returns it.
    pub async fn issue(
        &self,
        caller: &Caller,
        credential: Value,
        options: &IssueOptions,
    ) -> Result<Value, ApiError> {
        let Value::Object(mut credential) = credential else {
            return Err(ShapeError {
                field: "credential".into(),
                reason: "must be a JSON object".into(),
            }
            .into());
        };
        let format = requested_format(options)?;
        if options.selective_pointers.is_some() && format != Some(ProofFormat::SdJwt) {
            return Err(ApiError::validation(
                "options.selectivePointers applies to \"format\": \"vc+sd-jwt\" only",
            )
            .with("field", "options.selectivePointers".into()));
        }
        let mut purposes = requested_purposes(options)?;
        if credential.contains_key("credentialStatus") {
            purposes.clear();
        }
        if !credential.contains_key("issuer") {
            credential.insert(
                "issuer".into(),
                Value::String(self.issuer_keys.default_issuer(caller)),
            );
        }
        let issuer = issuer_id(&credential).ok_or_else(|| {
            ApiError::from(ShapeError {
                field: "issuer".into(),
                reason: "must be a URL or an object with an `id`".into(),
            })
        })?;
        let (key, owner, format) = self.issuer_keys.for_issuer(caller, &issuer, format).await?;
        if !credential.contains_key("id") {
            credential.insert(
                "id".into(),
                Value::String(format!("urn:uuid:{}", uuid::Uuid::new_v4())),
            );
        }
        let (credential, checked) = self.issuer.prepare(credential, &key)?;
        // Indices are reserved only for a credential that passed its checks; one reserved
        // for an issuing that fails later is skipped, never handed out again.
        let (statuses, entries) = if purposes.is_empty() {
            (vec![], vec![])
        } else {
            self.status.allocate(&key.issuer, &owner, &purposes).await?
        };
        let mut credential = credential;
        status::add_entries(&mut credential, entries);
        let issuer = self.issuer.clone();
        let version = checked.version;
        let pointers = options.selective_pointers.clone();
        let work = async move {
            match (format, version) {
                (ProofFormat::SdJwt, VcVersion::V2) => {
                    issuer
                        .secure_sd(credential, &key, pointers.as_deref())
                        .await
                }
                _ => issuer.secure(credential, version, &key, format).await,
            }
        };
        // A JWS over the credential (checked already) is light; a Data Integrity proof
        // canonicalizes it.
        let secured = match format {
            ProofFormat::VcJwt | ProofFormat::SdJwt => self.gate.run_light(work).await??,
            ProofFormat::DataIntegrity(_) => self.gate.run(work).await??,
        };
        let record = IssuedCredentialRecord {
            id: checked.id.unwrap_or_default(),
            issuer: checked.issuer,
            owner,
            subject: checked.subjects.into_iter().next(),
            types: checked.types,
            format: format.name().into(),
            issued_at: self.clock.now_millis(),
            statuses,
        };
        self.store
            .save_changes(&Changes::new().issued(record))
            .await?;
        Ok(secured)
    }

    /// Signs `presentation` as `holder`'s did:web (the holder API).
    pub async fn present(
        &self,
        holder: &sichat_core::id::UserName,
        presentation: Map<String, Value>,
        format: ProofFormat,
        challenge: Option<&str>,
        domain: Option<&str>,
    ) -> Result<Value, ApiError> {
        let caller = Caller::User(holder.clone());
        let did = self.issuer_keys.default_issuer(&caller);
        let (key, _, format) = self
            .issuer_keys
            .for_issuer(&caller, &did, Some(format))
            .await?;
        sichat_core::vc::credential::check_presentation(&presentation)?;
        let issuer = self.issuer.clone();
        let (challenge, domain) = (challenge.map(str::to_owned), domain.map(str::to_owned));
        Ok(self
            .gate
            .run(async move {
                issuer
                    .present(
                        presentation,
                        &key,
                        format,
                        challenge.as_deref(),
                        domain.as_deref(),
                    )
                    .await
            })
            .await??)
    }

    /// Changes a credential's status (`POST /credentials/status`).
    pub async fn update_status(
        &self,
        caller: &Caller,
        credential: &str,
        wanted: &[Wanted],
    ) -> Result<Vec<CredentialStatus>, ApiError> {
        self.status.change(caller, credential, wanted).await
    }

    /// The signed status list `id` (`GET /status/{id}`); signing runs behind the work
    /// gate, a list whose bits did not change is served from memory.
    pub async fn status_list(&self, id: &str) -> Result<Arc<Value>, ApiError> {
        if let Some(hit) = self.status.current(id).await? {
            return Ok(hit);
        }
        let status = self.status.clone();
        let id = id.to_owned();
        let missing = ApiError::not_found(format!("no status list `{id}`"));
        self.gate
            .run(async move { status.credential(&id).await })
            .await??
            .ok_or(missing)
    }

    pub async fn verify_credential(
        &self,
        credential: Value,
        options: VerifyOptions,
    ) -> Result<VerificationResult, ApiError> {
        let verifier = self.verifier.clone();
        // An enveloped credential is a JWS to check (its status lists, verified once per
        // content, aside): light; an embedded proof means canonicalizing the credential.
        let light = credential
            .get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| t == sichat_core::vc::jose::ENVELOPED_VC);
        let work = async move { verifier.verify_credential(&credential, &options).await };
        let report = if light {
            self.gate.run_light(work).await??
        } else {
            self.gate.run(work).await??
        };
        Ok(report.into_result())
    }

    pub async fn verify_presentation(
        &self,
        presentation: Value,
        options: VerifyOptions,
    ) -> Result<VerificationResult, ApiError> {
        let verifier = self.verifier.clone();
        let report = self
            .gate
            .run(async move { verifier.verify_presentation(&presentation, &options).await })
            .await??;
        Ok(report.into_result())
    }
}

fn issuer_id(credential: &Map<String, Value>) -> Option<String> {
    match credential.get("issuer")? {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("id")?.as_str().map(str::to_owned),
        _ => None,
    }
}
