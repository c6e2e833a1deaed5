//! Readiness: whether this instance should receive traffic.

use std::sync::Arc;

use super::identity::IdentityService;
use crate::store::SeaStore;

/// Why the instance is not ready.
#[derive(Debug, thiserror::Error)]
pub enum NotReady {
    #[error("the database does not answer")]
    Database,
    #[error("the public URL was changed in the database; restart this instance")]
    PublicUrlChanged,
}

pub struct Readiness {
    store: Arc<SeaStore>,
    identity: Arc<IdentityService>,
}

impl Readiness {
    pub fn new(store: Arc<SeaStore>, identity: Arc<IdentityService>) -> Self {
        Self { store, identity }
    }

    pub async fn check(&self) -> Result<(), NotReady> {
        if self.identity.public_url_changed() {
            return Err(NotReady::PublicUrlChanged);
        }
        self.store.ping().await.map_err(|e| {
            tracing::warn!(error = %e, "readiness check failed");
            NotReady::Database
        })
    }
}
