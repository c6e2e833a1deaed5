//! Configuration: one [`Config`] from flags, environment (`SICHAT_*`) and an optional TOML
//! file, in that order of precedence, over defaults that work with no file at all. Every
//! bad value is reported in one line naming the key and where it came from.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use url::Url;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// The resolved configuration. `Debug` hides the password of `database_url`.
#[derive(Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub public_url: Url,
    /// Whether `public_url` was given (flag, env or file) rather than derived from `listen`.
    /// A data dir keeps the public URL it was initialised with unless one is given.
    pub public_url_explicit: bool,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub log_format: LogFormat,
    pub log_level: String,
    pub request_timeout_secs: u64,
    pub cors_allowed_origins: Vec<String>,
    pub did_web_allow_loopback: bool,
    pub resolver_cache_ttl_secs: u64,
    pub resolver_negative_cache_ttl_secs: u64,
    /// Clock skew tolerated when checking credential and proof dates.
    pub credential_clock_skew_secs: u64,
    /// Outbound did:web fetches under way at once, in all.
    pub did_web_max_fetches: usize,
    /// Outbound did:web fetches (and DNS lookups) under way at once per site (the last two
    /// labels of the host name).
    pub did_web_max_fetches_per_site: usize,
    /// DNS servers for did:web hosts (`ip:port`); empty: the system's (/etc/resolv.conf).
    pub did_web_dns_servers: Vec<SocketAddr>,
    /// Seconds a DNS lookup of a did:web host may take.
    pub did_web_dns_timeout_secs: u64,
    /// Client connections held at once; more wait, and idle ones are closed to make room.
    pub max_connections: usize,
    /// Seconds a client has to send a request's headers (and to start one on an idle
    /// connection).
    pub header_read_timeout_secs: u64,
    /// Seconds a connection may stay without a request in progress.
    pub idle_timeout_secs: u64,
    /// Seconds in-flight requests and background tasks get to finish on shutdown.
    pub shutdown_grace_secs: u64,
    /// Password hashes computed at once (0: one per CPU core).
    pub password_hash_concurrency: usize,
    /// Password hashes waiting for a turn before requests are answered 503.
    pub password_hash_queue: usize,
    /// Credential operations (issue, verify: canonicalization and signatures) run at once
    /// (0: one per CPU core).
    pub credential_work_concurrency: usize,
    /// Credential operations waiting for a turn before requests are answered 503.
    pub credential_work_queue: usize,
    /// Whether `POST /credentials/verify` and `/presentations/verify` need a token (the
    /// admin token or a user's API token); open by default.
    pub credential_verify_requires_token: bool,
    /// Whether `GET /dids` lists the did:web identifiers hosted here (for verifiers to pin
    /// them all); on by default. Off, it answers 404 and user names are not enumerable.
    pub publish_did_list: bool,
    /// Whether clients may register themselves (RFC 7591 `POST /register`); off by default.
    pub oidc_dynamic_registration: bool,
    /// Milliseconds between checks for identity changes made by other processes.
    pub identity_sync_interval_ms: u64,
    /// The largest DIDComm message accepted (bytes, HTTP body or WebSocket frame).
    pub didcomm_max_message_bytes: usize,
    /// Messages queued per recipient at most.
    pub didcomm_queue_max_messages: u64,
    /// Bytes queued per recipient at most.
    pub didcomm_queue_max_bytes: u64,
    /// Seconds a queued message is kept for its recipient.
    pub didcomm_message_ttl_secs: u64,
    /// Seconds a received message id is remembered to refuse replays (and the oldest
    /// `created_time` accepted).
    pub didcomm_replay_window_secs: u64,
    /// DIDComm messages handled at once (HTTP requests; beyond, 503 and `Retry-After`;
    /// WebSocket frames wait their turn).
    pub didcomm_max_in_flight: usize,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("public_url", &self.public_url.as_str())
            .field("public_url_explicit", &self.public_url_explicit)
            .field("data_dir", &self.data_dir)
            .field("database_url", &redacted_url(&self.database_url))
            .field("log_format", &self.log_format)
            .field("log_level", &self.log_level)
            .field("request_timeout_secs", &self.request_timeout_secs)
            .field("cors_allowed_origins", &self.cors_allowed_origins)
            .field("did_web_allow_loopback", &self.did_web_allow_loopback)
            .field("resolver_cache_ttl_secs", &self.resolver_cache_ttl_secs)
            .field(
                "resolver_negative_cache_ttl_secs",
                &self.resolver_negative_cache_ttl_secs,
            )
            .field(
                "credential_clock_skew_secs",
                &self.credential_clock_skew_secs,
            )
            .field("did_web_max_fetches", &self.did_web_max_fetches)
            .field(
                "did_web_max_fetches_per_site",
                &self.did_web_max_fetches_per_site,
            )
            .field("did_web_dns_servers", &self.did_web_dns_servers)
            .field("did_web_dns_timeout_secs", &self.did_web_dns_timeout_secs)
            .field("max_connections", &self.max_connections)
            .field("header_read_timeout_secs", &self.header_read_timeout_secs)
            .field("idle_timeout_secs", &self.idle_timeout_secs)
            .field("shutdown_grace_secs", &self.shutdown_grace_secs)
            .field("password_hash_concurrency", &self.password_hash_concurrency)
            .field("password_hash_queue", &self.password_hash_queue)
            .field(
                "credential_work_concurrency",
                &self.credential_work_concurrency,
            )
            .field("credential_work_queue", &self.credential_work_queue)
            .field(
                "credential_verify_requires_token",
                &self.credential_verify_requires_token,
            )
            .field("publish_did_list", &self.publish_did_list)
            .field("oidc_dynamic_registration", &self.oidc_dynamic_registration)
            .field("didcomm_max_message_bytes", &self.didcomm_max_message_bytes)
            .field(
                "didcomm_queue_max_messages",
                &self.didcomm_queue_max_messages,
            )
            .field("didcomm_queue_max_bytes", &self.didcomm_queue_max_bytes)
            .field("didcomm_message_ttl_secs", &self.didcomm_message_ttl_secs)
            .field(
                "didcomm_replay_window_secs",
                &self.didcomm_replay_window_secs,
            )
            .field("didcomm_max_in_flight", &self.didcomm_max_in_flight)
            .field("identity_sync_interval_ms", &self.identity_sync_interval_ms)
            .finish()
    }
}

/// A database URL with its passwords (the userinfo one and `password` /
/// `sslpassword` query parameters) replaced by `***`, for logs and errors.
pub fn redacted_url(url: &str) -> String {
    let Ok(mut u) = Url::parse(url) else {
        // Not a URL: show the scheme only, the rest may hold a password.
        return format!("{}:…", url.split(':').next().unwrap_or_default());
    };
    if u.password().is_some() {
        let _ = u.set_password(Some("***"));
    }
    if u.query().is_some() {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let secret =
                    k.eq_ignore_ascii_case("password") || k.eq_ignore_ascii_case("sslpassword");
                (
                    k.into_owned(),
                    if secret {
                        "***".to_owned()
                    } else {
                        v.into_owned()
                    },
                )
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    u.to_string()
}

/// The TOML file; every key optional. `sichat.example.toml` lists them all.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub public_url: Option<String>,
    pub data_dir: Option<String>,
    pub database_url: Option<String>,
    pub log_format: Option<String>,
    pub log_level: Option<String>,
    pub request_timeout_secs: Option<u64>,
    pub cors_allowed_origins: Option<Vec<String>>,
    pub did_web_allow_loopback: Option<bool>,
    pub resolver_cache_ttl_secs: Option<u64>,
    pub resolver_negative_cache_ttl_secs: Option<u64>,
    pub credential_clock_skew_secs: Option<u64>,
    pub did_web_max_fetches: Option<u64>,
    pub did_web_max_fetches_per_site: Option<u64>,
    pub did_web_dns_servers: Option<Vec<String>>,
    pub did_web_dns_timeout_secs: Option<u64>,
    pub max_connections: Option<u64>,
    pub header_read_timeout_secs: Option<u64>,
    pub idle_timeout_secs: Option<u64>,
    pub shutdown_grace_secs: Option<u64>,
    pub password_hash_concurrency: Option<u64>,
    pub password_hash_queue: Option<u64>,
    pub credential_work_concurrency: Option<u64>,
    pub credential_work_queue: Option<u64>,
    pub credential_verify_requires_token: Option<bool>,
    pub publish_did_list: Option<bool>,
    pub oidc_dynamic_registration: Option<bool>,
    pub identity_sync_interval_ms: Option<u64>,
    pub didcomm_max_message_bytes: Option<u64>,
    pub didcomm_queue_max_messages: Option<u64>,
    pub didcomm_queue_max_bytes: Option<u64>,
    pub didcomm_message_ttl_secs: Option<u64>,
    pub didcomm_replay_window_secs: Option<u64>,
    pub didcomm_max_in_flight: Option<u64>,
}

/// Values given on the command line (highest precedence).
#[derive(Debug, Default, Clone, clap::Args)]
pub struct ConfigFlags {
    /// Configuration file (default: ./sichat.toml when it exists) [env: SICHAT_CONFIG]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on [env: SICHAT_LISTEN] [default: 127.0.0.1:8080]
    #[arg(long, global = true, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Data directory (SQLite file, master key) [env: SICHAT_DATA_DIR] [default: ./sichat-data]
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<String>,
    /// Public base URL; the server's did:web is derived from it [env: SICHAT_PUBLIC_URL]
    #[arg(long, global = true, value_name = "URL")]
    pub public_url: Option<String>,
    /// Database URL [env: SICHAT_DATABASE_URL] [default: sqlite://<data-dir>/sichat.db?mode=rwc]
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
}

/// A configuration error, one line, naming the key.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

/// Parses a value found under a key, or reports the key and where it was set.
/// The largest clock skew allowed on credential dates (beyond it, date arithmetic could
/// leave chrono's range).
const MAX_CLOCK_SKEW_SECS: u64 = 86_400;

fn parse<T>(
    found: Option<(String, String)>,
    f: impl FnOnce(&str) -> Result<T, String>,
) -> Result<Option<T>, ConfigError> {
    found
        .map(|(value, from)| f(&value).map_err(|e| ConfigError(format!("{from}: {e}"))))
        .transpose()
}

fn parse_bool(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(format!("expected true or false, got `{v}`")),
    }
}

fn parse_u64(v: &str) -> Result<u64, String> {
    v.trim()
        .parse()
        .map_err(|_| format!("expected a whole number, got `{v}`"))
}

impl Config {
    /// Loads the configuration from the process environment.
    pub fn load(flags: &ConfigFlags) -> Result<Self, ConfigError> {
        Self::load_with(flags, &|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    }

    /// Loads the configuration with an explicit environment (tests).
    pub fn load_with(
        flags: &ConfigFlags,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let file_path = flags
            .config
            .clone()
            .or_else(|| env("SICHAT_CONFIG").map(PathBuf::from));
        let file = match file_path {
            Some(path) => read_file(&path)?,
            None if Path::new("sichat.toml").exists() => read_file(Path::new("sichat.toml"))?,
            None => FileConfig::default(),
        };
        // Every key `k` is the flag `--k` (dashes), the variable `SICHAT_K` and the file key `k`.
        let get = |key: &str,
                   flag: Option<&String>,
                   from_file: Option<String>|
         -> Option<(String, String)> {
            if let Some(v) = flag {
                return Some((v.clone(), format!("--{}", key.replace('_', "-"))));
            }
            let var = format!("SICHAT_{}", key.to_uppercase());
            if let Some(v) = env(&var) {
                return Some((v, var));
            }
            from_file.map(|v| (v, format!("`{key}` in the config file")))
        };

        let listen = parse(
            get("listen", flags.listen.as_ref(), file.listen.clone()),
            |v| {
                v.parse::<SocketAddr>()
                    .map_err(|_| format!("`{v}` is not an address like 127.0.0.1:8080"))
            },
        )?
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
        let data_dir = parse(
            get("data_dir", flags.data_dir.as_ref(), file.data_dir.clone()),
            |v| Ok(PathBuf::from(v)),
        )?
        .unwrap_or_else(|| PathBuf::from("sichat-data"));
        let given_url = parse(
            get(
                "public_url",
                flags.public_url.as_ref(),
                file.public_url.clone(),
            ),
            parse_public_url,
        )?;
        let public_url_explicit = given_url.is_some();
        let public_url = given_url.unwrap_or_else(|| default_public_url(listen));
        let database_url = parse(
            get(
                "database_url",
                flags.database_url.as_ref(),
                file.database_url.clone(),
            ),
            |v| {
                if v.starts_with("sqlite:")
                    || v.starts_with("postgres://")
                    || v.starts_with("postgresql://")
                {
                    Ok(v.to_owned())
                } else {
                    // The scheme only: the rest may hold a password.
                    let scheme: String = v
                        .split(':')
                        .next()
                        .unwrap_or_default()
                        .chars()
                        .take(20)
                        .collect();
                    Err(format!(
                        "expected a sqlite: or postgres:// URL (scheme `{scheme}`)"
                    ))
                }
            },
        )?
        .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", data_dir.join("sichat.db").display()));
        let log_format = parse(
            get("log_format", None, file.log_format.clone()),
            |v| match v {
                "text" => Ok(LogFormat::Text),
                "json" => Ok(LogFormat::Json),
                _ => Err(format!("expected `text` or `json`, got `{v}`")),
            },
        )?
        .unwrap_or(LogFormat::Text);
        let log_level = parse(get("log_level", None, file.log_level.clone()), |v| {
            Ok(v.to_owned())
        })?
        .unwrap_or_else(|| "info".into());
        // A whole-number key: `SICHAT_<KEY>` or the file, at least `min`.
        let number = |key: &str, from_file: Option<u64>, default: u64, min: u64| {
            parse(get(key, None, from_file.map(|n| n.to_string())), |v| {
                let n = parse_u64(v)?;
                if n < min {
                    Err(format!("must be at least {min}, got {n}"))
                } else {
                    Ok(n)
                }
            })
            .map(|n| n.unwrap_or(default))
        };
        let count = |key: &str, from_file: Option<u64>, default: u64, min: u64| {
            number(key, from_file, default, min).map(|n| usize::try_from(n).unwrap_or(usize::MAX))
        };
        let request_timeout_secs =
            number("request_timeout_secs", file.request_timeout_secs, 30, 1)?;
        let cors_allowed_origins = parse(
            get(
                "cors_allowed_origins",
                None,
                file.cors_allowed_origins.clone().map(|v| v.join(",")),
            ),
            |v| {
                let origins: Vec<String> = v
                    .split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect();
                for o in &origins {
                    let is_origin =
                        Url::parse(o).is_ok_and(|u| u.origin().ascii_serialization() == *o);
                    if o != "*" && !is_origin {
                        return Err(format!("`{o}` is not an origin like https://app.example"));
                    }
                }
                Ok(origins)
            },
        )?
        .unwrap_or_else(|| vec!["*".into()]);
        let did_web_allow_loopback = parse(
            get(
                "did_web_allow_loopback",
                None,
                file.did_web_allow_loopback.map(|b| b.to_string()),
            ),
            parse_bool,
        )?
        .unwrap_or(false);
        let resolver_cache_ttl_secs = number(
            "resolver_cache_ttl_secs",
            file.resolver_cache_ttl_secs,
            300,
            0,
        )?;
        let resolver_negative_cache_ttl_secs = number(
            "resolver_negative_cache_ttl_secs",
            file.resolver_negative_cache_ttl_secs,
            30,
            0,
        )?;
        let credential_clock_skew_secs = parse(
            get(
                "credential_clock_skew_secs",
                None,
                file.credential_clock_skew_secs.map(|n| n.to_string()),
            ),
            |v| {
                let n = parse_u64(v)?;
                if n > MAX_CLOCK_SKEW_SECS {
                    Err(format!(
                        "must be at most {MAX_CLOCK_SKEW_SECS} (a day), got {n}"
                    ))
                } else {
                    Ok(n)
                }
            },
        )?
        .unwrap_or(300);
        let did_web_max_fetches = count("did_web_max_fetches", file.did_web_max_fetches, 64, 1)?;
        let did_web_max_fetches_per_site = count(
            "did_web_max_fetches_per_site",
            file.did_web_max_fetches_per_site,
            4,
            1,
        )?;
        let did_web_dns_servers = parse(
            get(
                "did_web_dns_servers",
                None,
                file.did_web_dns_servers.clone().map(|v| v.join(",")),
            ),
            |v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| {
                        s.parse::<SocketAddr>()
                            .map_err(|_| format!("`{s}` is not an address like 192.0.2.53:53"))
                    })
                    .collect()
            },
        )?
        .unwrap_or_default();
        let did_web_dns_timeout_secs = number(
            "did_web_dns_timeout_secs",
            file.did_web_dns_timeout_secs,
            3,
            1,
        )?;
        let max_connections = count("max_connections", file.max_connections, 512, 1)?;
        let header_read_timeout_secs = number(
            "header_read_timeout_secs",
            file.header_read_timeout_secs,
            10,
            1,
        )?;
        let idle_timeout_secs = number("idle_timeout_secs", file.idle_timeout_secs, 60, 1)?;
        let shutdown_grace_secs = number("shutdown_grace_secs", file.shutdown_grace_secs, 10, 0)?;
        let password_hash_concurrency = count(
            "password_hash_concurrency",
            file.password_hash_concurrency,
            0,
            0,
        )?;
        let password_hash_queue = count("password_hash_queue", file.password_hash_queue, 16, 0)?;
        let credential_work_concurrency = count(
            "credential_work_concurrency",
            file.credential_work_concurrency,
            0,
            0,
        )?;
        let credential_work_queue =
            count("credential_work_queue", file.credential_work_queue, 64, 0)?;
        let credential_verify_requires_token = parse(
            get(
                "credential_verify_requires_token",
                None,
                file.credential_verify_requires_token.map(|b| b.to_string()),
            ),
            parse_bool,
        )?
        .unwrap_or(false);
        let publish_did_list = parse(
            get(
                "publish_did_list",
                None,
                file.publish_did_list.map(|b| b.to_string()),
            ),
            parse_bool,
        )?
        .unwrap_or(true);
        let oidc_dynamic_registration = parse(
            get(
                "oidc_dynamic_registration",
                None,
                file.oidc_dynamic_registration.map(|b| b.to_string()),
            ),
            parse_bool,
        )?
        .unwrap_or(false);
        let identity_sync_interval_ms = number(
            "identity_sync_interval_ms",
            file.identity_sync_interval_ms,
            1000,
            50,
        )?;
        let didcomm_max_message_bytes = count(
            "didcomm_max_message_bytes",
            file.didcomm_max_message_bytes,
            256 * 1024,
            1024,
        )?;
        let didcomm_queue_max_messages = number(
            "didcomm_queue_max_messages",
            file.didcomm_queue_max_messages,
            10_000,
            1,
        )?;
        let didcomm_queue_max_bytes = number(
            "didcomm_queue_max_bytes",
            file.didcomm_queue_max_bytes,
            64 * 1024 * 1024,
            1024,
        )?;
        let didcomm_message_ttl_secs = number(
            "didcomm_message_ttl_secs",
            file.didcomm_message_ttl_secs,
            30 * 24 * 3600,
            60,
        )?;
        let didcomm_replay_window_secs = number(
            "didcomm_replay_window_secs",
            file.didcomm_replay_window_secs,
            900,
            10,
        )?;
        let didcomm_max_in_flight =
            count("didcomm_max_in_flight", file.didcomm_max_in_flight, 256, 1)?;
        Ok(Config {
            listen,
            public_url,
            public_url_explicit,
            data_dir,
            database_url,
            log_format,
            log_level,
            request_timeout_secs,
            cors_allowed_origins,
            did_web_allow_loopback,
            resolver_cache_ttl_secs,
            resolver_negative_cache_ttl_secs,
            credential_clock_skew_secs,
            did_web_max_fetches,
            did_web_max_fetches_per_site,
            did_web_dns_servers,
            did_web_dns_timeout_secs,
            max_connections,
            header_read_timeout_secs,
            idle_timeout_secs,
            shutdown_grace_secs,
            password_hash_concurrency,
            password_hash_queue,
            credential_work_concurrency,
            credential_work_queue,
            credential_verify_requires_token,
            publish_did_list,
            oidc_dynamic_registration,
            identity_sync_interval_ms,
            didcomm_max_message_bytes,
            didcomm_queue_max_messages,
            didcomm_queue_max_bytes,
            didcomm_message_ttl_secs,
            didcomm_replay_window_secs,
            didcomm_max_in_flight,
        })
    }

    /// The base for RFC 9457 `type` URIs: `<public-url>/problems/`.
    pub fn problem_base(&self) -> String {
        format!(
            "{}/problems/",
            self.public_url.as_str().trim_end_matches('/')
        )
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("cannot read config file {}: {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| {
        let msg = e.message().replace('\n', " ");
        // Name the line and the key it holds: toml's message alone does not for type errors.
        let at = e.span().map(|span| {
            let line_no = text[..span.start.min(text.len())].matches('\n').count() + 1;
            let line = text.lines().nth(line_no - 1).unwrap_or_default();
            let key = line.split('=').next().unwrap_or_default().trim();
            format!(" line {line_no} (`{key}`)")
        });
        ConfigError(format!(
            "{}{}: {msg}",
            path.display(),
            at.unwrap_or_default()
        ))
    })
}

/// A public URL: http(s), a host, no query or fragment; trailing slash removed.
pub fn parse_public_url(v: &str) -> Result<Url, String> {
    let url = Url::parse(v).map_err(|e| format!("`{v}` is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("`{v}` must be an http(s) URL with a host"));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(format!(
            "`{v}` must not have a query, fragment or credentials"
        ));
    }
    if !url.path().trim_end_matches('/').is_empty() {
        // did:web maps a path to `<path>/did.json`, not `/.well-known/did.json`: serve
        // Sichat at the root of its own host name.
        return Err(format!(
            "`{v}` must not have a path (serve Sichat at the root of a host)"
        ));
    }
    let trimmed = url.as_str().trim_end_matches('/').to_owned();
    Url::parse(&trimmed).map_err(|e| e.to_string())
}

fn default_public_url(listen: SocketAddr) -> Url {
    let host = if listen.ip().is_unspecified() {
        "localhost".to_owned()
    } else {
        listen.ip().to_string()
    };
    let host = if listen.is_ipv6() && host != "localhost" {
        format!("[{host}]")
    } else {
        host
    };
    // Invariant: a host and a port always form a valid URL.
    Url::parse(&format!("http://{host}:{}", listen.port())).expect("valid default public URL")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(flags: ConfigFlags, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::load_with(&flags, &|k| env.get(k).cloned())
    }

    #[test]
    fn defaults_work_without_any_file() {
        let c = load(ConfigFlags::default(), &[]).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.public_url.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(c.database_url, "sqlite://sichat-data/sichat.db?mode=rwc");
        assert_eq!(c.cors_allowed_origins, vec!["*"]);
        assert!(!c.did_web_allow_loopback);
    }

    #[test]
    fn flags_beat_env_and_env_beats_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:1\"\ndata_dir = \"/from-file\"\npublic_url = \"https://file.example\"\n").unwrap();
        let flags = ConfigFlags {
            config: Some(file),
            listen: Some("127.0.0.1:3".into()),
            ..Default::default()
        };
        let c = load(
            flags,
            &[
                ("SICHAT_LISTEN", "127.0.0.1:2"),
                ("SICHAT_DATA_DIR", "/from-env"),
            ],
        )
        .unwrap();
        assert_eq!(c.listen.port(), 3);
        assert_eq!(c.data_dir, PathBuf::from("/from-env"));
        assert_eq!(c.public_url.as_str(), "https://file.example/");
    }

    #[test]
    fn the_clock_skew_is_at_most_a_day() {
        let err = load(
            ConfigFlags::default(),
            &[("SICHAT_CREDENTIAL_CLOCK_SKEW_SECS", "86401")],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("at most 86400"), "{err}");
        let ok = load(
            ConfigFlags::default(),
            &[("SICHAT_CREDENTIAL_CLOCK_SKEW_SECS", "86400")],
        )
        .unwrap();
        assert_eq!(ok.credential_clock_skew_secs, 86_400);
    }

    #[test]
    fn bad_values_name_their_key_in_one_line() {
        let err = load(ConfigFlags::default(), &[("SICHAT_LISTEN", "nope")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("SICHAT_LISTEN") && !err.contains('\n'),
            "{err}"
        );
        let err = load(
            ConfigFlags {
                public_url: Some("ftp://x".into()),
                ..Default::default()
            },
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("--public-url"), "{err}");
        let err = load(
            ConfigFlags::default(),
            &[("SICHAT_DATABASE_URL", "postgress://u:secret@h/db")],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("SICHAT_DATABASE_URL") && !err.contains("secret"),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.toml");
        std::fs::write(&file, "lisen = \"x\"\n").unwrap();
        let err = load(
            ConfigFlags {
                config: Some(file),
                ..Default::default()
            },
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("lisen") && !err.contains('\n'), "{err}");
        std::fs::write(
            dir.path().join("t.toml"),
            "listen = \"127.0.0.1:1\"\nrequest_timeout_secs = \"30\"\n",
        )
        .unwrap();
        let flags = ConfigFlags {
            config: Some(dir.path().join("t.toml")),
            ..Default::default()
        };
        let err = load(flags, &[]).unwrap_err().to_string();
        assert!(
            err.contains("line 2 (`request_timeout_secs`)") && !err.contains('\n'),
            "{err}"
        );
        let flags = ConfigFlags {
            public_url: Some("https://x.example/sichat".into()),
            ..Default::default()
        };
        let err = load(flags, &[]).unwrap_err().to_string();
        assert!(err.contains("path"), "{err}");
        let err = load(
            ConfigFlags::default(),
            &[("SICHAT_DID_WEB_ALLOW_LOOPBACK", "maybe")],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("SICHAT_DID_WEB_ALLOW_LOOPBACK"), "{err}");
    }

    #[test]
    fn debug_output_hides_the_database_password() {
        let c = load(
            ConfigFlags {
                database_url: Some("postgres://sichat:hunter2secret@db.example:5432/sichat".into()),
                ..Default::default()
            },
            &[],
        )
        .unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2secret"), "{shown}");
        assert!(
            shown.contains("postgres://sichat:***@db.example:5432/sichat"),
            "{shown}"
        );
    }

    #[test]
    fn limits_have_sane_defaults_and_refuse_zero() {
        let c = load(ConfigFlags::default(), &[]).unwrap();
        assert_eq!(
            (
                c.max_connections,
                c.header_read_timeout_secs,
                c.idle_timeout_secs
            ),
            (512, 10, 60)
        );
        assert_eq!(
            (c.did_web_max_fetches, c.did_web_max_fetches_per_site),
            (64, 4)
        );
        for key in [
            "SICHAT_MAX_CONNECTIONS",
            "SICHAT_IDLE_TIMEOUT_SECS",
            "SICHAT_DID_WEB_MAX_FETCHES",
        ] {
            let err = load(ConfigFlags::default(), &[(key, "0")])
                .unwrap_err()
                .to_string();
            assert!(err.contains(key) && err.contains("at least 1"), "{err}");
        }
        let err = load(
            ConfigFlags::default(),
            &[("SICHAT_DID_WEB_DNS_SERVERS", "8.8.8.8")],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("SICHAT_DID_WEB_DNS_SERVERS"), "{err}");
        let c = load(
            ConfigFlags::default(),
            &[("SICHAT_DID_WEB_DNS_SERVERS", "127.0.0.1:5353, [::1]:53")],
        )
        .unwrap();
        assert_eq!(c.did_web_dns_servers.len(), 2);
    }

    #[test]
    fn example_file_covers_every_key() {
        let text = include_str!("../sichat.example.toml");
        // Commented-out keys are documented too; uncommented, the file must still parse.
        let uncommented: String = text
            .lines()
            .map(|l| {
                l.strip_prefix("# ")
                    .filter(|r| r.contains(" = "))
                    .unwrap_or(l)
            })
            .collect::<Vec<_>>()
            .join("\n");
        let file: FileConfig = toml::from_str(&uncommented).expect("sichat.example.toml parses");
        let value = serde_json::to_value(&file).unwrap();
        for (key, v) in value.as_object().unwrap() {
            assert!(
                !v.is_null(),
                "sichat.example.toml does not document `{key}`"
            );
            assert!(
                text.contains(&format!("SICHAT_{}", key.to_uppercase())),
                "sichat.example.toml does not name the env variable of `{key}`"
            );
        }
        let plain: FileConfig = toml::from_str(text).expect("the file as shipped parses");
        assert!(
            plain.public_url.is_none() && plain.database_url.is_none(),
            "derived defaults stay commented out"
        );
    }
}
