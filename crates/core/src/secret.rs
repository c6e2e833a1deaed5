//! [`Secret`]: a value that is wiped on drop, never shown by `Debug`, and compared in
//! constant time. Tokens, passwords and other credentials travel in it.

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

/// A secret value. No `PartialEq` (use [`Secret::ct_eq`]), no revealing `Debug`.
pub struct Secret<T: Zeroize>(Zeroizing<T>);

impl<T: Zeroize> Secret<T> {
    pub fn new(value: T) -> Self {
        Self(Zeroizing::new(value))
    }

    /// The value, for the one place that must use it (hashing, sending).
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T: Zeroize + Clone> Clone for Secret<T> {
    fn clone(&self) -> Self {
        Self::new(self.expose().clone())
    }
}

impl<T: Zeroize> std::fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Secret<String> {
    /// Constant-time comparison with a presented value.
    pub fn ct_eq(&self, presented: &str) -> bool {
        bool::from(self.expose().as_bytes().ct_eq(presented.as_bytes()))
    }
}

impl From<String> for Secret<String> {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_in_constant_time_and_never_print() {
        let s = Secret::new("hunter2hunter2".to_owned());
        assert!(s.ct_eq("hunter2hunter2"));
        assert!(!s.ct_eq("hunter2hunter3"));
        assert!(!s.ct_eq(""));
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
    }
}
