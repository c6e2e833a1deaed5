//! `did:web` (did:web Method Specification §3.2): DID to URL, and reading the fetched
//! document. The network fetch is behind [`DidWebFetcher`]; the guarded HTTPS
//! implementation is [`super::web_fetch`] (feature `http`).

use super::document::DidDocument;
use super::resolver::{ResolveError, parse_did};

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

/// Percent-decodes a DID component; malformed escapes or non-UTF-8 are `invalidDid`.
pub fn percent_decode(s: &str) -> Result<String, ResolveError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .ok_or_else(|| ResolveError::InvalidDid("bad percent-encoding".into()))?;
            out.push(
                u8::from_str_radix(hex, 16)
                    .map_err(|_| ResolveError::InvalidDid("bad percent-encoding".into()))?,
            );
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
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
pub fn did_web_url(did: &str, allow_loopback_http: bool) -> Result<url::Url, ResolveError> {
    let (method, msid) = parse_did(did)?;
    if method != "web" {
        return Err(ResolveError::InvalidDid(format!(
            "`{did}` is not a did:web"
        )));
    }
    let mut parts = msid.split(':');
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
    let path = if path.is_empty() {
        ".well-known".to_owned()
    } else {
        path.join("/")
    };
    let url = url::Url::parse(&format!("{scheme}://{authority}/{path}/did.json"))
        .map_err(|e| ResolveError::InvalidDid(format!("did:web does not map to a URL: {e}")))?;
    if url.host_str().is_none() || url.query().is_some() || url.username() != "" {
        return Err(ResolveError::InvalidDid(
            "did:web does not map to a plain https URL".into(),
        ));
    }
    Ok(url)
}

/// Reads a fetched `did:web` document: JSON, at most 64 KiB, `id` equal to the DID (§3.2.2).
pub fn parse_document(did: &str, bytes: &[u8]) -> Result<DidDocument, ResolveError> {
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(ResolveError::InvalidDocument("larger than 64 KiB".into()));
    }
    let value = serde_json::from_slice(bytes)
        .map_err(|e| ResolveError::InvalidDocument(format!("not JSON: {e}")))?;
    DidDocument::from_json(did, value)
}

/// The `did:web` for a public base URL and path segments (inverse of [`did_web_url`]).
pub fn did_web_for(base: &url::Url, segments: &[&str]) -> String {
    let mut did = String::from("did:web:");
    // IPv6 literals keep their brackets, percent-encoded with their colons (DID syntax).
    let host = base.host_str().unwrap_or("localhost");
    did.push_str(
        &host
            .replace('[', "%5B")
            .replace(']', "%5D")
            .replace(':', "%3A"),
    );
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
        did.push_str(s);
    }
    did
}

#[cfg(test)]
mod tests {
    use super::*;

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
            assert_eq!(did_web_url(did, false).unwrap().as_str(), url);
        }
        assert_eq!(
            did_web_url("did:web:127.0.0.1%3A8080", false)
                .unwrap()
                .scheme(),
            "https"
        );
        assert_eq!(
            did_web_url("did:web:127.0.0.1%3A8080", true)
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
            assert!(did_web_url(bad, false).is_err(), "{bad}");
        }
    }

    #[test]
    fn base_url_round_trips_to_did() {
        let base = url::Url::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(did_web_for(&base, &[]), "did:web:127.0.0.1%3A8080");
        assert_eq!(
            did_web_for(&base, &["users", "alice"]),
            "did:web:127.0.0.1%3A8080:users:alice"
        );
        let url = did_web_url(&did_web_for(&base, &["users", "alice"]), true).unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:8080/users/alice/did.json");
    }
}
