//! `did:jwk` (did:jwk specification, §2 create and §3 read): the DID is the base64url of a
//! public JWK; the document has one `JsonWebKey2020` method, `#0`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};

use super::document::{DidDocument, DocumentBuilder, JWS_2020_CONTEXT, Relationship};
use super::resolver::ResolveError;
use crate::id::Did;
use crate::keys::{KeyType, PublicKey};

/// Creates the `did:jwk` of a public key (RFC 7638 member order, as ssi's `DIDJWK` does).
pub fn did_jwk(key: &PublicKey) -> Did {
    // Invariant: `did:jwk:` + base64url is DID syntax.
    Did::parse(&format!(
        "did:jwk:{}",
        B64.encode(key.to_jwk_value().to_string())
    ))
    .expect("a did:jwk is a DID")
}

/// Reads a `did:jwk` (§3.2).
pub fn resolve(did: &Did) -> Result<DidDocument, ResolveError> {
    let raw = B64
        .decode(did.method_specific_id())
        .map_err(|_| ResolveError::InvalidDid("did:jwk identifier is not base64url".into()))?;
    let jwk: Value = serde_json::from_slice(&raw)
        .map_err(|_| ResolveError::InvalidDid("did:jwk identifier is not a JSON JWK".into()))?;
    if !jwk.is_object() {
        return Err(ResolveError::InvalidDid(
            "did:jwk identifier is not a JSON object".into(),
        ));
    }
    if jwk.get("d").is_some() {
        return Err(ResolveError::InvalidDid(
            "did:jwk must not carry a private key".into(),
        ));
    }
    let key = PublicKey::from_jwk_value(&jwk)
        .map_err(|e| ResolveError::InvalidPublicKey(e.to_string()))?;
    // §3.2: `use: "sig"` excludes keyAgreement; `use: "enc"` includes only keyAgreement.
    // An X25519 key cannot sign (RFC 8037 §3.2), whatever `use` says or omits.
    let relationships: &[Relationship] = match jwk.get("use").and_then(Value::as_str) {
        Some("sig") if key.key_type() == KeyType::X25519 => {
            return Err(ResolveError::InvalidPublicKey(
                "an X25519 key cannot have `use: sig` (RFC 8037 §3.2)".into(),
            ));
        }
        _ if key.key_type() == KeyType::X25519 => &[Relationship::KeyAgreement],
        Some("sig") => &Relationship::SIGNING,
        Some("enc") => &[Relationship::KeyAgreement],
        _ => &Relationship::ALL,
    };
    let mut builder = DocumentBuilder::new(did);
    builder.context(JWS_2020_CONTEXT).method(
        json!({"id": did.with_fragment("0"), "type": "JsonWebKey2020", "controller": did.as_str(), "publicKeyJwk": jwk}),
        relationships,
    );
    Ok(builder.build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SecretKey;

    fn resolve_jwk(jwk: Value) -> Result<DidDocument, ResolveError> {
        resolve(&Did::parse(&format!("did:jwk:{}", B64.encode(jwk.to_string()))).unwrap())
    }

    #[test]
    fn x25519_keys_are_key_agreement_only_whatever_use_says() {
        let x = SecretKey::generate(KeyType::X25519).public_key();
        let doc = resolve(&did_jwk(&x)).unwrap();
        for rel in Relationship::ALL {
            let expected = usize::from(rel == Relationship::KeyAgreement);
            assert_eq!(doc.relationship(rel).len(), expected, "{rel:?}");
        }
        let mut sig = x.to_jwk_value();
        sig["use"] = json!("sig");
        assert_eq!(resolve_jwk(sig).unwrap_err().code(), "invalidPublicKey");
    }

    #[test]
    fn signing_keys_without_use_get_every_relationship() {
        let ed = SecretKey::generate(KeyType::Ed25519).public_key();
        let doc = resolve(&did_jwk(&ed)).unwrap();
        for rel in Relationship::ALL {
            assert_eq!(doc.relationship(rel).len(), 1, "{rel:?}");
        }
        let mut private = ed.to_jwk_value();
        private["d"] = json!("AAAA");
        assert_eq!(resolve_jwk(private).unwrap_err().code(), "invalidDid");
    }
}
