//! [`SsiSigner`]: plugs a [`Signer`] (a stored key, by id) into ssi's signing traits, as
//! [`crate::did::SsiResolver`] plugs resolution in. ssi then produces Data Integrity
//! proofs (`eddsa-rdfc-2022` with Ed25519, `ecdsa-rdfc-2019` with P-256) and JWS
//! (`EdDSA`, `ES256`) while the private key stays behind the [`Signer`].
//!
//! Both suites hand the signer a 64-byte message (the hashes of the canonical proof
//! configuration and document, VC-DI-EdDSA §3.3.5 / VC-DI-ECDSA §3.3.5); `ES256` hashes it
//! again with SHA-256 before signing, which is what [`Signer`]'s P-256 keys do.

use std::borrow::Cow;
use std::sync::Arc;

use ssi::claims::jws::{JwsSigner, JwsSignerInfo};
use ssi::claims::{MessageSignatureError, SignatureError};
use ssi::crypto::AlgorithmInstance;
use ssi::crypto::algorithm::SignatureAlgorithmType;
use ssi::verification_methods::{AnyMethod, MessageSigner, Multikey, VerificationMethod};

use super::{KeyType, Signer};
use crate::id::KeyId;

/// A stored key as ssi's signer for one verification method.
#[derive(Clone)]
pub struct SsiSigner {
    signer: Arc<dyn Signer>,
    key: KeyId,
    key_type: KeyType,
    /// The verification method (DID URL) the key is published under.
    method: String,
}

impl SsiSigner {
    /// The signer of `key` (published as the verification method `method`).
    pub async fn new(
        signer: Arc<dyn Signer>,
        key: KeyId,
        method: impl Into<String>,
    ) -> Result<Self, super::SignError> {
        let key_type = signer.public_key(&key).await?.key_type();
        if !key_type.is_signing() {
            return Err(super::KeyError::CannotSign(key_type).into());
        }
        Ok(Self {
            signer,
            key,
            key_type,
            method: method.into(),
        })
    }

    /// The verification method this signer signs for.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The JOSE algorithm of the key (`EdDSA` or `ES256`).
    pub fn jose_algorithm(&self) -> ssi::jwk::Algorithm {
        match self.key_type {
            KeyType::P256 => ssi::jwk::Algorithm::ES256,
            KeyType::Rsa => ssi::jwk::Algorithm::RS256,
            _ => ssi::jwk::Algorithm::EdDSA,
        }
    }

    fn for_id(&self, id: &str) -> Option<Self> {
        (id == self.method).then(|| self.clone())
    }

    async fn raw(&self, message: &[u8]) -> Result<Vec<u8>, MessageSignatureError> {
        self.signer
            .sign(&self.key, message)
            .await
            .map_err(MessageSignatureError::signature_failed)
    }
}

impl ssi::verification_methods::Signer<Multikey> for SsiSigner {
    type MessageSigner = Self;

    async fn for_method(&self, method: Cow<'_, Multikey>) -> Result<Option<Self>, SignatureError> {
        Ok(self.for_id(method.id().as_str()))
    }
}

impl ssi::verification_methods::Signer<AnyMethod> for SsiSigner {
    type MessageSigner = Self;

    async fn for_method(&self, method: Cow<'_, AnyMethod>) -> Result<Option<Self>, SignatureError> {
        Ok(self.for_id(method.id().as_str()))
    }
}

impl<A: SignatureAlgorithmType> MessageSigner<A> for SsiSigner
where
    A::Instance: Into<AlgorithmInstance>,
{
    async fn sign(
        self,
        algorithm: A::Instance,
        message: &[u8],
    ) -> Result<Vec<u8>, MessageSignatureError> {
        match (algorithm.into(), self.key_type) {
            (AlgorithmInstance::EdDSA, KeyType::Ed25519)
            | (AlgorithmInstance::ES256, KeyType::P256) => self.raw(message).await,
            (other, _) => Err(MessageSignatureError::UnsupportedAlgorithm(
                other.algorithm().to_string(),
            )),
        }
    }
}

impl JwsSigner for SsiSigner {
    async fn fetch_info(&self) -> Result<JwsSignerInfo, SignatureError> {
        Ok(JwsSignerInfo::new(
            Some(self.method.clone()),
            self.jose_algorithm(),
        ))
    }

    async fn sign_bytes(&self, signing_bytes: &[u8]) -> Result<Vec<u8>, SignatureError> {
        Ok(self.raw(signing_bytes).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::did::{SsiResolver, StandardResolver};
    use crate::id::Owner;
    use crate::keys::{Kek, KeyService};
    use crate::store::MemoryStore;
    use ssi::claims::VerificationParameters;
    use ssi::claims::data_integrity::{AnySuite, CryptographicSuite, ProofOptions};
    use ssi::dids::{DIDResolver, VerificationMethodDIDResolver};
    use ssi::verification_methods::{LocalSigner, ReferenceOrOwned};

    async fn stored_signer(key_type: KeyType) -> SsiSigner {
        let keys: Arc<KeyService<MemoryStore>> = Arc::new(KeyService::new(
            MemoryStore::new(),
            Kek::generate(),
            Arc::new(ManualClock::new(0)),
        ));
        let info = keys.generate(&Owner::Server, key_type).await.unwrap();
        let method = info
            .did_key
            .clone()
            .expect("a signing key has a did:key")
            .with_fragment(&info.public_key_multibase);
        SsiSigner::new(keys, info.id, method).await.unwrap()
    }

    fn credential(issuer: &str) -> ssi::claims::vc::v2::JsonCredential {
        serde_json::from_value(serde_json::json!({
            "@context": ["https://www.w3.org/ns/credentials/v2"],
            "type": ["VerifiableCredential"],
            "id": "urn:uuid:6a9f3c2e-5a0d-4a6e-9d1f-3c2b1a0f9e8d",
            "issuer": issuer,
            "credentialSubject": {"id": "did:example:subject"},
        }))
        .unwrap()
    }

    /// A Data Integrity proof made through the adapter verifies with ssi, resolving the
    /// issuer's key through Sichat's resolver.
    #[tokio::test]
    async fn data_integrity_proofs_from_stored_keys_verify_with_ssi() {
        for (key_type, suite, name) in [
            (KeyType::Ed25519, AnySuite::EdDsaRdfc2022, "eddsa-rdfc-2022"),
            (KeyType::P256, AnySuite::EcdsaRdfc2019, "ecdsa-rdfc-2019"),
        ] {
            let signer = stored_signer(key_type).await;
            let issuer = signer.method().split('#').next().unwrap().to_owned();
            let resolver: VerificationMethodDIDResolver<_, AnyMethod> =
                SsiResolver(StandardResolver::offline()).into_vm_resolver();
            let method = iref::IriBuf::new(signer.method().to_owned()).unwrap();
            let signed = suite
                .sign(
                    credential(&issuer),
                    &resolver,
                    LocalSigner(signer.clone()),
                    ProofOptions::from_method(ReferenceOrOwned::Reference(method)),
                )
                .await
                .unwrap();
            let json = serde_json::to_value(&signed).unwrap();
            assert_eq!(json["proof"]["cryptosuite"], name);
            let verdict = signed
                .verify(VerificationParameters::from_resolver(&resolver))
                .await
                .unwrap();
            assert!(verdict.is_ok(), "{name}: {verdict:?}");
        }
    }

    #[tokio::test]
    async fn jws_from_stored_keys_verify_with_the_published_key() {
        for key_type in [KeyType::Ed25519, KeyType::P256] {
            let signer = stored_signer(key_type).await;
            let jws = ssi::claims::JwsPayload::sign(
                &serde_json::json!({"iss": "did:example:x"}),
                &signer,
            )
            .await
            .unwrap();
            let public = signer.signer.public_key(&signer.key).await.unwrap();
            let (header, _, _) = ssi::claims::jws::split_jws(jws.as_str()).unwrap();
            assert!(!header.is_empty());
            ssi::claims::jws::verify_bytes(
                signer.jose_algorithm(),
                jws.signing_bytes(),
                &public.to_jwk(),
                &jws.decode().unwrap().signature,
            )
            .unwrap_or_else(|e| panic!("{key_type}: {e}"));
        }
    }

    #[tokio::test]
    async fn key_agreement_keys_cannot_become_signers() {
        let keys: Arc<KeyService<MemoryStore>> = Arc::new(KeyService::new(
            MemoryStore::new(),
            Kek::generate(),
            Arc::new(ManualClock::new(0)),
        ));
        let x = keys
            .generate(&Owner::Server, KeyType::X25519)
            .await
            .unwrap();
        assert!(SsiSigner::new(keys, x.id, "did:example:x#1").await.is_err());
    }
}
