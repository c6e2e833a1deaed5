//! Credentials over the VC-API: issuing as a DID this server controls (its did:web, the
//! did:key of one of its signing keys, a user's did:web), recording what was issued, and
//! verifying credentials and presentations with `sichat_core::vc`.

use std::sync::Arc;

use tokio::sync::Semaphore;

use serde_json::{Map, Value};
use sichat_core::Clock;
use sichat_core::api::{IssueOptions, VerificationResult, VerifyOptions};
use sichat_core::id::{Did, Owner};
use sichat_core::keys::{KeyInfo, KeyType};
use sichat_core::store::KeyStatus;
use sichat_core::store::{Changes, IssuedCredentialRecord, UnitOfWork};
use sichat_core::vc::{
    CanonError, Cryptosuite, IssueError, Issuer, IssuerKey, ProofFormat, ShapeError, Verifier,
    VerifyError,
};

use super::ServerKeys;
use super::identity::IdentityService;
use crate::error::{ApiError, ProblemKind};
use crate::store::SeaStore;

/// Who asks to issue.
#[derive(Debug, Clone)]
pub enum Caller {
    /// The admin token: may issue as any DID of the server or its users.
    Admin,
}

/// Bounds the CPU that credential requests cost: `concurrency` operations run at once on
/// blocking threads (off the async workers), `queue` more wait; beyond them, 503.
struct WorkGate {
    running: Arc<Semaphore>,
    admitted: Arc<Semaphore>,
}

impl WorkGate {
    fn new(concurrency: usize, queue: usize) -> Self {
        let concurrency = if concurrency == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            concurrency
        };
        Self {
            running: Arc::new(Semaphore::new(concurrency)),
            admitted: Arc::new(Semaphore::new(concurrency + queue)),
        }
    }

    /// Runs `work` on a blocking thread once a place is free. A place is held until the
    /// work is done, even if the caller has gone.
    async fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, ApiError> {
        let admitted = self.admitted.clone().try_acquire_owned().map_err(|_| {
            ApiError::busy("too many credential operations are under way; retry shortly")
        })?;
        let running = self
            .running
            .clone()
            .acquire_owned()
            .await
            .map_err(ApiError::internal)?;
        let runtime = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            let _places = (admitted, running);
            runtime.block_on(work)
        })
        .await
        .map_err(ApiError::internal)
    }
}

pub struct CredentialService {
    gate: WorkGate,
    issuer: Issuer,
    verifier: Verifier,
    keys: Arc<ServerKeys>,
    identity: Arc<IdentityService>,
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
            "ldp_vc" | "vc" | "application/vc" => Ok(None),
            other => Err(ApiError::validation(format!(
                "options.format `{other}` is not supported (vc+jwt, or a Data Integrity proof)"
            ))
            .with("field", "options.format".into())),
        };
    }
    match (options.proof_type.as_deref(), options.cryptosuite.as_deref()) {
        (None | Some("DataIntegrityProof"), Some(suite)) => Cryptosuite::parse(suite)
            .map(|s| Some(ProofFormat::DataIntegrity(s)))
            .ok_or_else(|| {
                ApiError::validation(format!(
                    "options.cryptosuite `{suite}` is not supported (eddsa-rdfc-2022, ecdsa-rdfc-2019)"
                ))
                .with("field", "options.cryptosuite".into())
            }),
        (None | Some("DataIntegrityProof"), None) => Ok(None),
        (Some(other), _) => Err(ApiError::validation(format!(
            "options.type `{other}` is not supported (DataIntegrityProof)"
        ))
        .with("field", "options.type".into())),
    }
}

/// How much credential work may run and wait at once.
#[derive(Debug, Clone, Copy)]
pub struct WorkLimits {
    /// 0: one per CPU core.
    pub concurrency: usize,
    pub queue: usize,
}

impl CredentialService {
    pub fn new(
        issuer: Issuer,
        verifier: Verifier,
        limits: WorkLimits,
        keys: Arc<ServerKeys>,
        identity: Arc<IdentityService>,
        store: Arc<SeaStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            gate: WorkGate::new(limits.concurrency, limits.queue),
            issuer,
            verifier,
            keys,
            identity,
            store,
            clock,
        }
    }

    /// The signing key for `issuer` (a DID this server controls) in `format`.
    async fn issuer_key(
        &self,
        caller: &Caller,
        issuer: &str,
        format: Option<ProofFormat>,
    ) -> Result<(IssuerKey, Owner, ProofFormat), ApiError> {
        let not_ours = || {
            ApiError::validation(format!(
                "issuer `{issuer}` is not a DID this server controls"
            ))
            .with("field", "issuer".into())
        };
        let did = Did::parse(issuer).map_err(|_| not_ours())?;
        let Caller::Admin = caller;
        // A did:key of one of the server's signing keys: that key, whatever the format.
        if did.method() == "key" {
            let key = self
                .keys
                .list(&Owner::Server)
                .await?
                .into_iter()
                .find(|k| k.status == KeyStatus::Active && k.did_key == did)
                .ok_or_else(not_ours)?;
            let format = format
                .or(Cryptosuite::for_key(key.key_type).map(ProofFormat::DataIntegrity))
                .ok_or_else(not_ours)?;
            let method = did.with_fragment(&key.public_key_multibase);
            return Ok((issuer_key(&did, method, &key), Owner::Server, format));
        }
        let owner = self.identity.owner_of(&did).ok_or_else(not_ours)?;
        let keys: Vec<KeyInfo> = self
            .keys
            .list(&owner)
            .await?
            .into_iter()
            .filter(|k| k.status == KeyStatus::Active && k.key_type.is_signing())
            .collect();
        let wanted = match format {
            Some(ProofFormat::DataIntegrity(suite)) => vec![suite.key_type()],
            _ => vec![KeyType::Ed25519, KeyType::P256],
        };
        let key = wanted
            .iter()
            .find_map(|t| keys.iter().find(|k| k.key_type == *t))
            .ok_or_else(|| {
                ApiError::validation(format!(
                    "`{issuer}` has no active {} key",
                    wanted
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(" or ")
                ))
            })?;
        let format = format
            .or(Cryptosuite::for_key(key.key_type).map(ProofFormat::DataIntegrity))
            .ok_or_else(not_ours)?;
        let method = did.with_fragment(&key.public_key_multibase);
        Ok((issuer_key(&did, method, key), owner, format))
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
        if !credential.contains_key("issuer") {
            credential.insert(
                "issuer".into(),
                Value::String(self.identity.server_did().to_string()),
            );
        }
        let issuer = issuer_id(&credential).ok_or_else(|| {
            ApiError::from(ShapeError {
                field: "issuer".into(),
                reason: "must be a URL or an object with an `id`".into(),
            })
        })?;
        let (key, owner, format) = self.issuer_key(caller, &issuer, format).await?;
        if !credential.contains_key("id") {
            credential.insert(
                "id".into(),
                Value::String(format!("urn:uuid:{}", uuid::Uuid::new_v4())),
            );
        }
        let (credential, checked) = self.issuer.prepare(credential, &key)?;
        let issuer = self.issuer.clone();
        let version = checked.version;
        let secured = self
            .gate
            .run(async move { issuer.secure(credential, version, &key, format).await })
            .await??;
        let record = IssuedCredentialRecord {
            id: checked.id.unwrap_or_default(),
            issuer: checked.issuer,
            owner,
            subject: checked.subjects.into_iter().next(),
            types: checked.types,
            format: format.name().into(),
            issued_at: self.clock.now_millis(),
        };
        self.store
            .save_changes(&Changes::new().issued(record))
            .await?;
        Ok(secured)
    }

    pub async fn verify_credential(
        &self,
        credential: Value,
        options: VerifyOptions,
    ) -> Result<VerificationResult, ApiError> {
        let verifier = self.verifier.clone();
        let report = self
            .gate
            .run(async move { verifier.verify_credential(&credential, &options).await })
            .await??;
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

fn issuer_key(did: &Did, method: String, key: &KeyInfo) -> IssuerKey {
    IssuerKey {
        issuer: did.to_string(),
        method,
        key: key.id.clone(),
        key_type: key.key_type,
    }
}
