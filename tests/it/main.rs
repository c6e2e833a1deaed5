//! Integration tests: one binary, a module per area. Each test starts a real server on
//! 127.0.0.1:0 with its own SQLite file, or its own PostgreSQL database when
//! `SICHAT_TEST_DATABASE_URL` is set.

mod admin;
mod browser;
mod cli;
mod client;
mod client_didcomm;
mod common;
mod connections;
mod credential_vectors;
mod credentials;
mod did_documents;
mod didcomm_mediator;
mod didcomm_pack;
mod didcomm_vectors;
mod holder;
mod hostile_resolution;
mod migrations;
mod negative_table;
mod offline_verify;
mod oidc_authorize;
mod oidc_browser;
mod oidc_callers;
mod oidc_client_auth;
mod oidc_clients;
mod oidc_codes;
mod oidc_keys;
mod oidc_login;
mod oidc_pages;
mod oidc_registration;
mod oidc_token;
mod openapi;
mod problems;
mod resolution;
mod sd_jwt;
mod secrets;
mod status_lists;
mod store_conformance;
mod user_tokens;
mod vectors;
