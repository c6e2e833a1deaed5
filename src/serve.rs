//! Serving connections, bounded against clients that hold sockets open.
//!
//! - At most `max_connections` connections are held (kept below the descriptor limit at
//!   start). When a new client arrives at the cap, the connection idle for longest is
//!   closed to make room; when every connection has a request in progress, accepting
//!   pauses until one of them finishes its request, and that connection makes room.
//! - A connection with no request in progress for `idle_timeout` is closed, whether it
//!   never sent a byte, sits between keep-alive requests, or stalls before HTTP/2's
//!   preface (hyper's protocol detection has no timeout of its own). One whose response
//!   has not been taken for `request_timeout + idle_timeout` (a client that stopped
//!   reading) is closed too.
//! - HTTP/1 request headers must arrive within `header_read_timeout` (hyper's timer).
//! - Accept errors (`EMFILE`, ...) back off instead of spinning.
//! - On shutdown: stop accepting, let in-flight requests finish (up to `shutdown_grace`),
//!   then close what is left.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;

/// Limits of the serving loop.
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    /// A request (response body included) with no progress for this long closes its
    /// connection.
    pub stall_timeout: Duration,
    pub shutdown_grace: Duration,
}

impl ServeOptions {
    /// The configured limits, with `max_connections` kept below the process's descriptor
    /// limit (raised to its hard maximum first).
    pub fn from_config(config: &Config) -> Self {
        let wanted = config.max_connections;
        let max_connections = match descriptor_limit() {
            Some(limit) => {
                // Leave room for the database pool, outbound fetches, files and logs.
                let room = limit.saturating_sub((limit / 4).clamp(32, 256)).max(8);
                if wanted > room {
                    tracing::warn!(
                        wanted,
                        capped = room,
                        descriptor_limit = limit,
                        "max_connections lowered below the open-file limit"
                    );
                }
                wanted.min(room)
            }
            None => wanted,
        };
        Self {
            max_connections,
            header_read_timeout: Duration::from_secs(config.header_read_timeout_secs),
            idle_timeout: Duration::from_secs(config.idle_timeout_secs),
            stall_timeout: Duration::from_secs(
                config
                    .request_timeout_secs
                    .saturating_add(config.idle_timeout_secs),
            ),
            shutdown_grace: Duration::from_secs(config.shutdown_grace_secs),
        }
    }
}

/// Raises the soft open-file limit to the hard one and returns it.
fn descriptor_limit() -> Option<usize> {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit only read and write the struct passed to them.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
                return None;
            }
            if lim.rlim_cur < lim.rlim_max {
                let raised = libc::rlimit {
                    rlim_cur: lim.rlim_max,
                    rlim_max: lim.rlim_max,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    lim.rlim_cur = lim.rlim_max;
                }
            }
        }
        usize::try_from(lim.rlim_cur).ok()
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// One held connection, as the accept loop and its own task see it.
struct ConnState {
    /// Requests whose response (body included) is not finished.
    in_flight: AtomicUsize,
    /// Milliseconds since `Connections::start` of the last request start or end.
    last_active: AtomicU64,
    /// Asks the connection to close (it is the idlest and a new client needs the room).
    evict: CancellationToken,
}

struct Connections {
    start: Instant,
    next_id: AtomicU64,
    held: Mutex<HashMap<u64, Arc<ConnState>>>,
    /// Woken when a connection's last request finishes (it may now make room).
    became_idle: tokio::sync::Notify,
}

impl Connections {
    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn add(&self) -> (u64, Arc<ConnState>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let state = Arc::new(ConnState {
            in_flight: AtomicUsize::new(0),
            last_active: AtomicU64::new(self.now()),
            evict: CancellationToken::new(),
        });
        if let Ok(mut held) = self.held.lock() {
            held.insert(id, state.clone());
        }
        (id, state)
    }

    fn remove(&self, id: u64) {
        if let Ok(mut held) = self.held.lock() {
            held.remove(&id);
        }
    }

    /// Asks the connection idle for longest to close; false when every one is busy.
    fn evict_idlest(&self) -> bool {
        let Ok(held) = self.held.lock() else {
            return false;
        };
        let idlest = held
            .values()
            .filter(|c| c.in_flight.load(Ordering::Acquire) == 0 && !c.evict.is_cancelled())
            .min_by_key(|c| c.last_active.load(Ordering::Acquire));
        match idlest {
            Some(c) => {
                c.evict.cancel();
                true
            }
            None => false,
        }
    }
}

/// Counts a request as in flight until its response body is finished or dropped.
struct InFlight {
    conn: Arc<ConnState>,
    connections: Arc<Connections>,
}

impl InFlight {
    fn begin(conn: &Arc<ConnState>, connections: &Arc<Connections>) -> Self {
        conn.in_flight.fetch_add(1, Ordering::AcqRel);
        conn.last_active.store(connections.now(), Ordering::Release);
        Self {
            conn: conn.clone(),
            connections: connections.clone(),
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.conn
            .last_active
            .store(self.connections.now(), Ordering::Release);
        if self.conn.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.connections.became_idle.notify_waiters();
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then drains.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    options: ServeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let connections = Arc::new(Connections {
        start: Instant::now(),
        next_id: AtomicU64::new(0),
        held: Mutex::new(HashMap::new()),
        became_idle: tokio::sync::Notify::new(),
    });
    let permits = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let stop = CancellationToken::new();
    let tracker = TaskTracker::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(options.idle_timeout))
        .keep_alive_timeout(Duration::from_secs(20))
        .enable_connect_protocol();

    tokio::pin!(shutdown);
    let mut backoff = Duration::ZERO;
    let mut last_error_log: Option<Instant> = None;
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(ok) => {
                backoff = Duration::ZERO;
                ok
            }
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Out of descriptors or memory: wait for connections to close.
                backoff = (backoff * 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
                if last_error_log.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                    tracing::warn!(error = %e, backoff_ms = backoff.as_millis() as u64, "accept failed; backing off");
                    last_error_log = Some(Instant::now());
                }
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = tokio::time::sleep(backoff) => continue,
                }
            }
        };
        // At the cap: make room by closing the idlest connection, or (every one busy)
        // hold this client until a connection finishes its request, then try again.
        let permit = loop {
            if let Ok(p) = permits.clone().try_acquire_owned() {
                break Some(p);
            }
            let became_idle = connections.became_idle.notified();
            tokio::pin!(became_idle);
            became_idle.as_mut().enable();
            let evicting = connections.evict_idlest();
            tokio::select! {
                _ = &mut shutdown => break None,
                p = permits.clone().acquire_owned() => break p.ok(),
                _ = &mut became_idle, if !evicting => {}
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        };
        let Some(permit) = permit else {
            break;
        };
        let _ = stream.set_nodelay(true);
        let (id, conn) = connections.add();
        // The router as a hyper service for this connection: it adds the peer address and
        // counts each request in flight until its response body is done.
        let service = {
            let (router, conn, connections) = (router.clone(), conn.clone(), connections.clone());
            hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                let guard = InFlight::begin(&conn, &connections);
                req.extensions_mut().insert(ConnectInfo(peer));
                let router = router.clone();
                async move {
                    let resp = match tower::ServiceExt::oneshot(router, req.map(Body::new)).await {
                        Ok(resp) => resp,
                        Err(never) => match never {},
                    };
                    Ok::<_, Infallible>(resp.map(|body| {
                        Body::new(body.map_frame(move |frame| {
                            let _counted = &guard;
                            frame
                        }))
                    }))
                }
            })
        };
        let io = TokioIo::new(stream);
        let builder = builder.clone();
        let (stop, connections) = (stop.clone(), connections.clone());
        let (idle_timeout, stall_timeout) = (options.idle_timeout, options.stall_timeout);
        tracker.spawn(async move {
            let _permit = permit;
            let served = builder.serve_connection_with_upgrades(io, service);
            tokio::pin!(served);
            let mut ticker = tokio::time::interval(tick_for(idle_timeout));
            let mut closing = false;
            loop {
                tokio::select! {
                    _ = served.as_mut() => break,
                    _ = ticker.tick() => {
                        let quiet = Duration::from_millis(connections.now()
                            .saturating_sub(conn.last_active.load(Ordering::Acquire)));
                        let limit = if conn.in_flight.load(Ordering::Acquire) == 0 {
                            idle_timeout
                        } else {
                            stall_timeout
                        };
                        if quiet >= limit {
                            break;
                        }
                    }
                    _ = conn.evict.cancelled(), if !closing => {
                        if conn.in_flight.load(Ordering::Acquire) == 0 {
                            break;
                        }
                        closing = true;
                        served.as_mut().graceful_shutdown();
                    }
                    _ = stop.cancelled(), if !closing => {
                        closing = true;
                        served.as_mut().graceful_shutdown();
                    }
                }
            }
            connections.remove(id);
        });
    }

    // Stop accepting; let the requests under way finish, then close what is left.
    drop(listener);
    stop.cancel();
    tracker.close();
    if tokio::time::timeout(options.shutdown_grace, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            remaining = tracker.len(),
            "connections still open after the shutdown grace period; closing them"
        );
    }
    Ok(())
}

/// How often a connection checks whether it has been idle too long.
fn tick_for(idle_timeout: Duration) -> Duration {
    (idle_timeout / 4).clamp(Duration::from_millis(100), Duration::from_secs(1))
}

/// Errors about one incoming connection (the client gave up): accept the next one.
fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}
