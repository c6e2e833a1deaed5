//! `did:key` (W3C CCG did:key Method v0.7, §3.1 document creation): the DID is a Multikey;
//! an Ed25519 key also gets the derived X25519 key-agreement method (§3.1.2
//! `enableEncryptionKeyDerivation`, on by default).

use serde_json::{Value, json};

use super::document::{
    DidDocument, DocumentBuilder, JWS_2020_CONTEXT, MULTIKEY_CONTEXT_V1, Relationship,
};
use super::resolver::ResolveError;
use crate::id::Did;
use crate::keys::{KeyType, PublicKey};

/// How verification methods are expressed (the `publicKeyFormat` resolution option).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyFormat {
    /// `Multikey` with `publicKeyMultibase` (current default).
    #[default]
    Multikey,
    /// `JsonWebKey2020` with `publicKeyJwk`.
    JsonWebKey2020,
    /// `Ed25519VerificationKey2018` / `X25519KeyAgreementKey2019` with `publicKeyBase58`, as
    /// in the spec's published test vectors.
    Legacy2018,
}

impl KeyFormat {
    /// The format for a `publicKeyFormat` option value (did:key §3.1.1); `None` when it is
    /// not one Sichat produces (`unsupportedPublicKeyType`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "Multikey" => Some(KeyFormat::Multikey),
            "JsonWebKey2020" => Some(KeyFormat::JsonWebKey2020),
            "Ed25519VerificationKey2018" | "X25519KeyAgreementKey2019" => {
                Some(KeyFormat::Legacy2018)
            }
            _ => None,
        }
    }
}

/// The `did:key` of a public key.
pub fn did_key(key: &PublicKey) -> Did {
    // Invariant: `did:key:` + a base58btc multibase value is DID syntax.
    Did::parse(&format!("did:key:{}", key.to_multibase())).expect("a did:key is a DID")
}

/// Resolves a `did:key` in the default [`KeyFormat::Multikey`].
pub fn resolve(did: &Did) -> Result<DidDocument, ResolveError> {
    resolve_with_format(did, KeyFormat::Multikey)
}

/// Decodes the Multikey of a `did:key` / `did:peer:0` method-specific id.
pub(crate) fn decode_multikey(msid: &str) -> Result<PublicKey, ResolveError> {
    if !msid.starts_with('z') {
        return Err(ResolveError::InvalidDid(
            "the key must be base58btc multibase ('z')".into(),
        ));
    }
    let key = PublicKey::from_multibase(msid)
        .map_err(|e| ResolveError::InvalidPublicKey(e.to_string()))?;
    if !key.key_type().in_did_documents() {
        return Err(ResolveError::InvalidPublicKey(format!(
            "{} keys are not supported in a did:key or did:peer here",
            key.key_type()
        )));
    }
    // P-256 keys are identified in compressed form; an uncompressed one would give method
    // ids that do not match the DID.
    if key.key_type() == KeyType::P256 && key.to_multibase() != msid {
        return Err(ResolveError::InvalidPublicKey(
            "P-256 keys must be compressed (33 bytes)".into(),
        ));
    }
    Ok(key)
}

/// Like [`decode_multikey`], with the derived X25519 key of an Ed25519 key (§3.1.2), from
/// a single point decompression.
fn decode_with_derived(msid: &str) -> Result<(PublicKey, Option<PublicKey>), ResolveError> {
    if !msid.starts_with("z6Mk") {
        return Ok((decode_multikey(msid)?, None));
    }
    let (_, raw) =
        multibase::decode(msid).map_err(|e| ResolveError::InvalidPublicKey(e.to_string()))?;
    match raw.as_slice() {
        [0xed, 0x01, key @ ..] => {
            let (ed, x) = PublicKey::ed25519_with_x25519(key)
                .map_err(|e| ResolveError::InvalidPublicKey(e.to_string()))?;
            // 0xed01 + 32 bytes decoded from base58btc: `msid` is its canonical form.
            ed.remember_multibase(msid);
            Ok((ed, Some(x)))
        }
        _ => Ok((decode_multikey(msid)?, None)),
    }
}

/// Resolves a `did:key` with the given verification-method format (§3.1.1).
pub fn resolve_with_format(did: &Did, format: KeyFormat) -> Result<DidDocument, ResolveError> {
    document(did, did.method_specific_id(), format)
}

/// The did:key document of the Multikey `multibase`, with `did` as its id (did:peer:0 in
/// the spec's style is the did:key document of its key).
pub(crate) fn document(
    did: &Did,
    multibase: &str,
    format: KeyFormat,
) -> Result<DidDocument, ResolveError> {
    let (key, derived) = decode_with_derived(multibase)?;
    let mut builder = DocumentBuilder::new(did);
    let did = did.as_str();
    let mb = key.to_multibase();
    if key.key_type() == KeyType::X25519 {
        add(
            &mut builder,
            did,
            &mb,
            &key,
            format,
            &[Relationship::KeyAgreement],
        );
    } else if key.key_type() == KeyType::P256 {
        // NIST-curve keys serve key agreement (ECDH-ES) themselves: all five relationships.
        add(&mut builder, did, &mb, &key, format, &Relationship::ALL);
    } else {
        add(&mut builder, did, &mb, &key, format, &Relationship::SIGNING);
        if let Some(x) = derived {
            add(
                &mut builder,
                did,
                &x.to_multibase(),
                &x,
                format,
                &[Relationship::KeyAgreement],
            );
        }
    }
    Ok(builder.build())
}

fn add(
    b: &mut DocumentBuilder,
    did: &str,
    fragment: &str,
    key: &PublicKey,
    format: KeyFormat,
    rels: &[Relationship],
) {
    let id = format!("{did}#{fragment}");
    let method: Value = match format {
        KeyFormat::Multikey => {
            b.context(MULTIKEY_CONTEXT_V1);
            json!({"id": id, "type": "Multikey", "controller": did, "publicKeyMultibase": key.to_multibase()})
        }
        KeyFormat::JsonWebKey2020 => {
            b.context(JWS_2020_CONTEXT);
            json!({"id": id, "type": "JsonWebKey2020", "controller": did, "publicKeyJwk": key.to_jwk_value()})
        }
        KeyFormat::Legacy2018 => {
            let (ty, ctx) = match key.key_type() {
                KeyType::X25519 => (
                    "X25519KeyAgreementKey2019",
                    "https://w3id.org/security/suites/x25519-2019/v1",
                ),
                KeyType::Ed25519 => (
                    "Ed25519VerificationKey2018",
                    "https://w3id.org/security/suites/ed25519-2018/v1",
                ),
                // P-256 has no 2018 suite; the spec's vectors use JsonWebKey2020 for it.
                // (RSA keys never get here: `decode_multikey` refuses them.)
                KeyType::P256 | KeyType::Rsa => {
                    b.context(JWS_2020_CONTEXT);
                    let m = json!({"id": id, "type": "JsonWebKey2020", "controller": did, "publicKeyJwk": key.to_jwk_value()});
                    b.method(m, rels);
                    return;
                }
            };
            b.context(ctx);
            json!({"id": id, "type": ty, "controller": did,
                   "publicKeyBase58": bs58::encode(key.as_bytes()).into_string()})
        }
    };
    b.method(method, rels);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ed25519_did_key_gets_derived_key_agreement() {
        let did = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK";
        let doc = resolve(&Did::parse(did).unwrap()).unwrap();
        let ka = doc.relationship(Relationship::KeyAgreement);
        assert_eq!(
            ka,
            vec![format!(
                "{did}#z6LSj72tK8brWgZja8NLRwPigth2T9QRiG1uH9oKZuKjdh9p"
            )]
        );
        assert_eq!(
            doc.relationship(Relationship::AssertionMethod),
            vec![format!("{did}#{}", &did[8..])]
        );
    }

    #[test]
    fn malformed_did_keys_are_refused() {
        for msid in ["6MkhaX", "zzzz", "z6Mk", "z"] {
            let did = Did::parse(&format!("did:key:{msid}")).unwrap();
            assert!(resolve(&did).is_err(), "{msid}");
        }
    }
}
