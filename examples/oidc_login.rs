//! A relying party logging a user in with a Sichat server, using only the standard
//! `openidconnect` crate: discovery, an authorization request with PKCE (S256), a loopback
//! redirect URI on a port of its own (RFC 8252 §7.3), the code exchange, the ID token
//! checked (signature from the JWKS, issuer, audience, nonce, `at_hash`), then userinfo.
//!
//! Register the client once (a public client: no secret, PKCE only), then run the example
//! and open the URL it prints in a browser:
//!
//! ```text
//! sichat client add demo --public --redirect-uri http://127.0.0.1/callback
//! SICHAT_URL=http://127.0.0.1:8080 OIDC_CLIENT_ID=demo cargo run --example oidc_login
//! ```
//!
//! `OIDC_CLIENT_SECRET` for a confidential client (`client_secret_basic`), `OIDC_SCOPES`
//! for more scopes than `openid profile email` (a credential-backed `vc:email`, say). It
//! prints the ID token's claims and the userinfo as one JSON object, and exits non-zero if
//! any step fails.

use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AccessTokenHash, AdditionalClaims, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
    UserInfoClaims,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Claims beyond the standard ones (credential-backed claims, say).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Extra {
    #[serde(flatten)]
    claims: serde_json::Map<String, Value>,
}
impl AdditionalClaims for Extra {}

type HttpFuture = std::pin::Pin<
    Box<
        dyn std::future::Future<Output = Result<openidconnect::HttpResponse, reqwest::Error>>
            + Send,
    >,
>;

/// The crate's HTTP client interface over reqwest (never following redirects, as the
/// OAuth specifications require of a client talking to the token endpoint).
fn http_client() -> anyhow::Result<impl Fn(openidconnect::HttpRequest) -> HttpFuture> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()?;
    Ok(move |req: openidconnect::HttpRequest| -> HttpFuture {
        let http = http.clone();
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let resp = http
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await?;
            let mut builder = openidconnect::http::Response::builder().status(resp.status());
            for (k, v) in resp.headers() {
                builder = builder.header(k, v);
            }
            // Invariant: status and headers come from a real response.
            Ok(builder
                .body(resp.bytes().await?.to_vec())
                .expect("a valid response"))
        })
    })
}

/// Waits for the browser at the loopback redirect URI; answers it and returns the query.
async fn callback(listener: tokio::net::TcpListener) -> anyhow::Result<Vec<(String, String)>> {
    let (mut socket, _) = listener.accept().await?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = socket.read(&mut chunk).await?;
        if n == 0 || buf.len() > 64 * 1024 {
            bail!("the callback request ended early or is too long");
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf);
    let target = head
        .split_whitespace()
        .nth(1)
        .ok_or_else(|| anyhow!("not an HTTP request"))?;
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let body = "Signed in. You can close this tab.";
    socket
        .write_all(
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .await?;
    Ok(url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let issuer = std::env::var("SICHAT_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let client_id = std::env::var("OIDC_CLIENT_ID").context("set OIDC_CLIENT_ID")?;
    let secret = std::env::var("OIDC_CLIENT_SECRET")
        .ok()
        .filter(|s| !s.is_empty());
    let scopes = std::env::var("OIDC_SCOPES").unwrap_or_else(|_| "profile email".into());
    let http = http_client()?;

    let provider = openidconnect::core::CoreProviderMetadata::discover_async(
        IssuerUrl::new(issuer.trim_end_matches('/').to_owned())?,
        &http,
    )
    .await
    .context("discovery")?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let redirect = format!(
        "http://127.0.0.1:{}/callback",
        listener.local_addr()?.port()
    );
    let client = CoreClient::from_provider_metadata(
        provider,
        ClientId::new(client_id),
        secret.map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(redirect)?);

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge);
    for scope in scopes.split_whitespace() {
        request = request.add_scope(Scope::new(scope.to_owned()));
    }
    let (url, state, nonce) = request.url();
    eprintln!("Open this URL in a browser to sign in:");
    println!("{url}");

    let params = tokio::time::timeout(Duration::from_secs(300), callback(listener))
        .await
        .context("no sign-in within 5 minutes")??;
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    if let Some(error) = param("error") {
        bail!(
            "the server answered {error}: {}",
            param("error_description").unwrap_or_default()
        );
    }
    if param("state").as_deref() != Some(state.secret().as_str()) {
        bail!("the state does not match this request");
    }
    if param("iss").as_deref() != Some(issuer.trim_end_matches('/')) {
        bail!("the response's iss is not the issuer (RFC 9207)");
    }
    let code = param("code").ok_or_else(|| anyhow!("no code in the callback"))?;

    let token = client
        .exchange_code(AuthorizationCode::new(code))?
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .context("the code exchange")?;
    let id_token = token.id_token().ok_or_else(|| anyhow!("no ID token"))?;
    let id_verifier = client.id_token_verifier().set_allowed_algs(vec![
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        CoreJwsSigningAlgorithm::EdDsa,
    ]);
    let claims = id_token
        .claims(&id_verifier, &nonce)
        .context("the ID token")?;
    if let Some(expected) = claims.access_token_hash() {
        let actual = AccessTokenHash::from_token(
            token.access_token(),
            id_token.signing_alg()?,
            id_token.signing_key(&id_verifier)?,
        )?;
        if actual != *expected {
            bail!("at_hash does not match the access token");
        }
    }
    let userinfo: UserInfoClaims<Extra, CoreGenderClaim> = client
        .user_info(token.access_token().clone(), Some(claims.subject().clone()))?
        .request_async(&http)
        .await
        .context("userinfo")?;
    println!(
        "{}",
        json!({
            "id_token_claims": claims,
            "userinfo": userinfo,
            "scope": token.scopes().map(|s| s.iter().map(|x| x.to_string()).collect::<Vec<_>>()),
        })
    );
    Ok(())
}
