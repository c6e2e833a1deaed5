//! The guarded `did:web` fetcher: HTTPS GET that cannot be turned against the network it
//! runs in (SSRF). Host names are resolved here, every address is checked, and the
//! connection is pinned to the checked addresses; redirects are refused, the body is capped
//! at 64 KiB and the whole exchange at 5 seconds.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use super::resolver::ResolveError;
use super::web::{DidWebFetcher, MAX_DOCUMENT_BYTES, is_loopback_host};

const TIMEOUT: Duration = Duration::from_secs(5);

/// `true` when `ip` is a globally routable unicast address (not loopback, private,
/// link-local, unique-local, CGNAT, multicast, documentation or unspecified).
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // 100.64/10 CGNAT
                || (a == 192 && b == 0) // 192.0.0/24 IETF, 192.0.2/24
                || (a == 198 && (18..20).contains(&b)) // benchmarking
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_ip(IpAddr::V4(v4));
            }
            let seg = v6.segments();
            let first = seg[0];
            // 6to4 (2002::/16) embeds an IPv4 address: judge that address.
            if first == 0x2002 {
                let v4 = std::net::Ipv4Addr::new(
                    (seg[1] >> 8) as u8,
                    seg[1] as u8,
                    (seg[2] >> 8) as u8,
                    seg[2] as u8,
                );
                return is_public_ip(IpAddr::V4(v4));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link local
                || first == 0x2001 && v6.segments()[1] == 0x0db8 // documentation
                || first == 0x0064 // NAT64 well-known prefix
                || (first & 0xffc0) == 0xfec0 // site local (deprecated)
                || (first == 0x2001 && seg[1] == 0) // Teredo
                || (first == 0x0100 && seg[1..4].iter().all(|s| *s == 0)) // discard-only
                || (seg[..4].iter().all(|s| *s == 0) && seg[4] == 0xffff) // IPv4-translated
                || v6.segments()[..6].iter().all(|s| *s == 0)) // IPv4-compatible
        }
    }
}

fn allowed(ip: IpAddr, allow_loopback: bool) -> bool {
    is_public_ip(ip) || (allow_loopback && ip.is_loopback())
}

/// DNS resolution that drops every address the fetcher may not connect to. reqwest
/// connects only to the addresses returned here, so the check cannot be raced by a second
/// DNS answer.
struct CheckedDns {
    allow_loopback: bool,
}

impl reqwest::dns::Resolve for CheckedDns {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_loopback = self.allow_loopback;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let ok: Vec<SocketAddr> = addrs
                .into_iter()
                .filter(|a| allowed(a.ip(), allow_loopback))
                .collect();
            if ok.is_empty() {
                let err: Box<dyn std::error::Error + Send + Sync> =
                    format!("`{host}` resolves only to private, loopback or reserved addresses")
                        .into();
                return Err(err);
            }
            Ok(Box::new(ok.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The production [`DidWebFetcher`].
#[derive(Clone)]
pub struct GuardedFetcher {
    client: reqwest::Client,
    allow_loopback: bool,
}

impl GuardedFetcher {
    /// `allow_loopback` lets tests resolve DIDs served on 127.0.0.1 over plain HTTP; it must
    /// stay off in production.
    pub fn new(allow_loopback: bool) -> Result<Self, ResolveError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .dns_resolver(Arc::new(CheckedDns { allow_loopback }))
            .no_proxy()
            .user_agent(concat!("sichat/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ResolveError::Fetch(format!("HTTP client: {e}")))?;
        Ok(Self {
            client,
            allow_loopback,
        })
    }

    async fn fetch_inner(&self, url: &url::Url) -> Result<Vec<u8>, ResolveError> {
        let host = url.host_str().unwrap_or_default();
        let literal = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .ok();
        if let Some(ip) = literal
            && !allowed(ip, self.allow_loopback)
        {
            return Err(ResolveError::Refused(format!(
                "refusing to fetch from non-public address {ip}"
            )));
        }
        if literal.is_none() {
            // Early, readable refusal; `CheckedDns` enforces the same rule on the connection.
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
                .await
                .map_err(|e| ResolveError::Fetch(format!("cannot resolve `{host}`: {e}")))?
                .collect();
            if !addrs.iter().any(|a| allowed(a.ip(), self.allow_loopback)) {
                return Err(ResolveError::Refused(format!(
                    "`{host}` resolves only to non-public addresses"
                )));
            }
        }
        if url.scheme() != "https" && !(self.allow_loopback && is_loopback_host(host)) {
            return Err(ResolveError::Fetch(
                "did:web documents are fetched over https only".into(),
            ));
        }
        let mut response = self
            .client
            .get(url.clone())
            .header(
                reqwest::header::ACCEPT,
                "application/did+json, application/json",
            )
            .send()
            .await
            .map_err(|e| ResolveError::Fetch(format!("{url}: {e}")))?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::GONE {
            return Err(ResolveError::NotFound(url.to_string()));
        }
        if status.is_redirection() {
            return Err(ResolveError::Fetch(format!(
                "{url} answered a redirect ({status}); redirects are not followed"
            )));
        }
        if !status.is_success() {
            return Err(ResolveError::Fetch(format!("{url} answered {status}")));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64)
        {
            return Err(ResolveError::InvalidDocument("larger than 64 KiB".into()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| ResolveError::Fetch(format!("{url}: {e}")))?
        {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(ResolveError::InvalidDocument("larger than 64 KiB".into()));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

#[async_trait::async_trait]
impl DidWebFetcher for GuardedFetcher {
    async fn fetch(&self, url: &url::Url) -> Result<Vec<u8>, ResolveError> {
        tokio::time::timeout(TIMEOUT, self.fetch_inner(url))
            .await
            .map_err(|_| ResolveError::Fetch(format!("{url}: timed out after 5 s")))?
    }

    fn allows_loopback(&self) -> bool {
        self.allow_loopback
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_reserved_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "::",
        ] {
            assert!(!is_public_ip(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "1.1.1.1", "2606:4700::1111"] {
            assert!(is_public_ip(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn literal_private_addresses_are_refused_before_connecting() {
        let f = GuardedFetcher::new(false).unwrap();
        for url in [
            "https://127.0.0.1/.well-known/did.json",
            "https://[::1]/did.json",
            "https://169.254.169.254/x/did.json",
            "https://10.0.0.1/did.json",
        ] {
            let err = f.fetch(&url::Url::parse(url).unwrap()).await.unwrap_err();
            assert!(
                matches!(err, ResolveError::Refused(ref m) if m.contains("non-public")),
                "{url}: {err}"
            );
        }
    }

    #[tokio::test]
    async fn names_resolving_to_loopback_are_refused() {
        let f = GuardedFetcher::new(false).unwrap();
        let err = f
            .fetch(&url::Url::parse("https://localhost/.well-known/did.json").unwrap())
            .await
            .unwrap_err();
        assert!(matches!(err, ResolveError::Refused(_)), "{err}");
    }
}
