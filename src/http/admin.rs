//! The admin API (bearer admin token): users, keys and the server's DIDs.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use sichat_core::Secret;
use sichat_core::keys::{KeyInfo, KeyType};

use super::extract::{Admin, ApiJson, ApiPath, ApiQuery};
use crate::app::AppState;
use crate::error::{ApiError, ProblemKind};
use crate::service::SERVER_OWNER;
use crate::service::identity::DidEntry;
use crate::service::users::{UserError, UserName, UserView};

impl From<UserError> for ApiError {
    fn from(e: UserError) -> Self {
        match e {
            UserError::InvalidName(_) | UserError::InvalidPassword => {
                ApiError::validation(e.to_string())
            }
            UserError::Exists(_) => ApiError::new(ProblemKind::CONFLICT, e.to_string()),
            UserError::NotFound(_) => ApiError::not_found(e.to_string()),
            UserError::Store(s) => s.into(),
            UserError::Hash(_) => ApiError::internal(e),
        }
    }
}

/// Body of `POST /admin/users`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// 1–64 characters: a–z, 0–9, `.`, `_`, `-`; becomes the did:web path segment.
    pub name: String,
    /// Optional login password (8–1024 characters), stored as an Argon2id hash.
    #[serde(default)]
    pub password: Option<String>,
}

/// `POST /admin/users`: creates a user with fresh keys and a did:web.
#[utoipa::path(post, path = "/admin/users", tag = "admin", security(("admin_token" = [])), request_body = CreateUser,
    responses((status = 201, body = UserView), (status = 401, body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 409, body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 422, body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn create_user(
    State(s): State<AppState>,
    _: Admin,
    ApiJson(body): ApiJson<CreateUser>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    let user = s
        .users
        .create(
            &UserName::parse(&body.name)?,
            body.password.map(Secret::new),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// `GET /admin/users`: every user.
#[utoipa::path(get, path = "/admin/users", tag = "admin", security(("admin_token" = [])),
    responses((status = 200, body = [UserView]), (status = 401, body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn list_users(
    State(s): State<AppState>,
    _: Admin,
) -> Result<Json<Vec<UserView>>, ApiError> {
    Ok(Json(s.users.list().await?))
}

/// `GET /admin/users/{name}`: one user with their keys.
#[utoipa::path(get, path = "/admin/users/{name}", tag = "admin", security(("admin_token" = [])),
    params(("name" = String, Path)),
    responses((status = 200, body = UserView), (status = 404, body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn get_user(
    State(s): State<AppState>,
    _: Admin,
    ApiPath(name): ApiPath,
) -> Result<Json<UserView>, ApiError> {
    Ok(Json(s.users.get(&name).await?))
}

/// Whose keys: `server` (default) or `user:<name>`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct OwnerQuery {
    pub owner: Option<String>,
}

async fn check_owner(s: &AppState, owner: Option<String>) -> Result<String, ApiError> {
    let owner = owner.unwrap_or_else(|| SERVER_OWNER.to_owned());
    if owner == SERVER_OWNER {
        return Ok(owner);
    }
    let shown: String = owner.chars().take(80).collect();
    let Some(name) = owner.strip_prefix("user:") else {
        return Err(ApiError::validation(format!(
            "owner: expected `server` or `user:<name>`, got `{shown}`"
        )));
    };
    let name = UserName::parse(name)
        .map_err(|_| ApiError::validation(format!("owner: `{shown}` is not a valid user")))?;
    if s.users.exists(&name).await? {
        Ok(name.owner())
    } else {
        Err(ApiError::not_found(format!("user `{name}` not found")))
    }
}

/// `GET /admin/keys?owner=`: the owner's keys, active and retired.
#[utoipa::path(get, path = "/admin/keys", tag = "admin", security(("admin_token" = [])), params(OwnerQuery),
    responses((status = 200, body = [KeyInfo]), (status = 401, body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn list_keys(
    State(s): State<AppState>,
    _: Admin,
    ApiQuery(q): ApiQuery<OwnerQuery>,
) -> Result<Json<Vec<KeyInfo>>, ApiError> {
    let owner = check_owner(&s, q.owner).await?;
    Ok(Json(s.keys.list(&owner).await?))
}

/// Body of `POST /admin/keys`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateKey {
    #[serde(rename = "type")]
    pub key_type: KeyType,
    /// `server` (default) or `user:<name>`.
    #[serde(default)]
    pub owner: Option<String>,
}

/// `POST /admin/keys`: generates a key for an owner.
#[utoipa::path(post, path = "/admin/keys", tag = "admin", security(("admin_token" = [])), request_body = GenerateKey,
    responses((status = 201, body = KeyInfo), (status = 422, body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn generate_key(
    State(s): State<AppState>,
    _: Admin,
    ApiJson(body): ApiJson<GenerateKey>,
) -> Result<(StatusCode, Json<KeyInfo>), ApiError> {
    let owner = check_owner(&s, body.owner).await?;
    Ok((
        StatusCode::CREATED,
        Json(s.keys.generate(&owner, body.key_type).await?),
    ))
}

/// Body of `POST /admin/keys/import`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportKey {
    /// A private JWK: OKP Ed25519/X25519 or EC P-256, with `d`.
    #[schema(value_type = Object)]
    pub jwk: Value,
    #[serde(default)]
    pub owner: Option<String>,
}

/// `POST /admin/keys/import`: imports a private JWK (sealed at rest at once).
#[utoipa::path(post, path = "/admin/keys/import", tag = "admin", security(("admin_token" = [])), request_body = ImportKey,
    responses((status = 201, body = KeyInfo), (status = 409, body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 422, body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn import_key(
    State(s): State<AppState>,
    _: Admin,
    ApiJson(body): ApiJson<ImportKey>,
) -> Result<(StatusCode, Json<KeyInfo>), ApiError> {
    let mut jwk = body.jwk;
    let imported = match check_owner(&s, body.owner).await {
        Ok(owner) => s
            .keys
            .import_jwk(&owner, &jwk)
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    // Wipe the private member we were sent, whatever the outcome.
    if let Some(Value::String(d)) = jwk.get_mut("d") {
        zeroize::Zeroize::zeroize(d);
    }
    Ok((StatusCode::CREATED, Json(imported?)))
}

/// `GET /admin/keys/{id}`: one key's public view.
#[utoipa::path(get, path = "/admin/keys/{id}", tag = "admin", security(("admin_token" = [])), params(("id" = String, Path)),
    responses((status = 200, body = KeyInfo), (status = 404, body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn get_key(
    State(s): State<AppState>,
    _: Admin,
    ApiPath(id): ApiPath,
) -> Result<Json<KeyInfo>, ApiError> {
    Ok(Json(s.keys.get(&id).await?))
}

/// `POST /admin/keys/{id}/rotate`: replaces an active key by a new one of the same type;
/// the old key stays in the DID document for verification.
#[utoipa::path(post, path = "/admin/keys/{id}/rotate", tag = "admin", security(("admin_token" = [])), params(("id" = String, Path)),
    responses((status = 201, body = KeyInfo), (status = 404, body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 409, body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn rotate_key(
    State(s): State<AppState>,
    _: Admin,
    ApiPath(id): ApiPath,
) -> Result<(StatusCode, Json<KeyInfo>), ApiError> {
    Ok((StatusCode::CREATED, Json(s.keys.rotate(&id).await?)))
}

/// `GET /admin/dids`: every DID the server controls (did:web and did:key).
#[utoipa::path(get, path = "/admin/dids", tag = "admin", security(("admin_token" = [])),
    responses((status = 200, body = [DidEntry]), (status = 401, body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn list_dids(
    State(s): State<AppState>,
    _: Admin,
) -> Result<Json<Vec<DidEntry>>, ApiError> {
    Ok(Json(s.identity.all_dids().await?))
}
