//! Building and refreshing trust bundles, online: DID documents resolved and status lists
//! fetched through the guarded fetcher (public addresses, https, size, time and
//! concurrency caps), each status list verified before it is pinned.

use std::collections::BTreeSet;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sichat_core::api::{HostedDids, StatusListsResponse, paths};
use sichat_core::did::web_fetch::{FetchPolicy, GuardedFetcher};
use sichat_core::did::{DidResolver, ResolveError, StandardResolver};
use sichat_core::id::Did;
use sichat_core::vc::status;

use crate::bundle::{
    BundleError, PinnedContext, PinnedDocument, PinnedStatusList, Sources, TrustBundle,
};
use crate::offline::{OfflineVerifier, Verdict};

/// The largest status list credential fetched (as on a server).
const MAX_LIST_BYTES: usize = 1024 * 1024;
/// The largest answer of a server's `GET /dids` or `GET /status`.
const MAX_INDEX_BYTES: usize = 8 * 1024 * 1024;

/// What to pin.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// A Sichat server: every DID it hosts (`GET /dids`) and every status list it
    /// publishes (`GET /status`).
    pub server: Option<url::Url>,
    /// More DIDs (did:web are pinned; offline methods need nothing).
    pub dids: Vec<String>,
    /// More status lists, by URL.
    pub status_lists: Vec<String>,
    pub contexts: Vec<PinnedContext>,
    pub trusted_issuers: Option<Vec<String>>,
    /// How to fetch (`allow_loopback` lets tests use plain HTTP on 127.0.0.1).
    pub fetch: FetchPolicy,
}

/// A built bundle, and what was left out and why.
#[derive(Debug)]
pub struct Built {
    pub bundle: TrustBundle,
    pub skipped: Vec<String>,
}

/// Why a bundle could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("`{0}`: {1}")]
    Fetch(String, String),
    #[error("`{did}` could not be resolved: {source}")]
    Resolve { did: String, source: ResolveError },
    #[error("`{0}` is not a DID")]
    InvalidDid(String),
    #[error(transparent)]
    Bundle(#[from] BundleError),
}

impl BuildOptions {
    /// The options that made `bundle`, to fetch everything again.
    pub fn of(bundle: &TrustBundle, fetch: FetchPolicy) -> Result<Self, BuildError> {
        let server = match &bundle.sources.server {
            Some(url) => Some(
                url::Url::parse(url).map_err(|e| BuildError::Fetch(url.clone(), e.to_string()))?,
            ),
            None => None,
        };
        Ok(Self {
            server,
            dids: bundle.sources.dids.clone(),
            status_lists: bundle.sources.status_lists.clone(),
            contexts: bundle.contexts.clone(),
            trusted_issuers: bundle.trusted_issuers.clone(),
            fetch,
        })
    }
}

struct Fetcher(Arc<GuardedFetcher>);

impl Fetcher {
    async fn get(&self, url: &str, accept: &str, max: usize) -> Result<Vec<u8>, BuildError> {
        self.fetch(url, accept, max)
            .await
            .map_err(|e| BuildError::Fetch(url.into(), e.to_string()))
    }

    async fn fetch(&self, url: &str, accept: &str, max: usize) -> Result<Vec<u8>, ResolveError> {
        let parsed = url::Url::parse(url).map_err(|e| ResolveError::Fetch(e.to_string()))?;
        self.0.fetch_bounded(&parsed, accept, max).await
    }

    /// A JSON document, or `None` when the server answers 404.
    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
    ) -> Result<Option<T>, BuildError> {
        let bytes = match self.fetch(url, "application/json", MAX_INDEX_BYTES).await {
            Ok(bytes) => bytes,
            Err(ResolveError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(BuildError::Fetch(url.into(), e.to_string())),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| BuildError::Fetch(url.into(), e.to_string()))
    }
}

/// The claims of a published list: the object itself, or a `vc+jwt` list's payload (read
/// to find its issuer and `validUntil`; the proof is verified separately).
fn list_claims(published: &Value) -> Option<Map<String, Value>> {
    match published {
        Value::Object(map) => Some(map.clone()),
        Value::String(jwt) => {
            let payload = jwt.split('.').nth(1)?;
            serde_json::from_slice(&B64.decode(payload).ok()?).ok()
        }
        _ => None,
    }
}

fn issuer_of(claims: &Map<String, Value>) -> Option<&str> {
    match claims.get("issuer")? {
        Value::String(s) => Some(s),
        Value::Object(o) => o.get("id")?.as_str(),
        _ => None,
    }
}

fn valid_until(claims: &Map<String, Value>) -> Option<DateTime<Utc>> {
    let until = claims
        .get("validUntil")
        .or_else(|| claims.get("expirationDate"))?
        .as_str()?;
    DateTime::parse_from_rfc3339(until)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Builds a bundle: resolves and fetches everything `options` names, verifies each status
/// list against the pinned documents, and pins what verified.
pub async fn build(options: &BuildOptions) -> Result<Built, BuildError> {
    let guarded = Arc::new(
        GuardedFetcher::new(options.fetch.clone())
            .map_err(|e| BuildError::Fetch("fetcher".into(), e.to_string()))?,
    );
    let fetcher = Fetcher(guarded.clone());
    let resolver = StandardResolver::with_web(guarded);
    let mut dids: BTreeSet<String> = options.dids.iter().cloned().collect();
    let mut list_urls: BTreeSet<String> = options.status_lists.iter().cloned().collect();
    let mut skipped = if let Some(server) = &options.server {
        let url = |path: &str| {
            let mut base = server.as_str().trim_end_matches('/').to_owned();
            base.push_str(path);
            base
        };
        let mut skipped = Vec::new();
        match fetcher.json::<HostedDids>(&url(paths::HOSTED_DIDS)).await? {
            Some(hosted) => dids.extend(hosted.dids.iter().map(|d| d.as_str().to_owned())),
            None => {
                // The operator does not publish the list: the server's own DID, and (below)
                // the issuers of its lists.
                let own: Option<Value> = fetcher.json(&url(paths::SERVER_DID_DOCUMENT)).await?;
                if let Some(id) = own.as_ref().and_then(|d| d["id"].as_str()) {
                    dids.insert(id.to_owned());
                }
                skipped.push(
                    "the server does not list its DIDs (GET /dids): pinned its own DID and its status lists' issuers; add others with --did".to_owned(),
                );
            }
        }
        let lists: StatusListsResponse = fetcher
            .json(&url(paths::STATUS_LISTS))
            .await?
            .ok_or_else(|| BuildError::Fetch(url(paths::STATUS_LISTS), "not found".into()))?;
        list_urls.extend(lists.status_lists.into_iter().map(|l| l.id));
        skipped
    } else {
        Vec::new()
    };
    let mut fetched = Vec::new();
    for url in &list_urls {
        let published = fetcher
            .get(
                url,
                "application/vc+ld+json, application/vc+jwt, application/vc, application/json",
                MAX_LIST_BYTES,
            )
            .await
            .and_then(|bytes| {
                status::published_from_bytes(&bytes).map_err(|e| BuildError::Fetch(url.clone(), e))
            });
        match published {
            Ok(value) => {
                // The issuer's DID document is needed to verify the list.
                if let Some(issuer) = list_claims(&value).as_ref().and_then(issuer_of) {
                    dids.insert(issuer.to_owned());
                }
                fetched.push((url.clone(), value, Utc::now()));
            }
            Err(e) => skipped.push(format!("status list not pinned: {e}")),
        }
    }
    let mut bundle = TrustBundle::new(Utc::now());
    bundle.sources = Sources {
        server: options.server.as_ref().map(|u| u.to_string()),
        dids: options.dids.clone(),
        status_lists: options.status_lists.clone(),
    };
    bundle.contexts = options.contexts.clone();
    bundle.trusted_issuers = options.trusted_issuers.clone();
    for did in &dids {
        let parsed = Did::parse(did).map_err(|_| BuildError::InvalidDid(did.clone()))?;
        if parsed.method() != "web" {
            // did:key, did:jwk, did:peer: the verifier computes their documents.
            StandardResolver::resolve_offline(&parsed).map_err(|source| BuildError::Resolve {
                did: did.clone(),
                source,
            })?;
            continue;
        }
        let resolution = resolver
            .resolve(&parsed)
            .await
            .map_err(|source| BuildError::Resolve {
                did: did.clone(),
                source,
            })?;
        bundle.did_documents.push(PinnedDocument {
            did: did.clone(),
            document: resolution.document.into_json(),
            fetched_at: Utc::now(),
        });
    }
    // Each list verified as a credential by the offline verifier over what is pinned so
    // far (documents, contexts): a list whose proof fails is not pinned.
    // (Trusted issuers do not apply: a list answers for its issuer's credentials.)
    let mut probe = bundle.clone();
    probe.trusted_issuers = None;
    let verifier = OfflineVerifier::new(probe.index()?);
    for (url, published, fetched_at) in fetched {
        match check_list(&verifier, &url, &published).await {
            Ok(claims) => bundle.status_lists.push(PinnedStatusList {
                url,
                valid_until: valid_until(&claims),
                credential: published,
                fetched_at,
            }),
            Err(why) => skipped.push(format!("status list `{url}` not pinned: {why}")),
        }
    }
    // The whole bundle must load (bounds, documents, contexts).
    bundle.clone().index()?;
    Ok(Built { bundle, skipped })
}

/// Verifies a published list: its proof and validity, its `id` the URL it came from, a
/// readable Bitstring Status List.
async fn check_list(
    verifier: &OfflineVerifier,
    url: &str,
    published: &Value,
) -> Result<Map<String, Value>, String> {
    let report = verifier
        .verify_credential(&status::as_verifiable(published.clone()))
        .await
        .map_err(|e| e.to_string())?;
    if report.verdict != Verdict::Valid {
        let why: Vec<String> = report
            .errors
            .iter()
            .map(|e| format!("{}: {}", e.check, e.detail))
            .collect();
        return Err(format!("it does not verify ({})", why.join("; ")));
    }
    let claims = list_claims(published).ok_or("its claims cannot be read")?;
    if claims.get("id").and_then(Value::as_str) != Some(url) {
        return Err("its `id` is not the URL it was fetched from".into());
    }
    status::published_list(&claims).map_err(|(_, detail)| detail)?;
    Ok(claims)
}

/// Fetches again everything `bundle` pinned from its sources (new lists and users of its
/// server included); contexts and trusted issuers are kept. The result is unsigned.
pub async fn refresh(bundle: &TrustBundle, fetch: FetchPolicy) -> Result<Built, BuildError> {
    build(&BuildOptions::of(bundle, fetch)?).await
}
