//! Private keys at rest: XChaCha20-Poly1305 under a key-encryption key (KEK).
//!
//! Sealed form: `0x01 || nonce (24) || ciphertext+tag`. The key's id is the associated
//! data, so a sealed blob cannot be swapped onto another key row.

use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::rngs::OsRng;
use zeroize::Zeroizing;

use super::KeyError;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;

/// The key-encryption key. Zeroized on drop; `Debug` does not show it.
#[derive(Clone)]
pub struct Kek(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kek(<redacted>)")
    }
}

impl Kek {
    /// A fresh random KEK.
    pub fn generate() -> Self {
        let mut k = Zeroizing::new([0u8; 32]);
        rand::RngCore::fill_bytes(&mut OsRng, &mut k[..]);
        Self(k)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let arr: [u8; 32] = bytes.try_into().map_err(|_| KeyError::InvalidKek)?;
        Ok(Self(Zeroizing::new(arr)))
    }

    /// Parses the textual form: 32 bytes as base64url (padded or not) or as 64 hex digits.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        let bytes = Zeroizing::new(
            if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
                (0..32)
                    .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
                    .collect::<Result<Vec<u8>, _>>()
                    .map_err(|_| KeyError::InvalidKek)?
            } else {
                URL_SAFE_NO_PAD
                    .decode(text)
                    .or_else(|_| URL_SAFE.decode(text))
                    .map_err(|_| KeyError::InvalidKek)?
            },
        );
        Self::from_bytes(&bytes)
    }

    /// A key for another purpose, derived from this one: HMAC-SHA256(KEK, `label`).
    /// Every process holding the master key derives the same one; none reveals the KEK.
    pub fn derive_subkey(&self, label: &str) -> Zeroizing<[u8; 32]> {
        use hmac::Mac;
        // Invariant: HMAC takes keys of any length.
        let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.0[..])
            .expect("HMAC accepts any key length");
        mac.update(label.as_bytes());
        Zeroizing::new(mac.finalize().into_bytes().into())
    }

    /// The textual form (unpadded base64url), for writing the key file.
    pub fn to_text(&self) -> Zeroizing<String> {
        Zeroizing::new(URL_SAFE_NO_PAD.encode(&self.0[..]))
    }

    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let cipher = XChaCha20Poly1305::new((&*self.0).into());
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        // Invariant: XChaCha20-Poly1305 encryption only fails for plaintexts over 256 GiB.
        let ct = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .expect("plaintext within AEAD limits");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        if sealed.len() < 1 + NONCE_LEN + 16 || sealed[0] != VERSION {
            return Err(KeyError::Unseal);
        }
        let cipher = XChaCha20Poly1305::new((&*self.0).into());
        let nonce = XNonce::from_slice(&sealed[1..1 + NONCE_LEN]);
        cipher
            .decrypt(
                nonce,
                Payload {
                    msg: &sealed[1 + NONCE_LEN..],
                    aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| KeyError::Unseal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_keys_open_only_with_the_same_kek_and_id() {
        let kek = Kek::generate();
        let sealed = kek.seal(b"secret", b"key-1");
        assert_eq!(kek.open(&sealed, b"key-1").unwrap().as_slice(), b"secret");
        assert_eq!(kek.open(&sealed, b"key-2"), Err(KeyError::Unseal));
        assert_eq!(
            Kek::generate().open(&sealed, b"key-1"),
            Err(KeyError::Unseal)
        );
        assert_eq!(kek.open(&sealed[..10], b"key-1"), Err(KeyError::Unseal));
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
    }

    #[test]
    fn kek_text_forms_parse() {
        let kek = Kek::generate();
        let again = Kek::parse(&kek.to_text()).unwrap();
        let sealed = kek.seal(b"x", b"");
        assert!(again.open(&sealed, b"").is_ok());
        assert!(Kek::parse(&"ab".repeat(32)).is_ok());
        assert_eq!(Kek::parse("short").unwrap_err(), KeyError::InvalidKek);
        assert_eq!(format!("{kek:?}"), "Kek(<redacted>)");
    }
}

#[cfg(test)]
mod subkey_tests {
    use super::*;

    #[test]
    fn subkeys_are_stable_per_label_and_differ_between_labels() {
        let kek = Kek::from_bytes(&[7u8; 32]).unwrap();
        let again = Kek::from_bytes(&[7u8; 32]).unwrap();
        assert_eq!(*kek.derive_subkey("a"), *again.derive_subkey("a"));
        assert_ne!(*kek.derive_subkey("a"), *kek.derive_subkey("b"));
        assert_ne!(
            *kek.derive_subkey("a"),
            *Kek::from_bytes(&[8u8; 32]).unwrap().derive_subkey("a")
        );
        assert_ne!(&kek.derive_subkey("a")[..], &[7u8; 32][..]);
    }
}
