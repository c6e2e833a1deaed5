//! The DIDComm mediator: receives packed messages (HTTP `POST /didcomm`, WebSocket frames)
//! addressed to the server's DID, queues forwarded messages for the DIDs it mediates for,
//! and speaks the coordination and pickup protocols with them ([`coordination`],
//! [`pickup`]), trust ping, discover features and problem reports.
//!
//! Rules the handlers rely on:
//! - nothing is answered 2xx before what it stored is durable (the store's group commit),
//!   and a store failure is never answered 2xx;
//! - messages that act on a mediation or a queue must come from an authenticated sender
//!   (authcrypt or signed); an anonymous message claiming a `from` is refused with a
//!   problem report and changes nothing;
//! - replies go back on the same connection when the request says `return_route: all`
//!   (or `thread`); otherwise they are queued for the sender if it is mediated here, or
//!   sent through the outbox to the sender's own DIDComm endpoint;
//! - a forward for a DID another server mediates is relayed (through the outbox) only for
//!   an authenticated sender mediated here;
//! - a forward to a channel's recipient passes only from a bound peer ([`channels`]);
//! - a replayed message (sender and id, or an anonymous envelope's hash, within the
//!   window) is refused with `e.p.crypto.message.dejavu`.

pub mod channels;
mod coordination;
pub mod live;
pub mod outbox;
mod pickup;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sichat_core::Clock;
use sichat_core::didcomm::jwe;
use sichat_core::didcomm::jws;
use sichat_core::didcomm::message::Message;
use sichat_core::didcomm::protocols::{
    self, FORWARD, basic_message, coordinate_v2, coordinate_v3, discover_features, pickup as pu,
    problem_report, report_problem, trust_ping,
};
use sichat_core::didcomm::{DidcommError, PackOptions, Packer, ReplayGuard, UnpackMetadata};
use sichat_core::id::Did;
use sichat_core::store::{
    Changes, MessageQuota, MessageStore, QueuedMessage, StoreError, UnitOfWork,
};
use tokio::sync::mpsc;

use crate::store::SeaStore;
use live::LiveHub;

/// Forwards nested in forwards to this mediator, at most.
const MAX_FORWARD_DEPTH: usize = 3;
/// Attachments one forward may carry.
const MAX_FORWARD_ATTACHMENTS: usize = 16;
/// Messages forwarded to this mediator itself that one request may make it open, over all
/// nesting levels together.
const MAX_NESTED_OPENED: usize = 16;

/// The mediator's limits (from the configuration).
#[derive(Debug, Clone)]
pub struct MediatorSettings {
    /// This mediator's own HTTP endpoint (a route back to it is not a relay).
    pub endpoint: String,
    pub max_message_bytes: usize,
    pub quota: MessageQuota,
    pub ttl_ms: i64,
    pub replay_window_secs: u64,
    /// WebSocket sessions at once (they leave the HTTP connection cap when upgraded).
    pub max_sessions: usize,
    /// Messages handled at once (unpacking, handling, storing), over every transport.
    pub max_in_flight: usize,
}

/// Where a message arrived.
pub enum Transport<'a> {
    Http,
    WebSocket(&'a Session),
}

/// A WebSocket connection: the DID that spoke on it and whether it asked for live mode.
pub struct Session {
    pub id: u64,
    pub client: std::sync::Mutex<Option<Did>>,
    pub live: AtomicBool,
    /// Queued messages to push while live.
    pub tx: mpsc::Sender<QueuedMessage>,
}

impl Session {
    pub fn new(tx: mpsc::Sender<QueuedMessage>) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            client: std::sync::Mutex::new(None),
            live: AtomicBool::new(false),
            tx,
        }
    }
}

/// The answer to a received message.
#[derive(Debug)]
pub enum Outcome {
    /// Accepted; nothing to send back on this connection (HTTP 202, empty body).
    Accepted,
    /// A packed reply for this connection.
    Reply {
        body: String,
        media_type: &'static str,
    },
    /// Refused with a packed problem report (the HTTP status says why: 507 when the
    /// recipient's queue is full).
    Refused {
        status: u16,
        body: String,
        media_type: &'static str,
    },
}

/// Why a message got no DIDComm answer at all.
#[derive(Debug, thiserror::Error)]
pub enum MediatorError {
    #[error("the message is larger than {0} bytes")]
    TooLarge(usize),
    /// Unreadable: not for us, undecryptable, malformed, a broken sender binding.
    #[error("{0}")]
    Unreadable(DidcommError),
    /// The store failed: nothing was acknowledged.
    #[error("storage failed: {0}")]
    Storage(StoreError),
    /// Our own reply could not be packed.
    #[error("the reply could not be packed: {0}")]
    Reply(DidcommError),
}

/// A reply and whether the request asked for it on this connection.
struct Reply {
    message: Message,
    status: Option<u16>,
}

/// What the handling of one message produced.
#[derive(Default)]
struct Handled {
    replies: Vec<Reply>,
}

impl Handled {
    fn none() -> Self {
        Self::default()
    }
    fn reply(message: Message) -> Self {
        Self {
            replies: vec![Reply {
                message,
                status: None,
            }],
        }
    }
    fn refused(message: Message, status: u16) -> Self {
        Self {
            replies: vec![Reply {
                message,
                status: Some(status),
            }],
        }
    }
}

/// A received message, unpacked, with what is known of its sender.
pub struct Received {
    pub message: Message,
    pub meta: UnpackMetadata,
    /// The sender, when the envelope proved it (authcrypt or a signature).
    pub sender: Option<Did>,
}

pub struct Mediator {
    did: Did,
    packer: Packer,
    store: Arc<SeaStore>,
    clock: Arc<dyn Clock>,
    replay: ReplayGuard,
    settings: MediatorSettings,
    live: Arc<LiveHub>,
    sessions: Arc<tokio::sync::Semaphore>,
    /// Places for messages being handled ([`MediatorSettings::max_in_flight`]).
    in_flight: Arc<tokio::sync::Semaphore>,
    stop: tokio_util::sync::CancellationToken,
    outbox: Arc<outbox::Outbox>,
    channels: Arc<channels::Channels>,
    /// recipient DID → the mediated DID it belongs to (itself when mediated), or none.
    routes: ShortCache<Option<String>>,
}

/// What a mediator works with besides its store: the shutdown signal, the outbox to other
/// servers, the credential-bound channels.
pub struct MediatorDeps {
    pub stop: tokio_util::sync::CancellationToken,
    pub outbox: Arc<outbox::Outbox>,
    pub channels: Arc<channels::Channels>,
}

/// Lookups kept a short while: the route of a recipient DID and a recipient's channel are
/// read for every forward. Writes in this process forget what they change; another
/// instance's changes show within the TTL.
pub struct ShortCache<V> {
    ttl: std::time::Duration,
    capacity: usize,
    map: std::sync::Mutex<std::collections::HashMap<String, (std::time::Instant, V)>>,
}

impl<V: Clone> ShortCache<V> {
    pub fn new(ttl: std::time::Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity,
            map: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    pub fn get(&self, key: &str) -> Option<V> {
        let map = self.map.lock().ok()?;
        map.get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| v.clone())
    }

    pub fn put(&self, key: &str, value: V) {
        if let Ok(mut map) = self.map.lock() {
            if map.len() >= self.capacity {
                map.clear();
            }
            map.insert(key.to_owned(), (std::time::Instant::now(), value));
        }
    }

    pub fn forget(&self, key: &str) {
        if let Ok(mut map) = self.map.lock() {
            map.remove(key);
        }
    }

    pub fn clear(&self) {
        if let Ok(mut map) = self.map.lock() {
            map.clear();
        }
    }
}

/// How long a route or channel lookup is reused.
pub const LOOKUP_TTL: std::time::Duration = std::time::Duration::from_secs(2);

fn hex_sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Mediator {
    pub fn new(
        did: Did,
        packer: Packer,
        store: Arc<SeaStore>,
        clock: Arc<dyn Clock>,
        settings: MediatorSettings,
        deps: MediatorDeps,
    ) -> Self {
        let MediatorDeps {
            stop,
            outbox,
            channels,
        } = deps;
        Self {
            outbox,
            channels,
            routes: ShortCache::new(LOOKUP_TTL, 100_000),
            did,
            packer,
            store,
            clock,
            replay: ReplayGuard::new(settings.replay_window_secs, 1_000_000),
            sessions: Arc::new(tokio::sync::Semaphore::new(settings.max_sessions.max(1))),
            in_flight: Arc::new(tokio::sync::Semaphore::new(settings.max_in_flight.max(1))),
            settings,
            live: Arc::new(LiveHub::default()),
            stop,
        }
    }

    /// A place for one more WebSocket session, if there is room.
    pub fn session_permit(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.sessions.clone().try_acquire_owned().ok()
    }

    /// A place to handle one more message now, if there is one (HTTP: none is a 503).
    pub fn try_admit(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.in_flight.clone().try_acquire_owned().ok()
    }

    /// A place to handle one more message, once there is one (a WebSocket frame waits:
    /// its session reads nothing more meanwhile).
    pub async fn admit(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.in_flight.clone().acquire_owned().await.ok()
    }

    /// Cancelled when the server shuts down (sessions close).
    pub fn stop_token(&self) -> &tokio_util::sync::CancellationToken {
        &self.stop
    }

    pub fn did(&self) -> &Did {
        &self.did
    }

    pub fn settings(&self) -> &MediatorSettings {
        &self.settings
    }

    pub fn channels(&self) -> &Arc<channels::Channels> {
        &self.channels
    }

    pub fn outbox(&self) -> &Arc<outbox::Outbox> {
        &self.outbox
    }

    pub fn live(&self) -> &Arc<LiveHub> {
        &self.live
    }

    pub fn store(&self) -> &Arc<SeaStore> {
        &self.store
    }

    fn now_ms(&self) -> i64 {
        self.clock.now_millis()
    }

    /// Handles one packed message.
    pub async fn receive(
        &self,
        packed: &[u8],
        transport: Transport<'_>,
    ) -> Result<Outcome, MediatorError> {
        if packed.len() > self.settings.max_message_bytes {
            return Err(MediatorError::TooLarge(self.settings.max_message_bytes));
        }
        let (message, meta) = self
            .packer
            .unpack(packed)
            .await
            .map_err(MediatorError::Unreadable)?;
        let sender = if meta.authenticated {
            message.from_did()
        } else {
            None
        };
        if let (Transport::WebSocket(session), Some(sender)) = (&transport, &sender)
            && let Ok(mut client) = session.client.lock()
        {
            *client = Some(sender.clone());
        }
        let received = Received {
            message,
            meta,
            sender,
        };
        let now_secs = u64::try_from(self.now_ms() / 1000).unwrap_or(0);
        let handled = match self.replay.check(
            &received.message,
            received.sender.as_ref(),
            received.meta.envelope_hash,
            now_secs,
        ) {
            Err(e) => Handled::reply(self.problem(
                &received.message,
                e.problem_code(),
                "{1}",
                &[&e.to_string()],
            )),
            Ok(()) => {
                let opened = AtomicUsize::new(0);
                self.dispatch(&received, &transport, 0, &opened).await?
            }
        };
        self.answer(&received, handled).await
    }

    /// A problem report from this mediator about `about`.
    fn problem(&self, about: &Message, code: &str, comment: &str, args: &[&str]) -> Message {
        problem_report(Some(about), self.did.as_str(), code, comment, args)
    }

    fn dispatch<'a>(
        &'a self,
        r: &'a Received,
        transport: &'a Transport<'a>,
        depth: usize,
        opened: &'a AtomicUsize,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Handled, MediatorError>> + Send + 'a>,
    > {
        Box::pin(async move {
            let m = &r.message;
            let t = m.type_.as_str();
            let needs_sender = [coordinate_v2::PIURI, coordinate_v3::PIURI, pu::PIURI]
                .contains(&protocols::piuri_of(t));
            if needs_sender && r.sender.is_none() {
                return Ok(Handled::reply(self.problem(
                    m,
                    "e.p.trust",
                    "{1} must be authcrypted or signed by the DID it acts for",
                    &[t],
                )));
            }
            match t {
                FORWARD => self.forward(r, transport, depth, opened).await,
                coordinate_v2::MEDIATE_REQUEST
                | coordinate_v3::MEDIATE_REQUEST
                | coordinate_v2::KEYLIST_UPDATE
                | coordinate_v3::RECIPIENT_UPDATE
                | coordinate_v2::KEYLIST_QUERY
                | coordinate_v3::RECIPIENT_QUERY => coordination::handle(self, r).await,
                pu::STATUS_REQUEST
                | pu::DELIVERY_REQUEST
                | pu::MESSAGES_RECEIVED
                | pu::LIVE_DELIVERY_CHANGE => pickup::handle(self, r, transport).await,
                channels::REQUEST | channels::PRESENT => self.channels.handle(self, r).await,
                trust_ping::PING => Ok(self.ping(r)),
                discover_features::QUERIES => Ok(self.disclose(r)),
                basic_message::MESSAGE => {
                    if !m.body.get("content").is_some_and(Value::is_string) {
                        return Ok(Handled::reply(self.problem(
                            m,
                            "e.p.msg.invalid-body",
                            "The body of {1} needs `content`",
                            &[t],
                        )));
                    }
                    tracing::debug!(id = %m.id, "basic message addressed to the mediator itself");
                    Ok(Handled::none())
                }
                report_problem::PROBLEM_REPORT => {
                    tracing::debug!(id = %m.id, code = ?m.body.get("code"), "problem report received");
                    Ok(Handled::none())
                }
                _ => Ok(Handled::reply(self.problem(
                    m,
                    "e.p.msg.unsupported",
                    "Unsupported message type {1}",
                    &[t],
                ))),
            }
        })
    }

    fn ping(&self, r: &Received) -> Handled {
        let m = &r.message;
        // The spec's default is to respond.
        let wanted = m
            .body
            .get("response_requested")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        if !wanted || m.from.is_none() {
            return Handled::none();
        }
        Handled::reply(protocols::reply(
            m,
            trust_ping::PING_RESPONSE,
            self.did.as_str(),
            json!({}),
        ))
    }

    /// The protocols this mediator speaks, with its roles.
    const FEATURES: [(&'static str, &'static str); 10] = [
        (protocols::ROUTING_PIURI, "mediator"),
        (coordinate_v2::PIURI, "mediator"),
        (coordinate_v3::PIURI, "mediator"),
        (pu::PIURI, "mediator"),
        (trust_ping::PIURI, "receiver"),
        (discover_features::PIURI, "responder"),
        (basic_message::PIURI, "receiver"),
        (report_problem::PIURI, "receiver"),
        (protocols::out_of_band::PIURI, "sender"),
        (channels::PIURI, "verifier"),
    ];

    fn disclose(&self, r: &Received) -> Handled {
        let m = &r.message;
        let queries = m.body.get("queries").and_then(Value::as_array);
        let mut disclosures = Vec::new();
        for q in queries.into_iter().flatten().take(32) {
            let pattern = q.get("match").and_then(Value::as_str).unwrap_or_default();
            match q.get("feature-type").and_then(Value::as_str) {
                Some("protocol") => {
                    for (id, role) in Self::FEATURES {
                        if protocols::glob_match(pattern, id) {
                            disclosures.push(
                                json!({"feature-type": "protocol", "id": id, "roles": [role]}),
                            );
                        }
                    }
                }
                Some("constraint") if protocols::glob_match(pattern, "max_receive_bytes") => {
                    disclosures.push(
                        json!({"feature-type": "constraint", "id": "max_receive_bytes",
                        "max_receive_bytes": self.settings.max_message_bytes.to_string()}),
                    );
                }
                _ => {}
            }
        }
        Handled::reply(protocols::reply(
            m,
            discover_features::DISCLOSE,
            self.did.as_str(),
            json!({"disclosures": disclosures}),
        ))
    }

    /// Routing 2.0 `forward`: the attachments are queued for `next` (one of the DIDs
    /// mediated here, or one of their recipient DIDs); a forward to this mediator's own
    /// DID is opened and handled in turn (at most [`MAX_FORWARD_DEPTH`] deep).
    async fn forward(
        &self,
        r: &Received,
        transport: &Transport<'_>,
        depth: usize,
        opened: &AtomicUsize,
    ) -> Result<Handled, MediatorError> {
        let m = &r.message;
        let bad = |what: &str| {
            Ok(Handled::reply(self.problem(
                m,
                "e.p.msg.invalid-body",
                "Invalid forward: {1}",
                &[what],
            )))
        };
        let Some(next) = m.body.get("next").and_then(Value::as_str) else {
            return bad("`next` is missing");
        };
        let next = next.split_once('#').map_or(next, |(d, _)| d);
        let Ok(next) = Did::parse(next) else {
            return bad("`next` is not a DID");
        };
        let attachments = m.attachments.as_deref().unwrap_or_default();
        if attachments.is_empty() || attachments.len() > MAX_FORWARD_ATTACHMENTS {
            return bad("1 to 16 attachments");
        }
        let mut contents = Vec::with_capacity(attachments.len());
        let is_jwe = |v: &Value| v.get("ciphertext").is_some() && v.get("protected").is_some();
        for a in attachments {
            // Inline JSON is checked as it was parsed (not serialized and parsed again).
            let (content, jwe) = match (&a.data.json, a.content()) {
                (Some(json), Some(content)) => (content, is_jwe(json)),
                (None, Some(content)) => {
                    let jwe = serde_json::from_slice::<Value>(&content).is_ok_and(|v| is_jwe(&v));
                    (content, jwe)
                }
                (_, None) => return bad("an attachment has no inline content"),
            };
            if !jwe {
                return bad("an attachment is not an encrypted message");
            }
            if content.len() > self.settings.max_message_bytes {
                return Err(MediatorError::TooLarge(self.settings.max_message_bytes));
            }
            contents.push(content);
        }
        if next == self.did {
            if depth + 1 >= MAX_FORWARD_DEPTH {
                return Ok(Handled::reply(self.problem(
                    m,
                    "e.p.req.max-forward-depth",
                    "Forwards are nested more than {1} deep",
                    &[&MAX_FORWARD_DEPTH.to_string()],
                )));
            }
            if opened.fetch_add(contents.len(), Ordering::Relaxed) + contents.len()
                > MAX_NESTED_OPENED
            {
                return Ok(Handled::reply(self.problem(
                    m,
                    "e.p.req.max-forward-depth",
                    "A request may carry at most {1} messages forwarded to this mediator",
                    &[&MAX_NESTED_OPENED.to_string()],
                )));
            }
            let mut handled = Handled::none();
            for content in contents {
                let (message, meta) = self
                    .packer
                    .unpack(&content)
                    .await
                    .map_err(MediatorError::Unreadable)?;
                let sender = meta.authenticated.then(|| message.from_did()).flatten();
                let inner = Received {
                    message,
                    meta,
                    sender,
                };
                let more = self.dispatch(&inner, transport, depth + 1, opened).await?;
                handled.replies.extend(more.replies);
            }
            return Ok(handled);
        }
        if let Err(refusal) = self
            .channels
            .admit(next.as_str(), r.sender.as_ref())
            .await?
        {
            return Ok(Handled::reply(self.problem(
                m,
                refusal.code,
                "{1}",
                &[&refusal.comment],
            )));
        }
        let routed = self.route_of(next.as_str()).await?;
        if routed.is_none() {
            // Relaying is for the DIDs mediated here (their outbound messages), never for
            // anonymous senders: this is not an open relay.
            let sender_mediated = match &r.sender {
                Some(sender) => self.route_of(sender.as_str()).await?.is_some(),
                None => false,
            };
            if !sender_mediated {
                return Ok(Handled::reply(self.problem(
                    m,
                    "e.p.req.not_enroll",
                    "The DID '{1}' is not enroled.",
                    &[next.as_str()],
                )));
            }
            return match self.relay(&next, &contents).await? {
                true => Ok(Handled::none()),
                false => Ok(Handled::reply(self.problem(
                    m,
                    "e.p.req.not_enroll",
                    "The DID '{1}' is not enroled.",
                    &[next.as_str()],
                ))),
            };
        }
        let now = self.now_ms();
        let queued: Vec<QueuedMessage> = contents
            .into_iter()
            .map(|content| QueuedMessage {
                recipient: next.to_string(),
                id: hex_sha256(&content),
                // Invariant: checked to be a JSON object above, so UTF-8.
                message: String::from_utf8(content).unwrap_or_default(),
                received_at: now,
                expires_at: now.saturating_add(self.settings.ttl_ms),
            })
            .collect();
        match self.enqueue(&queued).await {
            Ok(()) => Ok(Handled::none()),
            Err(StoreError::QuotaExceeded(_)) => Ok(Handled::refused(
                self.problem(
                    m,
                    "e.p.me.res.storage",
                    "The queue of {1} is full",
                    &[next.as_str()],
                ),
                507,
            )),
            Err(e) => Err(MediatorError::Storage(e)),
        }
    }

    /// The mediated DID a recipient belongs to (itself if mediated), if any.
    async fn route_of(&self, recipient: &str) -> Result<Option<String>, MediatorError> {
        if let Some(hit) = self.routes.get(recipient) {
            return Ok(hit);
        }
        let found = match self
            .store
            .client_of(recipient)
            .await
            .map_err(MediatorError::Storage)?
        {
            Some(client) => Some(client),
            None => self
                .store
                .get_mediation(recipient)
                .await
                .map_err(MediatorError::Storage)?
                .map(|m| m.client),
        };
        self.routes.put(recipient, found.clone());
        Ok(found)
    }

    /// Forgets the cached route of `did` (after this process changed it).
    pub fn route_changed(&self, did: &str) {
        self.routes.forget(did);
    }

    /// Relays forwarded messages for `next`, a DID another server mediates: each wrapped
    /// for that server's routing keys and kept in the outbox (durable on return). `false`
    /// when `next` has no reachable DIDComm endpoint other than this one.
    async fn relay(&self, next: &Did, contents: &[Vec<u8>]) -> Result<bool, MediatorError> {
        let route = match self.packer.route_for(next).await {
            Ok(Some(route)) => route,
            Ok(None) | Err(_) => return Ok(false),
        };
        let uri = route.uri.trim_end_matches('/');
        if !(uri.starts_with("https://") || uri.starts_with("http://"))
            || uri == self.settings.endpoint
        {
            return Ok(false);
        }
        let mut rows = Vec::with_capacity(contents.len());
        for content in contents {
            let text = String::from_utf8_lossy(content).into_owned();
            let packed = if route.routing_keys.is_empty() {
                text
            } else {
                self.packer
                    .wrap_in_forwards(
                        text,
                        next.as_str(),
                        &route.routing_keys,
                        jwe::ContentEnc::Xc20p,
                    )
                    .await
                    .map_err(MediatorError::Reply)?
            };
            rows.push((next.to_string(), route.uri.clone(), packed));
        }
        self.outbox
            .keep(&rows, self.settings.ttl_ms)
            .await
            .map_err(MediatorError::Storage)?;
        Ok(true)
    }

    /// Queues messages (durable when this returns) and nudges live sessions.
    pub async fn enqueue(&self, messages: &[QueuedMessage]) -> Result<(), StoreError> {
        let mut changes = Changes::new();
        for q in messages {
            changes = changes.enqueue(q.clone(), self.settings.quota);
        }
        self.store.save_changes(&changes).await?;
        for q in messages {
            self.live.notify(q);
        }
        Ok(())
    }

    /// Packs a message from this mediator for its `to` (authcrypt), or signs it when it
    /// has no reachable recipient (an anonymous sender).
    pub async fn pack(
        &self,
        message: &Message,
        authenticated_to: Option<&Did>,
    ) -> Result<(String, &'static str), DidcommError> {
        match authenticated_to {
            Some(to) => {
                let packed = self
                    .packer
                    .pack_encrypted(
                        message,
                        to.as_str(),
                        Some(self.did.as_str()),
                        None,
                        PackOptions {
                            forward: false,
                            ..PackOptions::default()
                        },
                    )
                    .await?;
                Ok((packed.packed, jwe::TYP))
            }
            None => {
                let (signed, _) = self.packer.pack_signed(message, self.did.as_str()).await?;
                Ok((signed, jws::TYP))
            }
        }
    }

    /// Sends the replies where they belong (see the module documentation).
    async fn answer(&self, r: &Received, handled: Handled) -> Result<Outcome, MediatorError> {
        let return_route = matches!(r.message.header_str("return_route"), Some("all" | "thread"));
        let mut outcome = Outcome::Accepted;
        for reply in handled.replies {
            // A reply reaches an authenticated sender encrypted; anything else is signed.
            let to = r.sender.as_ref().filter(|s| {
                reply
                    .message
                    .to
                    .as_ref()
                    .is_some_and(|to| to.iter().any(|t| t == s.as_str()))
            });
            let sync = return_route || reply.status.is_some() || to.is_none();
            if !sync {
                if let Some(sender) = to
                    && self
                        .is_mediated(sender)
                        .await
                        .map_err(MediatorError::Storage)?
                {
                    let (body, _) = self
                        .pack(&reply.message, Some(sender))
                        .await
                        .map_err(MediatorError::Reply)?;
                    let now = self.now_ms();
                    let q = QueuedMessage {
                        recipient: sender.to_string(),
                        id: hex_sha256(body.as_bytes()),
                        message: body,
                        received_at: now,
                        expires_at: now.saturating_add(self.settings.ttl_ms),
                    };
                    match self.enqueue(&[q]).await {
                        Ok(()) | Err(StoreError::QuotaExceeded(_)) => {}
                        Err(e) => return Err(MediatorError::Storage(e)),
                    }
                } else if let Some(sender) = to {
                    self.send_away(&reply.message, sender).await?;
                }
                continue;
            }
            if !matches!(outcome, Outcome::Accepted) {
                // One reply per HTTP exchange; WebSocket sessions send more in turn.
                continue;
            }
            let (body, media_type) = self
                .pack(&reply.message, to)
                .await
                .map_err(MediatorError::Reply)?;
            outcome = match reply.status {
                Some(status) => Outcome::Refused {
                    status,
                    body,
                    media_type,
                },
                None => Outcome::Reply { body, media_type },
            };
        }
        Ok(outcome)
    }

    /// Follows the messages other instances queue (PostgreSQL `LISTEN`), pushing those
    /// for this instance's live sessions; reconnects after a failure until `stop`.
    pub async fn follow_other_instances(
        self: Arc<Self>,
        stop: tokio_util::sync::CancellationToken,
    ) {
        use crate::store::didcomm::{NOTIFY_CHANNEL, find};
        use sea_orm::sqlx::postgres::PgListener;
        while !stop.is_cancelled() {
            let pool = self.store.db().get_postgres_connection_pool();
            let mut listener = match PgListener::connect_with(pool).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for other instances' messages");
                    tokio::select! {
                        _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => continue,
                        _ = stop.cancelled() => return,
                    }
                }
            };
            if let Err(e) = listener.listen(NOTIFY_CHANNEL).await {
                tracing::warn!(error = %e, "LISTEN failed");
                continue;
            }
            loop {
                let note = tokio::select! {
                    n = listener.recv() => n,
                    _ = stop.cancelled() => return,
                };
                let Ok(note) = note else {
                    break;
                };
                let Ok(v) = serde_json::from_str::<Value>(note.payload()) else {
                    continue;
                };
                let (Some(r), Some(id)) = (v["r"].as_str(), v["m"].as_str()) else {
                    continue;
                };
                // Our own announcements were pushed already (the hub skips them).
                if !self.live.is_live(r) {
                    continue;
                }
                match find(self.store.db(), r, id).await {
                    Ok(Some(q)) => self.live.notify(&q),
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "an announced message could not be read"),
                }
            }
        }
    }

    /// Sends a reply to a sender that did not ask for it on the connection and is not
    /// mediated here: packed for it (through its mediators' forwards) and kept in the
    /// outbox for its DIDComm endpoint. A sender without a reachable endpoint gets none.
    async fn send_away(&self, message: &Message, to: &Did) -> Result<(), MediatorError> {
        let packed = match self
            .packer
            .pack_encrypted(
                message,
                to.as_str(),
                Some(self.did.as_str()),
                None,
                PackOptions::default(),
            )
            .await
        {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!(%to, error = %e, "reply dropped: the sender cannot be reached");
                return Ok(());
            }
        };
        match packed.service_uri {
            Some(uri)
                if (uri.starts_with("https://") || uri.starts_with("http://"))
                    && uri.trim_end_matches('/') != self.settings.endpoint =>
            {
                self.outbox
                    .keep(
                        &[(to.to_string(), uri, packed.packed)],
                        self.settings.ttl_ms,
                    )
                    .await
                    .map_err(MediatorError::Storage)
            }
            _ => {
                tracing::debug!(%to, "reply dropped: no return route and no DIDComm endpoint");
                Ok(())
            }
        }
    }

    pub async fn is_mediated(&self, did: &Did) -> Result<bool, StoreError> {
        Ok(self.store.get_mediation(did.as_str()).await?.is_some())
    }

    /// An out-of-band invitation to request mediation from this mediator.
    pub fn invitation(&self) -> Message {
        protocols::out_of_band::invitation(self.did.as_str(), "request-mediate", "RequestMediate")
    }

    /// A `delivery` of queued messages to `client` (pickup 3.0; also what live mode pushes).
    pub fn delivery(
        &self,
        client: &Did,
        thid: Option<&str>,
        recipient_did: Option<&str>,
        messages: &[QueuedMessage],
    ) -> Message {
        let mut m = Message::new(pu::DELIVERY, json!({}));
        if let Some(r) = recipient_did {
            m.body = json!({"recipient_did": r});
        }
        m.from = Some(self.did.to_string());
        m.to = Some(vec![client.to_string()]);
        m.thid = thid.map(str::to_owned);
        m.attachments = Some(
            messages
                .iter()
                .map(|q| {
                    let json: Value = serde_json::from_str(&q.message).unwrap_or(Value::Null);
                    sichat_core::didcomm::Attachment::json(Some(q.id.clone()), json)
                })
                .collect(),
        );
        m
    }
}
