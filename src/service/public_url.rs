//! The public URL: every did:web of the server derives from it, so it is stored with the
//! data and treated like the master key. An instance given another URL than the stored one
//! refuses to start ([`super::bootstrap::open`]); changing it is this explicit operation,
//! which lists the DIDs that change (`sichat public-url set`).

use std::sync::Arc;

use sichat_core::did::web::did_web_for;
use sichat_core::id::Did;
use sichat_core::store::{StoreError, UserStore};

use crate::store::{self, SeaStore, settings};

/// A DID that a public-URL change replaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DidChange {
    pub old: Did,
    pub new: Did,
}

pub struct PublicUrls {
    store: Arc<SeaStore>,
}

impl PublicUrls {
    pub fn new(store: Arc<SeaStore>) -> Self {
        Self { store }
    }

    /// The stored public URL (none before the first `serve` or `init`).
    pub async fn stored(&self) -> Result<Option<String>, StoreError> {
        settings::get(self.store.db(), settings::PUBLIC_URL).await
    }

    /// The did:web DIDs that move from `old` to `new`: the server's and each user's.
    /// (did:key identities do not depend on the URL.)
    pub async fn changes(
        &self,
        old: &url::Url,
        new: &url::Url,
    ) -> Result<Vec<DidChange>, StoreError> {
        let did = |base: &url::Url, segments: &[&str]| {
            did_web_for(base, segments).map_err(|e| StoreError::Backend(e.to_string()))
        };
        let mut out = vec![DidChange {
            old: did(old, &[])?,
            new: did(new, &[])?,
        }];
        for user in self.store.list_users().await? {
            let path = ["users", user.name.as_str()];
            out.push(DidChange {
                old: did(old, &path)?,
                new: did(new, &path)?,
            });
        }
        out.retain(|c| c.old != c.new);
        Ok(out)
    }

    /// Stores `new` as the public URL. Running instances notice within their sync interval
    /// and report not ready until restarted with the new URL.
    pub async fn set(&self, new: &url::Url) -> Result<(), StoreError> {
        let txn = store::begin_write(self.store.db())
            .await
            .map_err(store::map_err)?;
        settings::put(
            &txn,
            settings::PUBLIC_URL,
            new.as_str().trim_end_matches('/'),
        )
        .await?;
        store::stamp_identity_change(&txn).await?;
        txn.commit().await.map_err(store::map_err)?;
        self.store.epoch().bump();
        Ok(())
    }
}
