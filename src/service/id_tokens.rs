//! ID tokens (OpenID Connect Core §2, §3.1.3.6): the claims are openidconnect's types, the
//! signature a compact JWS made through the key service (the private key never leaves
//! it) with the key [`IdTokenKeys`] names for the client's algorithm, behind the work gate
//! (an RS256 signature is a millisecond or more of CPU).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use openidconnect::core::CoreGenderClaim;
use openidconnect::{
    AccessTokenHash, AdditionalClaims, Audience, ClientId, EndUserEmail, EndUserName,
    IdTokenClaims, IssuerUrl, LocalizedClaim, Nonce, StandardClaims, SubjectIdentifier,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::Digest;
use sichat_core::keys::jws::{self, JwsAlg};

use super::ServerKeys;
use super::id_token_keys::IdTokenKeys;
use super::work_gate::WorkGate;
use crate::error::ApiError;

/// Claims beyond OpenID Connect's standard ones (credential-backed claims).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExtraClaims {
    #[serde(flatten)]
    pub claims: BTreeMap<String, Value>,
}

impl AdditionalClaims for ExtraClaims {}

pub type Claims = IdTokenClaims<ExtraClaims, CoreGenderClaim>;

/// What an ID token says.
#[derive(Debug, Clone)]
pub struct IdTokenContent {
    /// The issuer identifier, exactly as discovery publishes it.
    pub issuer: String,
    pub client_id: String,
    pub subject: String,
    pub alg: JwsAlg,
    pub issued_at: DateTime<Utc>,
    pub lifetime: Duration,
    /// When the user authenticated (required when the request had `max_age`).
    pub auth_time: Option<DateTime<Utc>>,
    /// The request's `nonce`, verbatim.
    pub nonce: Option<String>,
    /// The access token issued with it (for `at_hash`).
    pub access_token: Option<String>,
    pub email: Option<String>,
    /// `true` only when a credential proves the address (the profile's is not verified).
    pub email_verified: bool,
    pub name: Option<String>,
    pub extra: BTreeMap<String, Value>,
}

/// `at_hash` (OIDC Core §3.1.3.6): the left half of the access token's hash with the
/// ID token's algorithm's hash (SHA-256 for RS256 and ES256, SHA-512 for EdDSA with
/// Ed25519), base64url.
pub fn at_hash(access_token: &str, alg: JwsAlg) -> String {
    use base64::Engine;
    let digest = match alg {
        JwsAlg::RS256 | JwsAlg::ES256 => sha2::Sha256::digest(access_token).to_vec(),
        JwsAlg::EdDSA => sha2::Sha512::digest(access_token).to_vec(),
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

fn claims(content: &IdTokenContent) -> Result<Claims, ApiError> {
    let issuer = IssuerUrl::new(content.issuer.clone()).map_err(ApiError::internal)?;
    let lifetime = chrono::Duration::from_std(content.lifetime).map_err(ApiError::internal)?;
    let mut standard = StandardClaims::new(SubjectIdentifier::new(content.subject.clone()));
    if let Some(email) = &content.email {
        standard = standard
            .set_email(Some(EndUserEmail::new(email.clone())))
            .set_email_verified(Some(content.email_verified));
    }
    if let Some(name) = &content.name {
        let mut localized = LocalizedClaim::new();
        localized.insert(None, EndUserName::new(name.clone()));
        standard = standard.set_name(Some(localized));
    }
    let claims = IdTokenClaims::new(
        issuer,
        vec![Audience::new(content.client_id.clone())],
        content.issued_at + lifetime,
        content.issued_at,
        standard,
        ExtraClaims {
            claims: content.extra.clone(),
        },
    )
    .set_authorized_party(Some(ClientId::new(content.client_id.clone())))
    .set_auth_time(content.auth_time)
    .set_nonce(content.nonce.clone().map(Nonce::new))
    .set_access_token_hash(
        content
            .access_token
            .as_deref()
            .map(|t| AccessTokenHash::new(at_hash(t, content.alg))),
    );
    Ok(claims)
}

pub struct IdTokenSigner {
    keys: Arc<IdTokenKeys>,
    signer: Arc<ServerKeys>,
    gate: Arc<WorkGate>,
}

impl IdTokenSigner {
    pub fn new(keys: Arc<IdTokenKeys>, signer: Arc<ServerKeys>, gate: Arc<WorkGate>) -> Self {
        Self { keys, signer, gate }
    }

    /// Signs an ID token: `{"alg", "kid", "typ": "JWT"}` over the claims.
    pub async fn sign(&self, content: &IdTokenContent) -> Result<String, ApiError> {
        let payload = serde_json::to_vec(&claims(content)?).map_err(ApiError::internal)?;
        let key = self.keys.signing_key(content.alg).await?;
        let mut header = Map::new();
        header.insert("kid".into(), Value::String(key.kid));
        header.insert("typ".into(), Value::String("JWT".into()));
        let signer = self.signer.clone();
        let alg = content.alg;
        let sign = async move { jws::sign_compact(&*signer, &key.id, alg, header, &payload).await };
        // An RSA signature takes a millisecond or more: bounded by the gate. Ed25519 and
        // P-256 take tens of microseconds, less than a hop to a blocking thread.
        let signed = if alg == JwsAlg::RS256 {
            self.gate.run(sign).await?
        } else {
            sign.await
        };
        signed.map_err(ApiError::internal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// OIDC Core §3.1.3.6 and the openidconnect crate agree on `at_hash`.
    #[test]
    fn at_hash_is_the_left_half_of_the_algorithms_hash() {
        use openidconnect::core::{CoreJsonWebKey, CoreJwsSigningAlgorithm};
        use sichat_core::keys::{KeyType, SecretKey};
        let token = openidconnect::AccessToken::new("an-access-token".into());
        for (alg, key_type, core_alg) in [
            (
                JwsAlg::RS256,
                KeyType::Rsa,
                CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            ),
            (
                JwsAlg::ES256,
                KeyType::P256,
                CoreJwsSigningAlgorithm::EcdsaP256Sha256,
            ),
            (
                JwsAlg::EdDSA,
                KeyType::Ed25519,
                CoreJwsSigningAlgorithm::EdDsa,
            ),
        ] {
            let jwk: CoreJsonWebKey =
                serde_json::from_value(SecretKey::generate(key_type).public_key().to_jwk_value())
                    .unwrap();
            let theirs = AccessTokenHash::from_token(&token, &core_alg, &jwk).unwrap();
            assert_eq!(theirs.as_str(), at_hash("an-access-token", alg), "{alg}");
        }
    }
}
