//! The VC-API: `POST /credentials/issue` (admin token), `POST /credentials/verify` and
//! `POST /presentations/verify` (open). Verification answers 200 with `verified: true`,
//! or 400 with `verified: false` and the failing checks, as the VC-API's tables and the
//! W3C test suites expect; input that is not a credential at all is a problem+json.

use std::sync::Arc;

use axum::Json;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use sichat_core::api::{
    IssueRequest, IssueResponse, VerificationResult, VerifyCredentialRequest,
    VerifyPresentationRequest,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Admin, ApiJson};
use crate::app::AppState;
use crate::error::ApiError;
use crate::service::credentials::{Caller, CredentialService};

/// Body limit of the credential routes: credentials and presentations of a few dozen KiB.
pub const BODY_LIMIT: usize = 256 * 1024;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(issue))
        .routes(routes!(verify_credential))
        .routes(routes!(verify_presentation))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

/// `POST /credentials/issue`: secures a credential as a DID this server controls, chosen
/// by its `issuer` (default: the server's did:web).
#[utoipa::path(post, path = "/credentials/issue", tag = "credentials", security(("admin_token" = [])),
    request_body = IssueRequest,
    responses((status = 201, body = IssueResponse),
              (status = 400, body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 401, body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 409, description = "A credential with this id was already issued", body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 422, description = "Invalid credential (`field`), undefined term (`term`), or an issuer this server does not control", body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 503, description = "Too many credential operations under way; see Retry-After", body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn issue(
    State(credentials): State<Arc<CredentialService>>,
    _: Admin,
    ApiJson(body): ApiJson<IssueRequest>,
) -> Result<(StatusCode, Json<IssueResponse>), ApiError> {
    let verifiable_credential = credentials
        .issue(&Caller::Admin, body.credential, &body.options)
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
              (status = 503, description = "Too many credential operations or DID resolutions under way; see Retry-After", body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn verify_credential(
    State(credentials): State<Arc<CredentialService>>,
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
              (status = 503, description = "Too many credential operations or DID resolutions under way; see Retry-After", body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn verify_presentation(
    State(credentials): State<Arc<CredentialService>>,
    ApiJson(body): ApiJson<VerifyPresentationRequest>,
) -> Result<(StatusCode, Json<VerificationResult>), ApiError> {
    let result = credentials
        .verify_presentation(body.verifiable_presentation, body.options)
        .await?;
    Ok(answer(result))
}
