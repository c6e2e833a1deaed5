//! `openapi/openapi.json` is generated from the code; this test fails when they differ.
//! `SICHAT_UPDATE_OPENAPI=1 cargo test` rewrites the file.

#[test]
fn checked_in_openapi_matches_the_code() {
    let generated = sichat::http::openapi_json();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi/openapi.json");
    if std::env::var("SICHAT_UPDATE_OPENAPI").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "openapi/openapi.json is stale: run `SICHAT_UPDATE_OPENAPI=1 cargo test --test it openapi`"
    );
}

#[test]
fn every_route_is_documented_with_responses() {
    let spec: serde_json::Value = serde_json::from_str(&sichat::http::openapi_json()).unwrap();
    let paths = spec["paths"].as_object().unwrap();
    for expected in [
        "/.well-known/did.json",
        "/users/{name}/did.json",
        "/1.0/identifiers/{did}",
        "/healthz",
        "/readyz",
        "/metrics",
        "/admin/users",
        "/admin/keys",
        "/admin/keys/{id}/rotate",
        "/admin/keys/import",
        "/admin/dids",
    ] {
        assert!(
            paths.contains_key(expected),
            "{expected} is not in the OpenAPI document"
        );
    }
    for (path, ops) in paths {
        for (method, op) in ops.as_object().unwrap() {
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path} has no responses"
            );
        }
    }
}

#[test]
fn shared_path_constants_are_routes_of_the_server() {
    use sichat_core::api::paths;
    let spec: serde_json::Value = serde_json::from_str(&sichat::http::openapi_json()).unwrap();
    for path in [
        paths::SERVER_DID_DOCUMENT,
        paths::USER_DID_DOCUMENT,
        paths::RESOLVE,
        paths::HEALTH,
        paths::READY,
        paths::METRICS,
        paths::ADMIN_USERS,
        paths::ADMIN_USER,
        paths::ADMIN_KEYS,
        paths::ADMIN_KEY,
        paths::ADMIN_KEY_ROTATE,
        paths::ADMIN_KEYS_IMPORT,
        paths::ADMIN_DIDS,
    ] {
        assert!(spec["paths"].get(path).is_some(), "{path} is not a route");
    }
}
