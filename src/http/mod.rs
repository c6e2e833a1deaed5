//! The HTTP API: thin handlers per area, each area exporting its routes, registered only
//! through utoipa-axum so that every route is in the OpenAPI document.

pub mod admin;
pub mod admin_clients;
pub mod admin_didcomm;
pub mod credentials;
pub mod did;
pub mod didcomm;
pub mod docs;
pub mod extract;
pub mod holder;
pub mod html;
pub mod oidc;
pub mod ops;
pub mod pages;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;

/// Body limit of the public (unauthenticated) routes: they take no bodies.
pub const PUBLIC_BODY_LIMIT: usize = 16 * 1024;

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
        components.add_security_scheme(
            "user_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A user's API token (`sichat user token NAME`, or `POST /admin/users/{name}/tokens`): acts for that user only",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "access_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An OpenID Connect access token from `POST /token`: a client's own (client_credentials) with scope `issue:credentials` issues as the DIDs the client is registered for; one a user granted with scope `holder` acts for that user",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Sichat", description = "Sovereign identity server: DIDs, keys, verifiable credentials, and (coming) OpenID Connect and DIDComm."),
    modifiers(&AdminTokenScheme),
    components(schemas(ProblemBody)),
    tags((name = "dids", description = "DID documents and resolution"),
         (name = "admin", description = "Administration (admin token)"),
         (name = "credentials", description = "Verifiable credentials over the W3C VC-API"),
         (name = "holder", description = "A user's credentials and presentations (the user's API token)"),
         (name = "oidc", description = "OpenID Connect provider"),
         (name = "operations", description = "Health, readiness, metrics, problem types"))
)]
struct ApiDoc;

/// All API routes and the OpenAPI document generated from them.
pub fn routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let public = OpenApiRouter::new()
        .merge(did::routes())
        .merge(ops::routes())
        .merge(oidc::routes())
        .merge(pages::routes())
        .layer(DefaultBodyLimit::max(PUBLIC_BODY_LIMIT));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(admin::routes())
        .merge(admin_clients::routes())
        .merge(admin_didcomm::routes())
        .merge(credentials::routes())
        .merge(holder::routes())
        .merge(didcomm::routes())
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
