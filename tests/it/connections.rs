//! Clients that hold sockets open cannot lock others out: idle and slow connections are
//! closed, the number held stays under the cap (and the open-file limit), and a new
//! client is answered at once.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{ServerProcess, free_port, fresh_database_url};

/// Descriptors the process holds open.
fn open_descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap_or_else(|e| panic!("cannot count descriptors of {pid}: {e}"))
        .count()
}

/// Whether the server closed the connection (EOF or reset) within `within`.
async fn closed_by_server(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 256];
    match tokio::time::timeout(within, stream.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => true,
        Ok(Ok(_)) => {
            // An error response (408) before the close also counts as closing.
            matches!(
                tokio::time::timeout(within, stream.read(&mut buf)).await,
                Ok(Ok(0)) | Ok(Err(_))
            )
        }
        Err(_) => false,
    }
}

#[tokio::test]
async fn idle_and_slow_sockets_cannot_lock_out_a_new_client() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database_url(dir.path()).await;
    let port = free_port();
    // The common `ulimit -n 1024`, scaled down: 256 descriptors; a cap asked far above it.
    // The header timeout is far below the idle one, so only it can close the trickler.
    let server = ServerProcess::launch(
        dir.path(),
        &db,
        "warn",
        port,
        &[
            ("SICHAT_MAX_CONNECTIONS", "100000"),
            ("SICHAT_IDLE_TIMEOUT_SECS", "30"),
            ("SICHAT_HEADER_READ_TIMEOUT_SECS", "2"),
        ],
        Some(256),
    )
    .await;
    let baseline = open_descriptors(server.pid());
    let addr = format!("127.0.0.1:{port}");

    // 400 sockets that send nothing, and 20 that trickle a request's headers.
    let mut idle = Vec::new();
    for _ in 0..400 {
        if let Ok(s) = TcpStream::connect(&addr).await {
            idle.push(s);
        }
    }
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut s = TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        slow.push(s);
    }
    // The cap lands at 256 - 64 = 192 connections: that many held, one waiting.
    let fds = open_descriptors(server.pid());
    assert!(
        fds <= baseline + 192 + 1,
        "{fds} descriptors open ({baseline} before the flood): bounded by the cap"
    );
    assert!(
        idle.len() + slow.len() > 192 + 1,
        "more sockets than the cap were held"
    );

    // A new connection per request: a pooled keep-alive one may rightly be closed to
    // make room while the flood is accepted.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let started = Instant::now();
    let resp = client
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .expect("a new client is answered");
    assert_eq!(resp.status(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered in {:?}",
        started.elapsed()
    );

    // A trickle of header bytes does not keep a connection: it is closed after the
    // header timeout.
    let mut trickler = slow.pop().unwrap();
    let mut closed = false;
    for _ in 0..20 {
        if trickler.write_all(b"X-A: b\r\n").await.is_err() {
            closed = true;
            break;
        }
        if closed_by_server(&mut trickler, Duration::from_millis(300)).await {
            closed = true;
            break;
        }
    }
    assert!(closed, "a slow-header connection is closed");
    // The oldest silent connections were closed to make room.
    let mut first = idle.remove(0);
    assert!(closed_by_server(&mut first, Duration::from_secs(1)).await);
    drop(idle);
    drop(slow);
    // The server still answers, with nothing left over.
    let resp = client
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let log = server.stop();
    assert!(
        !log.contains("Too many open files"),
        "the server never ran out of descriptors: {log}"
    );
    assert!(
        log.contains("max_connections lowered below the open-file limit"),
        "{log}"
    );
}

/// A request that takes 2 s: a did:web lookup the fake DNS never answers (the DNS
/// timeout is 2 s); its answer is a 502.
const SLOW: &str = "/1.0/identifiers/did:web:stuck.slow.test";

async fn send(stream: &mut TcpStream, path: &str) {
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
}

/// The status line of the next response on `stream`.
async fn status_line(stream: &mut TcpStream) -> String {
    let mut buf = vec![0u8; 4096];
    let n = stream.read(&mut buf).await.unwrap();
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// A server whose did:web lookups of `*.slow.test` never get an answer (so [`SLOW`]
/// takes the 2 s DNS timeout), with the extra `settings`; the DNS server and data dir
/// live as long as the returned values.
async fn server_with_slow_dns(
    settings: &[(&str, &str)],
) -> (
    ServerProcess,
    sichat_core::testing::FakeDns,
    tempfile::TempDir,
) {
    let dns = sichat_core::testing::FakeDns::start(&[(
        "*.slow.test",
        sichat_core::testing::DnsAnswer::Silent,
    )])
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database_url(dir.path()).await;
    let dns_addr = dns.addr().to_string();
    let mut all = vec![
        ("SICHAT_DID_WEB_DNS_SERVERS", dns_addr.as_str()),
        ("SICHAT_DID_WEB_DNS_TIMEOUT_SECS", "2"),
    ];
    all.extend_from_slice(settings);
    let server = ServerProcess::start_on(dir.path(), &db, "warn", free_port(), &all).await;
    (server, dns, dir)
}

/// A keep-alive connection between requests is idle: it is closed after the idle
/// timeout, while a request in progress for longer than that is never cut.
#[tokio::test]
async fn idle_keep_alive_connections_close_and_busy_ones_do_not() {
    let (server, _dns, _dir) = server_with_slow_dns(&[("SICHAT_IDLE_TIMEOUT_SECS", "1")]).await;
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut s = TcpStream::connect(&addr).await.unwrap();
    send(&mut s, "/healthz").await;
    assert!(status_line(&mut s).await.starts_with("HTTP/1.1 200"));
    assert!(closed_by_server(&mut s, Duration::from_secs(5)).await);
    // Busy for 2 s with a 1 s idle timeout: answered, not cut.
    let mut busy = TcpStream::connect(&addr).await.unwrap();
    send(&mut busy, SLOW).await;
    assert!(status_line(&mut busy).await.starts_with("HTTP/1.1 502"));
    server.stop();
}

/// When every held connection has a request in progress, a new client waits; as soon as
/// one of them finishes its request, that connection makes room (it does not keep its
/// place until its idle timeout).
#[tokio::test]
async fn a_client_waiting_at_the_cap_gets_in_when_a_request_finishes() {
    let (server, _dns, _dir) = server_with_slow_dns(&[
        ("SICHAT_MAX_CONNECTIONS", "2"),
        ("SICHAT_IDLE_TIMEOUT_SECS", "60"),
    ])
    .await;
    // The readiness probe of the harness may still hold a connection: let it go.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut first = TcpStream::connect(&addr).await.unwrap();
    let mut second = TcpStream::connect(&addr).await.unwrap();
    send(&mut first, SLOW).await;
    send(&mut second, &SLOW.replace("stuck", "other")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let resp = client
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .expect("the waiting client is answered");
    assert_eq!(resp.status(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "in {:?}: a finished request made room, no idle timeout waited for",
        started.elapsed()
    );
    assert!(status_line(&mut first).await.starts_with("HTTP/1.1 502"));
    server.stop();
}
