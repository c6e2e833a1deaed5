//! Talking to a Sichat server over HTTP, with the request and response types and paths of
//! `sichat_core::api`, the ones the server's handlers use.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sichat_core::Secret;
use sichat_core::api::{
    CreateUser, DidEntry, GenerateKey, ImportKey, KeyInfo, Problem, UserView, paths,
};
use sichat_core::id::{KeyId, UserName};

/// Why a server call failed.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    /// The server answered a problem (RFC 9457).
    #[error("{} {}: {}", .0.status, .0.title, .0.detail)]
    Problem(Box<Problem>),
    /// The server answered something that is neither the expected body nor a problem.
    #[error("unexpected answer ({status}): {detail}")]
    Unexpected { status: u16, detail: String },
}

/// A client of one Sichat server; admin calls need [`ServerClient::with_admin_token`].
#[derive(Clone)]
pub struct ServerClient {
    base: url::Url,
    http: reqwest::Client,
    admin_token: Option<std::sync::Arc<Secret<String>>>,
}

impl std::fmt::Debug for ServerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerClient")
            .field("base", &self.base.as_str())
            .field("admin_token", &self.admin_token.as_ref().map(|_| "<set>"))
            .finish()
    }
}

/// Percent-encodes a path segment (a DID in `/1.0/identifiers/{did}`).
fn segment(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
}

impl ServerClient {
    pub fn new(base: url::Url) -> Result<Self, ServerError> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(15))
            .build()?;
        Ok(Self {
            base,
            http,
            admin_token: None,
        })
    }

    /// Uses `token` for the admin API.
    pub fn with_admin_token(mut self, token: Secret<String>) -> Self {
        self.admin_token = Some(std::sync::Arc::new(token));
        self
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base.as_str().trim_end_matches('/'))
    }

    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, ServerError> {
        let request = match &self.admin_token {
            Some(token) => request.bearer_auth(token.expose()),
            None => request,
        };
        let resp = request.send().await?;
        let status = resp.status();
        let bytes = resp.bytes().await?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| ServerError::Unexpected {
                status: status.as_u16(),
                detail: e.to_string(),
            });
        }
        match serde_json::from_slice::<Problem>(&bytes) {
            Ok(problem) => Err(ServerError::Problem(Box::new(problem))),
            Err(_) => Err(ServerError::Unexpected {
                status: status.as_u16(),
                detail: String::from_utf8_lossy(&bytes).chars().take(200).collect(),
            }),
        }
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ServerError> {
        self.send(self.http.get(self.url(path))).await
    }

    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, ServerError> {
        self.send(self.http.post(self.url(path)).json(body)).await
    }

    /// The server's own DID document.
    pub async fn server_did_document(&self) -> Result<Value, ServerError> {
        self.get(paths::SERVER_DID_DOCUMENT).await
    }

    /// Resolution through the server's resolver (Universal Resolver shape); a DID URL with
    /// a fragment is dereferenced.
    pub async fn resolve(&self, did: &str) -> Result<Value, ServerError> {
        self.get(&paths::with_param(paths::RESOLVE, &segment(did)))
            .await
    }

    pub async fn create_user(&self, body: &CreateUser) -> Result<UserView, ServerError> {
        self.post(paths::ADMIN_USERS, body).await
    }

    pub async fn list_users(&self) -> Result<Vec<UserView>, ServerError> {
        self.get(paths::ADMIN_USERS).await
    }

    pub async fn user(&self, name: &UserName) -> Result<UserView, ServerError> {
        self.get(&paths::with_param(paths::ADMIN_USER, name.as_str()))
            .await
    }

    /// The keys of `owner` (`server` or `user:<name>`).
    pub async fn list_keys(&self, owner: &str) -> Result<Vec<KeyInfo>, ServerError> {
        self.send(
            self.http
                .get(self.url(paths::ADMIN_KEYS))
                .query(&[("owner", owner)]),
        )
        .await
    }

    pub async fn generate_key(&self, body: &GenerateKey) -> Result<KeyInfo, ServerError> {
        self.post(paths::ADMIN_KEYS, body).await
    }

    pub async fn import_key(&self, body: &ImportKey) -> Result<KeyInfo, ServerError> {
        self.post(paths::ADMIN_KEYS_IMPORT, body).await
    }

    pub async fn key(&self, id: &KeyId) -> Result<KeyInfo, ServerError> {
        self.get(&paths::with_param(paths::ADMIN_KEY, id.as_str()))
            .await
    }

    pub async fn rotate_key(&self, id: &KeyId) -> Result<KeyInfo, ServerError> {
        self.post(
            &paths::with_param(paths::ADMIN_KEY_ROTATE, id.as_str()),
            &serde_json::json!({}),
        )
        .await
    }

    pub async fn list_dids(&self) -> Result<Vec<DidEntry>, ServerError> {
        self.get(paths::ADMIN_DIDS).await
    }
}
