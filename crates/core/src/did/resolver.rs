//! Resolution: the trait, its result in the DID Resolution / Universal Resolver shape, and
//! the standard resolver dispatching on the method name.

use std::sync::Arc;

use serde_json::{Value, json};

use super::cache::CachingResolver;
use super::document::DidDocument;
use super::web::DidWebFetcher;
use super::{jwk, key, peer, web};
use crate::clock::Clock;
use crate::id::{Did, InvalidId};

/// A resolution error, with the DID Resolution error code it maps to.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ResolveError {
    #[error("invalid DID: {0}")]
    InvalidDid(String),
    /// A DID URL that is malformed or asks for something other than a fragment.
    #[error("invalid DID URL: {0}")]
    InvalidDidUrl(String),
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
    /// Too many outbound fetches are under way (globally or to this host); try again soon.
    #[error("too many DID resolutions under way: {0}")]
    Busy(String),
    /// The resolver itself failed (its store), not the DID or its host.
    #[error("resolver failure: {0}")]
    Internal(String),
}

impl From<InvalidId> for ResolveError {
    fn from(e: InvalidId) -> Self {
        if e.kind == "DID URL" {
            ResolveError::InvalidDidUrl(e.reason)
        } else {
            ResolveError::InvalidDid(e.reason)
        }
    }
}

impl ResolveError {
    /// The `error` value of `didResolutionMetadata` (DID Resolution §7.1, did:key §4).
    pub fn code(&self) -> &'static str {
        match self {
            ResolveError::InvalidDid(_) => "invalidDid",
            ResolveError::InvalidDidUrl(_) => "invalidDidUrl",
            ResolveError::MethodNotSupported(_) => "methodNotSupported",
            ResolveError::NotFound(_) => "notFound",
            ResolveError::InvalidPublicKey(_) => "invalidPublicKey",
            ResolveError::UnsupportedPublicKeyType(_) => "unsupportedPublicKeyType",
            ResolveError::InvalidDocument(_) => "invalidDidDocument",
            // did:web forbids IP and local hosts; the guard refuses what resolves to them.
            ResolveError::Refused(_) => "invalidDid",
            ResolveError::Fetch(_) | ResolveError::Busy(_) | ResolveError::Internal(_) => {
                "internalError"
            }
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
                    "method": self.document.did().method(),
                    "methodSpecificId": self.document.did().method_specific_id(),
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
    async fn resolve(&self, did: &Did) -> Result<Resolution, ResolveError>;
}

#[async_trait::async_trait]
impl<T: DidResolver + ?Sized> DidResolver for Arc<T> {
    async fn resolve(&self, did: &Did) -> Result<Resolution, ResolveError> {
        (**self).resolve(did).await
    }
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
    async fn resolve(&self, did: &Did) -> Result<Resolution, ResolveError> {
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

    /// did:web through `fetcher`, behind a [`CachingResolver`] (documents cached
    /// `policy.ttl_secs`, failures `policy.negative_ttl_secs`, one fetch per DID at a time).
    /// Offline methods are never cached: they cost microseconds to compute, and a cache of
    /// them would only let callers fill memory.
    pub fn with_cached_web(
        fetcher: Arc<dyn DidWebFetcher>,
        clock: Arc<dyn Clock>,
        policy: super::CachePolicy,
    ) -> Self {
        let cached = CachingResolver::new(WebResolver(fetcher), clock, policy);
        Self {
            web: Some(Arc::new(cached)),
        }
    }

    /// Resolves with DID Resolution options (`publicKeyFormat` applies to did:key; other
    /// methods ignore it, as DID Resolution lets methods do).
    pub async fn resolve_with(
        &self,
        did: &Did,
        options: &ResolutionOptions,
    ) -> Result<Resolution, ResolveError> {
        options.key_format()?;
        if did.method() == "web" {
            return self.resolve(did).await;
        }
        Self::resolve_offline_with(did, options)
    }

    /// Resolves the offline methods with resolution options.
    pub fn resolve_offline_with(
        did: &Did,
        options: &ResolutionOptions,
    ) -> Result<Resolution, ResolveError> {
        match options.key_format()? {
            Some(format) if did.method() == "key" => {
                Ok(Resolution::new(key::resolve_with_format(did, format)?))
            }
            _ => Self::resolve_offline(did),
        }
    }

    /// Resolves the offline methods synchronously (no I/O).
    pub fn resolve_offline(did: &Did) -> Result<Resolution, ResolveError> {
        let doc = match did.method() {
            "key" => key::resolve(did)?,
            "jwk" => jwk::resolve(did)?,
            "peer" => peer::resolve(did)?,
            other => return Err(ResolveError::MethodNotSupported(other.to_owned())),
        };
        Ok(Resolution::new(doc))
    }
}

#[async_trait::async_trait]
impl DidResolver for StandardResolver {
    async fn resolve(&self, did: &Did) -> Result<Resolution, ResolveError> {
        if did.method() == "web" {
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

    #[tokio::test]
    async fn unknown_methods_are_not_supported() {
        let did = Did::parse("did:example:123").unwrap();
        let err = StandardResolver::offline().resolve(&did).await.unwrap_err();
        assert_eq!(err, ResolveError::MethodNotSupported("example".into()));
        let did = Did::parse("did:web:example.com").unwrap();
        let err = StandardResolver::offline().resolve(&did).await.unwrap_err();
        assert_eq!(err.code(), "methodNotSupported");
        assert_eq!(
            ResolveError::from(Did::parse("did:x").unwrap_err()).code(),
            "invalidDid"
        );
    }
}
