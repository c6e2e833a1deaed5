//! The holder side: each user's credential store (verified before it is kept, bounded
//! per user) and presentations of chosen credentials signed as the user's did:web.

use std::sync::Arc;

use serde_json::{Map, Value, json};
use sichat_core::Clock;
use sichat_core::api::{HeldCredentialView, PresentOptions, VerificationResult, VerifyOptions};
use sichat_core::id::UserName;
use sichat_core::store::{
    Changes, CredentialStore, HeldCredentialRecord, MAX_HELD_PER_HOLDER, UnitOfWork,
};
use sichat_core::vc::credential::{self, CheckedCredential};
use sichat_core::vc::jose::{self, Secured};
use sichat_core::vc::{Cryptosuite, ProofFormat, ShapeError};

use super::credentials::{CredentialService, data_integrity_suite};
use super::identity::IdentityService;
use crate::error::ApiError;
use crate::store::SeaStore;

/// Credentials in one presentation (the verifier's own bound).
const MAX_PRESENTED: usize = sichat_core::vc::verify::MAX_CREDENTIALS;

pub struct HolderService {
    store: Arc<SeaStore>,
    credentials: Arc<CredentialService>,
    identity: Arc<IdentityService>,
    clock: Arc<dyn Clock>,
}

fn view(r: &HeldCredentialRecord) -> HeldCredentialView {
    HeldCredentialView {
        id: r.id.clone(),
        format: r.format.clone(),
        issuer: r.issuer.clone(),
        types: r.types.clone(),
        received_at: r.received_at,
    }
}

/// What a verified credential says about itself, and how it is secured.
fn describe(doc: &Map<String, Value>) -> Result<(CheckedCredential, String), ApiError> {
    if doc.get("type").and_then(Value::as_str) == Some(jose::ENVELOPED_VC) {
        let bad = |e: jose::JoseError| {
            ApiError::validation(e.to_string()).with("field", "verifiableCredential.id".into())
        };
        if let Ok(sd_jwt) = jose::unwrap_envelope(doc, Secured::SdCredential) {
            let (_, claims) = jose::decode_sd(sd_jwt).map_err(bad)?;
            return Ok((credential::check_credential(&claims)?, jose::SD_TYP.into()));
        }
        let jws = jose::unwrap_envelope(doc, Secured::Credential).map_err(bad)?;
        let decoded = jose::decode(jws).map_err(bad)?;
        let checked = credential::check_credential(&decoded.payload)?;
        return Ok((checked, jose::VC_TYP.into()));
    }
    let checked = credential::check_credential(doc)?;
    let proof = match doc.get("proof") {
        Some(Value::Array(proofs)) => proofs.first(),
        other => other,
    };
    let format = proof
        .and_then(|p| p.get("cryptosuite").or_else(|| p.get("type")))
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_owned();
    Ok((checked, format))
}

/// The proof format `options` ask of a presentation: Data Integrity (default:
/// `eddsa-rdfc-2022`) or `vp+jwt`.
fn presentation_format(options: &PresentOptions) -> Result<ProofFormat, ApiError> {
    if let Some(format) = &options.format {
        return match format.as_str() {
            "vp+jwt" => Ok(ProofFormat::VcJwt),
            "ldp_vp" | "vp" => Ok(ProofFormat::DataIntegrity(Cryptosuite::EddsaRdfc2022)),
            other => Err(ApiError::validation(format!(
                "options.format `{other}` is not supported (vp+jwt, or a Data Integrity proof)"
            ))
            .with("field", "options.format".into())),
        };
    }
    let suite = data_integrity_suite(
        options.proof_type.as_deref(),
        options.cryptosuite.as_deref(),
    )?;
    Ok(ProofFormat::DataIntegrity(
        suite.unwrap_or(Cryptosuite::EddsaRdfc2022),
    ))
}

/// An SD-JWT credential with only the disclosures at `keep`.
fn chosen_disclosures(
    document: &Value,
    record: &HeldCredentialRecord,
    keep: &[String],
) -> Result<Value, ApiError> {
    let field = || format!("disclose.{}", record.id);
    let envelope = document
        .as_object()
        .filter(|_| record.format == jose::SD_TYP);
    let Some(sd_jwt) = envelope.and_then(|e| jose::unwrap_envelope(e, Secured::SdCredential).ok())
    else {
        return Err(ApiError::validation(format!(
            "credential `{}` is {}, not an SD-JWT: it has nothing to disclose selectively",
            record.id, record.format
        ))
        .with("field", field().into()));
    };
    let selected = jose::select_disclosures(sd_jwt, keep)
        .map_err(|e| ApiError::validation(e.to_string()).with("field", field().into()))?;
    Ok(jose::envelope(&selected, Secured::SdCredential))
}

impl HolderService {
    pub fn new(
        store: Arc<SeaStore>,
        credentials: Arc<CredentialService>,
        identity: Arc<IdentityService>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            credentials,
            identity,
            clock,
        }
    }

    /// Verifies `credential` and keeps it for `holder`. `Err(result)` when it does not
    /// verify (nothing is kept).
    pub async fn keep(
        &self,
        holder: &UserName,
        credential: Value,
    ) -> Result<Result<HeldCredentialView, VerificationResult>, ApiError> {
        let Value::Object(doc) = &credential else {
            return Err(ShapeError {
                field: "verifiableCredential".into(),
                reason: "must be a JSON object".into(),
            }
            .into());
        };
        let (checked, format) = describe(doc)?;
        // Early, to spare the verification; the store enforces the bound in the insert's
        // own transaction.
        if self.store.count_held(holder).await? >= MAX_HELD_PER_HOLDER {
            return Err(ApiError::conflict(format!(
                "{holder} already keeps {MAX_HELD_PER_HOLDER} credentials; delete some first"
            )));
        }
        let result = self
            .credentials
            .verify_credential(credential.clone(), VerifyOptions::default())
            .await?;
        if !result.verified {
            return Ok(Err(result));
        }
        let record = HeldCredentialRecord {
            holder: holder.clone(),
            id: checked
                .id
                .unwrap_or_else(|| format!("urn:uuid:{}", uuid::Uuid::new_v4())),
            document: serde_json::to_string(&credential).map_err(ApiError::internal)?,
            format,
            issuer: checked.issuer,
            types: checked.types,
            received_at: self.clock.now_millis(),
        };
        self.store
            .save_changes(&Changes::new().hold(record.clone()))
            .await?;
        Ok(Ok(view(&record)))
    }

    pub async fn list(&self, holder: &UserName) -> Result<Vec<HeldCredentialView>, ApiError> {
        Ok(self
            .store
            .list_held(holder)
            .await?
            .iter()
            .map(view)
            .collect())
    }

    async fn record(&self, holder: &UserName, id: &str) -> Result<HeldCredentialRecord, ApiError> {
        self.store
            .get_held(holder, id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("{holder} keeps no credential `{id}`")))
    }

    /// The credential as it was received.
    pub async fn get(&self, holder: &UserName, id: &str) -> Result<Value, ApiError> {
        let record = self.record(holder, id).await?;
        serde_json::from_str(&record.document).map_err(ApiError::internal)
    }

    pub async fn forget(&self, holder: &UserName, id: &str) -> Result<(), ApiError> {
        self.store
            .save_changes(&Changes::new().forget(holder.clone(), id.to_owned()))
            .await
            .map_err(|e| match e {
                sichat_core::store::StoreError::NotFound(_) => {
                    ApiError::not_found(format!("{holder} keeps no credential `{id}`"))
                }
                other => other.into(),
            })
    }

    /// A presentation of the holder's credentials `ids`, signed as the holder's did:web.
    pub async fn present(
        &self,
        holder: &UserName,
        ids: &[String],
        options: &PresentOptions,
        disclose: &std::collections::BTreeMap<String, Vec<String>>,
    ) -> Result<Value, ApiError> {
        if ids.is_empty() || ids.len() > MAX_PRESENTED {
            return Err(ApiError::validation(format!(
                "`credentials` must name 1 to {MAX_PRESENTED} credentials"
            ))
            .with("field", "credentials".into()));
        }
        let format = presentation_format(options)?;
        if let Some(other) = disclose.keys().find(|k| !ids.contains(k)) {
            return Err(ApiError::validation(format!(
                "`disclose` names `{other}`, which is not among `credentials`"
            ))
            .with("field", "disclose".into()));
        }
        let mut credentials = Vec::with_capacity(ids.len());
        for id in ids {
            let record = self.record(holder, id).await?;
            let mut document =
                serde_json::from_str::<Value>(&record.document).map_err(ApiError::internal)?;
            if let Some(keep) = disclose.get(id) {
                document = chosen_disclosures(&document, &record, keep)?;
            }
            credentials.push(document);
        }
        let did = self.identity.user_did(holder).to_string();
        let presentation = json!({
            "@context": [sichat_core::contexts::CREDENTIALS_V2],
            "id": format!("urn:uuid:{}", uuid::Uuid::new_v4()),
            "type": ["VerifiablePresentation"],
            "holder": did,
            "verifiableCredential": credentials,
        });
        let Value::Object(presentation) = presentation else {
            unreachable!("a JSON object")
        };
        self.credentials
            .present(
                holder,
                presentation,
                format,
                options.challenge.as_deref(),
                options.domain.as_deref(),
            )
            .await
    }
}
