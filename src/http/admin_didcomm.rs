//! The admin API for credential-bound DIDComm channels: create, list, remove, members.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use sichat_core::api::{ChannelMemberView, ChannelView, CreateChannel};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Admin, ApiJson};
use crate::app::AppState;
use crate::error::ApiError;
use crate::service::mediator::Mediator;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_channel, list_channels))
        .routes(routes!(remove_channel))
        .routes(routes!(channel_members))
        .layer(axum::extract::DefaultBodyLimit::max(
            super::admin::BODY_LIMIT,
        ))
}

type NamePath = Result<axum::extract::Path<String>, axum::extract::rejection::PathRejection>;

/// `POST /admin/didcomm/channels`: a channel whose recipient takes forwards only from
/// peers bound by presenting a credential of the policy.
#[utoipa::path(post, path = "/admin/didcomm/channels", tag = "admin", security(("admin_token" = [])), request_body = CreateChannel,
    responses((status = 201, body = ChannelView),
              (status = 401, body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 409, description = "The name or the recipient has a channel", body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 422, description = "A bad field, named in `detail`", body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn create_channel(
    State(mediator): State<Arc<Mediator>>,
    _: Admin,
    ApiJson(body): ApiJson<CreateChannel>,
) -> Result<(StatusCode, Json<ChannelView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(mediator.channels().create(body).await?),
    ))
}

/// `GET /admin/didcomm/channels`.
#[utoipa::path(get, path = "/admin/didcomm/channels", tag = "admin", security(("admin_token" = [])),
    responses((status = 200, body = [ChannelView]),
              (status = 401, body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn list_channels(
    State(mediator): State<Arc<Mediator>>,
    _: Admin,
) -> Result<Json<Vec<ChannelView>>, ApiError> {
    Ok(Json(mediator.channels().list().await?))
}

/// `DELETE /admin/didcomm/channels/{name}`: the channel and its bindings are gone; its
/// recipient takes forwards from anyone again.
#[utoipa::path(delete, path = "/admin/didcomm/channels/{name}", tag = "admin", security(("admin_token" = [])),
    params(("name" = String, Path)),
    responses((status = 204, description = "Removed"),
              (status = 401, body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 404, body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn remove_channel(
    State(mediator): State<Arc<Mediator>>,
    _: Admin,
    path: NamePath,
) -> Result<StatusCode, ApiError> {
    let axum::extract::Path(name) = path?;
    mediator.channels().remove(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /admin/didcomm/channels/{name}/members`: the peers bound to the channel.
#[utoipa::path(get, path = "/admin/didcomm/channels/{name}/members", tag = "admin", security(("admin_token" = [])),
    params(("name" = String, Path)),
    responses((status = 200, body = [ChannelMemberView]),
              (status = 401, body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 404, body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn channel_members(
    State(mediator): State<Arc<Mediator>>,
    _: Admin,
    path: NamePath,
) -> Result<Json<Vec<ChannelMemberView>>, ApiError> {
    let axum::extract::Path(name) = path?;
    Ok(Json(mediator.channels().members(&name).await?))
}
