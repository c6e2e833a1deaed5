//! DID documents and resolution: the server's and users' did:web documents (did:web
//! Method §3.2) and `GET /1.0/identifiers/{did}` (Universal Resolver / DID Resolution
//! HTTP binding) for did:key, did:jwk, did:web and did:peer, including DID URL
//! dereferencing of fragments (DID Resolution §Dereferencing).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sichat_core::api::{HostedDids, ResolveQuery};
use sichat_core::did::ResolutionOptions;
use sichat_core::id::{Did, DidUrl, UserName};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{ApiPath, ApiQuery};
use crate::app::AppState;
use crate::error::{ApiError, ProblemKind};
use crate::service::identity::IdentityService;
use crate::service::resolver::ServerResolver;

/// The DID routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(server_did_document))
        .routes(routes!(user_did_document))
        .routes(routes!(resolve))
        .routes(routes!(hosted_dids))
}

const RESOLUTION_TYPE: &str = "application/ld+json;profile=\"https://w3id.org/did-resolution\"";
const DEREFERENCING_TYPE: &str =
    "application/ld+json;profile=\"https://w3id.org/did-url-dereferencing\"";

fn with_type(body: impl Into<Body>, content_type: &'static str) -> Response {
    let mut resp = Response::new(body.into());
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

fn json_with_type(value: &Value, content_type: &'static str) -> Response {
    let mut resp = axum::Json(value).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// `GET /.well-known/did.json` (did:web §3.2): the server's DID document.
#[utoipa::path(get, path = "/.well-known/did.json", tag = "dids",
    responses((status = 200, description = "The server's DID document", body = Object, content_type = "application/json")))]
pub async fn server_did_document(
    State(identity): State<Arc<IdentityService>>,
) -> Result<Response, ApiError> {
    let doc = identity.server_document().await?;
    Ok(with_type(doc.json.clone(), "application/json"))
}

/// `GET /dids`: the did:web identifiers this server hosts (its own and each user's), so
/// that a verifier can pin all their documents at once (a client's trust bundle). The
/// did:key of a signing key needs no document and is not listed. 404 when the operator
/// turned the list off (`publish_did_list = false`).
#[utoipa::path(get, path = "/dids", tag = "dids",
    responses((status = 200, body = HostedDids),
              (status = 404, description = "The list is not published here", body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn hosted_dids(
    State(identity): State<Arc<IdentityService>>,
) -> Result<axum::Json<HostedDids>, ApiError> {
    let dids = identity.hosted_dids().await?.ok_or_else(|| {
        ApiError::new(
            ProblemKind::NOT_FOUND,
            "this server does not publish the list of its DIDs",
        )
    })?;
    Ok(axum::Json(HostedDids { dids }))
}

/// `GET /users/{name}/did.json` (did:web §3.2): a user's DID document.
#[utoipa::path(get, path = "/users/{name}/did.json", tag = "dids",
    params(("name" = String, Path, description = "User name")),
    responses((status = 200, description = "The user's DID document", body = Object, content_type = "application/json"),
              (status = 404, description = "No such user", body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn user_did_document(
    State(identity): State<Arc<IdentityService>>,
    ApiPath(name): ApiPath<String>,
) -> Result<Response, ApiError> {
    let not_found = || {
        ApiError::new(
            ProblemKind::DID_NOT_FOUND,
            format!(
                "no user `{}` on this server",
                name.chars().take(64).collect::<String>()
            ),
        )
    };
    let name = UserName::parse(&name).map_err(|_| not_found())?;
    let doc = identity.user_document(&name).await?.ok_or_else(not_found)?;
    Ok(with_type(doc.json.clone(), "application/json"))
}

/// What the path names: a DID, or a DID URL with a fragment.
enum Target {
    Did(Did),
    Url(DidUrl),
}

/// Reads the DID or DID URL from the raw (still percent-encoded) path. A DID sent as is
/// keeps its own `%3A` (did:web ports); only the DID URL delimiters a client cannot send
/// literally in one path segment (`%23` `#`, `%2F` `/`, `%3F` `?`) are decoded. A fully
/// percent-encoded one (`did%3Aweb%3A…`, as `encodeURIComponent` makes them) is decoded
/// once.
fn target_from_raw(raw: &str) -> Result<Target, ApiError> {
    let text = if raw.to_ascii_lowercase().starts_with("did%3a") {
        sichat_core::did::web::percent_decode(raw)?
    } else {
        let mut text = raw.to_owned();
        for (encoded, plain) in [("%23", "#"), ("%2F", "/"), ("%3F", "?")] {
            text = text
                .replace(encoded, plain)
                .replace(&encoded.to_lowercase(), plain);
        }
        text
    };
    if text.contains(['#', '/', '?']) {
        DidUrl::parse(&text)
            .map(Target::Url)
            .map_err(|e| ApiError::dereferencing(e.into()))
    } else {
        Did::parse(&text)
            .map(Target::Did)
            .map_err(|e| ApiError::from(sichat_core::did::ResolveError::from(e)))
    }
}

/// The bare media type asked for, if `Accept` names one (else the resolution result).
fn bare_type(headers: &HeaderMap) -> Option<&'static str> {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if accept.contains("application/did+ld+json") {
        Some("application/did+ld+json")
    } else if accept.contains("application/did+json") {
        Some("application/did+json")
    } else {
        None
    }
}

/// `GET /1.0/identifiers/{did}` (DID Resolution §HTTP(S) binding, Universal Resolver):
/// the resolution result, or only the document when `Accept` asks for
/// `application/did+ld+json` / `application/did+json`. A DID URL with a fragment
/// (`%23`) is dereferenced to the verification method or service it names.
#[utoipa::path(get, path = "/1.0/identifiers/{did}", tag = "dids",
    params(("did" = String, Path, description = "The DID to resolve or the DID URL (with `%23` fragment) to dereference, as is or percent-encoded"), ResolveQuery),
    responses(
        (status = 200, description = "Resolution result (didDocument, didResolutionMetadata, didDocumentMetadata), or dereferencing result (content, dereferencingMetadata, contentMetadata)", body = Object,
            content_type = "application/ld+json;profile=\"https://w3id.org/did-resolution\""),
        (status = 400, description = "Malformed DID or DID URL, unsupported method, invalid key, refused host", body = crate::http::ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "DID not found (or its host does not exist), or no such fragment", body = crate::http::ProblemBody, content_type = "application/problem+json"),
        (status = 502, description = "The did:web host failed or served an invalid document", body = crate::http::ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "Too many did:web resolutions under way; see Retry-After", body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn resolve(
    State(resolver): State<Arc<ServerResolver>>,
    OriginalUri(uri): OriginalUri,
    ApiQuery(query): ApiQuery<ResolveQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    // The raw path: axum's path extractors decode `%3A`, which belongs to a did:web's
    // method-specific id.
    let raw = uri
        .path()
        .strip_prefix("/1.0/identifiers/")
        .unwrap_or_default();
    let options = ResolutionOptions {
        public_key_format: query.public_key_format,
    };
    match target_from_raw(raw)? {
        Target::Did(did) => {
            let resolution = resolver.resolve_with(&did, &options).await?;
            Ok(match bare_type(&headers) {
                Some(ct) => json_with_type(resolution.document.as_json(), ct),
                None => json_with_type(&resolution.to_universal_resolver_json(), RESOLUTION_TYPE),
            })
        }
        Target::Url(url) => {
            let (resolution, mut content) = resolver
                .dereference(&url, &options)
                .await
                .map_err(ApiError::dereferencing)?;
            // The JSON-LD context the fragment was read under travels with it.
            if let (Some(obj), Some(ctx)) = (
                content.as_object_mut(),
                resolution.document.as_json().get("@context"),
            ) {
                obj.insert("@context".into(), ctx.clone());
            }
            Ok(match bare_type(&headers) {
                Some(ct) => json_with_type(&content, ct),
                None => json_with_type(
                    &json!({
                        "@context": "https://w3id.org/did-resolution/v1",
                        "content": content,
                        "dereferencingMetadata": {"contentType": "application/did+ld+json"},
                        "contentMetadata": resolution.document_metadata,
                    }),
                    DEREFERENCING_TYPE,
                ),
            })
        }
    }
}
