//! Public keys: Multikey and JWK encodings, with the point validated on the way in.

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};

use super::{KeyError, KeyType};

/// The RSA key sizes accepted (RFC 7518 §3.3 asks for at least 2,048 bits; beyond 4,096
/// a verification costs more than it should be able to cost a caller).
pub(crate) const RSA_MIN_BITS: usize = 2048;
pub(crate) const RSA_MAX_BITS: usize = 4096;

/// The [`PublicKey`] of an RSA key (PKCS#1 `RSAPublicKey` DER bytes).
pub(crate) fn rsa_public_key(key: rsa::RsaPublicKey) -> PublicKey {
    use rsa::pkcs1::EncodeRsaPublicKey;
    // Invariant: an RSA public key always encodes as PKCS#1.
    let der = key.to_pkcs1_der().expect("an RSA public key encodes");
    PublicKey::checked(KeyType::Rsa, der.as_bytes().to_vec())
}

/// Parses and bounds PKCS#1 `RSAPublicKey` DER.
fn rsa_from_der(bytes: &[u8]) -> Result<rsa::RsaPublicKey, KeyError> {
    use rsa::pkcs1::DecodeRsaPublicKey;
    use rsa::traits::PublicKeyParts;
    let key = rsa::RsaPublicKey::from_pkcs1_der(bytes)
        .map_err(|_| KeyError::InvalidKeyBytes(KeyType::Rsa))?;
    let bits = key.size() * 8;
    if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
        return Err(KeyError::InvalidKeyBytes(KeyType::Rsa));
    }
    Ok(key)
}

/// A validated public key. P-256 keys are held in SEC1 compressed form (33 bytes), RSA
/// keys as PKCS#1 `RSAPublicKey` DER (2,048 to 4,096 bits).
#[derive(Clone)]
pub struct PublicKey {
    key_type: KeyType,
    bytes: Vec<u8>,
    /// The Multikey value, encoded once (base58 is quadratic; documents name a key
    /// several times).
    multibase: OnceLock<String>,
    /// An Ed25519 key's decompressed point, kept from validation (decompressing costs a
    /// square root, ~15 µs, on every verification otherwise).
    ed25519: OnceLock<ed25519_dalek::VerifyingKey>,
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.key_type == other.key_type && self.bytes == other.bytes
    }
}

impl Eq for PublicKey {}

impl std::hash::Hash for PublicKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key_type.hash(state);
        self.bytes.hash(state);
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({}, {})", self.key_type, self.to_multibase())
    }
}

impl PublicKey {
    /// Validates raw key bytes: 32-byte Ed25519 (a point on the curve), SEC1 P-256
    /// (compressed or uncompressed, on the curve), 32-byte X25519.
    pub fn from_bytes(key_type: KeyType, bytes: &[u8]) -> Result<Self, KeyError> {
        let invalid = || KeyError::InvalidKeyBytes(key_type);
        let bytes = match key_type {
            KeyType::Ed25519 => {
                let arr: [u8; 32] = bytes.try_into().map_err(|_| invalid())?;
                let point = ed25519_dalek::VerifyingKey::from_bytes(&arr).map_err(|_| invalid())?;
                let key = Self::checked(key_type, arr.to_vec());
                let _ = key.ed25519.set(point);
                return Ok(key);
            }
            KeyType::P256 => {
                use p256::elliptic_curve::sec1::ToEncodedPoint;
                let key = p256::PublicKey::from_sec1_bytes(bytes).map_err(|_| invalid())?;
                key.to_encoded_point(true).as_bytes().to_vec()
            }
            KeyType::X25519 => {
                let arr: [u8; 32] = bytes.try_into().map_err(|_| invalid())?;
                arr.to_vec()
            }
            KeyType::Rsa => return Ok(rsa_public_key(rsa_from_der(bytes)?)),
        };
        Ok(Self::checked(key_type, bytes))
    }

    /// A key whose bytes were validated by the caller (P-256: compressed).
    fn checked(key_type: KeyType, bytes: Vec<u8>) -> Self {
        Self {
            key_type,
            bytes,
            multibase: OnceLock::new(),
            ed25519: OnceLock::new(),
        }
    }

    /// Checks `signature` over `message` the way [`super::Signer`] makes it: Ed25519 over
    /// the message (RFC 8032, strict: no malleable or small-order forms), P-256 ECDSA over
    /// its SHA-256 with the 64-byte `r || s` signature (high-S accepted, as RFC 6979
    /// signers such as the W3C vectors' do not normalise it), RSA PKCS#1 v1.5 over its
    /// SHA-256 (`RS256`). X25519 keys never verify.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self.key_type {
            KeyType::Ed25519 => {
                let key = match self.ed25519.get() {
                    Some(key) => *key,
                    None => match ed25519_dalek::VerifyingKey::try_from(self.bytes.as_slice()) {
                        Ok(key) => *self.ed25519.get_or_init(|| key),
                        Err(_) => return false,
                    },
                };
                let Ok(sig) = ed25519_dalek::Signature::from_slice(signature) else {
                    return false;
                };
                key.verify_strict(message, &sig).is_ok()
            }
            KeyType::P256 => {
                use p256::ecdsa::signature::Verifier;
                let (Ok(key), Ok(sig)) = (
                    p256::ecdsa::VerifyingKey::from_sec1_bytes(&self.bytes),
                    p256::ecdsa::Signature::from_slice(signature),
                ) else {
                    return false;
                };
                key.verify(message, &sig).is_ok()
            }
            KeyType::X25519 => false,
            KeyType::Rsa => {
                use sha2::Digest;
                let Ok(key) = rsa_from_der(&self.bytes) else {
                    return false;
                };
                let digest = sha2::Sha256::digest(message);
                key.verify(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), &digest, signature)
                    .is_ok()
            }
        }
    }

    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// Raw bytes (P-256: SEC1 compressed; RSA: PKCS#1 DER).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Multicodec-prefixed bytes, as inside a Multikey or a `did:key`.
    pub fn to_multicodec(&self) -> Vec<u8> {
        let mut prefix = unsigned_varint::encode::u64_buffer();
        let prefix = unsigned_varint::encode::u64(self.key_type.multicodec(), &mut prefix);
        [prefix, &self.bytes].concat()
    }

    /// `z`-prefixed base58btc Multikey value (`publicKeyMultibase`).
    pub fn to_multibase(&self) -> String {
        self.multibase().to_owned()
    }

    /// Records the Multikey value the caller decoded this key from (it must be this key's
    /// canonical encoding), so that it is not encoded again.
    pub(crate) fn remember_multibase(&self, value: &str) {
        let _ = self.multibase.set(value.to_owned());
    }

    /// The Multikey value, borrowed.
    pub fn multibase(&self) -> &str {
        self.multibase
            .get_or_init(|| multibase::encode(multibase::Base::Base58Btc, self.to_multicodec()))
    }

    /// Parses a `publicKeyMultibase` value (base58btc, multicodec-prefixed).
    pub fn from_multibase(value: &str) -> Result<Self, KeyError> {
        if !value.starts_with('z') {
            return Err(KeyError::InvalidMultibase(
                "expected base58btc ('z' prefix)".into(),
            ));
        }
        let (_, raw) =
            multibase::decode(value).map_err(|e| KeyError::InvalidMultibase(e.to_string()))?;
        let key = Self::from_multicodec(&raw)?;
        // base58btc and the minimal varint make the encoding unique, except for P-256
        // keys given uncompressed (held compressed): keep the value as the cached form.
        if key.key_type != KeyType::P256 || raw.len() == 35 {
            let _ = key.multibase.set(value.to_owned());
        }
        Ok(key)
    }

    /// Parses multicodec-prefixed key bytes.
    pub fn from_multicodec(raw: &[u8]) -> Result<Self, KeyError> {
        let (code, key) = unsigned_varint::decode::u64(raw)
            .map_err(|e| KeyError::InvalidMultibase(format!("multicodec prefix: {e}")))?;
        let key_type = KeyType::from_multicodec(code).ok_or_else(|| {
            KeyError::InvalidMultibase(format!("unsupported multicodec 0x{code:x}"))
        })?;
        Self::from_bytes(key_type, key)
    }

    /// The public JWK (RFC 7517; OKP per RFC 8037), as JSON with members in RFC 7638 order.
    pub fn to_jwk_value(&self) -> Value {
        match self.key_type {
            KeyType::Ed25519 | KeyType::X25519 => {
                json!({"crv": self.key_type.as_str(), "kty": "OKP", "x": B64.encode(&self.bytes)})
            }
            KeyType::P256 => {
                // Invariant: bytes were validated as a P-256 point in `from_bytes`, and a
                // JwkEcKey always serializes.
                let jwk = p256::PublicKey::from_sec1_bytes(&self.bytes)
                    .expect("validated P-256 point")
                    .to_jwk();
                // serde_json's map is ordered by key: the RFC 7638 order (crv, kty, x, y).
                serde_json::to_value(jwk).expect("a JWK serializes")
            }
            KeyType::Rsa => {
                use rsa::traits::PublicKeyParts;
                // Invariant: bytes were validated as an RSA key in `from_bytes`.
                let key = rsa_from_der(&self.bytes).expect("validated RSA key");
                json!({
                    "e": B64.encode(key.e().to_bytes_be()),
                    "kty": "RSA",
                    "n": B64.encode(key.n().to_bytes_be()),
                })
            }
        }
    }

    /// The public key as an `ssi` JWK, for use with ssi's signing and verification.
    pub fn to_jwk(&self) -> ssi::jwk::JWK {
        // Invariant: `to_jwk_value` emits a well-formed public JWK.
        serde_json::from_value(self.to_jwk_value()).expect("well-formed JWK")
    }

    /// Parses a public JWK (private members, if present, are ignored).
    pub fn from_jwk_value(jwk: &Value) -> Result<Self, KeyError> {
        let member = |name: &str| -> Result<Vec<u8>, KeyError> {
            let s = jwk
                .get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| KeyError::InvalidJwk(format!("missing `{name}`")))?;
            B64.decode(s)
                .map_err(|_| KeyError::InvalidJwk(format!("`{name}` is not base64url")))
        };
        let kty = jwk.get("kty").and_then(Value::as_str).unwrap_or_default();
        let crv = jwk.get("crv").and_then(Value::as_str).unwrap_or_default();
        match (kty, crv) {
            ("OKP", "Ed25519") => Self::from_bytes(KeyType::Ed25519, &member("x")?),
            ("OKP", "X25519") => Self::from_bytes(KeyType::X25519, &member("x")?),
            ("EC", "P-256") => {
                let public: p256::elliptic_curve::JwkEcKey = serde_json::from_value(json!({
                    "kty": "EC", "crv": "P-256", "x": jwk.get("x"), "y": jwk.get("y"),
                }))
                .map_err(|e| KeyError::InvalidJwk(format!("P-256 coordinates: {e}")))?;
                // `from_jwk` checks the point is on the curve.
                let key = p256::PublicKey::from_jwk(&public)
                    .map_err(|_| KeyError::InvalidKeyBytes(KeyType::P256))?;
                use p256::elliptic_curve::sec1::ToEncodedPoint;
                Ok(Self::checked(
                    KeyType::P256,
                    key.to_encoded_point(true).as_bytes().to_vec(),
                ))
            }
            ("RSA", _) => {
                let number = |name: &str| member(name).map(|b| rsa::BigUint::from_bytes_be(&b));
                let key = rsa::RsaPublicKey::new(number("n")?, number("e")?)
                    .map_err(|e| KeyError::InvalidJwk(format!("RSA key: {e}")))?;
                use rsa::pkcs1::EncodeRsaPublicKey;
                let der = key
                    .to_pkcs1_der()
                    .map_err(|e| KeyError::InvalidJwk(format!("RSA key: {e}")))?;
                Self::from_bytes(KeyType::Rsa, der.as_bytes())
            }
            _ => Err(KeyError::InvalidJwk(format!(
                "unsupported kty/crv `{kty}`/`{crv}` (expected OKP Ed25519/X25519, EC P-256 or RSA)"
            ))),
        }
    }

    /// RFC 7638 JWK thumbprint (SHA-256, base64url).
    pub fn jwk_thumbprint(&self) -> String {
        // Invariant: our JWKs always have the members RFC 7638 requires.
        jwk_thumbprint(&self.to_jwk_value()).expect("thumbprint of a complete JWK")
    }

    /// An Ed25519 key and its X25519 equivalent from one point decompression (the
    /// decompression is also the validation): `did:key` resolution's hot path.
    pub(crate) fn ed25519_with_x25519(bytes: &[u8]) -> Result<(PublicKey, PublicKey), KeyError> {
        let invalid = || KeyError::InvalidKeyBytes(KeyType::Ed25519);
        let arr: [u8; 32] = bytes.try_into().map_err(|_| invalid())?;
        let vk = ed25519_dalek::VerifyingKey::from_bytes(&arr).map_err(|_| invalid())?;
        Ok((
            Self::checked(KeyType::Ed25519, arr.to_vec()),
            Self::checked(KeyType::X25519, vk.to_montgomery().to_bytes().to_vec()),
        ))
    }
}

/// The RFC 7638 thumbprint (SHA-256, base64url) of any public JWK ssi reads (OKP, EC,
/// RSA): the hash of its required members in lexicographic order.
pub fn jwk_thumbprint(jwk: &Value) -> Result<String, KeyError> {
    let parsed: ssi::jwk::JWK =
        serde_json::from_value(jwk.clone()).map_err(|e| KeyError::InvalidJwk(e.to_string()))?;
    parsed
        .thumbprint()
        .map_err(|e| KeyError::InvalidJwk(e.to_string()))
}

/// Public keys decoded from multibase strings, at most 4,096 (then it starts over).
struct DecodedKeys(std::sync::Mutex<std::collections::HashMap<String, PublicKey>>);

impl DecodedKeys {
    const CAPACITY: usize = 4096;

    fn get() -> &'static Self {
        static KEYS: std::sync::OnceLock<DecodedKeys> = std::sync::OnceLock::new();
        KEYS.get_or_init(|| DecodedKeys(Default::default()))
    }
}

impl PublicKey {
    /// [`PublicKey::from_multibase`], remembering the keys it decoded: decoding checks the
    /// point (a square root for Ed25519, ~15 µs), and a verifier or signer meets the same
    /// few keys again and again. A pure function of the string, so the cache cannot be
    /// stale.
    pub fn from_multibase_cached(multibase: &str) -> Result<PublicKey, KeyError> {
        let cache = DecodedKeys::get();
        if let Some(key) = cache.0.lock().ok().and_then(|m| m.get(multibase).cloned()) {
            return Ok(key);
        }
        let key = PublicKey::from_multibase(multibase)?;
        if let Ok(mut map) = cache.0.lock() {
            if map.len() >= DecodedKeys::CAPACITY {
                map.clear();
            }
            map.insert(multibase.to_owned(), key.clone());
        }
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 8037 A.2: the Ed25519 public key of the appendix.
    const RFC8037_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

    #[test]
    fn rfc8037_public_jwk_round_trips_and_thumbprints() {
        let jwk = json!({"kty":"OKP","crv":"Ed25519","x": RFC8037_X});
        let key = PublicKey::from_jwk_value(&jwk).unwrap();
        assert_eq!(
            key.to_jwk_value(),
            json!({"crv":"Ed25519","kty":"OKP","x": RFC8037_X})
        );
        // RFC 8037 A.3
        assert_eq!(
            key.jwk_thumbprint(),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn multibase_round_trip_for_every_type() {
        for t in KeyType::ALL {
            let secret = crate::keys::SecretKey::generate(t);
            let public = secret.public_key();
            let mb = public.to_multibase();
            assert_eq!(PublicKey::from_multibase(&mb).unwrap(), public);
            assert_eq!(
                PublicKey::from_jwk_value(&public.to_jwk_value()).unwrap(),
                public
            );
        }
    }

    #[test]
    fn multikey_prefixes_are_the_published_ones() {
        let ed = crate::keys::SecretKey::generate(KeyType::Ed25519).public_key();
        assert!(ed.to_multibase().starts_with("z6Mk"));
        let p = crate::keys::SecretKey::generate(KeyType::P256).public_key();
        assert!(p.to_multibase().starts_with("zDn"));
        let x = crate::keys::SecretKey::generate(KeyType::X25519).public_key();
        assert!(x.to_multibase().starts_with("z6LS"));
    }

    #[test]
    fn bad_keys_are_refused_with_typed_errors() {
        assert!(PublicKey::from_multibase("6Mkabc").is_err());
        assert!(PublicKey::from_multibase("z0OIl").is_err());
        assert!(PublicKey::from_multibase("z").is_err());
        assert!(PublicKey::from_bytes(KeyType::P256, &[9u8; 33]).is_err());
        assert!(PublicKey::from_bytes(KeyType::Ed25519, &[1u8; 31]).is_err());
        assert!(PublicKey::from_jwk_value(&json!({"kty":"RSA"})).is_err());
        // A 1,024-bit modulus is refused (RFC 7518 §3.3: 2,048 bits or more).
        use rsa::pkcs1::EncodeRsaPublicKey;
        let small = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 1024).unwrap();
        let der = small.to_public_key().to_pkcs1_der().unwrap();
        assert_eq!(
            PublicKey::from_bytes(KeyType::Rsa, der.as_bytes()),
            Err(KeyError::InvalidKeyBytes(KeyType::Rsa))
        );
        assert!(PublicKey::from_jwk_value(&json!({"kty":"OKP","crv":"Ed25519","x":"!!"})).is_err());
    }
}
