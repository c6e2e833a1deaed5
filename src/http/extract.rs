//! Extractors whose rejections are problem details: JSON bodies, path and query
//! parameters, and the admin bearer token.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRef, FromRequest, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use sichat_core::id::{KeyId, UserName};
use std::sync::Arc;

use crate::error::{ApiError, ProblemKind};
use crate::service::admin_token::AdminTokens;
use crate::service::credentials::CredentialService;
use crate::service::issuer_keys::Caller;
use crate::service::oidc_callers::OidcCallers;
use crate::service::user_tokens::UserTokens;

/// `axum::Json` answering malformed bodies with problem+json.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// A typed path parameter; a value that cannot name anything is a 404, like a value that
/// names nothing.
pub trait PathParam: Sized {
    fn from_param(value: String) -> Result<Self, ApiError>;
}

impl PathParam for String {
    fn from_param(value: String) -> Result<Self, ApiError> {
        Ok(value)
    }
}

impl PathParam for UserName {
    fn from_param(value: String) -> Result<Self, ApiError> {
        UserName::parse(&value).map_err(|_| ApiError::not_found("no such user"))
    }
}

impl PathParam for KeyId {
    fn from_param(value: String) -> Result<Self, ApiError> {
        KeyId::parse(&value).map_err(|_| ApiError::not_found("no such key"))
    }
}

/// A path parameter: percent-decoded, at most 256 characters, no control characters
/// (a NUL must not reach the database), else a problem+json 400; then parsed as `T`.
pub struct ApiPath<T = String>(pub T);

impl<S: Send + Sync, T: PathParam> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(value) =
            axum::extract::Path::<String>::from_request_parts(parts, state).await?;
        if value.chars().count() > 256 || value.chars().any(char::is_control) {
            return Err(ApiError::bad_request(
                "path parameter too long or with control characters",
            ));
        }
        Ok(ApiPath(T::from_param(value)?))
    }
}

/// `axum::extract::Query` answering bad parameters with problem+json.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::JsonDataError(e) => ApiError::validation(e.body_text()),
            JsonRejection::JsonSyntaxError(e) => ApiError::bad_request(e.body_text()),
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                ProblemKind::UNSUPPORTED_MEDIA_TYPE,
                "expected `Content-Type: application/json`",
            ),
            JsonRejection::BytesRejection(e)
                if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE =>
            {
                ApiError::new(ProblemKind::PAYLOAD_TOO_LARGE, e.body_text())
            }
            other => ApiError::bad_request(other.body_text()),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::bad_request(r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::bad_request(r.body_text())
    }
}

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive), if any.
pub fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|t| !t.is_empty())
}

/// The bearer token, or a 401 saying which token the endpoint takes.
fn required_bearer<'a>(parts: &'a Parts, which: &str) -> Result<&'a str, ApiError> {
    bearer(parts).ok_or_else(|| {
        ApiError::new(
            ProblemKind::UNAUTHORIZED,
            format!("missing `Authorization: Bearer <token>` ({which})"),
        )
    })
}

/// Proof that the request carried the admin token (`Authorization: Bearer …`).
pub struct Admin;

impl<S> FromRequestParts<S> for Admin
where
    Arc<AdminTokens>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let presented = required_bearer(parts, "the admin token")?;
        if Arc::<AdminTokens>::from_ref(state)
            .verify(presented)
            .await?
        {
            Ok(Admin)
        } else {
            Err(ApiError::new(
                ProblemKind::UNAUTHORIZED,
                "the admin token is not valid",
            ))
        }
    }
}

/// Who a bearer token acts for: the admin token, a user's API token, or an OpenID Connect
/// access token: a client's own (`client_credentials`) with scope `issue:credentials`, or
/// one a user granted with scope `holder`.
pub struct Authenticated(pub Caller);

impl<S> FromRequestParts<S> for Authenticated
where
    Arc<AdminTokens>: FromRef<S>,
    Arc<UserTokens>: FromRef<S>,
    Arc<OidcCallers>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let presented = required_bearer(parts, "the admin token or a user's API token")?;
        if presented.starts_with(crate::service::access_tokens::PREFIX) {
            return Arc::<OidcCallers>::from_ref(state)
                .caller(presented)
                .await
                .map(Authenticated);
        }
        if let Some(user) = Arc::<UserTokens>::from_ref(state)
            .authenticate(presented)
            .await?
        {
            return Ok(Authenticated(Caller::User(user)));
        }
        if Arc::<AdminTokens>::from_ref(state)
            .verify(presented)
            .await?
        {
            return Ok(Authenticated(Caller::Admin));
        }
        Err(ApiError::new(
            ProblemKind::UNAUTHORIZED,
            "the token is not valid (unknown or revoked)",
        ))
    }
}

/// A user's API token (the holder API): the user it acts for. The admin token is refused
/// (403): it acts for no user.
pub struct UserAuth(pub UserName);

impl<S> FromRequestParts<S> for UserAuth
where
    Arc<AdminTokens>: FromRef<S>,
    Arc<UserTokens>: FromRef<S>,
    Arc<OidcCallers>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Authenticated::from_request_parts(parts, state).await?.0 {
            Caller::User(name) => Ok(UserAuth(name)),
            Caller::Admin | Caller::Client { .. } => Err(ApiError::forbidden(
                "the holder API acts for a user: use that user's API token (or an access token they granted with scope holder)",
            )),
        }
    }
}

/// Access to the verification endpoints: open, unless `credential_verify_requires_token`
/// is set, then any valid token.
pub struct VerifyAccess;

impl<S> FromRequestParts<S> for VerifyAccess
where
    Arc<AdminTokens>: FromRef<S>,
    Arc<UserTokens>: FromRef<S>,
    Arc<OidcCallers>: FromRef<S>,
    Arc<CredentialService>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        if Arc::<CredentialService>::from_ref(state).verify_requires_token() {
            Authenticated::from_request_parts(parts, state).await?;
        }
        Ok(VerifyAccess)
    }
}
