//! The test harness: databases, in-process servers and the server binary.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use std::sync::Arc;

use sea_orm::{ConnectionTrait, Database};
use serde_json::Value;
use sichat::config::{Config, ConfigFlags};
use sichat::service::Services;
use sichat::service::bootstrap::{self, Purpose};
use sichat_core::SystemClock;
use tempfile::TempDir;
use tokio::sync::oneshot;

pub const ADMIN_TOKEN: &str = "sat_test-admin-token-0123456789abcdefghijklmnop";
pub const MASTER_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// A fresh, empty database: a SQLite file in `dir`, or a new PostgreSQL database next to
/// `SICHAT_TEST_DATABASE_URL`.
pub async fn fresh_database_url(dir: &Path) -> String {
    match std::env::var("SICHAT_TEST_DATABASE_URL")
        .ok()
        .filter(|v| !v.is_empty())
    {
        Some(admin_url) => {
            let name = format!("sichat_t_{}", uuid::Uuid::new_v4().simple());
            let admin = Database::connect(admin_url.as_str())
                .await
                .expect("connect to SICHAT_TEST_DATABASE_URL");
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .expect("create test database");
            let mut url = url::Url::parse(&admin_url).expect("SICHAT_TEST_DATABASE_URL is a URL");
            url.set_path(&format!("/{name}"));
            url.to_string()
        }
        None => format!("sqlite://{}?mode=rwc", dir.join("sichat.db").display()),
    }
}

pub fn is_postgres() -> bool {
    std::env::var("SICHAT_TEST_DATABASE_URL").is_ok_and(|v| !v.is_empty())
}

pub fn test_env(key: &str) -> Option<String> {
    match key {
        "SICHAT_ADMIN_TOKEN" => Some(ADMIN_TOKEN.to_owned()),
        "SICHAT_MASTER_KEY" => Some(MASTER_KEY.to_owned()),
        _ => None,
    }
}

pub struct TestServer {
    pub base: String,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub client: reqwest::Client,
    pub services: Arc<Services>,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<()>>,
    _dir: Option<TempDir>,
}

/// How a test server differs from the defaults: `SICHAT_*` settings, as in the
/// environment (`("SICHAT_DID_WEB_ALLOW_LOOPBACK", "true")`).
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub settings: Vec<(&'static str, String)>,
}

impl Options {
    pub fn with(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.settings.push((key, value.into()));
        self
    }
    pub fn allow_loopback() -> Self {
        Self::default().with("SICHAT_DID_WEB_ALLOW_LOOPBACK", "true")
    }
}

/// The configuration of a test server on `addr`, from defaults and `opts`.
pub fn test_config(
    addr: std::net::SocketAddr,
    data_dir: &Path,
    database_url: &str,
    opts: &Options,
) -> Config {
    let flags = ConfigFlags {
        listen: Some(addr.to_string()),
        public_url: Some(
            opts.settings
                .iter()
                .rev()
                .find(|(k, _)| *k == "SICHAT_PUBLIC_URL")
                .map_or_else(|| format!("http://{addr}"), |(_, v)| v.clone()),
        ),
        data_dir: Some(data_dir.display().to_string()),
        database_url: Some(database_url.to_owned()),
        config: None,
    };
    let settings = opts.settings.clone();
    Config::load_with(&flags, &move |k| {
        settings
            .iter()
            .rev()
            .find(|(key, _)| *key == k)
            .map(|(_, v)| v.clone())
            .or_else(|| (k == "SICHAT_LOG_LEVEL").then(|| "warn".to_owned()))
    })
    .expect("test configuration")
}

impl TestServer {
    pub async fn spawn() -> Self {
        Self::spawn_with(Options::default()).await
    }

    pub async fn spawn_with(opts: Options) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = fresh_database_url(dir.path()).await;
        let mut s = Self::start(dir.path().to_owned(), db, "127.0.0.1:0", opts).await;
        s._dir = Some(dir);
        s
    }

    /// Starts a server on an existing data dir and database (restart tests) at `listen`
    /// (`127.0.0.1:0` for any port; the same address again to keep the public URL).
    pub async fn start(
        data_dir: PathBuf,
        database_url: String,
        listen: &str,
        opts: Options,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind(listen).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let mut config = test_config(addr, &data_dir, &database_url, &opts);
        let opened = bootstrap::open(
            &mut config,
            &test_env,
            Arc::new(SystemClock),
            Purpose::Serve,
        )
        .await
        .expect("open data dir");
        let services = Arc::new(opened.services);
        services.start_background(&config);
        let router = sichat::app::router(sichat::app::AppState::new(&services), &config);
        let options = sichat::serve::ServeOptions::from_config(&config);
        let (tx, rx) = oneshot::channel::<()>();
        let held = services.clone();
        let handle = tokio::spawn(async move {
            sichat::serve::serve(listener, router, options, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
            held.background.drain(options.shutdown_grace).await;
        });
        Self {
            base,
            data_dir,
            database_url,
            client: reqwest::Client::new(),
            services,
            shutdown: Some(tx),
            handle: Some(handle),
            _dir: None,
        }
    }

    /// The address the server listens on.
    pub fn addr(&self) -> String {
        self.base.trim_start_matches("http://").to_owned()
    }

    /// Stops the server (graceful) and keeps its data dir for a restart.
    pub async fn stop(mut self) -> (PathBuf, String, Option<TempDir>) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            let _ = h.await;
        }
        (
            self.data_dir.clone(),
            self.database_url.clone(),
            self._dir.take(),
        )
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn host_did(&self) -> String {
        format!(
            "did:web:{}",
            self.base.trim_start_matches("http://").replace(':', "%3A")
        )
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let resp = self.get(path).await;
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// An admin-authenticated GET, the raw response.
    pub async fn admin_get_raw(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
    }

    /// An admin-authenticated JSON POST, the raw response.
    pub async fn admin_post_raw(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn admin_post(&self, path: &str, body: Value) -> (u16, Value) {
        let resp = self
            .client
            .post(self.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// `POST /credentials/verify` (open): the status and the verification result.
    pub async fn verify_credential(&self, vc: &Value) -> (u16, Value) {
        let resp = self
            .client
            .post(self.url("/credentials/verify"))
            .json(&serde_json::json!({"verifiableCredential": vc}))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap())
    }

    pub async fn admin_get(&self, path: &str) -> (u16, Value) {
        let resp = self
            .client
            .get(self.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A DID the test knows is valid.
pub fn did(s: &str) -> sichat_core::id::Did {
    sichat_core::id::Did::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// Asserts an RFC 9457 problem response with the given status and type slug.
pub async fn assert_problem(resp: reqwest::Response, status: u16, slug: &str) -> Value {
    assert_eq!(resp.status().as_u16(), status, "status");
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(ct, "application/problem+json");
    let body: Value = resp.json().await.unwrap();
    let ty = body["type"].as_str().unwrap_or_default();
    assert!(
        ty.ends_with(&format!("/problems/{slug}")),
        "type {ty} is not {slug}: {body}"
    );
    assert_eq!(body["status"], status);
    assert!(
        body["title"].is_string() && body["detail"].is_string(),
        "{body}"
    );
    body
}

/// The `sichat` binary as a child process, its output captured to files.
pub struct ServerProcess {
    pub child: Child,
    pub base: String,
    pub log: PathBuf,
}

pub fn sichat_bin() -> &'static str {
    env!("CARGO_BIN_EXE_sichat")
}

/// `sichat <args> --data-dir <dir> --database-url <db>` with the test secrets.
pub fn sichat_cmd(data_dir: &Path, database_url: &str) -> Command {
    let mut cmd = Command::new(sichat_bin());
    // Run outside the checkout so a developer's ./sichat.toml cannot change the tests.
    cmd.current_dir(data_dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SICHAT_MASTER_KEY", MASTER_KEY)
        .env("SICHAT_ADMIN_TOKEN", ADMIN_TOKEN)
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--database-url")
        .arg(database_url);
    cmd
}

/// A free loopback port.
/// A built example (`cargo test --workspace` builds them next to the test binary's dir).
pub fn example_path(name: &str) -> PathBuf {
    built(&format!("examples/{name}"))
}

/// The `sichat-client` binary (`cargo test --workspace` builds it for the client's own
/// CLI tests, next to this test binary's directory).
pub fn client_bin() -> PathBuf {
    built("sichat-client")
}

/// Runs the example `name` against `server` (`SICHAT_URL`, and `SICHAT_TOKEN` the admin
/// token): its stdout, once it exited with success.
pub async fn run_example(name: &str, server: &TestServer) -> String {
    let out = tokio::process::Command::new(example_path(name))
        .env("SICHAT_URL", &server.base)
        .env("SICHAT_TOKEN", ADMIN_TOKEN)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{name}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// `path` under the profile's directory of the target dir (the test binary is in `deps/`).
fn built(path: &str) -> PathBuf {
    let path = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join(path);
    assert!(
        path.exists(),
        "{} is missing: `cargo test --workspace` builds it (or `cargo build --workspace --examples`)",
        path.display()
    );
    path
}

pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

impl ServerProcess {
    pub async fn start(data_dir: &Path, database_url: &str, log_level: &str) -> Self {
        Self::start_on(data_dir, database_url, log_level, free_port(), &[]).await
    }

    /// Starts `sichat serve` on `port` with extra environment settings.
    pub async fn start_on(
        data_dir: &Path,
        database_url: &str,
        log_level: &str,
        port: u16,
        settings: &[(&str, &str)],
    ) -> Self {
        Self::launch(data_dir, database_url, log_level, port, settings, None).await
    }

    /// Like [`ServerProcess::start_on`], under an open-file limit of `nofile` (soft and
    /// hard) when given.
    // The child is owned by the returned value, whose Drop kills and reaps it.
    #[allow(clippy::zombie_processes)]
    pub async fn launch(
        data_dir: &Path,
        database_url: &str,
        log_level: &str,
        port: u16,
        settings: &[(&str, &str)],
        nofile: Option<u32>,
    ) -> Self {
        let base = format!("http://127.0.0.1:{port}");
        let log = data_dir.join(format!("server-{port}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let mut cmd = sichat_cmd(data_dir, database_url);
        if let Some(n) = nofile {
            let program = cmd.get_program().to_owned();
            let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
            let mut wrapped = Command::new("sh");
            wrapped
                .arg("-c")
                .arg("ulimit -n \"$0\" && exec \"$@\"")
                .arg(n.to_string())
                .arg(program)
                .args(args)
                .current_dir(data_dir)
                .env_clear()
                .envs(
                    cmd.get_envs()
                        .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))),
                );
            cmd = wrapped;
        }
        let child = cmd
            .env("SICHAT_LOG_LEVEL", log_level)
            .envs(settings.iter().copied())
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--public-url",
                &base,
            ])
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .unwrap();
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if client
                .get(format!("{base}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Self { child, base, log };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "server did not become ready: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn port(&self) -> u16 {
        self.base
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_default()
    }

    pub fn stop(mut self) -> String {
        // SIGTERM for a graceful shutdown; without a `kill` command, SIGKILL.
        let termed = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        if !termed.is_ok_and(|s| s.success()) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A new user `name` with an API token keeps `vc` (verified first) and presents it with
/// `challenge` and `domain`: the signed presentation.
pub async fn present_as_new_user(
    server: &TestServer,
    name: &str,
    vc: &Value,
    challenge: &str,
    domain: &str,
) -> Value {
    let (status, _) = server
        .admin_post("/admin/users", serde_json::json!({"name": name}))
        .await;
    assert_eq!(status, 201);
    let (_, token) = server
        .admin_post(
            &format!("/admin/users/{name}/tokens"),
            serde_json::json!({}),
        )
        .await;
    let token = token["token"].as_str().unwrap().to_owned();
    let resp = server
        .client
        .post(server.url("/credentials"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"verifiableCredential": vc}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let resp = server
        .client
        .post(server.url("/presentations"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"credentials": [vc["id"]], "options": {"challenge": challenge, "domain": domain}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    resp.json::<Value>().await.unwrap()["verifiablePresentation"].clone()
}
