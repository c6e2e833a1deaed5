//! Decentralized identifiers: `did:key`, `did:jwk`, `did:web`, `did:peer` (numalgo 0 and 2),
//! DID documents, and resolution behind the [`DidResolver`] trait with a cache.
//!
//! DID syntax is checked with ssi's parser (DID Core §3.1). Documents are built here, per
//! each method's specification, because the method resolvers shipped with ssi 0.16 emit
//! neither the `keyAgreement` relationships that `did:key` (§3.1.2, key derivation) and
//! `did:jwk` (§3.2, `use`) require nor support `did:peer`. [`SsiResolver`] adapts any
//! resolver here to ssi's `DIDResolver`, so ssi's verifiers resolve through this module.

mod cache;
pub mod document;
pub mod jwk;
pub mod key;
pub mod peer;
mod resolver;
mod ssi_adapter;
pub mod web;
#[cfg(feature = "http")]
pub mod web_fetch;

pub use cache::{CachePolicy, CachingResolver};
pub use document::{DidDocument, DocumentBuilder, Relationship};
pub use resolver::{DidResolver, Resolution, ResolutionOptions, ResolveError, StandardResolver};
pub use ssi_adapter::SsiResolver;
