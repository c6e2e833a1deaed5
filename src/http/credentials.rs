//! The VC-API: `POST /credentials/issue` and `POST /credentials/status` (the admin
//! token, or a user's API token for that user's DIDs),
//! `POST /credentials/verify` and `POST /presentations/verify` (open), and the published
//! status lists (`GET /status`, `GET /status/{list}`, open). Verification answers 200
//! with `verified: true`, or 400 with `verified: false` and the failing checks, as the
//! VC-API's tables and the W3C test suites expect; input that is not a credential at all
//! is a problem+json.

use std::sync::Arc;

use axum::Json;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use sichat_core::api::{
    IssueRequest, IssueResponse, PublishedStatusList, StatusEntryState, StatusListsResponse,
    UpdateStatusRequest, UpdateStatusResponse, VerificationResult, VerifyCredentialRequest,
    VerifyPresentationRequest,
};
use sichat_core::vc::status::{LIST_CREDENTIAL_TYPE, StatusPurpose};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{ApiJson, Authenticated, VerifyAccess};
use crate::app::AppState;
use crate::error::ApiError;
use crate::service::credentials::CredentialService;
use crate::service::status_lists::Wanted;

/// Body limit of the credential routes: credentials and presentations of a few dozen KiB.
pub const BODY_LIMIT: usize = 256 * 1024;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(issue))
        .routes(routes!(verify_credential))
        .routes(routes!(verify_presentation))
        .routes(routes!(update_status))
        .routes(routes!(status_lists))
        .routes(routes!(status_list))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

/// `POST /credentials/issue`: secures a credential as a DID this server controls, chosen
/// by its `issuer` (default: the server's did:web for the admin token, the user's for a
/// user's API token, which may issue only as that user's DIDs).
#[utoipa::path(post, path = "/credentials/issue", tag = "credentials", security(("admin_token" = []), ("user_token" = []), ("access_token" = [])),
    request_body = IssueRequest,
    responses((status = 201, body = IssueResponse),
              (status = 400, body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 401, body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 403, description = "A user's token issuing as a DID that is not the user's", body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 409, description = "A credential with this id was already issued", body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 422, description = "Invalid credential (`field`), undefined term (`term`), or an issuer this server does not control", body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 503, description = "Too many credential operations under way; see Retry-After", body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn issue(
    State(credentials): State<Arc<CredentialService>>,
    Authenticated(caller): Authenticated,
    ApiJson(body): ApiJson<IssueRequest>,
) -> Result<(StatusCode, Json<IssueResponse>), ApiError> {
    let verifiable_credential = credentials
        .issue(&caller, body.credential, &body.options)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(IssueResponse {
            verifiable_credential,
        }),
    ))
}

fn answer(result: VerificationResult) -> (StatusCode, Json<VerificationResult>) {
    let status = if result.verified {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    (status, Json(result))
}

/// `POST /credentials/verify`: Data Integrity (`eddsa-rdfc-2022`, `ecdsa-rdfc-2019`) or
/// `vc+jwt` credentials.
#[utoipa::path(post, path = "/credentials/verify", tag = "credentials",
    request_body = VerifyCredentialRequest,
    responses((status = 200, description = "Verified", body = VerificationResult),
              (status = 400, description = "Not verified (`verified: false`, the failing checks in `errors`), or malformed input (problem+json)", body = VerificationResult),
              (status = 401, description = "Only when `credential_verify_requires_token` is set", body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 503, description = "Too many credential operations or DID resolutions under way; see Retry-After", body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn verify_credential(
    State(credentials): State<Arc<CredentialService>>,
    _: VerifyAccess,
    ApiJson(body): ApiJson<VerifyCredentialRequest>,
) -> Result<(StatusCode, Json<VerificationResult>), ApiError> {
    let result = credentials
        .verify_credential(body.verifiable_credential, body.options)
        .await?;
    Ok(answer(result))
}

/// `POST /presentations/verify`: the presentation's proof (purpose `authentication`,
/// `challenge`, `domain`) and every credential in it.
#[utoipa::path(post, path = "/presentations/verify", tag = "credentials",
    request_body = VerifyPresentationRequest,
    responses((status = 200, description = "Verified", body = VerificationResult),
              (status = 400, description = "Not verified, or malformed input (problem+json)", body = VerificationResult),
              (status = 401, description = "Only when `credential_verify_requires_token` is set", body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 503, description = "Too many credential operations or DID resolutions under way; see Retry-After", body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn verify_presentation(
    State(credentials): State<Arc<CredentialService>>,
    _: VerifyAccess,
    ApiJson(body): ApiJson<VerifyPresentationRequest>,
) -> Result<(StatusCode, Json<VerificationResult>), ApiError> {
    let result = credentials
        .verify_presentation(body.verifiable_presentation, body.options)
        .await?;
    Ok(answer(result))
}

/// `POST /credentials/status`: revokes (for good), suspends, or lifts the suspension of a
/// credential issued here.
#[utoipa::path(post, path = "/credentials/status", tag = "credentials", security(("admin_token" = []), ("user_token" = []), ("access_token" = [])),
    request_body = UpdateStatusRequest,
    responses((status = 200, body = UpdateStatusResponse),
              (status = 401, body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 403, description = "A user's token for a credential another user (or the server) issued", body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 404, description = "No credential with this id was issued here", body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 409, description = "The credential is revoked (a revocation is permanent), or has no entry for this purpose", body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 422, description = "An unknown `type` or `status`", body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn update_status(
    State(credentials): State<Arc<CredentialService>>,
    Authenticated(caller): Authenticated,
    ApiJson(body): ApiJson<UpdateStatusRequest>,
) -> Result<Json<UpdateStatusResponse>, ApiError> {
    if body.credential_status.len() > 3 {
        return Err(ApiError::validation(
            "`credentialStatus` names at most 3 states (revoked, suspended, active)",
        )
        .with("field", "credentialStatus".into()));
    }
    if body.credential_status.is_empty() {
        return Err(
            ApiError::validation("`credentialStatus` must name at least one status")
                .with("field", "credentialStatus".into()),
        );
    }
    let mut wanted = Vec::new();
    for (i, update) in body.credential_status.iter().enumerate() {
        if update.kind != LIST_CREDENTIAL_TYPE && update.kind != "BitstringStatusListEntry" {
            return Err(ApiError::validation(format!(
                "status type `{}` is not managed here ({LIST_CREDENTIAL_TYPE})",
                update.kind
            ))
            .with("field", format!("credentialStatus[{i}].type").into()));
        }
        wanted.push(Wanted::parse(&update.status).ok_or_else(|| {
            ApiError::validation(format!(
                "status `{}` is not one of revoked, suspended, active",
                update.status
            ))
            .with("field", format!("credentialStatus[{i}].status").into())
        })?);
    }
    let entries = credentials
        .update_status(&caller, &body.credential_id, &wanted)
        .await?;
    let set = |p: StatusPurpose| entries.iter().any(|e| e.assignment.purpose == p && e.set);
    let status = if set(StatusPurpose::Revocation) {
        "revoked"
    } else if set(StatusPurpose::Suspension) {
        "suspended"
    } else {
        "active"
    };
    let lists = credentials.status_lists();
    Ok(Json(UpdateStatusResponse {
        credential_id: body.credential_id,
        status: status.into(),
        credential_status: entries
            .iter()
            .map(|e| StatusEntryState {
                status_purpose: e.assignment.purpose.to_string(),
                status_list_credential: lists.url(&e.assignment.list),
                status_list_index: e.assignment.index.to_string(),
                set: e.set,
            })
            .collect(),
    }))
}

/// `GET /status`: every status list this server publishes (for a client to pin them all).
#[utoipa::path(get, path = "/status", tag = "credentials",
    responses((status = 200, body = StatusListsResponse)))]
pub async fn status_lists(
    State(credentials): State<Arc<CredentialService>>,
) -> Result<Json<StatusListsResponse>, ApiError> {
    let lists = credentials.status_lists().published().await?;
    Ok(Json(StatusListsResponse {
        status_lists: lists
            .into_iter()
            .map(|(url, l)| PublishedStatusList {
                id: url,
                issuer: l.issuer,
                status_purpose: l.purpose.to_string(),
                size: l.size,
            })
            .collect(),
    }))
}

/// `GET /status/{list}`: the signed `BitstringStatusListCredential` (media type
/// `application/vc`), built from committed state.
#[utoipa::path(get, path = "/status/{list}", tag = "credentials",
    params(("list" = String, Path, description = "The list's id")),
    responses((status = 200, description = "The signed list credential", body = Object, content_type = "application/vc"),
              (status = 404, body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 503, description = "Too many credential operations under way; see Retry-After", body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn status_list(
    State(credentials): State<Arc<CredentialService>>,
    Path(list): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    if list.is_empty() || list.len() > 64 || !list.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(ApiError::not_found(format!("no status list `{list}`")));
    }
    let credential = credentials.status_list(&list).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/vc"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        serde_json::to_vec(&*credential).map_err(ApiError::internal)?,
    ))
}
