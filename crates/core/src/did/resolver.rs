//! Resolution: the trait, its result in the DID Resolution / Universal Resolver shape, and
//! the standard resolver dispatching on the method name.

use std::sync::Arc;

use serde_json::{Value, json};

use super::cache::CachingResolver;
use super::document::DidDocument;
use super::web::DidWebFetcher;
use super::{jwk, key, peer, web};
use crate::clock::Clock;

/// A resolution error, with the DID Resolution error code it maps to.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ResolveError {
    #[error("invalid DID: {0}")]
    InvalidDid(String),
    #[error("DID method `{0}` is not supported (supported: key, jwk, web, peer)")]
    MethodNotSupported(String),
    #[error("DID not found: {0}")]
    NotFound(String),
    #[error("invalid public key: {0}")]
    InvalidPublicKey(String),
    /// A `publicKeyFormat` option this resolver does not produce (did:key §3.1.1).
    #[error(
        "unsupported publicKeyFormat `{0}` (supported: Multikey, JsonWebKey2020, Ed25519VerificationKey2018)"
    )]
    UnsupportedPublicKeyType(String),
    #[error("invalid DID document: {0}")]
    InvalidDocument(String),
    /// The did:web host is a private, loopback or reserved address (SSRF guard).
    #[error("refused: {0}")]
    Refused(String),
    /// The DID's host could not be reached or refused the request (did:web).
    #[error("could not fetch the DID document: {0}")]
    Fetch(String),
}

impl ResolveError {
    /// The `error` value of `didResolutionMetadata` (DID Resolution §7.1, did:key §4).
    pub fn code(&self) -> &'static str {
        match self {
            ResolveError::InvalidDid(_) => "invalidDid",
            ResolveError::MethodNotSupported(_) => "methodNotSupported",
            ResolveError::NotFound(_) => "notFound",
            ResolveError::InvalidPublicKey(_) => "invalidPublicKey",
            ResolveError::UnsupportedPublicKeyType(_) => "unsupportedPublicKeyType",
            ResolveError::InvalidDocument(_) => "invalidDidDocument",
            // did:web forbids IP and local hosts; the guard refuses what resolves to them.
            ResolveError::Refused(_) => "invalidDid",
            ResolveError::Fetch(_) => "internalError",
        }
    }
}

/// A resolved DID document with its metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution {
    pub document: DidDocument,
    /// `didDocumentMetadata` (e.g. `created`, `updated`, `deactivated`).
    pub document_metadata: Value,
}

impl Resolution {
    pub fn new(document: DidDocument) -> Self {
        Self {
            document,
            document_metadata: json!({}),
        }
    }

    /// The resolution result as the Universal Resolver's `GET /1.0/identifiers/{did}` returns it.
    pub fn to_universal_resolver_json(&self) -> Value {
        json!({
            "@context": "https://w3id.org/did-resolution/v1",
            "didDocument": self.document.as_json(),
            "didResolutionMetadata": {
                "contentType": "application/did+ld+json",
                "did": {
                    "didString": self.document.id(),
                    "method": self.document.id().split(':').nth(1).unwrap_or_default(),
                    "methodSpecificId": self.document.id().splitn(3, ':').nth(2).unwrap_or_default(),
                },
            },
            "didDocumentMetadata": self.document_metadata,
        })
    }
}

/// DID Resolution options (DID Resolution §4.1) that Sichat understands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolutionOptions {
    /// did:key `publicKeyFormat`: `Multikey` (default), `JsonWebKey2020`,
    /// `Ed25519VerificationKey2018`.
    pub public_key_format: Option<String>,
}

/// Resolves DIDs to documents. Implementations must be cheap to share (`Arc`).
#[async_trait::async_trait]
pub trait DidResolver: Send + Sync {
    async fn resolve(&self, did: &str) -> Result<Resolution, ResolveError>;
}

#[async_trait::async_trait]
impl<T: DidResolver + ?Sized> DidResolver for Arc<T> {
    async fn resolve(&self, did: &str) -> Result<Resolution, ResolveError> {
        (**self).resolve(did).await
    }
}

/// Splits a DID into method name and method-specific id, checking DID Core §3.1 syntax.
/// DID URLs (with path, query or fragment) are refused: resolution takes a bare DID.
pub fn parse_did(did: &str) -> Result<(&str, &str), ResolveError> {
    if did.len() > 8192 {
        return Err(ResolveError::InvalidDid(
            "longer than 8192 characters".into(),
        ));
    }
    ssi::dids::DID::new(did)
        .map_err(|_| ResolveError::InvalidDid(format!("`{did}` is not a DID (DID Core §3.1)")))?;
    let rest = &did[4..];
    let (method, msid) = rest
        .split_once(':')
        .ok_or_else(|| ResolveError::InvalidDid(did.to_owned()))?;
    Ok((method, msid))
}

/// Resolves `did:key`, `did:jwk` and `did:peer` offline, and `did:web` through a fetcher
/// when one is configured.
#[derive(Clone, Default)]
pub struct StandardResolver {
    web: Option<Arc<dyn DidResolver>>,
}

/// Resolves `did:web` only: DID to URL, guarded fetch, document checks.
struct WebResolver(Arc<dyn DidWebFetcher>);

#[async_trait::async_trait]
impl DidResolver for WebResolver {
    async fn resolve(&self, did: &str) -> Result<Resolution, ResolveError> {
        let url = web::did_web_url(did, self.0.allows_loopback())?;
        let bytes = self.0.fetch(&url).await?;
        Ok(Resolution::new(web::parse_document(did, &bytes)?))
    }
}

impl ResolutionOptions {
    /// The requested did:key format, checked whatever the DID's method, so that the answer
    /// to a bad option does not depend on the DID.
    pub fn key_format(&self) -> Result<Option<key::KeyFormat>, ResolveError> {
        self.public_key_format
            .as_deref()
            .map(|name| {
                key::KeyFormat::from_name(name).ok_or_else(|| {
                    ResolveError::UnsupportedPublicKeyType(name.chars().take(64).collect())
                })
            })
            .transpose()
    }
}

impl StandardResolver {
    /// Offline methods only; `did:web` answers `methodNotSupported`.
    pub fn offline() -> Self {
        Self { web: None }
    }

    /// did:web through `fetcher`, uncached.
    pub fn with_web(fetcher: Arc<dyn DidWebFetcher>) -> Self {
        Self {
            web: Some(Arc::new(WebResolver(fetcher))),
        }
    }

    /// did:web through `fetcher`, each document cached `ttl_secs` (at most `capacity` of
    /// them). Offline methods are never cached: they cost microseconds to compute, and a
    /// cache of them would only let callers fill memory.
    pub fn with_cached_web(
        fetcher: Arc<dyn DidWebFetcher>,
        clock: Arc<dyn Clock>,
        ttl_secs: u64,
        capacity: usize,
    ) -> Self {
        let ttl_millis = i64::try_from(ttl_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        let cached = CachingResolver::new(WebResolver(fetcher), clock, ttl_millis, capacity);
        Self {
            web: Some(Arc::new(cached)),
        }
    }

    /// Resolves with DID Resolution options (`publicKeyFormat` applies to did:key; other
    /// methods ignore it, as DID Resolution lets methods do).
    pub async fn resolve_with(
        &self,
        did: &str,
        options: &ResolutionOptions,
    ) -> Result<Resolution, ResolveError> {
        options.key_format()?;
        if parse_did(did)?.0 == "web" {
            return self.resolve(did).await;
        }
        Self::resolve_offline_with(did, options)
    }

    /// Resolves the offline methods with resolution options.
    pub fn resolve_offline_with(
        did: &str,
        options: &ResolutionOptions,
    ) -> Result<Resolution, ResolveError> {
        match (options.key_format()?, parse_did(did)?) {
            (Some(format), ("key", msid)) => Ok(Resolution::new(key::resolve_with_format(
                did, msid, format,
            )?)),
            _ => Self::resolve_offline(did),
        }
    }

    /// Resolves the offline methods synchronously (no I/O).
    pub fn resolve_offline(did: &str) -> Result<Resolution, ResolveError> {
        let (method, msid) = parse_did(did)?;
        let doc = match method {
            "key" => key::resolve(did, msid)?,
            "jwk" => jwk::resolve(did, msid)?,
            "peer" => peer::resolve(did, msid)?,
            other => return Err(ResolveError::MethodNotSupported(other.to_owned())),
        };
        Ok(Resolution::new(doc))
    }
}

#[async_trait::async_trait]
impl DidResolver for StandardResolver {
    async fn resolve(&self, did: &str) -> Result<Resolution, ResolveError> {
        let (method, _) = parse_did(did)?;
        if method == "web" {
            let web = self
                .web
                .as_ref()
                .ok_or_else(|| ResolveError::MethodNotSupported("web".into()))?;
            return web.resolve(did).await;
        }
        Self::resolve_offline(did)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_dids_are_invalid_did_errors() {
        for bad in [
            "",
            "did:",
            "did:key",
            "key:z6Mk",
            "did:KEY:abc",
            "did:key:",
            "did:key:z6Mk#frag",
            "did:key:a b",
        ] {
            let err = parse_did(bad).unwrap_err();
            assert_eq!(err.code(), "invalidDid", "{bad}");
        }
        assert_eq!(parse_did("did:example:123").unwrap(), ("example", "123"));
    }

    #[tokio::test]
    async fn unknown_methods_are_not_supported() {
        let err = StandardResolver::offline()
            .resolve("did:example:123")
            .await
            .unwrap_err();
        assert_eq!(err, ResolveError::MethodNotSupported("example".into()));
        let err = StandardResolver::offline()
            .resolve("did:web:example.com")
            .await
            .unwrap_err();
        assert_eq!(err.code(), "methodNotSupported");
    }
}
