//! The admin API: authentication, users, keys, and every refusal.

use serde_json::json;

use crate::common::{TestServer, assert_problem};

#[tokio::test]
async fn admin_api_requires_the_admin_token() {
    let server = TestServer::spawn().await;
    for path in ["/admin/users", "/admin/keys", "/admin/dids"] {
        let resp = server.get(path).await;
        assert_eq!(resp.headers()["www-authenticate"], "Bearer");
        assert_problem(resp, 401, "unauthorized").await;
        let resp = server
            .client
            .get(server.url(path))
            .bearer_auth("sat_wrong")
            .send()
            .await
            .unwrap();
        assert_problem(resp, 401, "unauthorized").await;
    }
    let resp = server
        .client
        .post(server.url("/admin/users"))
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_problem(resp, 401, "unauthorized").await;
    let (status, _) = server.admin_get("/admin/users").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn user_creation_validates_and_refuses_duplicates() {
    let server = TestServer::spawn().await;
    assert_problem(
        server
            .admin_post_raw("/admin/users", &json!({"name": "Bad Name"}))
            .await,
        422,
        "validation-failed",
    )
    .await;
    assert_problem(
        server
            .admin_post_raw("/admin/users", &json!({"name": ""}))
            .await,
        422,
        "validation-failed",
    )
    .await;
    assert_problem(
        server
            .admin_post_raw("/admin/users", &json!({"name": "../etc"}))
            .await,
        422,
        "validation-failed",
    )
    .await;
    assert_problem(
        server
            .admin_post_raw("/admin/users", &json!({"name": "x".repeat(65)}))
            .await,
        422,
        "validation-failed",
    )
    .await;
    assert_problem(
        server
            .admin_post_raw(
                "/admin/users",
                &json!({"name": "dave", "password": "short"}),
            )
            .await,
        422,
        "validation-failed",
    )
    .await;
    assert_problem(
        server
            .admin_post_raw("/admin/users", &json!({"nam": "dave"}))
            .await,
        422,
        "validation-failed",
    )
    .await;
    assert_problem(
        server
            .admin_post_raw("/admin/users", &json!({"name": 5}))
            .await,
        422,
        "validation-failed",
    )
    .await;
    assert_eq!(
        server
            .admin_post_raw("/admin/users", &json!({"name": "dave"}))
            .await
            .status(),
        201
    );
    let problem = assert_problem(
        server
            .admin_post_raw("/admin/users", &json!({"name": "dave"}))
            .await,
        409,
        "conflict",
    )
    .await;
    assert!(problem["detail"].as_str().unwrap().contains("dave"));
    let (status, users) = server.admin_get("/admin/users").await;
    assert_eq!(status, 200);
    assert_eq!(
        users.as_array().unwrap().len(),
        1,
        "failed creations left nothing behind"
    );
    let (status, dave) = server.admin_get("/admin/users/dave").await;
    assert_eq!((status, dave["name"].as_str()), (200, Some("dave")));
    let resp = server.admin_get_raw("/admin/users/nobody").await;
    assert_problem(resp, 404, "not-found").await;
}

#[tokio::test]
async fn keys_generate_import_and_list_by_owner() {
    let server = TestServer::spawn().await;
    server
        .admin_post("/admin/users", json!({"name": "erin"}))
        .await;
    let (status, key) = server
        .admin_post(
            "/admin/keys",
            json!({"type": "P-256", "owner": "user:erin"}),
        )
        .await;
    assert_eq!(status, 201, "{key}");
    assert_eq!(key["publicKeyJwk"]["crv"], "P-256");
    assert!(key["didKey"].as_str().unwrap().starts_with("did:key:zDn"));
    let (_, listed) = server.admin_get("/admin/keys?owner=user:erin").await;
    assert_eq!(listed.as_array().unwrap().len(), 4);
    let (status, one) = server
        .admin_get(&format!("/admin/keys/{}", key["id"].as_str().unwrap()))
        .await;
    assert_eq!((status, &one), (200, &key));

    // RFC 8037 A.1 key.
    let jwk = json!({"kty":"OKP","crv":"Ed25519","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
    let (status, imported) = server
        .admin_post("/admin/keys/import", json!({"jwk": jwk}))
        .await;
    assert_eq!(status, 201, "{imported}");
    assert_eq!(
        imported["publicKeyJwk"]["x"],
        "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    );
    assert!(imported.get("d").is_none() && imported["publicKeyJwk"].get("d").is_none());
    let again = server
        .admin_post_raw("/admin/keys/import", &json!({"jwk": jwk}))
        .await;
    let problem = assert_problem(again, 409, "conflict").await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains(imported["publicKeyMultibase"].as_str().unwrap()),
        "the same key twice is a conflict naming it: {problem}"
    );
    assert!(
        !problem
            .to_string()
            .contains("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"),
        "the private key is never echoed"
    );
}

#[tokio::test]
async fn key_endpoints_refuse_bad_input() {
    let server = TestServer::spawn().await;
    assert_problem(
        server
            .admin_post_raw("/admin/keys", &json!({"type": "RSA-4096"}))
            .await,
        422,
        "validation-failed",
    )
    .await;
    // RSA keys are the server's (ID tokens), never a user's: their DIDs cannot carry them.
    assert_eq!(
        server
            .admin_post("/admin/users", json!({"name": "rsa-user"}))
            .await
            .0,
        201
    );
    assert_problem(
        server
            .admin_post_raw(
                "/admin/keys",
                &json!({"type": "RSA", "owner": "user:rsa-user"}),
            )
            .await,
        422,
        "validation-failed",
    )
    .await;
    assert_problem(
        server
            .admin_post_raw("/admin/keys", &json!({"type": "Ed25519", "owner": "root"}))
            .await,
        422,
        "validation-failed",
    )
    .await;
    assert_problem(
        server
            .admin_post_raw(
                "/admin/keys",
                &json!({"type": "Ed25519", "owner": "user:ghost"}),
            )
            .await,
        404,
        "not-found",
    )
    .await;
    assert_problem(server.admin_post_raw("/admin/keys/import", &json!({"jwk": {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}})).await, 422, "validation-failed").await;
    assert_problem(
        server
            .admin_post_raw(
                "/admin/keys/import",
                &json!({"jwk": {"kty": "oct", "k": "AAAA"}}),
            )
            .await,
        422,
        "validation-failed",
    )
    .await;
    assert_problem(server.admin_post_raw("/admin/keys/import", &json!({"jwk": {"kty":"OKP","crv":"Ed25519","d":"AAAA","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}})).await, 422, "validation-failed").await;
    assert_problem(
        server
            .admin_post_raw("/admin/keys/nope/rotate", &json!({}))
            .await,
        404,
        "not-found",
    )
    .await;
    let resp = server.admin_get_raw("/admin/keys/nope").await;
    assert_problem(resp, 404, "not-found").await;
    let resp = server.admin_get_raw("/admin/keys?owner=user:ghost").await;
    assert_problem(resp, 404, "not-found").await;
    let resp = server.admin_get_raw("/admin/keys?bogus=1").await;
    assert_problem(resp, 400, "bad-request").await;
}

#[tokio::test]
async fn admin_dids_lists_did_web_and_did_key_identities() {
    let server = TestServer::spawn().await;
    server
        .admin_post("/admin/users", json!({"name": "frank"}))
        .await;
    let (status, dids) = server.admin_get("/admin/dids").await;
    assert_eq!(status, 200);
    let dids: Vec<&str> = dids
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["did"].as_str().unwrap())
        .collect();
    assert_eq!(dids[0], server.host_did());
    assert!(dids.contains(&format!("{}:users:frank", server.host_did()).as_str()));
    assert_eq!(
        dids.iter().filter(|d| d.starts_with("did:key:")).count(),
        4,
        "2 signing keys each for server and frank"
    );
}

/// A user and their keys are one transaction: when a key insert fails, no user remains.
#[tokio::test]
async fn user_creation_is_atomic_when_a_key_insert_fails() {
    use sea_orm::ConnectionTrait;
    let server = TestServer::spawn().await;
    let db = sichat::store::connect(&server.database_url).await.unwrap();
    // Fault injection: the database refuses keys for user `trap`.
    let ddl: &[&str] = if crate::common::is_postgres() {
        &[
            "CREATE FUNCTION sichat_trap() RETURNS trigger AS $$ BEGIN IF NEW.user_id IN (SELECT id FROM users WHERE name = 'trap') THEN RAISE EXCEPTION 'trap'; END IF; RETURN NEW; END; $$ LANGUAGE plpgsql",
            "CREATE TRIGGER trap BEFORE INSERT ON keys FOR EACH ROW EXECUTE FUNCTION sichat_trap()",
        ]
    } else {
        &[
            "CREATE TRIGGER trap BEFORE INSERT ON keys WHEN NEW.user_id IN (SELECT id FROM users WHERE name = 'trap') BEGIN SELECT RAISE(ABORT, 'trap'); END",
        ]
    };
    for stmt in ddl {
        db.execute_unprepared(stmt).await.unwrap();
    }
    let resp = server
        .admin_post_raw("/admin/users", &json!({"name": "trap"}))
        .await;
    let problem = assert_problem(resp, 500, "internal").await;
    assert_eq!(
        problem["detail"], "an unexpected error occurred",
        "no driver details leak"
    );
    let resp = server.admin_get_raw("/admin/users/trap").await;
    assert_problem(resp, 404, "not-found").await;
    let trap = sichat_core::id::Owner::parse("user:trap").unwrap();
    assert!(
        sichat::store::keys::list(&db, &trap)
            .await
            .unwrap()
            .is_empty()
    );
    let all = sichat::store::keys::list_all(&db).await.unwrap();
    assert!(
        all.iter()
            .all(|k| k.owner == sichat_core::id::Owner::Server),
        "no key of the failed user remains"
    );
    assert_eq!(
        server
            .admin_post("/admin/users", json!({"name": "nottrap"}))
            .await
            .0,
        201,
        "other users still work"
    );
}

/// Password hashing is bounded: past the hashing slots and the queue, a request is told
/// to come back (503 + Retry-After) and leaves nothing behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saturated_password_hashing_answers_503_with_retry_after() {
    let server = TestServer::spawn_with(
        crate::common::Options::default()
            .with("SICHAT_PASSWORD_HASH_CONCURRENCY", "1")
            .with("SICHAT_PASSWORD_HASH_QUEUE", "0"),
    )
    .await;
    let bodies: Vec<_> = (0..8)
        .map(|i| json!({"name": format!("p{i}"), "password": "a long password"}))
        .collect();
    let requests = bodies
        .iter()
        .map(|body| server.admin_post_raw("/admin/users", body));
    let responses = futures_util::future::join_all(requests).await;
    let (mut created, mut busy) = (0, 0);
    for resp in responses {
        match resp.status().as_u16() {
            201 => created += 1,
            503 => {
                assert_eq!(resp.headers()["retry-after"], "1");
                assert_problem(resp, 503, "server-busy").await;
                busy += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(created >= 1 && busy >= 1, "{created} created, {busy} busy");
    let (_, users) = server.admin_get("/admin/users").await;
    assert_eq!(
        users.as_array().unwrap().len(),
        created,
        "refused requests left no user"
    );
}

#[tokio::test]
async fn a_users_profile_is_kept_and_checked() {
    let server = TestServer::spawn().await;
    let (status, user) = server
        .admin_post(
            "/admin/users",
            json!({"name": "gail", "email": "gail@example.org", "displayName": "Gail Exämple"}),
        )
        .await;
    assert_eq!(status, 201, "{user}");
    let (_, again) = server.admin_get("/admin/users/gail").await;
    assert_eq!(again["email"], "gail@example.org");
    assert_eq!(again["displayName"], "Gail Exämple");
    for (body, field) in [
        (json!({"name": "h1", "email": "not-an-address"}), "email"),
        (json!({"name": "h2", "email": "a b@example.org"}), "email"),
        (json!({"name": "h3", "email": "a@b@example.org"}), "email"),
        (
            json!({"name": "h4", "email": format!("{}@example.org", "a".repeat(250))}),
            "email",
        ),
        (json!({"name": "h5", "displayName": "  "}), "displayName"),
        (
            json!({"name": "h6", "displayName": "a\u{0}b"}),
            "displayName",
        ),
    ] {
        let problem = assert_problem(
            server.admin_post_raw("/admin/users", &body).await,
            422,
            "validation-failed",
        )
        .await;
        assert_eq!(problem["field"], field, "{body}");
    }
    let (_, users) = server.admin_get("/admin/users").await;
    assert_eq!(
        users.as_array().unwrap().len(),
        1,
        "nothing else was created"
    );
}
