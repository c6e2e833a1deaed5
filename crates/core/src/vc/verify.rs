//! Verifying credentials and presentations: every check by name, with a VC Data Model
//! 2.0 §7.1 problem detail for each failure. Works offline given a [`MethodResolver`]
//! that does (did:key, did:jwk, did:peer, pinned documents).
//!
//! Checks: `proof` (signature, suite, key), `proofPurpose` (the proof's purpose, and the
//! method listed under it in its controller's document), `issuer` / `holder` (the DID
//! that signs controls the method), `challenge`, `domain`, `proofExpires`, `validFrom`,
//! `validUntil` (1.1: `issuanceDate`, `expirationDate`), `credential` (the structure of
//! an enveloped or embedded credential), `credentials` (a presentation's credentials),
//! `status` (each Bitstring Status List entry: the list retrieved through a
//! [`StatusListSource`], verified, issued by the credential's issuer, and its bit clear),
//! `trustedIssuer` (only with a trusted-issuer policy: the issuer is in it).

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::canon::Canonicalizer;
use super::credential::{self, ShapeError, Validity};
use super::data_integrity::{self, PROOF_TYPE, ProofError};
use super::jose::{self, Secured};
use super::methods::{MethodError, MethodResolver, ResolvedMethod};
use super::status::{self, SourceError, StatusListSource};
use crate::clock::Clock;
use crate::did::{Relationship, ResolveError};
use crate::keys::KeyType;

/// Problem types: VC Data Model 2.0 §7.1 and Data Integrity §3 (processing errors).
pub mod problem {
    pub const PARSING: &str = "https://www.w3.org/TR/vc-data-model#PARSING_ERROR";
    pub const CRYPTOGRAPHIC: &str =
        "https://www.w3.org/TR/vc-data-model#CRYPTOGRAPHIC_SECURITY_ERROR";
    pub const MALFORMED: &str = "https://www.w3.org/TR/vc-data-model#MALFORMED_VALUE_ERROR";
    pub const RANGE: &str = "https://www.w3.org/TR/vc-data-model#RANGE_ERROR";
    pub const PROOF_VERIFICATION: &str = "https://w3id.org/security#PROOF_VERIFICATION_ERROR";
    pub const PROOF_TRANSFORMATION: &str = "https://w3id.org/security#PROOF_TRANSFORMATION_ERROR";
    pub const INVALID_DOMAIN: &str = "https://w3id.org/security#INVALID_DOMAIN_ERROR";
    pub const INVALID_CHALLENGE: &str = "https://w3id.org/security#INVALID_CHALLENGE_ERROR";
    pub const INVALID_METHOD: &str = "https://w3id.org/security#INVALID_VERIFICATION_METHOD";
}

/// One problem a verification found (RFC 9457 members, plus the check's name).
pub type ProblemDetail = crate::api::VerificationProblem;

/// The outcome of a verification.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct Report {
    pub verified: bool,
    /// The checks that ran and passed.
    pub checks: Vec<String>,
    pub warnings: Vec<ProblemDetail>,
    pub errors: Vec<ProblemDetail>,
    /// Set when a verification method could not be resolved because the resolver is
    /// saturated: no verdict, the caller should retry.
    #[serde(skip)]
    busy: Option<String>,
}

impl Report {
    fn pass(&mut self, check: &str) {
        if !self.checks.iter().any(|c| c == check) {
            self.checks.push(check.into());
        }
    }

    fn fail(&mut self, check: &str, kind: &str, title: &str, detail: impl Into<String>) {
        self.errors.push(ProblemDetail {
            kind: kind.into(),
            title: title.into(),
            detail: detail.into(),
            check: check.into(),
        });
    }

    fn warn(&mut self, check: &str, kind: &str, title: &str, detail: impl Into<String>) {
        self.warnings.push(ProblemDetail {
            kind: kind.into(),
            title: title.into(),
            detail: detail.into(),
            check: check.into(),
        });
    }

    fn finish(mut self) -> Self {
        // A check that failed anywhere did not pass.
        let failed: Vec<String> = self.errors.iter().map(|e| e.check.clone()).collect();
        self.checks.retain(|c| !failed.contains(c));
        self.verified = self.errors.is_empty();
        self
    }

    /// The wire form (`problemDetails` repeats `errors`).
    pub fn into_result(self) -> crate::api::VerificationResult {
        crate::api::VerificationResult {
            verified: self.verified,
            checks: self.checks,
            warnings: self.warnings,
            problem_details: self.errors.clone(),
            errors: self.errors,
        }
    }

    fn absorb(&mut self, prefix: &str, other: Report) {
        for mut e in other.errors {
            e.detail = format!("{prefix}: {}", e.detail);
            self.errors.push(e);
        }
        for mut w in other.warnings {
            w.detail = format!("{prefix}: {}", w.detail);
            self.warnings.push(w);
        }
    }
}

/// No verdict: input that is not a credential or presentation at all (HTTP 400
/// problem), or a resolver too busy to find a verification method (HTTP 503).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Malformed(#[from] ShapeError),
    #[error("{0}")]
    Busy(String),
}

/// Proofs in one proof set: each costs a canonicalization of the whole document.
pub const MAX_PROOFS: usize = 4;
/// Credentials in one presentation.
pub const MAX_CREDENTIALS: usize = 16;

fn check_counts(doc: &Map<String, Value>) -> Result<(), ShapeError> {
    for (field, max) in [
        ("proof", MAX_PROOFS),
        ("verifiableCredential", MAX_CREDENTIALS),
    ] {
        if let Some(Value::Array(items)) = doc.get(field)
            && items.len() > max
        {
            return Err(ShapeError {
                field: field.into(),
                reason: format!("has {} entries; at most {max} are verified", items.len()),
            });
        }
    }
    Ok(())
}

fn verdict(report: Report) -> Result<Report, VerifyError> {
    match report.busy {
        Some(detail) => Err(VerifyError::Busy(detail)),
        None => Ok(report.finish()),
    }
}

pub use crate::api::VerifyOptions;

/// Verifies credentials and presentations.
#[derive(Clone)]
pub struct Verifier {
    canon: Canonicalizer,
    methods: Arc<dyn MethodResolver>,
    clock: Arc<dyn Clock>,
    skew: Duration,
    status: Option<Arc<dyn StatusListSource>>,
    lists: Arc<ListCache>,
    trusted_issuers: Option<Arc<std::collections::HashSet<String>>>,
}

fn object<'a>(field: &str, value: &'a Value) -> Result<&'a Map<String, Value>, ShapeError> {
    value.as_object().ok_or_else(|| ShapeError {
        field: field.into(),
        reason: "must be a JSON object".into(),
    })
}

fn has_type(doc: &Map<String, Value>, wanted: &str) -> bool {
    match doc.get("type") {
        Some(Value::String(t)) => t == wanted,
        Some(Value::Array(items)) => items.iter().any(|t| t.as_str() == Some(wanted)),
        _ => false,
    }
}

fn did_of(url: &str) -> &str {
    url.split('#').next().unwrap_or(url)
}

/// Whether a proof's method belongs to the signatory (the issuer, the holder).
enum SignerOutcome {
    Controls,
    NotControlled(String),
    NotChecked(String),
    NoSignatory,
}

/// The signatory check over the proofs of one document: it passes when one of them is the
/// signatory's (a proof set or chain may also carry others' proofs, e.g. a notary's,
/// each of which must still verify).
fn signer_verdict(outcomes: &[SignerOutcome], signatory: &Signatory<'_>, report: &mut Report) {
    if outcomes
        .iter()
        .any(|o| matches!(o, SignerOutcome::Controls))
    {
        return report.pass(signatory.check);
    }
    if let Some(SignerOutcome::NotControlled(detail)) = outcomes
        .iter()
        .find(|o| matches!(o, SignerOutcome::NotControlled(_)))
    {
        return report.fail(
            signatory.check,
            problem::PROOF_VERIFICATION,
            "Signer does not control the method",
            detail.clone(),
        );
    }
    if let Some(SignerOutcome::NotChecked(detail)) = outcomes
        .iter()
        .find(|o| matches!(o, SignerOutcome::NotChecked(_)))
    {
        report.warn(
            signatory.check,
            problem::PROOF_VERIFICATION,
            "Control not checked",
            detail.clone(),
        );
    }
}

/// Whether the proof or its signatory already failed: such a credential is not verified
/// whatever its status, and its status URLs (anyone's) are not fetched.
fn signature_failed(report: &Report) -> bool {
    report
        .errors
        .iter()
        .any(|e| e.check == "proof" || e.check == "issuer")
}

/// How long a verified list is reused (a list's `ttl` is usually 5 minutes).
const LIST_REUSE_MS: i64 = 300_000;

/// A status list credential that verified, decoded.
struct VerifiedList {
    issuer: Option<String>,
    list: status::PublishedList,
    valid_until: Option<DateTime<Utc>>,
    verified_at: DateTime<Utc>,
}

enum ListOutcome {
    Verified(Arc<VerifiedList>),
    /// Reported.
    Failed,
    /// No verdict.
    Busy,
}

/// Verified status lists by the hash of their content, and the bytes they hold.
#[derive(Default)]
struct ListCache(std::sync::Mutex<(VerifiedLists, usize)>);

type VerifiedLists = std::collections::HashMap<[u8; 32], Arc<VerifiedList>>;

impl ListCache {
    /// Lists kept, and their decoded bytes in all (a minimal list is 16 KiB); beyond
    /// either, the cache starts over.
    const CAPACITY: usize = 64;
    const BYTES: usize = 8 * 1024 * 1024;

    fn get(&self, key: &[u8; 32]) -> Option<Arc<VerifiedList>> {
        self.0.lock().ok()?.0.get(key).cloned()
    }

    fn insert(&self, key: [u8; 32], list: Arc<VerifiedList>) {
        if let Ok(mut cache) = self.0.lock() {
            let size = list.list.bits.len();
            if cache.0.len() >= Self::CAPACITY || cache.1 + size > Self::BYTES {
                cache.0.clear();
                cache.1 = 0;
            }
            if size <= Self::BYTES {
                cache.1 += size;
                cache.0.insert(key, list);
            }
        }
    }
}

/// What signs: the issuer of a credential, the holder of a presentation.
struct Signatory<'a> {
    check: &'static str,
    id: Option<&'a str>,
    purpose: Relationship,
}

impl Verifier {
    pub fn new(
        canon: Canonicalizer,
        methods: Arc<dyn MethodResolver>,
        clock: Arc<dyn Clock>,
        skew: std::time::Duration,
    ) -> Self {
        Self {
            canon,
            methods,
            clock,
            skew: Duration::from_std(skew).unwrap_or(Duration::zero()),
            status: None,
            lists: Arc::default(),
            trusted_issuers: None,
        }
    }

    /// Finds verification methods through `methods` instead (a clone keeps the verified
    /// status lists it shares with the original).
    pub fn with_methods(mut self, methods: Arc<dyn MethodResolver>) -> Self {
        self.methods = methods;
        self
    }

    /// Accepts credentials only from these issuers: any other fails the `trustedIssuer`
    /// check (status lists are still judged by their own rule: the credential's issuer
    /// must have issued them).
    pub fn with_trusted_issuers(mut self, issuers: impl IntoIterator<Item = String>) -> Self {
        self.trusted_issuers = Some(Arc::new(issuers.into_iter().collect()));
        self
    }

    /// The `trustedIssuer` check, when a policy is set.
    fn trusted_issuer(&self, issuer: &str, report: &mut Report) {
        let Some(trusted) = &self.trusted_issuers else {
            return;
        };
        if trusted.contains(issuer) {
            report.pass("trustedIssuer");
        } else {
            report.fail(
                "trustedIssuer",
                problem::PROOF_VERIFICATION,
                "Issuer not trusted",
                format!("`{issuer}` is not among the trusted issuers"),
            );
        }
    }

    /// Checks `credentialStatus` entries against lists from `source`. Without one, a
    /// credential with a status entry is reported with a warning that its status was not
    /// checked.
    pub fn with_status_source(mut self, source: Arc<dyn StatusListSource>) -> Self {
        self.status = Some(source);
        self
    }

    pub fn canonicalizer(&self) -> &Canonicalizer {
        &self.canon
    }

    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.clock.now_millis()).unwrap_or_default()
    }

    /// Verifies a credential secured with Data Integrity proofs or enveloped as `vc+jwt`.
    pub async fn verify_credential(
        &self,
        credential: &Value,
        options: &VerifyOptions,
    ) -> Result<Report, VerifyError> {
        let mut report = Report::default();
        self.credential(credential, options, true, &mut report)
            .await?;
        verdict(report)
    }

    /// Verifies one credential into `report`; returns its claims (the document, or the
    /// payload of an envelope) when they could be read.
    async fn credential(
        &self,
        credential: &Value,
        options: &VerifyOptions,
        check_status: bool,
        report: &mut Report,
    ) -> Result<Option<Map<String, Value>>, VerifyError> {
        let doc = object("verifiableCredential", credential)?;
        check_counts(doc)?;
        if has_type(doc, jose::ENVELOPED_VC) {
            let sd_prefix = format!("data:{},", jose::SD_MEDIA);
            let secured = match doc.get("id").and_then(Value::as_str) {
                Some(id) if id.starts_with(&sd_prefix) => Secured::SdCredential,
                _ => Secured::Credential,
            };
            let claims = self.enveloped_credential(doc, secured, report).await;
            if let Some((_, issuer)) = &claims
                && check_status
            {
                self.trusted_issuer(issuer, report);
            }
            if let Some((claims, issuer)) = &claims
                && check_status
                && !signature_failed(report)
            {
                self.status(claims, issuer, report).await;
            }
            return Ok(claims.map(|(c, _)| c));
        }
        let checked = credential::check_credential(doc)?;
        let signatory = Signatory {
            check: "issuer",
            id: Some(&checked.issuer),
            purpose: Relationship::AssertionMethod,
        };
        self.proofs(doc, &signatory, options, report).await;
        self.validity(&checked.validity, checked.version, report);
        if check_status {
            self.trusted_issuer(&checked.issuer, report);
        }
        if check_status && !signature_failed(report) {
            self.status(doc, &checked.issuer, report).await;
        }
        Ok(Some(doc.clone()))
    }

    /// A published status list credential, verified (proof, validity) and decoded; kept
    /// by its content hash, so the same list is verified once while it stays valid.
    async fn verified_list(
        &self,
        url: &str,
        published: &Value,
        report: &mut Report,
    ) -> ListOutcome {
        let fail = |report: &mut Report, kind: &str, title: &str, detail: String| {
            report.fail("status", kind, title, format!("{url}: {detail}"))
        };
        let key: [u8; 32] =
            Sha256::digest(serde_json::to_vec(published).unwrap_or_default()).into();
        let now = self.now();
        if let Some(hit) = self.lists.get(&key)
            && hit.valid_until.is_none_or(|t| t + self.skew >= now)
            && (now - hit.verified_at).num_milliseconds() < LIST_REUSE_MS
        {
            return ListOutcome::Verified(hit);
        }
        let mut inner = Report::default();
        let claims = match Box::pin(self.credential(
            published,
            &VerifyOptions::default(),
            false,
            &mut inner,
        ))
        .await
        {
            Ok(claims) => claims,
            Err(VerifyError::Busy(detail)) => {
                report.busy = Some(detail);
                return ListOutcome::Busy;
            }
            Err(VerifyError::Malformed(e)) => {
                fail(
                    report,
                    status::problem::VERIFICATION,
                    "Invalid status list",
                    e.to_string(),
                );
                return ListOutcome::Failed;
            }
        };
        if inner.busy.is_some() {
            report.busy = inner.busy;
            return ListOutcome::Busy;
        }
        if let Some(e) = inner.errors.first() {
            fail(
                report,
                status::problem::VERIFICATION,
                "Status list does not verify",
                format!("{} ({})", e.detail, e.check),
            );
            return ListOutcome::Failed;
        }
        let Some(claims) = claims else {
            fail(
                report,
                status::problem::VERIFICATION,
                "Invalid status list",
                "its claims could not be read".into(),
            );
            return ListOutcome::Failed;
        };
        // The list must be the one the entry names (another list of the same issuer and
        // purpose would answer for other credentials).
        if let Some(id) = claims.get("id").and_then(Value::as_str)
            && id != url
        {
            fail(
                report,
                status::problem::VERIFICATION,
                "Wrong status list",
                format!("the credential served is `{id}`"),
            );
            return ListOutcome::Failed;
        }
        let list = match status::published_list(&claims) {
            Ok(list) => list,
            Err((kind, detail)) => {
                fail(report, &kind, "Invalid status list", detail);
                return ListOutcome::Failed;
            }
        };
        let checked = credential::check_credential(&claims).ok();
        let issuer = checked.as_ref().map(|c| c.issuer.clone());
        let valid_until = checked.and_then(|c| c.validity.until);
        let verified = Arc::new(VerifiedList {
            issuer,
            list,
            valid_until,
            verified_at: now,
        });
        self.lists.insert(key, verified.clone());
        ListOutcome::Verified(verified)
    }

    /// The `status` check: every `BitstringStatusListEntry` of `claims`.
    async fn status(&self, claims: &Map<String, Value>, issuer: &str, report: &mut Report) {
        let (entries, other) = match status::entries(claims) {
            Ok(found) => found,
            Err(e) => {
                return report.fail(
                    "status",
                    problem::MALFORMED,
                    "Malformed credentialStatus",
                    e.to_string(),
                );
            }
        };
        for kind in other {
            report.warn(
                "status",
                status::problem::RETRIEVAL,
                "Status not checked",
                format!("status entries of type `{kind}` are not supported"),
            );
        }
        if entries.is_empty() {
            return;
        }
        let Some(source) = &self.status else {
            return report.warn(
                "status",
                status::problem::RETRIEVAL,
                "Status not checked",
                "this verifier has no source of status lists",
            );
        };
        for entry in entries {
            let fail = |report: &mut Report, kind: &str, title: &str, detail: String| {
                report.fail(
                    "status",
                    kind,
                    title,
                    format!("{}: {detail}", entry.list_url),
                )
            };
            let published = match source.fetch(&entry.list_url).await {
                Ok(published) => published,
                Err(SourceError::Busy(detail)) => {
                    report.busy = Some(detail);
                    return;
                }
                Err(SourceError::Unavailable(detail)) => {
                    fail(
                        report,
                        status::problem::RETRIEVAL,
                        "Status list unavailable",
                        detail,
                    );
                    continue;
                }
            };
            let published = status::as_verifiable(published);
            let verified = match self
                .verified_list(&entry.list_url, &published, report)
                .await
            {
                ListOutcome::Verified(v) => v,
                ListOutcome::Failed => continue,
                ListOutcome::Busy => return,
            };
            if verified.issuer.as_deref() != Some(issuer) {
                fail(
                    report,
                    status::problem::VERIFICATION,
                    "Status list from another issuer",
                    format!(
                        "the list is issued by `{}`, the credential by `{issuer}`",
                        verified.issuer.as_deref().unwrap_or("nobody")
                    ),
                );
                continue;
            }
            let list = &verified.list;
            if !list.purposes.contains(&entry.purpose) {
                fail(
                    report,
                    status::problem::VERIFICATION,
                    "Status purpose mismatch",
                    format!(
                        "the entry's purpose is `{}`, the list's {:?}",
                        entry.purpose, list.purposes
                    ),
                );
                continue;
            }
            let Some(value) = list.value(&entry) else {
                fail(
                    report,
                    status::problem::RANGE,
                    "Status index out of range",
                    format!(
                        "index {} is beyond the list's {} bits",
                        entry.index,
                        list.bits.len() * 8
                    ),
                );
                continue;
            };
            let message = status::message_for(&entry, value);
            match (entry.purpose.as_str(), value) {
                ("revocation" | "suspension", 0) => {}
                (_, 0) if entry.size == 1 => {}
                ("revocation", _) => fail(
                    report,
                    status::problem::STATUS,
                    "Revoked",
                    format!("the credential is revoked (index {})", entry.index),
                ),
                ("suspension", _) => fail(
                    report,
                    status::problem::STATUS,
                    "Suspended",
                    format!("the credential is suspended (index {})", entry.index),
                ),
                (purpose, value) => report.warn(
                    "status",
                    status::problem::STATUS,
                    "Status",
                    format!(
                        "{purpose}: {value:#x}{}",
                        message.map(|m| format!(" ({m})")).unwrap_or_default()
                    ),
                ),
            }
        }
        report.pass("status");
    }

    /// Verifies a presentation (Data Integrity, or enveloped as `vp+jwt`) and every
    /// credential in it.
    pub async fn verify_presentation(
        &self,
        presentation: &Value,
        options: &VerifyOptions,
    ) -> Result<Report, VerifyError> {
        let doc = object("verifiablePresentation", presentation)?;
        check_counts(doc)?;
        let mut report = Report::default();
        if has_type(doc, jose::ENVELOPED_VP) {
            if let Some(decoded) = self.jws_of(doc, Secured::Presentation, &mut report) {
                let payload = decoded.payload.clone();
                match credential::check_presentation(&payload) {
                    Ok(checked) => {
                        let signatory = Signatory {
                            check: "holder",
                            id: checked.holder.as_deref(),
                            purpose: Relationship::Authentication,
                        };
                        self.jws_signature(&decoded, &signatory, &mut report).await;
                        self.jws_nonce(&payload, options, &mut report);
                        if let Err(e) = check_counts(&payload) {
                            report.fail(
                                "credentials",
                                problem::MALFORMED,
                                "Too many credentials",
                                e.to_string(),
                            );
                        } else {
                            self.embedded_credentials(&payload, &mut report).await;
                        }
                    }
                    Err(e) => report.fail(
                        "credential",
                        problem::MALFORMED,
                        "Malformed presentation",
                        e.to_string(),
                    ),
                }
            }
            return verdict(report);
        }
        let checked = credential::check_presentation(doc)?;
        let signatory = Signatory {
            check: "holder",
            id: checked.holder.as_deref(),
            purpose: Relationship::Authentication,
        };
        self.proofs(doc, &signatory, options, &mut report).await;
        self.embedded_credentials(doc, &mut report).await;
        verdict(report)
    }

    async fn embedded_credentials(&self, doc: &Map<String, Value>, report: &mut Report) {
        let credentials: Vec<&Value> = match doc.get("verifiableCredential") {
            None => return,
            Some(Value::Array(items)) => items.iter().collect(),
            Some(one) => vec![one],
        };
        for (i, vc) in credentials.into_iter().enumerate() {
            let inner = Box::pin(self.verify_credential(vc, &VerifyOptions::default())).await;
            match inner {
                Ok(inner) => report.absorb(&format!("verifiableCredential[{i}]"), inner),
                Err(VerifyError::Busy(detail)) => report.busy = Some(detail),
                Err(e) => report.fail(
                    "credentials",
                    problem::MALFORMED,
                    "Malformed credential",
                    format!("verifiableCredential[{i}]: {e}"),
                ),
            }
        }
        report.pass("credentials");
    }

    fn validity(&self, validity: &Validity, version: credential::VcVersion, report: &mut Report) {
        let now = self.now();
        let (from, until) = match version {
            credential::VcVersion::V2 => ("validFrom", "validUntil"),
            credential::VcVersion::V1 => ("issuanceDate", "expirationDate"),
        };
        match validity.from {
            Some(t) if t > now + self.skew => report.fail(
                from,
                problem::RANGE,
                "Not yet valid",
                format!("the credential is valid from {}", t.to_rfc3339()),
            ),
            Some(_) => report.pass(from),
            None => {}
        }
        match validity.until {
            Some(t) if t + self.skew < now => report.fail(
                until,
                problem::RANGE,
                "Expired",
                format!("the credential expired at {}", t.to_rfc3339()),
            ),
            Some(_) => report.pass(until),
            None => {}
        }
    }

    /// Every proof of a Data Integrity secured document (a proof set; chains through
    /// `previousProof`).
    async fn proofs(
        &self,
        doc: &Map<String, Value>,
        signatory: &Signatory<'_>,
        options: &VerifyOptions,
        report: &mut Report,
    ) {
        let proofs: Vec<&Map<String, Value>> = match doc.get("proof") {
            None => {
                report.fail(
                    "proof",
                    problem::PROOF_VERIFICATION,
                    "No proof",
                    "the document has no `proof`",
                );
                return;
            }
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_object).collect(),
            Some(Value::Object(one)) => vec![one],
            Some(_) => vec![],
        };
        if proofs.is_empty() {
            report.fail(
                "proof",
                problem::MALFORMED,
                "Malformed proof",
                "`proof` must be an object or an array of objects",
            );
            return;
        }
        let mut unsecured = doc.clone();
        unsecured.remove("proof");
        let mut signers = Vec::new();
        for proof in &proofs {
            self.one_proof(
                (&unsecured, &proofs),
                proof,
                signatory,
                options,
                report,
                &mut signers,
            )
            .await;
        }
        signer_verdict(&signers, signatory, report);
    }

    /// One proof, given the document without proofs and every proof in it.
    async fn one_proof(
        &self,
        (unsecured, all): (&Map<String, Value>, &[&Map<String, Value>]),
        proof: &Map<String, Value>,
        signatory: &Signatory<'_>,
        options: &VerifyOptions,
        report: &mut Report,
        signers: &mut Vec<SignerOutcome>,
    ) {
        let fail = |report: &mut Report, title: &str, detail: String| {
            report.fail("proof", problem::PROOF_VERIFICATION, title, detail)
        };
        match proof.get("type").and_then(Value::as_str) {
            Some(
                PROOF_TYPE
                | data_integrity::ED25519_SIGNATURE_2020
                | data_integrity::JSON_WEB_SIGNATURE_2020,
            ) => {}
            Some(other) => {
                return fail(
                    report,
                    "Unsupported proof type",
                    format!("proof type `{other}` is not supported"),
                );
            }
            None => return fail(report, "Malformed proof", "proof without `type`".into()),
        }
        // Before anything is resolved: a proof this verifier cannot check costs nothing.
        if let Err(e) = data_integrity::proof_suite(proof) {
            let title = match e {
                ProofError::UnsupportedCryptosuite(_) => "Unsupported cryptosuite",
                _ => "Malformed proof",
            };
            return fail(report, title, e.to_string());
        }
        // Purpose, as declared.
        let purpose = signatory.purpose.property();
        match proof.get("proofPurpose").and_then(Value::as_str) {
            Some(p) if p == purpose => {}
            other => {
                report.fail(
                    "proofPurpose",
                    problem::PROOF_VERIFICATION,
                    "Wrong proof purpose",
                    format!("the proof purpose is {other:?}, `{purpose}` is required"),
                );
            }
        }
        self.proof_nonce(proof, options, report);
        if let Some(expires) = proof.get("expires") {
            match credential::parse_date("proof.expires", expires) {
                Ok(t) if t + self.skew < self.now() => report.fail(
                    "proofExpires",
                    problem::PROOF_VERIFICATION,
                    "Proof expired",
                    format!("the proof expired at {}", t.to_rfc3339()),
                ),
                Ok(_) => report.pass("proofExpires"),
                Err(e) => report.fail(
                    "proofExpires",
                    problem::MALFORMED,
                    "Malformed proof",
                    e.to_string(),
                ),
            }
        }
        if let Some(created) = proof.get("created")
            && let Err(e) = credential::parse_date("proof.created", created)
        {
            return fail(report, "Malformed proof", e.to_string());
        }
        let Some(method_id) = proof.get("verificationMethod").and_then(Value::as_str) else {
            return fail(
                report,
                "Malformed proof",
                "proof without string `verificationMethod`".into(),
            );
        };
        let Some(method) = self
            .method(method_id, signatory, report, Some(signers))
            .await
        else {
            return;
        };
        // The document the proof covers: without proofs, or with the ones it chains to.
        let mut covered = unsecured.clone();
        if let Some(previous) = proof.get("previousProof") {
            let wanted: Vec<&str> = match previous {
                Value::String(s) => vec![s.as_str()],
                Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            let chained: Vec<Value> = all
                .iter()
                .filter(|p| {
                    p.get("id")
                        .and_then(Value::as_str)
                        .is_some_and(|id| wanted.contains(&id))
                })
                .map(|p| Value::Object((*p).clone()))
                .collect();
            if chained.len() != wanted.len() {
                return fail(
                    report,
                    "Broken proof chain",
                    format!("`previousProof` names proofs that are not in the set: {wanted:?}"),
                );
            }
            covered.insert("proof".into(), Value::Array(chained));
        }
        match data_integrity::verify_proof(&self.canon, &covered, proof, &method.key).await {
            Ok(()) => report.pass("proof"),
            Err(ProofError::Canon(e)) => report.fail(
                "proof",
                problem::PROOF_TRANSFORMATION,
                "The document cannot be canonicalized",
                e.to_string(),
            ),
            Err(ProofError::BadSignature) => report.fail(
                "proof",
                problem::CRYPTOGRAPHIC,
                "Invalid signature",
                format!("the signature does not verify with `{}`", method.id),
            ),
            Err(e @ ProofError::UnsupportedAlgorithm(_)) => {
                fail(report, "Unsupported algorithm", e.to_string())
            }
            Err(e) => fail(report, "Invalid proof", e.to_string()),
        }
    }

    /// Resolves the method, and checks it is the signatory's and allowed for the purpose.
    async fn method(
        &self,
        method_id: &str,
        signatory: &Signatory<'_>,
        report: &mut Report,
        deferred: Option<&mut Vec<SignerOutcome>>,
    ) -> Option<ResolvedMethod> {
        let method = match self.methods.resolve_method(method_id).await {
            Ok(m) => m,
            Err(MethodError::Resolve(ResolveError::Busy(detail))) => {
                report.busy = Some(detail);
                return None;
            }
            Err(e) => {
                report.fail(
                    "proof",
                    problem::INVALID_METHOD,
                    "Unknown verification method",
                    e.to_string(),
                );
                return None;
            }
        };
        if method.allows(signatory.purpose) {
            report.pass("proofPurpose");
        } else {
            report.fail(
                "proofPurpose",
                problem::PROOF_VERIFICATION,
                "Method not authorized for the purpose",
                format!(
                    "`{}` is not listed under `{}` in its controller's document",
                    method.id,
                    signatory.purpose.property()
                ),
            );
        }
        let outcome = match signatory.id {
            Some(id) if id.starts_with("did:") => {
                if did_of(&method.id) == id || method.controller == id {
                    SignerOutcome::Controls
                } else {
                    SignerOutcome::NotControlled(format!(
                        "`{}` is controlled by `{}`, not by `{id}`",
                        method.id, method.controller
                    ))
                }
            }
            Some(id) => SignerOutcome::NotChecked(format!(
                "`{id}` is not a DID: whether it controls `{}` was not checked",
                method.id
            )),
            None => SignerOutcome::NoSignatory,
        };
        match deferred {
            Some(outcomes) => outcomes.push(outcome),
            None => signer_verdict(&[outcome], signatory, report),
        }
        Some(method)
    }

    fn proof_nonce(
        &self,
        proof: &Map<String, Value>,
        options: &VerifyOptions,
        report: &mut Report,
    ) {
        if let Some(challenge) = &options.challenge {
            if proof.get("challenge").and_then(Value::as_str) == Some(challenge) {
                report.pass("challenge");
            } else {
                report.fail(
                    "challenge",
                    problem::INVALID_CHALLENGE,
                    "Wrong challenge",
                    "the proof's `challenge` is not the expected one",
                );
            }
        }
        if let Some(domain) = &options.domain {
            let ok = match proof.get("domain") {
                Some(Value::String(d)) => d == domain,
                Some(Value::Array(ds)) => ds.iter().any(|d| d.as_str() == Some(domain)),
                _ => false,
            };
            if ok {
                report.pass("domain");
            } else {
                report.fail(
                    "domain",
                    problem::INVALID_DOMAIN,
                    "Wrong domain",
                    "the proof's `domain` is not the expected one",
                );
            }
        }
    }

    /// A JOSE presentation binds challenge and domain as the JWT `nonce` and `aud`.
    fn jws_nonce(
        &self,
        payload: &Map<String, Value>,
        options: &VerifyOptions,
        report: &mut Report,
    ) {
        let mut as_proof = Map::new();
        if let Some(n) = payload.get("nonce") {
            as_proof.insert("challenge".into(), n.clone());
        }
        if let Some(a) = payload.get("aud") {
            as_proof.insert("domain".into(), a.clone());
        }
        self.proof_nonce(&as_proof, options, report);
    }

    fn jws_of(
        &self,
        envelope: &Map<String, Value>,
        secured: Secured,
        report: &mut Report,
    ) -> Option<jose::DecodedJws> {
        let decoded = match secured {
            // The payload the checks see is the revealed one; the signature covers the
            // concealed one, as the signing input keeps it.
            Secured::SdCredential => jose::unwrap_envelope(envelope, secured)
                .and_then(jose::decode_sd)
                .map(|(mut jws, revealed)| {
                    jws.payload = revealed;
                    jws
                }),
            _ => jose::unwrap_envelope(envelope, secured).and_then(jose::decode),
        };
        let decoded = match decoded {
            Ok(d) => d,
            Err(e) => {
                report.fail(
                    "proof",
                    problem::PARSING,
                    "Malformed envelope",
                    e.to_string(),
                );
                return None;
            }
        };
        let header = |name: &str| decoded.header.get(name).and_then(Value::as_str);
        // `typ` and `cty` are optional; when present they must say what this is.
        let legacy_typ = match secured {
            Secured::SdCredential => "vc-ld+sd-jwt".to_owned(),
            _ => format!("{}-ld+jwt", secured.cty()),
        };
        if let Some(typ) = header("typ")
            && typ != secured.typ()
            && typ != legacy_typ
        {
            report.fail(
                "proof",
                problem::PARSING,
                "Wrong media type",
                format!("JWS `typ` is `{typ}`, `{}` is required", secured.typ()),
            );
            return None;
        }
        if let Some(cty) = header("cty")
            && cty != secured.cty()
        {
            report.fail(
                "proof",
                problem::PARSING,
                "Wrong content type",
                format!("JWS `cty` is `{cty}`, `{}` is required", secured.cty()),
            );
            return None;
        }
        if decoded.payload.contains_key("vc") || decoded.payload.contains_key("vp") {
            report.fail(
                "credential",
                problem::MALFORMED,
                "JWT-VC 1.1 claims",
                "the payload has `vc`/`vp` claims: VC-JOSE-COSE secures the credential itself",
            );
            return None;
        }
        Some(decoded)
    }

    /// Verifies a `vc+jwt` envelope; returns its payload and issuer when they are well
    /// formed.
    async fn enveloped_credential(
        &self,
        envelope: &Map<String, Value>,
        secured: Secured,
        report: &mut Report,
    ) -> Option<(Map<String, Value>, String)> {
        let decoded = self.jws_of(envelope, secured, report)?;
        let payload = &decoded.payload;
        let checked = match credential::check_credential(payload) {
            Ok(c) if c.version == credential::VcVersion::V2 => c,
            Ok(_) => {
                report.fail(
                    "credential",
                    problem::MALFORMED,
                    "Not a VC 2.0 credential",
                    "VC-JOSE-COSE secures VC Data Model 2.0 credentials only",
                );
                return None;
            }
            Err(e) => {
                report.fail(
                    "credential",
                    problem::MALFORMED,
                    "Malformed credential",
                    e.to_string(),
                );
                return None;
            }
        };
        if let Err(e) = self
            .canon
            .check_terms(&Value::Object(payload.clone()))
            .await
        {
            report.fail(
                "credential",
                problem::PARSING,
                "Invalid JSON-LD",
                e.to_string(),
            );
        } else {
            report.pass("credential");
        }
        let signatory = Signatory {
            check: "issuer",
            id: Some(&checked.issuer),
            purpose: Relationship::AssertionMethod,
        };
        self.jws_signature(&decoded, &signatory, report).await;
        self.validity(&checked.validity, checked.version, report);
        self.jwt_times(payload, report);
        Some((decoded.payload, checked.issuer))
    }

    /// `exp` / `nbf` when they are NumericDates (RFC 7519 §4.1.4–5).
    fn jwt_times(&self, payload: &Map<String, Value>, report: &mut Report) {
        let now = self.now().timestamp();
        let skew = self.skew.num_seconds();
        if let Some(exp) = payload.get("exp").and_then(Value::as_i64)
            && exp.saturating_add(skew) < now
        {
            report.fail(
                "validUntil",
                problem::RANGE,
                "Expired",
                format!("`exp` {exp} has passed"),
            );
        }
        if let Some(nbf) = payload.get("nbf").and_then(Value::as_i64)
            && nbf.saturating_sub(skew) > now
        {
            report.fail(
                "validFrom",
                problem::RANGE,
                "Not yet valid",
                format!("`nbf` is {nbf}"),
            );
        }
    }

    async fn jws_signature(
        &self,
        decoded: &jose::DecodedJws,
        signatory: &Signatory<'_>,
        report: &mut Report,
    ) {
        let fail = |report: &mut Report, title: &str, detail: String| {
            report.fail("proof", problem::CRYPTOGRAPHIC, title, detail)
        };
        let alg = decoded
            .header
            .get("alg")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let key_type = match alg {
            "EdDSA" | "Ed25519" => KeyType::Ed25519,
            "ES256" => KeyType::P256,
            "none" | "" => return fail(report, "Unsecured JWS", "`alg` none is refused".into()),
            a if a.starts_with("HS") => {
                return fail(
                    report,
                    "Symmetric algorithm",
                    format!("`{a}` is a shared-secret algorithm: refused"),
                );
            }
            other => return fail(report, "Unsupported algorithm", format!("`alg` {other}")),
        };
        let Some(kid) = decoded.header.get("kid").and_then(Value::as_str) else {
            return fail(report, "No key id", "the JWS header has no `kid`".into());
        };
        let method_id = match (kid, signatory.id) {
            (k, _) if k.contains(':') => k.to_owned(),
            (k, Some(signer)) if k.starts_with('#') => format!("{signer}{k}"),
            (k, Some(signer)) => format!("{signer}#{k}"),
            (k, None) => k.to_owned(),
        };
        let Some(method) = self.method(&method_id, signatory, report, None).await else {
            return;
        };
        if method.key.key_type() != key_type {
            return fail(
                report,
                "Wrong key",
                format!(
                    "`alg` {alg} does not match the {} key of `{}`",
                    method.key.key_type(),
                    method.id
                ),
            );
        }
        if method
            .key
            .verify(decoded.signing_input.as_bytes(), &decoded.signature)
        {
            report.pass("proof");
        } else {
            fail(
                report,
                "Invalid signature",
                format!("the signature does not verify with `{}`", method.id),
            );
        }
    }
}
