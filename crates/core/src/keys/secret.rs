//! Private keys. Zeroized on drop (the dalek and RustCrypto types do it themselves), never
//! printed by `Debug`, exported only as zeroizing buffers.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use rand::rngs::OsRng;
use serde_json::Value;
use zeroize::Zeroizing;

use super::{KeyError, KeyType, PublicKey};

/// A private key of one of the [`KeyType`]s.
pub enum SecretKey {
    Ed25519(ed25519_dalek::SigningKey),
    P256(p256::SecretKey),
    X25519(x25519_dalek::StaticSecret),
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
    /// Generates a fresh key from the operating system's CSPRNG.
    pub fn generate(key_type: KeyType) -> Self {
        match key_type {
            KeyType::Ed25519 => Self::Ed25519(ed25519_dalek::SigningKey::generate(&mut OsRng)),
            KeyType::P256 => Self::P256(p256::SecretKey::random(&mut OsRng)),
            KeyType::X25519 => Self::X25519(x25519_dalek::StaticSecret::random_from_rng(OsRng)),
        }
    }

    pub fn key_type(&self) -> KeyType {
        match self {
            Self::Ed25519(_) => KeyType::Ed25519,
            Self::P256(_) => KeyType::P256,
            Self::X25519(_) => KeyType::X25519,
        }
    }

    /// Rebuilds a key from its 32-byte private scalar/seed.
    pub fn from_bytes(key_type: KeyType, bytes: &[u8]) -> Result<Self, KeyError> {
        let invalid = || KeyError::InvalidKeyBytes(key_type);
        let arr: Zeroizing<[u8; 32]> = Zeroizing::new(bytes.try_into().map_err(|_| invalid())?);
        Ok(match key_type {
            KeyType::Ed25519 => Self::Ed25519(ed25519_dalek::SigningKey::from_bytes(&arr)),
            KeyType::P256 => {
                Self::P256(p256::SecretKey::from_slice(&arr[..]).map_err(|_| invalid())?)
            }
            KeyType::X25519 => Self::X25519(x25519_dalek::StaticSecret::from(*arr)),
        })
    }

    /// The 32-byte private scalar/seed, in a buffer that is wiped on drop.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(match self {
            Self::Ed25519(k) => k.to_bytes().to_vec(),
            Self::P256(k) => k.to_bytes().to_vec(),
            Self::X25519(k) => k.to_bytes().to_vec(),
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
        };
        // Invariant: a public key derived from a valid private key is valid.
        PublicKey::from_bytes(key_type, &bytes).expect("derived public key is valid")
    }

    /// Imports a private JWK (`d` member required): OKP Ed25519/X25519 or EC P-256. The `x`
    /// (and `y`) members, when present, must match the private key.
    pub fn from_jwk_value(jwk: &Value) -> Result<Self, KeyError> {
        let public = PublicKey::from_jwk_value(jwk)?;
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

    /// The private JWK (with `d`), for an explicit export to a file its owner alone reads.
    pub fn to_private_jwk_value(&self) -> Value {
        let mut jwk = self.public_key().to_jwk_value();
        jwk["d"] = Value::String(B64.encode(self.to_bytes().as_slice()));
        jwk
    }

    /// Signs `message`: Ed25519 (RFC 8032) or ECDSA P-256 with SHA-256, fixed-size `r||s`
    /// (the JWS `ES256` form).
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
