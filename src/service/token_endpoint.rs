//! The token endpoint's grants (RFC 6749 §4.1.3, §4.4; OIDC Core §3.1.3): the client is
//! authenticated by its registered method, then an authorization code (with its PKCE
//! verifier and redirect URI) becomes an access token and, for `openid`, an ID token; or
//! a confidential client gets a token for itself (`client_credentials`) within the scopes
//! it was registered with.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use sichat_core::Clock;
use sichat_core::keys::jws::JwsAlg;

use super::access_tokens::{AccessTokens, LIFETIME_SECS, Subject};
use super::claim_rules::ClaimRules;
use super::client_auth::{ClientAuth, Presented};
use super::id_tokens::{IdTokenContent, IdTokenSigner};
use super::identity::IdentityService;
use super::oauth_error::OAuthError;
use super::oidc_clients::parse_list;
use super::oidc_codes::{AuthorizationCodes, Rotation};
use crate::store::SeaStore;
use crate::store::oidc_clients::ClientRow;
use crate::store::oidc_grants::{GrantRow, Redemption};

/// How long an ID token is valid.
pub const ID_TOKEN_LIFETIME: std::time::Duration = std::time::Duration::from_secs(600);

/// A successful token response (RFC 6749 §5.1, OIDC Core §3.1.3.3).
#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub scope: String,
}

/// What an ID token is built from.
struct IdTokenRequest<'a> {
    client: &'a ClientRow,
    grant: &'a GrantRow,
    scope: &'a str,
    /// The authorization request's nonce (none on refresh).
    nonce: Option<String>,
    access_token: &'a str,
    issuer: String,
}

pub struct TokenService {
    pub client_auth: Arc<ClientAuth>,
    pub codes: Arc<AuthorizationCodes>,
    pub access: Arc<AccessTokens>,
    pub id_tokens: Arc<IdTokenSigner>,
    pub identity: Arc<IdentityService>,
    pub claim_rules: Arc<ClaimRules>,
    pub store: Arc<SeaStore>,
    pub clock: Arc<dyn Clock>,
}

/// The scope tokens of a space-separated list.
fn scopes(list: &str) -> Vec<&str> {
    list.split(' ').filter(|s| !s.is_empty()).collect()
}

/// `requested` (space-separated), sorted and deduplicated, if every scope is in
/// `allowed`; else the first one that is not.
fn within<'a>(requested: &'a str, allowed: &[&str]) -> Result<String, &'a str> {
    let mut wanted = scopes(requested);
    wanted.sort();
    wanted.dedup();
    match wanted.iter().find(|s| !allowed.contains(s)) {
        Some(s) => Err(s),
        None => Ok(wanted.join(" ")),
    }
}

impl TokenService {
    /// The issuer identifier: the public URL without a trailing slash, everywhere.
    pub fn issuer(&self) -> String {
        self.identity.issuer()
    }

    pub fn token_endpoint(&self) -> String {
        format!("{}{}", self.issuer(), sichat_core::api::paths::TOKEN)
    }

    /// Handles one token request: its form parameters (each at most once) and the client
    /// authentication it presented.
    pub async fn exchange(
        &self,
        form: &BTreeMap<String, String>,
        presented: &Presented,
    ) -> Result<TokenResponse, OAuthError> {
        let grant_type = form
            .get("grant_type")
            .ok_or_else(|| OAuthError::invalid_request("grant_type is missing"))?;
        if !matches!(
            grant_type.as_str(),
            "authorization_code" | "refresh_token" | "client_credentials"
        ) {
            return Err(OAuthError::unsupported_grant_type(format!(
                "grant_type `{grant_type}` is not supported here (authorization_code, refresh_token, client_credentials)"
            )));
        }
        let issuer = self.issuer();
        let endpoint = self.token_endpoint();
        let client = self
            .client_auth
            .authenticate(presented, &[endpoint.as_str(), issuer.as_str()])
            .await?;
        if !parse_list("grant_types", &client.grant_types).contains(grant_type) {
            return Err(OAuthError::unauthorized_client(format!(
                "this client is not registered for {grant_type}"
            )));
        }
        match grant_type.as_str() {
            "authorization_code" => self.authorization_code(form, &client, issuer).await,
            "refresh_token" => self.refresh(form, &client, issuer).await,
            _ => self.client_credentials(form, &client),
        }
    }

    async fn authorization_code(
        &self,
        form: &BTreeMap<String, String>,
        client: &ClientRow,
        issuer: String,
    ) -> Result<TokenResponse, OAuthError> {
        let param = |name: &str| {
            form.get(name)
                .map(String::as_str)
                .ok_or_else(|| OAuthError::invalid_request(format!("{name} is missing")))
        };
        let (code, redirect_uri) = (param("code")?, param("redirect_uri")?);
        // Only a code issued without a challenge (a client the operator let skip PKCE)
        // redeems without a verifier: its stored challenge is empty.
        let verifier = match form.get("code_verifier") {
            Some(v) => v.as_str(),
            None if !client.require_pkce => "",
            None => {
                return Err(OAuthError::invalid_request(
                    "code_verifier is missing (PKCE)",
                ));
            }
        };
        let grant = match self
            .codes
            .redeem(code, &client.id, redirect_uri, verifier)
            .await?
        {
            Redemption::Redeemed(grant) => grant,
            Redemption::Replayed => {
                return Err(OAuthError::invalid_grant(
                    "the authorization code was already used; what it issued is revoked",
                ));
            }
            Redemption::Invalid => {
                return Err(OAuthError::invalid_grant(
                    "invalid authorization code (unknown, expired, or issued for another client, redirect URI or code_verifier)",
                ));
            }
        };
        // A refresh token when the client may refresh and the user granted offline access.
        let refresh_token = if parse_list("grant_types", &client.grant_types)
            .iter()
            .any(|g| g == "refresh_token")
            && grant.scope.split(' ').any(|s| s == "offline_access")
        {
            Some(self.codes.issue_refresh(&grant.id).await?.expose().clone())
        } else {
            None
        };
        let nonce = grant.nonce.clone();
        let scope = grant.scope.clone();
        self.respond(client, &grant, scope, nonce, refresh_token, issuer)
            .await
    }

    /// An access token (and an ID token for `openid`) for `grant`, within `scope`.
    async fn respond(
        &self,
        client: &ClientRow,
        grant: &GrantRow,
        scope: String,
        nonce: Option<String>,
        refresh_token: Option<String>,
        issuer: String,
    ) -> Result<TokenResponse, OAuthError> {
        let access_token = self.access.mint(&Subject::Grant(grant.id.clone()), &scope);
        let id_token = if scope.split(' ').any(|s| s == "openid") {
            let request = IdTokenRequest {
                client,
                grant,
                scope: &scope,
                nonce,
                access_token: &access_token,
                issuer,
            };
            Some(self.id_token(request).await?)
        } else {
            None
        };
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: LIFETIME_SECS,
            id_token,
            refresh_token,
            scope,
        })
    }

    /// `refresh_token` (RFC 6749 §6): the token is replaced at each use; a used one
    /// presented again revokes the grant (RFC 9700 §4.14.2). The scope may narrow, never
    /// widen; a refreshed ID token keeps `auth_time` and has no `nonce`.
    async fn refresh(
        &self,
        form: &BTreeMap<String, String>,
        client: &ClientRow,
        issuer: String,
    ) -> Result<TokenResponse, OAuthError> {
        let token = form
            .get("refresh_token")
            .ok_or_else(|| OAuthError::invalid_request("refresh_token is missing"))?;
        // The scope may narrow, never widen: checked before the token is spent.
        let narrowed = |grant: &GrantRow| -> Result<String, String> {
            match form.get("scope") {
                None => Ok(grant.scope.clone()),
                Some(requested) => within(requested, &scopes(&grant.scope))
                    .map_err(|s| format!("scope `{s}` was not granted")),
            }
        };
        let rotation = self
            .codes
            .rotate_refresh(token, &client.id, |g| narrowed(g).is_ok())
            .await?;
        let (grant, next) = match rotation {
            Rotation::Rotated(grant, next) => (grant, next),
            Rotation::Refused(grant) => {
                let why = narrowed(&grant).err().unwrap_or_default();
                return Err(OAuthError::invalid_scope(why));
            }
            Rotation::Reused => {
                return Err(OAuthError::invalid_grant(
                    "the refresh token was already used; its grant is revoked",
                ));
            }
            Rotation::Invalid => {
                return Err(OAuthError::invalid_grant(
                    "invalid refresh token (unknown, expired, revoked, or another client's)",
                ));
            }
        };
        let scope = narrowed(&grant).map_err(OAuthError::invalid_scope)?;
        let next = Some(next.expose().clone());
        self.respond(client, &grant, scope, None, next, issuer)
            .await
    }

    async fn id_token(&self, r: IdTokenRequest<'_>) -> Result<String, OAuthError> {
        let IdTokenRequest {
            client,
            grant,
            scope,
            nonce,
            access_token,
            issuer,
        } = r;
        let user_id = grant
            .user_id
            .clone()
            .ok_or_else(|| OAuthError::server_error("an openid grant without a user"))?;
        let user = self
            .store
            .user_by_id(&user_id)
            .await?
            .ok_or_else(|| OAuthError::invalid_grant("the user no longer exists"))?;
        let scoped = |s: &str| scope.split(' ').any(|x| x == s);
        let named: Vec<String> = grant
            .claims
            .as_deref()
            .and_then(|c| serde_json::from_str(c).ok())
            .unwrap_or_default();
        // Claims held credentials back, verified now; they take precedence over the
        // profile's (whose email is not verified).
        let mut extra = self
            .claim_rules
            .release(&user_id, scope.split(' '), &named)
            .await?;
        let mut email = user.profile.email.clone().filter(|_| scoped("email"));
        // `email_verified: true` only beside an address a credential proved (never beside
        // the profile's, which nothing proved).
        let proven = match extra.remove("email") {
            Some(Value::String(address)) => Some(address),
            _ => None,
        };
        let email_verified =
            extra.remove("email_verified") == Some(Value::Bool(true)) && proven.is_some();
        if proven.is_some() {
            email = proven;
        }
        let mut name = user
            .profile
            .display_name
            .clone()
            .filter(|_| scoped("profile"));
        if let Some(Value::String(proven)) = extra.remove("name") {
            name = Some(proven);
        }
        let alg = JwsAlg::parse(&client.id_token_alg).unwrap_or(JwsAlg::RS256);
        let content = IdTokenContent {
            issuer,
            client_id: client.id.clone(),
            subject: user_id,
            alg,
            issued_at: chrono::DateTime::from_timestamp_millis(self.clock.now_millis())
                .unwrap_or_default(),
            lifetime: ID_TOKEN_LIFETIME,
            auth_time: grant
                .auth_time
                .and_then(|t| chrono::DateTime::from_timestamp(t, 0)),
            nonce,
            access_token: Some(access_token.to_owned()),
            email_verified: email_verified && email.is_some(),
            email,
            name,
            extra: extra.into_iter().collect(),
        };
        Ok(self.id_tokens.sign(&content).await?)
    }

    fn client_credentials(
        &self,
        form: &BTreeMap<String, String>,
        client: &ClientRow,
    ) -> Result<TokenResponse, OAuthError> {
        // A client acting for itself has no user: never `openid`.
        let allowed: Vec<&str> = scopes(&client.scope)
            .into_iter()
            .filter(|s| *s != "openid")
            .collect();
        let scope = match form.get("scope") {
            None => allowed.join(" "),
            Some(requested) => within(requested, &allowed).map_err(|s| {
                OAuthError::invalid_scope(format!(
                    "scope `{s}` is not granted to this client (openid needs a user)"
                ))
            })?,
        };
        Ok(TokenResponse {
            access_token: self
                .access
                .mint(&Subject::Client(client.id.clone()), &scope),
            token_type: "Bearer",
            expires_in: LIFETIME_SECS,
            id_token: None,
            refresh_token: None,
            scope,
        })
    }
}
