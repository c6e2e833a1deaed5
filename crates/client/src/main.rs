//! `sichat-client`: create identities and resolve DIDs, with or without a server.

use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use sichat_client::identity::{self, Method};
use sichat_client::server::ServerClient;
use sichat_core::did::{CachePolicy, DidResolver};
use sichat_core::id::Did;

mod bundle_cli;

#[derive(Parser)]
#[command(
    name = "sichat-client",
    version,
    about = "Sichat client: your identity without (or with) a server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Resolve a DID: locally (default) or through a Sichat server.
    Resolve {
        did: String,
        /// Base URL of a Sichat server to resolve through.
        #[arg(long)]
        server: Option<url::Url>,
    },
    /// Create a new identity and write its private keys to a file (mode 0600).
    New {
        #[arg(long, value_enum, default_value = "peer")]
        method: Method,
        /// DIDComm endpoint to put in a did:peer:2.
        #[arg(long)]
        endpoint: Option<String>,
        /// Where to write the private keys.
        #[arg(long)]
        out: PathBuf,
    },
    /// Trust bundles: what offline verification needs, gathered while online.
    Bundle {
        #[command(subcommand)]
        action: BundleAction,
    },
    /// Verify a credential or presentation offline, from a trust bundle. Exit code 0:
    /// valid; 1: invalid; 2: a usage error; 3: unknown (an input missing or too old); 4:
    /// the file or the bundle could not be read or was refused.
    Verify(bundle_cli::VerifyArgs),
    /// DIDComm v2 for interop testing: one JSON object on stdin, one on stdout; on failure
    /// `{"error": "..."}` and a non-zero exit code. Identities live in $SICHAT_CLIENT_HOME.
    Didcomm {
        #[command(subcommand)]
        action: DidcommAction,
    },
}

#[derive(Subcommand)]
enum BundleAction {
    /// Build a bundle (online): `--server` pins the server's DIDs (`GET /dids`) and
    /// status lists (`GET /status`); `--did` and `--status-list` add more.
    Build {
        #[arg(long)]
        server: Option<url::Url>,
        #[arg(long = "did")]
        dids: Vec<String>,
        #[arg(long = "status-list")]
        status_lists: Vec<String>,
        /// An extra JSON-LD context: `URL=FILE`.
        #[arg(long = "context")]
        contexts: Vec<String>,
        /// Trust only these issuers (stored in the bundle).
        #[arg(long = "trusted-issuer")]
        trusted_issuers: Vec<String>,
        /// Sign the bundle with this identity file (from `sichat-client new`).
        #[arg(long)]
        sign_with: Option<PathBuf>,
        #[command(flatten)]
        fetch: FetchArgs,
        #[arg(long)]
        out: PathBuf,
    },
    /// Fetch again what a bundle pins from its sources (written in place unless --out).
    Refresh {
        file: PathBuf,
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long)]
        sign_with: Option<PathBuf>,
        #[command(flatten)]
        fetch: FetchArgs,
    },
    /// Show what a bundle holds and how old it is (its signature checked when present).
    Show {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args)]
struct FetchArgs {
    /// Allow plain HTTP to 127.0.0.1 (local testing only).
    #[arg(long, env = "SICHAT_CLIENT_ALLOW_LOOPBACK")]
    allow_loopback: bool,
}

impl FetchArgs {
    fn policy(&self) -> sichat_core::did::web_fetch::FetchPolicy {
        sichat_core::did::web_fetch::FetchPolicy {
            allow_loopback: self.allow_loopback,
            ..Default::default()
        }
    }
}

/// `1d`, `12h`, `30m`, `90s` or a number of seconds.
fn parse_age(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 1d, 12h, 30m or 90s"))?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        other => return Err(format!("unknown unit `{other}` (use s, m, h or d)")),
    };
    n.checked_mul(scale)
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| format!("`{text}` is too long"))
}

#[derive(Subcommand)]
enum DidcommAction {
    /// `{"kind": "peer2"|"key", "endpoint"?: URI}` → `{"did": DID}` (its secrets kept).
    Did,
    /// `{"message": {plaintext}, "to": DID, "from": DID|null, "sign": bool}` →
    /// `{"packed": JWE, "service_uri": URI|null}` (`from: null`: anoncrypt).
    Pack,
    /// `{"packed": JWE|JWS|plaintext}` → `{"message": {...}, "metadata": {...}}`.
    Unpack,
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    if let Command::Didcomm { action } = &cli.command {
        // The interop protocol: errors are JSON on stdout too.
        match didcomm(action).await {
            Ok(out) => println!("{out}"),
            Err(e) => {
                println!("{}", serde_json::json!({"error": format!("{e:#}")}));
                std::process::exit(1);
            }
        }
        return;
    }
    match run(cli).await {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    }
}

/// The resolver of the interop commands: offline methods, did:web over HTTPS (and, with
/// `SICHAT_CLIENT_ALLOW_LOOPBACK=true`, over HTTP on 127.0.0.1 for local testing).
fn interop_resolver() -> anyhow::Result<std::sync::Arc<dyn DidResolver>> {
    use sichat_core::did::web_fetch::{FetchPolicy, GuardedFetcher};
    let allow_loopback = std::env::var("SICHAT_CLIENT_ALLOW_LOOPBACK").is_ok_and(|v| v == "true");
    let fetcher = GuardedFetcher::new(FetchPolicy {
        allow_loopback,
        ..FetchPolicy::default()
    })?;
    Ok(std::sync::Arc::new(
        sichat_core::did::StandardResolver::with_cached_web(
            std::sync::Arc::new(fetcher),
            std::sync::Arc::new(sichat_core::SystemClock),
            CachePolicy::default(),
        ),
    ))
}

async fn didcomm(action: &DidcommAction) -> anyhow::Result<serde_json::Value> {
    use sichat_client::didcomm::{home_dir, interop};
    let mut input = String::new();
    std::io::stdin()
        .take(16 * 1024 * 1024)
        .read_to_string(&mut input)
        .context("reading stdin")?;
    let input: serde_json::Value =
        serde_json::from_str(&input).context("stdin is not one JSON object")?;
    let action = match action {
        DidcommAction::Did => interop::Action::Did,
        DidcommAction::Pack => interop::Action::Pack,
        DidcommAction::Unpack => interop::Action::Unpack,
    };
    interop::run(action, &input, &home_dir()?, interop_resolver()?)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// Runs a command; the exit code.
async fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Bundle { action } => return bundle_cli::run(action).await,
        Command::Verify(args) => {
            return Ok(match bundle_cli::verify(args).await {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    4
                }
            });
        }
        Command::Didcomm { action } => println!("{}", didcomm(&action).await?),
        Command::Resolve { did, server: None } => {
            let resolution = sichat_client::local_resolver(CachePolicy::default())?
                .resolve(&Did::parse(&did)?)
                .await?;
            println!(
                "{}",
                serde_json::to_string_pretty(&resolution.to_universal_resolver_json())?
            );
        }
        Command::Resolve {
            did,
            server: Some(base),
        } => {
            let result = ServerClient::new(base)?.resolve(&did).await?;
            println!("{}", serde_json::to_string_pretty(&result)?);
        }
        Command::New {
            method,
            endpoint,
            out,
        } => {
            let id = identity::create(method, endpoint.as_deref());
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let mut file = opts
                .open(&out)
                .with_context(|| format!("cannot create {}", out.display()))?;
            file.write_all(serde_json::to_string_pretty(&id.to_private_json())?.as_bytes())?;
            println!("{}", id.did);
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::parse_age;
    use std::time::Duration;

    #[test]
    fn ages_take_a_unit() {
        assert_eq!(parse_age("1d").unwrap(), Duration::from_secs(86_400));
        assert_eq!(parse_age("12h").unwrap(), Duration::from_secs(43_200));
        assert_eq!(parse_age("30m").unwrap(), Duration::from_secs(1_800));
        assert_eq!(parse_age("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_age("45").unwrap(), Duration::from_secs(45));
        assert!(parse_age("1y").is_err());
        assert!(parse_age("d").is_err());
        assert!(parse_age("-1h").is_err());
        assert!(parse_age("99999999999999999999d").is_err());
    }
}
