//! Access tokens: `soa_`, then base64url(JSON `{"v":1, "g"|"c": id, "s": scope, "exp":
//! secs}`), a dot, and base64url(HMAC-SHA256 of what precedes). Nothing is written to mint one (a `client_credentials`
//! token costs no database write); validation checks the MAC in constant time and the
//! expiry, then that the grant (a user's authorization) is not revoked, or that the client
//! still exists. The MAC key is derived from the master key, so every instance sharing it
//! accepts the same tokens.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::Mac;
use serde::{Deserialize, Serialize};
use sichat_core::Clock;
use zeroize::Zeroizing;

use crate::store::{SeaStore, oidc_clients, oidc_grants};

pub const PREFIX: &str = "soa_";
/// How long an access token lives (`expires_in`).
pub const LIFETIME_SECS: i64 = 600;
/// The label the MAC key is derived under (`Kek::derive_subkey`).
pub const KEY_LABEL: &str = "sichat/oidc/access-token/v1";
const MAX_TOKEN: usize = 2048;

/// Whom a token acts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A user's authorization of a client (the grant id).
    Grant(String),
    /// A client acting for itself (`client_credentials`).
    Client(String),
}

#[derive(Serialize, Deserialize)]
struct Payload {
    v: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    g: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    c: Option<String>,
    s: String,
    exp: i64,
}

/// A valid token: for whom, with which scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validated {
    pub subject: Subject,
    pub client_id: String,
    /// The user, for a grant's token.
    pub user_id: Option<String>,
    /// The client, as stored, for a client's own token (read once, here).
    pub client: Option<oidc_clients::ClientRow>,
    pub scope: String,
    /// Claims the authorization request asked for by name (a grant's `claims`).
    pub claims: Vec<String>,
}

impl Validated {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope.split(' ').any(|s| s == scope)
    }
}

pub struct AccessTokens {
    key: Zeroizing<[u8; 32]>,
    store: Arc<SeaStore>,
    clock: Arc<dyn Clock>,
}

impl AccessTokens {
    pub fn new(key: Zeroizing<[u8; 32]>, store: Arc<SeaStore>, clock: Arc<dyn Clock>) -> Self {
        Self { key, store, clock }
    }

    fn mac(&self, signed: &str) -> hmac::Hmac<sha2::Sha256> {
        // Invariant: HMAC takes keys of any length.
        let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.key[..])
            .expect("HMAC accepts any key length");
        mac.update(signed.as_bytes());
        mac
    }

    /// A token for `subject` with `scope`, valid [`LIFETIME_SECS`].
    pub fn mint(&self, subject: &Subject, scope: &str) -> String {
        let (g, c) = match subject {
            Subject::Grant(id) => (Some(id.clone()), None),
            Subject::Client(id) => (None, Some(id.clone())),
        };
        let payload = Payload {
            v: 1,
            g,
            c,
            s: scope.to_owned(),
            exp: self.clock.now_millis() / 1000 + LIFETIME_SECS,
        };
        // Invariant: the payload is plain data and always serializes.
        let json = serde_json::to_vec(&payload).expect("payload serializes");
        let signed = format!("{PREFIX}{}", B64.encode(json));
        let tag = B64.encode(self.mac(&signed).finalize().into_bytes());
        format!("{signed}.{tag}")
    }

    /// The token's subject and scope if it is authentic, unexpired and its grant or client
    /// still stands; `None` otherwise.
    pub async fn validate(
        &self,
        token: &str,
    ) -> Result<Option<Validated>, sichat_core::store::StoreError> {
        if token.len() > MAX_TOKEN || !token.starts_with(PREFIX) {
            return Ok(None);
        }
        let Some((signed, tag)) = token.rsplit_once('.') else {
            return Ok(None);
        };
        let Ok(tag) = B64.decode(tag) else {
            return Ok(None);
        };
        if self.mac(signed).verify_slice(&tag).is_err() {
            return Ok(None);
        }
        let Some(payload) = B64
            .decode(&signed[PREFIX.len()..])
            .ok()
            .and_then(|b| serde_json::from_slice::<Payload>(&b).ok())
        else {
            return Ok(None);
        };
        if payload.v != 1 || payload.exp <= self.clock.now_millis() / 1000 {
            return Ok(None);
        }
        let db = self.store.db();
        match (payload.g, payload.c) {
            (Some(grant), None) => {
                let Some(row) = oidc_grants::grant(db, &grant).await? else {
                    return Ok(None);
                };
                if row.revoked_at.is_some() {
                    return Ok(None);
                }
                Ok(Some(Validated {
                    subject: Subject::Grant(grant),
                    client_id: row.client_id,
                    user_id: row.user_id,
                    client: None,
                    scope: payload.s,
                    claims: row
                        .claims
                        .as_deref()
                        .and_then(|c| serde_json::from_str(c).ok())
                        .unwrap_or_default(),
                }))
            }
            (None, Some(client)) => {
                let Some(row) = self.store.client(&client).await?.map(|c| (*c).clone()) else {
                    return Ok(None);
                };
                Ok(Some(Validated {
                    subject: Subject::Client(client.clone()),
                    client_id: client,
                    user_id: None,
                    client: Some(row),
                    scope: payload.s,
                    claims: Vec::new(),
                }))
            }
            _ => Ok(None),
        }
    }
}
