//! The client verifies offline: a trust bundle built from a running server, the server
//! stopped, then credentials and presentations verified in a runtime that has no I/O
//! driver at all (any socket or timer would panic the test).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use sichat_client::bundle::{LoadedBundle, TrustBundle};
use sichat_client::bundle_build::{self, BuildOptions};
use sichat_client::offline::{OfflineVerifier, Verdict};
use sichat_core::clock::ManualClock;
use sichat_core::did::web_fetch::FetchPolicy;

use crate::common::TestServer;

/// Runs `f` on a fresh thread in a runtime with neither the I/O nor the time driver:
/// network or timer use there panics.
pub fn without_io<F, Fut, T>(f: F) -> T
where
    F: FnOnce() -> Fut + Send,
    Fut: Future<Output = T>,
    T: Send,
{
    std::thread::scope(|s| {
        s.spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("a runtime");
            runtime.block_on(f())
        })
        .join()
        .expect("the offline verification did not panic")
    })
}

fn loopback() -> FetchPolicy {
    FetchPolicy {
        allow_loopback: true,
        ..FetchPolicy::default()
    }
}

/// A bundle of everything `server` hosts and publishes, loaded.
pub async fn bundle_of(server: &TestServer) -> LoadedBundle {
    let built = bundle_build::build(&BuildOptions {
        server: Some(url::Url::parse(&server.base).unwrap()),
        fetch: loopback(),
        ..BuildOptions::default()
    })
    .await
    .unwrap();
    assert!(built.skipped.is_empty(), "{:?}", built.skipped);
    built.bundle.index().unwrap()
}

fn credential(subject: &str) -> Value {
    json!({
        "@context": ["https://www.w3.org/ns/credentials/v2", "https://www.w3.org/ns/credentials/examples/v2"],
        "type": ["VerifiableCredential", "ExampleAlumniCredential"],
        "credentialSubject": {"id": subject, "alumniOf": "Example University"},
    })
}

async fn issue(server: &TestServer, subject: &str, options: Value) -> Value {
    let (status, body) = server
        .admin_post(
            "/credentials/issue",
            json!({"credential": credential(subject), "options": options}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["verifiableCredential"].clone()
}

/// The `id` of a credential, enveloped or not.
fn id_of(vc: &Value) -> Value {
    use base64::Engine;
    let id = vc["id"].as_str().unwrap();
    match id.strip_prefix("data:application/vc+jwt,") {
        None => json!(id),
        Some(jwt) => {
            let payload = jwt.split('.').nth(1).unwrap();
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap();
            serde_json::from_slice::<Value>(&bytes).unwrap()["id"].clone()
        }
    }
}

async fn revoke(server: &TestServer, vc: &Value) {
    let (status, body) = server
        .admin_post(
            "/credentials/status",
            json!({"credentialId": id_of(vc), "credentialStatus": [{"type": "BitstringStatusListCredential", "status": "revoked"}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

fn errors_of(report: &sichat_client::offline::OfflineReport) -> Vec<(String, String)> {
    report
        .errors
        .iter()
        .map(|e| (e.check.clone(), e.title.clone()))
        .collect()
}

#[tokio::test]
async fn credentials_and_presentations_verify_offline_with_the_server_stopped() {
    let server = TestServer::spawn().await;
    let eddsa = issue(&server, "did:example:alice", json!({})).await;
    let ecdsa = issue(
        &server,
        "did:example:alice",
        json!({"cryptosuite": "ecdsa-rdfc-2019"}),
    )
    .await;
    let jwt = issue(&server, "did:example:alice", json!({"format": "vc+jwt"})).await;
    let sd = issue(&server, "did:example:alice", json!({"format": "vc+sd-jwt"})).await;
    let revoked = issue(&server, "did:example:bob", json!({})).await;
    let revoked_jwt = issue(&server, "did:example:bob", json!({"format": "vc+jwt"})).await;
    revoke(&server, &revoked).await;
    revoke(&server, &revoked_jwt).await;
    let vp = crate::common::present_as_new_user(&server, "holder", &eddsa, "c-123", "door.example")
        .await;
    let host = server.host_did();

    let bundle = bundle_of(&server).await;
    // The server's DID and the holder's are pinned, with every list it publishes.
    assert!(bundle.document(&host).is_some());
    assert!(bundle.document(&format!("{host}:users:holder")).is_some());
    assert!(!bundle.bundle.status_lists.is_empty());
    let file = serde_json::to_vec(&bundle.bundle).unwrap();
    server.stop().await;

    let verifier = OfflineVerifier::new(TrustBundle::load(&file).unwrap());
    without_io(|| async {
        for (name, vc) in [
            ("eddsa", &eddsa),
            ("ecdsa", &ecdsa),
            ("vc+jwt", &jwt),
            ("sd-jwt", &sd),
        ] {
            let report = verifier.verify_credential(vc).await.unwrap();
            assert_eq!(report.verdict, Verdict::Valid, "{name}: {report:?}");
            for check in ["proof", "issuer", "status"] {
                assert!(
                    report.checks.iter().any(|c| c == check) || name == "sd-jwt",
                    "{name}: {check} not passed: {report:?}"
                );
            }
            // Each pinned input used is reported with its fetch time.
            let list = report
                .inputs
                .iter()
                .find(|i| i.kind == "statusList")
                .unwrap_or_else(|| panic!("{name}: no status input: {report:?}"));
            assert_eq!(list.state, "pinned");
            assert!(list.fetched_at.is_some() && list.age_seconds.is_some());
        }
        for vc in [&revoked, &revoked_jwt] {
            let report = verifier.verify_credential(vc).await.unwrap();
            assert_eq!(report.verdict, Verdict::Invalid, "{report:?}");
            assert!(
                errors_of(&report).contains(&("status".into(), "Revoked".into())),
                "{report:?}"
            );
        }
        let report = verifier
            .verify_presentation(&vp, Some("c-123"), Some("door.example"))
            .await
            .unwrap();
        assert_eq!(report.verdict, Verdict::Valid, "{report:?}");
        assert!(report.checks.contains(&"holder".to_string()), "{report:?}");
        let report = verifier
            .verify_presentation(&vp, Some("another"), Some("door.example"))
            .await
            .unwrap();
        assert_eq!(report.verdict, Verdict::Invalid);
        assert_eq!(report.errors[0].check, "challenge", "{report:?}");
    });
}

#[tokio::test]
async fn stale_missing_and_untrusted_inputs_are_never_valid() {
    let server = TestServer::spawn().await;
    let vc = issue(&server, "did:example:alice", json!({})).await;
    let host = server.host_did();
    let bundle = bundle_of(&server).await;
    let file = bundle.bundle.clone();
    server.stop().await;

    // A status list fetched longer ago than the maximum status age: unknown, not valid.
    let fetched = file.status_lists[0].fetched_at.timestamp_millis();
    let clock = Arc::new(ManualClock::new(fetched + 2 * 3600 * 1000));
    let stale = OfflineVerifier::builder(file.clone().index().unwrap())
        .clock(clock.clone())
        .max_status_age(Duration::from_secs(3600))
        .build();
    let fresh = OfflineVerifier::builder(file.clone().index().unwrap())
        .clock(clock.clone())
        .max_status_age(Duration::from_secs(3 * 3600))
        .build();
    // Past the list's own validUntil (a day), whatever the maximum age.
    let expired = OfflineVerifier::builder(file.clone().index().unwrap())
        .clock(Arc::new(ManualClock::new(fetched + 25 * 3600 * 1000)))
        .build();
    // The issuer's document not pinned.
    let mut unpinned = file.clone();
    unpinned.did_documents.retain(|d| d.did != host);
    let unpinned = OfflineVerifier::new(unpinned.index().unwrap());
    // A trusted-issuer policy that leaves the issuer out.
    let untrusted = OfflineVerifier::builder(file.clone().index().unwrap())
        .trusted_issuers(["did:web:elsewhere.example".to_owned()])
        .build();
    let trusted = OfflineVerifier::builder(file.clone().index().unwrap())
        .trusted_issuers([host.clone()])
        .build();

    without_io(|| async {
        let report = stale.verify_credential(&vc).await.unwrap();
        assert_eq!(report.verdict, Verdict::Unknown, "{report:?}");
        assert!(!report.checks.contains(&"status".to_string()));
        assert!(report.errors[0].detail.contains("stale"), "{report:?}");
        assert!(report.inputs.iter().any(|i| i.state == "stale"));
        let report = fresh.verify_credential(&vc).await.unwrap();
        assert_eq!(report.verdict, Verdict::Valid, "{report:?}");

        let report = expired.verify_credential(&vc).await.unwrap();
        assert_eq!(report.verdict, Verdict::Unknown, "{report:?}");
        assert!(report.errors[0].detail.contains("expired"), "{report:?}");

        let report = unpinned.verify_credential(&vc).await.unwrap();
        assert_eq!(report.verdict, Verdict::Unknown, "{report:?}");
        assert_eq!(report.errors[0].check, "proof");
        assert!(
            report.errors[0].detail.contains(&host)
                && report.errors[0].detail.contains("not pinned"),
            "{report:?}"
        );

        let report = untrusted.verify_credential(&vc).await.unwrap();
        assert_eq!(report.verdict, Verdict::Invalid, "{report:?}");
        assert_eq!(
            errors_of(&report),
            [(
                "trustedIssuer".to_string(),
                "Issuer not trusted".to_string()
            )]
        );
        let report = trusted.verify_credential(&vc).await.unwrap();
        assert_eq!(report.verdict, Verdict::Valid, "{report:?}");
        assert!(report.checks.contains(&"trustedIssuer".to_string()));
    });
}

#[tokio::test]
async fn a_signed_bundle_is_checked_on_load_and_a_tampered_one_refused() {
    let server = TestServer::spawn().await;
    let vc = issue(&server, "did:example:alice", json!({})).await;
    let mut bundle = bundle_of(&server).await.bundle;
    server.stop().await;
    let signer = sichat_client::identity::create(sichat_client::identity::Method::Key, None);
    let (method, key) = signer.signing_key().unwrap();
    bundle.sign(method, key).unwrap();
    let file = serde_json::to_vec_pretty(&bundle).unwrap();

    let loaded = TrustBundle::load(&file).unwrap();
    assert_eq!(loaded.signer.as_deref(), Some(signer.did.as_str()));
    loaded.require_signer(signer.did.as_str()).unwrap();
    assert!(
        loaded
            .require_signer("did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK")
            .is_err()
    );

    // Reformatting does not matter (the signature covers the JCS form)...
    let compact = serde_json::to_vec(&serde_json::from_slice::<Value>(&file).unwrap()).unwrap();
    assert!(TrustBundle::load(&compact).is_ok());
    // ...any change does: a revoked list swapped for an older one, a document's key, the
    // trusted issuers.
    let mut tampered: Value = serde_json::from_slice(&file).unwrap();
    tampered["statusLists"][0]["fetchedAt"] = json!("2030-01-01T00:00:00Z");
    let err = TrustBundle::load(&serde_json::to_vec(&tampered).unwrap()).unwrap_err();
    assert!(
        err.to_string().contains("changed after it was signed"),
        "{err}"
    );
    let mut tampered: Value = serde_json::from_slice(&file).unwrap();
    tampered["trustedIssuers"] = json!(["did:web:evil.example"]);
    assert!(TrustBundle::load(&serde_json::to_vec(&tampered).unwrap()).is_err());
    let mut tampered: Value = serde_json::from_slice(&file).unwrap();
    tampered["signature"]["jws"] = json!(
        tampered["signature"]["jws"]
            .as_str()
            .unwrap()
            .replace('.', ".x")
    );
    assert!(TrustBundle::load(&serde_json::to_vec(&tampered).unwrap()).is_err());
    // Unsigned when a signer is required.
    let mut unsigned = bundle.clone();
    unsigned.signature = None;
    let loaded = unsigned.index().unwrap();
    assert!(loaded.require_signer(signer.did.as_str()).is_err());

    let verifier = OfflineVerifier::new(TrustBundle::load(&file).unwrap());
    without_io(|| async {
        let report = verifier.verify_credential(&vc).await.unwrap();
        assert_eq!(report.verdict, Verdict::Valid, "{report:?}");
    });
}

#[tokio::test]
async fn status_lists_that_do_not_verify_or_cannot_be_fetched_are_not_pinned() {
    let server = TestServer::spawn().await;
    issue(&server, "did:example:alice", json!({})).await;
    let (_, lists) = server.get_json("/status").await;
    let url = lists["statusLists"][0]["id"].as_str().unwrap().to_owned();
    let (_, list) = server.get_json(&url[server.base.len()..]).await;
    // The server's list served elsewhere under that address: its proof no longer holds.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let forged_url = format!("http://{}/list", listener.local_addr().unwrap());
    let mut forged = list.clone();
    forged["id"] = json!(forged_url);
    let app = axum::Router::new().route(
        "/list",
        axum::routing::get(move || async move { axum::Json(forged) }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let built = bundle_build::build(&BuildOptions {
        status_lists: vec![
            url.clone(),
            forged_url.clone(),
            "http://127.0.0.1:9/none".into(),
        ],
        fetch: loopback(),
        ..BuildOptions::default()
    })
    .await
    .unwrap();
    assert_eq!(built.bundle.status_lists.len(), 1, "{:?}", built.skipped);
    assert_eq!(built.bundle.status_lists[0].url, url);
    assert_eq!(built.skipped.len(), 2, "{:?}", built.skipped);
    assert!(
        built
            .skipped
            .iter()
            .any(|s| s.contains(&forged_url) && s.contains("does not verify")),
        "{:?}",
        built.skipped
    );
    assert!(
        built.skipped.iter().any(|s| s.contains("127.0.0.1:9")),
        "{:?}",
        built.skipped
    );
    // The lists' issuer was pinned with them.
    assert_eq!(built.bundle.did_documents.len(), 1);
    assert_eq!(built.bundle.did_documents[0].did, server.host_did());
}

/// `examples/offline_verify.rs` against a running server: it builds a bundle, then
/// verifies a credential and a presentation and rejects a revoked credential offline.
#[tokio::test]
async fn the_offline_verify_example_runs_against_a_server() {
    let server = TestServer::spawn().await;
    let stdout = crate::common::run_example("offline_verify", &server).await;
    assert!(stdout.contains("credential: Valid"), "{stdout}");
    assert!(stdout.contains("presentation: Valid"), "{stdout}");
    assert!(stdout.contains("revoked credential: Invalid"), "{stdout}");
}

/// `sichat-client bundle build|show|refresh` and `sichat-client verify`, with the server
/// stopped for `verify`: the verdicts and their exit codes.
#[tokio::test]
async fn the_client_cli_builds_shows_refreshes_and_verifies_offline() {
    let server = TestServer::spawn().await;
    let good = issue(&server, "did:example:alice", json!({})).await;
    let jwt = issue(&server, "did:example:alice", json!({"format": "vc+jwt"})).await;
    let revoked = issue(&server, "did:example:bob", json!({})).await;
    revoke(&server, &revoked).await;
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    // (Asynchronously: the server runs on this test's runtime.)
    let client = async |args: &[&str]| {
        let out = tokio::process::Command::new(crate::common::client_bin())
            .args(args)
            .env("SICHAT_CLIENT_ALLOW_LOOPBACK", "true")
            .output()
            .await
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let s = |p: &std::path::Path| p.to_str().unwrap().to_owned();
    std::fs::write(path("good.json"), good.to_string()).unwrap();
    // A vc+jwt as the bare compact JWS.
    let compact = jwt["id"].as_str().unwrap().split_once(',').unwrap().1;
    std::fs::write(path("good.jwt"), compact).unwrap();
    std::fs::write(path("revoked.json"), revoked.to_string()).unwrap();
    let (code, _, stderr) =
        client(&["new", "--method", "key", "--out", &s(&path("signer.json"))]).await;
    assert_eq!(code, 0, "{stderr}");
    let signer: Value =
        serde_json::from_slice(&std::fs::read(path("signer.json")).unwrap()).unwrap();
    let signer = signer["did"].as_str().unwrap().to_owned();

    let bundle = s(&path("bundle.json"));
    let (code, stdout, stderr) = client(&[
        "bundle",
        "build",
        "--server",
        &server.base,
        "--sign-with",
        &s(&path("signer.json")),
        "--out",
        &bundle,
    ])
    .await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains(&format!("signed by {signer}")), "{stdout}");
    let (code, stdout, _) = client(&["bundle", "show", &bundle]).await;
    assert_eq!(code, 0);
    assert!(stdout.contains(&server.host_did()), "{stdout}");
    assert!(stdout.contains("(signature verified)"), "{stdout}");
    assert!(stdout.contains("/status/"), "{stdout}");
    // Nothing to pin: refused before any fetch.
    let (code, _, stderr) = client(&["bundle", "build", "--out", &s(&path("x.json"))]).await;
    assert_eq!(code, 1);
    assert!(stderr.contains("nothing to pin"), "{stderr}");
    // Refresh keeps the sources and re-signs when asked.
    let refreshed = s(&path("refreshed.json"));
    let (code, stdout, stderr) = client(&[
        "bundle",
        "refresh",
        &bundle,
        "--out",
        &refreshed,
        "--sign-with",
        &s(&path("signer.json")),
    ])
    .await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    server.stop().await;

    let verify = async |file: &str, extra: &[&str]| {
        let mut args = vec![
            "verify",
            file,
            "--bundle",
            &refreshed,
            "--bundle-signer",
            &signer,
        ];
        args.extend_from_slice(extra);
        client(&args).await
    };
    let (code, stdout, stderr) = verify(&s(&path("good.json")), &["--max-status-age", "1d"]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.starts_with("VALID"), "{stdout}");
    assert!(stdout.contains("input statusList"), "{stdout}");
    let (code, stdout, _) = verify(&s(&path("good.jwt")), &["--json"]).await;
    assert_eq!(code, 0, "{stdout}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["verdict"], "valid");
    let (code, stdout, _) = verify(&s(&path("revoked.json")), &[]).await;
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("failed [status] Revoked"), "{stdout}");
    // Status from a list older than the maximum age (0 s: any): unknown, exit code 3.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (code, stdout, _) = verify(&s(&path("good.json")), &["--max-status-age", "0s"]).await;
    assert_eq!(code, 3, "{stdout}");
    assert!(stdout.starts_with("UNKNOWN"), "{stdout}");
    let (code, stdout, _) = verify(
        &s(&path("good.json")),
        &["--trusted-issuer", "did:web:elsewhere.example"],
    )
    .await;
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("failed [trustedIssuer]"), "{stdout}");
    // A bundle signed by someone else, a tampered bundle, a bad duration: errors.
    let (code, _, stderr) = client(&[
        "verify",
        &s(&path("good.json")),
        "--bundle",
        &refreshed,
        "--bundle-signer",
        "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
    ])
    .await;
    assert_eq!(code, 4);
    assert!(stderr.contains("not by the required"), "{stderr}");
    let mut tampered: Value = serde_json::from_slice(&std::fs::read(&refreshed).unwrap()).unwrap();
    tampered["trustedIssuers"] = json!(["did:web:evil.example"]);
    std::fs::write(path("tampered.json"), tampered.to_string()).unwrap();
    let (code, _, stderr) = client(&[
        "verify",
        &s(&path("good.json")),
        "--bundle",
        &s(&path("tampered.json")),
    ])
    .await;
    assert_eq!(code, 4);
    assert!(stderr.contains("changed after it was signed"), "{stderr}");
    let (code, _, stderr) = verify(&s(&path("good.json")), &["--max-status-age", "1y"]).await;
    assert_eq!(code, 2, "clap's usage error: {stderr}");
}

/// With `publish_did_list = false`, `GET /dids` answers 404 and a bundle built from the
/// server pins its own DID and its lists' issuers, saying so: the server's credentials
/// verify; a user's presentation is unknown (the user's DID not pinned) until `--did`.
#[tokio::test]
async fn a_server_that_does_not_list_its_dids_still_yields_a_bundle() {
    let server = TestServer::spawn_with(
        crate::common::Options::default().with("SICHAT_PUBLISH_DID_LIST", "false"),
    )
    .await;
    crate::common::assert_problem(server.get("/dids").await, 404, "not-found").await;
    let vc = issue(&server, "did:example:alice", json!({})).await;
    let vp =
        crate::common::present_as_new_user(&server, "holder", &vc, "c-1", "door.example").await;
    let options = BuildOptions {
        server: Some(url::Url::parse(&server.base).unwrap()),
        fetch: loopback(),
        ..BuildOptions::default()
    };
    let built = bundle_build::build(&options).await.unwrap();
    assert_eq!(built.skipped.len(), 1, "{:?}", built.skipped);
    assert!(built.skipped[0].contains("does not list its DIDs"));
    let dids: Vec<&str> = built
        .bundle
        .did_documents
        .iter()
        .map(|d| d.did.as_str())
        .collect();
    assert_eq!(dids, [server.host_did()]);
    let holder = format!("{}:users:holder", server.host_did());
    let with_holder = bundle_build::build(&BuildOptions {
        dids: vec![holder.clone()],
        ..options
    })
    .await
    .unwrap();
    server.stop().await;
    let verifier = OfflineVerifier::new(built.bundle.index().unwrap());
    let complete = OfflineVerifier::new(with_holder.bundle.index().unwrap());
    without_io(|| async {
        let report = verifier.verify_credential(&vc).await.unwrap();
        assert_eq!(report.verdict, Verdict::Valid, "{report:?}");
        let report = verifier
            .verify_presentation(&vp, Some("c-1"), Some("door.example"))
            .await
            .unwrap();
        assert_eq!(report.verdict, Verdict::Unknown, "{report:?}");
        assert!(report.errors[0].detail.contains(&holder), "{report:?}");
        let report = complete
            .verify_presentation(&vp, Some("c-1"), Some("door.example"))
            .await
            .unwrap();
        assert_eq!(report.verdict, Verdict::Valid, "{report:?}");
    });
}
