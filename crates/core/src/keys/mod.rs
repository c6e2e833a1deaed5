//! Key material: Ed25519 and P-256 signing keys, X25519 key-agreement keys, and RSA-2048
//! keys for the one place a specification requires RSA (OpenID Connect's RS256 ID tokens;
//! never in a DID document).
//!
//! Public keys convert to and from Multikey (`publicKeyMultibase`, W3C Controlled
//! Identifiers §2.2.2, multicodec + base58btc) and JWK (RFC 7517, RFC 8037 for OKP keys).
//! Private keys are zeroized on drop, never shown by `Debug`, and stored only sealed
//! ([`sealed`]) under a key-encryption key.

pub mod jws;
mod public;
mod sealed;
mod secret;
mod service;
mod signer;
mod ssi_signer;

pub use public::{PublicKey, jwk_thumbprint};
pub use sealed::Kek;
pub use secret::SecretKey;
pub use service::{KeyInfo, KeyService, KeyServiceError};
pub use signer::{KeyAgreement, SignError, Signer};
pub use ssi_signer::SsiSigner;

use serde::{Deserialize, Serialize};

/// The algorithms Sichat keys use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum KeyType {
    /// EdDSA signing key (RFC 8032), multicodec `ed25519-pub` (0xed).
    Ed25519,
    /// ECDSA P-256 signing key (FIPS 186-4), multicodec `p256-pub` (0x1200).
    #[serde(rename = "P-256")]
    P256,
    /// ECDH key-agreement key (RFC 7748), multicodec `x25519-pub` (0xec).
    X25519,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (JWS `RS256`, RFC 7518 §3.3) signing key of 2,048
    /// bits, multicodec `rsa-pub` (0x1205, the PKCS#1 `RSAPublicKey` DER). Server-owned,
    /// for OpenID Connect ID tokens only: never in a DID document, never a `did:key`.
    #[serde(rename = "RSA")]
    Rsa,
}

impl KeyType {
    /// Every key type a DID identity has, in the order a new identity gets them.
    pub const ALL: [KeyType; 3] = [KeyType::Ed25519, KeyType::P256, KeyType::X25519];

    /// The name used in JSON, the database and the CLI (`Ed25519`, `P-256`, `X25519`, `RSA`).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Ed25519 => "Ed25519",
            KeyType::P256 => "P-256",
            KeyType::X25519 => "X25519",
            KeyType::Rsa => "RSA",
        }
    }

    /// `true` for the key types DID documents and `did:key` carry (all but RSA).
    pub fn in_did_documents(self) -> bool {
        !matches!(self, KeyType::Rsa)
    }

    /// The multicodec code of the public key.
    pub fn multicodec(self) -> u64 {
        match self {
            KeyType::Ed25519 => 0xed,
            KeyType::P256 => 0x1200,
            KeyType::X25519 => 0xec,
            KeyType::Rsa => 0x1205,
        }
    }

    /// `true` for signing keys, `false` for key-agreement keys.
    pub fn is_signing(self) -> bool {
        !matches!(self, KeyType::X25519)
    }

    fn from_multicodec(code: u64) -> Option<Self> {
        [Self::Ed25519, Self::P256, Self::X25519, Self::Rsa]
            .into_iter()
            .find(|t| t.multicodec() == code)
    }
}

impl std::fmt::Display for KeyType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for KeyType {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        match s {
            "Ed25519" | "ed25519" => Ok(KeyType::Ed25519),
            "P-256" | "p-256" | "P256" | "p256" => Ok(KeyType::P256),
            "X25519" | "x25519" => Ok(KeyType::X25519),
            "RSA" | "rsa" => Ok(KeyType::Rsa),
            other => Err(KeyError::UnsupportedKeyType(other.to_owned())),
        }
    }
}

/// Why key material was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("unsupported key type `{0}` (expected Ed25519, P-256, X25519 or RSA)")]
    UnsupportedKeyType(String),
    #[error("invalid multibase key: {0}")]
    InvalidMultibase(String),
    #[error("invalid JWK: {0}")]
    InvalidJwk(String),
    #[error("invalid {0} key bytes")]
    InvalidKeyBytes(KeyType),
    #[error("the key-encryption key must be 32 bytes, base64url or hex encoded")]
    InvalidKek,
    #[error("a sealed private key could not be opened (wrong master key or corrupted data)")]
    Unseal,
    #[error("{0} keys cannot sign")]
    CannotSign(KeyType),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multicodec_prefixes_match_the_table() {
        let key = |t| SecretKey::generate(t).public_key().to_multicodec();
        assert_eq!(key(KeyType::Ed25519)[..2], [0xed, 0x01]);
        assert_eq!(key(KeyType::P256)[..2], [0x80, 0x24]);
        assert_eq!(key(KeyType::X25519)[..2], [0xec, 0x01]);
    }

    #[test]
    fn key_type_names_round_trip() {
        for t in KeyType::ALL {
            assert_eq!(t.as_str().parse::<KeyType>(), Ok(t));
        }
        assert_eq!("RSA".parse::<KeyType>(), Ok(KeyType::Rsa));
        assert!("RSA-4096".parse::<KeyType>().is_err());
        assert!(KeyType::ALL.iter().all(|t| t.in_did_documents()));
        assert!(!KeyType::Rsa.in_did_documents());
    }
}
