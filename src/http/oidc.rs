//! OpenID Connect provider endpoints: the JWKS (`GET /jwks`, RFC 7517 §5) with the public
//! keys that sign ID tokens, and the token endpoint (`POST /token`, RFC 6749 §3.2), which
//! answers with OAuth error objects (RFC 6749 §5.2), never problem details.

use std::sync::Arc;

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::pages::ClientAddr;
use crate::app::AppState;
use crate::error::ApiError;
use crate::service::client_auth::Presented;
use crate::service::discovery::Discovery;
use crate::service::id_token_keys::IdTokenKeys;
use crate::service::oauth_error::OAuthError;
use crate::service::registration::Registration;
use crate::service::token_endpoint::TokenService;
use crate::service::userinfo::{UserInfo, UserInfoError, UserInfoErrorOr};

/// The OpenID Connect routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(discovery))
        .routes(routes!(register))
        .routes(routes!(jwks))
        .routes(routes!(token))
        .routes(routes!(userinfo_get, userinfo_post))
}

/// `GET /.well-known/openid-configuration` (OpenID Connect Discovery 1.0 §4): the
/// provider metadata, with the scopes and claims credentials can back.
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "oidc",
    responses((status = 200, description = "OpenID Provider Metadata", body = Object, content_type = "application/json")))]
pub async fn discovery(State(discovery): State<Arc<Discovery>>) -> Result<Response, ApiError> {
    json_bytes(discovery.document().await?)
}

/// `POST /register` (RFC 7591): dynamic client registration, when the operator switched it
/// on (`oidc_dynamic_registration`); 404 otherwise.
#[utoipa::path(post, path = "/register", tag = "oidc", request_body(content = Object, content_type = "application/json", description = "RFC 7591 §2 client metadata"),
    responses((status = 201, description = "The client's id, metadata and (confidential clients) secret, shown once", body = Object, content_type = "application/json"),
              (status = 400, description = "invalid_redirect_uri or invalid_client_metadata (RFC 7591 §3.2.2)", body = Object, content_type = "application/json"),
              (status = 404, description = "Registration is switched off", body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 429, description = "Too many registrations from this address", body = Object, content_type = "application/json")))]
pub async fn register(
    State(registration): State<Option<Arc<Registration>>>,
    ClientAddr(address): ClientAddr,
    body: axum::body::Bytes,
) -> Response {
    let Some(registration) = registration else {
        return ApiError::not_found("dynamic client registration is switched off").into_response();
    };
    match registration.register(&body, address).await {
        Ok(client) => no_store(StatusCode::CREATED, &client),
        Err(e) => e.into_response(),
    }
}

/// Cached JSON bytes, cacheable for five minutes.
fn json_bytes(body: Arc<Vec<u8>>) -> Result<Response, ApiError> {
    // The cached bytes themselves, shared, not a copy per request.
    let body = axum::body::Bytes::from_owner(ArcBytes(body));
    let mut resp = Response::new(axum::body::Body::from(body));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    Ok(resp)
}

/// Cached bytes lent to a response body.
struct ArcBytes(Arc<Vec<u8>>);

impl AsRef<[u8]> for ArcBytes {
    fn as_ref(&self) -> &[u8] {
        self.0.as_slice()
    }
}

/// `GET /jwks`: the keys that sign ID tokens (`RS256`, `ES256`, `EdDSA`), and keys retired
/// recently enough that tokens they signed may still be in use. `kid` is the RFC 7638
/// thumbprint. Relying parties refetch it when a token names an unknown `kid`.
#[utoipa::path(get, path = "/jwks", tag = "oidc",
    responses((status = 200, description = "The JSON Web Key Set (RFC 7517 §5)", body = Object, content_type = "application/json")))]
pub async fn jwks(State(keys): State<Arc<IdTokenKeys>>) -> Result<Response, ApiError> {
    json_bytes(keys.jwks().await?)
}

/// A JSON answer that no cache may keep (RFC 6749 §5.1).
fn no_store(status: StatusCode, body: &impl serde::Serialize) -> Response {
    let mut resp = (status, axum::Json(body)).into_response();
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        let mut resp = no_store(status, &self.body());
        if status == StatusCode::UNAUTHORIZED && self.basic_challenge {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"sichat\", charset=\"UTF-8\""),
            );
        }
        resp
    }
}

/// Parses an `application/x-www-form-urlencoded` body; a parameter given twice is an
/// `invalid_request` (RFC 6749 §3.2).
pub(crate) fn form(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<BTreeMap<String, String>, OAuthError> {
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.split(';').next().is_some_and(|t| {
                t.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        });
    if !form_type {
        return Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let mut out = BTreeMap::new();
    for (name, value) in url::form_urlencoded::parse(body) {
        if out.insert(name.to_string(), value.into_owned()).is_some() {
            return Err(OAuthError::invalid_request(format!(
                "parameter `{name}` is given more than once"
            )));
        }
    }
    Ok(out)
}

/// `POST /token`: exchanges an authorization code (with its PKCE verifier) or client
/// credentials for tokens. Client authentication: HTTP Basic, `client_secret` in the form,
/// a `private_key_jwt` assertion, or `client_id` alone for a public client.
#[utoipa::path(post, path = "/token", tag = "oidc",
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "grant_type=authorization_code&code=…&redirect_uri=…&code_verifier=… or grant_type=client_credentials[&scope=…]"),
    responses((status = 200, description = "Tokens (RFC 6749 §5.1; `id_token` for the openid scope)", body = Object, content_type = "application/json"),
              (status = 400, description = "An RFC 6749 §5.2 error object", body = Object, content_type = "application/json"),
              (status = 401, description = "invalid_client (with `WWW-Authenticate: Basic` after HTTP Basic)", body = Object, content_type = "application/json")))]
pub async fn token(
    State(tokens): State<Arc<TokenService>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let result = async {
        let params = form(&headers, &body)?;
        let basic = match headers.get(header::AUTHORIZATION) {
            None => None,
            Some(value) => {
                let value = value.to_str().unwrap_or_default();
                match value.split_once(' ') {
                    Some((scheme, rest)) if scheme.eq_ignore_ascii_case("basic") => {
                        Some(rest.to_owned())
                    }
                    _ => {
                        return Err(OAuthError::invalid_client(
                            "the Authorization header must use the Basic scheme here",
                        ));
                    }
                }
            }
        };
        let presented = Presented {
            basic,
            client_id: params.get("client_id").cloned(),
            client_secret: params.get("client_secret").cloned(),
            client_assertion_type: params.get("client_assertion_type").cloned(),
            client_assertion: params.get("client_assertion").cloned(),
        };
        tokens.exchange(&params, &presented).await
    }
    .await;
    match result {
        Ok(response) => no_store(StatusCode::OK, &response),
        Err(e) => e.into_response(),
    }
}

/// A bearer token sent both ways, or another authorization scheme (RFC 6750 §3.1).
struct InvalidRequest;

/// The bearer token of a request (RFC 6750 §2.1 header, or §2.2 form body for POST).
fn bearer(
    headers: &HeaderMap,
    form: Option<&BTreeMap<String, String>>,
) -> Result<Option<String>, InvalidRequest> {
    let header = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(v) => match v.to_str().ok().and_then(|v| v.split_once(' ')) {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
                Some(token.trim().to_owned())
            }
            _ => return Err(InvalidRequest),
        },
    };
    let body = form.and_then(|f| f.get("access_token").cloned());
    match (header, body) {
        (Some(_), Some(_)) => Err(InvalidRequest),
        (h, b) => Ok(h.or(b)),
    }
}

/// An RFC 6750 §3 error: `WWW-Authenticate: Bearer` (with `error` when one applies) and
/// a JSON body.
fn bearer_error(error: Option<&'static str>, status: u16) -> Response {
    let challenge = match error {
        Some(e) => format!("Bearer realm=\"sichat\", error=\"{e}\""),
        None => "Bearer realm=\"sichat\"".to_owned(),
    };
    let body = serde_json::json!({
        "error": error.unwrap_or("invalid_token"),
        "error_description": match error {
            Some("insufficient_scope") => "the token does not grant openid for a user",
            Some("invalid_request") => "send the access token once, as a Bearer header or an access_token form field",
            Some(_) => "the access token is not valid (unknown, expired or revoked)",
            None => "an access token is required",
        },
    });
    let mut resp = no_store(
        StatusCode::from_u16(status).unwrap_or(StatusCode::UNAUTHORIZED),
        &body,
    );
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

async fn userinfo(info: &UserInfo, token: Option<String>) -> Response {
    let Some(token) = token else {
        return bearer_error(None, 401);
    };
    match info.claims(&token).await {
        Ok(claims) => no_store(StatusCode::OK, &claims),
        Err(UserInfoErrorOr::Refused(UserInfoError::InvalidToken)) => {
            bearer_error(Some("invalid_token"), 401)
        }
        Err(UserInfoErrorOr::Refused(UserInfoError::InsufficientScope)) => {
            bearer_error(Some("insufficient_scope"), 403)
        }
        Err(UserInfoErrorOr::Store(e)) => OAuthError::server_error(e).into_response(),
        Err(UserInfoErrorOr::Internal(e)) => OAuthError::from(e).into_response(),
    }
}

/// `GET /userinfo` (OIDC Core §5.3): the claims the access token's scopes allow.
#[utoipa::path(get, path = "/userinfo", tag = "oidc",
    responses((status = 200, description = "`sub`, and per scope `name`, `preferred_username`, `email`", body = Object, content_type = "application/json"),
              (status = 401, description = "No or an invalid access token (`WWW-Authenticate: Bearer`)", body = Object, content_type = "application/json"),
              (status = 403, description = "insufficient_scope", body = Object, content_type = "application/json")))]
pub async fn userinfo_get(State(info): State<Arc<UserInfo>>, headers: HeaderMap) -> Response {
    match bearer(&headers, None) {
        Ok(token) => userinfo(&info, token).await,
        Err(InvalidRequest) => bearer_error(Some("invalid_request"), 400),
    }
}

/// `POST /userinfo`: the same, the token as a Bearer header or an `access_token` form field.
#[utoipa::path(post, path = "/userinfo", tag = "oidc",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "access_token=… (or none, with a Bearer header)"),
    responses((status = 200, description = "The claims", body = Object, content_type = "application/json"),
              (status = 401, description = "No or an invalid access token", body = Object, content_type = "application/json"),
              (status = 403, description = "insufficient_scope", body = Object, content_type = "application/json")))]
pub async fn userinfo_post(
    State(info): State<Arc<UserInfo>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let form = if body.is_empty() {
        BTreeMap::new()
    } else {
        match form(&headers, &body) {
            Ok(f) => f,
            Err(_) => return bearer_error(Some("invalid_request"), 400),
        }
    };
    match bearer(&headers, Some(&form)) {
        Ok(token) => userinfo(&info, token).await,
        Err(InvalidRequest) => bearer_error(Some("invalid_request"), 400),
    }
}
