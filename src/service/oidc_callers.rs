//! OpenID Connect access tokens on Sichat's own APIs: a client's own token
//! (`client_credentials`) with scope `issue:credentials` issues credentials as the DIDs
//! the client was registered for (by default the server's did:web) — how the W3C VC-API
//! test suites authenticate; a token a user granted with scope `holder` acts for that user
//! (the holder API, issuing as their DIDs).

use std::sync::Arc;

use sichat_core::id::UserName;

use super::access_tokens::{AccessTokens, Subject};
use super::identity::IdentityService;
use super::issuer_keys::Caller;
use super::oidc_clients::parse_list;
use crate::error::{ApiError, ProblemKind};
use crate::store::{SeaStore, users};

pub const ISSUE_SCOPE: &str = "issue:credentials";
pub const HOLDER_SCOPE: &str = "holder";

pub struct OidcCallers {
    access: Arc<AccessTokens>,
    identity: Arc<IdentityService>,
    store: Arc<SeaStore>,
}

impl OidcCallers {
    pub fn new(
        access: Arc<AccessTokens>,
        identity: Arc<IdentityService>,
        store: Arc<SeaStore>,
    ) -> Self {
        Self {
            access,
            identity,
            store,
        }
    }

    /// Whom an access token acts for on Sichat's APIs: 401 if it is not valid, 403 if it
    /// lacks the scope.
    pub async fn caller(&self, token: &str) -> Result<Caller, ApiError> {
        let Some(valid) = self.access.validate(token).await? else {
            return Err(ApiError::new(
                ProblemKind::UNAUTHORIZED,
                "the access token is not valid (unknown, expired or revoked)",
            ));
        };
        match &valid.subject {
            Subject::Client(id) if valid.has_scope(ISSUE_SCOPE) => {
                let stored = valid
                    .client
                    .as_ref()
                    .map_or("[]", |c| c.issuer_dids.as_str());
                let mut issuers = parse_list("issuer_dids", stored);
                if issuers.is_empty() {
                    issuers.push(self.identity.server_did().to_string());
                }
                Ok(Caller::Client {
                    id: id.clone(),
                    issuers,
                })
            }
            Subject::Grant(_) if valid.has_scope(HOLDER_SCOPE) => {
                let user_id = valid.user_id.as_deref().unwrap_or_default();
                let name: UserName =
                    users::name_of(self.store.db(), user_id)
                        .await?
                        .ok_or_else(|| {
                            ApiError::new(ProblemKind::UNAUTHORIZED, "the user no longer exists")
                        })?;
                Ok(Caller::User(name))
            }
            Subject::Client(_) => Err(ApiError::forbidden(format!(
                "a client's access token needs scope {ISSUE_SCOPE} here"
            ))),
            Subject::Grant(_) => Err(ApiError::forbidden(format!(
                "a user's access token needs scope {HOLDER_SCOPE} here"
            ))),
        }
    }
}
