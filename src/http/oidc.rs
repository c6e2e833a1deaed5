//! OpenID Connect provider endpoints. So far: the JWKS (`GET /jwks`, RFC 7517 §5) with
//! the public keys that sign ID tokens.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::ApiError;
use crate::service::id_token_keys::IdTokenKeys;

/// The OpenID Connect routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(jwks))
}

/// `GET /jwks`: the keys that sign ID tokens (`RS256`, `ES256`, `EdDSA`), and keys retired
/// recently enough that tokens they signed may still be in use. `kid` is the RFC 7638
/// thumbprint. Relying parties refetch it when a token names an unknown `kid`.
#[utoipa::path(get, path = "/jwks", tag = "oidc",
    responses((status = 200, description = "The JSON Web Key Set (RFC 7517 §5)", body = Object, content_type = "application/json")))]
pub async fn jwks(State(keys): State<Arc<IdTokenKeys>>) -> Result<Response, ApiError> {
    let body = keys.jwks().await?;
    let mut resp = Response::new(axum::body::Body::from(body.as_ref().clone()));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    Ok(resp)
}
