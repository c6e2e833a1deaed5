//! Client authentication at the token endpoint (RFC 6749 §2.3, OIDC Core §9, RFC 7523):
//! `client_secret_basic`, `client_secret_post`, `private_key_jwt` and `none` for public
//! clients, each client only by the method it registered. Secrets are compared as SHA-256
//! digests in constant time; a client assertion is checked against the client's stored
//! keys only (never a key or URL the token names), and its `jti` is accepted once.

use std::sync::Arc;

use base64::Engine;
use serde_json::Value;
use sichat_core::Clock;
use sichat_core::keys::PublicKey;
use sichat_core::keys::jws::{self, JwsAlg};
use subtle::ConstantTimeEq;

use super::oauth_error::OAuthError;
use super::oidc_clients::secret_digest;
use crate::store::SeaStore;
use crate::store::oidc_clients::{self, ClientRow};

/// RFC 7523 §2.2.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Clock skew allowed on assertion times.
const SKEW_SECS: i64 = 60;
/// The longest an assertion may still be valid for (bounds how long `jti`s are kept).
const MAX_ASSERTION_LIFETIME_SECS: i64 = 300;

/// What a token request presented to authenticate its client.
#[derive(Debug, Default, Clone)]
pub struct Presented {
    /// The `Authorization: Basic` header's value (after `Basic `), undecoded.
    pub basic: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub client_assertion_type: Option<String>,
    pub client_assertion: Option<String>,
}

/// Decodes HTTP Basic credentials: base64 of `id:secret`, each part form-urlencoded
/// first (RFC 6749 §2.3.1).
fn decode_basic(value: &str) -> Result<(String, String), OAuthError> {
    let bad = || {
        OAuthError::invalid_client("malformed HTTP Basic client credentials").with_basic_challenge()
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    let (id, secret) = raw.split_once(':').ok_or_else(bad)?;
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8()
            .map(|d| d.into_owned())
            .map_err(|_| bad())
    };
    Ok((decode(id)?, decode(secret)?))
}

pub struct ClientAuth {
    store: Arc<SeaStore>,
    clock: Arc<dyn Clock>,
}

impl ClientAuth {
    pub fn new(store: Arc<SeaStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// Authenticates the client of a token request; `audiences` are the values an
    /// assertion's `aud` may name (the token endpoint URL, the issuer).
    pub async fn authenticate(
        &self,
        p: &Presented,
        audiences: &[&str],
    ) -> Result<ClientRow, OAuthError> {
        let methods = [
            p.basic.is_some(),
            p.client_secret.is_some(),
            p.client_assertion.is_some() || p.client_assertion_type.is_some(),
        ];
        if methods.iter().filter(|m| **m).count() > 1 {
            return Err(OAuthError::invalid_request(
                "use exactly one client authentication method",
            ));
        }
        if let Some(basic) = &p.basic {
            let (id, secret) = decode_basic(basic)?;
            if p.client_id.as_ref().is_some_and(|c| *c != id) {
                return Err(OAuthError::invalid_request(
                    "client_id differs from the HTTP Basic client",
                ));
            }
            let client = self.client(&id, true).await?;
            return check_secret(client, "client_secret_basic", &secret, true);
        }
        if let Some(secret) = &p.client_secret {
            let id = p
                .client_id
                .as_deref()
                .ok_or_else(|| OAuthError::invalid_request("client_secret comes with client_id"))?;
            let client = self.client(id, false).await?;
            return check_secret(client, "client_secret_post", secret, false);
        }
        if p.client_assertion.is_some() || p.client_assertion_type.is_some() {
            return self.assertion(p, audiences).await;
        }
        let id = p.client_id.as_deref().ok_or_else(|| {
            OAuthError::invalid_client("no client authentication (and no client_id)")
        })?;
        let client = self.client(id, false).await?;
        if client.auth_method != "none" {
            return Err(OAuthError::invalid_client(format!(
                "this client authenticates with {}",
                client.auth_method
            )));
        }
        Ok(client)
    }

    async fn client(&self, id: &str, basic: bool) -> Result<ClientRow, OAuthError> {
        let unknown = || {
            let e = OAuthError::invalid_client("unknown client");
            if basic { e.with_basic_challenge() } else { e }
        };
        if sichat_core::oauth::check_client_id(id).is_err() {
            return Err(unknown());
        }
        self.store
            .client(id)
            .await?
            .map(|c| (*c).clone())
            .ok_or_else(unknown)
    }

    /// `private_key_jwt`: the assertion signed by one of the client's registered keys,
    /// `iss` = `sub` = the client, `aud` naming this server, unexpired and short-lived,
    /// `jti` never seen.
    async fn assertion(&self, p: &Presented, audiences: &[&str]) -> Result<ClientRow, OAuthError> {
        if p.client_assertion_type.as_deref() != Some(JWT_BEARER) {
            return Err(OAuthError::invalid_request(format!(
                "client_assertion_type must be {JWT_BEARER}"
            )));
        }
        let token = p
            .client_assertion
            .as_deref()
            .ok_or_else(|| OAuthError::invalid_request("client_assertion is missing"))?;
        let bad = |why: &str| OAuthError::invalid_client(format!("client assertion: {why}"));
        let decoded = jws::decode(token, &JwsAlg::ALL).map_err(|e| bad(&e.to_string()))?;
        let claims: Value =
            serde_json::from_slice(decoded.unverified_payload()).map_err(|_| bad("not JSON"))?;
        let iss = claims
            .get("iss")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("no iss"))?;
        if claims.get("sub").and_then(Value::as_str) != Some(iss) {
            return Err(bad("sub must equal iss (the client id)"));
        }
        if p.client_id.as_ref().is_some_and(|c| c != iss) {
            return Err(OAuthError::invalid_request(
                "client_id differs from the assertion's iss",
            ));
        }
        let client = self.client(iss, false).await?;
        if client.auth_method != "private_key_jwt" {
            return Err(bad(&format!(
                "this client authenticates with {}",
                client.auth_method
            )));
        }
        let key = client_key(&client, decoded.kid())
            .ok_or_else(|| bad("no registered key matches its kid"))?;
        let payload = decoded.verify(&key).map_err(|e| bad(&e.to_string()))?;
        let claims: Value = serde_json::from_slice(&payload).map_err(|_| bad("not JSON"))?;
        let aud_ok = match claims.get("aud") {
            Some(Value::String(a)) => audiences.contains(&a.as_str()),
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .any(|a| audiences.contains(&a)),
            _ => false,
        };
        if !aud_ok {
            return Err(bad("aud must name this server's token endpoint or issuer"));
        }
        let now = self.clock.now_millis() / 1000;
        let time = |name: &str| claims.get(name).and_then(Value::as_i64);
        let exp = time("exp").ok_or_else(|| bad("exp is required"))?;
        if exp.saturating_add(SKEW_SECS) < now {
            return Err(bad("expired"));
        }
        if exp > now + MAX_ASSERTION_LIFETIME_SECS + SKEW_SECS {
            return Err(bad("exp is more than 5 minutes ahead"));
        }
        for name in ["nbf", "iat"] {
            if time(name).is_some_and(|t| t > now + SKEW_SECS) {
                return Err(bad(&format!("{name} is in the future")));
            }
        }
        let jti = claims
            .get("jti")
            .and_then(Value::as_str)
            .filter(|j| !j.is_empty() && j.len() <= 256)
            .ok_or_else(|| bad("jti (1 to 256 characters) is required"))?;
        let fresh = oidc_clients::remember_jti(
            self.store.db(),
            &client.id,
            jti,
            (exp + SKEW_SECS) * 1000,
            self.clock.now_millis(),
        )
        .await?;
        if !fresh {
            return Err(bad("this jti was used before (replay)"));
        }
        Ok(client)
    }
}

fn check_secret(
    client: ClientRow,
    method: &str,
    secret: &str,
    basic: bool,
) -> Result<ClientRow, OAuthError> {
    let refuse = |why: String| {
        let e = OAuthError::invalid_client(why);
        if basic { e.with_basic_challenge() } else { e }
    };
    if client.auth_method != method {
        return Err(refuse(format!(
            "this client authenticates with {}",
            client.auth_method
        )));
    }
    let stored = client.secret_sha256.as_deref().unwrap_or_default();
    if bool::from(secret_digest(secret).as_bytes().ct_eq(stored.as_bytes())) {
        Ok(client)
    } else {
        Err(refuse("wrong client secret".into()))
    }
}

/// The registered key an assertion names by `kid`, or the only one when it names none.
fn client_key(client: &ClientRow, kid: Option<&str>) -> Option<PublicKey> {
    let jwks: Value = serde_json::from_str(client.jwks.as_deref()?).ok()?;
    let keys = jwks.get("keys")?.as_array()?;
    let key = match kid {
        Some(kid) => keys
            .iter()
            .find(|k| k.get("kid").and_then(Value::as_str) == Some(kid))?,
        None if keys.len() == 1 => &keys[0],
        None => return None,
    };
    PublicKey::from_jwk_value(key).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let enc = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        assert_eq!(
            decode_basic(&enc("my%20app:s%3Ac%25r+t")).unwrap(),
            ("my app".into(), "s:c%r t".into())
        );
        assert_eq!(
            decode_basic(&enc("app:")).unwrap(),
            ("app".into(), String::new())
        );
        for bad in ["", "!!", &enc("no-colon"), &enc("a:%FF")] {
            let e = decode_basic(bad).unwrap_err();
            assert_eq!(
                (e.error, e.basic_challenge),
                ("invalid_client", true),
                "{bad}"
            );
        }
    }
}
