//! The admin API for OpenID Connect clients — register (the secret is shown once), list,
//! show, remove — and for the claims credentials may back (`/admin/oidc/claims`).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use sichat_core::api::{ClaimRuleView, ClientView, CreateClaimRule, CreateClient, CreatedClient};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Admin, ApiJson};
use crate::app::AppState;
use crate::error::ApiError;
use crate::service::claim_rules::ClaimRules;
use crate::service::oidc_clients::ClientService;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_client, list_clients))
        .routes(routes!(get_client, remove_client))
        .routes(routes!(create_claim_rule, list_claim_rules))
        .routes(routes!(remove_claim_rule))
}

type ClientPath = Result<axum::extract::Path<String>, axum::extract::rejection::PathRejection>;

fn client_id(path: ClientPath) -> Result<String, ApiError> {
    let axum::extract::Path(id) = path?;
    sichat_core::oauth::check_client_id(&id)
        .map_err(|_| ApiError::not_found(format!("no client `{id}`")))?;
    Ok(id)
}

/// `POST /admin/clients`: registers an OpenID Connect client (RFC 7591 metadata names).
#[utoipa::path(post, path = "/admin/clients", tag = "admin", security(("admin_token" = [])), request_body = CreateClient,
    responses((status = 201, body = CreatedClient),
              (status = 401, body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 409, description = "The client id is taken", body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 422, description = "Bad metadata; `field` names it", body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn create_client(
    State(clients): State<Arc<ClientService>>,
    _: Admin,
    ApiJson(body): ApiJson<CreateClient>,
) -> Result<(StatusCode, Json<CreatedClient>), ApiError> {
    Ok((StatusCode::CREATED, Json(clients.create(body).await?)))
}

/// `GET /admin/clients`: every client (never a secret).
#[utoipa::path(get, path = "/admin/clients", tag = "admin", security(("admin_token" = [])),
    responses((status = 200, body = [ClientView]),
              (status = 401, body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn list_clients(
    State(clients): State<Arc<ClientService>>,
    _: Admin,
) -> Result<Json<Vec<ClientView>>, ApiError> {
    Ok(Json(clients.list().await?))
}

/// `GET /admin/clients/{id}`.
#[utoipa::path(get, path = "/admin/clients/{id}", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = ClientView),
              (status = 401, body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 404, body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn get_client(
    State(clients): State<Arc<ClientService>>,
    _: Admin,
    path: ClientPath,
) -> Result<Json<ClientView>, ApiError> {
    Ok(Json(clients.get(&client_id(path)?).await?))
}

/// `DELETE /admin/clients/{id}`: the client can no longer log anyone in.
#[utoipa::path(delete, path = "/admin/clients/{id}", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path)),
    responses((status = 204, description = "Removed"),
              (status = 401, body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 404, body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn remove_client(
    State(clients): State<Arc<ClientService>>,
    _: Admin,
    path: ClientPath,
) -> Result<StatusCode, ApiError> {
    clients.remove(&client_id(path)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /admin/oidc/claims`: a claim a held credential can back, released with a scope.
#[utoipa::path(post, path = "/admin/oidc/claims", tag = "admin", security(("admin_token" = [])), request_body = CreateClaimRule,
    responses((status = 201, body = ClaimRuleView),
              (status = 401, body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 409, description = "The same rule exists", body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 422, description = "A bad field; `field` names it", body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn create_claim_rule(
    State(rules): State<Arc<ClaimRules>>,
    _: Admin,
    ApiJson(body): ApiJson<CreateClaimRule>,
) -> Result<(StatusCode, Json<ClaimRuleView>), ApiError> {
    Ok((StatusCode::CREATED, Json(rules.add(body).await?)))
}

/// `GET /admin/oidc/claims`: every claim rule.
#[utoipa::path(get, path = "/admin/oidc/claims", tag = "admin", security(("admin_token" = [])),
    responses((status = 200, body = [ClaimRuleView]),
              (status = 401, body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn list_claim_rules(
    State(rules): State<Arc<ClaimRules>>,
    _: Admin,
) -> Result<Json<Vec<ClaimRuleView>>, ApiError> {
    Ok(Json(rules.list().await?))
}

/// `DELETE /admin/oidc/claims/{id}`.
#[utoipa::path(delete, path = "/admin/oidc/claims/{id}", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path)),
    responses((status = 204, description = "Removed"),
              (status = 401, body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 404, body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn remove_claim_rule(
    State(rules): State<Arc<ClaimRules>>,
    _: Admin,
    path: ClientPath,
) -> Result<StatusCode, ApiError> {
    let axum::extract::Path(id) = path?;
    rules.remove(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}
