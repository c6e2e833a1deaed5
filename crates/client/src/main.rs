//! `sichat-client`: create identities and resolve DIDs, with or without a server.

use std::io::Write;
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
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn run() -> anyhow::Result<()> {
    match Cli::parse().command {
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
