//! DIDComm signed envelopes (DIDComm Messaging v2.1 §5.2, RFC 7515 General JSON
//! Serialization): `EdDSA` (Ed25519) and `ES256` (P-256), the signer's key id (a DID URL)
//! in each signature's unprotected `header.kid`, `typ` `application/didcomm-signed+json`.
//! Signing goes through the [`Signer`] seam (the key never leaves the key service);
//! verifying takes the public key the caller resolved for the signature's `kid`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Map, Value, json};

use crate::id::KeyId;
use crate::keys::jws::JwsAlg;
use crate::keys::{PublicKey, SignError, Signer};

/// The media type of a signed DIDComm message.
pub const TYP: &str = "application/didcomm-signed+json";
/// The largest signed message parsed.
pub const MAX_JWS_BYTES: usize = 4 * 1024 * 1024;
/// Signatures at most.
pub const MAX_SIGNATURES: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    #[error("malformed signed message: {0}")]
    Malformed(String),
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("no signature by {0}")]
    NoSuchSigner(String),
    #[error("the signature of {0} does not verify")]
    BadSignature(String),
}

fn malformed(what: impl Into<String>) -> JwsError {
    JwsError::Malformed(what.into())
}

/// One signature: its `kid`, algorithm, what it signs and the signature bytes.
#[derive(Debug, Clone)]
struct Signature {
    kid: String,
    alg: JwsAlg,
    signing_input: String,
    signature: Vec<u8>,
}

/// A parsed signed message, not yet verified.
#[derive(Debug, Clone)]
pub struct SignedEnvelope {
    payload: Vec<u8>,
    signatures: Vec<Signature>,
}

impl SignedEnvelope {
    pub fn parse(jws: &str) -> Result<Self, JwsError> {
        if jws.len() > MAX_JWS_BYTES {
            return Err(malformed(format!("larger than {MAX_JWS_BYTES} bytes")));
        }
        let Ok(Value::Object(outer)) = serde_json::from_str::<Value>(jws) else {
            return Err(malformed("not a JSON object"));
        };
        let payload_b64 = outer
            .get("payload")
            .and_then(Value::as_str)
            .ok_or_else(|| malformed("`payload` is missing"))?;
        let payload = B64
            .decode(payload_b64)
            .map_err(|_| malformed("`payload` is not base64url"))?;
        let list = outer
            .get("signatures")
            .and_then(Value::as_array)
            .ok_or_else(|| malformed("`signatures` is missing"))?;
        if list.is_empty() || list.len() > MAX_SIGNATURES {
            return Err(malformed(format!("1 to {MAX_SIGNATURES} signatures")));
        }
        let mut signatures = Vec::with_capacity(list.len());
        for s in list {
            let s = s
                .as_object()
                .ok_or_else(|| malformed("a signature is not an object"))?;
            let protected = s
                .get("protected")
                .and_then(Value::as_str)
                .ok_or_else(|| malformed("a signature has no `protected` header"))?;
            let header: Map<String, Value> = B64
                .decode(protected)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .ok_or_else(|| malformed("a protected header is not a base64url JSON object"))?;
            for refused in ["crit", "jku", "x5u", "jwk", "x5c", "b64"] {
                if header.contains_key(refused) {
                    return Err(JwsError::Unsupported(format!("the `{refused}` header")));
                }
            }
            if let Some(typ) = header.get("typ")
                && typ != TYP
            {
                return Err(malformed(format!("`typ` must be {TYP}")));
            }
            let alg = header
                .get("alg")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let alg = match JwsAlg::parse(alg) {
                Some(a @ (JwsAlg::EdDSA | JwsAlg::ES256)) => a,
                _ => return Err(JwsError::Unsupported(format!("alg `{alg}` (EdDSA, ES256)"))),
            };
            let kid = s
                .get("header")
                .and_then(|h| h.get("kid"))
                .or_else(|| header.get("kid"))
                .and_then(Value::as_str)
                .ok_or_else(|| malformed("a signature names no `kid`"))?;
            let signature = s
                .get("signature")
                .and_then(Value::as_str)
                .and_then(|v| B64.decode(v).ok())
                .ok_or_else(|| malformed("a signature is not base64url"))?;
            signatures.push(Signature {
                kid: kid.to_owned(),
                alg,
                signing_input: format!("{protected}.{payload_b64}"),
                signature,
            });
        }
        Ok(Self {
            payload,
            signatures,
        })
    }

    /// The key ids of the signatures.
    pub fn signers(&self) -> impl Iterator<Item = &str> {
        self.signatures.iter().map(|s| s.kid.as_str())
    }

    /// The signed payload (trust it only after [`SignedEnvelope::verify`]).
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// Verifies the signature made by `kid` with its public `key` (of the algorithm's
    /// key type).
    pub fn verify(&self, kid: &str, key: &PublicKey) -> Result<(), JwsError> {
        let s = self
            .signatures
            .iter()
            .find(|s| s.kid == kid)
            .ok_or_else(|| JwsError::NoSuchSigner(kid.to_owned()))?;
        if key.key_type() != s.alg.key_type()
            || !key.verify(s.signing_input.as_bytes(), &s.signature)
        {
            return Err(JwsError::BadSignature(kid.to_owned()));
        }
        Ok(())
    }
}

/// Signs `payload` (a plaintext message) with the stored key `key`, named `kid` (its DID
/// URL) in the signature's header.
pub async fn sign(
    signer: &dyn Signer,
    key: &KeyId,
    alg: JwsAlg,
    kid: &str,
    payload: &[u8],
) -> Result<String, SignError> {
    let protected = B64.encode(json!({"typ": TYP, "alg": alg.as_str()}).to_string());
    let payload = B64.encode(payload);
    let signature = signer
        .sign(key, format!("{protected}.{payload}").as_bytes())
        .await?;
    Ok(json!({
        "payload": payload,
        "signatures": [{"protected": protected, "signature": B64.encode(signature), "header": {"kid": kid}}],
    })
    .to_string())
}
