//! Framework-level refusals are problem details too; operations endpoints answer.

use crate::common::{ADMIN_TOKEN, TestServer, assert_problem};

#[tokio::test]
async fn unknown_paths_methods_bodies_and_media_types_are_problems() {
    let server = TestServer::spawn().await;
    assert_problem(server.get("/nope").await, 404, "not-found").await;
    let resp = server
        .client
        .delete(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert!(resp.headers().contains_key("allow"));
    assert_problem(resp, 405, "method-not-allowed").await;
    let big = "x".repeat(200 * 1024);
    let resp = server
        .client
        .post(server.url("/admin/users"))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body(format!("{{\"name\":\"{big}\"}}"))
        .send()
        .await
        .unwrap();
    assert_problem(resp, 413, "payload-too-large").await;
    let resp = server
        .client
        .post(server.url("/admin/users"))
        .bearer_auth(ADMIN_TOKEN)
        .body("{\"name\":\"x\"}")
        .send()
        .await
        .unwrap();
    assert_problem(resp, 415, "unsupported-media-type").await;
    let resp = server
        .client
        .post(server.url("/admin/users"))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body("{\"name\":")
        .send()
        .await
        .unwrap();
    assert_problem(resp, 400, "bad-request").await;
    let resp = server
        .client
        .post(server.url("/admin/users"))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_problem(resp, 422, "validation-failed").await;
}

#[tokio::test]
async fn every_problem_type_is_documented_at_its_url() {
    let server = TestServer::spawn().await;
    for kind in sichat::error::ProblemKind::ALL {
        let resp = server.get(&format!("/problems/{}", kind.slug)).await;
        assert_eq!(resp.status(), 200, "{}", kind.slug);
        assert!(resp.text().await.unwrap().contains(kind.title));
    }
    assert_problem(server.get("/problems/nonsense").await, 404, "not-found").await;
    assert_eq!(server.get("/problems/").await.status(), 200);
}

#[tokio::test]
async fn health_readiness_metrics_and_request_ids() {
    let server = TestServer::spawn().await;
    let resp = server.get("/healthz").await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("x-request-id"));
    let resp = server
        .client
        .get(server.url("/readyz"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["x-request-id"],
        "abc-123",
        "a caller's request id is propagated"
    );
    assert_eq!(resp.status(), 200);
    let metrics = server.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(
            "sichat_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 1"
        ),
        "{metrics}"
    );
    assert!(metrics.contains("sichat_http_request_duration_seconds_bucket"));
    let resp = server
        .client
        .request(
            reqwest::Method::OPTIONS,
            server.url("/.well-known/did.json"),
        )
        .header("origin", "https://app.example")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");
    let spec: serde_json::Value = server.get("/openapi.json").await.json().await.unwrap();
    assert!(spec["paths"]["/1.0/identifiers/{did}"].is_object());
}

/// `/docs` loads its script from this origin only (embedded, pinned) under a content
/// security policy, as every HTML page does.
#[tokio::test]
async fn html_pages_load_nothing_from_elsewhere_and_carry_a_csp() {
    let server = TestServer::spawn().await;
    for path in ["/docs", "/problems/", "/problems/not-found"] {
        let resp = server.get(path).await;
        assert_eq!(resp.status(), 200, "{path}");
        let csp = resp.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
            "{csp}"
        );
        assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
        let html = resp.text().await.unwrap();
        assert!(
            !html.contains("src=\"http"),
            "{path} loads nothing from another origin"
        );
    }
    let html = server.get("/docs").await.text().await.unwrap();
    let script = html
        .split("<script src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page loads a script")
        .to_owned();
    assert!(script.starts_with("/docs/"), "{script}");
    // Served gzip-encoded to clients that accept it, plain to others; both the same script.
    let gz = server.get(&script).await;
    assert_eq!(gz.status(), 200);
    assert_eq!(
        gz.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    let gz_body = gz.bytes().await.unwrap();
    let plain = reqwest::Client::builder()
        .no_gzip()
        .build()
        .unwrap()
        .get(server.url(&script))
        .header("accept-encoding", "identity")
        .send()
        .await
        .unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    let plain_body = plain.bytes().await.unwrap();
    assert_eq!(gz_body, plain_body, "reqwest decoded the gzip form");
    assert!(plain_body.len() > 1_000_000, "the Scalar bundle itself");
}
