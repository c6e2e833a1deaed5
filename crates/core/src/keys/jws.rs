//! Compact JWS (RFC 7515 §7.1), signed through the [`Signer`] seam and verified against
//! keys the caller already trusts: the part of JOSE that OpenID Connect needs (ID tokens,
//! `private_key_jwt` client assertions, `id_token_hint`).
//!
//! Deliberately narrow: `EdDSA` (Ed25519), `ES256` and `RS256` only, each bound to its key
//! type; never `none` or an HMAC algorithm; a header that carries or points at a key
//! (`jwk`, `jku`, `x5u`, `x5c`) or that asks for an extension (`crit`) is refused, so that
//! nothing is ever fetched or trusted from the token itself (RFC 8725 §3.1, §3.10).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Map, Value};

use super::{KeyType, PublicKey, SignError, Signer};
use crate::id::KeyId;

/// The longest token accepted (ID tokens and client assertions are a few KiB).
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Header parameters refused wherever they appear (RFC 8725 §3.1, §3.10; RFC 7515 §4.1.11).
const REFUSED_HEADERS: [&str; 5] = ["crit", "jwk", "jku", "x5u", "x5c"];

/// The JWS algorithms Sichat signs and verifies (RFC 7518 §3.1, RFC 8037 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JwsAlg {
    EdDSA,
    ES256,
    RS256,
}

impl JwsAlg {
    pub const ALL: [JwsAlg; 3] = [JwsAlg::RS256, JwsAlg::ES256, JwsAlg::EdDSA];

    pub fn as_str(self) -> &'static str {
        match self {
            JwsAlg::EdDSA => "EdDSA",
            JwsAlg::ES256 => "ES256",
            JwsAlg::RS256 => "RS256",
        }
    }

    /// The algorithm named `name` (exact, case-sensitive, as RFC 7515 §4.1.1 requires).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }

    /// The only key type that signs with this algorithm.
    pub fn key_type(self) -> KeyType {
        match self {
            JwsAlg::EdDSA => KeyType::Ed25519,
            JwsAlg::ES256 => KeyType::P256,
            JwsAlg::RS256 => KeyType::Rsa,
        }
    }

    /// The algorithm a key of `key_type` signs with, if it signs.
    pub fn for_key_type(key_type: KeyType) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.key_type() == key_type)
    }
}

impl std::fmt::Display for JwsAlg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a JWS was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwsError {
    #[error("malformed JWS: {0}")]
    Malformed(&'static str),
    #[error("the JWS is longer than {MAX_TOKEN_BYTES} bytes")]
    TooLong,
    #[error("JWS algorithm `{0}` is not accepted here")]
    AlgNotAllowed(String),
    #[error("JWS header parameter `{0}` is not accepted")]
    RefusedHeader(&'static str),
    #[error("a {key} key cannot check a `{alg}` signature")]
    KeyMismatch { alg: JwsAlg, key: KeyType },
    #[error("the JWS signature does not verify")]
    BadSignature,
}

/// Signs `payload` as a compact JWS with the stored key `key`, whose type must be `alg`'s.
/// The protected header is `alg` plus `extra` (e.g. `kid`, `typ`).
pub async fn sign_compact(
    signer: &dyn Signer,
    key: &KeyId,
    alg: JwsAlg,
    extra: Map<String, Value>,
    payload: &[u8],
) -> Result<String, SignError> {
    let mut header = extra;
    header.insert("alg".into(), Value::String(alg.as_str().into()));
    // Invariant: a map of JSON values always serializes.
    let header = serde_json::to_vec(&header).expect("a JSON object serializes");
    let mut token = B64.encode(header);
    token.push('.');
    token.push_str(&B64.encode(payload));
    let signature = signer.sign(key, token.as_bytes()).await?;
    token.push('.');
    token.push_str(&B64.encode(signature));
    Ok(token)
}

/// A compact JWS whose form and header were checked; its signature is checked by
/// [`Decoded::verify`] once the caller has chosen the key (by `kid`, say).
#[derive(Debug)]
pub struct Decoded<'a> {
    signing_input: &'a str,
    signature: Vec<u8>,
    alg: JwsAlg,
    header: Map<String, Value>,
    payload: Vec<u8>,
}

/// Parses `token` and checks its header: an algorithm among `allowed`, no refused
/// parameter. Does not check the signature.
pub fn decode<'a>(token: &'a str, allowed: &[JwsAlg]) -> Result<Decoded<'a>, JwsError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(JwsError::TooLong);
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwsError::Malformed(
            "a compact JWS has three base64url parts separated by dots",
        ));
    };
    let decode =
        |part: &str, what: &'static str| B64.decode(part).map_err(|_| JwsError::Malformed(what));
    let header: Map<String, Value> =
        serde_json::from_slice(&decode(header, "the header is not base64url")?)
            .map_err(|_| JwsError::Malformed("the header is not a JSON object"))?;
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or(JwsError::Malformed("the header has no `alg`"))?;
    let alg = JwsAlg::parse(alg)
        .filter(|a| allowed.contains(a))
        .ok_or_else(|| JwsError::AlgNotAllowed(alg.to_owned()))?;
    if let Some(refused) = REFUSED_HEADERS.iter().find(|h| header.contains_key(**h)) {
        return Err(JwsError::RefusedHeader(refused));
    }
    let signature = decode(signature, "the signature is not base64url")?;
    if signature.is_empty() {
        return Err(JwsError::Malformed("the signature is empty"));
    }
    Ok(Decoded {
        signing_input: &token[..header_and_payload_len(token)],
        payload: decode(payload, "the payload is not base64url")?,
        signature,
        alg,
        header,
    })
}

/// The length of `header.payload` in a token with three parts.
fn header_and_payload_len(token: &str) -> usize {
    token.rfind('.').unwrap_or(token.len())
}

impl Decoded<'_> {
    pub fn alg(&self) -> JwsAlg {
        self.alg
    }

    pub fn header(&self) -> &Map<String, Value> {
        &self.header
    }

    /// The `kid` header parameter, if it is a string.
    pub fn kid(&self) -> Option<&str> {
        self.header.get("kid").and_then(Value::as_str)
    }

    /// The `typ` header parameter, if it is a string.
    pub fn typ(&self) -> Option<&str> {
        self.header.get("typ").and_then(Value::as_str)
    }

    /// The payload, not yet authenticated: read it only to choose the key.
    pub fn unverified_payload(&self) -> &[u8] {
        &self.payload
    }

    /// Checks the signature with `key`, whose type must be the algorithm's; returns the
    /// payload.
    pub fn verify(self, key: &PublicKey) -> Result<Vec<u8>, JwsError> {
        if key.key_type() != self.alg.key_type() {
            return Err(JwsError::KeyMismatch {
                alg: self.alg,
                key: key.key_type(),
            });
        }
        if key.verify(self.signing_input.as_bytes(), &self.signature) {
            Ok(self.payload)
        } else {
            Err(JwsError::BadSignature)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{SecretKey, SignError};
    use serde_json::json;

    /// A signer over one in-memory key, for the vectors.
    struct OneKey(SecretKey);

    #[async_trait::async_trait]
    impl Signer for OneKey {
        async fn sign(&self, _: &KeyId, message: &[u8]) -> Result<Vec<u8>, SignError> {
            Ok(self.0.sign(message)?)
        }
        async fn public_key(&self, _: &KeyId) -> Result<PublicKey, SignError> {
            Ok(self.0.public_key())
        }
    }

    fn sign(key: &SecretKey, alg: JwsAlg, header: Value, payload: &[u8]) -> String {
        let signer = OneKey(SecretKey::from_bytes(key.key_type(), &key.to_bytes()).unwrap());
        let Value::Object(extra) = header else {
            panic!("header is an object")
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime
            .block_on(sign_compact(
                &signer,
                &KeyId::generate(),
                alg,
                extra,
                payload,
            ))
            .unwrap()
    }

    fn forged(header: Value, payload: &str, signature: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            B64.encode(header.to_string()),
            B64.encode(payload),
            B64.encode(signature)
        )
    }

    #[test]
    fn every_algorithm_round_trips_and_binds_its_key_type() {
        for alg in JwsAlg::ALL {
            let key = SecretKey::generate(alg.key_type());
            let token = sign(&key, alg, json!({"kid": "k1", "typ": "JWT"}), b"{\"a\":1}");
            let decoded = decode(&token, &JwsAlg::ALL).unwrap();
            assert_eq!(
                (decoded.alg(), decoded.kid(), decoded.typ()),
                (alg, Some("k1"), Some("JWT"))
            );
            assert_eq!(decoded.verify(&key.public_key()).unwrap(), b"{\"a\":1}");
            // Another key of the same type, and a key of another type, fail.
            let other = SecretKey::generate(alg.key_type()).public_key();
            assert_eq!(
                decode(&token, &JwsAlg::ALL).unwrap().verify(&other),
                Err(JwsError::BadSignature)
            );
            let wrong_type = if alg == JwsAlg::EdDSA {
                JwsAlg::ES256
            } else {
                JwsAlg::EdDSA
            };
            let wrong = SecretKey::generate(wrong_type.key_type()).public_key();
            assert!(matches!(
                decode(&token, &JwsAlg::ALL).unwrap().verify(&wrong),
                Err(JwsError::KeyMismatch { .. })
            ));
            // Not among the allowed algorithms.
            let others: Vec<_> = JwsAlg::ALL.into_iter().filter(|a| *a != alg).collect();
            assert_eq!(
                decode(&token, &others).unwrap_err(),
                JwsError::AlgNotAllowed(alg.as_str().into())
            );
        }
    }

    #[test]
    fn tampering_is_caught() {
        let key = SecretKey::generate(KeyType::Ed25519);
        let token = sign(&key, JwsAlg::EdDSA, json!({}), b"{\"sub\":\"alice\"}");
        let (head, rest) = token.split_once('.').unwrap();
        let (_, signature) = rest.split_once('.').unwrap();
        let swapped = format!("{head}.{}.{signature}", B64.encode("{\"sub\":\"mallory\"}"));
        assert_eq!(
            decode(&swapped, &JwsAlg::ALL)
                .unwrap()
                .verify(&key.public_key()),
            Err(JwsError::BadSignature)
        );
        let relabelled = format!(
            "{}.{rest}",
            B64.encode(json!({"alg": "EdDSA", "kid": "other"}).to_string())
        );
        assert_eq!(
            decode(&relabelled, &JwsAlg::ALL)
                .unwrap()
                .verify(&key.public_key()),
            Err(JwsError::BadSignature)
        );
    }

    #[test]
    fn hostile_headers_and_shapes_are_refused() {
        let key = SecretKey::generate(KeyType::Ed25519);
        let jwk = key.public_key().to_jwk_value();
        for (header, why) in [
            (
                json!({"alg": "none"}),
                JwsError::AlgNotAllowed("none".into()),
            ),
            (
                json!({"alg": "HS256"}),
                JwsError::AlgNotAllowed("HS256".into()),
            ),
            (
                json!({"alg": "eddsa"}),
                JwsError::AlgNotAllowed("eddsa".into()),
            ),
            (
                json!({"alg": "ES256K"}),
                JwsError::AlgNotAllowed("ES256K".into()),
            ),
            (
                json!({"alg": "EdDSA", "crit": ["exp"], "exp": 1}),
                JwsError::RefusedHeader("crit"),
            ),
            (
                json!({"alg": "EdDSA", "jwk": jwk}),
                JwsError::RefusedHeader("jwk"),
            ),
            (
                json!({"alg": "EdDSA", "jku": "http://127.0.0.1:9/keys"}),
                JwsError::RefusedHeader("jku"),
            ),
            (
                json!({"alg": "EdDSA", "x5u": "http://127.0.0.1:9/cert"}),
                JwsError::RefusedHeader("x5u"),
            ),
            (
                json!({"alg": "EdDSA", "x5c": ["MIIB"]}),
                JwsError::RefusedHeader("x5c"),
            ),
            (
                json!({"kid": "k"}),
                JwsError::Malformed("the header has no `alg`"),
            ),
            (
                json!({"alg": 1}),
                JwsError::Malformed("the header has no `alg`"),
            ),
            (
                json!(["alg", "EdDSA"]),
                JwsError::Malformed("the header is not a JSON object"),
            ),
        ] {
            let token = forged(header.clone(), "{}", &[7u8; 64]);
            assert_eq!(decode(&token, &JwsAlg::ALL).unwrap_err(), why, "{header}");
        }
        let good = sign(&key, JwsAlg::EdDSA, json!({}), b"{}");
        let (head, rest) = good.split_once('.').unwrap();
        for bad in [
            String::new(),
            "a".into(),
            "a.b".into(),
            format!("{good}.x"),
            format!("{head}.{rest}="),
            format!("{head}=.{rest}"),
            format!("{head}.{}", rest.replace('.', ".+")),
            format!("{}.", &good[..good.rfind('.').unwrap()]),
        ] {
            assert!(
                matches!(decode(&bad, &JwsAlg::ALL), Err(JwsError::Malformed(_))),
                "{bad}"
            );
        }
        let long = forged(
            json!({"alg": "EdDSA"}),
            &"x".repeat(MAX_TOKEN_BYTES),
            &[0; 64],
        );
        assert_eq!(decode(&long, &JwsAlg::ALL).unwrap_err(), JwsError::TooLong);
    }
}
