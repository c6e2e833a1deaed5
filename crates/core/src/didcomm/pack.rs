//! Packing and unpacking DIDComm messages with resolved DIDs (v2.1 §5): which keys to
//! encrypt to and sign with, forward wrapping along the recipient's routing keys, and on
//! receipt the layers opened in order with the sender binding checked.
//!
//! Accepted layerings, outermost first: anoncrypt? → authcrypt? → signed? → plaintext
//! (each at most once). Binding rules, beyond the envelope crypto:
//! - authcrypt: `skid` is a `keyAgreement` key of its DID, and the plaintext `from` is
//!   that DID;
//! - signed: every signature's `kid` is an `authentication` key of its DID, and the
//!   plaintext `from` is that DID (so a signature inside authcrypt is by the sender);
//! - encrypted: the recipients' key ids belong to one DID, which `to` must name (an
//!   anoncrypted message without `to`, such as a `forward`, is accepted);
//! - `expires_time` in the past, or a `created_time` older than the replay window, is
//!   refused; a message seen before (sender and `id`, or an anonymous envelope's hash)
//!   within the window is refused ([`ReplayGuard`]);
//! - `from_prior` (DID rotation) is refused as unsupported.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::jwe::{self, AgreementKey, ContentEnc, Envelope, JweError, KeyWrap, To};
use super::jws::{self, JwsError, SignedEnvelope};
use super::keys::DidcommKeys;
use super::message::{Attachment, InvalidMessage, Message};
use crate::clock::Clock;
use crate::did::{DidDocument, DidResolver, Relationship};
use crate::id::{Did, KeyId};
use crate::keys::jws::JwsAlg;
use crate::keys::{KeyType, PublicKey};

pub use super::protocols::FORWARD;

/// Why a message could not be packed or unpacked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DidcommError {
    #[error(transparent)]
    Message(#[from] InvalidMessage),
    #[error(transparent)]
    Jwe(#[from] JweError),
    #[error(transparent)]
    Jws(#[from] JwsError),
    #[error("cannot resolve `{did}`: {reason}")]
    Resolve { did: String, reason: String },
    /// A document has no usable key for the purpose, or names an unusable one.
    #[error("{0}")]
    Key(String),
    /// None of the recipients' keys is ours.
    #[error("no key of ours can open the message")]
    NotForUs,
    /// The sender binding does not hold (`from` against `skid` or a signer, `to`).
    #[error("sender binding: {0}")]
    Binding(String),
    #[error("the message has expired")]
    Expired,
    #[error("the message was already received")]
    Replay,
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("malformed message: {0}")]
    Malformed(String),
    /// Our own key could not be used (a store failure, a retired key).
    #[error("key service: {0}")]
    Keys(String),
}

impl DidcommError {
    /// The problem-report code (report-problem 2.0) this failure is answered with.
    pub fn problem_code(&self) -> &'static str {
        match self {
            DidcommError::Message(_) | DidcommError::Malformed(_) => "e.p.msg",
            DidcommError::Jwe(JweError::Unsupported(_))
            | DidcommError::Jws(JwsError::Unsupported(_))
            | DidcommError::Unsupported(_) => "e.p.msg.unsupported",
            DidcommError::Jwe(_) | DidcommError::Jws(_) | DidcommError::NotForUs => {
                "e.p.trust.crypto"
            }
            DidcommError::Resolve { .. } | DidcommError::Key(_) => "e.p.did",
            DidcommError::Binding(_) => "e.p.trust",
            DidcommError::Expired => "e.p.req.time",
            DidcommError::Replay => "e.p.crypto.message.dejavu",
            DidcommError::Keys(_) => "e.p.me.res",
        }
    }
}

fn binding(what: impl Into<String>) -> DidcommError {
    DidcommError::Binding(what.into())
}

/// What unpacking learned about how the message travelled (names as in the SICPA
/// libraries' `Metadata`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UnpackMetadata {
    pub encrypted: bool,
    /// Authcrypt, or signed: the sender is known.
    pub authenticated: bool,
    /// Signed: the sender cannot deny it.
    pub non_repudiation: bool,
    /// Anoncrypt wrapped around authcrypt.
    pub anonymous_sender: bool,
    /// The authcrypt sender's key id.
    pub encrypted_from: Option<String>,
    /// The recipients' key ids (of the innermost encryption).
    pub encrypted_to: Vec<String>,
    /// The key we decrypted with (innermost encryption).
    pub decrypted_with: Option<String>,
    /// The signer's key id.
    pub sign_from: Option<String>,
    pub enc_alg_auth: Option<String>,
    pub enc_alg_anon: Option<String>,
    pub sign_alg: Option<String>,
    /// SHA-256 of the outermost anoncrypt envelope (what identifies an anonymous message).
    #[serde(skip)]
    pub envelope_hash: Option<[u8; 32]>,
}

/// Options for packing an encrypted message.
#[derive(Debug, Clone, Copy)]
pub struct PackOptions {
    /// Content encryption for anoncrypt (authcrypt is always A256CBC-HS512).
    pub enc_anon: ContentEnc,
    /// Anoncrypt around authcrypt, hiding the sender from intermediaries.
    pub protect_sender: bool,
    /// Wrap in `forward` messages along the recipient's routing keys.
    pub forward: bool,
}

impl Default for PackOptions {
    fn default() -> Self {
        Self {
            enc_anon: ContentEnc::Xc20p,
            protect_sender: false,
            forward: true,
        }
    }
}

/// A packed message and where it goes.
#[derive(Debug, Clone)]
pub struct Packed {
    /// The JSON to send.
    pub packed: String,
    /// The recipient's key ids.
    pub to_kids: Vec<String>,
    /// The authcrypt sender's key id.
    pub from_kid: Option<String>,
    /// The signer's key id.
    pub sign_by_kid: Option<String>,
    /// The endpoint to send it to (the recipient's, or its first mediator's), if the
    /// recipient's document has a DIDComm service.
    pub service_uri: Option<String>,
    /// Whether forwards were wrapped around the message.
    pub forwarded: bool,
}

/// A DIDComm messaging service of a document: its endpoint and routing keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DidcommService {
    pub uri: String,
    pub routing_keys: Vec<String>,
}

/// The `DIDCommMessaging` services of a document, in order, in either shape deployed:
/// v2.1's `serviceEndpoint: {uri, routingKeys, accept}` (or a list of them), or a string
/// endpoint with `routingKeys` beside it.
pub fn didcomm_services(doc: &DidDocument) -> Vec<DidcommService> {
    let strings = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect()
    };
    let mut out = Vec::new();
    let services = doc.as_json().get("service").and_then(Value::as_array);
    for s in services.into_iter().flatten() {
        let is_dm = match s.get("type") {
            Some(Value::String(t)) => t == "DIDCommMessaging",
            Some(Value::Array(ts)) => ts.iter().any(|t| t == "DIDCommMessaging"),
            _ => false,
        };
        if !is_dm {
            continue;
        }
        let endpoints: Vec<&Value> = match s.get("serviceEndpoint") {
            Some(Value::Array(list)) => list.iter().collect(),
            Some(v) => vec![v],
            None => vec![],
        };
        for e in endpoints {
            match e {
                Value::String(uri) => out.push(DidcommService {
                    uri: uri.clone(),
                    routing_keys: strings(s.get("routingKeys")),
                }),
                Value::Object(o) => {
                    if let Some(uri) = o.get("uri").and_then(Value::as_str) {
                        out.push(DidcommService {
                            uri: uri.to_owned(),
                            routing_keys: strings(o.get("routingKeys")),
                        });
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// Remembers recently received messages to refuse replays: the sender's DID and the
/// message `id` (or an anonymous envelope's hash), kept for the window — or until the
/// message's `expires_time`, if later, up to ten windows. Bounded: past the capacity the
/// oldest entries go first (a replay older than that many messages is not detected, so
/// the capacity should exceed the window's traffic).
pub struct ReplayGuard {
    window_secs: u64,
    capacity: usize,
    state: Mutex<ReplayState>,
}

#[derive(Default)]
struct ReplayState {
    seen: HashMap<[u8; 32], u64>,
    order: VecDeque<(u64, [u8; 32])>,
}

impl ReplayGuard {
    pub fn new(window_secs: u64, capacity: usize) -> Self {
        Self {
            window_secs,
            capacity: capacity.max(1),
            state: Mutex::new(ReplayState::default()),
        }
    }

    pub fn window_secs(&self) -> u64 {
        self.window_secs
    }

    /// Refuses a message seen before within the window (by its sender's DID and `id`, or
    /// for an anonymous message by the hash of its envelope), or created before the
    /// window began (too old to tell); remembers it otherwise. `now` in epoch seconds.
    pub fn check(
        &self,
        message: &Message,
        from: Option<&Did>,
        envelope_hash: Option<[u8; 32]>,
        now: u64,
    ) -> Result<(), DidcommError> {
        if message
            .created_time
            .is_some_and(|c| c.saturating_add(self.window_secs) < now)
        {
            return Err(DidcommError::Expired);
        }
        let key: [u8; 32] = match (from, envelope_hash) {
            (Some(from), _) => {
                let mut h = Sha256::new();
                h.update(from.as_str());
                h.update([0]);
                h.update(&message.id);
                h.finalize().into()
            }
            (None, Some(hash)) => hash,
            (None, None) => return Ok(()),
        };
        if !self.first_time(key, now, message.expires_time) {
            return Err(DidcommError::Replay);
        }
        Ok(())
    }

    /// `true` the first time `key` is seen (and remembers it), `false` for a replay.
    fn first_time(&self, key: [u8; 32], now: u64, expires: Option<u64>) -> bool {
        let until = now
            + expires
                .map(|e| e.saturating_sub(now))
                .unwrap_or(0)
                .clamp(self.window_secs, self.window_secs.saturating_mul(10));
        // A panic elsewhere while holding the lock leaves the state usable.
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        while let Some((t, k)) = st.order.front().copied() {
            if t > now && st.order.len() < self.capacity {
                break;
            }
            st.order.pop_front();
            if st.seen.get(&k) == Some(&t) {
                st.seen.remove(&k);
            }
        }
        match st.seen.get(&key) {
            Some(t) if *t > now => false,
            _ => {
                st.seen.insert(key, until);
                st.order.push_back((until, key));
                true
            }
        }
    }
}

/// Packs and unpacks messages as one party: its keys, a resolver for everyone's DIDs, a
/// clock, and optionally a replay guard.
#[derive(Clone)]
pub struct Packer {
    resolver: Arc<dyn DidResolver>,
    keys: Arc<dyn DidcommKeys>,
    clock: Arc<dyn Clock>,
    replay: Option<Arc<ReplayGuard>>,
}

/// A resolved verification method: its absolute id and public key.
struct Method {
    kid: String,
    key: PublicKey,
}

fn did_of(kid: &str) -> Result<Did, DidcommError> {
    let did = kid.split_once('#').map_or(kid, |(d, _)| d);
    Did::parse(did).map_err(|e| DidcommError::Malformed(format!("key id `{kid}`: {e}")))
}

impl Packer {
    pub fn new(
        resolver: Arc<dyn DidResolver>,
        keys: Arc<dyn DidcommKeys>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            resolver,
            keys,
            clock,
            replay: None,
        }
    }

    pub fn with_replay_guard(mut self, guard: Arc<ReplayGuard>) -> Self {
        self.replay = Some(guard);
        self
    }

    pub fn resolver(&self) -> &Arc<dyn DidResolver> {
        &self.resolver
    }

    async fn document(&self, did: &Did) -> Result<DidDocument, DidcommError> {
        self.resolver
            .resolve(did)
            .await
            .map(|r| r.document)
            .map_err(|e| DidcommError::Resolve {
                did: did.to_string(),
                reason: e.to_string(),
            })
    }

    /// The method `kid` names in `doc`, if it is under `rel` (either did:peer key-id form).
    fn method_in(doc: &DidDocument, kid: &str, rel: Relationship) -> Result<Method, DidcommError> {
        let vm = doc
            .verification_method(kid)
            .ok_or_else(|| DidcommError::Key(format!("`{kid}` is not a key of {}", doc.id())))?;
        let id = vm.get("id").and_then(Value::as_str).unwrap_or(kid);
        if !doc.relationship(rel).contains(&id) {
            return Err(DidcommError::Key(format!(
                "`{kid}` is not under `{}` of {}",
                rel.property(),
                doc.id()
            )));
        }
        let key = DidDocument::public_key_of(vm)
            .map_err(|e| DidcommError::Key(format!("`{kid}`: {e}")))?;
        Ok(Method {
            kid: kid.to_owned(),
            key,
        })
    }

    /// Every method under `rel`, with the key ids as the document names them.
    fn methods_under(doc: &DidDocument, rel: Relationship) -> Vec<Method> {
        doc.relationship(rel)
            .into_iter()
            .filter_map(|id| {
                let vm = doc.verification_method(id)?;
                let key = DidDocument::public_key_of(vm).ok()?;
                Some(Method {
                    kid: vm
                        .get("id")
                        .and_then(Value::as_str)
                        .unwrap_or(id)
                        .to_owned(),
                    key,
                })
            })
            .collect()
    }

    async fn ours(&self, did: &Did, key: &PublicKey) -> Result<Option<KeyId>, DidcommError> {
        self.keys
            .key_for(did, key)
            .await
            .map_err(|e| DidcommError::Keys(e.to_string()))
    }

    /// Runs `op` with our agreement key `key` opened.
    async fn with_agreement<T: Send>(
        &self,
        key: &KeyId,
        mut op: impl FnMut(&AgreementKey) -> Result<T, DidcommError> + Send,
    ) -> Result<T, DidcommError> {
        let mut out = None;
        self.keys
            .with_secret(key, &mut |secret| {
                out = Some(match AgreementKey::from_secret(secret) {
                    Ok(key) => op(&key),
                    Err(e) => Err(e.into()),
                });
            })
            .await
            .map_err(|e| DidcommError::Keys(e.to_string()))?;
        out.unwrap_or_else(|| Err(DidcommError::Keys("the key was not opened".into())))
    }

    // ---------------------------------------------------------------- packing

    /// A signed message (JWS) by `sign_by` (a DID, or one of its `authentication` key ids),
    /// which must be the message's `from`.
    pub async fn pack_signed(
        &self,
        msg: &Message,
        sign_by: &str,
    ) -> Result<(String, String), DidcommError> {
        msg.check()?;
        let did = did_of(sign_by)?;
        if msg.from.as_deref() != Some(did.as_str()) {
            return Err(binding("the signer must be the message's `from`"));
        }
        self.sign(&msg.to_bytes(), &did, sign_by).await
    }

    async fn sign(
        &self,
        payload: &[u8],
        did: &Did,
        sign_by: &str,
    ) -> Result<(String, String), DidcommError> {
        let doc = self.document(did).await?;
        let candidates = if sign_by.contains('#') {
            vec![Self::method_in(
                &doc,
                sign_by,
                Relationship::Authentication,
            )?]
        } else {
            Self::methods_under(&doc, Relationship::Authentication)
        };
        for m in candidates {
            let alg = match m.key.key_type() {
                KeyType::Ed25519 => JwsAlg::EdDSA,
                KeyType::P256 => JwsAlg::ES256,
                _ => continue,
            };
            if let Some(key) = self.ours(did, &m.key).await? {
                let jws = jws::sign(&*self.keys, &key, alg, &m.kid, payload)
                    .await
                    .map_err(|e| DidcommError::Keys(e.to_string()))?;
                return Ok((jws, m.kid));
            }
        }
        Err(DidcommError::Key(format!(
            "no signing key of {did} is ours"
        )))
    }

    /// The recipient keys of `to` (a DID: its `keyAgreement` keys; a key id: that key).
    async fn recipient_keys(
        &self,
        to: &str,
    ) -> Result<(Did, DidDocument, Vec<(Method, AgreementKey)>), DidcommError> {
        let did = did_of(to)?;
        let doc = self.document(&did).await?;
        let methods = if to.contains('#') {
            vec![Self::method_in(&doc, to, Relationship::KeyAgreement)?]
        } else {
            Self::methods_under(&doc, Relationship::KeyAgreement)
        };
        let keys: Vec<_> = methods
            .into_iter()
            .filter_map(|m| AgreementKey::from_public(&m.key).ok().map(|k| (m, k)))
            .collect();
        if keys.is_empty() {
            return Err(DidcommError::Key(format!(
                "{did} has no X25519 or P-256 keyAgreement key"
            )));
        }
        Ok((did, doc, keys))
    }

    /// Encrypts `msg` for `to` (a DID, or one of its key ids): authcrypt from `from` (its
    /// DID, which must be the message's `from`, or one of its key ids) or anoncrypt, the
    /// plaintext first signed by `sign_by` if given, then wrapped in forwards along the
    /// recipient's routing keys.
    pub async fn pack_encrypted(
        &self,
        msg: &Message,
        to: &str,
        from: Option<&str>,
        sign_by: Option<&str>,
        options: PackOptions,
    ) -> Result<Packed, DidcommError> {
        msg.check()?;
        let (to_did, to_doc, recipients) = self.recipient_keys(to).await?;
        if msg.to.is_some() && !msg.is_to(to_did.as_str()) {
            return Err(binding(format!("{to_did} is not in the message's `to`")));
        }
        let msg_from = msg.from_did();
        let mut payload = msg.to_bytes();
        let mut sign_by_kid = None;
        if let Some(signer) = sign_by {
            let did = did_of(signer)?;
            if msg_from.as_ref() != Some(&did) {
                return Err(binding("the signer must be the message's `from`"));
            }
            let (jws, kid) = self.sign(&payload, &did, signer).await?;
            payload = jws.into_bytes();
            sign_by_kid = Some(kid);
        }
        let mut from_kid = None;
        let mut packed;
        let chosen: Vec<&(Method, AgreementKey)>;
        if let Some(sender) = from {
            let did = did_of(sender)?;
            if msg_from.as_ref() != Some(&did) {
                return Err(binding("the sender must be the message's `from`"));
            }
            let doc = self.document(&did).await?;
            let mine = if sender.contains('#') {
                vec![Self::method_in(&doc, sender, Relationship::KeyAgreement)?]
            } else {
                Self::methods_under(&doc, Relationship::KeyAgreement)
            };
            let mut found = None;
            for m in mine {
                let Ok(public) = AgreementKey::from_public(&m.key) else {
                    continue;
                };
                let same: Vec<_> = recipients
                    .iter()
                    .filter(|(_, k)| k.curve() == public.curve())
                    .collect();
                if same.is_empty() {
                    continue;
                }
                if let Some(key) = self.ours(&did, &m.key).await? {
                    found = Some((m, key, same));
                    break;
                }
            }
            let (m, key, same) = found.ok_or_else(|| {
                DidcommError::Key(format!(
                    "no keyAgreement key of {did} (ours) shares a curve with {to_did}"
                ))
            })?;
            let tos: Vec<To> = same
                .iter()
                .map(|(rm, k)| To {
                    kid: &rm.kid,
                    key: k,
                })
                .collect();
            packed = self
                .with_agreement(&key, |secret| {
                    Ok(jwe::encrypt(
                        &payload,
                        &tos,
                        Some((&m.kid, secret)),
                        ContentEnc::A256CbcHs512,
                    )?)
                })
                .await?;
            from_kid = Some(m.kid);
            chosen = same;
            if options.protect_sender {
                let tos: Vec<To> = chosen
                    .iter()
                    .map(|(rm, k)| To {
                        kid: &rm.kid,
                        key: k,
                    })
                    .collect();
                packed = jwe::encrypt(packed.as_bytes(), &tos, None, options.enc_anon)?;
            }
        } else {
            // Anoncrypt: X25519 keys if the recipient has any, else its first curve.
            let curve = if recipients.iter().any(|(_, k)| k.curve() == "X25519") {
                "X25519"
            } else {
                recipients[0].1.curve()
            };
            chosen = recipients
                .iter()
                .filter(|(_, k)| k.curve() == curve)
                .collect();
            let tos: Vec<To> = chosen
                .iter()
                .map(|(rm, k)| To {
                    kid: &rm.kid,
                    key: k,
                })
                .collect();
            packed = jwe::encrypt(&payload, &tos, None, options.enc_anon)?;
        }
        let to_kids: Vec<String> = chosen.iter().map(|(m, _)| m.kid.clone()).collect();
        let route = self.route(&to_doc).await?;
        let service_uri = route.as_ref().map(|r| r.uri.clone());
        let mut forwarded = false;
        if let Some(route) = route.filter(|r| options.forward && !r.routing_keys.is_empty()) {
            packed = self
                .wrap_in_forwards(
                    packed,
                    to_did.as_str(),
                    &route.routing_keys,
                    options.enc_anon,
                )
                .await?;
            forwarded = true;
        }
        Ok(Packed {
            packed,
            to_kids,
            from_kid,
            sign_by_kid,
            service_uri,
            forwarded,
        })
    }

    /// Where messages for the subject of `doc` go: its first DIDComm service's endpoint
    /// and routing keys. An endpoint that is a DID is a mediator: its own endpoint is used
    /// and its keys come first (the message is forwarded to it).
    pub async fn route(&self, doc: &DidDocument) -> Result<Option<DidcommService>, DidcommError> {
        // An HTTP(S) endpoint first (a document may list a WebSocket one too).
        let services = didcomm_services(doc);
        let Some(service) = services
            .iter()
            .find(|s| s.uri.starts_with("http") || s.uri.starts_with("did:"))
            .or(services.first())
            .cloned()
        else {
            return Ok(None);
        };
        if !service.uri.starts_with("did:") {
            return Ok(Some(service));
        }
        let mediator = did_of(&service.uri)?;
        let mdoc = self.document(&mediator).await?;
        let first = didcomm_services(&mdoc)
            .into_iter()
            .find(|s| s.uri.starts_with("http"))
            .ok_or_else(|| {
                DidcommError::Key(format!("mediator {mediator} has no DIDComm endpoint"))
            })?;
        let mut keys = first.routing_keys;
        keys.push(mediator.to_string());
        keys.extend(service.routing_keys);
        Ok(Some(DidcommService {
            uri: first.uri,
            routing_keys: keys,
        }))
    }

    /// Where messages for `to` (a DID) go; see [`Packer::route`].
    pub async fn route_for(&self, to: &Did) -> Result<Option<DidcommService>, DidcommError> {
        let doc = self.document(to).await?;
        self.route(&doc).await
    }

    /// Wraps `packed` (for `to`) in a forward per routing key, the first key outermost;
    /// each forward names the next hop (the next routing key, then `to`).
    pub async fn wrap_in_forwards(
        &self,
        mut packed: String,
        to: &str,
        routing_keys: &[String],
        enc: ContentEnc,
    ) -> Result<String, DidcommError> {
        let mut nexts: Vec<&str> = routing_keys.iter().skip(1).map(String::as_str).collect();
        nexts.push(to);
        for (hop, next) in routing_keys.iter().zip(nexts).rev() {
            let inner: Value = serde_json::from_str(&packed)
                .map_err(|e| DidcommError::Malformed(e.to_string()))?;
            let mut forward = Message::new(FORWARD, json!({ "next": next }));
            forward.attachments = Some(vec![Attachment::json(
                Some(uuid::Uuid::new_v4().to_string()),
                inner,
            )]);
            let (_, _, keys) = self.recipient_keys(hop).await?;
            let curve = keys[0].1.curve();
            let tos: Vec<To> = keys
                .iter()
                .filter(|(_, k)| k.curve() == curve)
                .map(|(m, k)| To {
                    kid: &m.kid,
                    key: k,
                })
                .collect();
            packed = jwe::encrypt(&forward.to_bytes(), &tos, None, enc)?;
        }
        Ok(packed)
    }

    // -------------------------------------------------------------- unpacking

    /// Opens a packed message (encrypted, signed or plaintext), checking every layer and
    /// the sender binding (see the module documentation).
    pub async fn unpack(&self, packed: &[u8]) -> Result<(Message, UnpackMetadata), DidcommError> {
        let mut meta = UnpackMetadata::default();
        let mut current = packed.to_vec();
        // 0 = nothing opened, 1 = anoncrypt, 2 = authcrypt, 3 = signature.
        let mut stage = 0;
        let mut recipient_did: Option<Did> = None;
        let mut sender_did: Option<Did> = None;
        let mut signer_dids: Vec<Did> = Vec::new();
        let message = loop {
            let value: Value = serde_json::from_slice(&current)
                .map_err(|_| DidcommError::Malformed("not JSON".into()))?;
            let Value::Object(obj) = value else {
                return Err(DidcommError::Malformed("not a JSON object".into()));
            };
            if obj.contains_key("ciphertext") {
                let env = Envelope::from_object(&obj, current.len())?;
                env.check_didcomm()?;
                let layer = if env.alg == KeyWrap::Ecdh1PuA256Kw {
                    2
                } else {
                    1
                };
                if layer <= stage {
                    return Err(DidcommError::Malformed(
                        "encryption layers out of order".into(),
                    ));
                }
                stage = layer;
                if layer == 1 {
                    meta.envelope_hash = Some(Sha256::digest(&current).into());
                }
                let (plaintext, rdid) = self.open_envelope(&env, &mut meta).await?;
                if recipient_did.as_ref().is_some_and(|d| d != &rdid) {
                    return Err(binding("the encryption layers are for different DIDs"));
                }
                recipient_did = Some(rdid);
                if let Some(skid) = &env.skid {
                    sender_did = Some(did_of(skid)?);
                }
                current = plaintext;
            } else if obj.contains_key("signatures") {
                if stage >= 3 {
                    return Err(DidcommError::Malformed("nested signatures".into()));
                }
                stage = 3;
                let text = std::str::from_utf8(&current)
                    .map_err(|_| DidcommError::Malformed("not UTF-8".into()))?;
                let env = SignedEnvelope::parse(text)?;
                for kid in env.signers() {
                    let did = did_of(kid)?;
                    let doc = self.document(&did).await?;
                    let m = Self::method_in(&doc, kid, Relationship::Authentication)?;
                    env.verify(kid, &m.key)?;
                    meta.sign_alg = Some(match m.key.key_type() {
                        KeyType::P256 => "ES256".into(),
                        _ => "EdDSA".into(),
                    });
                    meta.sign_from = Some(kid.to_owned());
                    signer_dids.push(did);
                }
                meta.non_repudiation = true;
                meta.authenticated = true;
                current = env.payload().to_vec();
            } else {
                break Message::from_object(obj)?;
            }
        };
        // Sender binding.
        let from = message.from_did();
        if let Some(sender) = &sender_did
            && from.as_ref() != Some(sender)
        {
            return Err(binding(format!(
                "`from` is not {sender}, the authcrypt sender"
            )));
        }
        for signer in &signer_dids {
            if from.as_ref() != Some(signer) {
                return Err(binding(format!("`from` is not {signer}, the signer")));
            }
        }
        if let Some(rdid) = &recipient_did {
            match &message.to {
                Some(_) if !message.is_to(rdid.as_str()) => {
                    return Err(binding(format!("`to` does not name {rdid}, the recipient")));
                }
                None if sender_did.is_some() || !signer_dids.is_empty() => {
                    return Err(binding(
                        "an authenticated message must name its recipients in `to`",
                    ));
                }
                _ => {}
            }
        }
        if message.from_prior.is_some() {
            return Err(DidcommError::Unsupported(
                "`from_prior` (DID rotation)".into(),
            ));
        }
        self.check_time_and_replay(&message, from.as_ref(), meta.envelope_hash)?;
        Ok((message, meta))
    }

    fn check_time_and_replay(
        &self,
        message: &Message,
        from: Option<&Did>,
        envelope_hash: Option<[u8; 32]>,
    ) -> Result<(), DidcommError> {
        let now = u64::try_from(self.clock.now_millis() / 1000).unwrap_or(0);
        if message.expires_time.is_some_and(|e| e <= now) {
            return Err(DidcommError::Expired);
        }
        match &self.replay {
            Some(guard) => guard.check(message, from, envelope_hash, now),
            None => Ok(()),
        }
    }

    /// Decrypts one envelope layer with the first recipient key that is ours; returns the
    /// plaintext and the recipients' DID.
    async fn open_envelope(
        &self,
        env: &Envelope,
        meta: &mut UnpackMetadata,
    ) -> Result<(Vec<u8>, Did), DidcommError> {
        let kids: Vec<&str> = env.recipient_kids().collect();
        let rdid = did_of(kids[0])?;
        if kids.iter().any(|k| did_of(k).ok().as_ref() != Some(&rdid)) {
            return Err(DidcommError::Malformed(
                "the recipients' keys belong to several DIDs".into(),
            ));
        }
        let rdoc = self.document(&rdid).await?;
        let mut ours = None;
        for kid in &kids {
            let Ok(m) = Self::method_in(&rdoc, kid, Relationship::KeyAgreement) else {
                continue;
            };
            if let Some(key) = self.ours(&rdid, &m.key).await? {
                ours = Some((kid.to_string(), key));
                break;
            }
        }
        let (kid, key) = ours.ok_or(DidcommError::NotForUs)?;
        let sender = match &env.skid {
            Some(skid) if env.alg == KeyWrap::Ecdh1PuA256Kw => {
                let sdid = did_of(skid)?;
                let sdoc = self.document(&sdid).await?;
                let m = Self::method_in(&sdoc, skid, Relationship::KeyAgreement)?;
                Some(AgreementKey::from_public(&m.key)?)
            }
            _ => None,
        };
        let plaintext = self
            .with_agreement(&key, |secret| {
                Ok(env.decrypt(&kid, secret, sender.as_ref())?)
            })
            .await?;
        meta.encrypted = true;
        meta.encrypted_to = kids.iter().map(|k| k.to_string()).collect();
        meta.decrypted_with = Some(kid);
        if env.alg == KeyWrap::Ecdh1PuA256Kw {
            meta.authenticated = true;
            meta.encrypted_from = env.skid.clone();
            meta.enc_alg_auth = Some(format!("{}+{}", env.alg.name(), env.enc.name()));
            if meta.enc_alg_anon.is_some() {
                meta.anonymous_sender = true;
            }
        } else {
            meta.enc_alg_anon = Some(format!("{}+{}", env.alg.name(), env.enc.name()));
        }
        Ok((plaintext, rdid))
    }
}
