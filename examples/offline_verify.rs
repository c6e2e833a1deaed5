//! Verifies credentials with no network: builds a trust bundle from a running Sichat
//! server, then, using only the bundle, verifies a credential and a presentation the
//! server issued and rejects a revoked credential whose status list the bundle pins.
//! Run a server (`cargo run --release -- serve`), then, with the admin token:
//!
//! `SICHAT_URL=http://127.0.0.1:8080 SICHAT_TOKEN=sat_… cargo run --example offline_verify`
//!
//! (A server on 127.0.0.1 is fetched over plain HTTP; any other must be https.)

use serde_json::{Value, json};
use sichat_client::bundle::TrustBundle;
use sichat_client::bundle_build::{self, BuildOptions};
use sichat_client::offline::{OfflineReport, OfflineVerifier, Verdict};
use sichat_client::server::ServerClient;
use sichat_core::Secret;
use sichat_core::api::{
    CreateUser, CreateUserToken, IssueRequest, PresentOptions, PresentRequest, StatusUpdate,
    UpdateStatusRequest,
};
use sichat_core::did::web_fetch::FetchPolicy;
use sichat_core::id::UserName;

fn summary(report: &OfflineReport) -> String {
    let failed: Vec<String> = report
        .errors
        .iter()
        .map(|e| format!("{}: {}", e.check, e.title))
        .collect();
    format!(
        "{:?} (passed: {}{})",
        report.verdict,
        report.checks.join(", "),
        if failed.is_empty() {
            String::new()
        } else {
            format!("; failed: {}", failed.join(", "))
        }
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url: url::Url = std::env::var("SICHAT_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:8080".into())
        .parse()?;
    let token = std::env::var("SICHAT_TOKEN")
        .map_err(|_| anyhow::anyhow!("set SICHAT_TOKEN to the admin token"))?;
    let admin = ServerClient::new(url.clone())?.with_admin_token(Secret::new(token));

    // Online: a holder, two credentials issued to them (one then revoked), a presentation.
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis();
    let name = UserName::parse(&format!("offline{}", millis % 1_000_000_000))?;
    let user = admin
        .create_user(&CreateUser {
            name: name.clone(),
            password: None,
            email: None,
            display_name: None,
        })
        .await?;
    let user_token = admin
        .create_user_token(&name, &CreateUserToken::default())
        .await?
        .token;
    let holder = ServerClient::new(url.clone())?.with_admin_token(Secret::new(user_token));
    let issue = |subject: String| {
        let admin = &admin;
        async move {
            let request = IssueRequest {
                credential: json!({
                    "@context": ["https://www.w3.org/ns/credentials/v2", "https://www.w3.org/ns/credentials/examples/v2"],
                    "type": ["VerifiableCredential", "ExampleAlumniCredential"],
                    "credentialSubject": {"id": subject, "alumniOf": "Example University"},
                }),
                options: Default::default(),
            };
            anyhow::Ok(
                admin
                    .issue_credential(&request)
                    .await?
                    .verifiable_credential,
            )
        }
    };
    let credential = issue(user.did.as_str().to_owned()).await?;
    let revoked = issue(user.did.as_str().to_owned()).await?;
    admin
        .update_status(&UpdateStatusRequest {
            credential_id: revoked["id"].as_str().unwrap_or_default().to_owned(),
            credential_status: vec![StatusUpdate {
                kind: "BitstringStatusListCredential".into(),
                status: "revoked".into(),
            }],
        })
        .await?;
    holder.keep_credential(&credential).await?;
    let presentation: Value = holder
        .present(&PresentRequest {
            credentials: vec![credential["id"].as_str().unwrap_or_default().to_owned()],
            options: PresentOptions {
                challenge: Some("door-42".into()),
                domain: Some("door.example".into()),
                ..PresentOptions::default()
            },
            disclose: Default::default(),
        })
        .await?
        .verifiable_presentation;

    // Still online: the bundle (every DID the server hosts, every list it publishes).
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    let built = bundle_build::build(&BuildOptions {
        server: Some(url),
        fetch: FetchPolicy {
            allow_loopback: loopback,
            ..FetchPolicy::default()
        },
        ..BuildOptions::default()
    })
    .await?;
    for skipped in &built.skipped {
        println!("not pinned: {skipped}");
    }
    let file = serde_json::to_vec_pretty(&built.bundle)?;
    println!(
        "bundle: {} DID documents, {} status lists, {} bytes",
        built.bundle.did_documents.len(),
        built.bundle.status_lists.len(),
        file.len()
    );
    drop((admin, holder));

    // Offline from here: the verifier reads nothing but the bundle.
    let verifier = OfflineVerifier::new(TrustBundle::load(&file)?);
    let report = verifier.verify_credential(&credential).await?;
    println!("credential: {}", summary(&report));
    anyhow::ensure!(
        report.verdict == Verdict::Valid,
        "the credential must verify"
    );
    let report = verifier
        .verify_presentation(&presentation, Some("door-42"), Some("door.example"))
        .await?;
    println!("presentation: {}", summary(&report));
    anyhow::ensure!(
        report.verdict == Verdict::Valid,
        "the presentation must verify"
    );
    let report = verifier.verify_credential(&revoked).await?;
    println!("revoked credential: {}", summary(&report));
    anyhow::ensure!(
        report.verdict == Verdict::Invalid
            && report
                .errors
                .iter()
                .any(|e| e.check == "status" && e.title == "Revoked"),
        "the revoked credential must be rejected as revoked"
    );
    Ok(())
}
