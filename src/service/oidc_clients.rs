//! OpenID Connect clients: registration by the operator (CLI, admin API), with every piece
//! of metadata checked (RFC 6749 §2, RFC 7591 §2, RFC 8252 for native apps, RFC 9700),
//! secrets shown once and stored as SHA-256, listing and removal.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use sichat_core::api::{ClientView, CreateClient, CreatedClient};
use sichat_core::id::Did;
use sichat_core::keys::PublicKey;
use sichat_core::keys::jws::JwsAlg;
use sichat_core::oauth;
use sichat_core::{Clock, Secret};

use crate::error::ApiError;
use crate::store::oidc_clients::{self, ClientRow};
use crate::store::{SeaStore, begin_write, map_err, stamp_identity_change};

/// Client authentication methods at the token endpoint (OIDC Core §9).
pub const AUTH_METHODS: [&str; 4] = [
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
    "none",
];
/// Grant types a client may use.
pub const GRANT_TYPES: [&str; 3] = ["authorization_code", "refresh_token", "client_credentials"];
/// The scopes a login client may ask for unless told otherwise.
pub const DEFAULT_SCOPE: &str = "openid profile email offline_access";

const MIN_SECRET: usize = 32;
const MAX_SECRET: usize = 512;
const MAX_SCOPES: usize = 32;
const MAX_JWKS_KEYS: usize = 8;
const MAX_NAME: usize = 128;
const MAX_ISSUER_DIDS: usize = 16;
/// Members that would make a JWK private (RFC 7518 §6.2.2, §6.3.2, §6.4).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

fn bad(field: &str, detail: impl Into<String>) -> ApiError {
    ApiError::validation(detail).with("field", field.into())
}

pub use super::secret_digest;

fn json_list(items: &[String]) -> String {
    // Invariant: a list of strings always serializes.
    serde_json::to_string(items).expect("strings serialize")
}

/// A list-valued column (a JSON array of strings); a corrupt value is logged and empty.
pub fn parse_list(field: &str, stored: &str) -> Vec<String> {
    serde_json::from_str(stored).unwrap_or_else(|e| {
        tracing::error!(field, error = %e, "stored client metadata is not a JSON list");
        Vec::new()
    })
}

/// The public view of a stored client.
pub fn view(row: &ClientRow) -> ClientView {
    ClientView {
        client_id: row.id.clone(),
        public: row.public,
        token_endpoint_auth_method: row.auth_method.clone(),
        redirect_uris: parse_list("redirect_uris", &row.redirect_uris),
        post_logout_redirect_uris: parse_list(
            "post_logout_redirect_uris",
            &row.post_logout_redirect_uris,
        ),
        grant_types: parse_list("grant_types", &row.grant_types),
        scope: row.scope.clone(),
        id_token_signed_response_alg: row.id_token_alg.clone(),
        client_name: row.name.clone(),
        issuer_dids: parse_list("issuer_dids", &row.issuer_dids),
        require_pkce: row.require_pkce,
        has_jwks: row.jwks.is_some(),
        created_at: row.created_at,
    }
}

pub struct ClientService {
    store: Arc<SeaStore>,
    clock: Arc<dyn Clock>,
}

impl ClientService {
    pub fn new(store: Arc<SeaStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// Registers a client; the secret, when there is one, is returned this once.
    pub async fn create(&self, request: CreateClient) -> Result<CreatedClient, ApiError> {
        self.create_as(request, "admin").await
    }

    /// Registers a client recorded as coming from `origin` (`admin` or `dynamic`).
    pub async fn create_as(
        &self,
        request: CreateClient,
        origin: &str,
    ) -> Result<CreatedClient, ApiError> {
        let (mut row, secret) = checked(request, self.clock.now_millis())?;
        row.origin = origin.to_owned();
        let txn = begin_write(self.store.db()).await.map_err(map_err)?;
        oidc_clients::insert(&txn, row.clone())
            .await
            .map_err(|e| match e {
                sichat_core::store::StoreError::Duplicate(_) => {
                    ApiError::conflict(format!("client `{}` already exists", row.id))
                }
                other => other.into(),
            })?;
        // Servers keep clients in memory per identity epoch: this moves it.
        stamp_identity_change(&txn).await?;
        txn.commit().await.map_err(map_err)?;
        self.store.epoch().bump();
        Ok(CreatedClient {
            client: view(&row),
            client_secret: secret.map(|s| s.expose().clone()),
        })
    }

    pub async fn list(&self) -> Result<Vec<ClientView>, ApiError> {
        Ok(oidc_clients::list(self.store.db())
            .await?
            .iter()
            .map(view)
            .collect())
    }

    pub async fn get(&self, id: &str) -> Result<ClientView, ApiError> {
        oidc_clients::get(self.store.db(), id)
            .await?
            .map(|row| view(&row))
            .ok_or_else(|| ApiError::not_found(format!("no client `{id}`")))
    }

    /// Removes a client: it can no longer log anyone in or get a token.
    pub async fn remove(&self, id: &str) -> Result<(), ApiError> {
        let txn = begin_write(self.store.db()).await.map_err(map_err)?;
        if !oidc_clients::remove(&txn, id).await? {
            return Err(ApiError::not_found(format!("no client `{id}`")));
        }
        stamp_identity_change(&txn).await?;
        txn.commit().await.map_err(map_err)?;
        self.store.epoch().bump();
        Ok(())
    }
}

/// Checks a registration request and builds the row (with the secret's digest) and the
/// secret to show.
fn checked(r: CreateClient, now: i64) -> Result<(ClientRow, Option<Secret<String>>), ApiError> {
    oauth::check_client_id(&r.client_id).map_err(|e| bad("client_id", e.0))?;

    let auth_method = match (&r.token_endpoint_auth_method, r.public, &r.jwks) {
        (Some(m), _, _) => m.clone(),
        (None, true, _) => "none".to_owned(),
        (None, false, Some(_)) => "private_key_jwt".to_owned(),
        (None, false, None) => "client_secret_basic".to_owned(),
    };
    if !AUTH_METHODS.contains(&auth_method.as_str()) {
        return Err(bad(
            "token_endpoint_auth_method",
            format!("`{auth_method}` is not one of {}", AUTH_METHODS.join(", ")),
        ));
    }
    if r.public != (auth_method == "none") {
        return Err(bad(
            "token_endpoint_auth_method",
            "a public client authenticates with `none`, and only a public client does",
        ));
    }
    let uses_secret = auth_method.starts_with("client_secret_");
    if r.client_secret.is_some() && !uses_secret {
        return Err(bad(
            "client_secret",
            format!("a client authenticating with `{auth_method}` has no secret"),
        ));
    }
    let jwks = match (&r.jwks, auth_method.as_str()) {
        (Some(jwks), "private_key_jwt") => Some(checked_jwks(jwks)?),
        (None, "private_key_jwt") => {
            return Err(bad(
                "jwks",
                "private_key_jwt needs the client's public keys (`jwks`)",
            ));
        }
        (Some(_), _) => {
            return Err(bad(
                "jwks",
                "`jwks` is for clients authenticating with private_key_jwt",
            ));
        }
        (None, _) => None,
    };

    let mut grant_types = if r.grant_types.is_empty() {
        vec!["authorization_code".to_owned()]
    } else {
        r.grant_types.clone()
    };
    grant_types.sort();
    grant_types.dedup();
    if let Some(g) = grant_types
        .iter()
        .find(|g| !GRANT_TYPES.contains(&g.as_str()))
    {
        return Err(bad(
            "grant_types",
            format!(
                "`{g}` is not one of {} (implicit and password grants are not offered)",
                GRANT_TYPES.join(", ")
            ),
        ));
    }
    let has = |g: &str| grant_types.iter().any(|x| x == g);
    if has("client_credentials") && r.public {
        return Err(bad(
            "grant_types",
            "a public client cannot use client_credentials",
        ));
    }
    if has("refresh_token") && !has("authorization_code") {
        return Err(bad(
            "grant_types",
            "refresh_token comes with authorization_code",
        ));
    }

    if r.redirect_uris.len() > oauth::MAX_REDIRECT_URIS
        || r.post_logout_redirect_uris.len() > oauth::MAX_REDIRECT_URIS
    {
        return Err(bad(
            "redirect_uris",
            format!("at most {} redirect URIs", oauth::MAX_REDIRECT_URIS),
        ));
    }
    if has("authorization_code") && r.redirect_uris.is_empty() {
        return Err(bad(
            "redirect_uris",
            "authorization_code needs at least one redirect URI",
        ));
    }
    for (field, uris) in [
        ("redirect_uris", &r.redirect_uris),
        ("post_logout_redirect_uris", &r.post_logout_redirect_uris),
    ] {
        for uri in uris {
            oauth::check_redirect_uri(uri, r.public)
                .map_err(|e| bad(field, format!("`{uri}`: {}", e.0)))?;
        }
    }

    let scope = match &r.scope {
        Some(s) => s.clone(),
        None if has("authorization_code") => DEFAULT_SCOPE.to_owned(),
        None => String::new(),
    };
    let mut scopes: Vec<&str> = scope.split(' ').filter(|s| !s.is_empty()).collect();
    if scopes.len() > MAX_SCOPES {
        return Err(bad("scope", format!("at most {MAX_SCOPES} scopes")));
    }
    for s in &scopes {
        oauth::check_scope_token(s).map_err(|e| bad("scope", e.0))?;
    }
    scopes.sort();
    scopes.dedup();
    if has("client_credentials") && scopes.is_empty() {
        return Err(bad(
            "scope",
            "a client_credentials client names the scopes it may ask for (e.g. issue:credentials)",
        ));
    }

    let id_token_alg = r.id_token_signed_response_alg.as_deref().unwrap_or("RS256");
    if JwsAlg::parse(id_token_alg).is_none() {
        return Err(bad(
            "id_token_signed_response_alg",
            format!("`{id_token_alg}` is not one of RS256, ES256, EdDSA"),
        ));
    }
    if let Some(name) = &r.client_name
        && (name.is_empty()
            || name.chars().count() > MAX_NAME
            || name.chars().any(char::is_control))
    {
        return Err(bad(
            "client_name",
            format!("1 to {MAX_NAME} characters, no control characters"),
        ));
    }
    if r.issuer_dids.len() > MAX_ISSUER_DIDS {
        return Err(bad(
            "issuer_dids",
            format!("at most {MAX_ISSUER_DIDS} DIDs"),
        ));
    }
    for did in &r.issuer_dids {
        Did::parse(did).map_err(|e| bad("issuer_dids", format!("`{did}`: {e}")))?;
    }
    if r.allow_no_pkce && r.public {
        return Err(bad("allow_no_pkce", "a public client always uses PKCE"));
    }

    let secret = match (&r.client_secret, uses_secret) {
        (Some(s), _) => {
            let ok = (MIN_SECRET..=MAX_SECRET).contains(&s.len())
                && s.bytes().all(|b| (0x20..=0x7e).contains(&b));
            if !ok {
                return Err(bad(
                    "client_secret",
                    format!("{MIN_SECRET} to {MAX_SECRET} printable ASCII characters"),
                ));
            }
            Some(Secret::new(s.clone()))
        }
        (None, true) => Some(Secret::new(
            URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>()),
        )),
        (None, false) => None,
    };
    let row = ClientRow {
        id: r.client_id.clone(),
        secret_sha256: secret.as_ref().map(|s| secret_digest(s.expose())),
        auth_method,
        public: r.public,
        require_pkce: !r.allow_no_pkce,
        redirect_uris: json_list(&r.redirect_uris),
        post_logout_redirect_uris: json_list(&r.post_logout_redirect_uris),
        grant_types: json_list(&grant_types),
        scope: scopes.join(" "),
        id_token_alg: id_token_alg.to_owned(),
        jwks: jwks.map(|j| j.to_string()),
        issuer_dids: json_list(&r.issuer_dids),
        name: r.client_name.clone(),
        origin: "admin".to_owned(),
        created_at: now,
    };
    Ok((row, secret))
}

/// A client's JWK set for `private_key_jwt`: 1 to 8 public signing keys of the types
/// Sichat verifies, with a `kid` each when there are several.
fn checked_jwks(jwks: &Value) -> Result<Value, ApiError> {
    let keys = jwks
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("jwks", "a JWK set: {\"keys\": [...]}"))?;
    if keys.is_empty() || keys.len() > MAX_JWKS_KEYS {
        return Err(bad("jwks", format!("1 to {MAX_JWKS_KEYS} keys")));
    }
    for key in keys {
        if let Some(m) = PRIVATE_MEMBERS.iter().find(|m| key.get(**m).is_some()) {
            return Err(bad(
                "jwks",
                format!("a key has the private member `{m}`: send public keys only"),
            ));
        }
        let public = PublicKey::from_jwk_value(key).map_err(|e| bad("jwks", e.to_string()))?;
        if JwsAlg::for_key_type(public.key_type()).is_none() {
            return Err(bad(
                "jwks",
                format!("{} keys cannot sign", public.key_type()),
            ));
        }
        if keys.len() > 1 && key.get("kid").and_then(Value::as_str).is_none() {
            return Err(bad("jwks", "with several keys, each has a `kid`"));
        }
    }
    Ok(jwks.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use sichat_core::keys::{KeyType, SecretKey};

    fn login_client() -> CreateClient {
        CreateClient {
            client_id: "app".into(),
            redirect_uris: vec!["https://app.example/cb".into()],
            ..Default::default()
        }
    }

    #[test]
    fn a_confidential_login_client_gets_defaults_and_a_generated_secret() {
        let (row, secret) = checked(login_client(), 5).unwrap();
        let secret = secret.unwrap();
        assert_eq!(secret.expose().len(), 43);
        assert_eq!(row.secret_sha256, Some(secret_digest(secret.expose())));
        assert_eq!(row.auth_method, "client_secret_basic");
        assert_eq!(row.scope, "email offline_access openid profile");
        assert_eq!(row.grant_types, r#"["authorization_code"]"#);
        assert_eq!(
            (row.id_token_alg.as_str(), row.require_pkce),
            ("RS256", true)
        );
    }

    #[test]
    fn public_and_private_key_jwt_clients_have_no_secret() {
        let public = CreateClient {
            public: true,
            redirect_uris: vec!["com.example.app:/cb".into(), "http://127.0.0.1/cb".into()],
            ..login_client()
        };
        let (row, secret) = checked(public, 0).unwrap();
        assert!(secret.is_none() && row.secret_sha256.is_none());
        assert_eq!(row.auth_method, "none");
        let key = SecretKey::generate(KeyType::P256)
            .public_key()
            .to_jwk_value();
        let jwt = CreateClient {
            jwks: Some(json!({"keys": [key]})),
            ..login_client()
        };
        let (row, secret) = checked(jwt, 0).unwrap();
        assert!(secret.is_none());
        assert_eq!(row.auth_method, "private_key_jwt");
    }

    #[test]
    fn bad_registrations_name_the_field() {
        let private = SecretKey::generate(KeyType::Ed25519).to_private_jwk_value();
        let x25519 = SecretKey::generate(KeyType::X25519)
            .public_key()
            .to_jwk_value();
        let ed = SecretKey::generate(KeyType::Ed25519)
            .public_key()
            .to_jwk_value();
        let cases: Vec<(CreateClient, &str)> = vec![
            (
                CreateClient {
                    client_id: "a b".into(),
                    ..login_client()
                },
                "client_id",
            ),
            (
                CreateClient {
                    redirect_uris: vec![],
                    ..login_client()
                },
                "redirect_uris",
            ),
            (
                CreateClient {
                    redirect_uris: vec!["http://app.example/cb".into()],
                    ..login_client()
                },
                "redirect_uris",
            ),
            (
                CreateClient {
                    redirect_uris: vec!["https://app.example/cb#x".into()],
                    ..login_client()
                },
                "redirect_uris",
            ),
            (
                CreateClient {
                    redirect_uris: vec!["com.example.app:/cb".into()],
                    ..login_client()
                },
                "redirect_uris",
            ),
            (
                CreateClient {
                    post_logout_redirect_uris: vec!["javascript:x".into()],
                    ..login_client()
                },
                "post_logout_redirect_uris",
            ),
            (
                CreateClient {
                    public: true,
                    client_secret: Some("s".repeat(40)),
                    ..login_client()
                },
                "client_secret",
            ),
            (
                CreateClient {
                    client_secret: Some("short".into()),
                    ..login_client()
                },
                "client_secret",
            ),
            (
                CreateClient {
                    client_secret: Some(format!("{}\n", "s".repeat(40))),
                    ..login_client()
                },
                "client_secret",
            ),
            (
                CreateClient {
                    token_endpoint_auth_method: Some("none".into()),
                    ..login_client()
                },
                "token_endpoint_auth_method",
            ),
            (
                CreateClient {
                    public: true,
                    token_endpoint_auth_method: Some("client_secret_basic".into()),
                    ..login_client()
                },
                "token_endpoint_auth_method",
            ),
            (
                CreateClient {
                    token_endpoint_auth_method: Some("tls_client_auth".into()),
                    ..login_client()
                },
                "token_endpoint_auth_method",
            ),
            (
                CreateClient {
                    token_endpoint_auth_method: Some("private_key_jwt".into()),
                    ..login_client()
                },
                "jwks",
            ),
            (
                CreateClient {
                    jwks: Some(json!({"keys": [private]})),
                    ..login_client()
                },
                "jwks",
            ),
            (
                CreateClient {
                    jwks: Some(json!({"keys": [x25519]})),
                    ..login_client()
                },
                "jwks",
            ),
            (
                CreateClient {
                    jwks: Some(json!({"keys": [ed.clone(), ed]})),
                    ..login_client()
                },
                "jwks",
            ),
            (
                CreateClient {
                    jwks: Some(json!({"keys": []})),
                    ..login_client()
                },
                "jwks",
            ),
            (
                CreateClient {
                    jwks: Some(json!([1])),
                    ..login_client()
                },
                "jwks",
            ),
            (
                CreateClient {
                    grant_types: vec!["implicit".into()],
                    ..login_client()
                },
                "grant_types",
            ),
            (
                CreateClient {
                    grant_types: vec!["password".into()],
                    ..login_client()
                },
                "grant_types",
            ),
            (
                CreateClient {
                    grant_types: vec!["refresh_token".into()],
                    ..login_client()
                },
                "grant_types",
            ),
            (
                CreateClient {
                    public: true,
                    grant_types: vec!["client_credentials".into()],
                    ..login_client()
                },
                "grant_types",
            ),
            (
                CreateClient {
                    grant_types: vec!["client_credentials".into()],
                    redirect_uris: vec![],
                    ..login_client()
                },
                "scope",
            ),
            (
                CreateClient {
                    scope: Some("openid bad\"scope".into()),
                    ..login_client()
                },
                "scope",
            ),
            (
                CreateClient {
                    id_token_signed_response_alg: Some("HS256".into()),
                    ..login_client()
                },
                "id_token_signed_response_alg",
            ),
            (
                CreateClient {
                    id_token_signed_response_alg: Some("none".into()),
                    ..login_client()
                },
                "id_token_signed_response_alg",
            ),
            (
                CreateClient {
                    client_name: Some("a\u{7}b".into()),
                    ..login_client()
                },
                "client_name",
            ),
            (
                CreateClient {
                    issuer_dids: vec!["not-a-did".into()],
                    ..login_client()
                },
                "issuer_dids",
            ),
            (
                CreateClient {
                    public: true,
                    allow_no_pkce: true,
                    ..login_client()
                },
                "allow_no_pkce",
            ),
        ];
        for (i, (request, field)) in cases.into_iter().enumerate() {
            let err = checked(request, 0)
                .err()
                .unwrap_or_else(|| panic!("case {i} was accepted"));
            assert_eq!(
                err.0.extensions.get("field"),
                Some(&Value::String(field.into())),
                "case {i}: {err:?}"
            );
        }
    }

    #[test]
    fn a_client_credentials_client_needs_no_redirect_uri() {
        let request = CreateClient {
            client_id: "issuer-bot".into(),
            grant_types: vec!["client_credentials".into()],
            scope: Some("issue:credentials".into()),
            ..Default::default()
        };
        let (row, secret) = checked(request, 0).unwrap();
        assert!(secret.is_some());
        assert_eq!(row.redirect_uris, "[]");
        assert_eq!(row.scope, "issue:credentials");
    }
}
