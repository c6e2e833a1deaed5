//! OAuth 2.0 error responses (RFC 6749 §5.2, RFC 6750 §3): the token, registration and
//! userinfo endpoints answer with these, not problem details (the protocol defines its
//! own shape, and relying-party libraries parse it).

/// An OAuth error: its code, a description for the developer, and the HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub error: &'static str,
    pub description: String,
    pub status: u16,
    /// `true` when the client tried HTTP Basic authentication: a 401 then carries
    /// `WWW-Authenticate: Basic` (RFC 6749 §5.2).
    pub basic_challenge: bool,
}

impl OAuthError {
    /// Any error code (those of RFC 7591 §3.2.2 too).
    pub fn new(error: &'static str, status: u16, description: impl Into<String>) -> Self {
        Self {
            error,
            description: description.into(),
            status,
            basic_challenge: false,
        }
    }
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new("invalid_request", 400, description)
    }
    pub fn invalid_client(description: impl Into<String>) -> Self {
        Self::new("invalid_client", 401, description)
    }
    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new("invalid_grant", 400, description)
    }
    pub fn unauthorized_client(description: impl Into<String>) -> Self {
        Self::new("unauthorized_client", 400, description)
    }
    pub fn unsupported_grant_type(description: impl Into<String>) -> Self {
        Self::new("unsupported_grant_type", 400, description)
    }
    pub fn invalid_scope(description: impl Into<String>) -> Self {
        Self::new("invalid_scope", 400, description)
    }
    /// The server failed (storage, say); nothing the client can fix.
    pub fn server_error(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "OAuth endpoint failed");
        Self::new(
            "server_error",
            500,
            "the server could not complete the request",
        )
    }
    pub fn temporarily_unavailable(description: impl Into<String>) -> Self {
        Self::new("temporarily_unavailable", 503, description)
    }

    pub fn with_basic_challenge(mut self) -> Self {
        self.basic_challenge = true;
        self
    }

    /// The JSON body (RFC 6749 §5.2).
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({"error": self.error, "error_description": self.description})
    }
}

impl From<sichat_core::store::StoreError> for OAuthError {
    fn from(e: sichat_core::store::StoreError) -> Self {
        Self::server_error(e)
    }
}

impl From<crate::error::ApiError> for OAuthError {
    fn from(e: crate::error::ApiError) -> Self {
        if e.0.kind.status.as_u16() == 503 {
            Self::temporarily_unavailable(e.0.detail.clone())
        } else {
            Self::server_error(&e.0.detail)
        }
    }
}
