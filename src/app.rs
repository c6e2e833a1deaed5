//! Builds the application: state, router, middleware stack, and the serving loop with
//! graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware;
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa_scalar::{Scalar, Servable};

use crate::config::Config;
use crate::error::render_problems;
use crate::metrics::Metrics;
use crate::service::ServerKeys;
use crate::service::bootstrap::Opened;
use crate::service::identity::IdentityService;
use crate::service::resolver::ServerResolver;
use crate::service::users::UserService;

/// Shared state of every handler: `Arc`s of the services.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: DatabaseConnection,
    pub keys: Arc<ServerKeys>,
    pub identity: Arc<IdentityService>,
    pub users: Arc<UserService>,
    pub resolver: Arc<ServerResolver>,
    pub metrics: Arc<Metrics>,
}

impl AppState {
    pub fn new(config: Config, opened: &Opened) -> Result<Self, sichat_core::did::ResolveError> {
        let resolver = ServerResolver::new(
            opened.identity.clone(),
            config.did_web_allow_loopback,
            config.resolver_cache_ttl_secs,
        )?;
        Ok(Self {
            users: Arc::new(UserService::new(
                opened.db.clone(),
                opened.keys.clone(),
                opened.identity.clone(),
            )),
            config: Arc::new(config),
            db: opened.db.clone(),
            keys: opened.keys.clone(),
            identity: opened.identity.clone(),
            resolver: Arc::new(resolver),
            metrics: Arc::new(Metrics::new()),
        })
    }
}

fn cors(origins: &[String]) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION, header::ACCEPT])
        .expose_headers([HeaderName::from_static("x-request-id")])
        .max_age(Duration::from_secs(600));
    if origins.iter().any(|o| o == "*") {
        layer.allow_origin(Any)
    } else {
        let list: Vec<HeaderValue> = origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        layer.allow_origin(AllowOrigin::list(list))
    }
}

/// The complete router: API routes, docs, and the middleware stack.
pub fn router(state: AppState) -> Router {
    let (api, openapi) = crate::http::routes();
    let spec = Arc::new(openapi.clone());
    let problem_base: Arc<str> = Arc::from(state.config.problem_base());
    let request_id = HeaderName::from_static("x-request-id");
    let timeout = Duration::from_secs(state.config.request_timeout_secs);
    let metrics = state.metrics.clone();
    let cors = cors(&state.config.cors_allowed_origins);
    api.with_state(state)
        .route("/openapi.json", axum::routing::get(move || async move { axum::Json(spec.as_ref().clone()) }))
        .merge(Scalar::with_url("/docs", openapi))
        .fallback(|| async { crate::error::ApiError::not_found("no resource at this path") })
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                        let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
                        tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
                    }),
                )
                .layer(PropagateRequestIdLayer::new(request_id))
                .layer(middleware::from_fn_with_state(metrics, crate::metrics::track))
                .layer(middleware::from_fn_with_state(problem_base, render_problems))
                .layer(CatchPanicLayer::new())
                .layer(cors)
                .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, timeout)),
        )
}

/// Serves until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutdown signal received, draining requests");
}
