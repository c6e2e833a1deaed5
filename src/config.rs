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

/// The resolved configuration.
#[derive(Debug, Clone)]
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

/// Where a value came from, for error messages.
struct Source<'a> {
    flag: &'a str,
    env: &'a str,
    file: &'a str,
}

fn pick(
    flag: Option<&String>,
    env: &dyn Fn(&str) -> Option<String>,
    file: Option<String>,
    s: &Source,
) -> Option<(String, String)> {
    if let Some(v) = flag {
        return Some((v.clone(), format!("--{}", s.flag)));
    }
    if let Some(v) = env(s.env) {
        return Some((v, s.env.to_owned()));
    }
    file.map(|v| (v, format!("`{}` in the config file", s.file)))
}

fn parse_bool(v: &str, from: &str) -> Result<bool, ConfigError> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(ConfigError(format!(
            "{from}: expected true or false, got `{v}`"
        ))),
    }
}

fn parse_u64(v: &str, from: &str) -> Result<u64, ConfigError> {
    v.trim()
        .parse()
        .map_err(|_| ConfigError(format!("{from}: expected a whole number, got `{v}`")))
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

        let listen = match pick(
            flags.listen.as_ref(),
            env,
            file.listen.clone(),
            &Source {
                flag: "listen",
                env: "SICHAT_LISTEN",
                file: "listen",
            },
        ) {
            Some((v, from)) => v.parse().map_err(|_| {
                ConfigError(format!(
                    "{from}: `{v}` is not an address like 127.0.0.1:8080"
                ))
            })?,
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
        };
        let data_dir = pick(
            flags.data_dir.as_ref(),
            env,
            file.data_dir.clone(),
            &Source {
                flag: "data-dir",
                env: "SICHAT_DATA_DIR",
                file: "data_dir",
            },
        )
        .map(|(v, _)| PathBuf::from(v))
        .unwrap_or_else(|| PathBuf::from("sichat-data"));
        let (public_url, public_url_explicit) = match pick(
            flags.public_url.as_ref(),
            env,
            file.public_url.clone(),
            &Source {
                flag: "public-url",
                env: "SICHAT_PUBLIC_URL",
                file: "public_url",
            },
        ) {
            Some((v, from)) => (
                parse_public_url(&v).map_err(|e| ConfigError(format!("{from}: {e}")))?,
                true,
            ),
            None => (default_public_url(listen), false),
        };
        let database_url = match pick(
            flags.database_url.as_ref(),
            env,
            file.database_url.clone(),
            &Source {
                flag: "database-url",
                env: "SICHAT_DATABASE_URL",
                file: "database_url",
            },
        ) {
            Some((v, from)) => {
                if !(v.starts_with("sqlite:")
                    || v.starts_with("postgres://")
                    || v.starts_with("postgresql://"))
                {
                    return Err(ConfigError(format!(
                        "{from}: expected a sqlite: or postgres:// URL (scheme `{}`)",
                        v.split(':')
                            .next()
                            .unwrap_or_default()
                            .chars()
                            .take(20)
                            .collect::<String>()
                    )));
                }
                v
            }
            None => format!("sqlite://{}?mode=rwc", data_dir.join("sichat.db").display()),
        };
        let log_format = match pick(
            None,
            env,
            file.log_format.clone(),
            &Source {
                flag: "",
                env: "SICHAT_LOG_FORMAT",
                file: "log_format",
            },
        ) {
            Some((v, from)) => match v.as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => {
                    return Err(ConfigError(format!(
                        "{from}: expected `text` or `json`, got `{v}`"
                    )));
                }
            },
            None => LogFormat::Text,
        };
        let log_level = pick(
            None,
            env,
            file.log_level.clone(),
            &Source {
                flag: "",
                env: "SICHAT_LOG_LEVEL",
                file: "log_level",
            },
        )
        .map(|(v, _)| v)
        .unwrap_or_else(|| "info".into());
        let request_timeout_secs = match pick(
            None,
            env,
            file.request_timeout_secs.map(|n| n.to_string()),
            &Source {
                flag: "",
                env: "SICHAT_REQUEST_TIMEOUT_SECS",
                file: "request_timeout_secs",
            },
        ) {
            Some((v, from)) => match parse_u64(&v, &from)? {
                0 => return Err(ConfigError(format!("{from}: must be at least 1"))),
                n => n,
            },
            None => 30,
        };
        let cors_allowed_origins = match pick(
            None,
            env,
            file.cors_allowed_origins.clone().map(|v| v.join(",")),
            &Source {
                flag: "",
                env: "SICHAT_CORS_ALLOWED_ORIGINS",
                file: "cors_allowed_origins",
            },
        ) {
            Some((v, from)) => {
                let origins: Vec<String> = v
                    .split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect();
                for o in &origins {
                    if o != "*"
                        && Url::parse(o)
                            .map(|u| u.origin().ascii_serialization() != *o)
                            .unwrap_or(true)
                    {
                        return Err(ConfigError(format!(
                            "{from}: `{o}` is not an origin like https://app.example"
                        )));
                    }
                }
                origins
            }
            None => vec!["*".into()],
        };
        let did_web_allow_loopback = match pick(
            None,
            env,
            file.did_web_allow_loopback.map(|b| b.to_string()),
            &Source {
                flag: "",
                env: "SICHAT_DID_WEB_ALLOW_LOOPBACK",
                file: "did_web_allow_loopback",
            },
        ) {
            Some((v, from)) => parse_bool(&v, &from)?,
            None => false,
        };
        let resolver_cache_ttl_secs = match pick(
            None,
            env,
            file.resolver_cache_ttl_secs.map(|n| n.to_string()),
            &Source {
                flag: "",
                env: "SICHAT_RESOLVER_CACHE_TTL_SECS",
                file: "resolver_cache_ttl_secs",
            },
        ) {
            Some((v, from)) => parse_u64(&v, &from)?,
            None => 300,
        };
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
