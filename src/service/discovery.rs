//! OpenID Connect Discovery 1.0 (`/.well-known/openid-configuration`): the provider
//! metadata, built with the `openidconnect` crate's types, plus PKCE (RFC 8414
//! `code_challenge_methods_supported`) and RFC 9207 (`iss` in authorization responses).
//! Credential-backed claims and their scopes are listed in `claims_supported` and
//! `scopes_supported`. The document is built once per identity epoch (claim rules move
//! it) and served as bytes.

use std::sync::{Arc, Mutex};

use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType,
    CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm,
    CoreJwsSigningAlgorithm, CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalProviderMetadata, AuthUrl, EndSessionUrl, IssuerUrl, JsonWebKeySetUrl,
    LogoutProviderMetadata, ProviderMetadata, RegistrationUrl, ResponseTypes, Scope, TokenUrl,
    UserInfoUrl,
};
use serde::{Deserialize, Serialize};
use sichat_core::api::paths;

use super::claim_rules::ClaimRules;
use super::identity::IdentityService;
use crate::error::ApiError;
use crate::store::IdentityEpoch;

/// Metadata the crate has no field for.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SichatMetadata {
    /// RFC 8414 §2: `["S256"]` (PKCE is required; `plain` is refused).
    pub code_challenge_methods_supported: Vec<String>,
    /// RFC 9207 §3: every authorization response carries `iss`.
    pub authorization_response_iss_parameter_supported: bool,
}

impl AdditionalProviderMetadata for SichatMetadata {}

pub type SichatProviderMetadata = ProviderMetadata<
    LogoutProviderMetadata<SichatMetadata>,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// The standard scopes, and claims this provider can release whatever the rules.
const SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];
const CLAIMS: [&str; 10] = [
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "name",
    "preferred_username",
    "email",
];

pub struct Discovery {
    identity: Arc<IdentityService>,
    claim_rules: Arc<ClaimRules>,
    epoch: Arc<IdentityEpoch>,
    registration: bool,
    cache: Mutex<Option<(u64, Arc<Vec<u8>>)>>,
}

impl Discovery {
    pub fn new(
        identity: Arc<IdentityService>,
        claim_rules: Arc<ClaimRules>,
        epoch: Arc<IdentityEpoch>,
        registration: bool,
    ) -> Self {
        Self {
            identity,
            claim_rules,
            epoch,
            registration,
            cache: Mutex::new(None),
        }
    }

    /// Whether clients may register themselves (`POST /register`).
    pub fn registration_enabled(&self) -> bool {
        self.registration
    }

    /// The metadata document (JSON bytes).
    pub async fn document(&self) -> Result<Arc<Vec<u8>>, ApiError> {
        let epoch = self.epoch.current();
        if let Some((at, bytes)) = &*self.cache.lock().unwrap_or_else(|p| p.into_inner())
            && *at == epoch
        {
            return Ok(bytes.clone());
        }
        let bytes =
            Arc::new(serde_json::to_vec(&self.metadata().await?).map_err(ApiError::internal)?);
        *self.cache.lock().unwrap_or_else(|p| p.into_inner()) = Some((epoch, bytes.clone()));
        Ok(bytes)
    }

    /// The metadata, as the `openidconnect` types model it.
    pub async fn metadata(&self) -> Result<SichatProviderMetadata, ApiError> {
        let issuer = self.identity.issuer();
        let url = |path: &str| format!("{issuer}{path}");
        let bad = |e: openidconnect::url::ParseError| ApiError::internal(e);
        let rules = self.claim_rules.rows().await?;
        let mut scopes: Vec<String> = SCOPES.iter().map(|s| s.to_string()).collect();
        let mut claims: Vec<String> = CLAIMS.iter().map(|s| s.to_string()).collect();
        claims.push("email_verified".into());
        for rule in rules.iter() {
            if !scopes.contains(&rule.scope) {
                scopes.push(rule.scope.clone());
            }
            if !claims.contains(&rule.claim) {
                claims.push(rule.claim.clone());
            }
        }
        let extra = LogoutProviderMetadata {
            end_session_endpoint: Some(EndSessionUrl::new(url(paths::LOGOUT)).map_err(bad)?),
            additional_metadata: SichatMetadata {
                code_challenge_methods_supported: vec!["S256".into()],
                authorization_response_iss_parameter_supported: true,
            },
        };
        let algs = vec![
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            CoreJwsSigningAlgorithm::EcdsaP256Sha256,
            CoreJwsSigningAlgorithm::EdDsa,
        ];
        let mut metadata = SichatProviderMetadata::new(
            IssuerUrl::new(issuer.clone()).map_err(bad)?,
            AuthUrl::new(url(paths::AUTHORIZE)).map_err(bad)?,
            JsonWebKeySetUrl::new(url(paths::JWKS)).map_err(bad)?,
            vec![ResponseTypes::new(vec![CoreResponseType::Code])],
            vec![CoreSubjectIdentifierType::Public],
            algs.clone(),
            extra,
        )
        .set_token_endpoint(Some(TokenUrl::new(url(paths::TOKEN)).map_err(bad)?))
        .set_userinfo_endpoint(Some(UserInfoUrl::new(url(paths::USERINFO)).map_err(bad)?))
        .set_scopes_supported(Some(scopes.into_iter().map(Scope::new).collect()))
        .set_claims_supported(Some(claims.into_iter().map(CoreClaimName::new).collect()))
        .set_response_modes_supported(Some(vec![CoreResponseMode::Query]))
        .set_grant_types_supported(Some(vec![
            CoreGrantType::AuthorizationCode,
            CoreGrantType::RefreshToken,
            CoreGrantType::ClientCredentials,
        ]))
        .set_token_endpoint_auth_methods_supported(Some(vec![
            CoreClientAuthMethod::ClientSecretBasic,
            CoreClientAuthMethod::ClientSecretPost,
            CoreClientAuthMethod::PrivateKeyJwt,
            CoreClientAuthMethod::None,
        ]))
        .set_token_endpoint_auth_signing_alg_values_supported(Some(algs))
        .set_claim_types_supported(Some(vec![CoreClaimType::Normal]))
        .set_claims_parameter_supported(Some(true))
        .set_request_parameter_supported(Some(false))
        // Discovery §3 defaults this one to true: say it.
        .set_request_uri_parameter_supported(Some(false));
        if self.registration {
            metadata = metadata.set_registration_endpoint(Some(
                RegistrationUrl::new(url(paths::REGISTER)).map_err(bad)?,
            ));
        }
        Ok(metadata)
    }
}
