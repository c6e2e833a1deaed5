//! Outbound requests a peer can trigger (did:web resolution, status lists of other
//! issuers; server-to-server forwarding next), built from the configuration: all of them
//! go through the guarded fetcher of `sichat-core` with its caps.

use std::time::Duration;

use sichat_core::did::ResolveError;
use sichat_core::did::web_fetch::{FetchPolicy, GuardedFetcher};

use crate::config::Config;

/// The did:web fetcher this server uses.
pub fn did_web_fetcher(config: &Config) -> Result<GuardedFetcher, ResolveError> {
    GuardedFetcher::new(FetchPolicy {
        allow_loopback: config.did_web_allow_loopback,
        max_fetches: config.did_web_max_fetches,
        max_fetches_per_site: config.did_web_max_fetches_per_site,
        dns_servers: config.did_web_dns_servers.clone(),
        dns_timeout: Duration::from_secs(config.did_web_dns_timeout_secs),
        ..FetchPolicy::default()
    })
}

/// The fetcher for status lists of other issuers: the same guards as did:web (its own
/// concurrency counts).
pub fn status_list_fetcher(config: &Config) -> Result<GuardedFetcher, ResolveError> {
    did_web_fetcher(config)
}

/// The client that delivers DIDComm messages to other servers' mediators: the same guards
/// (its own concurrency counts).
pub fn didcomm_fetcher(config: &Config) -> Result<GuardedFetcher, ResolveError> {
    did_web_fetcher(config)
}
