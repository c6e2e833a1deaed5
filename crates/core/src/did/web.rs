//! `did:web` (did:web Method Specification §3.2): DID to URL, and reading the fetched
//! document. The network fetch is behind [`DidWebFetcher`]; the guarded HTTPS
//! implementation is [`super::web_fetch`] (feature `http`).

use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

use super::document::DidDocument;
use super::resolver::ResolveError;
use crate::id::Did;

/// The largest DID document accepted from the network.
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

/// Fetches a `did:web` document. Implementations must refuse private addresses, redirects,
/// bodies over [`MAX_DOCUMENT_BYTES`] and slow hosts.
#[async_trait::async_trait]
pub trait DidWebFetcher: Send + Sync {
    async fn fetch(&self, url: &url::Url) -> Result<Vec<u8>, ResolveError>;
    /// Whether loopback hosts may be fetched (over plain HTTP): tests only.
    fn allows_loopback(&self) -> bool {
        false
    }
}

/// Percent-decodes a DID component; non-UTF-8 is `invalidDid`. (Malformed escapes cannot
/// reach here inside a parsed [`Did`]: DID syntax allows only `%` + two hex digits.)
pub fn percent_decode(s: &str) -> Result<String, ResolveError> {
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| ResolveError::InvalidDid("percent-encoding is not UTF-8".into()))
}

/// The host of a `did:web` DID's authority is a loopback name or address.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// §3.2.1: `did:web:example.com%3A8443:user:alice` → `https://example.com:8443/user/alice/did.json`.
/// Plain `http` is used only for loopback hosts and only when `allow_loopback_http` is set.
pub fn did_web_url(did: &Did, allow_loopback_http: bool) -> Result<url::Url, ResolveError> {
    if did.method() != "web" {
        return Err(ResolveError::InvalidDid(format!(
            "`{did}` is not a did:web"
        )));
    }
    let mut parts = did.method_specific_id().split(':');
    let authority = percent_decode(parts.next().unwrap_or_default())?;
    if authority.is_empty()
        || authority.contains(['/', '@', '?', '#', '\\'])
        || authority
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(ResolveError::InvalidDid(format!(
            "bad did:web host `{authority}`"
        )));
    }
    let mut path = Vec::new();
    for segment in parts {
        let segment = percent_decode(segment)?;
        if segment.is_empty()
            || segment == "."
            || segment == ".."
            || segment.contains(['/', '?', '#', '\\'])
        {
            return Err(ResolveError::InvalidDid(format!(
                "bad did:web path segment `{segment}`"
            )));
        }
        path.push(segment);
    }
    let host = authority
        .rsplit_once(':')
        .map_or(authority.as_str(), |(h, p)| {
            if p.bytes().all(|b| b.is_ascii_digit()) && !h.ends_with(':') {
                h
            } else {
                authority.as_str()
            }
        });
    let scheme = if allow_loopback_http && is_loopback_host(host) {
        "http"
    } else {
        "https"
    };
    if path.is_empty() {
        path.push(".well-known".to_owned());
    }
    let mut url = url::Url::parse(&format!("{scheme}://{authority}/"))
        .map_err(|e| ResolveError::InvalidDid(format!("did:web does not map to a URL: {e}")))?;
    if url.host_str().is_none() || url.query().is_some() || url.username() != "" {
        return Err(ResolveError::InvalidDid(
            "did:web does not map to a plain https URL".into(),
        ));
    }
    // Segments are percent-encoded again as path segments: a decoded `%2e%2e` stays a
    // literal segment, never `..`, so each DID maps to exactly one URL.
    url.path_segments_mut()
        .map_err(|_| ResolveError::InvalidDid("did:web host cannot have a path".into()))?
        .clear()
        .extend(path.iter().map(String::as_str).chain(["did.json"]));
    Ok(url)
}

/// Reads a fetched `did:web` document: JSON, at most 64 KiB, `id` equal to the DID (§3.2.2).
pub fn parse_document(did: &Did, bytes: &[u8]) -> Result<DidDocument, ResolveError> {
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(ResolveError::InvalidDocument("larger than 64 KiB".into()));
    }
    let value = serde_json::from_slice(bytes)
        .map_err(|e| ResolveError::InvalidDocument(format!("not JSON: {e}")))?;
    DidDocument::from_json(did, value)
}

/// What a host name or path segment must escape inside a did:web (DID Core §3.1 idchar
/// plus `%`: the port's `:` and an IPv6 literal's brackets and colons).
const DID_WEB_ESCAPES: &AsciiSet = &CONTROLS.add(b':').add(b'[').add(b']').add(b'%').add(b' ');

/// The `did:web` for a public base URL and path segments (inverse of [`did_web_url`]).
/// Segments must be DID idchars (user names are).
pub fn did_web_for(base: &url::Url, segments: &[&str]) -> Result<Did, ResolveError> {
    let mut did = String::from("did:web:");
    let host = base.host_str().unwrap_or("localhost");
    did.extend(utf8_percent_encode(host, DID_WEB_ESCAPES));
    if let Some(port) = base.port() {
        did.push_str(&format!("%3A{port}"));
    }
    for s in base
        .path_segments()
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .chain(segments.iter().copied())
    {
        did.push(':');
        did.extend(utf8_percent_encode(s, DID_WEB_ESCAPES));
    }
    Ok(Did::parse(&did)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Did {
        Did::parse(s).unwrap()
    }

    #[test]
    fn spec_examples_map_to_urls() {
        // did:web spec §3.2.1 examples.
        let cases = [
            (
                "did:web:w3c-ccg.github.io",
                "https://w3c-ccg.github.io/.well-known/did.json",
            ),
            (
                "did:web:w3c-ccg.github.io:user:alice",
                "https://w3c-ccg.github.io/user/alice/did.json",
            ),
            (
                "did:web:example.com%3A3000:user:alice",
                "https://example.com:3000/user/alice/did.json",
            ),
        ];
        for (did, url) in cases {
            assert_eq!(did_web_url(&d(did), false).unwrap().as_str(), url);
        }
        assert_eq!(
            did_web_url(&d("did:web:127.0.0.1%3A8080"), false)
                .unwrap()
                .scheme(),
            "https"
        );
        assert_eq!(
            did_web_url(&d("did:web:127.0.0.1%3A8080"), true)
                .unwrap()
                .as_str(),
            "http://127.0.0.1:8080/.well-known/did.json"
        );
    }

    #[test]
    fn hostile_did_webs_are_invalid() {
        for bad in [
            "did:web:",
            "did:web:a.com:..:x",
            "did:web:a.com%2Fx",
            "did:web:a.com%40b.com",
            "did:web:a.com::x",
            "did:web:%zz",
            "did:key:z6Mk",
        ] {
            let url = Did::parse(bad)
                .map_err(ResolveError::from)
                .and_then(|did| did_web_url(&did, false));
            assert!(url.is_err(), "{bad}");
        }
    }

    #[test]
    fn encoded_dot_segments_stay_literal() {
        let url = did_web_url(&d("did:web:a.com:x:%252e%252e:did"), false).unwrap();
        assert_eq!(url.as_str(), "https://a.com/x/%252e%252e/did/did.json");
        assert_eq!(url.path_segments().unwrap().count(), 4);
    }

    #[test]
    fn base_url_round_trips_to_did() {
        let base = url::Url::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            did_web_for(&base, &[]).unwrap().as_str(),
            "did:web:127.0.0.1%3A8080"
        );
        let alice = did_web_for(&base, &["users", "alice"]).unwrap();
        assert_eq!(alice.as_str(), "did:web:127.0.0.1%3A8080:users:alice");
        let url = did_web_url(&alice, true).unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:8080/users/alice/did.json");
        let v6 = url::Url::parse("https://[::1]:8443").unwrap();
        assert_eq!(
            did_web_for(&v6, &[]).unwrap().as_str(),
            "did:web:%5B%3A%3A1%5D%3A8443"
        );
    }
}
