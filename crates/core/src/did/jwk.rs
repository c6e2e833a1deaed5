//! `did:jwk` (did:jwk specification, §2 create and §3 read): the DID is the base64url of a
//! public JWK; the document has one `JsonWebKey2020` method, `#0`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};

use super::document::{DidDocument, DocumentBuilder, JWS_2020_CONTEXT, Relationship};
use super::resolver::ResolveError;
use crate::keys::PublicKey;

/// Creates the `did:jwk` of a public key (RFC 7638 member order, as ssi's `DIDJWK` does).
pub fn did_jwk(key: &PublicKey) -> String {
    format!("did:jwk:{}", B64.encode(key.to_jwk_value().to_string()))
}

/// Reads a `did:jwk` (§3.2).
pub fn resolve(did: &str, msid: &str) -> Result<DidDocument, ResolveError> {
    let raw = B64
        .decode(msid)
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
    PublicKey::from_jwk_value(&jwk).map_err(|e| ResolveError::InvalidPublicKey(e.to_string()))?;
    // §3.2: `use: "sig"` excludes keyAgreement; `use: "enc"` includes only keyAgreement.
    let relationships: &[Relationship] = match jwk.get("use").and_then(Value::as_str) {
        Some("sig") => &Relationship::SIGNING,
        Some("enc") => &[Relationship::KeyAgreement],
        _ => &Relationship::ALL,
    };
    let mut builder = DocumentBuilder::new(did);
    builder.context(JWS_2020_CONTEXT).method(
        json!({"id": format!("{did}#0"), "type": "JsonWebKey2020", "controller": did, "publicKeyJwk": jwk}),
        relationships,
    );
    Ok(builder.build())
}
