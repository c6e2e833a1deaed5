//! Extractors whose rejections are problem details: JSON bodies, path and query
//! parameters, and the admin bearer token.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;

use crate::app::AppState;
use crate::error::{ApiError, ProblemKind};
use crate::service::admin_token;

/// `axum::Json` answering malformed bodies with problem+json.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// A path parameter: percent-decoded, at most 256 characters, no control characters
/// (a NUL must not reach the database), else a problem+json 400.
pub struct ApiPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ApiPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(value) =
            axum::extract::Path::<String>::from_request_parts(parts, state).await?;
        if value.chars().count() > 256 || value.chars().any(char::is_control) {
            return Err(ApiError::bad_request(
                "path parameter too long or with control characters",
            ));
        }
        Ok(ApiPath(value))
    }
}

/// `axum::extract::Query` answering bad parameters with problem+json.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::JsonDataError(e) => ApiError::validation(e.body_text()),
            JsonRejection::JsonSyntaxError(e) => ApiError::bad_request(e.body_text()),
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                ProblemKind::UNSUPPORTED_MEDIA_TYPE,
                "expected `Content-Type: application/json`",
            ),
            JsonRejection::BytesRejection(e)
                if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE =>
            {
                ApiError::new(ProblemKind::PAYLOAD_TOO_LARGE, e.body_text())
            }
            other => ApiError::bad_request(other.body_text()),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::bad_request(r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::bad_request(r.body_text())
    }
}

/// Proof that the request carried the admin token (`Authorization: Bearer …`).
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token)
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::new(
                    ProblemKind::UNAUTHORIZED,
                    "missing `Authorization: Bearer <admin token>`",
                )
            })?;
        if admin_token::verify(&state.db, presented).await? {
            Ok(Admin)
        } else {
            Err(ApiError::new(
                ProblemKind::UNAUTHORIZED,
                "the admin token is not valid",
            ))
        }
    }
}
