//! Which key signs as a DID this server controls: its did:web, the did:key of one of its
//! signing keys, or a user's did:web; and who may use it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sichat_core::id::{Did, Owner};
use sichat_core::keys::{KeyInfo, KeyType};
use sichat_core::store::KeyStatus;
use sichat_core::vc::{Cryptosuite, IssuerKey, ProofFormat};

use super::ServerKeys;
use super::identity::IdentityService;
use crate::error::ApiError;
use crate::store::IdentityEpoch;

/// Who asks to sign as an issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The admin token (or the server itself): any DID of the server or its users.
    Admin,
    /// A user's API token: that user's DIDs only.
    User(sichat_core::id::UserName),
    /// An OpenID Connect client's own access token (`client_credentials` with scope
    /// `issue:credentials`): the DIDs it was registered for (`issuers`, never empty).
    Client { id: String, issuers: Vec<String> },
}

pub struct IssuerKeys {
    keys: Arc<ServerKeys>,
    identity: Arc<IdentityService>,
    epoch: Arc<IdentityEpoch>,
    /// Each owner's active signing keys, as of `epoch` (any key change, here or in
    /// another process, moves it).
    active: Mutex<(u64, ActiveKeys)>,
}

type ActiveKeys = HashMap<Owner, Arc<Vec<KeyInfo>>>;

fn issuer_key(did: &Did, method: String, key: &KeyInfo) -> IssuerKey {
    IssuerKey {
        issuer: did.to_string(),
        method,
        key: key.id.clone(),
        key_type: key.key_type,
    }
}

impl IssuerKeys {
    pub fn new(
        keys: Arc<ServerKeys>,
        identity: Arc<IdentityService>,
        epoch: Arc<IdentityEpoch>,
    ) -> Self {
        Self {
            keys,
            identity,
            epoch,
            active: Mutex::new((0, HashMap::new())),
        }
    }

    /// The owner's active signing keys (cached until the next key change).
    async fn active_keys(&self, owner: &Owner) -> Result<Arc<Vec<KeyInfo>>, ApiError> {
        // The epoch is read before the rows: a change committed meanwhile moves it.
        let epoch = self.epoch.current();
        {
            let cache = self.active.lock().unwrap_or_else(|e| e.into_inner());
            if cache.0 == epoch
                && let Some(keys) = cache.1.get(owner)
            {
                return Ok(keys.clone());
            }
        }
        let keys: Arc<Vec<KeyInfo>> = Arc::new(
            self.keys
                .list(owner)
                .await?
                .into_iter()
                .filter(|k| {
                    k.status == KeyStatus::Active
                        && k.key_type.is_signing()
                        && k.key_type.in_did_documents()
                })
                .collect(),
        );
        let mut cache = self.active.lock().unwrap_or_else(|e| e.into_inner());
        if cache.0 != epoch {
            *cache = (epoch, HashMap::new());
        }
        if cache.1.len() >= 10_000 {
            cache.1.clear();
        }
        cache.1.insert(owner.clone(), keys.clone());
        Ok(keys)
    }

    pub fn server_did(&self) -> String {
        self.identity.server_did().to_string()
    }

    /// The DID a caller issues as by default: the server's for the admin, the user's
    /// did:web for a user.
    pub fn default_issuer(&self, caller: &Caller) -> String {
        match caller {
            Caller::Admin => self.server_did(),
            Caller::User(name) => self.identity.user_did(name).to_string(),
            Caller::Client { issuers, .. } => issuers
                .first()
                .cloned()
                .unwrap_or_else(|| self.server_did()),
        }
    }

    /// The signing key for `issuer` in `format` (`None`: the default of the key found),
    /// the owner of the DID, and the format. A DID this server does not control is a 422
    /// naming `issuer`; one of another user's (or the server's) for a user's token, 403.
    pub async fn for_issuer(
        &self,
        caller: &Caller,
        issuer: &str,
        format: Option<ProofFormat>,
    ) -> Result<(IssuerKey, Owner, ProofFormat), ApiError> {
        let not_ours = || {
            ApiError::validation(format!(
                "issuer `{issuer}` is not a DID this server controls"
            ))
            .with("field", "issuer".into())
        };
        let did = Did::parse(issuer).map_err(|_| not_ours())?;
        // A did:key of one of the server's signing keys: that key, whatever the format.
        if did.method() == "key" {
            let keys = self.active_keys(&Owner::Server).await?;
            let key = keys
                .iter()
                .find(|k| k.did_key.as_ref() == Some(&did))
                .ok_or_else(not_ours)?;
            allowed(caller, &Owner::Server, issuer)?;
            let format = format
                .or(Cryptosuite::for_key(key.key_type).map(ProofFormat::DataIntegrity))
                .ok_or_else(not_ours)?;
            let method = did.with_fragment(&key.public_key_multibase);
            return Ok((issuer_key(&did, method, key), Owner::Server, format));
        }
        let owner = self.identity.owner_of(&did).ok_or_else(not_ours)?;
        allowed(caller, &owner, issuer)?;
        let keys = self.active_keys(&owner).await?;
        let wanted = match format {
            Some(ProofFormat::DataIntegrity(suite)) => vec![suite.key_type()],
            _ => vec![KeyType::Ed25519, KeyType::P256],
        };
        let key = wanted
            .iter()
            .find_map(|t| keys.iter().find(|k| k.key_type == *t))
            .ok_or_else(|| {
                ApiError::validation(format!(
                    "`{issuer}` has no active {} key",
                    wanted
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(" or ")
                ))
            })?;
        let format = format
            .or(Cryptosuite::for_key(key.key_type).map(ProofFormat::DataIntegrity))
            .ok_or_else(not_ours)?;
        let method = did.with_fragment(&key.public_key_multibase);
        Ok((issuer_key(&did, method, key), owner, format))
    }
}

/// Whether `caller` may sign as a DID of `owner`.
pub fn allowed(caller: &Caller, owner: &Owner, issuer: &str) -> Result<(), ApiError> {
    match (caller, owner) {
        (Caller::Admin, _) => Ok(()),
        (Caller::User(me), Owner::User(them)) if me == them => Ok(()),
        (Caller::Client { issuers, .. }, _) if issuers.iter().any(|d| d == issuer) => Ok(()),
        (Caller::User(_) | Caller::Client { .. }, _) => Err(ApiError::forbidden(format!(
            "this token may not act as `{issuer}`"
        ))),
    }
}
