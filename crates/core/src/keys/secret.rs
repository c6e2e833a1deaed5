//! Private keys. Zeroized on drop (the dalek and RustCrypto types do it themselves), never
//! printed by `Debug`, exported only as zeroizing buffers.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use rand::rngs::OsRng;
use serde_json::Value;
use zeroize::Zeroizing;

use super::{KeyError, KeyType, PublicKey};

/// The size of the RSA keys Sichat generates (RFC 7518 §3.3: 2,048 bits or more).
pub const RSA_BITS: usize = 2048;

/// A private key of one of the [`KeyType`]s.
pub enum SecretKey {
    Ed25519(ed25519_dalek::SigningKey),
    P256(p256::SecretKey),
    X25519(x25519_dalek::StaticSecret),
    Rsa(Box<rsa::RsaPrivateKey>),
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SecretKey({}, public {}, private <redacted>)",
            self.key_type(),
            self.public_key().to_multibase()
        )
    }
}

impl SecretKey {
    /// Generates a fresh key from the operating system's CSPRNG. An RSA key takes a prime
    /// search of 0.1–1 s of CPU: call it off the async runtime's threads.
    pub fn generate(key_type: KeyType) -> Self {
        match key_type {
            KeyType::Ed25519 => Self::Ed25519(ed25519_dalek::SigningKey::generate(&mut OsRng)),
            KeyType::P256 => Self::P256(p256::SecretKey::random(&mut OsRng)),
            KeyType::X25519 => Self::X25519(x25519_dalek::StaticSecret::random_from_rng(OsRng)),
            // Invariant: generation with the standard exponent at a supported size
            // succeeds (it fails only for sizes the crate refuses).
            KeyType::Rsa => Self::Rsa(Box::new(
                rsa::RsaPrivateKey::new(&mut OsRng, RSA_BITS).expect("a 2,048-bit RSA key"),
            )),
        }
    }

    /// The X25519 key-agreement key an Ed25519 key stands for (RFC 7748 / the did:key
    /// derivation: the clamped scalar of the Ed25519 seed); `None` for other types. Its
    /// public key is the Montgomery form of the Ed25519 public key.
    pub fn to_x25519(&self) -> Option<Self> {
        match self {
            Self::Ed25519(k) => Some(Self::X25519(x25519_dalek::StaticSecret::from(
                k.to_scalar_bytes(),
            ))),
            _ => None,
        }
    }

    pub fn key_type(&self) -> KeyType {
        match self {
            Self::Ed25519(_) => KeyType::Ed25519,
            Self::P256(_) => KeyType::P256,
            Self::X25519(_) => KeyType::X25519,
            Self::Rsa(_) => KeyType::Rsa,
        }
    }

    /// Rebuilds a key from its private bytes: the 32-byte scalar/seed, or for RSA the
    /// PKCS#1 `RSAPrivateKey` DER (checked: consistent, 2,048 to 4,096 bits).
    pub fn from_bytes(key_type: KeyType, bytes: &[u8]) -> Result<Self, KeyError> {
        let invalid = || KeyError::InvalidKeyBytes(key_type);
        if key_type == KeyType::Rsa {
            use rsa::pkcs1::DecodeRsaPrivateKey;
            // Stored keys come out of an authenticated seal: their size is checked, not
            // their arithmetic (`validate` costs more than the signature).
            let key = rsa::RsaPrivateKey::from_pkcs1_der(bytes).map_err(|_| invalid())?;
            return Self::rsa_sized(key);
        }
        let arr: Zeroizing<[u8; 32]> = Zeroizing::new(bytes.try_into().map_err(|_| invalid())?);
        Ok(match key_type {
            KeyType::Ed25519 => Self::Ed25519(ed25519_dalek::SigningKey::from_bytes(&arr)),
            KeyType::P256 => {
                Self::P256(p256::SecretKey::from_slice(&arr[..]).map_err(|_| invalid())?)
            }
            KeyType::X25519 => Self::X25519(x25519_dalek::StaticSecret::from(*arr)),
            KeyType::Rsa => unreachable!("handled above"),
        })
    }

    /// An RSA key within the sizes Sichat accepts.
    fn rsa_sized(key: rsa::RsaPrivateKey) -> Result<Self, KeyError> {
        use rsa::traits::PublicKeyParts;
        let bits = key.size() * 8;
        if !(super::public::RSA_MIN_BITS..=super::public::RSA_MAX_BITS).contains(&bits) {
            return Err(KeyError::InvalidKeyBytes(KeyType::Rsa));
        }
        Ok(Self::Rsa(Box::new(key)))
    }

    /// The private bytes (the 32-byte scalar/seed; RSA: PKCS#1 DER), in a buffer that is
    /// wiped on drop.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(match self {
            Self::Ed25519(k) => k.to_bytes().to_vec(),
            Self::P256(k) => k.to_bytes().to_vec(),
            Self::X25519(k) => k.to_bytes().to_vec(),
            Self::Rsa(k) => {
                use rsa::pkcs1::EncodeRsaPrivateKey;
                // Invariant: a valid key always encodes; the document zeroizes itself.
                let der = k.to_pkcs1_der().expect("an RSA key encodes as PKCS#1");
                der.as_bytes().to_vec()
            }
        })
    }

    pub fn public_key(&self) -> PublicKey {
        let (key_type, bytes) = match self {
            Self::Ed25519(k) => (KeyType::Ed25519, k.verifying_key().to_bytes().to_vec()),
            Self::P256(k) => {
                use p256::elliptic_curve::sec1::ToEncodedPoint;
                (
                    KeyType::P256,
                    k.public_key().to_encoded_point(true).as_bytes().to_vec(),
                )
            }
            Self::X25519(k) => (
                KeyType::X25519,
                x25519_dalek::PublicKey::from(k).to_bytes().to_vec(),
            ),
            Self::Rsa(k) => return super::public::rsa_public_key(k.to_public_key()),
        };
        // Invariant: a public key derived from a valid private key is valid.
        PublicKey::from_bytes(key_type, &bytes).expect("derived public key is valid")
    }

    /// Imports a private JWK (`d` member required): OKP Ed25519/X25519, EC P-256, or RSA
    /// (with `p` and `q`). The public members must match the private key.
    pub fn from_jwk_value(jwk: &Value) -> Result<Self, KeyError> {
        let public = PublicKey::from_jwk_value(jwk)?;
        if public.key_type() == KeyType::Rsa {
            return Self::rsa_from_jwk(jwk);
        }
        let d = jwk
            .get("d")
            .and_then(Value::as_str)
            .ok_or_else(|| KeyError::InvalidJwk("missing private member `d`".into()))?;
        let d = Zeroizing::new(
            B64.decode(d)
                .map_err(|_| KeyError::InvalidJwk("`d` is not base64url".into()))?,
        );
        let secret = Self::from_bytes(public.key_type(), &d)?;
        if secret.public_key() != public {
            return Err(KeyError::InvalidJwk(
                "`d` does not match the public key".into(),
            ));
        }
        Ok(secret)
    }

    /// An RSA private JWK (RFC 7518 §6.3.2): `n`, `e`, `d`, `p` and `q` (the CRT members
    /// are recomputed, not trusted).
    fn rsa_from_jwk(jwk: &Value) -> Result<Self, KeyError> {
        let number = |name: &str| -> Result<rsa::BigUint, KeyError> {
            let s = jwk
                .get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| KeyError::InvalidJwk(format!("missing RSA member `{name}`")))?;
            let bytes = Zeroizing::new(
                B64.decode(s)
                    .map_err(|_| KeyError::InvalidJwk(format!("`{name}` is not base64url")))?,
            );
            Ok(rsa::BigUint::from_bytes_be(&bytes))
        };
        let key = rsa::RsaPrivateKey::from_components(
            number("n")?,
            number("e")?,
            number("d")?,
            vec![number("p")?, number("q")?],
        )
        .map_err(|e| KeyError::InvalidJwk(format!("RSA key: {e}")))?;
        key.validate()
            .map_err(|e| KeyError::InvalidJwk(format!("RSA key: {e}")))?;
        Self::rsa_sized(key)
    }

    /// The private JWK (with `d`; RSA: `d`, `p`, `q`, `dp`, `dq`, `qi`), for an explicit
    /// export to a file its owner alone reads.
    pub fn to_private_jwk_value(&self) -> Value {
        let mut jwk = self.public_key().to_jwk_value();
        if let Self::Rsa(k) = self {
            use rsa::traits::PrivateKeyParts;
            let b64 = |n: &rsa::BigUint| Value::String(B64.encode(n.to_bytes_be()));
            jwk["d"] = b64(k.d());
            if let [p, q] = k.primes() {
                jwk["p"] = b64(p);
                jwk["q"] = b64(q);
            }
            if let (Some(dp), Some(dq), Some(qi)) = (k.dp(), k.dq(), k.crt_coefficient()) {
                jwk["dp"] = b64(dp);
                jwk["dq"] = b64(dq);
                jwk["qi"] = b64(&qi);
            }
            return jwk;
        }
        jwk["d"] = Value::String(B64.encode(self.to_bytes().as_slice()));
        jwk
    }

    /// Signs `message`: Ed25519 (RFC 8032), ECDSA P-256 with SHA-256, fixed-size `r||s`
    /// (the JWS `ES256` form), or RSASSA-PKCS1-v1_5 with SHA-256 (`RS256`; blinded, and
    /// deterministic like every PKCS#1 v1.5 signature). An RSA signature costs ~1–2 ms.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        match self {
            Self::Ed25519(k) => {
                use ed25519_dalek::Signer;
                Ok(k.sign(message).to_bytes().to_vec())
            }
            Self::P256(k) => {
                use p256::ecdsa::signature::Signer;
                let sig: p256::ecdsa::Signature = p256::ecdsa::SigningKey::from(k).sign(message);
                Ok(sig.to_bytes().to_vec())
            }
            Self::X25519(_) => Err(KeyError::CannotSign(KeyType::X25519)),
            Self::Rsa(k) => {
                use sha2::Digest;
                let digest = sha2::Sha256::digest(message);
                k.sign_with_rng(
                    &mut OsRng,
                    rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
                    &digest,
                )
                .map_err(|_| KeyError::CannotSign(KeyType::Rsa))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_x25519_of_an_ed25519_key_matches_the_did_key_derivation() {
        let ed = SecretKey::generate(KeyType::Ed25519);
        let x = ed.to_x25519().unwrap();
        let (_, expected) = PublicKey::ed25519_with_x25519(ed.public_key().as_bytes()).unwrap();
        assert_eq!(x.public_key(), expected);
        assert!(x.to_x25519().is_none());
    }
    use serde_json::json;

    #[test]
    fn rfc8037_private_key_imports_and_signs_the_appendix_example() {
        // RFC 8037 A.1 / A.4: JWS over "Example of Ed25519 signing".
        let jwk = json!({"kty":"OKP","crv":"Ed25519",
            "d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
            "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
        let key = SecretKey::from_jwk_value(&jwk).unwrap();
        let signing_input = b"eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
        let sig = key.sign(signing_input).unwrap();
        assert_eq!(
            B64.encode(sig),
            "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
        );
    }

    #[test]
    fn debug_never_prints_private_material() {
        for t in KeyType::ALL {
            let key = SecretKey::generate(t);
            let shown = format!("{key:?}");
            assert!(shown.contains("<redacted>"));
            assert!(!shown.contains(&B64.encode(key.to_bytes().as_slice())));
        }
    }

    #[test]
    fn mismatched_private_jwk_is_refused() {
        let a = SecretKey::generate(KeyType::Ed25519);
        let b = SecretKey::generate(KeyType::Ed25519);
        let mut jwk = a.public_key().to_jwk_value();
        jwk["d"] = json!(B64.encode(b.to_bytes().as_slice()));
        assert!(SecretKey::from_jwk_value(&jwk).is_err());
        assert_eq!(
            SecretKey::generate(KeyType::X25519).sign(b"x"),
            Err(KeyError::CannotSign(KeyType::X25519))
        );
    }

    #[test]
    fn private_bytes_round_trip() {
        for t in KeyType::ALL {
            let key = SecretKey::generate(t);
            let again = SecretKey::from_bytes(t, &key.to_bytes()).unwrap();
            assert_eq!(again.public_key(), key.public_key());
        }
    }
}
