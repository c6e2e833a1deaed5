//! The admin API (bearer admin token): users, keys and the server's DIDs. Request and
//! response types are `sichat_core::api`'s, shared with the client.

use std::sync::Arc;

use axum::Json;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use serde_json::Value;
use sichat_core::Secret;
use sichat_core::api::{
    CreateUser, CreateUserToken, CreatedUserToken, DidEntry, GenerateKey, ImportKey, KeyInfo,
    OwnerQuery, UserTokenView, UserView,
};
use sichat_core::id::{KeyId, UserName};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Admin, ApiJson, ApiPath, ApiQuery};
use crate::app::AppState;
use crate::error::ApiError;
use crate::service::ServerKeys;
use crate::service::identity::IdentityService;
use crate::service::user_tokens::UserTokens;
use crate::service::users::UserService;

/// Body limit of the admin API (JSON documents of a few KiB).
pub const BODY_LIMIT: usize = 64 * 1024;

/// The admin routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_user, list_users))
        .routes(routes!(get_user))
        .routes(routes!(create_user_token, list_user_tokens))
        .routes(routes!(revoke_user_token))
        .routes(routes!(list_keys, generate_key))
        .routes(routes!(import_key))
        .routes(routes!(get_key))
        .routes(routes!(rotate_key))
        .routes(routes!(list_dids))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

/// `POST /admin/users`: creates a user with fresh keys and a did:web.
#[utoipa::path(post, path = "/admin/users", tag = "admin", security(("admin_token" = [])), request_body = CreateUser,
    responses((status = 201, body = UserView), (status = 401, body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 409, body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 422, body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 503, description = "Password hashing is saturated; see Retry-After", body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn create_user(
    State(users): State<Arc<UserService>>,
    _: Admin,
    ApiJson(body): ApiJson<CreateUser>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    let user = users
        .create(
            &body.name,
            body.password.map(Secret::new),
            sichat_core::store::UserProfile {
                email: body.email,
                display_name: body.display_name,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// `GET /admin/users`: every user.
#[utoipa::path(get, path = "/admin/users", tag = "admin", security(("admin_token" = [])),
    responses((status = 200, body = [UserView]), (status = 401, body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn list_users(
    State(users): State<Arc<UserService>>,
    _: Admin,
) -> Result<Json<Vec<UserView>>, ApiError> {
    Ok(Json(users.list().await?))
}

/// `GET /admin/users/{name}`: one user with their keys.
#[utoipa::path(get, path = "/admin/users/{name}", tag = "admin", security(("admin_token" = [])),
    params(("name" = String, Path)),
    responses((status = 200, body = UserView), (status = 404, body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn get_user(
    State(users): State<Arc<UserService>>,
    _: Admin,
    ApiPath(name): ApiPath<UserName>,
) -> Result<Json<UserView>, ApiError> {
    Ok(Json(users.get(&name).await?))
}

/// `GET /admin/keys?owner=`: the owner's keys, active and retired.
#[utoipa::path(get, path = "/admin/keys", tag = "admin", security(("admin_token" = [])), params(OwnerQuery),
    responses((status = 200, body = [KeyInfo]), (status = 401, body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 404, body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 422, body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn list_keys(
    State(users): State<Arc<UserService>>,
    State(keys): State<Arc<ServerKeys>>,
    _: Admin,
    ApiQuery(q): ApiQuery<OwnerQuery>,
) -> Result<Json<Vec<KeyInfo>>, ApiError> {
    let owner = users.owner(q.owner.as_deref()).await?;
    Ok(Json(keys.list(&owner).await?))
}

/// `POST /admin/keys`: generates a key for an owner.
#[utoipa::path(post, path = "/admin/keys", tag = "admin", security(("admin_token" = [])), request_body = GenerateKey,
    responses((status = 201, body = KeyInfo), (status = 404, body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 422, body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn generate_key(
    State(users): State<Arc<UserService>>,
    State(keys): State<Arc<ServerKeys>>,
    _: Admin,
    ApiJson(body): ApiJson<GenerateKey>,
) -> Result<(StatusCode, Json<KeyInfo>), ApiError> {
    let owner = users.owner(body.owner.as_deref()).await?;
    Ok((
        StatusCode::CREATED,
        Json(keys.generate(&owner, body.key_type).await?),
    ))
}

/// `POST /admin/keys/import`: imports a private JWK (sealed at rest at once).
#[utoipa::path(post, path = "/admin/keys/import", tag = "admin", security(("admin_token" = [])), request_body = ImportKey,
    responses((status = 201, body = KeyInfo), (status = 409, body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 422, body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn import_key(
    State(users): State<Arc<UserService>>,
    State(keys): State<Arc<ServerKeys>>,
    _: Admin,
    ApiJson(body): ApiJson<ImportKey>,
) -> Result<(StatusCode, Json<KeyInfo>), ApiError> {
    let mut jwk = body.jwk;
    let imported = match users.owner(body.owner.as_deref()).await {
        Ok(owner) => keys.import_jwk(&owner, &jwk).await.map_err(ApiError::from),
        Err(e) => Err(e.into()),
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
    State(keys): State<Arc<ServerKeys>>,
    _: Admin,
    ApiPath(id): ApiPath<KeyId>,
) -> Result<Json<KeyInfo>, ApiError> {
    Ok(Json(keys.get(&id).await?))
}

/// `POST /admin/keys/{id}/rotate`: replaces an active key by a new one of the same type;
/// the old key stays in the DID document for verification.
#[utoipa::path(post, path = "/admin/keys/{id}/rotate", tag = "admin", security(("admin_token" = [])), params(("id" = String, Path)),
    responses((status = 201, body = KeyInfo), (status = 404, body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 409, body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn rotate_key(
    State(keys): State<Arc<ServerKeys>>,
    _: Admin,
    ApiPath(id): ApiPath<KeyId>,
) -> Result<(StatusCode, Json<KeyInfo>), ApiError> {
    Ok((StatusCode::CREATED, Json(keys.rotate(&id).await?)))
}

/// `GET /admin/dids`: every DID the server controls (did:web and did:key).
#[utoipa::path(get, path = "/admin/dids", tag = "admin", security(("admin_token" = [])),
    responses((status = 200, body = [DidEntry]), (status = 401, body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn list_dids(
    State(identity): State<Arc<IdentityService>>,
    _: Admin,
) -> Result<Json<Vec<DidEntry>>, ApiError> {
    Ok(Json(identity.all_dids().await?))
}

/// `POST /admin/users/{name}/tokens`: a new API token for the user, shown this once.
#[utoipa::path(post, path = "/admin/users/{name}/tokens", tag = "admin", security(("admin_token" = [])),
    params(("name" = String, Path)), request_body = CreateUserToken,
    responses((status = 201, body = CreatedUserToken),
              (status = 401, body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 404, body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 422, description = "A label over 128 characters or with control characters", body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn create_user_token(
    State(tokens): State<Arc<UserTokens>>,
    _: Admin,
    ApiPath(name): ApiPath<UserName>,
    ApiJson(body): ApiJson<CreateUserToken>,
) -> Result<(StatusCode, Json<CreatedUserToken>), ApiError> {
    let (info, token) = tokens.create(&name, body.label.as_deref()).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedUserToken {
            info,
            token: token.expose().clone(),
        }),
    ))
}

/// `GET /admin/users/{name}/tokens`: the user's tokens (never the secrets).
#[utoipa::path(get, path = "/admin/users/{name}/tokens", tag = "admin", security(("admin_token" = [])),
    params(("name" = String, Path)),
    responses((status = 200, body = [UserTokenView]),
              (status = 401, body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 404, body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn list_user_tokens(
    State(tokens): State<Arc<UserTokens>>,
    _: Admin,
    ApiPath(name): ApiPath<UserName>,
) -> Result<Json<Vec<UserTokenView>>, ApiError> {
    Ok(Json(tokens.list(&name).await?))
}

/// `DELETE /admin/users/{name}/tokens/{id}`: revokes the token at once.
#[utoipa::path(delete, path = "/admin/users/{name}/tokens/{id}", tag = "admin", security(("admin_token" = [])),
    params(("name" = String, Path), ("id" = String, Path)),
    responses((status = 204, description = "Revoked"),
              (status = 401, body = crate::http::ProblemBody, content_type = "application/problem+json"),
              (status = 404, description = "No such user, or no such unrevoked token of theirs", body = crate::http::ProblemBody, content_type = "application/problem+json")))]
pub async fn revoke_user_token(
    State(tokens): State<Arc<UserTokens>>,
    _: Admin,
    path: Result<axum::extract::Path<(String, String)>, axum::extract::rejection::PathRejection>,
) -> Result<StatusCode, ApiError> {
    let axum::extract::Path((name, id)) = path?;
    let name = UserName::parse(&name).map_err(|_| ApiError::not_found("no such user"))?;
    if id.len() > 64 {
        return Err(ApiError::not_found("no such token"));
    }
    if tokens.revoke(&name, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "user `{name}` has no active token `{id}`"
        )))
    }
}
