//! The HTTP API: thin handlers per area, registered only through utoipa-axum so that every
//! route is in the OpenAPI document.

pub mod admin;
pub mod did;
pub mod extract;
pub mod ops;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;

/// Body limit of the admin API (JSON documents of a few KiB).
pub const ADMIN_BODY_LIMIT: usize = 64 * 1024;

/// An RFC 9457 problem details object, as documented in the OpenAPI document.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ProblemBody {
    /// `<public-url>/problems/<slug>`, documented at that URL.
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
}

struct AdminTokenScheme;

impl Modify for AdminTokenScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The admin token printed by `sichat init`"))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Sichat", description = "Sovereign identity server: DIDs, keys, and (coming) credentials, OpenID Connect and DIDComm."),
    modifiers(&AdminTokenScheme),
    components(schemas(ProblemBody)),
    tags((name = "dids", description = "DID documents and resolution"),
         (name = "admin", description = "Administration (admin token)"),
         (name = "operations", description = "Health, readiness, metrics, problem types"))
)]
struct ApiDoc;

/// All API routes and the OpenAPI document generated from them.
pub fn routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let admin = OpenApiRouter::new()
        .routes(routes!(admin::create_user, admin::list_users))
        .routes(routes!(admin::get_user))
        .routes(routes!(admin::list_keys, admin::generate_key))
        .routes(routes!(admin::import_key))
        .routes(routes!(admin::get_key))
        .routes(routes!(admin::rotate_key))
        .routes(routes!(admin::list_dids))
        .layer(DefaultBodyLimit::max(ADMIN_BODY_LIMIT));
    let public = OpenApiRouter::new()
        .routes(routes!(did::server_did_document))
        .routes(routes!(did::user_did_document))
        .routes(routes!(did::resolve))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .routes(routes!(ops::problem_index))
        .routes(routes!(ops::problem_type))
        .layer(DefaultBodyLimit::max(16 * 1024));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(admin)
        .merge(public)
        .split_for_parts()
}

/// The OpenAPI document as checked in at `openapi/openapi.json`.
pub fn openapi_json() -> String {
    let (_, api) = routes();
    let mut s = api.to_pretty_json().unwrap_or_default();
    s.push('\n');
    s
}
