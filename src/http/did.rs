//! DID documents and resolution: the server's and users' did:web documents (did:web
//! Method §3.2) and `GET /1.0/identifiers/{did}` (Universal Resolver / DID Resolution
//! HTTP binding) for did:key, did:jwk, did:web and did:peer.

use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use serde::Deserialize;
use sichat_core::did::ResolutionOptions;

use super::extract::{ApiPath, ApiQuery};
use crate::app::AppState;
use crate::error::{ApiError, ProblemKind};

fn json_with_type(value: &Value, content_type: &'static str) -> Response {
    let mut resp = axum::Json(value).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// `GET /.well-known/did.json` (did:web §3.2): the server's DID document.
#[utoipa::path(get, path = "/.well-known/did.json", tag = "dids",
    responses((status = 200, description = "The server's DID document", body = Object, content_type = "application/json")))]
pub async fn server_did_document(State(s): State<AppState>) -> Result<Response, ApiError> {
    let resolution = s.identity.server_document().await?;
    Ok(json_with_type(
        resolution.document.as_json(),
        "application/json",
    ))
}

/// `GET /users/{name}/did.json` (did:web §3.2): a user's DID document.
#[utoipa::path(get, path = "/users/{name}/did.json", tag = "dids",
    params(("name" = String, Path, description = "User name")),
    responses((status = 200, description = "The user's DID document", body = Object, content_type = "application/json"),
              (status = 404, description = "No such user", body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn user_did_document(
    State(s): State<AppState>,
    ApiPath(name): ApiPath,
) -> Result<Response, ApiError> {
    let resolution = s.identity.user_document(&name).await?.ok_or_else(|| {
        ApiError::new(
            ProblemKind::DID_NOT_FOUND,
            format!("no user `{name}` on this server"),
        )
    })?;
    Ok(json_with_type(
        resolution.document.as_json(),
        "application/json",
    ))
}

/// Percent-decodes once, for DIDs sent fully encoded (`did%3Aweb%3A…`, as
/// `encodeURIComponent` makes them). A DID sent as is keeps its own `%3A` (did:web ports).
fn did_from_raw(raw: &str) -> Result<String, ApiError> {
    if !raw.to_ascii_lowercase().starts_with("did%3a") {
        return Ok(raw.to_owned());
    }
    Ok(sichat_core::did::web::percent_decode(raw)?)
}

/// DID Resolution options accepted as query parameters; others are ignored.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResolveQuery {
    /// did:key verification method format: `Multikey` (default), `JsonWebKey2020`,
    /// `Ed25519VerificationKey2018`.
    #[serde(rename = "publicKeyFormat")]
    #[param(rename = "publicKeyFormat")]
    pub public_key_format: Option<String>,
}

/// `GET /1.0/identifiers/{did}` (DID Resolution §HTTP(S) binding, Universal Resolver):
/// the resolution result, or only the document when `Accept` asks for
/// `application/did+ld+json` / `application/did+json`.
#[utoipa::path(get, path = "/1.0/identifiers/{did}", tag = "dids",
    params(("did" = String, Path, description = "The DID to resolve, as is or percent-encoded"), ResolveQuery),
    responses(
        (status = 200, description = "Resolution result (didDocument, didResolutionMetadata, didDocumentMetadata)", body = Object,
            content_type = "application/ld+json;profile=\"https://w3id.org/did-resolution\""),
        (status = 400, description = "Malformed DID, unsupported method, invalid key, refused host", body = crate::http::ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "DID not found", body = crate::http::ProblemBody, content_type = "application/problem+json"),
        (status = 502, description = "The did:web host failed or served an invalid document", body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn resolve(
    State(s): State<AppState>,
    OriginalUri(uri): OriginalUri,
    ApiQuery(query): ApiQuery<ResolveQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    // The raw (still percent-encoded) path: axum's path extractors decode `%3A`, which
    // belongs to a did:web's method-specific id.
    let raw_did = uri
        .path()
        .strip_prefix("/1.0/identifiers/")
        .unwrap_or_default();
    let did = did_from_raw(raw_did)?;
    let options = ResolutionOptions {
        public_key_format: query.public_key_format,
    };
    let resolution = s.resolver.resolve_with(&did, &options).await?;
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if accept.contains("application/did+ld+json") || accept.contains("application/did+json") {
        let ct = if accept.contains("application/did+ld+json") {
            "application/did+ld+json"
        } else {
            "application/did+json"
        };
        return Ok(json_with_type(resolution.document.as_json(), ct));
    }
    Ok(json_with_type(
        &resolution.to_universal_resolver_json(),
        "application/ld+json;profile=\"https://w3id.org/did-resolution\"",
    ))
}
