//! Errors of our own REST API as RFC 9457 problem details.
//!
//! A handler returns [`ApiError`]; its response carries a [`Problem`] extension and the
//! [`render_problems`] middleware writes the `application/problem+json` body with the
//! `type` URI under `<public-url>/problems/` (each documented there, see
//! `http::problems`). The same middleware turns bare error responses from the framework
//! (404, 405, 408, 413, 415, panics) into problem details too.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use sichat_core::did::ResolveError;
use sichat_core::id::InvalidId;
use sichat_core::keys::KeyError;
use sichat_core::keys::KeyServiceError;
use sichat_core::store::StoreError;

use crate::service::passwords::PasswordError;
use crate::service::users::UserError;

/// One kind of problem: its slug (the last segment of its `type` URI), status and title.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProblemKind {
    pub slug: &'static str,
    pub status: StatusCode,
    pub title: &'static str,
    pub description: &'static str,
}

macro_rules! kinds {
    ($($name:ident = ($slug:literal, $status:ident, $title:literal, $desc:literal);)*) => {
        impl ProblemKind {
            $(pub const $name: ProblemKind = ProblemKind { slug: $slug, status: StatusCode::$status, title: $title, description: $desc };)*
            /// Every problem type the server emits.
            pub const ALL: &'static [ProblemKind] = &[$(ProblemKind::$name),*];
        }
    };
}

kinds! {
    BAD_REQUEST = ("bad-request", BAD_REQUEST, "Bad request", "The request is malformed: invalid JSON, an invalid path or query parameter.");
    VALIDATION = ("validation-failed", UNPROCESSABLE_ENTITY, "Validation failed", "The request body is well-formed JSON but a field is missing or invalid; `detail` names the field.");
    INVALID_DID = ("invalid-did", BAD_REQUEST, "Invalid DID", "The DID does not follow DID Core §3.1 syntax or its method's rules.");
    INVALID_DID_URL = ("invalid-did-url", BAD_REQUEST, "Invalid DID URL", "The DID URL is malformed, or has a path or query: this server dereferences fragments (`%23`) only.");
    METHOD_NOT_SUPPORTED = ("method-not-supported", BAD_REQUEST, "DID method not supported", "This server resolves did:key, did:jwk, did:web and did:peer (numalgo 0 and 2).");
    INVALID_PUBLIC_KEY = ("invalid-public-key", BAD_REQUEST, "Invalid public key", "The key encoded in the DID or JWK is malformed, of an unsupported type, or not on its curve.");
    UNSUPPORTED_PUBLIC_KEY_FORMAT = ("unsupported-public-key-format", BAD_REQUEST, "Unsupported public key format", "The publicKeyFormat resolution option is not one of Multikey, JsonWebKey2020 or Ed25519VerificationKey2018.");
    DID_NOT_FOUND = ("did-not-found", NOT_FOUND, "DID not found", "No DID document exists for this DID, its did:web host does not exist, or the document has no such fragment.");
    DID_WEB_REFUSED = ("did-web-refused", BAD_REQUEST, "did:web host refused", "The did:web host is a private, loopback or reserved address; the resolver does not fetch from those.");
    INVALID_DID_DOCUMENT = ("invalid-did-document", BAD_GATEWAY, "Invalid DID document", "The DID's host served a document that is not valid JSON, is over 64 KiB, or whose id is not the DID.");
    RESOLUTION_FAILED = ("resolution-failed", BAD_GATEWAY, "Resolution failed", "The DID's host could not be reached, timed out, redirected or answered an error.");
    INVALID_CREDENTIAL = ("invalid-credential", UNPROCESSABLE_ENTITY, "Invalid credential", "The credential to issue does not have the shape its data model requires; `field` names the member.");
    INVALID_JSON_LD = ("invalid-json-ld", UNPROCESSABLE_ENTITY, "Invalid JSON-LD", "The credential uses a term no context defines (`term`), a context that is not among the server's vetted contexts, or a graph too costly to canonicalize.");
    MALFORMED_CREDENTIAL = ("malformed-credential", BAD_REQUEST, "Malformed credential", "The credential or presentation to verify is not one at all; `field` names the member at fault. (One that is well-formed but fails a check is answered `verified: false`.)");
    NOT_FOUND = ("not-found", NOT_FOUND, "Not found", "No resource at this path.");
    METHOD_NOT_ALLOWED = ("method-not-allowed", METHOD_NOT_ALLOWED, "Method not allowed", "This path does not accept this HTTP method; see the Allow header.");
    UNAUTHORIZED = ("unauthorized", UNAUTHORIZED, "Unauthorized", "This endpoint needs `Authorization: Bearer <token>`: the admin token, or (where the endpoint says so) a user's API token.");
    FORBIDDEN = ("forbidden", FORBIDDEN, "Forbidden", "The token is valid but may not do this (a user's token acting for another user or as the server's DID).");
    CONFLICT = ("conflict", CONFLICT, "Conflict", "The resource already exists or is not in a state that allows this operation.");
    PAYLOAD_TOO_LARGE = ("payload-too-large", PAYLOAD_TOO_LARGE, "Payload too large", "The request body is larger than this endpoint accepts.");
    UNSUPPORTED_MEDIA_TYPE = ("unsupported-media-type", UNSUPPORTED_MEDIA_TYPE, "Unsupported media type", "Send `Content-Type: application/json`.");
    REQUEST_TIMEOUT = ("request-timeout", REQUEST_TIMEOUT, "Request timeout", "The request took longer than the server's request timeout.");
    NOT_READY = ("not-ready", SERVICE_UNAVAILABLE, "Not ready", "The server cannot reach its database, or its public URL was changed and it must be restarted.");
    SERVER_BUSY = ("server-busy", SERVICE_UNAVAILABLE, "Server busy", "Too many operations of this kind (password hashing, DID resolutions over the network) are under way; retry after the number of seconds in the Retry-After header.");
    DIDCOMM_UNREADABLE = ("didcomm-unreadable", BAD_REQUEST, "Unreadable DIDComm message", "The DIDComm message could not be opened: not encrypted or signed for this server's DID, malformed, expired, or its sender binding (`from` against the sender's key, `to` against the recipient) does not hold; `code` is the problem-report code.");
    STORAGE_UNAVAILABLE = ("storage-unavailable", SERVICE_UNAVAILABLE, "Storage unavailable", "The message could not be stored durably; nothing was accepted. Retry later.");
    INTERNAL = ("internal", INTERNAL_SERVER_ERROR, "Internal error", "An unexpected error; the server log has the details under this request's id.");
}

impl ProblemKind {
    /// The kind the server uses for a bare error status.
    pub fn for_status(status: StatusCode) -> ProblemKind {
        match status {
            StatusCode::NOT_FOUND => Self::NOT_FOUND,
            StatusCode::METHOD_NOT_ALLOWED => Self::METHOD_NOT_ALLOWED,
            StatusCode::REQUEST_TIMEOUT => Self::REQUEST_TIMEOUT,
            StatusCode::PAYLOAD_TOO_LARGE => Self::PAYLOAD_TOO_LARGE,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::UNSUPPORTED_MEDIA_TYPE,
            StatusCode::UNAUTHORIZED => Self::UNAUTHORIZED,
            StatusCode::FORBIDDEN => Self::FORBIDDEN,
            StatusCode::CONFLICT => Self::CONFLICT,
            StatusCode::UNPROCESSABLE_ENTITY => Self::VALIDATION,
            StatusCode::SERVICE_UNAVAILABLE => Self::SERVER_BUSY,
            s if s.is_server_error() => Self::INTERNAL,
            _ => Self::BAD_REQUEST,
        }
    }
}

/// The problem a response carries until [`render_problems`] writes it out.
#[derive(Debug, Clone)]
pub struct Problem {
    pub kind: ProblemKind,
    pub detail: String,
    pub extensions: Map<String, Value>,
}

/// An error answered as problem+json.
#[derive(Debug, Clone)]
pub struct ApiError(pub Box<Problem>);

impl ApiError {
    pub fn new(kind: ProblemKind, detail: impl Into<String>) -> Self {
        Self(Box::new(Problem {
            kind,
            detail: detail.into(),
            extensions: Map::new(),
        }))
    }

    /// Adds an RFC 9457 extension member.
    pub fn with(mut self, name: &str, value: Value) -> Self {
        self.0.extensions.insert(name.to_owned(), value);
        self
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::BAD_REQUEST, detail)
    }
    pub fn validation(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::VALIDATION, detail)
    }
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::NOT_FOUND, detail)
    }
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::FORBIDDEN, detail)
    }
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::CONFLICT, detail)
    }
    pub fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "internal error");
        Self::new(ProblemKind::INTERNAL, "an unexpected error occurred")
    }
    /// A 503 with `Retry-After: 1`: a bounded resource is saturated.
    pub fn busy(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::SERVER_BUSY, detail)
    }

    /// A DID URL dereferencing failure: the problem carries the DID Resolution
    /// dereferencing members (`dereferencingMetadata.error`, `content: null`).
    pub fn dereferencing(e: ResolveError) -> Self {
        let mut err = ApiError::from(e.clone());
        err.0.extensions.clear();
        err.with("dereferencingMetadata", json!({"error": e.code()}))
            .with("content", Value::Null)
            .with("contentMetadata", json!({}))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = self.0.kind.status.into_response();
        if self.0.kind == ProblemKind::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if self.0.kind == ProblemKind::SERVER_BUSY {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        resp.extensions_mut().insert(*self.0);
        resp
    }
}

impl From<ResolveError> for ApiError {
    fn from(e: ResolveError) -> Self {
        if let ResolveError::Internal(_) = e {
            // Logged with the request id; the client learns nothing of the store.
            return ApiError::internal(e);
        }
        let kind = match &e {
            ResolveError::InvalidDid(_) => ProblemKind::INVALID_DID,
            ResolveError::InvalidDidUrl(_) => ProblemKind::INVALID_DID_URL,
            ResolveError::Busy(_) => ProblemKind::SERVER_BUSY,
            ResolveError::Internal(_) => ProblemKind::INTERNAL,
            ResolveError::MethodNotSupported(_) => ProblemKind::METHOD_NOT_SUPPORTED,
            ResolveError::NotFound(_) => ProblemKind::DID_NOT_FOUND,
            ResolveError::InvalidPublicKey(_) => ProblemKind::INVALID_PUBLIC_KEY,
            ResolveError::UnsupportedPublicKeyType(_) => ProblemKind::UNSUPPORTED_PUBLIC_KEY_FORMAT,
            ResolveError::InvalidDocument(_) => ProblemKind::INVALID_DID_DOCUMENT,
            ResolveError::Refused(_) => ProblemKind::DID_WEB_REFUSED,
            ResolveError::Fetch(_) => ProblemKind::RESOLUTION_FAILED,
        };
        // DID Resolution: an error result still has the three members.
        ApiError::new(kind, e.to_string())
            .with("didResolutionMetadata", json!({"error": e.code()}))
            .with("didDocument", Value::Null)
            .with("didDocumentMetadata", json!({}))
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Duplicate(what) => {
                ApiError::new(ProblemKind::CONFLICT, format!("already exists: {what}"))
            }
            StoreError::Conflict(what) | StoreError::QuotaExceeded(what) => {
                ApiError::new(ProblemKind::CONFLICT, what)
            }
            StoreError::NotFound(what) => ApiError::not_found(format!("not found: {what}")),
            StoreError::Backend(_) => ApiError::internal(e),
        }
    }
}

impl From<KeyError> for ApiError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Unseal => ApiError::internal(e),
            other => ApiError::validation(other.to_string()),
        }
    }
}

impl From<KeyServiceError> for ApiError {
    fn from(e: KeyServiceError) -> Self {
        match e {
            KeyServiceError::Key(k) => k.into(),
            KeyServiceError::Store(s) => s.into(),
            KeyServiceError::NotFound(id) => ApiError::not_found(format!("key `{id}` not found")),
        }
    }
}

impl From<InvalidId> for ApiError {
    fn from(e: InvalidId) -> Self {
        ApiError::validation(e.to_string())
    }
}

impl From<PasswordError> for ApiError {
    fn from(e: PasswordError) -> Self {
        match e {
            PasswordError::Invalid => ApiError::validation(e.to_string()),
            PasswordError::Busy => ApiError::busy(e.to_string()),
            PasswordError::Hash(_) => ApiError::internal(e),
        }
    }
}

impl From<UserError> for ApiError {
    fn from(e: UserError) -> Self {
        match e {
            UserError::InvalidId(e) => e.into(),
            UserError::Password(e) => e.into(),
            UserError::Exists(_) => ApiError::new(ProblemKind::CONFLICT, e.to_string()),
            UserError::NotFound(_) => ApiError::not_found(e.to_string()),
            UserError::Store(s) => s.into(),
            UserError::Profile(p) => {
                ApiError::validation(p.to_string()).with("field", p.field.into())
            }
        }
    }
}

/// Writes problem bodies: the [`Problem`] a handler attached, or one derived from the
/// status of a bodiless framework error response.
pub async fn render_problems(
    State(base): State<std::sync::Arc<str>>,
    req: Request,
    next: Next,
) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let problem = match parts.extensions.remove::<Problem>() {
        Some(p) => p,
        None => {
            let has_own_body = parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|ct| {
                    // JSON bodies of their own, DIDComm problem reports, and the HTML
                    // error pages of the sign-in flow (an authorization request that
                    // cannot be redirected).
                    ct.starts_with("application/json")
                        || ct.starts_with("application/problem+json")
                        || ct.starts_with("application/didcomm-")
                        || ct.starts_with("text/html")
                });
            if has_own_body {
                return Response::from_parts(parts, body);
            }
            let kind = ProblemKind::for_status(status);
            Problem {
                kind,
                detail: kind.description.to_owned(),
                extensions: Map::new(),
            }
        }
    };
    let mut obj = Map::new();
    obj.insert("type".into(), json!(format!("{base}{}", problem.kind.slug)));
    obj.insert("title".into(), json!(problem.kind.title));
    obj.insert("status".into(), json!(status.as_u16()));
    obj.insert("detail".into(), json!(problem.detail));
    for (k, v) in problem.extensions {
        obj.entry(k).or_insert(v);
    }
    let bytes = serde_json::to_vec(&Value::Object(obj)).unwrap_or_default();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(bytes))
}
