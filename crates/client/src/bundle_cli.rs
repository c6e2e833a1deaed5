//! `sichat-client bundle build|refresh|show` and `sichat-client verify`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use sichat_client::bundle::{LoadedBundle, PinnedContext, TrustBundle};
use sichat_client::bundle_build::{self, BuildOptions, Built};
use sichat_client::identity::LocalIdentity;
use sichat_client::offline::{self, OfflineReport, OfflineVerifier, Verdict};

use super::BundleAction;

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// A JSON credential or presentation, or a compact vc+jwt / vp+jwt / SD-JWT VC.
    pub file: PathBuf,
    /// The trust bundle (from `bundle build`).
    #[arg(long)]
    pub bundle: PathBuf,
    /// Status from a list older than this is unknown (e.g. 1d, 12h, 30m, 90s).
    #[arg(long, value_parser = super::parse_age)]
    pub max_status_age: Option<Duration>,
    /// Accept credentials from these issuers only.
    #[arg(long = "trusted-issuer")]
    pub trusted_issuers: Vec<String>,
    /// Require the bundle to be signed by this DID.
    #[arg(long)]
    pub bundle_signer: Option<String>,
    /// The presentation's expected challenge.
    #[arg(long)]
    pub challenge: Option<String>,
    /// The presentation's expected domain.
    #[arg(long)]
    pub domain: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The largest credential or presentation file read.
const MAX_DOCUMENT_BYTES: u64 = 16 * 1024 * 1024;

fn read_limited(path: &Path, max: u64) -> anyhow::Result<Vec<u8>> {
    use std::io::Read;
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {}", path.display()))?;
    anyhow::ensure!(
        bytes.len() as u64 <= max,
        "{} is larger than {max} bytes",
        path.display()
    );
    Ok(bytes)
}

fn load_bundle(path: &Path) -> anyhow::Result<LoadedBundle> {
    let bytes = read_limited(path, sichat_client::bundle::MAX_BYTES as u64)?;
    TrustBundle::load(&bytes).with_context(|| format!("trust bundle {}", path.display()))
}

/// Writes `bundle` next to `path` and renames it into place.
fn write_bundle(path: &Path, bundle: &TrustBundle) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(bundle)?)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

fn sign(bundle: &mut TrustBundle, identity: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(identity)
        .with_context(|| format!("cannot read {}", identity.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not an identity file", identity.display()))?;
    let id = LocalIdentity::from_private_json(&value)
        .map_err(|e| anyhow::anyhow!("{}: {e}", identity.display()))?;
    let (method, key) = id
        .signing_key()
        .ok_or_else(|| anyhow::anyhow!("{} has no signing key", identity.display()))?;
    bundle.sign(method, key)?;
    Ok(id.did.as_str().to_owned())
}

fn finish(built: Built, sign_with: Option<&Path>, out: &Path) -> anyhow::Result<i32> {
    let Built {
        mut bundle,
        skipped,
    } = built;
    for s in &skipped {
        eprintln!("warning: {s}");
    }
    let signer = match sign_with {
        Some(identity) => Some(sign(&mut bundle, identity)?),
        None => None,
    };
    write_bundle(out, &bundle)?;
    println!(
        "{}: {} DID documents, {} status lists, {} contexts{}",
        out.display(),
        bundle.did_documents.len(),
        bundle.status_lists.len(),
        bundle.contexts.len(),
        signer
            .map(|s| format!(", signed by {s}"))
            .unwrap_or_default()
    );
    Ok(0)
}

pub async fn run(action: BundleAction) -> anyhow::Result<i32> {
    match action {
        BundleAction::Build {
            server,
            dids,
            status_lists,
            contexts,
            trusted_issuers,
            sign_with,
            fetch,
            out,
        } => {
            anyhow::ensure!(
                server.is_some() || !dids.is_empty() || !status_lists.is_empty(),
                "nothing to pin: give --server, --did or --status-list"
            );
            let contexts = contexts
                .iter()
                .map(|c| read_context(c))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let options = BuildOptions {
                server,
                dids,
                status_lists,
                contexts,
                trusted_issuers: (!trusted_issuers.is_empty()).then_some(trusted_issuers),
                fetch: fetch.policy(),
            };
            let built = bundle_build::build(&options).await?;
            finish(built, sign_with.as_deref(), &out)
        }
        BundleAction::Refresh {
            file,
            out,
            sign_with,
            fetch,
        } => {
            let loaded = load_bundle(&file)?;
            if let (Some(signer), None) = (&loaded.signer, &sign_with) {
                eprintln!(
                    "warning: {} was signed by {signer}; the refreshed bundle is unsigned (add --sign-with to sign it)",
                    file.display()
                );
            }
            let built = bundle_build::refresh(&loaded.bundle, fetch.policy()).await?;
            finish(built, sign_with.as_deref(), out.as_deref().unwrap_or(&file))
        }
        BundleAction::Show { file, json } => {
            let loaded = load_bundle(&file)?;
            if json {
                let mut value = serde_json::to_value(&loaded.bundle)?;
                value["verifiedSigner"] = serde_json::json!(loaded.signer);
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                show(&loaded);
            }
            Ok(0)
        }
    }
}

/// `URL=FILE`.
fn read_context(arg: &str) -> anyhow::Result<PinnedContext> {
    let (url, file) = arg
        .split_once('=')
        .ok_or_else(|| anyhow::anyhow!("--context takes URL=FILE, not `{arg}`"))?;
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {file}"))?;
    let document =
        serde_json::from_str(&text).with_context(|| format!("{file} is not a JSON document"))?;
    Ok(PinnedContext {
        url: url.to_owned(),
        document,
    })
}

/// A readable age: `3d 4h`, `2h 5m`, `40s`.
fn age(then: DateTime<Utc>) -> String {
    let secs = (Utc::now() - then).num_seconds();
    if secs < 0 {
        return "in the future".into();
    }
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    if d > 0 {
        format!("{d}d {h}h old")
    } else if h > 0 {
        format!("{h}h {m}m old")
    } else if m > 0 {
        format!("{m}m old")
    } else {
        format!("{secs}s old")
    }
}

fn show(loaded: &LoadedBundle) {
    let b = &loaded.bundle;
    println!(
        "trust bundle (version {}), created {} ({})",
        b.version,
        b.created_at.to_rfc3339(),
        age(b.created_at)
    );
    match &loaded.signer {
        Some(signer) => println!("signed by {signer} (signature verified)"),
        None => println!("unsigned"),
    }
    if let Some(server) = &b.sources.server {
        println!("server: {server}");
    }
    println!("DID documents: {}", b.did_documents.len());
    for d in &b.did_documents {
        println!(
            "  {}  fetched {} ({})",
            d.did,
            d.fetched_at.to_rfc3339(),
            age(d.fetched_at)
        );
    }
    println!("status lists: {}", b.status_lists.len());
    for l in &b.status_lists {
        let until = l
            .valid_until
            .map(|t| format!(", valid until {}", t.to_rfc3339()))
            .unwrap_or_default();
        println!(
            "  {}  fetched {} ({}){until}",
            l.url,
            l.fetched_at.to_rfc3339(),
            age(l.fetched_at)
        );
    }
    println!("extra contexts: {}", b.contexts.len());
    for c in &b.contexts {
        println!("  {}", c.url);
    }
    match &b.trusted_issuers {
        None => println!("trusted issuers: any"),
        Some(list) => {
            println!("trusted issuers: {}", list.len());
            for i in list {
                println!("  {i}");
            }
        }
    }
}

pub async fn verify(args: VerifyArgs) -> anyhow::Result<i32> {
    let loaded = load_bundle(&args.bundle)?;
    if let Some(signer) = &args.bundle_signer {
        loaded.require_signer(signer)?;
    }
    let bytes = read_limited(&args.file, MAX_DOCUMENT_BYTES)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| anyhow::anyhow!("{} is not UTF-8", args.file.display()))?;
    let document = offline::read_document(&text)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
    let mut builder = OfflineVerifier::builder(loaded);
    if let Some(max) = args.max_status_age {
        builder = builder.max_status_age(max);
    }
    if !args.trusted_issuers.is_empty() {
        builder = builder.trusted_issuers(args.trusted_issuers);
    }
    let report = builder
        .build()
        .verify(&document, args.challenge.as_deref(), args.domain.as_deref())
        .await
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(match report.verdict {
        Verdict::Valid => 0,
        Verdict::Invalid => 1,
        Verdict::Unknown => 3,
    })
}

fn print_report(report: &OfflineReport) {
    let verdict = match report.verdict {
        Verdict::Valid => "VALID",
        Verdict::Invalid => "INVALID",
        Verdict::Unknown => "UNKNOWN",
    };
    println!("{verdict}");
    if !report.checks.is_empty() {
        println!("  passed: {}", report.checks.join(", "));
    }
    for e in &report.errors {
        println!("  failed [{}] {}: {}", e.check, e.title, e.detail);
    }
    for w in &report.warnings {
        println!("  warning [{}] {}: {}", w.check, w.title, w.detail);
    }
    for i in &report.inputs {
        let when = match (i.fetched_at, i.age_seconds) {
            (Some(at), Some(secs)) => format!(", fetched {} ({secs} s before)", at.to_rfc3339()),
            _ => String::new(),
        };
        println!("  input {} {}: {}{when}", i.kind, i.id, i.state);
    }
}
