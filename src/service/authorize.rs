//! The authorization endpoint's logic (RFC 6749 §4.1.1, OIDC Core §3.1.2): validating an
//! authorization request, deciding what the browser sees next (the sign-in page, the
//! consent page, or the client's redirect URI with a code or an error), and issuing the
//! code once the user has allowed it.
//!
//! Errors follow the specifications' split: a request whose client or redirect URI cannot
//! be trusted gets an error page and is never redirected (RFC 6749 §4.1.2.1); any other
//! error goes back to the client's redirect URI with `error`, `state` and `iss` (RFC 9207).
//!
//! Between the pages the validated request travels sealed (`tx`, MAC'd under a key derived
//! from the master key, valid [`TX_LIFETIME_MS`]), so nothing is stored before a code
//! exists and no page can alter what the client asked for.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sichat_core::id::UserId;
use sichat_core::{Clock, oauth};

use super::claim_rules::{Backing, ClaimRules};
use super::identity::IdentityService;
use super::keyed_mac::KeyedMac;
use super::oidc_clients::parse_list;
use super::oidc_codes::{AuthorizationCodes, NewGrant};
use super::sessions::{Session, Sessions};
use crate::error::ApiError;
use crate::store::oidc_clients::ClientRow;
use crate::store::oidc_sessions::{self, ConsentRow};
use crate::store::{SeaStore, begin_write, map_err};

/// The derivation label of the key that seals authorization requests.
pub const TX_KEY_LABEL: &str = "sichat/oidc/authorize-tx/v1";
/// How long a sealed authorization request stays usable (the time to sign in).
pub const TX_LIFETIME_MS: i64 = 10 * 60 * 1000;
/// The longest `state`, `nonce` and `login_hint` accepted.
const MAX_PARAM: usize = 1024;
/// The longest `claims` parameter accepted.
const MAX_CLAIMS_PARAM: usize = 4096;
/// The longest query string accepted.
const MAX_QUERY: usize = 16 * 1024;
/// `prompt` values (OIDC Core §3.1.2.1).
const PROMPTS: [&str; 4] = ["none", "login", "consent", "select_account"];

/// A validated authorization request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthRequest {
    pub client_id: String,
    pub redirect_uri: String,
    /// Sorted, deduplicated scopes, each registered for the client.
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: String,
    pub prompt: Vec<String>,
    /// Seconds.
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// Claim names asked for by name (the `claims` parameter), sorted.
    pub claims: Vec<String>,
    /// When the request was validated (ms): a sign-in after it satisfies `prompt=login`.
    pub issued_at: i64,
}

impl AuthRequest {
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split(' ').filter(|s| !s.is_empty())
    }

    fn prompts(&self, value: &str) -> bool {
        self.prompt.iter().any(|p| p == value)
    }

    /// What the consent covers: the scopes, and `claim:NAME` for each claim asked by name.
    fn consent_items(&self) -> BTreeSet<String> {
        self.scopes()
            .map(str::to_owned)
            .chain(self.claims.iter().map(|c| format!("claim:{c}")))
            .collect()
    }
}

/// Why an authorization request stops.
#[derive(Debug)]
pub enum AuthorizeError {
    /// The client or its redirect URI cannot be trusted: an error page, no redirect.
    Page {
        title: &'static str,
        detail: String,
    },
    /// An error the client should see: this URL (its redirect URI with `error`, `state`
    /// and `iss`).
    Redirect(String),
    Internal(ApiError),
}

impl From<ApiError> for AuthorizeError {
    fn from(e: ApiError) -> Self {
        AuthorizeError::Internal(e)
    }
}

impl From<sichat_core::store::StoreError> for AuthorizeError {
    fn from(e: sichat_core::store::StoreError) -> Self {
        AuthorizeError::Internal(e.into())
    }
}

fn page(title: &'static str, detail: impl Into<String>) -> AuthorizeError {
    AuthorizeError::Page {
        title,
        detail: detail.into(),
    }
}

/// What the browser sees next.
#[derive(Debug)]
pub enum Step {
    /// The sign-in page.
    Login {
        request: AuthRequest,
        client_name: String,
    },
    /// The consent page: what the client asks for, and which held credential backs which
    /// claim.
    Consent {
        request: AuthRequest,
        client_name: String,
        session: Session,
        backed: Vec<Backing>,
    },
    /// Back to the client (a code, or an error).
    Redirect(String),
}

/// `uri` with `params` appended to its query.
pub fn with_params(uri: &str, params: &[(&str, &str)]) -> String {
    match url::Url::parse(uri) {
        Ok(mut url) => {
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in params {
                    q.append_pair(k, v);
                }
            }
            url.to_string()
        }
        // Invariant: registered redirect URIs are absolute URLs (checked at registration).
        Err(_) => uri.to_owned(),
    }
}

pub struct Authorizer {
    store: Arc<SeaStore>,
    codes: Arc<AuthorizationCodes>,
    sessions: Arc<Sessions>,
    claims: Arc<ClaimRules>,
    identity: Arc<IdentityService>,
    clock: Arc<dyn Clock>,
    tx: KeyedMac,
}

/// An error redirect for `request`'s client.
struct ErrorTo<'a> {
    redirect_uri: &'a str,
    state: Option<&'a str>,
    issuer: String,
}

impl ErrorTo<'_> {
    fn error(&self, error: &str, description: impl AsRef<str>) -> AuthorizeError {
        // RFC 6749 §4.1.2.1: `error_description` is printable ASCII without `"` and `\`;
        // anything else a request put in it is replaced.
        let description: String = description
            .as_ref()
            .chars()
            .map(|c| match c {
                ' '..='~' if c != '"' && c != '\\' => c,
                _ => '?',
            })
            .collect();
        let mut params = vec![
            ("error", error),
            ("error_description", description.as_str()),
        ];
        if let Some(state) = self.state {
            params.push(("state", state));
        }
        params.push(("iss", &self.issuer));
        AuthorizeError::Redirect(with_params(self.redirect_uri, &params))
    }
}

impl Authorizer {
    pub fn new(
        store: Arc<SeaStore>,
        codes: Arc<AuthorizationCodes>,
        sessions: Arc<Sessions>,
        claims: Arc<ClaimRules>,
        identity: Arc<IdentityService>,
        clock: Arc<dyn Clock>,
        tx: KeyedMac,
    ) -> Self {
        Self {
            store,
            codes,
            sessions,
            claims,
            identity,
            clock,
            tx,
        }
    }

    pub fn sessions(&self) -> &Arc<Sessions> {
        &self.sessions
    }

    /// Validates an authorization request (its raw query string).
    pub async fn validate(&self, query: &str) -> Result<AuthRequest, AuthorizeError> {
        if query.len() > MAX_QUERY {
            return Err(page(
                "Request too large",
                "The authorization request is too long.",
            ));
        }
        let mut params: BTreeMap<String, String> = BTreeMap::new();
        let mut repeated: Option<String> = None;
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            if params
                .insert(name.to_string(), value.into_owned())
                .is_some()
            {
                // The client and its redirect URI first: their repetition is a page.
                if matches!(name.as_ref(), "client_id" | "redirect_uri") || repeated.is_none() {
                    repeated = Some(name.to_string());
                }
            }
        }
        // The client and its redirect URI first: until both hold, nothing may redirect.
        if matches!(repeated.as_deref(), Some("client_id" | "redirect_uri")) {
            return Err(page(
                "Invalid request",
                "client_id and redirect_uri must each be given once.",
            ));
        }
        let client_id = params
            .get("client_id")
            .ok_or_else(|| page("Invalid request", "The request has no client_id."))?;
        let client = match oauth::check_client_id(client_id) {
            Ok(()) => self.store.client(client_id).await?,
            Err(_) => None,
        }
        .ok_or_else(|| {
            page(
                "Unknown application",
                "No application is registered with this client_id.",
            )
        })?;
        let redirect_uri = params
            .get("redirect_uri")
            .ok_or_else(|| page("Invalid request", "The request has no redirect_uri."))?;
        let registered = parse_list("redirect_uris", &client.redirect_uris);
        if !registered
            .iter()
            .any(|r| oauth::redirect_uri_matches(r, redirect_uri))
        {
            return Err(page(
                "Invalid redirect URI",
                "The redirect_uri is not one this application registered; you were not sent back to it.",
            ));
        }
        let issuer = self.identity.issuer();
        let state = params.get("state").filter(|s| s.len() <= MAX_PARAM);
        let to = ErrorTo {
            redirect_uri,
            state: state.map(String::as_str),
            issuer,
        };
        let mut request = self.check(&params, &client, repeated, &to)?;
        request.redirect_uri = redirect_uri.clone();
        request.state = state.cloned();
        // A claim a credential backs is asked for by name only within the scopes the
        // client is registered for; others are ignored (OIDC Core §5.5).
        let rules = self.claims.rows().await?;
        let registered: BTreeSet<&str> = client.scope.split(' ').collect();
        request.claims.retain(|name| {
            let backing: Vec<_> = rules.iter().filter(|r| &r.claim == name).collect();
            !backing.is_empty()
                && backing
                    .iter()
                    .any(|r| registered.contains(r.scope.as_str()))
        });
        Ok(request)
    }

    /// Everything after the client and redirect URI, in the order RFC 6749 and OIDC Core
    /// list the errors.
    fn check(
        &self,
        params: &BTreeMap<String, String>,
        client: &ClientRow,
        repeated: Option<String>,
        to: &ErrorTo<'_>,
    ) -> Result<AuthRequest, AuthorizeError> {
        if let Some(name) = repeated {
            return Err(to.error(
                "invalid_request",
                format!("parameter `{name}` is given more than once"),
            ));
        }
        if params.get("state").is_some_and(|s| s.len() > MAX_PARAM) {
            return Err(to.error("invalid_request", "state is longer than 1024 bytes"));
        }
        if params.contains_key("request") {
            return Err(to.error("request_not_supported", "request objects are not supported"));
        }
        if params.contains_key("request_uri") {
            return Err(to.error("request_uri_not_supported", "request_uri is not supported"));
        }
        match params.get("response_type").map(String::as_str) {
            None => return Err(to.error("invalid_request", "response_type is missing")),
            Some("code") => {}
            Some(other) => {
                return Err(to.error(
                    "unsupported_response_type",
                    format!("response_type `{other}` is not supported: only the authorization code flow (`code`)"),
                ));
            }
        }
        if let Some(mode) = params.get("response_mode")
            && mode != "query"
        {
            return Err(to.error(
                "invalid_request",
                format!("response_mode `{mode}` is not supported (query)"),
            ));
        }
        let allowed: Vec<&str> = client.scope.split(' ').filter(|s| !s.is_empty()).collect();
        let Some(requested) = params.get("scope") else {
            return Err(to.error("invalid_scope", "scope is missing (openid for a sign-in)"));
        };
        let mut scopes: Vec<&str> = requested.split(' ').filter(|s| !s.is_empty()).collect();
        scopes.sort();
        scopes.dedup();
        if scopes.is_empty() {
            return Err(to.error("invalid_scope", "scope is empty"));
        }
        if let Some(s) = scopes
            .iter()
            .find(|s| oauth::check_scope_token(s).is_err() || !allowed.contains(s))
        {
            return Err(to.error(
                "invalid_scope",
                format!("scope `{s}` is not registered for this client"),
            ));
        }
        let challenge = params.get("code_challenge");
        match (
            challenge,
            params.get("code_challenge_method").map(String::as_str),
        ) {
            // A confidential client the operator let skip PKCE (conformance suites).
            (None, None) if !client.require_pkce => {}
            (None, _) => {
                return Err(to.error(
                    "invalid_request",
                    "PKCE is required: send code_challenge with code_challenge_method=S256",
                ));
            }
            (Some(_), Some("S256")) => {}
            (Some(_), _) => {
                return Err(to.error(
                    "invalid_request",
                    "code_challenge_method must be S256 (plain is refused)",
                ));
            }
        }
        let code_challenge = challenge.cloned().unwrap_or_default();
        if challenge.is_some() && oauth::check_code_challenge(&code_challenge).is_err() {
            return Err(to.error(
                "invalid_request",
                "code_challenge must be 43 base64url characters (S256)",
            ));
        }
        for name in ["nonce", "login_hint"] {
            if params.get(name).is_some_and(|v| v.len() > MAX_PARAM) {
                return Err(to.error(
                    "invalid_request",
                    format!("{name} is longer than 1024 bytes"),
                ));
            }
        }
        let prompt: Vec<String> = params
            .get("prompt")
            .map(|p| {
                p.split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if let Some(p) = prompt.iter().find(|p| !PROMPTS.contains(&p.as_str())) {
            return Err(to.error(
                "invalid_request",
                format!("prompt `{p}` is not one of none, login, consent, select_account"),
            ));
        }
        if prompt.iter().any(|p| p == "none") && prompt.len() > 1 {
            return Err(to.error(
                "invalid_request",
                "prompt=none cannot be combined with other values",
            ));
        }
        let max_age = match params.get("max_age") {
            None => None,
            Some(v) => match v.parse::<i64>() {
                Ok(n) if n >= 0 => Some(n),
                _ => {
                    return Err(
                        to.error("invalid_request", "max_age must be a non-negative integer")
                    );
                }
            },
        };
        let claims = match params.get("claims") {
            None => Vec::new(),
            Some(c) => requested_claims(c).map_err(|why| to.error("invalid_request", why))?,
        };
        Ok(AuthRequest {
            client_id: client.id.clone(),
            redirect_uri: String::new(),
            scope: scopes.join(" "),
            state: None,
            nonce: params.get("nonce").cloned(),
            code_challenge,
            prompt,
            max_age,
            login_hint: params.get("login_hint").cloned(),
            claims,
            issued_at: self.clock.now_millis(),
        })
    }

    /// Seals a validated request for the next page.
    pub fn seal(&self, request: &AuthRequest) -> String {
        // Invariant: the request is plain strings and numbers.
        self.tx
            .seal(&serde_json::to_vec(request).expect("a request serializes"))
    }

    /// Opens a sealed request: refused when tampered with or older than 10 minutes.
    pub fn open(&self, tx: &str) -> Result<AuthRequest, AuthorizeError> {
        let expired = || {
            page(
                "Sign-in expired",
                "This sign-in request is no longer valid. Return to the application and start again.",
            )
        };
        let request: AuthRequest = self
            .tx
            .open(tx)
            .and_then(|raw| serde_json::from_slice(&raw).ok())
            .ok_or_else(expired)?;
        if self.clock.now_millis() - request.issued_at > TX_LIFETIME_MS {
            return Err(expired());
        }
        Ok(request)
    }

    fn error_to<'a>(&self, request: &'a AuthRequest) -> ErrorTo<'a> {
        ErrorTo {
            redirect_uri: &request.redirect_uri,
            state: request.state.as_deref(),
            issuer: self.identity.issuer(),
        }
    }

    async fn client(&self, id: &str) -> Result<ClientRow, AuthorizeError> {
        self.store
            .client(id)
            .await?
            .map(|c| (*c).clone())
            .ok_or_else(|| {
                page(
                    "Unknown application",
                    "This application is no longer registered.",
                )
            })
    }

    /// What comes next for `request`, given the browser's session.
    pub async fn next(
        &self,
        request: AuthRequest,
        session: Option<Session>,
    ) -> Result<Step, AuthorizeError> {
        let client = self.client(&request.client_id).await?;
        let client_name = client.name.clone().unwrap_or_else(|| client.id.clone());
        let to = self.error_to(&request);
        let Some(session) = session.filter(|s| self.session_satisfies(&request, s)) else {
            if request.prompts("none") {
                return Err(to.error("login_required", "the user is not signed in"));
            }
            return Ok(Step::Login {
                request,
                client_name,
            });
        };
        let consent =
            oidc_sessions::consent(self.store.db(), &session.row.user_id, &client.id).await?;
        let covered = consent.is_some_and(|c| {
            let given: BTreeSet<&str> = c.scope.split(' ').collect();
            request
                .consent_items()
                .iter()
                .all(|i| given.contains(i.as_str()))
        });
        if covered && !request.prompts("consent") {
            return Ok(Step::Redirect(self.issue_code(&request, &session).await?));
        }
        if request.prompts("none") {
            return Err(to.error(
                "consent_required",
                "the user has not allowed this application yet",
            ));
        }
        let backed = self
            .claims
            .backing(&session.row.user_id, request.scopes(), &request.claims)
            .await?;
        Ok(Step::Consent {
            request,
            client_name,
            session,
            backed,
        })
    }

    /// Whether `session` satisfies the request's `prompt=login` and `max_age` (a sign-in
    /// after the request satisfies both).
    pub fn session_satisfies(&self, request: &AuthRequest, session: &Session) -> bool {
        let now = self.clock.now_millis();
        let since_request = session.row.auth_time >= request.issued_at;
        let prompt_ok = !request.prompts("login") || since_request;
        let age_ok = request.max_age.is_none_or(|max| {
            since_request || now - session.row.auth_time <= max.saturating_mul(1000)
        });
        prompt_ok && age_ok
    }

    /// The user's answer on the consent page: allowed, the consent is remembered and a
    /// code issued; denied, the client gets `access_denied`.
    pub async fn decide(
        &self,
        request: AuthRequest,
        session: &Session,
        allow: bool,
    ) -> Result<String, AuthorizeError> {
        if !allow {
            return Err(self
                .error_to(&request)
                .error("access_denied", "the user did not allow this application"));
        }
        let client = self.client(&request.client_id).await?;
        let db = self.store.db();
        let txn = begin_write(db).await.map_err(map_err)?;
        let mut items = request.consent_items();
        if let Some(previous) =
            oidc_sessions::consent(&txn, &session.row.user_id, &client.id).await?
        {
            items.extend(
                previous
                    .scope
                    .split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            );
        }
        oidc_sessions::put_consent(
            &txn,
            ConsentRow {
                user_id: session.row.user_id.clone(),
                client_id: client.id.clone(),
                scope: items.into_iter().collect::<Vec<_>>().join(" "),
                granted_at: self.clock.now_millis(),
            },
        )
        .await?;
        txn.commit().await.map_err(map_err)?;
        self.issue_code(&request, session).await
    }

    /// What the user allowed, per client.
    pub async fn consents(&self, user_id: &str) -> Result<Vec<ConsentRow>, ApiError> {
        Ok(oidc_sessions::consents_of(self.store.db(), user_id).await?)
    }

    /// Withdraws the user's consent to a client and revokes the tokens it holds for them.
    pub async fn revoke_consent(&self, user_id: &str, client_id: &str) -> Result<bool, ApiError> {
        let now = self.clock.now_millis();
        let txn = begin_write(self.store.db()).await.map_err(map_err)?;
        let revoked = oidc_sessions::revoke_consent(&txn, user_id, client_id, now).await?;
        txn.commit().await.map_err(map_err)?;
        Ok(revoked)
    }

    async fn issue_code(
        &self,
        request: &AuthRequest,
        session: &Session,
    ) -> Result<String, AuthorizeError> {
        let user_id = UserId::parse(&session.row.user_id).map_err(ApiError::internal)?;
        let grant = NewGrant {
            client_id: request.client_id.clone(),
            user_id: Some(user_id),
            scope: request.scope.clone(),
            nonce: request.nonce.clone(),
            auth_time: Some(session.row.auth_time / 1000),
            claims: request.claims.clone(),
        };
        let (code, _) = self
            .codes
            .issue(grant, &request.redirect_uri, &request.code_challenge)
            .await?;
        self.sessions.touch(session).await?;
        let issuer = self.identity.issuer();
        let mut params = vec![("code", code.expose().as_str())];
        if let Some(state) = &request.state {
            params.push(("state", state));
        }
        params.push(("iss", &issuer));
        Ok(with_params(&request.redirect_uri, &params))
    }
}

/// The claim names of a `claims` parameter (OIDC Core §5.5): the members of its
/// `userinfo` and `id_token` objects.
fn requested_claims(raw: &str) -> Result<Vec<String>, String> {
    if raw.len() > MAX_CLAIMS_PARAM {
        return Err("claims is longer than 4096 bytes".into());
    }
    let value: Value = serde_json::from_str(raw).map_err(|e| format!("claims is not JSON: {e}"))?;
    let Value::Object(top) = value else {
        return Err("claims must be a JSON object".into());
    };
    let mut names = BTreeSet::new();
    for (member, requests) in &top {
        if member != "userinfo" && member != "id_token" {
            continue;
        }
        let Value::Object(requests) = requests else {
            return Err(format!("claims.{member} must be an object"));
        };
        for (name, request) in requests {
            if !(request.is_null() || request.is_object()) {
                return Err(format!("claims.{member}.{name} must be null or an object"));
            }
            // The names are kept in the consent with the scopes, space-separated: only
            // name characters, so that no claim name can read back as a scope.
            let ok = !name.is_empty()
                && name.len() <= 128
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'));
            if !ok {
                return Err(format!(
                    "claim name `{name}` is not 1 to 128 letters, digits, `_`, `-`, `.` or `:`"
                ));
            }
            names.insert(name.clone());
        }
    }
    Ok(names.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_parameter_names() {
        assert_eq!(
            requested_claims(r#"{"userinfo":{"email_verified":{"essential":true},"email":null},"id_token":{"age_over_18":null}}"#).unwrap(),
            vec!["age_over_18", "email", "email_verified"]
        );
        assert!(requested_claims("[]").is_err());
        assert!(requested_claims("{").is_err());
        assert!(requested_claims(r#"{"userinfo":[]}"#).is_err());
        assert!(requested_claims(r#"{"userinfo":{"a":1}}"#).is_err());
        assert!(requested_claims(&"x".repeat(5000)).is_err());
        assert!(requested_claims(r#"{"other":{"a":1}}"#).unwrap().is_empty());
    }

    #[test]
    fn params_are_appended_to_the_redirect_uri() {
        assert_eq!(
            with_params(
                "https://app.example/cb?x=1",
                &[("code", "a b"), ("state", "é&")]
            ),
            "https://app.example/cb?x=1&code=a+b&state=%C3%A9%26"
        );
        assert_eq!(
            with_params("com.example.app:/cb", &[("code", "c")]),
            "com.example.app:/cb?code=c"
        );
    }
}
