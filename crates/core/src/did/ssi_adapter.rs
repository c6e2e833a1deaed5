//! Lets ssi resolve through Sichat's resolvers: ssi's verifiers take an
//! `ssi::dids::DIDResolver`; [`SsiResolver`] serves them the documents this module builds.

use ssi::dids::DID;
use ssi::dids::resolution::{self, DIDResolver, Output};

use super::resolver::{DidResolver, ResolveError};

/// Wraps a [`DidResolver`] as an `ssi` `DIDResolver`.
#[derive(Clone)]
pub struct SsiResolver<R>(pub R);

impl<R: DidResolver> DIDResolver for SsiResolver<R> {
    async fn resolve_representation<'a>(
        &'a self,
        did: &'a DID,
        _options: resolution::Options,
    ) -> Result<Output<Vec<u8>>, resolution::Error> {
        let resolved = self.0.resolve(did.as_str()).await.map_err(|e| match e {
            ResolveError::MethodNotSupported(m) => resolution::Error::MethodNotSupported(m),
            ResolveError::NotFound(_) => resolution::Error::NotFound,
            ResolveError::InvalidDid(m) => resolution::Error::InvalidMethodSpecificId(m),
            other => resolution::Error::Internal(other.to_string()),
        })?;
        let bytes =
            serde_json::to_vec(resolved.document.as_json()).map_err(resolution::Error::internal)?;
        Ok(Output::from_content(
            bytes,
            Some("application/did+ld+json".to_owned()),
        ))
    }
}
