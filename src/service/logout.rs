//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): checks an `id_token_hint`
//! (one this server signed; expired is fine, it only names who is signing out), the
//! client, and the `post_logout_redirect_uri`, which must equal one the client registered
//! exactly. The browser is sent back only to such a URI; otherwise it sees a page.

use std::sync::Arc;

use serde_json::Value;
use sichat_core::keys::jws::{self, JwsAlg};

use super::authorize::{AuthorizeError, with_params};
use super::id_token_keys::IdTokenKeys;
use super::identity::IdentityService;
use super::oidc_clients::parse_list;
use crate::store::SeaStore;

/// The parameters of a logout request.
#[derive(Debug, Clone, Default)]
pub struct LogoutRequest {
    pub id_token_hint: Option<String>,
    pub client_id: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
}

/// A checked logout request.
#[derive(Debug, Clone, Default)]
pub struct CheckedLogout {
    /// The hint's subject (a user id), when a valid hint was sent.
    pub subject: Option<String>,
    pub client_id: Option<String>,
    /// Where to send the browser afterwards (the registered URI with `state`).
    pub redirect: Option<String>,
    /// The registered URI itself and the state, to carry through a confirmation page.
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
}

pub struct Logout {
    keys: Arc<IdTokenKeys>,
    store: Arc<SeaStore>,
    identity: Arc<IdentityService>,
}

fn page(detail: impl Into<String>) -> AuthorizeError {
    AuthorizeError::Page {
        title: "Sign-out request refused",
        detail: detail.into(),
    }
}

impl Logout {
    pub fn new(
        keys: Arc<IdTokenKeys>,
        store: Arc<SeaStore>,
        identity: Arc<IdentityService>,
    ) -> Self {
        Self {
            keys,
            store,
            identity,
        }
    }

    /// The hint's `sub` and `aud` if it is an ID token this server signed.
    async fn hint(&self, token: &str) -> Result<(String, Vec<String>), AuthorizeError> {
        let invalid = || page("The id_token_hint is not an ID token issued here.");
        if token.len() > 16 * 1024 {
            return Err(invalid());
        }
        let decoded = jws::decode(token, &[JwsAlg::RS256, JwsAlg::ES256, JwsAlg::EdDSA])
            .map_err(|_| invalid())?;
        let key = match decoded.kid() {
            Some(kid) => self.keys.published(kid).await?,
            None => None,
        }
        .ok_or_else(invalid)?;
        let payload = decoded.verify(&key).map_err(|_| invalid())?;
        let claims: Value = serde_json::from_slice(&payload).map_err(|_| invalid())?;
        if claims.get("iss").and_then(Value::as_str) != Some(self.identity.issuer().as_str()) {
            return Err(invalid());
        }
        let sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .ok_or_else(invalid)?
            .to_owned();
        let aud = match claims.get("aud") {
            Some(Value::String(a)) => vec![a.clone()],
            Some(Value::Array(list)) => list
                .iter()
                .filter_map(|a| a.as_str().map(str::to_owned))
                .collect(),
            _ => return Err(invalid()),
        };
        Ok((sub, aud))
    }

    pub async fn check(&self, request: LogoutRequest) -> Result<CheckedLogout, AuthorizeError> {
        let mut checked = CheckedLogout {
            state: request.state.filter(|s| s.len() <= 1024),
            ..Default::default()
        };
        let mut audiences = Vec::new();
        if let Some(hint) = &request.id_token_hint {
            let (sub, aud) = self.hint(hint).await?;
            checked.subject = Some(sub);
            audiences = aud;
        }
        checked.client_id = match (&request.client_id, audiences.as_slice()) {
            (Some(id), aud) if aud.is_empty() || aud.contains(id) => Some(id.clone()),
            (Some(_), _) => {
                return Err(page("client_id is not the audience of the id_token_hint."));
            }
            (None, [only]) => Some(only.clone()),
            (None, _) => None,
        };
        let Some(uri) = request.post_logout_redirect_uri else {
            return Ok(checked);
        };
        let Some(client_id) = &checked.client_id else {
            return Err(page(
                "A post_logout_redirect_uri needs a client_id or an id_token_hint.",
            ));
        };
        let client = self
            .store
            .client(client_id)
            .await?
            .ok_or_else(|| page("No application is registered with this client_id."))?;
        // Exact string comparison: no normalization, no loopback-port exception.
        if !parse_list(
            "post_logout_redirect_uris",
            &client.post_logout_redirect_uris,
        )
        .contains(&uri)
        {
            return Err(page(
                "The post_logout_redirect_uri is not one this application registered.",
            ));
        }
        let mut params = Vec::new();
        if let Some(state) = &checked.state {
            params.push(("state", state.as_str()));
        }
        checked.redirect = Some(with_params(&uri, &params));
        checked.post_logout_redirect_uri = Some(uri);
        Ok(checked)
    }
}
