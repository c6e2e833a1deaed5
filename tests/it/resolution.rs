//! `GET /1.0/identifiers/{did}` for every supported method, and its refusals.

use serde_json::Value;

use crate::common::{Options, TestServer, assert_problem};

const DID_KEY: &str = "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp";
const DID_JWK: &str = "did:jwk:eyJjcnYiOiJQLTI1NiIsImt0eSI6IkVDIiwieCI6ImFjYklRaXVNczNpOF91c3pFakoydHBUdFJNNEVVM3l6OTFQSDZDZEgyVjAiLCJ5IjoiX0tjeUxqOXZXTXB0bm1LdG00NkdxRHo4d2Y3NEk1TEtncmwyR3pIM25TRSJ9";
const DID_PEER_0: &str = "did:peer:0z6MkqRYqQiSgvZQdnBytw86Qbs2ZWUkGv22od935YF4s8M7V";
const DID_PEER_2: &str = "did:peer:2.Ez6LSpSrLxbAhg2SHwKk7kwpsH7DM7QjFS5iK6qP87eViohud.Vz6MkqRYqQiSgvZQdnBytw86Qbs2ZWUkGv22od935YF4s8M7V.SeyJ0IjoiZG0iLCJzIjoiaHR0cHM6Ly9leGFtcGxlLmNvbS9lbmRwb2ludDEiLCJyIjpbImRpZDpleGFtcGxlOnNvbWVtZWRpYXRvciNzb21la2V5MSJdLCJhIjpbImRpZGNvbW0vdjIiLCJkaWRjb21tL2FpcDI7ZW52PXJmYzU4NyJdfQ";

#[tokio::test]
async fn offline_methods_resolve_in_universal_resolver_shape() {
    let server = TestServer::spawn().await;
    for did in [DID_KEY, DID_JWK, DID_PEER_0, DID_PEER_2] {
        let resp = server.get(&format!("/1.0/identifiers/{did}")).await;
        assert_eq!(resp.status(), 200, "{did}");
        assert_eq!(
            resp.headers()["content-type"],
            "application/ld+json;profile=\"https://w3id.org/did-resolution\""
        );
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["@context"], "https://w3id.org/did-resolution/v1");
        assert_eq!(body["didDocument"]["id"], did);
        assert_eq!(
            body["didResolutionMetadata"]["contentType"],
            "application/did+ld+json"
        );
        assert!(body["didDocumentMetadata"].is_object());
    }
}

#[tokio::test]
async fn accept_did_json_returns_the_bare_document_and_encoded_dids_work() {
    let server = TestServer::spawn().await;
    let resp = server
        .client
        .get(server.url(&format!("/1.0/identifiers/{DID_KEY}")))
        .header("accept", "application/did+ld+json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "application/did+ld+json");
    let doc: Value = resp.json().await.unwrap();
    assert_eq!(doc["id"], DID_KEY);
    // encodeURIComponent form, with the did:web port's %3A encoded again.
    let encoded = format!("{}:users:nobody", server.host_did())
        .replace('%', "%25")
        .replace(':', "%3A");
    let resp = server.get(&format!("/1.0/identifiers/{encoded}")).await;
    assert_problem(resp, 404, "did-not-found").await;
    let (status, body) = server
        .get_json(&format!(
            "/1.0/identifiers/{}",
            server.host_did().replace('%', "%25").replace(':', "%3A")
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["didDocument"]["id"],
        server.host_did(),
        "decoded once: the port's %3A stays encoded in the DID"
    );
}

/// DID URL dereferencing (DID Resolution §Dereferencing): a fragment names a verification
/// method or a service; both did:peer:2 key-id conventions find the same key.
#[tokio::test]
async fn did_urls_with_fragments_dereference_to_methods_and_services() {
    let server = TestServer::spawn().await;
    let x25519 = "z6LShs9GGnqk85isEBzzshkuVWrVKsRp24GnDuHk8QWkARMW";
    let resp = server
        .get(&format!("/1.0/identifiers/{DID_KEY}%23{x25519}"))
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "application/ld+json;profile=\"https://w3id.org/did-url-dereferencing\""
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["content"]["id"], format!("{DID_KEY}#{x25519}"));
    assert_eq!(body["content"]["publicKeyMultibase"], x25519);
    assert_eq!(
        body["content"]["@context"][0], "https://www.w3.org/ns/did/v1",
        "the method keeps the context it is read under"
    );
    assert_eq!(
        body["dereferencingMetadata"]["contentType"],
        "application/did+ld+json"
    );

    // did:peer:2: the SICPA id and the `#key-N` id name the same key; services too.
    let sicpa = server
        .client
        .get(server.url(&format!("/1.0/identifiers/{DID_PEER_2}%236MkqRYqQ")))
        .header("accept", "application/did+json")
        .send()
        .await
        .unwrap();
    assert_eq!(sicpa.headers()["content-type"], "application/did+json");
    let sicpa: Value = sicpa.json().await.unwrap();
    let (_, numbered) = server
        .get_json(&format!("/1.0/identifiers/{DID_PEER_2}%23key-2"))
        .await;
    assert_eq!(
        numbered["content"]["publicKeyMultibase"],
        sicpa["publicKeyMultibase"]
    );
    assert_eq!(
        sicpa["publicKeyMultibase"],
        "z6MkqRYqQiSgvZQdnBytw86Qbs2ZWUkGv22od935YF4s8M7V"
    );
    let (status, service) = server
        .get_json(&format!(
            "/1.0/identifiers/{DID_PEER_2}%23didcommmessaging-0"
        ))
        .await;
    assert_eq!(status, 200, "{service}");
    assert_eq!(service["content"]["type"], "DIDCommMessaging");
    // Fully percent-encoded, as encodeURIComponent makes it.
    let encoded = format!("{DID_KEY}#{x25519}")
        .replace(':', "%3A")
        .replace('#', "%23");
    let (status, body) = server
        .get_json(&format!("/1.0/identifiers/{encoded}"))
        .await;
    assert_eq!(
        (status, &body["content"]["id"]),
        (200, &Value::from(format!("{DID_KEY}#{x25519}")))
    );

    // A fragment the document does not have, a malformed one, a path.
    let resp = server
        .get(&format!("/1.0/identifiers/{DID_KEY}%23nothing"))
        .await;
    let problem = assert_problem(resp, 404, "did-not-found").await;
    assert_eq!(problem["dereferencingMetadata"]["error"], "notFound");
    assert_eq!(problem["content"], Value::Null);
    let resp = server.get(&format!("/1.0/identifiers/{DID_KEY}%23")).await;
    let problem = assert_problem(resp, 400, "invalid-did-url").await;
    assert_eq!(problem["dereferencingMetadata"]["error"], "invalidDidUrl");
    let resp = server
        .get(&format!("/1.0/identifiers/{DID_KEY}%2Fpath%23x"))
        .await;
    assert_problem(resp, 400, "invalid-did-url").await;
    // The server's own did:web: its keys by fragment, from the cached document.
    let (_, doc) = server.get_json("/.well-known/did.json").await;
    let first = doc["verificationMethod"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let fragment = first.rsplit('#').next().unwrap();
    let (status, body) = server
        .get_json(&format!(
            "/1.0/identifiers/{}%23{fragment}",
            server.host_did()
        ))
        .await;
    assert_eq!(
        (status, body["content"]["id"].as_str()),
        (200, Some(first.as_str()))
    );
}

#[tokio::test]
async fn did_web_of_another_server_is_fetched_over_the_network_when_loopback_is_allowed() {
    let other = TestServer::spawn().await;
    let resolver = TestServer::spawn_with(Options::allow_loopback()).await;
    let did = other.host_did();
    let (status, body) = resolver.get_json(&format!("/1.0/identifiers/{did}")).await;
    assert_eq!(status, 200, "{body}");
    let (_, served) = other.get_json("/.well-known/did.json").await;
    assert_eq!(body["didDocument"], served);
    // Unknown path on that host: its 404 problem becomes notFound.
    let resp = resolver
        .get(&format!("/1.0/identifiers/{did}:users:ghost"))
        .await;
    let problem = assert_problem(resp, 404, "did-not-found").await;
    assert_eq!(problem["didResolutionMetadata"]["error"], "notFound");
}

#[tokio::test]
async fn did_web_to_loopback_or_private_hosts_is_refused_by_default() {
    let other = TestServer::spawn().await;
    let server = TestServer::spawn().await;
    for did in [
        other.host_did(),
        "did:web:10.0.0.1".to_owned(),
        "did:web:169.254.169.254".to_owned(),
        "did:web:localhost%3A1".to_owned(),
    ] {
        let resp = server.get(&format!("/1.0/identifiers/{did}")).await;
        let problem = assert_problem(resp, 400, "did-web-refused").await;
        assert_eq!(
            problem["didResolutionMetadata"]["error"], "invalidDid",
            "{did}"
        );
    }
}

#[tokio::test]
async fn malformed_and_unsupported_dids_are_problem_4xx() {
    let server = TestServer::spawn().await;
    let cases = [
        ("not-a-did", "invalid-did", "invalidDid"),
        ("did:key:abc", "invalid-did", "invalidDid"),
        ("did:key:z6MkBAD", "invalid-public-key", "invalidPublicKey"),
        ("did:jwk:notbase64!", "invalid-did", "invalidDid"),
        (
            "did:jwk:eyJrdHkiOiJSU0EifQ",
            "invalid-public-key",
            "invalidPublicKey",
        ),
        ("did:peer:2.Xabc", "invalid-did", "invalidDid"),
        ("did:peer:9abc", "invalid-did", "invalidDid"),
        (
            "did:example:123",
            "method-not-supported",
            "methodNotSupported",
        ),
        ("did:web:a.com:..:x", "invalid-did", "invalidDid"),
        ("did%3Akey%3Az%ZZ", "invalid-did", "invalidDid"),
    ];
    for (did, slug, code) in cases {
        let resp = server.get(&format!("/1.0/identifiers/{did}")).await;
        let problem = assert_problem(resp, 400, slug).await;
        assert_eq!(problem["didResolutionMetadata"]["error"], code, "{did}");
    }
    let long = format!("did:key:z{}", "a".repeat(9000));
    let resp = server.get(&format!("/1.0/identifiers/{long}")).await;
    assert_problem(resp, 400, "invalid-did").await;
    // A did:peer:2 stuffed with keys would expand into megabytes: refused.
    let key = ".Vz6MkqRYqQiSgvZQdnBytw86Qbs2ZWUkGv22od935YF4s8M7V".repeat(17);
    let resp = server
        .get(&format!("/1.0/identifiers/did:peer:2{key}"))
        .await;
    assert_problem(resp, 400, "invalid-did").await;
    // Names that cannot be users, in this server's own did:web namespace.
    for name in ["Bad%20Name", "a%00b", ""] {
        let resp = server
            .get(&format!(
                "/1.0/identifiers/{}:users:{name}",
                server.host_did()
            ))
            .await;
        assert!(
            resp.status() == 404 || resp.status() == 400,
            "{name}: {}",
            resp.status()
        );
        assert_eq!(resp.headers()["content-type"], "application/problem+json");
    }
    for path in [
        "/users/a%00b/did.json",
        "/admin/users/a%00b",
        "/admin/keys/a%00b",
    ] {
        let resp = server.admin_get_raw(path).await;
        assert_problem(resp, 400, "bad-request").await;
    }
    assert_problem(
        server.get("/users/Bad%20Name/did.json").await,
        404,
        "did-not-found",
    )
    .await;
}

/// A hostile did:web host on loopback: oversized, redirecting, lying and slow documents.
async fn hostile_host() -> (String, tokio::task::JoinHandle<()>) {
    use axum::routing::get;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let did = format!("did:web:127.0.0.1%3A{port}");
    let own = did.clone();
    let app = axum::Router::new()
        .route(
            "/big/did.json",
            get(move || async move {
                format!("{{\"id\":\"x\",\"pad\":\"{}\"}}", "a".repeat(70 * 1024))
            }),
        )
        .route(
            "/redirect/did.json",
            get(|| async { axum::response::Redirect::temporary("/.well-known/did.json") }),
        )
        .route(
            "/liar/did.json",
            get(|| async { axum::Json(serde_json::json!({"id": "did:web:someone.else"})) }),
        )
        .route("/junk/did.json", get(|| async { "not json" }))
        .route(
            "/stream/did.json",
            get(|| async {
                // Chunked, no Content-Length: only the streaming cap can stop it.
                let chunks = (0..100)
                    .map(|_| Ok::<_, std::io::Error>(axum::body::Bytes::from(vec![b' '; 1024])));
                axum::body::Body::from_stream(futures_util::stream::iter(chunks))
            }),
        )
        .route(
            "/slow/did.json",
            get(|| async {
                tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                "{}"
            }),
        )
        .route(
            "/.well-known/did.json",
            get(move || async move { axum::Json(serde_json::json!({"id": own})) }),
        );
    let handle = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (did, handle)
}

#[tokio::test]
async fn did_web_fetch_refuses_oversized_redirected_lying_and_slow_documents() {
    let (did, host) = hostile_host().await;
    let server = TestServer::spawn_with(Options::allow_loopback()).await;
    let (status, body) = server.get_json(&format!("/1.0/identifiers/{did}")).await;
    assert_eq!(status, 200, "the well-behaved document resolves: {body}");
    for (path, slug) in [
        ("big", "invalid-did-document"),
        ("stream", "invalid-did-document"),
        ("redirect", "resolution-failed"),
        ("liar", "invalid-did-document"),
        ("junk", "invalid-did-document"),
        ("slow", "resolution-failed"),
    ] {
        let resp = server.get(&format!("/1.0/identifiers/{did}:{path}")).await;
        let problem = assert_problem(resp, 502, slug).await;
        assert!(problem["detail"].is_string(), "{path}");
    }
    host.abort();
}

#[tokio::test]
async fn public_key_format_option_selects_the_did_key_representation() {
    let server = TestServer::spawn().await;
    let (status, body) = server
        .get_json(&format!(
            "/1.0/identifiers/{DID_KEY}?publicKeyFormat=JsonWebKey2020"
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    let vm = &body["didDocument"]["verificationMethod"][0];
    assert_eq!(vm["type"], "JsonWebKey2020");
    assert_eq!(vm["publicKeyJwk"]["crv"], "Ed25519");
    let (_, body) = server
        .get_json(&format!(
            "/1.0/identifiers/{DID_KEY}?publicKeyFormat=Ed25519VerificationKey2018"
        ))
        .await;
    assert_eq!(
        body["didDocument"]["verificationMethod"][0]["type"],
        "Ed25519VerificationKey2018"
    );
    let (_, body) = server
        .get_json(&format!("/1.0/identifiers/{DID_KEY}"))
        .await;
    assert_eq!(
        body["didDocument"]["verificationMethod"][0]["type"],
        "Multikey"
    );
    // Other methods ignore the option.
    let (status, _) = server
        .get_json(&format!(
            "/1.0/identifiers/{DID_JWK}?publicKeyFormat=JsonWebKey2020"
        ))
        .await;
    assert_eq!(status, 200);
    let resp = server
        .get(&format!(
            "/1.0/identifiers/{DID_KEY}?publicKeyFormat=RsaVerificationKey2018"
        ))
        .await;
    let problem = assert_problem(resp, 400, "unsupported-public-key-format").await;
    assert_eq!(
        problem["didResolutionMetadata"]["error"],
        "unsupportedPublicKeyType"
    );
}
