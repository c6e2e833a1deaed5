//! Talking to a Sichat server over HTTP, with the request and response types and paths of
//! `sichat_core::api`, the ones the server's handlers use.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sichat_core::Secret;
use sichat_core::api::{
    CreateUser, CreateUserToken, CreatedUserToken, DidEntry, GenerateKey, HostedDids, ImportKey,
    IssueRequest, IssueResponse, KeyInfo, PresentRequest, PresentResponse, Problem,
    StatusListsResponse, StoreCredentialRequest, UpdateStatusRequest, UpdateStatusResponse,
    UserView, VerificationResult, VerifyCredentialRequest, VerifyPresentationRequest, paths,
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

/// A client of one Sichat server; admin calls need [`ServerClient::with_admin_token`]
/// (issuing as a user's DIDs takes that user's API token, set the same way).
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

    /// Sends with the token, if any: the status and the body.
    async fn exchange(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(reqwest::StatusCode, Vec<u8>), ServerError> {
        let request = match &self.admin_token {
            Some(token) => request.bearer_auth(token.expose()),
            None => request,
        };
        let resp = request.send().await?;
        let status = resp.status();
        Ok((status, resp.bytes().await?.to_vec()))
    }

    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, ServerError> {
        let (status, bytes) = self.exchange(request).await?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| ServerError::Unexpected {
                status: status.as_u16(),
                detail: e.to_string(),
            });
        }
        Err(error(status, &bytes))
    }
}

/// The error of a non-success answer: its problem, or what it was.
fn error(status: reqwest::StatusCode, bytes: &[u8]) -> ServerError {
    {
        match serde_json::from_slice::<Problem>(bytes) {
            Ok(problem) => ServerError::Problem(Box::new(problem)),
            Err(_) => ServerError::Unexpected {
                status: status.as_u16(),
                detail: String::from_utf8_lossy(bytes).chars().take(200).collect(),
            },
        }
    }
}

impl ServerClient {
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

    /// `POST /credentials/issue` (the admin token, or a user's API token).
    pub async fn issue_credential(
        &self,
        body: &IssueRequest,
    ) -> Result<IssueResponse, ServerError> {
        self.post(paths::CREDENTIALS_ISSUE, body).await
    }

    /// `POST /credentials/status`: revoke, suspend or reinstate.
    pub async fn update_status(
        &self,
        body: &UpdateStatusRequest,
    ) -> Result<UpdateStatusResponse, ServerError> {
        self.post(paths::CREDENTIALS_STATUS, body).await
    }

    /// `POST /admin/users/{name}/tokens`: a new API token for the user (shown this once).
    pub async fn create_user_token(
        &self,
        name: &UserName,
        body: &CreateUserToken,
    ) -> Result<CreatedUserToken, ServerError> {
        self.post(
            &paths::with_param(paths::ADMIN_USER_TOKENS, name.as_str()),
            body,
        )
        .await
    }

    /// `POST /credentials` (a user's token): keeps a credential in the user's store; the
    /// server verifies it first.
    pub async fn keep_credential(&self, credential: &Value) -> Result<Value, ServerError> {
        self.post(
            paths::CREDENTIALS,
            &StoreCredentialRequest {
                verifiable_credential: credential.clone(),
            },
        )
        .await
    }

    /// `POST /presentations` (a user's token): a presentation of kept credentials, signed
    /// as the user.
    pub async fn present(&self, body: &PresentRequest) -> Result<PresentResponse, ServerError> {
        self.post(paths::PRESENTATIONS, body).await
    }

    /// `GET /dids`: the did:web identifiers the server hosts.
    pub async fn hosted_dids(&self) -> Result<HostedDids, ServerError> {
        self.get(paths::HOSTED_DIDS).await
    }

    /// `GET /status`: every status list the server publishes.
    pub async fn status_lists(&self) -> Result<StatusListsResponse, ServerError> {
        self.get(paths::STATUS_LISTS).await
    }

    /// `POST /credentials/verify`: the verdict, verified or not (a credential that fails a
    /// check is an `Ok` result with `verified: false`; only malformed input is an error).
    pub async fn verify_credential(
        &self,
        body: &VerifyCredentialRequest,
    ) -> Result<VerificationResult, ServerError> {
        self.verdict(
            self.http
                .post(self.url(paths::CREDENTIALS_VERIFY))
                .json(body),
        )
        .await
    }

    /// `POST /presentations/verify`, like [`Self::verify_credential`].
    pub async fn verify_presentation(
        &self,
        body: &VerifyPresentationRequest,
    ) -> Result<VerificationResult, ServerError> {
        self.verdict(
            self.http
                .post(self.url(paths::PRESENTATIONS_VERIFY))
                .json(body),
        )
        .await
    }

    /// A verification answer: 200 verified, 400 with a result not verified; any other
    /// answer (a problem) is an error.
    async fn verdict(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<VerificationResult, ServerError> {
        let (status, bytes) = self.exchange(request).await?;
        if (status.is_success() || status == reqwest::StatusCode::BAD_REQUEST)
            && let Ok(result) = serde_json::from_slice::<VerificationResult>(&bytes)
        {
            return Ok(result);
        }
        Err(error(status, &bytes))
    }
}
