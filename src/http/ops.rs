//! Operations: liveness, readiness, Prometheus metrics, and the problem-type pages.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use sichat_core::api::Status;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::ApiPath;
use crate::app::AppState;
use crate::error::{ApiError, ProblemKind};
use crate::metrics::Metrics;
use crate::service::readiness::Readiness;

/// The operations routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(problem_index))
        .routes(routes!(problem_type))
}

/// `GET /healthz`: the process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Status)))]
pub async fn healthz() -> Json<Status> {
    Json(Status {
        status: "ok".into(),
    })
}

/// `GET /readyz`: the database answers and the instance serves the stored public URL.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Status), (status = 503, body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn readyz(State(readiness): State<Arc<Readiness>>) -> Result<Json<Status>, ApiError> {
    readiness
        .check()
        .await
        .map_err(|e| ApiError::new(ProblemKind::NOT_READY, e.to_string()))?;
    Ok(Json(Status {
        status: "ready".into(),
    }))
}

/// `GET /metrics`: Prometheus / OpenMetrics text.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "OpenMetrics text", body = String, content_type = "application/openmetrics-text")))]
pub async fn metrics(State(metrics): State<Arc<Metrics>>) -> Response {
    let mut resp = metrics.encode().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    resp
}

use super::html::escape;

/// `GET /problems/{slug}` (RFC 9457 §3.1.1): the documentation of a problem type.
#[utoipa::path(get, path = "/problems/{slug}", tag = "operations", params(("slug" = String, Path)),
    responses((status = 200, description = "HTML page", body = String, content_type = "text/html"),
              (status = 404, body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn problem_type(ApiPath(slug): ApiPath<String>) -> Result<Html<String>, ApiError> {
    let kind = ProblemKind::ALL
        .iter()
        .find(|k| k.slug == slug)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no problem type `{}`",
                slug.chars().take(64).collect::<String>()
            ))
        })?;
    Ok(Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head><body>\
         <h1>{title}</h1><p>HTTP status {status}.</p><p>{desc}</p>\
         <p><a href=\"./\">All problem types</a></p></body></html>",
        title = escape(kind.title),
        status = kind.status.as_u16(),
        desc = escape(kind.description),
    )))
}

/// `GET /problems/`: every problem type the server emits.
#[utoipa::path(get, path = "/problems/", tag = "operations",
    responses((status = 200, description = "HTML page", body = String, content_type = "text/html")))]
pub async fn problem_index() -> Html<String> {
    let items: String = ProblemKind::ALL
        .iter()
        .map(|k| {
            format!(
                "<li><a href=\"{0}\">{0}</a> ({1}): {2}</li>",
                k.slug,
                k.status.as_u16(),
                escape(k.title)
            )
        })
        .collect();
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Problem types</title></head><body><h1>Problem types</h1><ul>{items}</ul></body></html>"
    ))
}
