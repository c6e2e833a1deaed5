//! Credential-bound channels (see `docs/didcomm-credential-channels.md`): a recipient DID
//! whose forwards only bound peers may send. A peer binds itself with the
//! `credential-channel/1.0` exchange — `request` → `challenge` → `present` (a verifiable
//! presentation signed by the peer with the challenge and this server's DID as domain) →
//! `granted` — verified with the server's VC verifier, status included. Each forward to
//! the channel's recipient must come authenticated from a bound peer whose credential
//! still verifies (revoked, suspended or expired: the peer is unbound and refused).

use std::sync::Arc;

use base64::Engine;
use serde_json::{Map, Value, json};
use sichat_core::Clock;
use sichat_core::api::{ChannelMemberView, ChannelView, CreateChannel, VerifyOptions};
use sichat_core::clock::rfc3339;
use sichat_core::didcomm::Message;
use sichat_core::didcomm::protocols;
use sichat_core::id::{Did, Owner};

use super::{Handled, Mediator, MediatorError, Received};
use crate::error::{ApiError, ProblemKind};
use crate::service::credentials::CredentialService;
use crate::service::identity::IdentityService;
use crate::store::SeaStore;
use crate::store::didcomm_channels::{self as rows, ChannelRow, MemberRow};

pub const PIURI: &str = "https://sichat.dev/protocols/credential-channel/1.0";
pub const REQUEST: &str = "https://sichat.dev/protocols/credential-channel/1.0/request";
pub const CHALLENGE: &str = "https://sichat.dev/protocols/credential-channel/1.0/challenge";
pub const PRESENT: &str = "https://sichat.dev/protocols/credential-channel/1.0/present";
pub const GRANTED: &str = "https://sichat.dev/protocols/credential-channel/1.0/granted";

/// How long a challenge may be answered.
const CHALLENGE_TTL_MS: i64 = 5 * 60 * 1000;
/// Channels at most, and claims per policy.
const MAX_CHANNELS: usize = 1_000;
const MAX_CLAIMS: usize = 16;

/// A refusal: the problem-report code and comment.
pub struct Refusal {
    pub code: &'static str,
    pub comment: String,
}

fn refuse(code: &'static str, comment: impl Into<String>) -> Refusal {
    Refusal {
        code,
        comment: comment.into(),
    }
}

pub struct Channels {
    /// recipient DID → its channel, if any (read for every forward).
    by_recipient: super::ShortCache<Option<ChannelRow>>,
    store: Arc<SeaStore>,
    credentials: Arc<CredentialService>,
    identity: Arc<IdentityService>,
    clock: Arc<dyn Clock>,
}

/// The policy part of a channel row.
struct Policy {
    credential_type: String,
    issuers: Vec<String>,
    claims: Map<String, Value>,
}

impl Policy {
    fn of(row: &ChannelRow) -> Self {
        let v: Value = serde_json::from_str(&row.policy).unwrap_or_default();
        Self {
            credential_type: v["credentialType"].as_str().unwrap_or_default().to_owned(),
            issuers: v["issuers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect(),
            claims: v["claims"].as_object().cloned().unwrap_or_default(),
        }
    }
}

/// The JSON inside an `Enveloped…` credential or presentation (a JOSE data URL), or the
/// value itself.
fn unwrap_envelope(v: &Value) -> Option<Value> {
    let enveloped = v["type"]
        .as_str()
        .is_some_and(|t| t.starts_with("Enveloped"))
        || v["type"].as_array().is_some_and(|ts| {
            ts.iter()
                .any(|t| t.as_str().is_some_and(|t| t.starts_with("Enveloped")))
        });
    if !enveloped {
        return Some(v.clone());
    }
    let jwt = v["id"].as_str()?.split_once(',')?.1;
    let payload = jwt.split('~').next()?.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn string_or_id(v: &Value) -> Option<&str> {
    v.as_str().or_else(|| v["id"].as_str())
}

fn has_type(v: &Value, wanted: &str) -> bool {
    match &v["type"] {
        Value::String(t) => t == wanted,
        Value::Array(ts) => ts.iter().any(|t| t == wanted),
        _ => false,
    }
}

impl Channels {
    pub fn new(
        store: Arc<SeaStore>,
        credentials: Arc<CredentialService>,
        identity: Arc<IdentityService>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            by_recipient: super::ShortCache::new(super::LOOKUP_TTL, 100_000),
            store,
            credentials,
            identity,
            clock,
        }
    }

    fn view(row: &ChannelRow) -> ChannelView {
        let p = Policy::of(row);
        ChannelView {
            name: row.name.clone(),
            recipient: row.recipient.clone(),
            owner: row.owner.clone(),
            credential_type: p.credential_type,
            issuers: p.issuers,
            claims: p.claims,
            created_at: rfc3339(row.created_at),
        }
    }

    pub async fn create(&self, req: CreateChannel) -> Result<ChannelView, ApiError> {
        let invalid = |field: &str, why: &str| {
            ApiError::new(ProblemKind::VALIDATION, format!("`{field}`: {why}"))
        };
        let name_ok = (1..=128).contains(&req.name.len())
            && req
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !name_ok {
            return Err(invalid("name", "1 to 128 characters A-Z a-z 0-9 - _ ."));
        }
        if req.recipient.len() > 2048 || Did::parse(&req.recipient).is_err() {
            return Err(invalid("recipient", "a DID (without fragment)"));
        }
        let owner = req.owner.as_deref().unwrap_or("server");
        if Owner::parse(owner).is_err() {
            return Err(invalid("owner", "`server` or `user:<name>`"));
        }
        if req.credential_type.is_empty() || req.credential_type.len() > 256 {
            return Err(invalid("credentialType", "a credential type"));
        }
        if req.issuers.len() > 32 || req.issuers.iter().any(|i| Did::parse(i).is_err()) {
            return Err(invalid("issuers", "at most 32 DIDs"));
        }
        if req.claims.len() > MAX_CLAIMS {
            return Err(invalid("claims", "at most 16 claims"));
        }
        if rows::list(self.store.db()).await?.len() >= MAX_CHANNELS {
            return Err(ApiError::new(
                ProblemKind::CONFLICT,
                "1,000 channels exist already",
            ));
        }
        let row = ChannelRow {
            id: uuid::Uuid::new_v4().to_string(),
            name: req.name,
            owner: owner.to_owned(),
            recipient: req.recipient,
            policy: json!({"credentialType": req.credential_type, "issuers": req.issuers,
                "claims": req.claims})
            .to_string(),
            created_at: self.clock.now_millis(),
        };
        rows::insert(self.store.db(), &row).await?;
        self.by_recipient.clear();
        Ok(Self::view(&row))
    }

    pub async fn list(&self) -> Result<Vec<ChannelView>, ApiError> {
        Ok(rows::list(self.store.db())
            .await?
            .iter()
            .map(Self::view)
            .collect())
    }

    pub async fn remove(&self, name: &str) -> Result<(), ApiError> {
        if !rows::delete(self.store.db(), name).await? {
            return Err(ApiError::not_found(format!("no channel `{name}`")));
        }
        self.by_recipient.clear();
        Ok(())
    }

    pub async fn members(&self, name: &str) -> Result<Vec<ChannelMemberView>, ApiError> {
        let row = rows::by_name(self.store.db(), name)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no channel `{name}`")))?;
        Ok(rows::members(self.store.db(), &row.id)
            .await?
            .into_iter()
            .map(|m| ChannelMemberView {
                credential_id: serde_json::from_str::<Value>(&m.credential)
                    .ok()
                    .as_ref()
                    .and_then(unwrap_envelope)
                    .and_then(|c| c["id"].as_str().map(str::to_owned)),
                peer: m.peer,
                bound_at: rfc3339(m.bound_at),
            })
            .collect())
    }

    /// Whether a forward to `recipient` from `sender` may pass: no channel, or a bound
    /// peer whose credential verifies now.
    pub async fn admit(
        &self,
        recipient: &str,
        sender: Option<&Did>,
    ) -> Result<Result<(), Refusal>, MediatorError> {
        let channel = match self.by_recipient.get(recipient) {
            Some(hit) => hit,
            None => {
                let found = rows::by_recipient(self.store.db(), recipient)
                    .await
                    .map_err(MediatorError::Storage)?;
                self.by_recipient.put(recipient, found.clone());
                found
            }
        };
        let Some(channel) = channel else {
            return Ok(Ok(()));
        };
        let Some(sender) = sender else {
            return Ok(Err(refuse(
                "e.p.trust.channel",
                format!(
                    "Channel {} takes authenticated messages from bound peers only",
                    channel.name
                ),
            )));
        };
        let Some(member) = rows::member(self.store.db(), &channel.id, sender.as_str())
            .await
            .map_err(MediatorError::Storage)?
        else {
            return Ok(Err(refuse(
                "e.p.trust.channel",
                format!("{sender} is not bound to channel {}", channel.name),
            )));
        };
        let credential: Value = serde_json::from_str(&member.credential).unwrap_or_default();
        let verified = self
            .credentials
            .verify_credential(credential, VerifyOptions::default())
            .await
            .map(|r| r.verified)
            .unwrap_or(false);
        if !verified {
            rows::unbind(self.store.db(), &channel.id, sender.as_str())
                .await
                .map_err(MediatorError::Storage)?;
            return Ok(Err(refuse(
                "e.p.trust.channel.credential",
                format!(
                    "The credential binding {sender} to channel {} no longer verifies (revoked, suspended or expired)",
                    channel.name
                ),
            )));
        }
        Ok(Ok(()))
    }

    /// The `credential-channel/1.0` exchange.
    pub(super) async fn handle(
        &self,
        m: &Mediator,
        r: &Received,
    ) -> Result<Handled, MediatorError> {
        // Invariant: the dispatcher only calls this with an authenticated sender.
        let Some(peer) = r.sender.as_ref() else {
            return Ok(Handled::none());
        };
        let msg = &r.message;
        let problem =
            |code: &str, comment: &str| Ok(Handled::reply(m.problem(msg, code, "{1}", &[comment])));
        let Some(name) = msg.body["channel"].as_str() else {
            return problem("e.p.msg.invalid-body", "the body needs `channel`");
        };
        let Some(channel) = rows::by_name(self.store.db(), name)
            .await
            .map_err(MediatorError::Storage)?
        else {
            return problem("e.p.req.unknown-channel", &format!("no channel `{name}`"));
        };
        let policy = Policy::of(&channel);
        let now = self.clock.now_millis();
        match msg.type_.as_str() {
            REQUEST => {
                let challenge = hex::encode(rand::random::<[u8; 32]>());
                let expires = now + CHALLENGE_TTL_MS;
                rows::add_challenge(
                    self.store.db(),
                    &challenge,
                    &channel.id,
                    peer.as_str(),
                    expires,
                )
                .await
                .map_err(MediatorError::Storage)?;
                let mut reply = protocols::reply(
                    msg,
                    CHALLENGE,
                    m.did().as_str(),
                    json!({"channel": name, "challenge": challenge, "domain": m.did().as_str(),
                        "credential": {"type": policy.credential_type, "issuers": policy.issuers,
                            "claims": policy.claims}}),
                );
                reply.expires_time = Some(u64::try_from(expires / 1000).unwrap_or(0));
                Ok(Handled::reply(reply))
            }
            PRESENT => {
                let challenge = msg.body["challenge"].as_str().unwrap_or_default();
                let spent = rows::spend_challenge(
                    self.store.db(),
                    challenge,
                    &channel.id,
                    peer.as_str(),
                    now,
                )
                .await
                .map_err(MediatorError::Storage)?;
                if !spent {
                    return problem(
                        "e.p.trust.challenge",
                        "the challenge is unknown, spent, expired, or not yours",
                    );
                }
                let presentation = msg.body["presentation"].clone();
                let options = VerifyOptions {
                    challenge: Some(challenge.to_owned()),
                    domain: Some(m.did().to_string()),
                };
                let result = match self
                    .credentials
                    .verify_presentation(presentation.clone(), options)
                    .await
                {
                    Ok(r) => r,
                    Err(e) => return problem("e.p.trust.presentation", &e.0.detail),
                };
                if !result.verified {
                    let why = result
                        .errors
                        .first()
                        .map(|e| format!("{}: {}", e.check, e.detail))
                        .unwrap_or_default();
                    return problem(
                        "e.p.trust.presentation",
                        &format!("the presentation does not verify ({why})"),
                    );
                }
                match self.matching_credential(&presentation, peer, &policy) {
                    Ok(credential) => {
                        rows::bind(
                            self.store.db(),
                            &MemberRow {
                                channel_id: channel.id.clone(),
                                peer: peer.to_string(),
                                credential: credential.to_string(),
                                bound_at: now,
                            },
                        )
                        .await
                        .map_err(MediatorError::Storage)?;
                        Ok(Handled::reply(protocols::reply(
                            msg,
                            GRANTED,
                            m.did().as_str(),
                            json!({"channel": name, "recipient": channel.recipient}),
                        )))
                    }
                    Err(why) => problem("e.p.trust.credential", &why),
                }
            }
            _ => problem(
                "e.p.msg.unsupported",
                &format!("unsupported message type {}", msg.type_),
            ),
        }
    }

    /// The presented credential that satisfies the policy: of the type, from a trusted
    /// issuer, about the peer (who is the presentation's holder), with the claims.
    fn matching_credential(
        &self,
        presentation: &Value,
        peer: &Did,
        policy: &Policy,
    ) -> Result<Value, String> {
        let vp = unwrap_envelope(presentation).ok_or("the presentation cannot be read")?;
        if vp.get("holder").and_then(string_or_id) != Some(peer.as_str()) {
            return Err(format!("the presentation's holder is not {peer}"));
        }
        let listed: Vec<Value> = match &vp["verifiableCredential"] {
            Value::Array(list) => list.clone(),
            Value::Null => Vec::new(),
            one => vec![one.clone()],
        };
        for original in listed {
            let Some(c) = unwrap_envelope(&original) else {
                continue;
            };
            if !has_type(&c, &policy.credential_type) {
                continue;
            }
            let Some(issuer) = c.get("issuer").and_then(string_or_id) else {
                continue;
            };
            let trusted = if policy.issuers.is_empty() {
                Did::parse(issuer).is_ok_and(|d| self.identity.is_own_namespace(&d))
            } else {
                policy.issuers.iter().any(|i| i == issuer)
            };
            let subject = match &c["credentialSubject"] {
                Value::Array(list) => list.first().cloned().unwrap_or_default(),
                s => s.clone(),
            };
            let about_peer = subject["id"].as_str() == Some(peer.as_str());
            let claims_hold = policy.claims.iter().all(|(path, expected)| {
                path.split('.').try_fold(&subject, |v, k| v.get(k)) == Some(expected)
            });
            if trusted && about_peer && claims_hold {
                return Ok(original);
            }
        }
        Err(format!(
            "no {} credential about {peer} from a trusted issuer with the required claims",
            policy.credential_type
        ))
    }
}

/// Whether a message type belongs to the channel protocol.
pub fn is_channel_message(message: &Message) -> bool {
    protocols::piuri_of(&message.type_) == PIURI
}
