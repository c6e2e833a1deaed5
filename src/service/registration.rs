//! Dynamic client registration (RFC 7591, OIDC Dynamic Client Registration 1.0), when the
//! operator switches it on (`oidc_dynamic_registration`). Open to anyone who can reach
//! the server, so it is narrower than the admin API: authorization-code clients only (no
//! `client_credentials`, no `issue:credentials`), `jwks` by value (no `jwks_uri`: the
//! server fetches nothing), and bounded — 20 registrations an hour per address and
//! [`MAX_DYNAMIC_CLIENTS`] in all. Unknown metadata is ignored (RFC 7591 §2); the
//! response repeats what was registered, with the secret shown once.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use sichat_core::api::CreateClient;
use sichat_core::{Clock, oauth};

use super::oauth_error::OAuthError;
use super::oidc_clients::ClientService;
use super::rate_limit::RateLimiter;
use crate::store::{SeaStore, oidc_clients};

/// Self-registered clients at most.
pub const MAX_DYNAMIC_CLIENTS: u64 = 10_000;
/// Registrations per address per hour.
pub const PER_ADDRESS_PER_HOUR: u32 = 20;
/// Scopes a self-registered client may not ask for.
const RESERVED_SCOPES: [&str; 1] = ["issue:credentials"];

fn metadata_error(description: impl Into<String>) -> OAuthError {
    OAuthError::new("invalid_client_metadata", 400, description)
}

fn redirect_error(description: impl Into<String>) -> OAuthError {
    OAuthError::new("invalid_redirect_uri", 400, description)
}

pub struct Registration {
    clients: Arc<ClientService>,
    store: Arc<SeaStore>,
    clock: Arc<dyn Clock>,
    per_address: RateLimiter,
}

/// A member as a list of strings (absent: empty).
fn strings(m: &Map<String, Value>, name: &str) -> Result<Vec<String>, OAuthError> {
    match m.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| metadata_error(format!("{name} must be an array of strings")))
            })
            .collect(),
        Some(_) => Err(metadata_error(format!(
            "{name} must be an array of strings"
        ))),
    }
}

fn string(m: &Map<String, Value>, name: &str) -> Result<Option<String>, OAuthError> {
    match m.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(metadata_error(format!("{name} must be a string"))),
    }
}

impl Registration {
    pub fn new(clients: Arc<ClientService>, store: Arc<SeaStore>, clock: Arc<dyn Clock>) -> Self {
        Self {
            per_address: RateLimiter::new(
                PER_ADDRESS_PER_HOUR,
                Duration::from_secs(3600),
                clock.clone(),
            ),
            clients,
            store,
            clock,
        }
    }

    /// Registers a client from an RFC 7591 request body.
    pub async fn register(
        &self,
        body: &[u8],
        address: Option<IpAddr>,
    ) -> Result<Value, OAuthError> {
        if let Some(ip) = address
            && let Err(secs) = self.per_address.hit(&ip.to_string())
        {
            return Err(OAuthError::new(
                "temporarily_unavailable",
                429,
                format!("too many registrations from this address; retry in {secs} s"),
            ));
        }
        let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(body) else {
            return Err(metadata_error(
                "the body must be a JSON object of client metadata",
            ));
        };
        if oidc_clients::count_dynamic(self.store.db()).await? >= MAX_DYNAMIC_CLIENTS {
            return Err(OAuthError::temporarily_unavailable(
                "this server takes no more self-registered clients",
            ));
        }
        let request = self.request(&m)?;
        let application_type = string(&m, "application_type")?.unwrap_or_else(|| "web".into());
        for uri in request
            .redirect_uris
            .iter()
            .chain(&request.post_logout_redirect_uris)
        {
            oauth::check_redirect_uri(uri, application_type == "native")
                .map_err(|e| redirect_error(format!("`{uri}`: {}", e.0)))?;
        }
        let created = self
            .clients
            .create_as(request, "dynamic")
            .await
            .map_err(|e| {
                let field =
                    e.0.extensions
                        .get("field")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                if field.ends_with("redirect_uris") {
                    redirect_error(e.0.detail.clone())
                } else if e.0.kind.status.is_client_error() {
                    metadata_error(format!("{field}: {}", e.0.detail))
                } else {
                    OAuthError::from(e)
                }
            })?;
        let c = &created.client;
        let mut out = json!({
            "client_id": c.client_id,
            "client_id_issued_at": self.clock.now_millis() / 1000,
            "redirect_uris": c.redirect_uris,
            "post_logout_redirect_uris": c.post_logout_redirect_uris,
            "token_endpoint_auth_method": c.token_endpoint_auth_method,
            "grant_types": c.grant_types,
            "response_types": ["code"],
            "scope": c.scope,
            "id_token_signed_response_alg": c.id_token_signed_response_alg,
            "application_type": application_type,
        });
        if let Some(name) = &c.client_name {
            out["client_name"] = json!(name);
        }
        if let Some(jwks) = m.get("jwks") {
            out["jwks"] = jwks.clone();
        }
        if let Some(secret) = &created.client_secret {
            out["client_secret"] = json!(secret);
            out["client_secret_expires_at"] = json!(0);
        }
        Ok(out)
    }

    /// The admin API's request for these metadata, within what self-registration allows.
    fn request(&self, m: &Map<String, Value>) -> Result<CreateClient, OAuthError> {
        if m.contains_key("jwks_uri") {
            return Err(metadata_error(
                "jwks_uri is not supported: send the keys as jwks",
            ));
        }
        let response_types = strings(m, "response_types")?;
        if response_types.iter().any(|r| r != "code") {
            return Err(metadata_error("only the response type `code` is offered"));
        }
        let grant_types = strings(m, "grant_types")?;
        if let Some(g) = grant_types
            .iter()
            .find(|g| !matches!(g.as_str(), "authorization_code" | "refresh_token"))
        {
            return Err(metadata_error(format!(
                "grant type `{g}` is not open to self-registered clients (authorization_code, refresh_token)"
            )));
        }
        let scope = string(m, "scope")?;
        if let Some(s) = scope
            .as_deref()
            .and_then(|s| s.split(' ').find(|s| RESERVED_SCOPES.contains(s)))
        {
            return Err(metadata_error(format!(
                "scope `{s}` is not open to self-registered clients"
            )));
        }
        if let Some(t) = string(m, "application_type")?
            && t != "web"
            && t != "native"
        {
            return Err(metadata_error("application_type is web or native"));
        }
        let auth_method = string(m, "token_endpoint_auth_method")?;
        Ok(CreateClient {
            client_id: format!("dyn-{}", uuid::Uuid::new_v4().simple()),
            redirect_uris: strings(m, "redirect_uris")?,
            post_logout_redirect_uris: strings(m, "post_logout_redirect_uris")?,
            public: auth_method.as_deref() == Some("none"),
            token_endpoint_auth_method: auth_method,
            client_secret: None,
            grant_types,
            scope,
            jwks: m.get("jwks").cloned(),
            id_token_signed_response_alg: string(m, "id_token_signed_response_alg")?,
            client_name: string(m, "client_name")?,
            issuer_dids: Vec::new(),
            allow_no_pkce: false,
        })
    }
}
