//! Schema migrations for the Sichat server, shared by SQLite and PostgreSQL. Append-only:
//! a landed migration is never edited; changes come as new files.

pub use sea_orm_migration::prelude::*;

mod m20261125_000001_create_settings;
mod m20261125_000002_create_keys;
mod m20261125_000003_create_users;
mod m20261129_000001_keys_reference_users;
mod m20261129_000002_create_issued_credentials;
mod m20261129_000003_create_status_lists;
mod m20261129_000004_create_api_tokens;
mod m20261129_000005_create_held_credentials;
mod m20261129_000006_widen_key_public_multibase;
mod m20261129_000007_create_oidc_clients;
mod m20261129_000008_users_profile;
mod m20261129_000009_create_oidc_grants_and_codes;
mod m20261129_000010_create_oidc_jtis;
mod m20261129_000011_create_oidc_refresh_tokens;
mod m20261129_000012_create_oidc_sessions_and_consents;
mod m20261129_000013_create_oidc_claim_rules;
mod m20261129_000014_oidc_grants_claims;
mod m20261129_000015_oidc_codes_carry_grant;
mod m20261129_000016_create_didcomm_mediation;
mod m20261129_000017_create_didcomm_outbox;
mod m20261129_000018_create_didcomm_channels;
mod m20261129_000019_didcomm_queue_usage;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_create_settings::Migration),
            Box::new(m20261125_000002_create_keys::Migration),
            Box::new(m20261125_000003_create_users::Migration),
            Box::new(m20261129_000001_keys_reference_users::Migration),
            Box::new(m20261129_000002_create_issued_credentials::Migration),
            Box::new(m20261129_000003_create_status_lists::Migration),
            Box::new(m20261129_000004_create_api_tokens::Migration),
            Box::new(m20261129_000005_create_held_credentials::Migration),
            Box::new(m20261129_000006_widen_key_public_multibase::Migration),
            Box::new(m20261129_000007_create_oidc_clients::Migration),
            Box::new(m20261129_000008_users_profile::Migration),
            Box::new(m20261129_000009_create_oidc_grants_and_codes::Migration),
            Box::new(m20261129_000010_create_oidc_jtis::Migration),
            Box::new(m20261129_000011_create_oidc_refresh_tokens::Migration),
            Box::new(m20261129_000012_create_oidc_sessions_and_consents::Migration),
            Box::new(m20261129_000013_create_oidc_claim_rules::Migration),
            Box::new(m20261129_000014_oidc_grants_claims::Migration),
            Box::new(m20261129_000015_oidc_codes_carry_grant::Migration),
            Box::new(m20261129_000016_create_didcomm_mediation::Migration),
            Box::new(m20261129_000017_create_didcomm_outbox::Migration),
            Box::new(m20261129_000018_create_didcomm_channels::Migration),
            Box::new(m20261129_000019_didcomm_queue_usage::Migration),
        ]
    }
}
