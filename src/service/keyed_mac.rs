//! HMAC-SHA256 under a key derived from the master key, for values the server hands out
//! and must recognise later without storing them: CSRF tokens of the sign-in pages and
//! the sealed authorization requests that travel between those pages.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::Mac;
use zeroize::Zeroizing;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

pub struct KeyedMac {
    key: Zeroizing<[u8; 32]>,
}

impl KeyedMac {
    pub fn new(key: Zeroizing<[u8; 32]>) -> Self {
        Self { key }
    }

    fn mac(&self, data: &[u8]) -> HmacSha256 {
        // Invariant: HMAC takes keys of any length.
        let mut mac = HmacSha256::new_from_slice(&self.key[..]).expect("HMAC accepts any key");
        mac.update(data);
        mac
    }

    /// The tag of `data`, base64url.
    pub fn tag(&self, data: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(data).finalize().into_bytes())
    }

    /// Whether `tag` (base64url) is the tag of `data`, compared in constant time.
    pub fn verify(&self, data: &[u8], tag: &str) -> bool {
        match URL_SAFE_NO_PAD.decode(tag) {
            Ok(raw) => self.mac(data).verify_slice(&raw).is_ok(),
            Err(_) => false,
        }
    }

    /// `b64(data).tag`: a value that only this server could have made.
    pub fn seal(&self, data: &[u8]) -> String {
        let body = URL_SAFE_NO_PAD.encode(data);
        let tag = self.tag(body.as_bytes());
        format!("{body}.{tag}")
    }

    /// The data of a sealed value, if the tag is right.
    pub fn open(&self, sealed: &str) -> Option<Vec<u8>> {
        let (body, tag) = sealed.split_once('.')?;
        if !self.verify(body.as_bytes(), tag) {
            return None;
        }
        URL_SAFE_NO_PAD.decode(body).ok()
    }
}

/// A fresh random value for a cookie (32 bytes, base64url).
pub fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_untampered_and_under_the_same_key() {
        let mac = KeyedMac::new(Zeroizing::new([7; 32]));
        let sealed = mac.seal(br#"{"a":1}"#);
        assert_eq!(mac.open(&sealed).unwrap(), br#"{"a":1}"#);
        let mut tampered = sealed.clone();
        tampered.replace_range(0..1, if sealed.starts_with('e') { "f" } else { "e" });
        assert!(mac.open(&tampered).is_none());
        assert!(
            KeyedMac::new(Zeroizing::new([8; 32]))
                .open(&sealed)
                .is_none()
        );
        assert!(mac.open("no-dot").is_none());
        assert!(mac.verify(b"x", &mac.tag(b"x")));
        assert!(!mac.verify(b"y", &mac.tag(b"x")));
        assert!(!mac.verify(b"x", "not base64!"));
    }
}
