//! Verifying credentials and presentations with no network: the server's verifier
//! (`sichat_core::vc::Verifier`, the same checks by the same names) fed from a
//! [`LoadedBundle`] instead of resolvers and fetchers.
//!
//! A verdict is [`Verdict::Valid`], [`Verdict::Invalid`] or [`Verdict::Unknown`]: unknown
//! when the only failures come from inputs the bundle lacks or holds too old (a DID not
//! pinned, a status list not pinned, older than the maximum status age or past its
//! `validUntil`). Status is never reported valid from a copy that is too old.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sichat_core::clock::Clock;
use sichat_core::did::{DidResolver, Resolution, ResolveError, StandardResolver};
use sichat_core::id::Did;
use sichat_core::vc::status::{SourceError, StatusListSource};
use sichat_core::vc::verify::problem;
use sichat_core::vc::{
    Canonicalizer, DidMethods, Limits, ProblemDetail, VerifyError, VerifyOptions,
};
use sichat_core::{SystemClock, api};

use crate::bundle::LoadedBundle;

/// The clock skew allowed on validity dates, as on a server by default.
pub const DEFAULT_SKEW: Duration = Duration::from_secs(300);

/// The verdict of an offline verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Verdict {
    Valid,
    Invalid,
    /// Not decidable from the bundle: an input is missing or too old.
    Unknown,
}

/// One pinned input a verification used, and how fresh it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InputUsed {
    /// `didDocument` or `statusList`.
    pub kind: &'static str,
    /// The DID or the list's URL.
    pub id: String,
    /// When the bundle's copy was fetched (`None`: not in the bundle, or a DID method
    /// that needs no document).
    pub fetched_at: Option<DateTime<Utc>>,
    /// Its age at verification, in seconds.
    pub age_seconds: Option<i64>,
    /// `pinned`, `offline` (computed from the DID), `missing`, `stale` or `expired`.
    pub state: &'static str,
}

/// The result of an offline verification: the server's report (`checks`, `warnings`,
/// `errors`, each named), the verdict and the inputs used.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OfflineReport {
    pub verdict: Verdict,
    pub verified: bool,
    pub checks: Vec<String>,
    pub warnings: Vec<ProblemDetail>,
    pub errors: Vec<ProblemDetail>,
    pub inputs: Vec<InputUsed>,
}

impl OfflineReport {
    /// The server's wire form of the same verdict.
    pub fn to_result(&self) -> api::VerificationResult {
        api::VerificationResult {
            verified: self.verified,
            checks: self.checks.clone(),
            warnings: self.warnings.clone(),
            problem_details: self.errors.clone(),
            errors: self.errors.clone(),
        }
    }
}

/// Options of [`OfflineVerifier::builder`].
pub struct VerifierBuilder {
    bundle: Arc<LoadedBundle>,
    clock: Arc<dyn Clock>,
    max_status_age: Option<Duration>,
    trusted_issuers: Option<Vec<String>>,
    skew: Duration,
    limits: Limits,
}

impl VerifierBuilder {
    /// The clock verdicts are given at (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Status from a list fetched longer ago than this is unknown, never valid.
    pub fn max_status_age(mut self, age: Duration) -> Self {
        self.max_status_age = Some(age);
        self
    }

    /// Accepts credentials from these issuers only (in addition to the bundle's own list,
    /// when it has one: then an issuer must be in both).
    pub fn trusted_issuers(mut self, issuers: impl IntoIterator<Item = String>) -> Self {
        self.trusted_issuers = Some(issuers.into_iter().collect());
        self
    }

    /// The clock skew allowed on validity dates (default 5 minutes).
    pub fn skew(mut self, skew: Duration) -> Self {
        self.skew = skew;
        self
    }

    /// Canonicalization limits (default: the server's).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    pub fn build(self) -> OfflineVerifier {
        let canon = Canonicalizer::new(self.bundle.contexts().clone(), self.limits);
        let methods = Arc::new(DidMethods(Arc::new(PinnedResolver {
            bundle: self.bundle.clone(),
            clock: self.clock.clone(),
            used: Arc::default(),
        })));
        let mut core =
            sichat_core::vc::Verifier::new(canon, methods, self.clock.clone(), self.skew);
        let trusted: Option<HashSet<String>> =
            match (&self.bundle.bundle.trusted_issuers, self.trusted_issuers) {
                (None, None) => None,
                (Some(a), None) => Some(a.iter().cloned().collect()),
                (None, Some(b)) => Some(b.into_iter().collect()),
                (Some(a), Some(b)) => {
                    let a: HashSet<&String> = a.iter().collect();
                    Some(b.into_iter().filter(|i| a.contains(i)).collect())
                }
            };
        if let Some(trusted) = trusted {
            core = core.with_trusted_issuers(trusted);
        }
        OfflineVerifier {
            core,
            bundle: self.bundle,
            clock: self.clock,
            max_status_age: self.max_status_age,
        }
    }
}

/// Verifies credentials and presentations from a trust bundle, with no I/O at all.
#[derive(Clone)]
pub struct OfflineVerifier {
    core: sichat_core::vc::Verifier,
    bundle: Arc<LoadedBundle>,
    clock: Arc<dyn Clock>,
    max_status_age: Option<Duration>,
}

type Used = Arc<Mutex<Vec<InputUsed>>>;

impl OfflineVerifier {
    /// A verifier with the defaults: system clock, no status age limit beyond each list's
    /// `validUntil`, the bundle's trusted issuers if it lists any.
    pub fn new(bundle: LoadedBundle) -> Self {
        Self::builder(bundle).build()
    }

    pub fn builder(bundle: LoadedBundle) -> VerifierBuilder {
        VerifierBuilder {
            bundle: Arc::new(bundle),
            clock: Arc::new(SystemClock),
            max_status_age: None,
            trusted_issuers: None,
            skew: DEFAULT_SKEW,
            limits: Limits::default(),
        }
    }

    pub fn bundle(&self) -> &LoadedBundle {
        &self.bundle
    }

    /// The core verifier for one call, recording the inputs it uses in `used`.
    fn for_call(&self, used: &Used) -> sichat_core::vc::Verifier {
        let resolver = PinnedResolver {
            bundle: self.bundle.clone(),
            clock: self.clock.clone(),
            used: used.clone(),
        };
        let source = PinnedLists {
            bundle: self.bundle.clone(),
            clock: self.clock.clone(),
            max_age: self.max_status_age,
            used: used.clone(),
        };
        self.core
            .clone()
            .with_methods(Arc::new(DidMethods(Arc::new(resolver))))
            .with_status_source(Arc::new(source))
    }

    /// Verifies a credential (Data Integrity, `vc+jwt`, SD-JWT VC). Malformed input is an
    /// error, as on the server.
    pub async fn verify_credential(
        &self,
        credential: &Value,
    ) -> Result<OfflineReport, VerifyError> {
        let used = Used::default();
        let report = self
            .for_call(&used)
            .verify_credential(credential, &VerifyOptions::default())
            .await?;
        Ok(self.finish(report, used))
    }

    /// Verifies a presentation and its credentials; `challenge` and `domain`, when given,
    /// must be the presentation's.
    pub async fn verify_presentation(
        &self,
        presentation: &Value,
        challenge: Option<&str>,
        domain: Option<&str>,
    ) -> Result<OfflineReport, VerifyError> {
        let used = Used::default();
        let options = VerifyOptions {
            challenge: challenge.map(str::to_owned),
            domain: domain.map(str::to_owned),
        };
        let report = self
            .for_call(&used)
            .verify_presentation(presentation, &options)
            .await?;
        Ok(self.finish(report, used))
    }

    fn finish(&self, report: sichat_core::vc::Report, used: Used) -> OfflineReport {
        let mut inputs = used.lock().map(|u| u.clone()).unwrap_or_default();
        let mut seen = HashSet::new();
        inputs.retain(|i| seen.insert((i.kind, i.id.clone())));
        // A failure that only says an input was lacking leaves the verdict open.
        let undecided = |e: &ProblemDetail| {
            (e.check == "status" && e.kind == sichat_core::vc::status::problem::RETRIEVAL)
                || (e.check == "proof"
                    && e.kind == problem::INVALID_METHOD
                    && e.detail.contains(NOT_PINNED))
        };
        let verdict = if report.verified {
            Verdict::Valid
        } else if !report.errors.is_empty() && report.errors.iter().all(undecided) {
            Verdict::Unknown
        } else {
            Verdict::Invalid
        };
        OfflineReport {
            verdict,
            verified: report.verified,
            checks: report.checks,
            warnings: report.warnings,
            errors: report.errors,
            inputs,
        }
    }
}

fn age_seconds(now: DateTime<Utc>, then: DateTime<Utc>) -> i64 {
    (now - then).num_seconds()
}

/// Notes that the input `id` of `kind` was used: fetched at `fetched` (with its age at
/// `now`) when the bundle has it.
fn record(
    used: &Used,
    kind: &'static str,
    id: &str,
    fetched: Option<(DateTime<Utc>, DateTime<Utc>)>,
    state: &'static str,
) {
    if let Ok(mut u) = used.lock() {
        u.push(InputUsed {
            kind,
            id: id.to_owned(),
            fetched_at: fetched.map(|(at, _)| at),
            age_seconds: fetched.map(|(at, now)| age_seconds(now, at)),
            state,
        });
    }
}

fn now_of(clock: &dyn Clock) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(clock.now_millis()).unwrap_or_default()
}

/// What the resolver says of a did:web the bundle lacks (and the verdict looks for).
const NOT_PINNED: &str = "is not pinned in the trust bundle";

/// DID documents from the bundle; the offline methods computed. Never any I/O.
struct PinnedResolver {
    bundle: Arc<LoadedBundle>,
    clock: Arc<dyn Clock>,
    used: Used,
}

#[async_trait::async_trait]
impl DidResolver for PinnedResolver {
    async fn resolve(&self, did: &Did) -> Result<Resolution, ResolveError> {
        // Self-certifying methods are computed (a pinned copy could only disagree); any
        // other (did:web, or a method this library does not resolve) comes from the bundle.
        if matches!(did.method(), "key" | "jwk" | "peer") {
            let resolved = StandardResolver::resolve_offline(did);
            record(&self.used, "didDocument", did.as_str(), None, "offline");
            return resolved;
        }
        match self.bundle.document(did.as_str()) {
            Some((document, fetched_at)) => {
                let now = now_of(self.clock.as_ref());
                record(
                    &self.used,
                    "didDocument",
                    did.as_str(),
                    Some((*fetched_at, now)),
                    "pinned",
                );
                Ok(Resolution::new(document.clone()))
            }
            None => {
                record(&self.used, "didDocument", did.as_str(), None, "missing");
                Err(ResolveError::NotFound(format!(
                    "`{did}` {NOT_PINNED} (add it with `bundle build --did {did}`)"
                )))
            }
        }
    }
}

/// Status lists from the bundle, refused when too old. Never any I/O.
struct PinnedLists {
    bundle: Arc<LoadedBundle>,
    clock: Arc<dyn Clock>,
    max_age: Option<Duration>,
    used: Used,
}

#[async_trait::async_trait]
impl StatusListSource for PinnedLists {
    async fn fetch(&self, url: &str) -> Result<Value, SourceError> {
        let now = now_of(self.clock.as_ref());
        let Some(pinned) = self.bundle.status_list(url) else {
            record(&self.used, "statusList", url, None, "missing");
            return Err(SourceError::Unavailable(
                "status unknown: the list is not pinned in the trust bundle".into(),
            ));
        };
        let age = age_seconds(now, pinned.fetched_at);
        let stale = self
            .max_age
            .is_some_and(|max| age > i64::try_from(max.as_secs()).unwrap_or(i64::MAX));
        let expired = pinned.valid_until.is_some_and(|until| until < now);
        let state = match (stale, expired) {
            (true, _) => "stale",
            (_, true) => "expired",
            _ => "pinned",
        };
        record(
            &self.used,
            "statusList",
            url,
            Some((pinned.fetched_at, now)),
            state,
        );
        if stale {
            return Err(SourceError::Unavailable(format!(
                "status unknown (stale): the pinned list was fetched {age} s ago, beyond the maximum status age of {} s; refresh the bundle",
                self.max_age.map_or(0, |m| m.as_secs())
            )));
        }
        if let Some(until) = pinned.valid_until.filter(|_| expired) {
            return Err(SourceError::Unavailable(format!(
                "status unknown (expired): the pinned list was valid until {}; refresh the bundle",
                until.to_rfc3339()
            )));
        }
        Ok(pinned.credential.clone())
    }
}

/// A document to verify, as read from a file or a wire.
#[derive(Debug, Clone, PartialEq)]
pub enum Document {
    Credential(Value),
    Presentation(Value),
}

/// Reads a credential or presentation: a JSON document (Data Integrity, or an enveloped
/// one; a VC-API body `{"verifiableCredential": ...}` or `{"verifiablePresentation":
/// ...}` is unwrapped), or a bare compact `vc+jwt`, `vp+jwt` or SD-JWT VC.
pub fn read_document(text: &str) -> Result<Document, String> {
    use sichat_core::contexts::CREDENTIALS_V2;
    use sichat_core::vc::jose;
    let text = text.trim();
    if !text.starts_with('{') {
        if text.contains('~') {
            return Ok(Document::Credential(serde_json::json!({
                "@context": [CREDENTIALS_V2],
                "id": format!("data:{},{text}", jose::SD_MEDIA),
                "type": jose::ENVELOPED_VC,
            })));
        }
        let payload = text
            .split('.')
            .nth(1)
            .and_then(|p| {
                base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, p).ok()
            })
            .and_then(|p| serde_json::from_slice::<Value>(&p).ok())
            .ok_or("neither a JSON document nor a compact JWT")?;
        let presentation = is_type(&payload, "VerifiablePresentation");
        let (media, kind) = if presentation {
            (jose::VP_MEDIA, jose::ENVELOPED_VP)
        } else {
            (jose::VC_MEDIA, jose::ENVELOPED_VC)
        };
        let envelope = serde_json::json!({
            "@context": [CREDENTIALS_V2],
            "id": format!("data:{media},{text}"),
            "type": kind,
        });
        return Ok(if presentation {
            Document::Presentation(envelope)
        } else {
            Document::Credential(envelope)
        });
    }
    let value: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    if let Some(object) = value.as_object()
        && object.len() <= 2
    {
        if let Some(vc) = object.get("verifiableCredential") {
            return Ok(Document::Credential(vc.clone()));
        }
        if let Some(vp) = object.get("verifiablePresentation") {
            return Ok(Document::Presentation(vp.clone()));
        }
    }
    if is_type(&value, "VerifiablePresentation")
        || is_type(&value, "EnvelopedVerifiablePresentation")
    {
        Ok(Document::Presentation(value))
    } else {
        Ok(Document::Credential(value))
    }
}

fn is_type(value: &Value, wanted: &str) -> bool {
    match value.get("type") {
        Some(Value::String(t)) => t == wanted,
        Some(Value::Array(ts)) => ts.iter().any(|t| t.as_str() == Some(wanted)),
        _ => false,
    }
}

impl OfflineVerifier {
    /// Verifies what [`read_document`] read (`challenge`/`domain` apply to presentations).
    pub async fn verify(
        &self,
        document: &Document,
        challenge: Option<&str>,
        domain: Option<&str>,
    ) -> Result<OfflineReport, VerifyError> {
        match document {
            Document::Credential(vc) => self.verify_credential(vc).await,
            Document::Presentation(vp) => self.verify_presentation(vp, challenge, domain).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `text` reads as a presentation, and its envelope's `id` up to the comma.
    fn enveloped(text: &str) -> (bool, String) {
        let (presentation, doc) = match read_document(text).unwrap() {
            Document::Presentation(p) => (true, p),
            Document::Credential(c) => (false, c),
        };
        let id = doc["id"].as_str().unwrap();
        (presentation, id[..=id.find(',').unwrap()].to_owned())
    }

    fn empty_bundle() -> LoadedBundle {
        crate::bundle::TrustBundle::new(Utc::now()).index().unwrap()
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    /// The VC 1.1-era Ed25519Signature2020 vector (VC-DI-EdDSA appendix), offline: its
    /// method a did:key, so an empty bundle is enough; changed, it fails `proof`.
    #[test]
    fn the_ed25519_signature_2020_vector_verifies_offline() {
        let signed: Value = serde_json::from_str(include_str!(
            "../../../tests/vectors/ed25519-signature-2020/signedEdSig.json"
        ))
        .unwrap();
        let verifier = OfflineVerifier::new(empty_bundle());
        let report = block_on(verifier.verify_credential(&signed)).unwrap();
        assert_eq!(report.verdict, Verdict::Valid, "{report:?}");
        assert_eq!(report.inputs[0].state, "offline");
        let mut tampered = signed;
        tampered["credentialSubject"]["alumniOf"] = "The School of Exampler".into();
        let report = block_on(verifier.verify_credential(&tampered)).unwrap();
        assert_eq!(report.verdict, Verdict::Invalid);
        assert_eq!(report.errors[0].check, "proof");
    }

    /// A DID of a method this library cannot resolve is taken from the bundle only: not
    /// pinned, the verdict is unknown and names it.
    #[test]
    fn an_unpinned_did_leaves_the_verdict_unknown() {
        let signed: Value = serde_json::from_str(include_str!(
            "../../../tests/vectors/ed25519-signature-2020/signedEdSig.json"
        ))
        .unwrap();
        let mut elsewhere = signed.clone();
        elsewhere["proof"]["verificationMethod"] = "did:example:issuer#key-1".into();
        let report =
            block_on(OfflineVerifier::new(empty_bundle()).verify_credential(&elsewhere)).unwrap();
        assert_eq!(report.verdict, Verdict::Unknown, "{report:?}");
        assert!(
            report.errors[0]
                .detail
                .contains("`did:example:issuer` is not pinned")
        );
        assert_eq!(report.inputs[0].state, "missing");
    }

    #[test]
    fn documents_are_read_in_every_form() {
        let vc = serde_json::json!({"type": ["VerifiableCredential"], "proof": {}});
        assert_eq!(
            read_document(&vc.to_string()).unwrap(),
            Document::Credential(vc.clone())
        );
        let body = serde_json::json!({"verifiableCredential": vc});
        assert_eq!(
            read_document(&body.to_string()).unwrap(),
            Document::Credential(vc.clone())
        );
        let vp = serde_json::json!({"type": "VerifiablePresentation"});
        assert!(matches!(
            read_document(&vp.to_string()).unwrap(),
            Document::Presentation(_)
        ));
        let b64 = |v: serde_json::Value| {
            base64::Engine::encode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                v.to_string(),
            )
        };
        let vp_jwt = format!(
            "{}.{}.sig",
            b64(serde_json::json!({"alg": "EdDSA"})),
            b64(serde_json::json!({"type": ["VerifiablePresentation"]}))
        );
        assert_eq!(
            enveloped(&vp_jwt),
            (true, "data:application/vp+jwt,".into())
        );
        let vc_jwt = format!(
            "{}.{}.sig",
            b64(serde_json::json!({"alg": "EdDSA"})),
            b64(serde_json::json!({"type": ["VerifiableCredential"]}))
        );
        assert_eq!(
            enveloped(&format!("{vc_jwt}\n")),
            (false, "data:application/vc+jwt,".into())
        );
        assert_eq!(
            enveloped(&format!("{vc_jwt}~WyJzYWx0IiwiYSIsMV0~")),
            (false, "data:application/vc+sd-jwt,".into())
        );
        assert!(read_document("not a credential").is_err());
        assert!(read_document("{not json").is_err());
    }
}
