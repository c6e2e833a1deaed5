//! `sichat`: run the server and administer its data dir.

use std::io::Read;
use std::sync::Arc;

use anyhow::Context;

/// mimalloc: JSON-LD processing (expansion, canonicalization) is mostly allocation, and
/// glibc's allocator costs about 40 % of a Data Integrity operation (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use clap::{Parser, Subcommand};
use sichat::config::{Config, ConfigFlags, LogFormat, parse_public_url};
use sichat::service::bootstrap::{self, Opened, Purpose};
use sichat_core::id::{KeyId, UserName};
use sichat_core::keys::KeyType;
use sichat_core::{Secret, SystemClock};

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
    /// Issue, verify, revoke and suspend credentials (as the admin: any DID of the server
    /// or its users).
    #[command(subcommand)]
    Credential(CredentialCommand),
    /// Manage keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Manage OpenID Connect clients (the apps that log users in here).
    #[command(subcommand)]
    Client(ClientCommand),
    /// OpenID Connect settings: the claims held credentials can back.
    #[command(subcommand)]
    Oidc(OidcCommand),
    /// Manage the admin token.
    #[command(subcommand, name = "admin-token")]
    AdminToken(AdminTokenCommand),
    /// Show or change the public URL (the server's and users' did:web derive from it).
    #[command(subcommand, name = "public-url")]
    PublicUrl(PublicUrlCommand),
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user with fresh keys and a did:web.
    Add {
        name: String,
        /// Read the user's password from standard input (one line).
        #[arg(long)]
        password_stdin: bool,
        /// The user's email address (the OpenID Connect `email` claim).
        #[arg(long)]
        email: Option<String>,
        /// The user's full name (the OpenID Connect `name` claim).
        #[arg(long = "name")]
        display_name: Option<String>,
    },
    /// List users.
    List,
    /// Create an API token for a user and print it (shown this once). It may issue
    /// credentials as the user's DIDs and use the user's holder API.
    Token {
        name: String,
        /// What the token is for.
        #[arg(long)]
        label: Option<String>,
    },
    /// List a user's API tokens (id, created, revoked, label; never the secrets).
    Tokens { name: String },
    /// Revoke one of a user's API tokens; it stops working at once.
    #[command(name = "revoke-token")]
    RevokeToken { name: String, id: String },
}

#[derive(Subcommand)]
enum CredentialCommand {
    /// Issue the unsigned credential in FILE (`-`: standard input); prints the secured
    /// credential as JSON.
    Issue {
        file: String,
        /// The issuer DID (default: the credential's `issuer`, else the server's did:web).
        #[arg(long)]
        issuer: Option<String>,
        /// eddsa-rdfc-2022, ecdsa-rdfc-2019, vc+jwt or vc+sd-jwt (default: the issuer
        /// key's Data Integrity suite).
        #[arg(long)]
        format: Option<String>,
        /// Issue without status entries (it can then not be revoked).
        #[arg(long)]
        no_status: bool,
    },
    /// Verify the credential (or, with --presentation, the presentation) in FILE; prints
    /// the result as JSON and exits 1 when it does not verify.
    Verify {
        file: String,
        #[arg(long)]
        presentation: bool,
        #[arg(long)]
        challenge: Option<String>,
        #[arg(long)]
        domain: Option<String>,
    },
    /// Revoke a credential issued here, for good.
    Revoke { id: String },
    /// Suspend a credential issued here.
    Suspend { id: String },
    /// Lift a credential's suspension.
    Reinstate { id: String },
}

#[derive(Subcommand)]
// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
enum ClientCommand {
    /// Register a client; prints its id and, for a confidential client, its secret (shown
    /// this once; generated unless --secret-stdin).
    Add {
        id: String,
        /// An exact redirect URI (repeat for several).
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// A public client (an app on the user's device): no secret, PKCE only.
        #[arg(long)]
        public: bool,
        /// Read the secret from standard input (one line, at least 32 characters).
        #[arg(long)]
        secret_stdin: bool,
        /// A scope the client may ask for (repeat; default for a login client: openid
        /// profile email offline_access).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// A grant type (repeat): authorization_code (default), refresh_token,
        /// client_credentials.
        #[arg(long = "grant")]
        grants: Vec<String>,
        /// client_secret_basic (default), client_secret_post, private_key_jwt, none.
        #[arg(long)]
        auth_method: Option<String>,
        /// A file with the client's public JWK set (for private_key_jwt).
        #[arg(long)]
        jwks: Option<std::path::PathBuf>,
        /// A post-logout redirect URI (repeat for several).
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// RS256 (default), ES256 or EdDSA.
        #[arg(long)]
        id_token_alg: Option<String>,
        /// The name shown to users on the consent page.
        #[arg(long)]
        name: Option<String>,
        /// A DID a client_credentials token may issue credentials as (repeat; default the
        /// server's did:web).
        #[arg(long = "issuer-did")]
        issuer_dids: Vec<String>,
        /// Let this confidential client skip PKCE (only for conformance suites that send
        /// none).
        #[arg(long)]
        allow_no_pkce: bool,
    },
    /// List clients: id, type, authentication method, redirect URIs.
    List,
    /// Remove a client: it can no longer log anyone in or get a token.
    Remove { id: String },
}

#[derive(Subcommand)]
enum OidcCommand {
    /// Claims that verifiable credentials the user holds on this server can back.
    #[command(subcommand)]
    Claim(ClaimCommand),
}

#[derive(Subcommand)]
enum ClaimCommand {
    /// Declare that a credential type backs a claim, released with SCOPE (or when the
    /// claim is asked for by name). Without --from the claim is `true` while a matching
    /// credential verifies.
    Add {
        /// The scope that releases the claim (e.g. vc:email).
        scope: String,
        /// The claim's name (e.g. email_verified).
        #[arg(long)]
        claim: String,
        /// The credential type that backs it (e.g. EmailCredential).
        #[arg(long)]
        credential_type: String,
        /// A trusted issuer DID (repeat; default: this server's DIDs).
        #[arg(long = "issuer")]
        issuers: Vec<String>,
        /// The credential field whose value the claim takes (e.g. credentialSubject.email).
        #[arg(long)]
        from: Option<String>,
    },
    /// List the claim rules: id, scope, claim, credential type, issuers, field.
    List,
    /// Remove a claim rule by id.
    Remove { id: String },
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
        #[arg(long, default_value = "server")]
        owner: String,
    },
    /// Generate a key (Ed25519, P-256 or X25519; RSA for the server, to sign RS256 ID
    /// tokens).
    Generate {
        #[arg(long = "type")]
        key_type: KeyType,
        #[arg(long, default_value = "server")]
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

#[derive(Subcommand)]
enum PublicUrlCommand {
    /// Print the stored public URL.
    Show,
    /// Change the public URL: prints every DID that changes; `--yes` applies it. Restart
    /// every instance with the new URL afterwards (running ones report not ready).
    Set {
        url: String,
        /// Apply the change (without it, only show what would change).
        #[arg(long)]
        yes: bool,
    },
}

/// Reads a JSON document from a file or, for `-`, standard input.
fn read_json(file: &str) -> anyhow::Result<serde_json::Value> {
    let text = if file == "-" {
        let mut buf = String::new();
        std::io::stdin()
            .read_to_string(&mut buf)
            .context("reading standard input")?;
        buf
    } else {
        std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?
    };
    serde_json::from_str(&text).with_context(|| format!("{file} is not JSON"))
}

async fn credential_command(
    services: &sichat::service::Services,
    command: CredentialCommand,
) -> anyhow::Result<()> {
    use sichat::service::credentials::Caller;
    use sichat::service::status_lists::Wanted;
    use sichat_core::api::{IssueOptions, VerifyOptions};
    let credentials = &services.credentials;
    let problem = |e: sichat::error::ApiError| anyhow::anyhow!("{}", e.0.detail);
    let status = |id: String, wanted: Wanted| async move {
        let entries = credentials
            .update_status(&Caller::Admin, &id, &[wanted])
            .await
            .map_err(problem)?;
        for e in entries {
            out(format_args!(
                "{}\t{}\t{}",
                e.assignment.purpose,
                if e.set { "set" } else { "clear" },
                credentials.status_lists().url(&e.assignment.list)
            ));
        }
        anyhow::Ok(())
    };
    match command {
        CredentialCommand::Issue {
            file,
            issuer,
            format,
            no_status,
        } => {
            let mut credential = read_json(&file)?;
            if let Some(issuer) = issuer {
                credential
                    .as_object_mut()
                    .ok_or_else(|| anyhow::anyhow!("{file} is not a JSON object"))?
                    .insert("issuer".into(), serde_json::Value::String(issuer));
            }
            let mut options = IssueOptions::default();
            match format.as_deref() {
                None => {}
                Some(suite @ ("eddsa-rdfc-2022" | "ecdsa-rdfc-2019")) => {
                    options.cryptosuite = Some(suite.into())
                }
                Some(other) => options.format = Some(other.into()),
            }
            if no_status {
                options.credential_status = Some(serde_json::Value::Bool(false));
            }
            let vc = credentials
                .issue(&Caller::Admin, credential, &options)
                .await
                .map_err(problem)?;
            out(serde_json::to_string_pretty(&vc)?);
        }
        CredentialCommand::Verify {
            file,
            presentation,
            challenge,
            domain,
        } => {
            let document = read_json(&file)?;
            let options = VerifyOptions { challenge, domain };
            let result = if presentation {
                credentials.verify_presentation(document, options).await
            } else {
                credentials.verify_credential(document, options).await
            }
            .map_err(problem)?;
            out(serde_json::to_string_pretty(&result)?);
            if !result.verified {
                std::process::exit(1);
            }
        }
        CredentialCommand::Revoke { id } => status(id, Wanted::Revoked).await?,
        CredentialCommand::Suspend { id } => status(id, Wanted::Suspended).await?,
        CredentialCommand::Reinstate { id } => status(id, Wanted::Active).await?,
    }
    Ok(())
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
    #[cfg(unix)]
    {
        // Whatever the process creates (database, WAL, key files) is its owner's alone.
        // SAFETY: umask only changes this process's file-creation mask.
        unsafe {
            libc::umask(0o077);
        }
    }
    if let Err(e) = run().await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut config = Config::load(&cli.config)?;
    let serving = matches!(cli.command, Command::Serve);
    init_logging(&config, serving);
    let purpose = if matches!(cli.command, Command::Serve | Command::Init) {
        Purpose::Serve
    } else {
        Purpose::Admin
    };
    let opened = bootstrap::open(&mut config, &env, Arc::new(SystemClock), purpose).await?;
    if purpose == Purpose::Admin
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
    let services = &opened.services;
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
            println!("Server DID: {}", services.identity.server_did());
            services.start_background(&config);
            let router = sichat::app::router(sichat::app::AppState::new(services), &config);
            let options = sichat::serve::ServeOptions::from_config(&config);
            sichat::serve::serve(listener, router, options, sichat::app::shutdown_signal()).await?;
            services.background.drain(options.shutdown_grace).await;
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
            println!("Server DID: {}", services.identity.server_did());
        }
        Command::User(UserCommand::Add {
            name,
            password_stdin,
            email,
            display_name,
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
            let user = services
                .users
                .create(
                    &UserName::parse(&name)?,
                    password,
                    sichat_core::store::UserProfile {
                        email,
                        display_name,
                    },
                )
                .await?;
            out(&user.did);
        }
        Command::Client(command) => client_command(services, command).await?,
        Command::Oidc(OidcCommand::Claim(command)) => claim_command(services, command).await?,
        Command::User(UserCommand::List) => {
            for u in services.users.list().await? {
                out(format_args!("{}\t{}", u.name, u.did));
            }
        }
        Command::User(UserCommand::Token { name, label }) => {
            let (info, token) = services
                .user_tokens
                .create(&UserName::parse(&name)?, label.as_deref())
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.0.detail))?;
            eprintln!("Token {} for {name} (shown once; store it now):", info.id);
            out(token.expose());
        }
        Command::User(UserCommand::Tokens { name }) => {
            for t in services.user_tokens.list(&UserName::parse(&name)?).await? {
                let revoked = t
                    .revoked_at
                    .map_or("active".to_owned(), |at| format!("revoked {at}"));
                out(format_args!(
                    "{}\t{}\t{revoked}\t{}",
                    t.id,
                    t.created_at,
                    t.label.unwrap_or_default()
                ));
            }
        }
        Command::User(UserCommand::RevokeToken { name, id }) => {
            if !services
                .user_tokens
                .revoke(&UserName::parse(&name)?, &id)
                .await?
            {
                anyhow::bail!("user `{name}` has no active token `{id}`");
            }
            out(format_args!("revoked {id}"));
        }
        Command::Credential(command) => credential_command(services, command).await?,
        Command::Did(DidCommand::List) => {
            for entry in services.identity.all_dids().await? {
                out(&entry.did);
            }
        }
        Command::Key(KeyCommand::List { owner }) => {
            let owner = services.users.owner(Some(&owner)).await?;
            for k in services.keys.list(&owner).await? {
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
            let owner = services.users.owner(Some(&owner)).await?;
            let k = services.keys.generate(&owner, key_type).await?;
            out(format_args!(
                "{}\t{}\t{}",
                k.id, k.key_type, k.public_key_multibase
            ));
        }
        Command::Key(KeyCommand::Rotate { id }) => {
            let k = services.keys.rotate(&KeyId::parse(&id)?).await?;
            out(format_args!(
                "{}\t{}\t{}",
                k.id, k.key_type, k.public_key_multibase
            ));
        }
        Command::AdminToken(AdminTokenCommand::Rotate) => {
            let token = services.admin_tokens.rotate().await?;
            out(format_args!(
                "New admin token (shown once): {}",
                token.expose()
            ));
        }
        Command::PublicUrl(PublicUrlCommand::Show) => match services.public_urls.stored().await? {
            Some(url) => out(url),
            None => out(format_args!(
                "{} (not stored yet: the first `sichat serve` or `sichat init` stores it)",
                config.public_url.as_str().trim_end_matches('/')
            )),
        },
        Command::PublicUrl(PublicUrlCommand::Set { url, yes }) => {
            let new = parse_public_url(&url).map_err(|e| anyhow::anyhow!("URL: {e}"))?;
            let old = match services.public_urls.stored().await? {
                Some(stored) => parse_public_url(&stored).map_err(|e| anyhow::anyhow!(e))?,
                None => config.public_url.clone(),
            };
            let changes = services.public_urls.changes(&old, &new).await?;
            if changes.is_empty() {
                out("The public URL is unchanged.");
                return Ok(());
            }
            for c in &changes {
                out(format_args!("{} -> {}", c.old, c.new));
            }
            if yes {
                services.public_urls.set(&new).await?;
                out(format_args!(
                    "Public URL set to {}; restart every instance with it.",
                    new.as_str().trim_end_matches('/')
                ));
            } else {
                out(format_args!(
                    "{} DID(s) would change; run again with --yes to apply.",
                    changes.len()
                ));
            }
        }
    }
    Ok(())
}

/// `sichat oidc claim ...`.
async fn claim_command(
    services: &sichat::service::Services,
    command: ClaimCommand,
) -> anyhow::Result<()> {
    let api = |e: sichat::error::ApiError| anyhow::anyhow!("{}", e.0.detail);
    match command {
        ClaimCommand::Add {
            scope,
            claim,
            credential_type,
            issuers,
            from,
        } => {
            let rule = services
                .claim_rules
                .add(sichat_core::api::CreateClaimRule {
                    scope,
                    claim,
                    credential_type,
                    issuers,
                    from,
                })
                .await
                .map_err(api)?;
            eprintln!(
                "Claim `{}` in scope `{}` is backed by {} credentials",
                rule.claim, rule.scope, rule.credential_type
            );
            out(&rule.id);
        }
        ClaimCommand::List => {
            for r in services.claim_rules.list().await.map_err(api)? {
                out(format_args!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    r.id,
                    r.scope,
                    r.claim,
                    r.credential_type,
                    if r.issuers.is_empty() {
                        "(this server)".to_owned()
                    } else {
                        r.issuers.join(" ")
                    },
                    r.from.as_deref().unwrap_or("(true)")
                ));
            }
        }
        ClaimCommand::Remove { id } => {
            services.claim_rules.remove(&id).await.map_err(api)?;
            out(format_args!("removed {id}"));
        }
    }
    Ok(())
}

/// `sichat client ...`.
async fn client_command(
    services: &sichat::service::Services,
    command: ClientCommand,
) -> anyhow::Result<()> {
    let api = |e: sichat::error::ApiError| anyhow::anyhow!("{}", e.0.detail);
    match command {
        ClientCommand::Add {
            id,
            redirect_uris,
            public,
            secret_stdin,
            scopes,
            grants,
            auth_method,
            jwks,
            post_logout_redirect_uris,
            id_token_alg,
            name,
            issuer_dids,
            allow_no_pkce,
        } => {
            let client_secret = if secret_stdin {
                let mut buf = zeroize::Zeroizing::new(String::new());
                std::io::stdin()
                    .read_to_string(&mut buf)
                    .context("reading the client secret from stdin")?;
                Some(buf.lines().next().unwrap_or_default().to_owned())
            } else {
                None
            };
            let jwks = match jwks {
                Some(path) => Some(
                    serde_json::from_str(
                        &std::fs::read_to_string(&path)
                            .with_context(|| format!("reading {}", path.display()))?,
                    )
                    .with_context(|| format!("{} is not JSON", path.display()))?,
                ),
                None => None,
            };
            let created = services
                .clients
                .create(sichat_core::api::CreateClient {
                    client_id: id,
                    redirect_uris,
                    post_logout_redirect_uris,
                    public,
                    token_endpoint_auth_method: auth_method,
                    client_secret,
                    grant_types: grants,
                    scope: (!scopes.is_empty()).then(|| scopes.join(" ")),
                    jwks,
                    id_token_signed_response_alg: id_token_alg,
                    client_name: name,
                    issuer_dids,
                    allow_no_pkce,
                })
                .await
                .map_err(api)?;
            let c = &created.client;
            eprintln!(
                "Client {} ({}, {}, scopes: {})",
                c.client_id,
                if c.public { "public" } else { "confidential" },
                c.token_endpoint_auth_method,
                c.scope
            );
            match &created.client_secret {
                Some(secret) if !secret_stdin => {
                    eprintln!("Its secret (shown once; store it now):");
                    out(secret);
                }
                _ => out(&c.client_id),
            }
        }
        ClientCommand::List => {
            for c in services.clients.list().await.map_err(api)? {
                out(format_args!(
                    "{}\t{}\t{}\t{}",
                    c.client_id,
                    if c.public { "public" } else { "confidential" },
                    c.token_endpoint_auth_method,
                    c.redirect_uris.join(" ")
                ));
            }
        }
        ClientCommand::Remove { id } => {
            services.clients.remove(&id).await.map_err(api)?;
            out(format_args!("removed {id}"));
        }
    }
    Ok(())
}
