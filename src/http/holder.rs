//! The holder API (a user's API token; the admin token acts for no user, 403): the
//! user's credentials (`GET`/`POST /credentials`, `GET`/`DELETE /credentials/{id}`) and
//! presentations of them (`POST /presentations`). A user never sees another's.

use std::sync::Arc;

use axum::Json;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sichat_core::api::{
    HeldCredentialView, HeldCredentials, PresentRequest, PresentResponse, StoreCredentialRequest,
    VerificationResult,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{ApiJson, ApiPath, UserAuth};
use crate::app::AppState;
use crate::error::ApiError;
use crate::service::holder::HolderService;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_credentials, store_credential))
        .routes(routes!(get_credential, delete_credential))
        .routes(routes!(present))
        .layer(DefaultBodyLimit::max(super::credentials::BODY_LIMIT))
}

/// `GET /credentials`: the user's credentials, oldest first.
#[utoipa::path(get, path = "/credentials", tag = "holder", security(("user_token" = []), ("access_token" = [])),
    responses((status = 200, body = HeldCredentials),
              (status = 401, body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 403, description = "The admin token (it acts for no user)", body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn list_credentials(
    State(holder): State<Arc<HolderService>>,
    UserAuth(user): UserAuth,
) -> Result<Json<HeldCredentials>, ApiError> {
    Ok(Json(HeldCredentials {
        credentials: holder.list(&user).await?,
    }))
}

/// `POST /credentials`: keeps a credential after verifying it (every check, status
/// included); one that does not verify is answered 400 with the verification result.
#[utoipa::path(post, path = "/credentials", tag = "holder", security(("user_token" = []), ("access_token" = [])),
    request_body = StoreCredentialRequest,
    responses((status = 201, body = HeldCredentialView),
              (status = 400, description = "It does not verify (the verification result), or is malformed (problem+json)", body = VerificationResult),
              (status = 401, body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 403, body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 409, description = "Already kept, or the user keeps the maximum (10,000)", body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 422, description = "Not a credential (`field` names the member)", body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn store_credential(
    State(holder): State<Arc<HolderService>>,
    UserAuth(user): UserAuth,
    ApiJson(body): ApiJson<StoreCredentialRequest>,
) -> Result<Response, ApiError> {
    Ok(
        match holder.keep(&user, body.verifiable_credential).await? {
            Ok(kept) => (StatusCode::CREATED, Json(kept)).into_response(),
            Err(result) => (StatusCode::BAD_REQUEST, Json(result)).into_response(),
        },
    )
}

/// `GET /credentials/{id}`: one of the user's credentials, as received (the id
/// percent-encoded: `urn%3Auuid%3A…`).
#[utoipa::path(get, path = "/credentials/{id}", tag = "holder", security(("user_token" = []), ("access_token" = [])),
    params(("id" = String, Path)),
    responses((status = 200, description = "The credential", body = Object),
              (status = 401, body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 403, body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 404, body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn get_credential(
    State(holder): State<Arc<HolderService>>,
    UserAuth(user): UserAuth,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(holder.get(&user, &id).await?))
}

/// `DELETE /credentials/{id}`: forgets one of the user's credentials.
#[utoipa::path(delete, path = "/credentials/{id}", tag = "holder", security(("user_token" = []), ("access_token" = [])),
    params(("id" = String, Path)),
    responses((status = 204, description = "Deleted"),
              (status = 401, body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 403, body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 404, body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn delete_credential(
    State(holder): State<Arc<HolderService>>,
    UserAuth(user): UserAuth,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    holder.forget(&user, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /presentations`: a presentation of the user's credentials, signed as the user's
/// did:web (Data Integrity, purpose `authentication`, or `vp+jwt`), bound to the
/// verifier's `challenge` and `domain`.
#[utoipa::path(post, path = "/presentations", tag = "holder", security(("user_token" = []), ("access_token" = [])),
    request_body = PresentRequest,
    responses((status = 201, body = PresentResponse),
              (status = 401, body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 403, body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 404, description = "The user keeps no credential with one of the ids", body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 422, description = "No or too many credentials, or unsupported options (`field`)", body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 503, body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn present(
    State(holder): State<Arc<HolderService>>,
    UserAuth(user): UserAuth,
    ApiJson(body): ApiJson<PresentRequest>,
) -> Result<(StatusCode, Json<PresentResponse>), ApiError> {
    let verifiable_presentation = holder
        .present(&user, &body.credentials, &body.options, &body.disclose)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(PresentResponse {
            verifiable_presentation,
        }),
    ))
}
