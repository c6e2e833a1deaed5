//! Test support for backends and servers built on this crate (feature `testing`): a DNS
//! server on loopback whose answers the test chooses.

#[cfg(feature = "http")]
mod fake_dns;

#[cfg(feature = "http")]
pub use fake_dns::{DnsAnswer, FakeDns};
