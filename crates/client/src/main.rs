//! `sichat-client`: create identities and resolve DIDs, with or without a server.

use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use sichat_client::identity::{self, Method};
use sichat_client::server::ServerClient;
use sichat_core::did::{CachePolicy, DidResolver};
use sichat_core::id::Did;

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
    /// DIDComm v2 for interop testing: one JSON object on stdin, one on stdout; on failure
    /// `{"error": "..."}` and a non-zero exit code. Identities live in $SICHAT_CLIENT_HOME.
    Didcomm {
        #[command(subcommand)]
        action: DidcommAction,
    },
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
    if let Err(e) = run(cli).await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
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

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
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
    Ok(())
}
