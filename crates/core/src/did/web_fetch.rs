//! The guarded `did:web` fetcher: HTTPS GET that cannot be turned against the network it
//! runs in (SSRF) nor against the process itself (floods of slow lookups).
//!
//! - **One cancellable lookup per fetch**, with an async DNS resolver (hickory): no
//!   blocking thread per lookup, a timeout of its own, and dropping the future stops it.
//!   The HTTP client resolves through the checked resolver, which keeps only addresses
//!   the fetcher may connect to: the addresses checked are the addresses connected to (no
//!   rebinding window). Why a lookup failed travels back through the client's error.
//! - **Caps**: at most `max_fetches` fetches (lookup included) at once in all, and
//!   `max_fetches_per_site` per site (the registrable domain by the Public Suffix List, so
//!   a flood of `x1.evil.example`, `x2.evil.example`, … counts once while
//!   `a.github.io` and `b.github.io` stay apart); beyond them the caller gets
//!   [`ResolveError::Busy`] at once (an HTTP 503 with `Retry-After`), never a queue.
//! - A host that does not exist (NXDOMAIN, no address) is [`ResolveError::NotFound`].
//! - Redirects are refused, the body is capped at 64 KiB, the whole exchange at
//!   `timeout`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_resolver::config::{
    LookupIpStrategy, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::{Resolver, TokioResolver};

use super::resolver::ResolveError;
use super::web::{DidWebFetcher, MAX_DOCUMENT_BYTES, is_loopback_host};

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
                || (a == 192 && b == 0 && v4.octets()[2] == 0) // 192.0.0/24 IETF (192.0.2/24 is documentation)
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

/// How the fetcher behaves; [`FetchPolicy::default`] is the production setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchPolicy {
    /// Lets tests resolve DIDs served on 127.0.0.1 over plain HTTP; off in production.
    pub allow_loopback: bool,
    /// Fetches under way at once, in all.
    pub max_fetches: usize,
    /// Fetches under way at once per site.
    pub max_fetches_per_site: usize,
    /// DNS servers to ask (UDP); empty: the system's configuration.
    pub dns_servers: Vec<SocketAddr>,
    /// How long one DNS lookup may take.
    pub dns_timeout: Duration,
    /// How long the whole fetch (lookup, connection, body) may take.
    pub timeout: Duration,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        Self {
            allow_loopback: false,
            max_fetches: 64,
            max_fetches_per_site: 4,
            dns_servers: Vec::new(),
            dns_timeout: Duration::from_secs(3),
            timeout: Duration::from_secs(5),
        }
    }
}

/// Why a host name gave no usable address; it travels through the HTTP client as the
/// source of its error, so the fetcher can tell the caller exactly what happened.
#[derive(Debug, Clone, thiserror::Error)]
enum DnsFailure {
    #[error("`{0}` does not exist")]
    NoSuchHost(String),
    #[error("`{0}` resolves only to private, loopback or reserved addresses")]
    NotPublic(String),
    #[error("looking up `{0}` timed out")]
    Timeout(String),
    #[error("looking up `{0}` failed: {1}")]
    Failed(String, String),
}

impl From<DnsFailure> for ResolveError {
    fn from(f: DnsFailure) -> Self {
        match f {
            DnsFailure::NoSuchHost(_) => ResolveError::NotFound(f.to_string()),
            DnsFailure::NotPublic(_) => ResolveError::Refused(f.to_string()),
            DnsFailure::Timeout(_) | DnsFailure::Failed(..) => ResolveError::Fetch(f.to_string()),
        }
    }
}

/// DNS resolution that keeps only the addresses the fetcher may connect to.
struct CheckedDns {
    resolver: TokioResolver,
    allow_loopback: bool,
}

impl CheckedDns {
    fn new(policy: &FetchPolicy) -> Result<Self, ResolveError> {
        let fail = |e: NetError| ResolveError::Fetch(format!("DNS resolver: {e}"));
        let mut options = ResolverOpts::default();
        options.timeout = policy.dns_timeout;
        options.attempts = 1;
        // One query in flight per question: a lookup costs the network two questions
        // (A and AAAA), not one per configured server.
        options.num_concurrent_reqs = 1;
        options.cache_size = 1024;
        // Answers are kept a little even with a TTL of 0, and failures for 30 s to 5 min:
        // a flood of one name costs one query.
        options.positive_min_ttl = Some(Duration::from_secs(10));
        options.negative_min_ttl = Some(Duration::from_secs(30));
        options.negative_max_ttl = Some(Duration::from_secs(300));
        options.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
        let resolver = if policy.dns_servers.is_empty() {
            let mut builder = TokioResolver::builder_tokio().map_err(fail)?;
            *builder.options_mut() = options;
            builder.build().map_err(fail)?
        } else {
            options.use_hosts_file = ResolveHosts::Never;
            let servers = policy
                .dns_servers
                .iter()
                .map(|addr| {
                    let mut ns = NameServerConfig::udp(addr.ip());
                    for c in &mut ns.connections {
                        c.port = addr.port();
                    }
                    ns
                })
                .collect();
            Resolver::builder_with_config(
                ResolverConfig::from_parts(None, vec![], servers),
                TokioRuntimeProvider::default(),
            )
            .with_options(options)
            .build()
            .map_err(fail)?
        };
        Ok(Self {
            resolver,
            allow_loopback: policy.allow_loopback,
        })
    }

    /// The host's addresses that may be connected to.
    async fn lookup(&self, host: &str) -> Result<Vec<IpAddr>, DnsFailure> {
        // A fully qualified name: the search list must not turn `evil` into `evil.corp`.
        let fqdn = format!("{}.", host.trim_end_matches('.'));
        let found = self.resolver.lookup_ip(fqdn).await.map_err(|e| {
            if e.is_nx_domain() || e.is_no_records_found() {
                DnsFailure::NoSuchHost(host.to_owned())
            } else if matches!(e, NetError::Timeout) {
                DnsFailure::Timeout(host.to_owned())
            } else {
                DnsFailure::Failed(host.to_owned(), e.to_string())
            }
        })?;
        let ok: Vec<IpAddr> = found
            .iter()
            .filter(|ip| allowed(*ip, self.allow_loopback))
            .collect();
        if ok.is_empty() {
            return Err(DnsFailure::NotPublic(host.to_owned()));
        }
        Ok(ok)
    }
}

/// The HTTP client's resolver: the same checked lookup, so a connection can only go to a
/// checked address.
struct ClientDns(Arc<CheckedDns>);

impl reqwest::dns::Resolve for ClientDns {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let dns = self.0.clone();
        Box::pin(async move {
            let ips = dns.lookup(name.as_str()).await?;
            let addrs: Vec<SocketAddr> = ips.into_iter().map(|ip| SocketAddr::new(ip, 0)).collect();
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The DNS failure behind an HTTP client error, if that is what it was.
fn dns_failure(err: &reqwest::Error) -> Option<DnsFailure> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(f) = e.downcast_ref::<DnsFailure>() {
            return Some(f.clone());
        }
        source = e.source();
    }
    None
}

/// The unit the per-site cap counts: an IP literal as is, else the registrable domain
/// (Public Suffix List: eTLD+1), else the host itself.
pub fn site_of(host: &str) -> String {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.starts_with('[') || host.parse::<IpAddr>().is_ok() {
        return host;
    }
    psl::domain_str(&host).unwrap_or(&host).to_owned()
}

/// Counts fetches under way, in all and per site.
struct Limits {
    max_fetches: usize,
    max_per_site: usize,
    state: Mutex<(usize, HashMap<String, usize>)>,
}

/// A place among the fetches under way; released on drop.
struct Slot {
    limits: Arc<Limits>,
    site: String,
}

impl Limits {
    fn take(self: &Arc<Self>, site: &str) -> Result<Slot, ResolveError> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| ResolveError::Fetch("fetch limits poisoned".into()))?;
        let (total, per_site) = &mut *state;
        if *total >= self.max_fetches {
            return Err(ResolveError::Busy(format!(
                "{} did:web fetches are under way",
                self.max_fetches
            )));
        }
        let here = per_site.entry(site.to_owned()).or_insert(0);
        if *here >= self.max_per_site {
            return Err(ResolveError::Busy(format!(
                "{} did:web fetches to `{site}` are under way",
                self.max_per_site
            )));
        }
        *here += 1;
        *total += 1;
        Ok(Slot {
            limits: self.clone(),
            site: site.to_owned(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut state) = self.limits.state.lock() {
            let (total, per_site) = &mut *state;
            *total = total.saturating_sub(1);
            if let Some(n) = per_site.get_mut(&self.site) {
                *n -= 1;
                if *n == 0 {
                    per_site.remove(&self.site);
                }
            }
        }
    }
}

/// The production [`DidWebFetcher`].
#[derive(Clone)]
pub struct GuardedFetcher {
    client: reqwest::Client,
    limits: Arc<Limits>,
    policy: FetchPolicy,
}

impl GuardedFetcher {
    pub fn new(policy: FetchPolicy) -> Result<Self, ResolveError> {
        let dns = Arc::new(CheckedDns::new(&policy)?);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(policy.timeout)
            .connect_timeout(policy.timeout)
            .dns_resolver(Arc::new(ClientDns(dns)))
            .no_proxy()
            .user_agent(concat!("sichat/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ResolveError::Fetch(format!("HTTP client: {e}")))?;
        Ok(Self {
            client,
            limits: Arc::new(Limits {
                max_fetches: policy.max_fetches.max(1),
                max_per_site: policy.max_fetches_per_site.max(1),
                state: Mutex::new((0, HashMap::new())),
            }),
            policy,
        })
    }

    /// Fetches `url` under the same guards as did:web documents (public addresses only,
    /// https, no redirects, concurrency caps, timeout), for other documents a peer can
    /// make this node fetch (status lists): `accept` is the Accept header, `max_bytes`
    /// the largest body read.
    pub async fn fetch_bounded(
        &self,
        url: &url::Url,
        accept: &str,
        max_bytes: usize,
    ) -> Result<Vec<u8>, ResolveError> {
        let _slot = self
            .limits
            .take(&site_of(url.host_str().unwrap_or_default()))?;
        tokio::time::timeout(
            self.policy.timeout,
            self.fetch_inner(url, accept, max_bytes),
        )
        .await
        .map_err(|_| {
            ResolveError::Fetch(format!(
                "{url}: timed out after {} s",
                self.policy.timeout.as_secs()
            ))
        })?
    }

    /// POSTs `body` to `url` under the same guards (public addresses only, https, no
    /// redirects, concurrency caps, timeout): the server-to-server delivery of a message
    /// a peer sent. A 2xx answer is success; its body (at most `max_bytes`) is returned.
    pub async fn post_bounded(
        &self,
        url: &url::Url,
        content_type: &str,
        body: Vec<u8>,
        max_bytes: usize,
    ) -> Result<Vec<u8>, ResolveError> {
        let _slot = self
            .limits
            .take(&site_of(url.host_str().unwrap_or_default()))?;
        let request = self
            .client
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body);
        tokio::time::timeout(self.policy.timeout, self.exchange(url, request, max_bytes))
            .await
            .map_err(|_| {
                ResolveError::Fetch(format!(
                    "{url}: timed out after {} s",
                    self.policy.timeout.as_secs()
                ))
            })?
    }

    async fn fetch_inner(
        &self,
        url: &url::Url,
        accept: &str,
        max_bytes: usize,
    ) -> Result<Vec<u8>, ResolveError> {
        let request = self
            .client
            .get(url.clone())
            .header(reqwest::header::ACCEPT, accept);
        self.exchange(url, request, max_bytes).await
    }

    async fn exchange(
        &self,
        url: &url::Url,
        request: reqwest::RequestBuilder,
        max_bytes: usize,
    ) -> Result<Vec<u8>, ResolveError> {
        let host = url.host_str().unwrap_or_default();
        let literal = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .ok();
        // A name is looked up (once, checked) by the client's resolver; a literal is not.
        if let Some(ip) = literal
            && !allowed(ip, self.policy.allow_loopback)
        {
            return Err(ResolveError::Refused(format!(
                "refusing to fetch from non-public address {ip}"
            )));
        }
        if url.scheme() != "https" && !(self.policy.allow_loopback && is_loopback_host(host)) {
            return Err(ResolveError::Fetch(format!(
                "{url}: documents are fetched over https only"
            )));
        }
        let mut response = request.send().await.map_err(|e| match dns_failure(&e) {
            Some(f) => f.into(),
            None => ResolveError::Fetch(format!("{url}: {e}")),
        })?;
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
        let too_large = || ResolveError::InvalidDocument(format!("larger than {max_bytes} bytes"));
        if response
            .content_length()
            .is_some_and(|n| n > max_bytes as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| ResolveError::Fetch(format!("{url}: {e}")))?
        {
            if body.len() + chunk.len() > max_bytes {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

#[async_trait::async_trait]
impl DidWebFetcher for GuardedFetcher {
    async fn fetch(&self, url: &url::Url) -> Result<Vec<u8>, ResolveError> {
        self.fetch_bounded(
            url,
            "application/did+json, application/json",
            MAX_DOCUMENT_BYTES,
        )
        .await
    }

    fn allows_loopback(&self) -> bool {
        self.policy.allow_loopback
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
            "192.0.0.8",
            "192.0.2.1",
        ] {
            assert!(!is_public_ip(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "1.1.1.1", "2606:4700::1111", "192.0.32.8"] {
            assert!(is_public_ip(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn sites_group_subdomains_and_keep_addresses() {
        assert_eq!(site_of("x1.evil.example"), "evil.example");
        assert_eq!(site_of("EVIL.example."), "evil.example");
        assert_eq!(site_of("a.b.co.uk"), "b.co.uk");
        assert_eq!(site_of("w3c-ccg.github.io"), "w3c-ccg.github.io");
        assert_eq!(site_of("localhost"), "localhost");
        assert_eq!(site_of("10.0.0.1"), "10.0.0.1");
        assert_eq!(site_of("[::1]"), "[::1]");
    }

    #[tokio::test]
    async fn literal_private_addresses_are_refused_before_connecting() {
        let f = GuardedFetcher::new(FetchPolicy::default()).unwrap();
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
    async fn caps_refuse_at_once_and_release_on_drop() {
        let limits = Arc::new(Limits {
            max_fetches: 3,
            max_per_site: 2,
            state: Mutex::new((0, HashMap::new())),
        });
        let a = limits.take("a.example").unwrap();
        let _b = limits.take("a.example").unwrap();
        assert!(matches!(
            limits.take("a.example"),
            Err(ResolveError::Busy(_))
        ));
        let _c = limits.take("b.example").unwrap();
        assert!(matches!(
            limits.take("c.example"),
            Err(ResolveError::Busy(_))
        ));
        drop(a);
        assert!(limits.take("a.example").is_ok());
        assert_eq!(limits.state.lock().unwrap().0, 2, "slots released on drop");
    }

    use crate::testing::{DnsAnswer, FakeDns};

    fn policy(dns: &FakeDns) -> FetchPolicy {
        FetchPolicy {
            dns_servers: vec![dns.addr()],
            dns_timeout: Duration::from_millis(500),
            ..FetchPolicy::default()
        }
    }

    /// The rebinding guard: a name whose DNS answer is a private address is refused by the
    /// checked lookup itself (with loopback disallowed, the fetch never connects).
    #[tokio::test]
    async fn names_resolving_to_private_addresses_are_refused_by_the_checked_lookup() {
        let dns = FakeDns::start(&[
            ("rebind.test", DnsAnswer::A("127.0.0.1".parse().unwrap())),
            ("inside.test", DnsAnswer::A("10.1.2.3".parse().unwrap())),
        ])
        .await
        .unwrap();
        let f = GuardedFetcher::new(policy(&dns)).unwrap();
        for host in ["rebind.test", "inside.test"] {
            let url = url::Url::parse(&format!("https://{host}/.well-known/did.json")).unwrap();
            let err = f.fetch(&url).await.unwrap_err();
            assert!(
                matches!(err, ResolveError::Refused(ref m) if m.contains("private")),
                "{host}: {err}"
            );
        }
    }

    #[tokio::test]
    async fn hosts_that_do_not_exist_are_not_found_and_silent_dns_times_out() {
        let dns = FakeDns::start(&[("*.slow.test", DnsAnswer::Silent)])
            .await
            .unwrap();
        let f = GuardedFetcher::new(policy(&dns)).unwrap();
        let missing = url::Url::parse("https://nowhere.test/.well-known/did.json").unwrap();
        let err = f.fetch(&missing).await.unwrap_err();
        assert_eq!(err.code(), "notFound", "{err}");
        let slow = url::Url::parse("https://a.slow.test/.well-known/did.json").unwrap();
        let err = f.fetch(&slow).await.unwrap_err();
        assert!(
            matches!(err, ResolveError::Fetch(ref m) if m.contains("timed out")),
            "{err}"
        );
    }
}
