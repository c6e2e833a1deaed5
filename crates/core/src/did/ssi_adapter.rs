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
        let did = crate::id::Did::parse(did.as_str())
            .map_err(|e| resolution::Error::InvalidMethodSpecificId(e.reason))?;
        let resolved = self.0.resolve(&did).await.map_err(|e| match e {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::did::StandardResolver;
    use ssi::dids::DIDURL;

    #[tokio::test]
    async fn ssi_dereferences_key_agreement_keys_through_sichat_documents() {
        let resolver = SsiResolver(StandardResolver::offline());
        let did = "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp";
        // The derived X25519 key exists only in Sichat's did:key documents, not ssi's own.
        let url = format!("{did}#z6LShs9GGnqk85isEBzzshkuVWrVKsRp24GnDuHk8QWkARMW");
        let out = resolver
            .dereference(DIDURL::new(url.as_str()).unwrap())
            .await
            .unwrap();
        let vm = out.content.into_verification_method().unwrap();
        assert_eq!(
            vm.properties["publicKeyMultibase"],
            "z6LShs9GGnqk85isEBzzshkuVWrVKsRp24GnDuHk8QWkARMW"
        );
        let missing = resolver
            .resolve(ssi::dids::DID::new("did:example:1").unwrap())
            .await;
        assert!(matches!(
            missing,
            Err(resolution::Error::MethodNotSupported(_))
        ));
    }
}
