//! Talking to a Sichat server over HTTP, with the paths shared through `sichat_core::api`.

use serde_json::Value;
use sichat_core::api::paths;

/// Why a server call failed.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    /// The server answered a problem (RFC 9457): its title and detail.
    #[error("{status} {title}: {detail}")]
    Problem {
        status: u16,
        title: String,
        detail: String,
    },
}

/// A client of one Sichat server.
#[derive(Clone)]
pub struct ServerClient {
    base: url::Url,
    http: reqwest::Client,
}

impl ServerClient {
    pub fn new(base: url::Url) -> Result<Self, ServerError> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(15))
            .build()?;
        Ok(Self { base, http })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base.as_str().trim_end_matches('/'))
    }

    async fn get_json(&self, path: &str) -> Result<Value, ServerError> {
        let resp = self.http.get(self.url(path)).send().await?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(body);
        }
        Err(ServerError::Problem {
            status: status.as_u16(),
            title: body["title"].as_str().unwrap_or("error").to_owned(),
            detail: body["detail"].as_str().unwrap_or_default().to_owned(),
        })
    }

    /// The server's own DID document.
    pub async fn server_did_document(&self) -> Result<Value, ServerError> {
        self.get_json(paths::SERVER_DID_DOCUMENT).await
    }

    /// Resolution through the server's resolver (Universal Resolver shape).
    pub async fn resolve(&self, did: &str) -> Result<Value, ServerError> {
        let encoded: String = did
            .chars()
            .map(|c| {
                if c == '%' {
                    "%25".to_owned()
                } else {
                    c.to_string()
                }
            })
            .collect();
        self.get_json(&paths::RESOLVE.replace("{did}", &encoded.replace(':', "%3A")))
            .await
    }
}
