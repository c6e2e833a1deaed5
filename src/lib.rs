//! The Sichat server: configuration, HTTP API, services and storage.
//!
//! Layers go one way: [`http`] (extract, validate, call, map) → [`service`] (the domain)
//! → [`store`] (sea-orm) and `sichat-core` (pure logic).

pub mod app;
pub mod config;
pub mod error;
pub mod http;
pub mod metrics;
pub mod outbound;
pub mod serve;
pub mod service;
pub mod store;
