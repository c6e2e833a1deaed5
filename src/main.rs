//! `sichat`: run the server and administer its data dir.

use std::io::Read;

use anyhow::Context;
use clap::{Parser, Subcommand};
use sichat::config::{Config, ConfigFlags, LogFormat};
use sichat::service::bootstrap::{self, Opened};
use sichat::service::users::{UserName, UserService};
use sichat::service::{SERVER_OWNER, admin_token};
use sichat_core::Secret;
use sichat_core::keys::KeyType;

#[derive(Parser)]
#[command(
    name = "sichat",
    version,
    about = "Sichat: your own identity server (DIDs, keys, credentials, OIDC, DIDComm)"
)]
struct Cli {
    #[command(flatten)]
    config: ConfigFlags,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (initialises the data dir on first start).
    Serve,
    /// Initialise the data dir (master key, database, admin token, server keys) and exit.
    Init,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// List the DIDs this server controls.
    #[command(subcommand)]
    Did(DidCommand),
    /// Manage keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Manage the admin token.
    #[command(subcommand, name = "admin-token")]
    AdminToken(AdminTokenCommand),
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user with fresh keys and a did:web.
    Add {
        name: String,
        /// Read the user's password from standard input (one line).
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List,
}

#[derive(Subcommand)]
enum DidCommand {
    /// Print every DID, one per line: the server's did:web, users' did:web, and the did:key
    /// of each active signing key.
    List,
}

#[derive(Subcommand)]
enum KeyCommand {
    /// List keys of an owner (`server` or `user:<name>`).
    List {
        #[arg(long, default_value = SERVER_OWNER)]
        owner: String,
    },
    /// Generate a key (Ed25519, P-256 or X25519).
    Generate {
        #[arg(long = "type")]
        key_type: KeyType,
        #[arg(long, default_value = SERVER_OWNER)]
        owner: String,
    },
    /// Rotate a key: a new key of the same type replaces it; the old one stays published.
    Rotate { id: String },
}

#[derive(Subcommand)]
enum AdminTokenCommand {
    /// Replace the admin token and print the new one.
    Rotate,
}

/// Writes one line to standard output; a closed pipe (`sichat did list | head -1`) ends
/// the process quietly instead of panicking.
fn out(line: impl std::fmt::Display) {
    use std::io::Write;
    if let Err(e) = writeln!(std::io::stdout().lock(), "{line}") {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: writing to standard output: {e}");
        std::process::exit(1);
    }
}

fn env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.is_empty())
}

fn init_logging(config: &Config, serving: bool) {
    let default = if serving {
        config.log_level.as_str()
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_new(default)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

fn print_admin_token(opened: &Opened) {
    if let Some(token) = &opened.new_admin_token {
        println!("Admin token (shown once, store it now): {}", token.expose());
    } else if opened.admin_token_from_env {
        println!("Admin token: taken from SICHAT_ADMIN_TOKEN");
    }
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut config = Config::load(&cli.config)?;
    init_logging(&config, matches!(cli.command, Command::Serve));
    let opened = bootstrap::open(&mut config, &env).await?;
    if !matches!(cli.command, Command::Serve | Command::Init)
        && let Some(token) = &opened.new_admin_token
    {
        // This command initialised the data dir: the token must not be lost. Standard
        // error keeps standard output machine-readable.
        eprintln!(
            "Initialised {}. Admin token (shown once, store it now): {}",
            config.data_dir.display(),
            token.expose()
        );
    }
    match cli.command {
        Command::Serve => {
            let listener = tokio::net::TcpListener::bind(config.listen)
                .await
                .with_context(|| format!("cannot listen on {}", config.listen))?;
            print_admin_token(&opened);
            println!(
                "Sichat listening on {} (public URL {})",
                listener.local_addr()?,
                config.public_url.as_str().trim_end_matches('/')
            );
            println!("Server DID: {}", opened.identity.server_did());
            let state = sichat::app::AppState::new(config, &opened)?;
            sichat::app::serve(
                listener,
                sichat::app::router(state),
                sichat::app::shutdown_signal(),
            )
            .await?;
        }
        Command::Init => {
            println!(
                "{} {}",
                if opened.initialised {
                    "Initialised"
                } else {
                    "Already initialised:"
                },
                config.data_dir.display()
            );
            print_admin_token(&opened);
            println!("Server DID: {}", opened.identity.server_did());
        }
        Command::User(UserCommand::Add {
            name,
            password_stdin,
        }) => {
            let password = if password_stdin {
                let mut buf = zeroize::Zeroizing::new(String::new());
                std::io::stdin()
                    .read_to_string(&mut buf)
                    .context("reading the password from stdin")?;
                let line = buf.lines().next().unwrap_or_default().to_owned();
                Some(Secret::new(line))
            } else {
                None
            };
            let users = UserService::new(
                opened.db.clone(),
                opened.keys.clone(),
                opened.identity.clone(),
            );
            let user = users.create(&UserName::parse(&name)?, password).await?;
            out(&user.did);
        }
        Command::User(UserCommand::List) => {
            let users = UserService::new(
                opened.db.clone(),
                opened.keys.clone(),
                opened.identity.clone(),
            );
            for u in users.list().await? {
                out(format_args!("{}\t{}", u.name, u.did));
            }
        }
        Command::Did(DidCommand::List) => {
            for entry in opened.identity.all_dids().await? {
                out(&entry.did);
            }
        }
        Command::Key(KeyCommand::List { owner }) => {
            check_owner(&opened, &owner).await?;
            for k in opened.keys.list(&owner).await? {
                out(format_args!(
                    "{}\t{}\t{}\t{}",
                    k.id,
                    k.key_type,
                    k.status.as_str(),
                    k.public_key_multibase
                ));
            }
        }
        Command::Key(KeyCommand::Generate { key_type, owner }) => {
            check_owner(&opened, &owner).await?;
            let k = opened.keys.generate(&owner, key_type).await?;
            println!("{}\t{}\t{}", k.id, k.key_type, k.public_key_multibase);
        }
        Command::Key(KeyCommand::Rotate { id }) => {
            let k = opened.keys.rotate(&id).await?;
            println!("{}\t{}\t{}", k.id, k.key_type, k.public_key_multibase);
        }
        Command::AdminToken(AdminTokenCommand::Rotate) => {
            let token = admin_token::generate();
            admin_token::replace(&opened.db, token.expose()).await?;
            println!("New admin token (shown once): {}", token.expose());
        }
    }
    Ok(())
}

async fn check_owner(opened: &Opened, owner: &str) -> anyhow::Result<()> {
    if owner == SERVER_OWNER {
        return Ok(());
    }
    let name = owner
        .strip_prefix("user:")
        .context("--owner: expected `server` or `user:<name>`")?;
    anyhow::ensure!(
        sichat::store::users::find_by_name(&opened.db, name)
            .await?
            .is_some(),
        "user `{name}` not found"
    );
    Ok(())
}
