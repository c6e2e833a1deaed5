//! What the sign-in pages need besides the flow itself: CSRF tokens and cookie names.
//!
//! CSRF: every page that shows a form makes sure the browser has a random `csrf` cookie
//! and puts `HMAC(k, cookie)` in the form; a POST is accepted only when the two agree
//! (a signed double-submit: another site can neither read the cookie nor compute the
//! tag). The key is derived from the master key, so every instance agrees.

use super::keyed_mac::{KeyedMac, random_token};

/// The derivation label of the CSRF key.
pub const CSRF_KEY_LABEL: &str = "sichat/pages/csrf/v1";

pub struct Pages {
    csrf: KeyedMac,
    /// The public URL is https: cookies are `Secure` and `__Host-` prefixed.
    secure: bool,
}

impl Pages {
    pub fn new(csrf: KeyedMac, secure: bool) -> Self {
        Self { csrf, secure }
    }

    pub fn secure(&self) -> bool {
        self.secure
    }

    /// The session cookie's name (`__Host-` when `Secure`: no subdomain can set it).
    pub fn session_cookie(&self) -> &'static str {
        if self.secure {
            "__Host-sichat_session"
        } else {
            "sichat_session"
        }
    }

    pub fn csrf_cookie(&self) -> &'static str {
        if self.secure {
            "__Host-sichat_csrf"
        } else {
            "sichat_csrf"
        }
    }

    /// A new value for the CSRF cookie.
    pub fn new_csrf_cookie(&self) -> String {
        random_token()
    }

    /// The token forms carry for this CSRF cookie.
    pub fn csrf_token(&self, cookie: &str) -> String {
        self.csrf.tag(cookie.as_bytes())
    }

    /// Whether a form's token matches the browser's CSRF cookie.
    pub fn csrf_ok(&self, cookie: Option<&str>, token: Option<&str>) -> bool {
        match (cookie, token) {
            (Some(c), Some(t)) if !c.is_empty() && c.len() <= 128 => {
                self.csrf.verify(c.as_bytes(), t)
            }
            _ => false,
        }
    }
}
