//! Private keys never appear in clear: not in the database, not in the logs.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use serde_json::json;
use sichat_core::keys::Kek;

use crate::common::{ADMIN_TOKEN, MASTER_KEY, ServerProcess, fresh_database_url};

fn encodings(raw: &[u8]) -> Vec<Vec<u8>> {
    let mut forms = vec![raw.to_vec()];
    for text in [
        hex::encode(raw),
        hex::encode_upper(raw),
        STANDARD.encode(raw),
        STANDARD_NO_PAD.encode(raw),
        URL_SAFE.encode(raw),
        URL_SAFE_NO_PAD.encode(raw),
        bs58::encode(raw).into_string(),
    ] {
        forms.push(text.into_bytes());
    }
    forms
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn private_keys_are_absent_from_database_files_rows_and_logs() {
    let dir = tempfile::tempdir().unwrap();
    let db_url = fresh_database_url(dir.path()).await;
    let server = ServerProcess::start(dir.path(), &db_url, "debug,tower_http=trace").await;
    let client = reqwest::Client::new();
    let post = |path: &str, body: serde_json::Value| {
        client
            .post(format!("{}{path}", server.base))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
    };
    assert_eq!(
        post(
            "/admin/users",
            json!({"name": "grace", "password": "a fine password"})
        )
        .await
        .unwrap()
        .status(),
        201
    );
    let jwk = json!({"kty":"OKP","crv":"Ed25519","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
    assert_eq!(
        post("/admin/keys/import", json!({"jwk": jwk}))
            .await
            .unwrap()
            .status(),
        201
    );
    // A bad import echoes nothing of the key either.
    let mut bad = jwk.clone();
    // A valid public key with a `d` that does not belong to it.
    bad["x"] = json!("O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik"); // did:key vector, seed 0
    let resp = post("/admin/keys/import", json!({"jwk": bad}))
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    let body = resp.text().await.unwrap();
    assert!(
        !body.contains("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"),
        "the private key is not echoed: {body}"
    );
    assert_eq!(
        post("/admin/keys", json!({"type": "X25519"}))
            .await
            .unwrap()
            .status(),
        201
    );
    let logs = server.stop();
    assert!(logs.contains("request"), "debug logs were captured");

    // Unseal every key with the master key to learn the secrets we must not find.
    let db = sichat::store::connect(&db_url).await.unwrap();
    let kek = Kek::parse(MASTER_KEY).unwrap();
    let records = sichat::store::keys::list_all(&db).await.unwrap();
    assert!(records.len() >= 8);
    let mut secrets = Vec::new();
    for r in &records {
        secrets.push(
            kek.open(&r.sealed_private, r.id.as_str().as_bytes())
                .unwrap()
                .to_vec(),
        );
    }

    // Every value the database holds, read back through the entities, plus (SQLite) the
    // database files themselves.
    let mut stored = Vec::new();
    for r in &records {
        stored.extend(
            format!(
                "{}|{}|{}|{}|",
                r.id,
                r.owner,
                r.public_multibase,
                r.status.as_str()
            )
            .into_bytes(),
        );
        stored.extend(&r.sealed_private);
    }
    for u in sichat::store::users::list(&db).await.unwrap() {
        stored.extend(format!("{}|{}|{:?}|", u.id, u.name, u.password_hash).into_bytes());
    }
    for name in [
        "admin_token_sha256",
        "kek_check",
        "public_url",
        "server_keys_created",
    ] {
        let value = sichat::store::settings::get(&db, name)
            .await
            .unwrap()
            .unwrap_or_default();
        assert!(!value.is_empty(), "{name} is set");
        stored.extend(value.into_bytes());
    }
    if db_url.starts_with("sqlite:") {
        for name in ["sichat.db", "sichat.db-wal", "sichat.db-shm"] {
            if let Ok(bytes) = std::fs::read(dir.path().join(name)) {
                stored.extend(bytes);
            }
        }
    }
    for secret in &secrets {
        for form in encodings(secret) {
            assert!(
                !contains(&stored, &form),
                "a private key form is stored in clear"
            );
            assert!(
                !contains(logs.as_bytes(), &form),
                "a private key form is in the logs"
            );
        }
    }
    assert!(
        !contains(&stored, ADMIN_TOKEN.as_bytes()),
        "the admin token is stored hashed"
    );
    assert!(
        !contains(&stored, b"a fine password"),
        "passwords are stored hashed"
    );
}
