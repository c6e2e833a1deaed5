//! `/admin/clients`: registering OpenID Connect clients over the admin API.

use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use sichat_core::keys::{KeyType, SecretKey};

use crate::common::{TestServer, assert_problem};

#[tokio::test]
async fn clients_are_registered_listed_and_removed_with_the_secret_shown_once() {
    let server = TestServer::spawn().await;
    let body = json!({"client_id": "app", "redirect_uris": ["https://app.example/cb"]});
    // Only the admin.
    let resp = server
        .client
        .post(server.url("/admin/clients"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_problem(resp, 401, "unauthorized").await;
    let resp = server
        .client
        .get(server.url("/admin/clients"))
        .send()
        .await
        .unwrap();
    assert_problem(resp, 401, "unauthorized").await;

    let (status, created) = server.admin_post("/admin/clients", body.clone()).await;
    assert_eq!(status, 201, "{created}");
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 43);
    assert_eq!(created["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(created["require_pkce"], true);
    assert_eq!(created["grant_types"], json!(["authorization_code"]));
    assert_problem(
        server.admin_post_raw("/admin/clients", &body).await,
        409,
        "conflict",
    )
    .await;

    let key = SecretKey::generate(KeyType::Ed25519)
        .public_key()
        .to_jwk_value();
    let (status, jwt) = server
        .admin_post(
            "/admin/clients",
            json!({"client_id": "signer", "redirect_uris": ["https://s.example/cb"],
                   "jwks": {"keys": [key]}, "id_token_signed_response_alg": "ES256"}),
        )
        .await;
    assert_eq!(status, 201, "{jwt}");
    assert!(jwt.get("client_secret").is_none());
    assert_eq!(
        (
            jwt["token_endpoint_auth_method"].as_str(),
            jwt["has_jwks"].as_bool()
        ),
        (Some("private_key_jwt"), Some(true))
    );

    let (status, list) = server.admin_get("/admin/clients").await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["app", "signer"]);
    assert!(!list.to_string().contains(&secret), "never shown again");
    let (status, one) = server.admin_get("/admin/clients/app").await;
    assert_eq!((status, one["client_id"].as_str()), (200, Some("app")));
    assert!(one.get("client_secret").is_none());

    // Stored as a digest only.
    let stored: Vec<Value> = server
        .services
        .store
        .db()
        .query_all_raw(sea_orm::Statement::from_string(
            server.services.store.db().get_database_backend(),
            "SELECT secret_sha256 FROM oidc_clients WHERE id = 'app'",
        ))
        .await
        .unwrap()
        .into_iter()
        .map(|row| Value::String(row.try_get::<String>("", "secret_sha256").unwrap()))
        .collect();
    assert_eq!(
        stored,
        [Value::String(sichat::service::oidc_clients::secret_digest(
            &secret
        ))]
    );

    let resp = server
        .client
        .delete(server.url("/admin/clients/app"))
        .bearer_auth(crate::common::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    for path in [
        "/admin/clients/app",
        "/admin/clients/no%20such",
        "/admin/clients/..%2F..%2Fetc",
    ] {
        assert_problem(server.admin_get_raw(path).await, 404, "not-found").await;
    }
    let resp = server
        .client
        .delete(server.url("/admin/clients/app"))
        .bearer_auth(crate::common::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_problem(resp, 404, "not-found").await;
}

#[tokio::test]
async fn bad_client_metadata_is_a_422_naming_the_field() {
    let server = TestServer::spawn().await;
    for (body, field) in [
        (
            json!({"client_id": "a", "redirect_uris": ["http://evil.example/cb"]}),
            "redirect_uris",
        ),
        (
            json!({"client_id": "a", "redirect_uris": ["https://a.example/cb#x"]}),
            "redirect_uris",
        ),
        (
            json!({"client_id": "a", "redirect_uris": ["javascript:alert(1)"], "public": true}),
            "redirect_uris",
        ),
        (
            json!({"client_id": "a", "redirect_uris": ["https://a.example/cb"], "grant_types": ["implicit"]}),
            "grant_types",
        ),
        (
            json!({"client_id": "a", "redirect_uris": ["https://a.example/cb"], "public": true, "grant_types": ["client_credentials"]}),
            "grant_types",
        ),
        (
            json!({"client_id": "a", "redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "private_key_jwt"}),
            "jwks",
        ),
        (
            json!({"client_id": "a", "redirect_uris": ["https://a.example/cb"], "id_token_signed_response_alg": "none"}),
            "id_token_signed_response_alg",
        ),
        (
            json!({"client_id": "a b", "redirect_uris": ["https://a.example/cb"]}),
            "client_id",
        ),
    ] {
        let problem = assert_problem(
            server.admin_post_raw("/admin/clients", &body).await,
            422,
            "validation-failed",
        )
        .await;
        assert_eq!(problem["field"], field, "{body}");
    }
    // Unknown members and wrong types are refused by the body's schema.
    for body in [
        json!({"client_id": "a", "redirect_uris": ["https://a.example/cb"], "response_types": ["token"]}),
        json!({"client_id": "a", "redirect_uris": "https://a.example/cb"}),
        json!({"redirect_uris": ["https://a.example/cb"]}),
    ] {
        let resp = server.admin_post_raw("/admin/clients", &body).await;
        assert!(
            resp.status() == 400 || resp.status() == 422,
            "{body}: {}",
            resp.status()
        );
    }
    let (_, list) = server.admin_get("/admin/clients").await;
    assert_eq!(list, json!([]), "nothing was registered");
}
