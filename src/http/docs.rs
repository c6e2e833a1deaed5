//! The API reference page (`/docs`, Scalar) and the OpenAPI document (`/openapi.json`).
//! Scalar's script is embedded in the binary (pinned, see `assets/docs/SOURCE.md`) and
//! served from this origin, so the page runs under the strict content security policy
//! every HTML page gets ([`crate::app`]).

use std::io::Read;
use std::sync::OnceLock;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

/// The pinned Scalar release.
pub const SCALAR_VERSION: &str = "1.76.0";
const SCALAR_GZ: &[u8] =
    include_bytes!("../../assets/docs/scalar-api-reference-1.76.0.standalone.js.gz");
/// Where the page loads the script from (versioned: cached for a year).
pub const SCALAR_PATH: &str = "/docs/scalar-api-reference-1.76.0.js";

/// The script, decompressed once, for the rare client that does not accept gzip.
fn scalar_plain() -> &'static [u8] {
    static PLAIN: OnceLock<Vec<u8>> = OnceLock::new();
    PLAIN.get_or_init(|| {
        let mut out = Vec::new();
        // Invariant: the embedded asset is a valid gzip stream (checked by a test).
        flate2::read::GzDecoder::new(SCALAR_GZ)
            .read_to_end(&mut out)
            .expect("embedded Scalar bundle is valid gzip");
        out
    })
}

/// The page: the spec is fetched from `/openapi.json`; no inline script, no remote fonts.
fn page() -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Sichat API</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"></head><body>\
         <script id=\"api-reference\" data-url=\"/openapi.json\" \
         data-configuration='{{\"withDefaultFonts\":false,\"hideClientButton\":true}}'></script>\
         <script src=\"{SCALAR_PATH}\"></script></body></html>"
    )
}

async fn scalar_script(headers: HeaderMap) -> Response {
    let gzip_ok = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    let mut resp = if gzip_ok {
        let mut r = SCALAR_GZ.into_response();
        r.headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        r
    } else {
        scalar_plain().into_response()
    };
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    (StatusCode::OK, resp).into_response()
}

/// `/docs`, its script, and `/openapi.json` (documentation routes, not API routes).
pub fn routes<S: Clone + Send + Sync + 'static>(openapi: utoipa::openapi::OpenApi) -> Router<S> {
    // Serialized once: the document does not change while the process runs.
    let spec = axum::body::Bytes::from(serde_json::to_vec(&openapi).unwrap_or_default());
    Router::new()
        .route(
            "/openapi.json",
            get(move || async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    )],
                    spec,
                )
            }),
        )
        .route("/docs", get(|| async { Html(page()) }))
        .route(SCALAR_PATH, get(scalar_script))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn embedded_script_is_the_pinned_release() {
        assert_eq!(
            hex::encode(Sha256::digest(scalar_plain())),
            "dcb027152bf20bf2f6dcd66e8f9fb073c1a9e274cf0b94b939a7d99ab8947060",
            "assets/docs/SOURCE.md names this digest"
        );
        assert!(SCALAR_PATH.contains(SCALAR_VERSION));
    }
}
