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
        .map(|d| d.count())
        .unwrap_or(0)
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
    let server = ServerProcess::launch(
        dir.path(),
        &db,
        "warn",
        port,
        &[
            ("SICHAT_MAX_CONNECTIONS", "100000"),
            ("SICHAT_IDLE_TIMEOUT_SECS", "2"),
            ("SICHAT_HEADER_READ_TIMEOUT_SECS", "2"),
        ],
        Some(256),
    )
    .await;
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
    let fds = open_descriptors(server.pid());
    assert!(fds < 256, "{fds} descriptors open: bounded by the limit");

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
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
    // Connections that never sent a byte are closed after the idle timeout.
    let mut last = idle.pop().unwrap();
    assert!(closed_by_server(&mut last, Duration::from_secs(6)).await);
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
}

/// A keep-alive connection between requests is idle: it is closed after the idle
/// timeout, while a request in progress is never cut.
#[tokio::test]
async fn idle_keep_alive_connections_are_closed_after_the_idle_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database_url(dir.path()).await;
    let server = ServerProcess::start_on(
        dir.path(),
        &db,
        "warn",
        free_port(),
        &[("SICHAT_IDLE_TIMEOUT_SECS", "1")],
    )
    .await;
    let mut s = TcpStream::connect(server.base.trim_start_matches("http://"))
        .await
        .unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 1024];
    let n = s.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    assert!(closed_by_server(&mut s, Duration::from_secs(5)).await);
    server.stop();
}
