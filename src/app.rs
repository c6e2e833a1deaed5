//! Builds the application: the state handlers draw their services from, the router and
//! its middleware stack. Serving (connections, limits, shutdown) is [`crate::serve`].

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{FromRef, Request};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnFailure, TraceLayer};

use crate::config::Config;
use crate::error::render_problems;
use crate::metrics::Metrics;
use crate::service::admin_token::AdminTokens;
use crate::service::authorize::Authorizer;
use crate::service::claim_rules::ClaimRules;
use crate::service::credentials::CredentialService;
use crate::service::discovery::Discovery;
use crate::service::holder::HolderService;
use crate::service::id_token_keys::IdTokenKeys;
use crate::service::identity::IdentityService;
use crate::service::logout::Logout;
use crate::service::oidc_callers::OidcCallers;
use crate::service::oidc_clients::ClientService;
use crate::service::pages::Pages;
use crate::service::readiness::Readiness;
use crate::service::registration::Registration;
use crate::service::resolver::ServerResolver;
use crate::service::token_endpoint::TokenService;
use crate::service::user_tokens::UserTokens;
use crate::service::userinfo::UserInfo;
use crate::service::users::UserService;
use crate::service::{ServerKeys, Services};

/// What handlers draw on: `Arc`s of services. A handler takes the ones it uses
/// (`State<Arc<UserService>>`), never the whole state.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub keys: Arc<ServerKeys>,
    pub identity: Arc<IdentityService>,
    pub users: Arc<UserService>,
    pub credentials: Arc<CredentialService>,
    pub holder: Arc<HolderService>,
    pub id_token_keys: Arc<IdTokenKeys>,
    pub clients: Arc<ClientService>,
    pub tokens: Arc<TokenService>,
    pub userinfo: Arc<UserInfo>,
    pub authorizer: Arc<Authorizer>,
    pub pages: Arc<Pages>,
    pub logout: Arc<Logout>,
    pub discovery: Arc<Discovery>,
    pub claim_rules: Arc<ClaimRules>,
    /// Present when dynamic client registration is switched on.
    pub registration: Option<Arc<Registration>>,
    pub oidc_callers: Arc<OidcCallers>,
    pub resolver: Arc<ServerResolver>,
    pub mediator: Arc<crate::service::mediator::Mediator>,
    pub admin_tokens: Arc<AdminTokens>,
    pub user_tokens: Arc<UserTokens>,
    pub readiness: Arc<Readiness>,
    pub metrics: Arc<Metrics>,
}

impl AppState {
    pub fn new(services: &Services) -> Self {
        Self {
            keys: services.keys.clone(),
            identity: services.identity.clone(),
            users: services.users.clone(),
            credentials: services.credentials.clone(),
            holder: services.holder.clone(),
            id_token_keys: services.id_token_keys.clone(),
            clients: services.clients.clone(),
            tokens: services.tokens.clone(),
            userinfo: services.userinfo.clone(),
            authorizer: services.authorizer.clone(),
            pages: services.pages.clone(),
            logout: services.logout.clone(),
            discovery: services.discovery.clone(),
            claim_rules: services.claim_rules.clone(),
            registration: services
                .discovery
                .registration_enabled()
                .then(|| services.registration.clone()),
            oidc_callers: services.oidc_callers.clone(),
            resolver: services.resolver.clone(),
            mediator: services.mediator.clone(),
            admin_tokens: services.admin_tokens.clone(),
            user_tokens: services.user_tokens.clone(),
            readiness: services.readiness.clone(),
            metrics: Arc::new(Metrics::new()),
        }
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

/// Request ids: random v4 UUIDs from the thread's CSPRNG (`MakeRequestUuid` makes a system
/// call per request for the same thing).
#[derive(Clone, Copy, Default)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
        HeaderValue::from_str(&id.to_string())
            .ok()
            .map(RequestId::new)
    }
}

/// The content security policy of every HTML page: scripts, styles and data from this
/// origin only (Scalar injects its styles, hence `'unsafe-inline'` for styles alone).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
     connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Adds `nosniff` to every response, and the CSP (unless the page set its own) and the
/// framing and referrer refusals to HTML pages.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let is_html = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/html"));
    let h = resp.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if is_html {
        // A page may widen `form-action` to the client it sends the browser back to
        // (browsers apply it to the redirects after a form POST): keep its own policy.
        if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CONTENT_SECURITY_POLICY),
            );
        }
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
    }
    resp
}

/// The complete router: API routes, docs, and the middleware stack.
pub fn router(state: AppState, config: &Config) -> Router {
    let (api, openapi) = crate::http::routes();
    let problem_base: Arc<str> = Arc::from(config.problem_base());
    let request_id = HeaderName::from_static("x-request-id");
    let timeout = Duration::from_secs(config.request_timeout_secs);
    let metrics = state.metrics.clone();
    api.with_state(state)
        .merge(crate::http::docs::routes(openapi))
        .merge(crate::http::pages::asset_routes())
        .fallback(|| async { crate::error::ApiError::not_found("no resource at this path") })
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(request_id.clone(), RandomRequestId))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(|req: &axum::http::Request<_>| {
                            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
                            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
                        })
                        // A 5xx a client can cause (an unreachable did:web host) must not
                        // write an ERROR line per request; genuine internal errors log
                        // themselves where they happen (`ApiError::internal`).
                        .on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG)),
                )
                .layer(PropagateRequestIdLayer::new(request_id))
                .layer(middleware::from_fn_with_state(metrics, crate::metrics::track))
                .layer(middleware::from_fn(security_headers))
                .layer(middleware::from_fn_with_state(problem_base, render_problems))
                .layer(CatchPanicLayer::new())
                .layer(cors(&config.cors_allowed_origins))
                .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, timeout)),
        )
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
