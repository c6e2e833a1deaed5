//! The keys that sign OpenID Connect ID tokens, and the JWKS (`GET /jwks`) that publishes
//! them: the server's active Ed25519 (`EdDSA`) and P-256 (`ES256`) keys — the same keys as
//! in its DID document — and one RSA-2048 key (`RS256`, mandatory to implement), generated
//! the first time it is needed. Keys retired less than `retention` ago stay in the JWKS, so
//! that tokens signed before a rotation still verify. Key ids are RFC 7638 thumbprints.
//!
//! The set is built once per identity epoch (any key change, here or in another process
//! sharing the database, moves it) and served as bytes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use sichat_core::Clock;
use sichat_core::id::{KeyId, Owner};
use sichat_core::keys::jws::JwsAlg;
use sichat_core::keys::{KeyType, PublicKey};
use sichat_core::store::{KeyRecord, KeyStatus, KeyStore};

use super::ServerKeys;
use crate::error::ApiError;
use crate::store::{IdentityEpoch, SeaStore};

/// A key that signs ID tokens: its stored id and its JWK `kid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenKey {
    pub id: KeyId,
    pub kid: String,
}

/// The key set of one identity epoch.
struct KeySet {
    epoch: u64,
    signing: HashMap<JwsAlg, TokenKey>,
    published: HashMap<String, PublicKey>,
    jwks: Arc<Vec<u8>>,
}

pub struct IdTokenKeys {
    keys: Arc<ServerKeys>,
    store: Arc<SeaStore>,
    epoch: Arc<IdentityEpoch>,
    clock: Arc<dyn Clock>,
    retention: Duration,
    current: Mutex<Option<Arc<KeySet>>>,
    /// One RSA key generation at a time (a prime search of up to a second).
    generating: tokio::sync::Mutex<()>,
}

impl IdTokenKeys {
    pub fn new(
        keys: Arc<ServerKeys>,
        store: Arc<SeaStore>,
        clock: Arc<dyn Clock>,
        retention: Duration,
    ) -> Self {
        Self {
            epoch: store.epoch().clone(),
            keys,
            store,
            clock,
            retention,
            current: Mutex::new(None),
            generating: tokio::sync::Mutex::new(()),
        }
    }

    /// The key that signs ID tokens with `alg`; the RSA key is generated on first use.
    pub async fn signing_key(&self, alg: JwsAlg) -> Result<TokenKey, ApiError> {
        if let Some(key) = self.set().await?.signing.get(&alg) {
            return Ok(key.clone());
        }
        if alg != JwsAlg::RS256 {
            return Err(ApiError::internal(format!(
                "the server has no active {} key to sign {alg} ID tokens",
                alg.key_type()
            )));
        }
        let _one = self.generating.lock().await;
        // Another request may have generated it while this one waited.
        if let Some(key) = self.set().await?.signing.get(&alg) {
            return Ok(key.clone());
        }
        self.keys
            .generate(&Owner::Server, KeyType::Rsa)
            .await
            .map_err(ApiError::from)?;
        self.set()
            .await?
            .signing
            .get(&alg)
            .cloned()
            .ok_or_else(|| ApiError::internal("the new RSA key is not in the key set"))
    }

    /// The JWKS document (`{"keys": [...]}`), as served. The RSA key is made before the
    /// set is first published: a relying party that fetched the set once (at discovery)
    /// must find the key of every token signed afterwards.
    pub async fn jwks(&self) -> Result<Arc<Vec<u8>>, ApiError> {
        let set = self.set().await?;
        if set.signing.contains_key(&JwsAlg::RS256) {
            return Ok(set.jwks.clone());
        }
        self.signing_key(JwsAlg::RS256).await?;
        Ok(self.set().await?.jwks.clone())
    }

    /// A published key by `kid` (active or recently retired), to check a token this
    /// server signed (e.g. an `id_token_hint`).
    pub async fn published(&self, kid: &str) -> Result<Option<PublicKey>, ApiError> {
        Ok(self.set().await?.published.get(kid).cloned())
    }

    async fn set(&self) -> Result<Arc<KeySet>, ApiError> {
        // The epoch is read before the rows: a change committed meanwhile moves it.
        let epoch = self.epoch.current();
        if let Some(set) = self
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            && set.epoch == epoch
        {
            return Ok(set.clone());
        }
        let records = self.store.list_keys(&Owner::Server).await?;
        let set = Arc::new(build(epoch, &records, self.cutoff()));
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(set.clone());
        Ok(set)
    }

    /// Keys retired before this instant (ms) are no longer published.
    fn cutoff(&self) -> i64 {
        let retention = i64::try_from(self.retention.as_millis()).unwrap_or(i64::MAX);
        self.clock.now_millis().saturating_sub(retention)
    }
}

/// The key set from the server's key records: the newest active key of each signing type
/// signs; active keys and keys retired after `cutoff` are published.
fn build(epoch: u64, records: &[KeyRecord], cutoff: i64) -> KeySet {
    let mut signing: HashMap<JwsAlg, (i64, TokenKey)> = HashMap::new();
    let mut published = HashMap::new();
    let mut jwks = Vec::new();
    for r in records {
        let Some(alg) = JwsAlg::for_key_type(r.key_type) else {
            continue;
        };
        let live = match (r.status, r.retired_at) {
            (KeyStatus::Active, _) => true,
            (KeyStatus::Retired, Some(at)) => at > cutoff,
            (KeyStatus::Retired, None) => false,
        };
        if !live {
            continue;
        }
        let Ok(public) = PublicKey::from_multibase_cached(&r.public_multibase) else {
            tracing::error!(key = %r.id, "stored public key is corrupt; left out of the JWKS");
            continue;
        };
        let kid = public.jwk_thumbprint();
        if r.status == KeyStatus::Active
            && signing
                .get(&alg)
                .is_none_or(|(created, _)| r.created_at > *created)
        {
            let key = TokenKey {
                id: r.id.clone(),
                kid: kid.clone(),
            };
            signing.insert(alg, (r.created_at, key));
        }
        let mut jwk = public.to_jwk_value();
        jwk["kid"] = Value::String(kid.clone());
        jwk["use"] = "sig".into();
        jwk["alg"] = alg.as_str().into();
        jwks.push(jwk);
        published.insert(kid, public);
    }
    // Invariant: a JSON value always serializes.
    let jwks = serde_json::to_vec(&json!({ "keys": jwks })).expect("JSON serializes");
    KeySet {
        epoch,
        signing: signing.into_iter().map(|(a, (_, k))| (a, k)).collect(),
        published,
        jwks: Arc::new(jwks),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sichat_core::keys::SecretKey;

    fn record(
        key_type: KeyType,
        status: KeyStatus,
        created_at: i64,
        retired_at: Option<i64>,
    ) -> (KeyRecord, PublicKey) {
        let public = SecretKey::generate(key_type).public_key();
        let record = KeyRecord {
            id: KeyId::generate(),
            owner: Owner::Server,
            key_type,
            public_multibase: public.to_multibase(),
            sealed_private: vec![],
            status,
            created_at,
            retired_at,
        };
        (record, public)
    }

    #[test]
    fn the_newest_active_key_signs_and_recently_retired_keys_stay_published() {
        let (old_ed, _) = record(KeyType::Ed25519, KeyStatus::Active, 1, None);
        let (new_ed, new_ed_public) = record(KeyType::Ed25519, KeyStatus::Active, 2, None);
        let (retired_recently, kept) = record(KeyType::P256, KeyStatus::Retired, 1, Some(900));
        let (retired_long_ago, gone) = record(KeyType::P256, KeyStatus::Retired, 1, Some(100));
        let (x25519, agreement) = record(KeyType::X25519, KeyStatus::Active, 1, None);
        let set = build(
            7,
            &[
                old_ed,
                new_ed.clone(),
                retired_recently,
                retired_long_ago,
                x25519,
            ],
            500,
        );
        assert_eq!(set.signing[&JwsAlg::EdDSA].id, new_ed.id);
        assert_eq!(
            set.signing[&JwsAlg::EdDSA].kid,
            new_ed_public.jwk_thumbprint()
        );
        assert!(
            !set.signing.contains_key(&JwsAlg::ES256),
            "a retired key never signs"
        );
        assert!(set.published.contains_key(&kept.jwk_thumbprint()));
        assert!(!set.published.contains_key(&gone.jwk_thumbprint()));
        assert!(!set.published.contains_key(&agreement.jwk_thumbprint()));
        let jwks: Value = serde_json::from_slice(&set.jwks).unwrap();
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 3);
        for key in keys {
            assert_eq!(key["use"], "sig");
            assert!(key.get("d").is_none(), "no private member: {key}");
            let kid = key["kid"].as_str().unwrap();
            assert_eq!(sichat_core::keys::jwk_thumbprint(key).unwrap(), kid);
        }
    }
}
