//! did:web resolution under a flood: lookups are async and capped, so unresolvable hosts
//! cannot starve other resolutions, fill the log or the descriptor table.

use std::net::Ipv4Addr;
use std::time::Duration;

use sichat_core::did::{DidResolver, ResolveError};
use sichat_core::testing::{DnsAnswer, FakeDns};

use crate::common::{Options, ServerProcess, TestServer, assert_problem, did, free_port};

/// A did:web host on loopback serving the document of `did:web:localhost%3A<port>`.
async fn localhost_did_host() -> (String, tokio::task::JoinHandle<()>) {
    use axum::routing::get;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let id = format!("did:web:localhost%3A{port}");
    let own = id.clone();
    let app = axum::Router::new().route(
        "/.well-known/did.json",
        get(move || async move { axum::Json(serde_json::json!({"id": own})) }),
    );
    let handle = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (id, handle)
}

async fn fake_dns() -> FakeDns {
    FakeDns::start(&[
        ("*.slow.test", DnsAnswer::Silent),
        ("*.nx.test", DnsAnswer::NxDomain),
        ("localhost", DnsAnswer::A(Ipv4Addr::LOCALHOST)),
    ])
    .await
    .unwrap()
}

fn options(dns: &FakeDns) -> Options {
    Options::allow_loopback()
        .with("SICHAT_DID_WEB_DNS_SERVERS", dns.addr().to_string())
        .with("SICHAT_DID_WEB_DNS_TIMEOUT_SECS", "2")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unresolvable_did_webs_does_not_starve_other_resolutions() {
    let dns = fake_dns().await;
    let (good, host) = localhost_did_host().await;
    let server = TestServer::spawn_with(options(&dns)).await;
    let resolver = server.services.resolver.clone();
    let flood: Vec<_> = (0..1000)
        .map(|i| {
            let resolver = resolver.clone();
            let zone = if i % 2 == 0 { "slow" } else { "nx" };
            let target = did(&format!("did:web:h{i}.{zone}.test"));
            tokio::spawn(async move { resolver.resolve(&target).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let answered = tokio::time::timeout(Duration::from_secs(1), resolver.resolve(&did(&good)))
        .await
        .expect("a resolution from an allowed host is answered within 1 s")
        .expect("and it succeeds");
    assert_eq!(answered.document.id(), good);
    let (mut not_found, mut busy, mut timed_out) = (0, 0, 0);
    for task in flood {
        match task.await.unwrap() {
            Err(ResolveError::NotFound(_)) => not_found += 1,
            Err(ResolveError::Busy(_)) => busy += 1,
            Err(ResolveError::Fetch(m)) if m.contains("timed out") => timed_out += 1,
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert!(
        not_found > 0 && busy > 0 && timed_out > 0,
        "{not_found}/{busy}/{timed_out}"
    );
    // The caps bound the outbound work: refused resolutions ask DNS nothing; the others
    // ask a few questions each (A and AAAA and their retransmissions; a slow machine sees
    // one more now and then), plus the good one.
    assert!(busy > 500, "{busy} refused at once");
    assert!(
        dns.queries() <= 6 * (not_found + timed_out + 1),
        "{} DNS queries for {} lookups",
        dns.queries(),
        not_found + timed_out
    );
    host.abort();
}

#[tokio::test]
async fn missing_hosts_are_not_found_and_saturation_is_503_with_retry_after() {
    let dns = fake_dns().await;
    let server = TestServer::spawn_with(options(&dns)).await;
    let resp = server.get("/1.0/identifiers/did:web:nowhere.nx.test").await;
    let problem = assert_problem(resp, 404, "did-not-found").await;
    assert_eq!(problem["didResolutionMetadata"]["error"], "notFound");
    // Six slow lookups on one site: the per-site cap (4) answers the rest at once.
    let requests = (0..6).map(|i| {
        server
            .client
            .get(server.url(&format!("/1.0/identifiers/did:web:a{i}.slow.test")))
            .send()
    });
    let responses = futures_util::future::join_all(requests).await;
    let mut saw_busy = false;
    for resp in responses {
        let resp = resp.unwrap();
        if resp.status() == 503 {
            assert_eq!(resp.headers()["retry-after"], "1");
            assert_problem(resp, 503, "server-busy").await;
            saw_busy = true;
        } else {
            assert_problem(resp, 502, "resolution-failed").await;
        }
    }
    assert!(saw_busy);
}

/// Failures a client can cause (unknown or unreachable hosts) are not errors of the
/// server: no ERROR line per request.
#[tokio::test]
async fn unresolvable_hosts_write_no_error_lines() {
    let dns = fake_dns().await;
    let dir = tempfile::tempdir().unwrap();
    let db = crate::common::fresh_database_url(dir.path()).await;
    let dns_addr = dns.addr().to_string();
    let server = ServerProcess::start_on(
        dir.path(),
        &db,
        "info",
        free_port(),
        &[
            ("SICHAT_DID_WEB_DNS_SERVERS", &dns_addr),
            ("SICHAT_DID_WEB_DNS_TIMEOUT_SECS", "1"),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    for target in ["did:web:gone.nx.test", "did:web:stuck.slow.test"] {
        let resp = client
            .get(format!("{}/1.0/identifiers/{target}", server.base))
            .send()
            .await
            .unwrap();
        assert!(
            resp.status().is_client_error() || resp.status() == 502,
            "{target}"
        );
    }
    let log = server.stop();
    assert!(!log.contains("ERROR"), "{log}");
}
