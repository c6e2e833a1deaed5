//! Client authentication at the token endpoint: secrets (Basic, form), public clients,
//! and a table of hostile `private_key_jwt` assertions, none of which makes the server
//! fetch anything.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64};
use serde_json::{Value, json};
use sichat::service::client_auth::{JWT_BEARER, Presented};
use sichat_core::keys::{KeyType, SecretKey};

use crate::common::TestServer;

const TOKEN_ENDPOINT: &str = "https://op.example/token";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A compact JWS with any header, signed by `key` over `header.payload`.
fn jwt(key: &SecretKey, header: Value, claims: Value) -> String {
    let input = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    );
    let sig = key.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", B64.encode(sig))
}

fn claims(jti: &str) -> Value {
    json!({"iss": "signer", "sub": "signer", "aud": TOKEN_ENDPOINT, "exp": now() + 60, "iat": now(), "jti": jti})
}

fn assertion(token: String) -> Presented {
    Presented {
        client_assertion_type: Some(JWT_BEARER.into()),
        client_assertion: Some(token),
        ..Default::default()
    }
}

#[tokio::test]
async fn secrets_and_public_clients_authenticate_by_their_registered_method_only() {
    let server = TestServer::spawn().await;
    let auth = server.services.client_auth.clone();
    let secret = "s3cret:with%special+chars-and-32-plus-characters";
    for (id, method) in [
        ("basic", "client_secret_basic"),
        ("post", "client_secret_post"),
    ] {
        let (status, _) = server
            .admin_post(
                "/admin/clients",
                json!({"client_id": id, "redirect_uris": ["https://a.example/cb"],
                "token_endpoint_auth_method": method, "client_secret": secret}),
            )
            .await;
        assert_eq!(status, 201);
    }
    let (status, _) = server
        .admin_post(
            "/admin/clients",
            json!({"client_id": "phone", "public": true, "redirect_uris": ["http://127.0.0.1/cb"]}),
        )
        .await;
    assert_eq!(status, 201);
    let form_encode =
        |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let basic = |id: &str, secret: &str| {
        Some(STANDARD.encode(format!("{}:{}", form_encode(id), form_encode(secret))))
    };
    let aud = [TOKEN_ENDPOINT];

    let ok = auth
        .authenticate(
            &Presented {
                basic: basic("basic", secret),
                ..Default::default()
            },
            &aud,
        )
        .await
        .unwrap();
    assert_eq!(ok.id, "basic");
    let ok = auth
        .authenticate(
            &Presented {
                client_id: Some("post".into()),
                client_secret: Some(secret.into()),
                ..Default::default()
            },
            &aud,
        )
        .await
        .unwrap();
    assert_eq!(ok.id, "post");
    let ok = auth
        .authenticate(
            &Presented {
                client_id: Some("phone".into()),
                ..Default::default()
            },
            &aud,
        )
        .await
        .unwrap();
    assert_eq!(ok.id, "phone");

    for (presented, error, challenge) in [
        (
            Presented {
                basic: basic("basic", "wrong-secret"),
                ..Default::default()
            },
            "invalid_client",
            true,
        ),
        (
            Presented {
                basic: basic("nobody", secret),
                ..Default::default()
            },
            "invalid_client",
            true,
        ),
        // Each client only by its registered method.
        (
            Presented {
                basic: basic("post", secret),
                ..Default::default()
            },
            "invalid_client",
            true,
        ),
        (
            Presented {
                client_id: Some("basic".into()),
                client_secret: Some(secret.into()),
                ..Default::default()
            },
            "invalid_client",
            false,
        ),
        (
            Presented {
                client_id: Some("basic".into()),
                ..Default::default()
            },
            "invalid_client",
            false,
        ),
        (
            Presented {
                client_id: Some("phone".into()),
                client_secret: Some(secret.into()),
                ..Default::default()
            },
            "invalid_client",
            false,
        ),
        // Two methods at once, or a mismatched client_id.
        (
            Presented {
                basic: basic("basic", secret),
                client_secret: Some(secret.into()),
                client_id: Some("basic".into()),
                ..Default::default()
            },
            "invalid_request",
            false,
        ),
        (
            Presented {
                basic: basic("basic", secret),
                client_id: Some("post".into()),
                ..Default::default()
            },
            "invalid_request",
            false,
        ),
        (
            Presented {
                client_secret: Some(secret.into()),
                ..Default::default()
            },
            "invalid_request",
            false,
        ),
        (Presented::default(), "invalid_client", false),
        (
            Presented {
                client_id: Some("../etc".into()),
                ..Default::default()
            },
            "invalid_client",
            false,
        ),
    ] {
        let e = auth.authenticate(&presented, &aud).await.unwrap_err();
        assert_eq!(
            (e.error, e.basic_challenge),
            (error, challenge),
            "{presented:?}: {e:?}"
        );
    }
}

#[tokio::test]
async fn hostile_client_assertions_are_refused_without_any_fetch() {
    let server = TestServer::spawn().await;
    let auth = server.services.client_auth.clone();
    // A listener that must never see a connection (jku / x5u point at it).
    let trap = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let trap_url = format!("http://{}/keys", trap.local_addr().unwrap());
    let key = SecretKey::generate(KeyType::P256);
    let mut public = key.public_key().to_jwk_value();
    public["kid"] = "k1".into();
    let (status, _) = server
        .admin_post(
            "/admin/clients",
            json!({"client_id": "signer", "redirect_uris": ["https://s.example/cb"],
            "jwks": {"keys": [public.clone()]}}),
        )
        .await;
    assert_eq!(status, 201);
    let aud = [TOKEN_ENDPOINT, "https://op.example"];
    let good = |jti: &str| jwt(&key, json!({"alg": "ES256", "kid": "k1"}), claims(jti));

    // The good one works once; its replay does not.
    assert_eq!(
        auth.authenticate(&assertion(good("j-1")), &aud)
            .await
            .unwrap()
            .id,
        "signer"
    );
    let replay = auth
        .authenticate(&assertion(good("j-1")), &aud)
        .await
        .unwrap_err();
    assert!(replay.description.contains("replay"), "{replay:?}");
    // The issuer as audience, in an array, and without kid (one registered key) also work.
    let mut c = claims("j-2");
    c["aud"] = json!(["https://other.example", "https://op.example"]);
    assert!(
        auth.authenticate(&assertion(jwt(&key, json!({"alg": "ES256"}), c)), &aud)
            .await
            .is_ok()
    );

    let other = SecretKey::generate(KeyType::P256);
    let ed = SecretKey::generate(KeyType::Ed25519);
    let hs256 = {
        // HS256 "signed" with the client's public key as the HMAC secret.
        use hmac::Mac;
        let input = format!(
            "{}.{}",
            B64.encode(json!({"alg": "HS256", "kid": "k1"}).to_string()),
            B64.encode(claims("j-hs").to_string())
        );
        let mut mac =
            hmac::Hmac::<sha2::Sha256>::new_from_slice(public.to_string().as_bytes()).unwrap();
        mac.update(input.as_bytes());
        format!("{input}.{}", B64.encode(mac.finalize().into_bytes()))
    };
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut c = claims(&format!("j-{}", rand::random::<u64>()));
        edit(&mut c);
        jwt(&key, json!({"alg": "ES256", "kid": "k1"}), c)
    };
    let cases: Vec<(&str, String)> = vec![
        (
            "alg none",
            format!(
                "{}.{}.",
                B64.encode(r#"{"alg":"none"}"#),
                B64.encode(claims("j-n").to_string())
            ),
        ),
        ("HS256 keyed with the public key", hs256),
        (
            "another key",
            jwt(&other, json!({"alg": "ES256", "kid": "k1"}), claims("j-o")),
        ),
        (
            "unknown kid",
            jwt(&key, json!({"alg": "ES256", "kid": "k2"}), claims("j-k")),
        ),
        (
            "alg of another key type",
            jwt(&ed, json!({"alg": "EdDSA", "kid": "k1"}), claims("j-e")),
        ),
        ("expired", with(&|c| c["exp"] = json!(now() - 120))),
        ("exp far ahead", with(&|c| c["exp"] = json!(now() + 3600))),
        (
            "no exp",
            with(&|c| {
                c.as_object_mut().unwrap().remove("exp");
            }),
        ),
        (
            "nbf in the future",
            with(&|c| c["nbf"] = json!(now() + 120)),
        ),
        (
            "iat in the future",
            with(&|c| c["iat"] = json!(now() + 120)),
        ),
        (
            "wrong aud",
            with(&|c| c["aud"] = json!("https://evil.example/token")),
        ),
        (
            "no aud",
            with(&|c| {
                c.as_object_mut().unwrap().remove("aud");
            }),
        ),
        ("sub not the client", with(&|c| c["sub"] = json!("someone"))),
        (
            "iss another client",
            with(&|c| {
                c["iss"] = json!("basic");
                c["sub"] = json!("basic");
            }),
        ),
        (
            "no jti",
            with(&|c| {
                c.as_object_mut().unwrap().remove("jti");
            }),
        ),
        (
            "crit",
            jwt(
                &key,
                json!({"alg": "ES256", "kid": "k1", "crit": ["exp"]}),
                claims("j-c"),
            ),
        ),
        (
            "embedded jwk",
            jwt(
                &other,
                json!({"alg": "ES256", "jwk": other.public_key().to_jwk_value()}),
                claims("j-j"),
            ),
        ),
        (
            "jku",
            jwt(
                &other,
                json!({"alg": "ES256", "jku": trap_url}),
                claims("j-u"),
            ),
        ),
        (
            "x5u",
            jwt(
                &other,
                json!({"alg": "ES256", "x5u": trap_url}),
                claims("j-x"),
            ),
        ),
        (
            "x5c",
            jwt(
                &other,
                json!({"alg": "ES256", "x5c": ["MIIB"]}),
                claims("j-5"),
            ),
        ),
        ("tampered payload", {
            let t = good("j-t");
            let parts: Vec<&str> = t.split('.').collect();
            let mut c = claims("j-t");
            c["sub"] = json!("signer ");
            format!("{}.{}.{}", parts[0], B64.encode(c.to_string()), parts[2])
        }),
        ("garbage", "not.a.jwt".into()),
    ];
    for (name, token) in cases {
        let e = auth
            .authenticate(&assertion(token), &aud)
            .await
            .unwrap_err();
        assert!(
            e.error == "invalid_client" || e.error == "invalid_request",
            "{name}: {e:?}"
        );
    }
    let wrong_type = Presented {
        client_assertion_type: Some("urn:other".into()),
        ..assertion(good("j-w"))
    };
    assert_eq!(
        auth.authenticate(&wrong_type, &aud)
            .await
            .unwrap_err()
            .error,
        "invalid_request"
    );
    // Nothing ever connected to the trap.
    let accepted = tokio::time::timeout(std::time::Duration::from_millis(100), trap.accept()).await;
    assert!(
        accepted.is_err(),
        "the server fetched a URL named by a token"
    );
}
