//! OAuth 2.0 rules that need no server: which redirect URIs a client may register (RFC 6749
//! §3.1.2, RFC 8252 §7, RFC 9700 §2.1, §4.1.3), how a requested redirect URI is matched
//! (exactly, as a string; a loopback IP literal may differ in its port only, RFC 8252
//! §7.3), and the syntax of client ids and scope tokens (RFC 6749 §3.3, App. A).

/// The most redirect URIs one client registers.
pub const MAX_REDIRECT_URIS: usize = 16;
/// The longest redirect URI accepted.
pub const MAX_URI_LEN: usize = 2000;
/// The longest client id.
pub const MAX_CLIENT_ID_LEN: usize = 128;

/// Why a redirect URI, client id or scope was refused; the text says which rule.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct Invalid(pub String);

fn invalid(reason: impl Into<String>) -> Invalid {
    Invalid(reason.into())
}

/// The loopback hosts whose redirect URIs may vary the port (RFC 8252 §7.3); `localhost`
/// is not one of them (it can be resolved elsewhere, RFC 8252 §8.3) and matches exactly.
const LOOPBACK_LITERALS: [&str; 2] = ["127.0.0.1", "[::1]"];

/// Checks a redirect URI a client registers. `native`: a public client (an app on the
/// user's device), which may also use a private-use scheme in reverse-domain form
/// (`com.example.app:/callback`, RFC 8252 §7.1). Web URIs are `https`, or `http` on a
/// loopback host; none has a fragment or user information.
pub fn check_redirect_uri(uri: &str, native: bool) -> Result<(), Invalid> {
    if uri.is_empty() || uri.len() > MAX_URI_LEN {
        return Err(invalid(format!(
            "a redirect URI has 1 to {MAX_URI_LEN} characters"
        )));
    }
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(
            "a redirect URI has no spaces or control characters",
        ));
    }
    if uri.contains('#') {
        return Err(invalid("a redirect URI has no fragment (RFC 6749 §3.1.2)"));
    }
    let parsed = url::Url::parse(uri)
        .map_err(|e| invalid(format!("a redirect URI is an absolute URI: {e}")))?;
    match parsed.scheme() {
        "https" | "http" => {
            let host = parsed
                .host_str()
                .ok_or_else(|| invalid("an http(s) redirect URI names a host"))?;
            if !parsed.username().is_empty() || parsed.password().is_some() {
                return Err(invalid("a redirect URI has no user information"));
            }
            if parsed.scheme() == "http"
                && !LOOPBACK_LITERALS.contains(&host)
                && host != "localhost"
            {
                return Err(invalid(
                    "an http redirect URI is allowed on a loopback host only (127.0.0.1, [::1], localhost); use https",
                ));
            }
            Ok(())
        }
        scheme if native && scheme.contains('.') => Ok(()),
        scheme => Err(invalid(format!(
            "redirect URI scheme `{scheme}`: https (http on loopback), or for a public native client a reverse-domain private-use scheme (RFC 8252 §7.1)"
        ))),
    }
}

/// `true` when `requested` is `registered`, character for character, or both are `http`
/// URIs on the same loopback IP literal that differ in the port alone (RFC 8252 §7.3).
pub fn redirect_uri_matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    LOOPBACK_LITERALS.iter().any(|host| {
        let prefix = format!("http://{host}");
        match (
            without_port(registered, &prefix),
            without_port(requested, &prefix),
        ) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        }
    })
}

/// The rest of `uri` after `prefix` and an optional `:port` (1 to 5 digits, at most
/// 65535), when the rest starts the path (`/`) or is empty.
fn without_port<'a>(uri: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = uri.strip_prefix(prefix)?;
    let rest = match rest.strip_prefix(':') {
        Some(port_and_rest) => {
            let digits = port_and_rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(port_and_rest.len());
            let port = &port_and_rest[..digits];
            if port.is_empty() || port.len() > 5 || port.parse::<u32>().ok()? > 65535 {
                return None;
            }
            &port_and_rest[digits..]
        }
        None => rest,
    };
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

/// A client id: 1 to 128 characters, unreserved URI characters only (RFC 3986 §2.3), so
/// that it needs no escaping in a URL or a form.
pub fn check_client_id(id: &str) -> Result<(), Invalid> {
    let ok = !id.is_empty()
        && id.len() <= MAX_CLIENT_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "a client id has 1 to {MAX_CLIENT_ID_LEN} characters among A-Z a-z 0-9 - . _ ~"
        )))
    }
}

/// A scope token (RFC 6749 §3.3: printable ASCII but space, `"` and `\`), at most 64
/// characters.
pub fn check_scope_token(scope: &str) -> Result<(), Invalid> {
    let ok = !scope.is_empty()
        && scope.len() <= 64
        && scope
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\\');
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "scope `{scope}`: 1 to 64 printable ASCII characters, no space, quote or backslash (RFC 6749 §3.3)"
        )))
    }
}

/// Checks a PKCE `code_verifier` (RFC 7636 §4.1): 43 to 128 unreserved characters.
pub fn check_code_verifier(verifier: &str) -> Result<(), Invalid> {
    let ok = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "code_verifier: 43 to 128 characters among A-Z a-z 0-9 - . _ ~ (RFC 7636 §4.1)",
        ))
    }
}

/// Checks an `S256` `code_challenge` (RFC 7636 §4.2): the base64url SHA-256 of a verifier,
/// 43 characters.
pub fn check_code_challenge(challenge: &str) -> Result<(), Invalid> {
    use base64::Engine;
    let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(challenge);
    if challenge.len() == 43 && decoded.is_ok_and(|d| d.len() == 32) {
        Ok(())
    } else {
        Err(invalid(
            "code_challenge: the 43-character base64url SHA-256 of the verifier (S256)",
        ))
    }
}

/// The `S256` challenge of `verifier`: BASE64URL(SHA256(ASCII(verifier))).
pub fn s256_challenge(verifier: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()))
}

/// `true` when `verifier` is well formed and its `S256` challenge is `challenge`
/// (compared in constant time).
pub fn pkce_s256_matches(challenge: &str, verifier: &str) -> bool {
    use subtle::ConstantTimeEq;
    check_code_verifier(verifier).is_ok()
        && bool::from(
            s256_challenge(verifier)
                .as_bytes()
                .ct_eq(challenge.as_bytes()),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7636 Appendix B.
    #[test]
    fn pkce_s256_reproduces_rfc7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert_eq!(s256_challenge(verifier), challenge);
        assert_eq!(check_code_challenge(challenge), Ok(()));
        assert!(pkce_s256_matches(challenge, verifier));
        assert!(!pkce_s256_matches(
            challenge,
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl"
        ));
        // The plain method's "challenge" (the verifier itself) is not an S256 challenge
        // of it, and a short or badly charactered verifier never matches.
        assert!(!pkce_s256_matches(verifier, verifier));
        assert!(!pkce_s256_matches(&s256_challenge("short"), "short"));
        assert!(!pkce_s256_matches(
            &s256_challenge(&"a+".repeat(30)),
            &"a+".repeat(30)
        ));
        for bad in [
            "",
            "abc",
            &"A".repeat(44),
            &"A".repeat(42),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c=",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM",
        ] {
            assert!(check_code_challenge(bad).is_err(), "{bad}");
        }
        assert!(check_code_verifier(&"a".repeat(128)).is_ok());
        assert!(check_code_verifier(&"a".repeat(129)).is_err());
        assert!(check_code_verifier(&"a".repeat(42)).is_err());
    }

    #[test]
    fn registrable_redirect_uris() {
        for (uri, native) in [
            ("https://app.example/cb", false),
            ("https://app.example:8443/cb?x=1", false),
            ("http://127.0.0.1/cb", false),
            ("http://127.0.0.1:8080/cb", true),
            ("http://[::1]/cb", true),
            ("http://localhost:3000/cb", false),
            ("com.example.app:/oauth2redirect", true),
        ] {
            assert_eq!(check_redirect_uri(uri, native), Ok(()), "{uri}");
        }
        for (uri, native) in [
            ("", false),
            ("/cb", false),
            ("https://app.example/cb#frag", false),
            ("https://app.example/cb#", false),
            ("http://app.example/cb", false),
            ("http://127.0.0.2/cb", false),
            ("https://user@app.example/cb", false),
            ("https://user:pw@app.example/cb", false),
            ("https://app.example/c b", false),
            ("https://app.example/cb\n", false),
            ("com.example.app:/cb", false),
            ("myapp:/cb", true),
            ("javascript:alert(1)", true),
            ("data:text/html,x", true),
            ("file:///etc/passwd", true),
        ] {
            assert!(check_redirect_uri(uri, native).is_err(), "{uri}");
        }
        assert!(
            check_redirect_uri(
                &format!("https://a.example/{}", "x".repeat(MAX_URI_LEN)),
                false
            )
            .is_err()
        );
    }

    #[test]
    fn matching_is_exact_but_for_the_loopback_port() {
        let web = "https://app.example/cb";
        assert!(redirect_uri_matches(web, web));
        // RFC 9700 §4.1.3: no normalisation, no prefix or pattern matching.
        for mutant in [
            "https://app.example/cb/",
            "https://app.example/CB",
            "https://APP.example/cb",
            "HTTPS://app.example/cb",
            "https://app.example:443/cb",
            "https://app.example:8443/cb",
            "https://app.example/cb?x=1",
            "https://app.example/cb#x",
            "https://app.example/cb%2F",
            "https://app.example/cb/../cb",
            "https://app.example//cb",
            "https://app.example/./cb",
            "https://user@app.example/cb",
            "https://evil.app.example/cb",
            "https://app.example.evil.test/cb",
            "https://app.example./cb",
            "https://аpp.example/cb",
            "http://app.example/cb",
            "https://app.example/cb ",
            " https://app.example/cb",
            "https://app.example/c",
            "https://app.example/cbx",
            "",
        ] {
            assert!(!redirect_uri_matches(web, mutant), "{mutant}");
        }
        let loopback = "http://127.0.0.1/callback";
        for same in [
            "http://127.0.0.1/callback",
            "http://127.0.0.1:1/callback",
            "http://127.0.0.1:51234/callback",
            "http://127.0.0.1:65535/callback",
        ] {
            assert!(redirect_uri_matches(loopback, same), "{same}");
        }
        assert!(redirect_uri_matches(
            "http://[::1]:80/cb",
            "http://[::1]:4000/cb"
        ));
        for other in [
            "http://127.0.0.1:65536/callback",
            "http://127.0.0.1:/callback",
            "http://127.0.0.1:123456/callback",
            "http://127.0.0.1:80/callback/",
            "http://127.0.0.1:80/callbackx",
            "http://127.0.0.1:80@evil.test/callback",
            "http://127.0.0.1.evil.test/callback",
            "http://127.0.0.2:80/callback",
            "http://[::1]:80/callback",
            "https://127.0.0.1:80/callback",
            "http://localhost:80/callback",
            "http://127.0.0.1:80/callback?x",
        ] {
            assert!(!redirect_uri_matches(loopback, other), "{other}");
        }
        // localhost matches exactly: its port does not vary.
        assert!(!redirect_uri_matches(
            "http://localhost:3000/cb",
            "http://localhost:3001/cb"
        ));
    }

    #[test]
    fn client_ids_and_scopes() {
        for id in ["app", "my-app.v2_~", &"a".repeat(128)] {
            assert_eq!(check_client_id(id), Ok(()));
        }
        for id in ["", "a b", "a/b", "a:b", "é", &"a".repeat(129)] {
            assert!(check_client_id(id).is_err(), "{id}");
        }
        for scope in ["openid", "issue:credentials", "vc:email", "a!#$%&'()*+,-./"] {
            assert_eq!(check_scope_token(scope), Ok(()));
        }
        for scope in ["", "a b", "a\"b", "a\\b", "é", &"s".repeat(65)] {
            assert!(check_scope_token(scope).is_err(), "{scope}");
        }
    }
}
