//! Issues a credential on a running Sichat server, verifies it, revokes it and verifies
//! it again; then the same in `vc+jwt`. Run a server (`cargo run --release -- serve`),
//! then, with the admin token (or a user's API token, which issues as that user's DID):
//!
//! `SICHAT_URL=http://127.0.0.1:8080 SICHAT_TOKEN=sat_… cargo run --example issue_and_verify`

use serde_json::json;
use sichat_client::server::{ServerClient, ServerError};
use sichat_core::Secret;
use sichat_core::api::{
    IssueOptions, IssueRequest, StatusUpdate, UpdateStatusRequest, VerificationResult,
    VerifyCredentialRequest, VerifyOptions,
};

fn summary(result: &VerificationResult) -> String {
    if result.verified {
        format!("verified ({})", result.checks.join(", "))
    } else {
        let failed: Vec<String> = result
            .errors
            .iter()
            .map(|e| format!("{}: {}", e.check, e.title))
            .collect();
        format!("NOT verified ({})", failed.join("; "))
    }
}

async fn verify(client: &ServerClient, vc: &serde_json::Value) -> Result<bool, ServerError> {
    let result = client
        .verify_credential(&VerifyCredentialRequest {
            verifiable_credential: vc.clone(),
            options: VerifyOptions::default(),
        })
        .await?;
    println!("  verify: {}", summary(&result));
    Ok(result.verified)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::var("SICHAT_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let token = std::env::var("SICHAT_TOKEN").map_err(|_| {
        anyhow::anyhow!("set SICHAT_TOKEN to the admin token or a user's API token")
    })?;
    let client = ServerClient::new(url.parse()?)?.with_admin_token(Secret::new(token));
    let credential = json!({
        "@context": [
            "https://www.w3.org/ns/credentials/v2",
            "https://www.w3.org/ns/credentials/examples/v2"
        ],
        "type": ["VerifiableCredential", "ExampleAlumniCredential"],
        "credentialSubject": {"id": "did:example:alice", "alumniOf": "Example University"},
    });

    for format in [None, Some("vc+jwt")] {
        println!("{}:", format.unwrap_or("Data Integrity (eddsa-rdfc-2022)"));
        let issued = client
            .issue_credential(&IssueRequest {
                credential: credential.clone(),
                options: IssueOptions {
                    format: format.map(str::to_owned),
                    ..IssueOptions::default()
                },
            })
            .await?
            .verifiable_credential;
        println!("  issued: {}", serde_json::to_string(&issued)?);
        anyhow::ensure!(
            verify(&client, &issued).await?,
            "a fresh credential must verify"
        );

        // Its id: the credential's own, or (enveloped) the payload's.
        let id = match issued["id"].as_str() {
            Some(id) if !id.starts_with("data:") => id.to_owned(),
            _ => {
                let jws = issued["id"].as_str().unwrap_or_default();
                let payload = jws.split(',').nth(1).and_then(|j| j.split('.').nth(1));
                use base64::Engine;
                let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(payload.unwrap_or_default())?;
                let claims: serde_json::Value = serde_json::from_slice(&bytes)?;
                claims["id"].as_str().unwrap_or_default().to_owned()
            }
        };
        let updated = client
            .update_status(&UpdateStatusRequest {
                credential_id: id.clone(),
                credential_status: vec![StatusUpdate {
                    kind: "BitstringStatusListCredential".into(),
                    status: "revoked".into(),
                }],
            })
            .await?;
        println!("  {id} is now {}", updated.status);
        anyhow::ensure!(
            !verify(&client, &issued).await?,
            "a revoked credential must not verify"
        );
    }
    Ok(())
}
