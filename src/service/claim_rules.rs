//! Credential-backed OpenID Connect claims. The operator declares which claim a
//! verifiable credential can back, per scope (`vc:email` → `email_verified` from an
//! `EmailCredential` issued by this server). When a client that was granted the scope (or
//! asked for the claim by name) receives an ID token or userinfo, each rule's candidates
//! among the user's held credentials — the right type, from a trusted issuer, about one of
//! the user's DIDs — are verified at that moment (proof, validity period, status), and the
//! claim is released from the first that verifies: the value at the rule's path, or `true`.
//! Nothing verifies, no claim.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::{Map, Value};
use sichat_core::api::{ClaimRuleView, CreateClaimRule, VerifyOptions};
use sichat_core::id::{Did, Owner};
use sichat_core::store::{CredentialStore, HeldCredentialRecord};
use sichat_core::vc::jose::{self, Secured};
use sichat_core::{Clock, oauth};

use super::credentials::CredentialService;
use super::identity::IdentityService;
use crate::error::ApiError;
use crate::store::epoch_cache::EpochCache;
use crate::store::oidc_claim_rules::{self, ClaimRuleRow};
use crate::store::{SeaStore, begin_write, map_err, stamp_identity_change};

/// Claims a rule may not name: they are the ID token's own (OIDC Core §2, RFC 7519 §4.1).
const RESERVED: [&str; 16] = [
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "nbf",
    "jti",
    "nonce",
    "auth_time",
    "at_hash",
    "c_hash",
    "azp",
    "acr",
    "amr",
    "sid",
    "cnf",
];
/// Rules at most (each one costs verifications at every release).
const MAX_RULES: usize = 64;
/// Path segments at most in `from`.
const MAX_PATH: usize = 8;

/// A claim a credential backs, as the consent page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backing {
    pub claim: String,
    pub credential_type: String,
    pub issuer: String,
    pub credential_id: String,
}

fn bad(field: &str, detail: impl Into<String>) -> ApiError {
    ApiError::validation(detail).with("field", field.into())
}

fn view(row: &ClaimRuleRow) -> ClaimRuleView {
    ClaimRuleView {
        id: row.id.clone(),
        scope: row.scope.clone(),
        claim: row.claim.clone(),
        credential_type: row.credential_type.clone(),
        issuers: row
            .issuers
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default(),
        from: row.from_path.clone(),
    }
}

fn name_like(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '#' | '/'))
}

fn checked(r: CreateClaimRule, now: i64) -> Result<ClaimRuleRow, ApiError> {
    oauth::check_scope_token(&r.scope).map_err(|e| bad("scope", e.0))?;
    if matches!(r.scope.as_str(), "openid" | "offline_access") {
        return Err(bad(
            "scope",
            "openid and offline_access cannot carry credential claims",
        ));
    }
    if !name_like(&r.claim, 128) || r.claim.contains(['/', '#']) {
        return Err(bad(
            "claim",
            "a claim name is 1 to 128 letters, digits, `_`, `-`, `.` or `:`",
        ));
    }
    if RESERVED.contains(&r.claim.as_str()) {
        return Err(bad(
            "claim",
            format!("`{}` is an ID token claim of its own", r.claim),
        ));
    }
    if !name_like(&r.credential_type, 256) {
        return Err(bad(
            "credential_type",
            "a credential type is 1 to 256 characters, no spaces",
        ));
    }
    if r.issuers.len() > 16 {
        return Err(bad("issuers", "at most 16 issuers"));
    }
    for did in &r.issuers {
        Did::parse(did).map_err(|e| bad("issuers", format!("`{did}`: {e}")))?;
    }
    if let Some(path) = &r.from {
        let segments: Vec<&str> = path.split('.').collect();
        if segments.len() > MAX_PATH || segments.iter().any(|s| s.is_empty() || s.len() > 128) {
            return Err(bad(
                "from",
                "a dotted path of 1 to 8 non-empty fields (credentialSubject.email)",
            ));
        }
    }
    Ok(ClaimRuleRow {
        id: uuid::Uuid::new_v4().to_string(),
        scope: r.scope,
        claim: r.claim,
        credential_type: r.credential_type,
        issuers: (!r.issuers.is_empty())
            .then(|| serde_json::to_string(&r.issuers).unwrap_or_default()),
        from_path: r.from,
        created_at: now,
    })
}

/// The claims (JSON) of a held credential: the document itself, or the payload of the
/// JWT (or revealed SD-JWT) an envelope carries.
fn credential_body(document: &Value) -> Option<Map<String, Value>> {
    let object = document.as_object()?;
    let enveloped = object
        .get("type")
        .is_some_and(|t| t == "EnvelopedVerifiableCredential");
    if !enveloped {
        return Some(object.clone());
    }
    if let Ok(jws) = jose::unwrap_envelope(object, Secured::Credential) {
        return jose::decode(jws).ok().map(|d| d.payload);
    }
    let sd = jose::unwrap_envelope(object, Secured::SdCredential).ok()?;
    jose::decode_sd(sd).ok().map(|(_, claims)| claims)
}

/// The value at a dotted path; an array on the way is searched for the first element
/// that has the next field.
fn at_path<'a>(body: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut segments = path.split('.');
    let mut current = body.get(segments.next()?)?;
    for segment in segments {
        current = match current {
            Value::Object(o) => o.get(segment)?,
            Value::Array(items) => items
                .iter()
                .find_map(|i| i.as_object().and_then(|o| o.get(segment)))?,
            _ => return None,
        };
    }
    Some(current)
}

/// The `credentialSubject` ids of a credential.
fn subject_ids(body: &Map<String, Value>) -> Vec<&str> {
    match body.get("credentialSubject") {
        Some(Value::Object(o)) => o.get("id").and_then(Value::as_str).into_iter().collect(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|i| i.get("id").and_then(Value::as_str))
            .collect(),
        _ => Vec::new(),
    }
}

pub struct ClaimRules {
    store: Arc<SeaStore>,
    cache: EpochCache<(), Arc<Vec<ClaimRuleRow>>>,
    credentials: Arc<CredentialService>,
    identity: Arc<IdentityService>,
    clock: Arc<dyn Clock>,
}

/// One rule's outcome for one user.
struct Released<'a> {
    rule: &'a ClaimRuleRow,
    record: &'a HeldCredentialRecord,
    value: Value,
}

impl ClaimRules {
    pub fn new(
        store: Arc<SeaStore>,
        credentials: Arc<CredentialService>,
        identity: Arc<IdentityService>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            cache: EpochCache::new(store.epoch().clone(), 1),
            store,
            credentials,
            identity,
            clock,
        }
    }

    /// Adds a rule (discovery lists its scope and claim from then on).
    pub async fn add(&self, request: CreateClaimRule) -> Result<ClaimRuleView, ApiError> {
        let row = checked(request, self.clock.now_millis())?;
        let db = self.store.db();
        let txn = begin_write(db).await.map_err(map_err)?;
        if oidc_claim_rules::list(&txn).await?.len() >= MAX_RULES {
            return Err(ApiError::conflict(format!(
                "at most {MAX_RULES} claim rules"
            )));
        }
        oidc_claim_rules::insert(&txn, row.clone())
            .await
            .map_err(|e| match e {
                sichat_core::store::StoreError::Duplicate(_) => ApiError::conflict(format!(
                    "a rule for claim `{}` from `{}` in scope `{}` exists",
                    row.claim, row.credential_type, row.scope
                )),
                other => other.into(),
            })?;
        stamp_identity_change(&txn).await?;
        txn.commit().await.map_err(map_err)?;
        self.store.epoch().bump();
        Ok(view(&row))
    }

    pub async fn list(&self) -> Result<Vec<ClaimRuleView>, ApiError> {
        Ok(self.rows().await?.iter().map(view).collect())
    }

    /// The rules, from memory while the identity epoch holds (rule changes move it).
    pub async fn rows(&self) -> Result<Arc<Vec<ClaimRuleRow>>, ApiError> {
        Ok(self
            .cache
            .get_or_load(&(), || async {
                Ok::<_, sichat_core::store::StoreError>(Arc::new(
                    oidc_claim_rules::list(self.store.db()).await?,
                ))
            })
            .await?)
    }

    pub async fn remove(&self, id: &str) -> Result<(), ApiError> {
        let db = self.store.db();
        let txn = begin_write(db).await.map_err(map_err)?;
        if !oidc_claim_rules::remove(&txn, id).await? {
            return Err(ApiError::not_found(format!("no claim rule `{id}`")));
        }
        stamp_identity_change(&txn).await?;
        txn.commit().await.map_err(map_err)?;
        self.store.epoch().bump();
        Ok(())
    }

    /// The claims credentials back for `user_id`, for the granted `scopes` and the claims
    /// asked for by name, verified now.
    pub async fn release<'s>(
        &self,
        user_id: &str,
        scopes: impl Iterator<Item = &'s str>,
        claims: &[String],
    ) -> Result<Map<String, Value>, ApiError> {
        let rules = self.applicable(scopes, claims).await?;
        if rules.is_empty() {
            return Ok(Map::new());
        }
        let held = self.held(user_id).await?;
        let mut out = Map::new();
        for r in self.evaluate(user_id, &rules, &held).await? {
            out.entry(r.rule.claim.clone()).or_insert(r.value);
        }
        Ok(out)
    }

    /// Which held credential backs which claim (for the consent page).
    pub async fn backing<'s>(
        &self,
        user_id: &str,
        scopes: impl Iterator<Item = &'s str>,
        claims: &[String],
    ) -> Result<Vec<Backing>, ApiError> {
        let rules = self.applicable(scopes, claims).await?;
        let held = self.held(user_id).await?;
        let mut seen = BTreeSet::new();
        Ok(self
            .evaluate(user_id, &rules, &held)
            .await?
            .into_iter()
            .filter(|r| seen.insert(r.rule.claim.clone()))
            .map(|r| Backing {
                claim: r.rule.claim.clone(),
                credential_type: r.rule.credential_type.clone(),
                issuer: r.record.issuer.clone(),
                credential_id: r.record.id.clone(),
            })
            .collect())
    }

    async fn applicable<'s>(
        &self,
        scopes: impl Iterator<Item = &'s str>,
        claims: &[String],
    ) -> Result<Vec<ClaimRuleRow>, ApiError> {
        let scopes: BTreeSet<&str> = scopes.collect();
        let rows = self.rows().await?;
        Ok(rows
            .iter()
            .filter(|r| scopes.contains(r.scope.as_str()) || claims.contains(&r.claim))
            .cloned()
            .collect())
    }

    async fn held(&self, user_id: &str) -> Result<Vec<HeldCredentialRecord>, ApiError> {
        let Some(user) = self.store.user_by_id(user_id).await? else {
            return Ok(Vec::new());
        };
        let mut held = self.store.list_held(&user.name).await?;
        held.sort_by_key(|h| std::cmp::Reverse(h.received_at));
        Ok(held)
    }

    async fn evaluate<'a>(
        &self,
        user_id: &str,
        rules: &'a [ClaimRuleRow],
        held: &'a [HeldCredentialRecord],
    ) -> Result<Vec<Released<'a>>, ApiError> {
        if rules.is_empty() || held.is_empty() {
            return Ok(Vec::new());
        }
        let Some(user) = self.store.user_by_id(user_id).await? else {
            return Ok(Vec::new());
        };
        let user_dids: BTreeSet<String> = self
            .identity
            .user_dids(&user.name)
            .await?
            .into_iter()
            .map(|d| d.as_str().to_owned())
            .collect();
        let server_dids: BTreeSet<String> = self
            .identity
            .all_dids()
            .await?
            .into_iter()
            .filter(|e| e.owner == Owner::Server)
            .map(|e| e.did.as_str().to_owned())
            .collect();
        // Each credential is verified at most once per release.
        let mut verdicts: HashMap<&str, Option<Map<String, Value>>> = HashMap::new();
        let mut out = Vec::new();
        for rule in rules {
            let trusted: BTreeSet<String> = match &rule.issuers {
                Some(list) => serde_json::from_str::<Vec<String>>(list)
                    .unwrap_or_default()
                    .into_iter()
                    .collect(),
                None => server_dids.clone(),
            };
            for record in held.iter().filter(|h| {
                h.types.iter().any(|t| t == &rule.credential_type) && trusted.contains(&h.issuer)
            }) {
                if !verdicts.contains_key(record.id.as_str()) {
                    let verdict = self.verified_body(record, &user_dids).await?;
                    verdicts.insert(record.id.as_str(), verdict);
                }
                let Some(Some(body)) = verdicts.get(record.id.as_str()) else {
                    continue;
                };
                let value = match &rule.from_path {
                    None => Some(Value::Bool(true)),
                    Some(path) => at_path(body, path).cloned(),
                };
                if let Some(value) = value {
                    out.push(Released {
                        rule,
                        record,
                        value,
                    });
                    break;
                }
            }
        }
        Ok(out)
    }

    /// The credential's claims if it verifies now and is about one of the user's DIDs.
    async fn verified_body(
        &self,
        record: &HeldCredentialRecord,
        user_dids: &BTreeSet<String>,
    ) -> Result<Option<Map<String, Value>>, ApiError> {
        let Ok(document) = serde_json::from_str::<Value>(&record.document) else {
            return Ok(None);
        };
        let Some(body) = credential_body(&document) else {
            return Ok(None);
        };
        if !subject_ids(&body).iter().any(|id| user_dids.contains(*id)) {
            return Ok(None);
        }
        let result = self
            .credentials
            .verify_credential(document, VerifyOptions::default())
            .await?;
        Ok(result.verified.then_some(body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(scope: &str, claim: &str, from: Option<&str>) -> CreateClaimRule {
        CreateClaimRule {
            scope: scope.into(),
            claim: claim.into(),
            credential_type: "EmailCredential".into(),
            issuers: vec![],
            from: from.map(str::to_owned),
        }
    }

    #[test]
    fn rules_are_checked() {
        assert!(checked(rule("vc:email", "email_verified", None), 0).is_ok());
        assert!(
            checked(
                rule("vc:email", "email", Some("credentialSubject.email")),
                0
            )
            .is_ok()
        );
        for bad_rule in [
            rule("openid", "x", None),
            rule("has space", "x", None),
            rule("vc:email", "sub", None),
            rule("vc:email", "", None),
            rule("vc:email", "a/b", None),
            rule("vc:email", "x", Some("a..b")),
            rule("vc:email", "x", Some("a.b.c.d.e.f.g.h.i")),
            CreateClaimRule {
                issuers: vec!["not-a-did".into()],
                ..rule("vc:email", "x", None)
            },
            CreateClaimRule {
                credential_type: "A B".into(),
                ..rule("vc:email", "x", None)
            },
        ] {
            assert!(checked(bad_rule.clone(), 0).is_err(), "{bad_rule:?}");
        }
    }

    #[test]
    fn paths_and_subjects() {
        let body = json!({"credentialSubject": [{"id": "did:a"}, {"id": "did:b", "email": "x@y"}]});
        let body = body.as_object().unwrap();
        assert_eq!(
            at_path(body, "credentialSubject.email"),
            Some(&json!("x@y"))
        );
        assert_eq!(at_path(body, "credentialSubject.nope"), None);
        assert_eq!(subject_ids(body), vec!["did:a", "did:b"]);
        let plain = json!({"type": ["VerifiableCredential"], "credentialSubject": {"id": "did:c"}});
        assert_eq!(
            credential_body(&plain).unwrap(),
            *plain.as_object().unwrap()
        );
        assert!(
            credential_body(&json!({"type": "EnvelopedVerifiableCredential", "id": "data:x,y"}))
                .is_none()
        );
    }
}
