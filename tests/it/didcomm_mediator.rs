//! The DIDComm mediator end to end over HTTP and WebSocket: mediation (coordinate-mediation
//! 2.0 and 3.0), forwards queued for a mediated recipient, pickup 3.0, live delivery, and
//! each refusal (anonymous requests claiming a sender, unknown recipients, replays,
//! quotas, sizes, media types, a failing store never answered 2xx).

use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use sichat_core::clock::SystemClock;
use sichat_core::did::peer::{Purpose, create_peer2};
use sichat_core::did::{DidDocument, DidResolver, Resolution, ResolveError, StandardResolver};
use sichat_core::didcomm::protocols::{
    FORWARD, basic_message, coordinate_v2, coordinate_v3, discover_features, pickup, trust_ping,
};
use sichat_core::didcomm::{Message, OwnerKeys, PackOptions, Packer};
use sichat_core::id::{Did, Owner};
use sichat_core::keys::{Kek, KeyService, KeyType, PublicKey};
use sichat_core::store::{MemoryStore, MessageStore};

use crate::common::{TestServer, assert_problem};

/// A party with its own keys, resolving through the server's resolver (the server's
/// did:web from its identity service, did:peer computed).
struct Party {
    packer: Packer,
    keys: Arc<KeyService<MemoryStore>>,
}

impl Party {
    fn new(server: &TestServer) -> Self {
        Self::with_resolver(server.services.resolver.clone())
    }

    fn with_resolver(resolver: Arc<dyn DidResolver>) -> Self {
        let clock = Arc::new(SystemClock);
        let keys = Arc::new(KeyService::new(
            MemoryStore::new(),
            Kek::generate(),
            clock.clone(),
        ));
        let packer = Packer::new(
            resolver,
            Arc::new(OwnerKeys::new(keys.clone(), Owner::Server)),
            clock,
        );
        Self { packer, keys }
    }

    async fn peer_did(&self, services: &[Value]) -> Did {
        let mut keys = Vec::new();
        for t in [KeyType::X25519, KeyType::Ed25519] {
            let info = self.keys.generate(&Owner::Server, t).await.unwrap();
            keys.push(PublicKey::from_multibase(&info.public_key_multibase).unwrap());
        }
        create_peer2(
            &[
                (Purpose::Encryption, &keys[0]),
                (Purpose::Verification, &keys[1]),
            ],
            services,
        )
    }
}

fn server_did(server: &TestServer) -> Did {
    server.services.identity.server_did().clone()
}

/// A request to the mediator from `from`, asking for the reply on this connection.
fn request(server: &TestServer, from: &Did, kind: &str, body: Value) -> Message {
    let mut m = Message::new(kind, body);
    m.from = Some(from.to_string());
    m.to = Some(vec![server_did(server).to_string()]);
    m.extra.insert("return_route".into(), json!("all"));
    m
}

async fn post_raw(server: &TestServer, body: String, content_type: &str) -> reqwest::Response {
    server
        .client
        .post(server.url("/didcomm"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

/// Authcrypts `m` from its `from` to the server, posts it, and unpacks the reply.
async fn ask(server: &TestServer, party: &Party, m: &Message) -> (u16, Option<Message>) {
    ask_at(&server.client, &server.base, &server_did(server), party, m).await
}

async fn ask_at(
    client: &reqwest::Client,
    base: &str,
    server_did: &Did,
    party: &Party,
    m: &Message,
) -> (u16, Option<Message>) {
    let packed = party
        .packer
        .pack_encrypted(
            m,
            server_did.as_str(),
            m.from.as_deref(),
            None,
            PackOptions::default(),
        )
        .await
        .unwrap();
    let resp = client
        .post(format!("{base}/didcomm"))
        .header("content-type", "application/didcomm-encrypted+json")
        .body(packed.packed)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body = resp.bytes().await.unwrap();
    if body.is_empty() {
        return (status, None);
    }
    let (reply, meta) = party
        .packer
        .unpack(&body)
        .await
        .unwrap_or_else(|e| panic!("{status} {}: {e}", String::from_utf8_lossy(&body)));
    assert_eq!(reply.from.as_deref(), Some(server_did.as_str()));
    assert!(meta.authenticated);
    (status, Some(reply))
}

/// Bob: mediated (2.0), with a second DID `inbox` whose service is the mediator, registered
/// as his recipient.
async fn mediated_bob(server: &TestServer) -> (Party, Did, Did) {
    let bob = Party::new(server);
    let b = bob.peer_did(&[]).await;
    let (status, grant) = ask(
        server,
        &bob,
        &request(server, &b, coordinate_v2::MEDIATE_REQUEST, json!({})),
    )
    .await;
    assert_eq!(status, 200);
    let grant = grant.unwrap();
    assert_eq!(grant.type_, coordinate_v2::MEDIATE_GRANT);
    assert_eq!(
        grant.body,
        json!({"routing_did": server_did(server).as_str()})
    );
    let inbox = bob
        .peer_did(&[json!({"type":"DIDCommMessaging","serviceEndpoint":{"uri": server_did(server).as_str(),"accept":["didcomm/v2"]}})])
        .await;
    let (_, update) = ask(
        server,
        &bob,
        &request(
            server,
            &b,
            coordinate_v2::KEYLIST_UPDATE,
            json!({"updates":[{"recipient_did": inbox.as_str(), "action":"add"}]}),
        ),
    )
    .await;
    assert_eq!(
        update.unwrap().body,
        json!({"updated":[{"recipient_did": inbox.as_str(), "action":"add", "result":"success"}]})
    );
    (bob, b, inbox)
}

/// A server started with `opts`, Bob mediated there (his inbox DID), and Alice with a
/// did:peer:2 of her own.
async fn server_with_bob_and_alice(opts: crate::common::Options) -> (TestServer, Did, Party, Did) {
    let server = TestServer::spawn_with(opts).await;
    let (_bob, _b, inbox) = mediated_bob(&server).await;
    let alice = Party::new(&server);
    let a = alice.peer_did(&[]).await;
    (server, inbox, alice, a)
}

/// Alice writes `msg` (to an inbox the mediator serves) through the mediator: packed for
/// the inbox (forwarded per its service), authcrypted from `msg.from`; the response.
async fn send_through(server: &TestServer, alice: &Party, msg: &Message) -> reqwest::Response {
    let to = msg.to.as_ref().unwrap()[0].clone();
    let p = alice
        .packer
        .pack_encrypted(msg, &to, msg.from.as_deref(), None, PackOptions::default())
        .await
        .unwrap();
    post_raw(server, p.packed, "application/didcomm-encrypted+json").await
}

/// `hello(from, to, text)` packed by `party` for `to`: authcrypted from `from`, or
/// anoncrypted; `forward`: also wrapped in a forward along `to`'s mediator.
async fn packed_hello(
    party: &Party,
    from: &Did,
    to: &Did,
    text: &str,
    authenticated: bool,
    forward: bool,
) -> String {
    party
        .packer
        .pack_encrypted(
            &hello(from, to, text),
            to.as_str(),
            authenticated.then_some(from.as_str()),
            None,
            PackOptions {
                forward,
                ..PackOptions::default()
            },
        )
        .await
        .unwrap()
        .packed
}

fn hello(from: &Did, to: &Did, text: &str) -> Message {
    let mut m = Message::new(basic_message::MESSAGE, json!({"content": text}));
    m.from = Some(from.to_string());
    m.to = Some(vec![to.to_string()]);
    m
}

#[tokio::test]
async fn the_server_document_advertises_the_mediator_over_http_and_websocket() {
    let server = TestServer::spawn().await;
    let doc = server.services.identity.server_document().await.unwrap();
    let json = doc.resolution.document.as_json();
    let services = json["service"].as_array().unwrap();
    assert_eq!(services[0]["type"], "DIDCommMessaging");
    assert_eq!(
        services[0]["serviceEndpoint"]["uri"],
        server.url("/didcomm")
    );
    assert_eq!(
        services[1]["serviceEndpoint"]["uri"],
        server.url("/didcomm/ws").replace("http://", "ws://")
    );
    assert!(!json["keyAgreement"].as_array().unwrap().is_empty());
    // The out-of-band invitation, as JSON and as a URL.
    let (status, inv) = server.get_json("/didcomm/invitation").await;
    assert_eq!(status, 200);
    assert_eq!(
        inv["type"],
        "https://didcomm.org/out-of-band/2.0/invitation"
    );
    assert_eq!(inv["from"], server_did(&server).as_str());
    assert_eq!(inv["body"]["goal_code"], "request-mediate");
    let url = server
        .get("/didcomm/invitation/url")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        url.starts_with(&server.url("/didcomm/invitation?_oob=")),
        "{url}"
    );
    let parsed = sichat_core::didcomm::protocols::out_of_band::from_url(&url).unwrap();
    assert_eq!(parsed.from.as_deref(), Some(server_did(&server).as_str()));
}

#[tokio::test]
async fn three_parties_through_the_mediator_over_http() {
    let server = TestServer::spawn().await;
    let (bob, b, inbox) = mediated_bob(&server).await;
    // Alice knows only Bob's inbox DID: packing follows its service to the mediator.
    let alice = Party::new(&server);
    let a = alice.peer_did(&[]).await;
    let sent = hello(&a, &inbox, "hello through the mediator");
    let packed = alice
        .packer
        .pack_encrypted(
            &sent,
            inbox.as_str(),
            Some(a.as_str()),
            Some(a.as_str()),
            PackOptions::default(),
        )
        .await
        .unwrap();
    assert!(packed.forwarded);
    assert_eq!(
        packed.service_uri.as_deref(),
        Some(server.url("/didcomm").as_str())
    );
    let resp = post_raw(
        &server,
        packed.packed.clone(),
        "application/didcomm-encrypted+json",
    )
    .await;
    assert_eq!(resp.status().as_u16(), 202);
    assert!(resp.bytes().await.unwrap().is_empty());

    // Bob's status, delivery, acknowledgement.
    let (_, status) = ask(
        &server,
        &bob,
        &request(
            &server,
            &b,
            pickup::STATUS_REQUEST,
            json!({"recipient_did": inbox.as_str()}),
        ),
    )
    .await;
    let status = status.unwrap();
    assert_eq!(status.type_, pickup::STATUS);
    assert_eq!(status.body["message_count"], 1);
    assert_eq!(status.body["recipient_did"], inbox.as_str());
    let req = request(&server, &b, pickup::DELIVERY_REQUEST, json!({"limit": 10}));
    let (_, delivery) = ask(&server, &bob, &req).await;
    let delivery = delivery.unwrap();
    assert_eq!(delivery.type_, pickup::DELIVERY);
    assert_eq!(delivery.thid.as_deref(), Some(req.id.as_str()));
    let attachments = delivery.attachments.unwrap();
    assert_eq!(attachments.len(), 1);
    let (got, meta) = bob
        .packer
        .unpack(&attachments[0].content().unwrap())
        .await
        .unwrap();
    assert_eq!(got, sent);
    assert!(meta.authenticated && meta.non_repudiation);
    // Not acknowledged yet: delivered again.
    let (_, again) = ask(
        &server,
        &bob,
        &request(&server, &b, pickup::DELIVERY_REQUEST, json!({"limit": 10})),
    )
    .await;
    assert_eq!(again.unwrap().attachments.unwrap()[0].id, attachments[0].id);
    let id = attachments[0].id.clone().unwrap();
    let (_, after) = ask(
        &server,
        &bob,
        &request(
            &server,
            &b,
            pickup::MESSAGES_RECEIVED,
            json!({"message_id_list": [id]}),
        ),
    )
    .await;
    let after = after.unwrap();
    assert_eq!(after.type_, pickup::STATUS);
    assert_eq!(after.body["message_count"], 0);
    // An empty queue answers a delivery request with a status.
    let (_, empty) = ask(
        &server,
        &bob,
        &request(&server, &b, pickup::DELIVERY_REQUEST, json!({"limit": 1})),
    )
    .await;
    assert_eq!(empty.unwrap().type_, pickup::STATUS);

    // keylist-query, then remove (and again: no_change); 3.0 names.
    let (_, list) = ask(
        &server,
        &bob,
        &request(
            &server,
            &b,
            coordinate_v2::KEYLIST_QUERY,
            json!({"paginate":{"limit":2,"offset":0}}),
        ),
    )
    .await;
    assert_eq!(
        list.unwrap().body,
        json!({"keys":[{"recipient_did": inbox.as_str()}]})
    );
    let (_, v3) = ask(
        &server,
        &bob,
        &request(&server, &b, coordinate_v3::RECIPIENT_QUERY, json!({})),
    )
    .await;
    assert_eq!(
        v3.unwrap().body,
        json!({"dids":[{"recipient_did": inbox.as_str()}]})
    );
    for result in ["success", "no_change"] {
        let (_, r) = ask(
            &server,
            &bob,
            &request(
                &server,
                &b,
                coordinate_v3::RECIPIENT_UPDATE,
                json!({"updates":[{"recipient_did": inbox.as_str(), "action":"remove"}]}),
            ),
        )
        .await;
        let r = r.unwrap();
        assert_eq!(r.type_, coordinate_v3::RECIPIENT_UPDATE_RESPONSE);
        assert_eq!(r.body["updated"][0]["result"], result);
    }
    // A 3.0 grant carries a list.
    let carol = Party::new(&server);
    let c = carol.peer_did(&[]).await;
    let (_, grant) = ask(
        &server,
        &carol,
        &request(&server, &c, coordinate_v3::MEDIATE_REQUEST, json!({})),
    )
    .await;
    assert_eq!(
        grant.unwrap().body,
        json!({"routing_did": [server_did(&server).as_str()]})
    );
    // Now that the inbox is removed, a forward to it is refused (signed, not stored).
    let again = packed_hello(&alice, &a, &inbox, "late", true, true).await;
    let resp = post_raw(&server, again, "application/didcomm-encrypted+json").await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "application/didcomm-signed+json"
    );
    let (report, _) = alice
        .packer
        .unpack(&resp.bytes().await.unwrap())
        .await
        .unwrap();
    assert_eq!(report.body["code"], "e.p.req.not_enroll");
}

#[tokio::test]
async fn ping_discover_features_and_unsupported_types() {
    let server = TestServer::spawn().await;
    let alice = Party::new(&server);
    let a = alice.peer_did(&[]).await;
    let ping = request(
        &server,
        &a,
        trust_ping::PING,
        json!({"response_requested": true}),
    );
    let (_, pong) = ask(&server, &alice, &ping).await;
    let pong = pong.unwrap();
    assert_eq!(pong.type_, trust_ping::PING_RESPONSE);
    assert_eq!(pong.thid.as_deref(), Some(ping.id.as_str()));
    assert_eq!(pong.to, Some(vec![a.to_string()]));
    // No return route: nothing comes back on this connection (Alice is not mediated here).
    let mut quiet = ping.clone();
    quiet.id = "another".into();
    quiet.extra.remove("return_route");
    assert_eq!(ask(&server, &alice, &quiet).await, (202, None));

    let (_, disclose) = ask(&server, &alice, &request(&server, &a, discover_features::QUERIES,
        json!({"queries":[{"feature-type":"protocol","match":"https://didcomm.org/messagepickup/*"},
                          {"feature-type":"constraint","match":"max_receive_bytes"},
                          {"feature-type":"goal-code","match":"*"}]}))).await;
    let disclose = disclose.unwrap();
    assert_eq!(disclose.type_, discover_features::DISCLOSE);
    assert_eq!(
        disclose.body["disclosures"],
        json!([{"feature-type":"protocol","id":"https://didcomm.org/messagepickup/3.0","roles":["mediator"]},
               {"feature-type":"constraint","id":"max_receive_bytes","max_receive_bytes":"262144"}])
    );
    for (kind, body, code) in [
        (
            "https://didcomm.org/unsupported-protocol",
            json!({}),
            "e.p.msg.unsupported",
        ),
        (
            "https://didcomm.org/basicmessage/100.0/message",
            json!({"content":"x"}),
            "e.p.msg.unsupported",
        ),
        (
            basic_message::MESSAGE,
            json!({"incorrect":"message"}),
            "e.p.msg.invalid-body",
        ),
        (pickup::STATUS_REQUEST, json!({}), "e.p.req.not_enroll"),
        (
            coordinate_v2::KEYLIST_QUERY,
            json!({}),
            "e.p.req.not_enroll",
        ),
    ] {
        let m = request(&server, &a, kind, body);
        let (status, report) = ask(&server, &alice, &m).await;
        let report = report.unwrap();
        assert_eq!(status, 200, "{kind}");
        assert_eq!(report.body["code"], code, "{kind}");
        assert_eq!(report.pthid.as_deref(), Some(m.id.as_str()), "{kind}");
    }
}

#[tokio::test]
async fn anonymous_claims_replays_and_bad_requests_are_refused() {
    let server = TestServer::spawn().await;
    let (bob, b, inbox) = mediated_bob(&server).await;
    let mallory = Party::new(&server);
    let mal = mallory.peer_did(&[]).await;
    // Anoncrypt claiming to be Bob: refused with a problem report, nothing changes.
    let claim = request(
        &server,
        &b,
        coordinate_v2::KEYLIST_UPDATE,
        json!({"updates":[{"recipient_did": inbox.as_str(), "action":"remove"}]}),
    );
    let packed = mallory
        .packer
        .pack_encrypted(
            &claim,
            server_did(&server).as_str(),
            None,
            None,
            PackOptions::default(),
        )
        .await
        .unwrap();
    let resp = post_raw(&server, packed.packed, "application/didcomm-encrypted+json").await;
    assert_eq!(resp.status().as_u16(), 200);
    let (report, _) = mallory
        .packer
        .unpack(&resp.bytes().await.unwrap())
        .await
        .unwrap();
    assert_eq!(report.body["code"], "e.p.trust");
    assert_eq!(
        server
            .services
            .store
            .client_of(inbox.as_str())
            .await
            .unwrap()
            .as_deref(),
        Some(b.as_str())
    );
    // Mallory cannot mediate as Bob by authcrypting with her key and `from` Bob: the
    // packer refuses, and a hand-made one fails the binding (tested in didcomm_pack).
    // Pickup by Mallory (mediated) for Bob's inbox: not hers.
    ask(
        &server,
        &mallory,
        &request(&server, &mal, coordinate_v2::MEDIATE_REQUEST, json!({})),
    )
    .await;
    let (_, r) = ask(
        &server,
        &mallory,
        &request(
            &server,
            &mal,
            pickup::DELIVERY_REQUEST,
            json!({"limit": 5, "recipient_did": inbox.as_str()}),
        ),
    )
    .await;
    assert_eq!(r.unwrap().body["code"], "e.p.req.not_enroll");

    // Replay: the identical envelope twice.
    let m = request(&server, &b, trust_ping::PING, json!({}));
    let packed = bob
        .packer
        .pack_encrypted(
            &m,
            server_did(&server).as_str(),
            Some(b.as_str()),
            None,
            PackOptions::default(),
        )
        .await
        .unwrap();
    let first = post_raw(
        &server,
        packed.packed.clone(),
        "application/didcomm-encrypted+json",
    )
    .await;
    assert_eq!(first.status().as_u16(), 200);
    let second = post_raw(
        &server,
        packed.packed.clone(),
        "application/didcomm-encrypted+json",
    )
    .await;
    let (report, _) = bob
        .packer
        .unpack(&second.bytes().await.unwrap())
        .await
        .unwrap();
    assert_eq!(report.body["code"], "e.p.crypto.message.dejavu");

    // Live mode is refused over HTTP.
    let (_, r) = ask(
        &server,
        &bob,
        &request(
            &server,
            &b,
            pickup::LIVE_DELIVERY_CHANGE,
            json!({"live_delivery": true}),
        ),
    )
    .await;
    assert_eq!(r.unwrap().body["code"], "e.m.live-mode-not-supported");

    // Transport-level refusals: problem+json.
    let resp = post_raw(&server, packed.packed.clone(), "application/json").await;
    assert_problem(resp, 415, "unsupported-media-type").await;
    let resp = post_raw(
        &server,
        "x".repeat(300 * 1024),
        "application/didcomm-encrypted+json",
    )
    .await;
    assert_problem(resp, 413, "payload-too-large").await;
    let body = assert_problem(
        post_raw(&server, "{}".into(), "application/didcomm-encrypted+json").await,
        400,
        "didcomm-unreadable",
    )
    .await;
    assert_eq!(body["code"], "e.p.msg");
    // A message for another DID (Alice's) is unreadable here.
    let alice = Party::new(&server);
    let a = alice.peer_did(&[]).await;
    let for_alice = packed_hello(&bob, &b, &a, "hi", true, true).await;
    let body = assert_problem(
        post_raw(&server, for_alice, "application/didcomm-encrypted+json").await,
        400,
        "didcomm-unreadable",
    )
    .await;
    assert_eq!(body["code"], "e.p.trust.crypto");
    // A forward whose attachment is not an encrypted message.
    let mut fwd = Message::new(FORWARD, json!({"next": inbox.as_str()}));
    fwd.attachments = Some(vec![sichat_core::didcomm::Attachment::json(
        None,
        json!({"hello": "plaintext"}),
    )]);
    fwd.extra.insert("return_route".into(), json!("all"));
    let packed = alice
        .packer
        .pack_encrypted(
            &fwd,
            server_did(&server).as_str(),
            None,
            None,
            PackOptions::default(),
        )
        .await
        .unwrap();
    let resp = post_raw(&server, packed.packed, "application/didcomm-encrypted+json").await;
    let (report, _) = alice
        .packer
        .unpack(&resp.bytes().await.unwrap())
        .await
        .unwrap();
    assert_eq!(report.body["code"], "e.p.msg.invalid-body");
}

#[tokio::test]
async fn a_full_queue_is_refused_with_507_and_a_failing_store_is_never_2xx() {
    let (server, inbox, alice, a) = server_with_bob_and_alice(
        crate::common::Options::default().with("SICHAT_DIDCOMM_QUEUE_MAX_MESSAGES", "2"),
    )
    .await;
    let send = |text: &'static str| {
        let (alice, a, inbox, server) = (&alice, &a, &inbox, &server);
        async move { send_through(server, alice, &hello(a, inbox, text)).await }
    };
    assert_eq!(send("one").await.status().as_u16(), 202);
    assert_eq!(send("two").await.status().as_u16(), 202);
    let full = send("three").await;
    assert_eq!(full.status().as_u16(), 507);
    let (report, _) = alice
        .packer
        .unpack(&full.bytes().await.unwrap())
        .await
        .unwrap();
    assert_eq!(report.body["code"], "e.p.me.res.storage");

    // The queue's bookkeeping disappears under the server: every post fails, none 2xx.
    use sea_orm::ConnectionTrait;
    server
        .services
        .store
        .db()
        .execute_unprepared("DROP TABLE didcomm_queue_usage")
        .await
        .unwrap();
    let resp = send("four").await;
    assert_problem(resp, 503, "storage-unavailable").await;
}

/// A flood of messages beyond `didcomm_max_in_flight` is answered 503 with `Retry-After`
/// (nothing stored for those), never queued without bound; every 202 is stored.
#[tokio::test]
async fn messages_beyond_the_in_flight_bound_are_refused_with_503() {
    let (server, inbox, alice, a) = server_with_bob_and_alice(
        crate::common::Options::default().with("SICHAT_DIDCOMM_MAX_IN_FLIGHT", "1"),
    )
    .await;
    let mut packed = Vec::new();
    for i in 0..30 {
        let p = packed_hello(&alice, &a, &inbox, &format!("flood {i}"), true, true).await;
        packed.push(p);
    }
    let responses = futures_util::future::join_all(
        packed
            .into_iter()
            .map(|p| post_raw(&server, p, "application/didcomm-encrypted+json")),
    )
    .await;
    let mut accepted = 0;
    let mut busy = 0;
    for resp in responses {
        match resp.status().as_u16() {
            202 => accepted += 1,
            503 => {
                assert_eq!(resp.headers()["retry-after"], "1");
                assert_problem(resp, 503, "server-busy").await;
                busy += 1;
            }
            other => panic!("{other}"),
        }
    }
    assert!(
        accepted >= 1 && busy >= 1,
        "{accepted} accepted, {busy} busy"
    );
    let queued = server
        .services
        .store
        .queue_status(inbox.as_str(), 0)
        .await
        .unwrap();
    assert_eq!(queued.count, accepted);
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws_send(ws: &mut Ws, text: String) {
    ws.send(tokio_tungstenite::tungstenite::Message::text(text))
        .await
        .unwrap();
}

async fn ws_next(ws: &mut Ws) -> String {
    loop {
        let frame = tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
            .await
            .expect("a frame within 10 s")
            .unwrap()
            .unwrap();
        if let tokio_tungstenite::tungstenite::Message::Text(t) = frame {
            return t.to_string();
        }
    }
}

#[tokio::test]
async fn live_delivery_over_websocket_pushes_queued_messages() {
    let server = TestServer::spawn().await;
    let (bob, b, inbox) = mediated_bob(&server).await;
    let url = server.url("/didcomm/ws").replace("http://", "ws://");
    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    let pack = |m: Message| {
        let (bob, server, b) = (&bob, &server, &b);
        async move {
            bob.packer
                .pack_encrypted(
                    &m,
                    server_did(server).as_str(),
                    Some(b.as_str()),
                    None,
                    PackOptions::default(),
                )
                .await
                .unwrap()
                .packed
        }
    };
    ws_send(
        &mut ws,
        pack(request(
            &server,
            &b,
            pickup::LIVE_DELIVERY_CHANGE,
            json!({"live_delivery": true}),
        ))
        .await,
    )
    .await;
    let (status, _) = bob
        .packer
        .unpack(ws_next(&mut ws).await.as_bytes())
        .await
        .unwrap();
    assert_eq!(status.type_, pickup::STATUS);
    assert_eq!(status.body["live_delivery"], true);

    // Alice posts over HTTP; the message arrives on Bob's socket without asking.
    let alice = Party::new(&server);
    let a = alice.peer_did(&[]).await;
    let sent = hello(&a, &inbox, "live");
    assert_eq!(
        send_through(&server, &alice, &sent).await.status().as_u16(),
        202
    );
    let (delivery, _) = bob
        .packer
        .unpack(ws_next(&mut ws).await.as_bytes())
        .await
        .unwrap();
    assert_eq!(delivery.type_, pickup::DELIVERY);
    let attachment = &delivery.attachments.unwrap()[0];
    let (got, _) = bob
        .packer
        .unpack(&attachment.content().unwrap())
        .await
        .unwrap();
    assert_eq!(got, sent);
    // Still queued until acknowledged (at-least-once), then gone.
    ws_send(
        &mut ws,
        pack(request(&server, &b, pickup::STATUS_REQUEST, json!({}))).await,
    )
    .await;
    let (status, _) = bob
        .packer
        .unpack(ws_next(&mut ws).await.as_bytes())
        .await
        .unwrap();
    assert_eq!(status.body["message_count"], 1);
    ws_send(
        &mut ws,
        pack(request(
            &server,
            &b,
            pickup::MESSAGES_RECEIVED,
            json!({"message_id_list": [attachment.id.clone().unwrap()]}),
        ))
        .await,
    )
    .await;
    let (status, _) = bob
        .packer
        .unpack(ws_next(&mut ws).await.as_bytes())
        .await
        .unwrap();
    assert_eq!(status.body["message_count"], 0);
    // Garbage on the socket gets a problem object, and the session goes on.
    ws_send(&mut ws, "not a message".into()).await;
    let problem: Value = serde_json::from_str(&ws_next(&mut ws).await).unwrap();
    assert_eq!(problem["problem"], "didcomm-unreadable");
    ws_send(
        &mut ws,
        pack(request(&server, &b, trust_ping::PING, json!({}))).await,
    )
    .await;
    let (pong, _) = bob
        .packer
        .unpack(ws_next(&mut ws).await.as_bytes())
        .await
        .unwrap();
    assert_eq!(pong.type_, trust_ping::PING_RESPONSE);
}

/// Two instances on one PostgreSQL database: a message posted to A reaches a live session
/// on B (LISTEN/NOTIFY).
#[tokio::test]
async fn a_message_posted_to_one_instance_is_delivered_live_by_another() {
    if !crate::common::is_postgres() {
        return;
    }
    let a_server = TestServer::spawn().await;
    let b_server = TestServer::start(
        a_server.data_dir.clone(),
        a_server.database_url.clone(),
        "127.0.0.1:0",
        crate::common::Options::default().with("SICHAT_PUBLIC_URL", a_server.base.clone()),
    )
    .await;
    let (bob, b, inbox) = mediated_bob(&a_server).await;
    // Bob's socket is on B.
    let url = b_server.url("/didcomm/ws").replace("http://", "ws://");
    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    let live = request(
        &a_server,
        &b,
        pickup::LIVE_DELIVERY_CHANGE,
        json!({"live_delivery": true}),
    );
    let packed = bob
        .packer
        .pack_encrypted(
            &live,
            server_did(&a_server).as_str(),
            Some(b.as_str()),
            None,
            PackOptions::default(),
        )
        .await
        .unwrap();
    ws_send(&mut ws, packed.packed).await;
    let (status, _) = bob
        .packer
        .unpack(ws_next(&mut ws).await.as_bytes())
        .await
        .unwrap();
    assert_eq!(status.body["live_delivery"], true);
    // Alice posts to A.
    let alice = Party::new(&a_server);
    let a = alice.peer_did(&[]).await;
    let sent = hello(&a, &inbox, "across instances");
    assert_eq!(
        send_through(&a_server, &alice, &sent)
            .await
            .status()
            .as_u16(),
        202
    );
    let (delivery, _) = bob
        .packer
        .unpack(ws_next(&mut ws).await.as_bytes())
        .await
        .unwrap();
    assert_eq!(delivery.type_, pickup::DELIVERY);
    let (got, _) = bob
        .packer
        .unpack(&delivery.attachments.unwrap()[0].content().unwrap())
        .await
        .unwrap();
    assert_eq!(got, sent);
}

/// The server's did:web read over HTTP (a separate process), everything else offline.
struct ViaHttp {
    base: String,
    did: Did,
}

#[async_trait::async_trait]
impl DidResolver for ViaHttp {
    async fn resolve(&self, did: &Did) -> Result<Resolution, ResolveError> {
        if did != &self.did {
            return StandardResolver::offline().resolve(did).await;
        }
        let doc: Value = reqwest::get(format!("{}/.well-known/did.json", self.base))
            .await
            .map_err(|e| ResolveError::Internal(e.to_string()))?
            .json()
            .await
            .map_err(|e| ResolveError::Internal(e.to_string()))?;
        Ok(Resolution::new(DidDocument::from_json(did, doc)?))
    }
}

/// `kill -9` while 200 forwards are being posted: every forward answered 2xx is delivered
/// after the restart; after deduplication by id, nothing is delivered twice.
#[tokio::test]
async fn forwards_acknowledged_before_kill_9_are_all_delivered_after_restart() {
    use std::collections::HashSet;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let db = crate::common::fresh_database_url(dir.path()).await;
    let mut server = crate::common::ServerProcess::start(dir.path(), &db, "warn").await;
    let base = server.base.clone();
    let did = crate::common::did(&format!(
        "did:web:{}",
        base.trim_start_matches("http://").replace(':', "%3A")
    ));
    let resolver: Arc<dyn DidResolver> = Arc::new(ViaHttp {
        base: base.clone(),
        did: did.clone(),
    });
    let client = reqwest::Client::new();
    let bob = Party::with_resolver(resolver.clone());
    let b = bob.peer_did(&[]).await;
    let req = |kind: &str, body: Value| {
        let mut m = Message::new(kind, body);
        m.from = Some(b.to_string());
        m.to = Some(vec![did.to_string()]);
        m.extra.insert("return_route".into(), json!("all"));
        m
    };
    ask_at(
        &client,
        &base,
        &did,
        &bob,
        &req(coordinate_v2::MEDIATE_REQUEST, json!({})),
    )
    .await;
    let inbox = bob
        .peer_did(&[json!({"type":"DIDCommMessaging","serviceEndpoint":{"uri": did.as_str()}})])
        .await;
    ask_at(
        &client,
        &base,
        &did,
        &bob,
        &req(
            coordinate_v2::KEYLIST_UPDATE,
            json!({"updates":[{"recipient_did": inbox.as_str(), "action":"add"}]}),
        ),
    )
    .await;

    let alice = Party::with_resolver(resolver.clone());
    let a = alice.peer_did(&[]).await;
    let mut packed = Vec::new();
    for n in 0..200 {
        let m = hello(&a, &inbox, &format!("message {n}"));
        let p = alice
            .packer
            .pack_encrypted(&m, inbox.as_str(), None, None, PackOptions::default())
            .await
            .unwrap();
        packed.push((m.id.clone(), p.packed));
    }
    let done = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for (id, body) in packed.clone() {
        let (client, url, done) = (client.clone(), format!("{base}/didcomm"), done.clone());
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .header("content-type", "application/didcomm-encrypted+json")
                .body(body)
                .send()
                .await;
            done.fetch_add(1, Ordering::SeqCst);
            (id, r.map(|r| r.status().as_u16()).ok())
        }));
    }
    while done.load(Ordering::SeqCst) < 40 {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    server.child.kill().unwrap(); // SIGKILL, mid-flight
    server.child.wait().unwrap();
    let mut acknowledged = HashSet::new();
    for t in tasks {
        let (id, status) = t.await.unwrap();
        if status.is_some_and(|s| (200..300).contains(&s)) {
            acknowledged.insert(id);
        }
    }
    assert!(
        acknowledged.len() >= 30,
        "{} acknowledged",
        acknowledged.len()
    );
    let port = server.port();
    drop(server);
    let _again = crate::common::ServerProcess::start_on(dir.path(), &db, "warn", port, &[]).await;
    let mut delivered: Vec<String> = Vec::new();
    loop {
        let (_, reply) = ask_at(
            &client,
            &base,
            &did,
            &bob,
            &req(pickup::DELIVERY_REQUEST, json!({"limit": 100})),
        )
        .await;
        let reply = reply.unwrap();
        let Some(attachments) = reply
            .attachments
            .filter(|_| reply.type_ == pickup::DELIVERY)
        else {
            break;
        };
        let mut ids = Vec::new();
        for at in attachments {
            let (inner, _) = bob.packer.unpack(&at.content().unwrap()).await.unwrap();
            delivered.push(inner.id);
            ids.push(at.id.unwrap());
        }
        ask_at(
            &client,
            &base,
            &did,
            &bob,
            &req(pickup::MESSAGES_RECEIVED, json!({"message_id_list": ids})),
        )
        .await;
    }
    let unique: HashSet<String> = delivered.iter().cloned().collect();
    assert_eq!(
        unique.len(),
        delivered.len(),
        "nothing delivered twice once acknowledged"
    );
    let missing: Vec<_> = acknowledged.difference(&unique).collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    let sent: HashSet<String> = packed.into_iter().map(|(id, _)| id).collect();
    assert!(unique.is_subset(&sent));
}

/// Waits (up to 20 s) until `recipient`'s queue at `server` holds `count` messages.
async fn wait_for_queue(
    server: &TestServer,
    party: &Party,
    client: &Did,
    recipient: &Did,
    count: u64,
) {
    for _ in 0..200 {
        let (_, status) = ask(
            server,
            party,
            &request(
                server,
                client,
                pickup::STATUS_REQUEST,
                json!({"recipient_did": recipient.as_str()}),
            ),
        )
        .await;
        if status.unwrap().body["message_count"] == count {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{recipient} never had {count} messages at {}", server.base);
}

/// Alice's server relays a forward for Bob, whose mediator is another server; with Bob's
/// server down, the message waits in the outbox across a restart of Alice's server and
/// arrives once Bob's server is back.
#[tokio::test]
async fn forwards_for_another_servers_recipient_are_relayed_through_the_outbox() {
    use sichat_core::didcomm::jwe::ContentEnc;
    let opts = crate::common::Options::allow_loopback;
    let b_server = TestServer::spawn_with(opts()).await;
    let (bob, b, inbox) = mediated_bob(&b_server).await;
    let a_server = TestServer::spawn_with(opts()).await;
    let alice = Party::new(&a_server);
    let a = alice.peer_did(&[]).await;
    // Alice's outbound forwards go through her own mediator, A.
    let (_, grant) = ask(
        &a_server,
        &alice,
        &request(&a_server, &a, coordinate_v2::MEDIATE_REQUEST, json!({})),
    )
    .await;
    assert_eq!(grant.unwrap().type_, coordinate_v2::MEDIATE_GRANT);
    let via_a = |text: &'static str| {
        let (alice, a, inbox, a_server) = (&alice, &a, &inbox, &a_server);
        async move {
            let sent = hello(a, inbox, text);
            let (status, reply) = authenticated_forward(a_server, alice, a, inbox, &sent).await;
            assert_eq!(reply, None);
            (sent, status)
        }
    };
    // Not an open relay: an anonymous forward for a DID A does not mediate is refused.
    let inner = packed_hello(&alice, &a, &inbox, "anonymous", true, false).await;
    let outer = alice
        .packer
        .wrap_in_forwards(
            inner,
            inbox.as_str(),
            &[server_did(&a_server).to_string()],
            ContentEnc::Xc20p,
        )
        .await
        .unwrap();
    let resp = post_raw(&a_server, outer, "application/didcomm-encrypted+json").await;
    let (report, _) = alice
        .packer
        .unpack(&resp.bytes().await.unwrap())
        .await
        .unwrap();
    assert_eq!(report.body["code"], "e.p.req.not_enroll");
    let (first, status) = via_a("relayed").await;
    assert_eq!(status, 202);
    wait_for_queue(&b_server, &bob, &b, &inbox, 1).await;
    let (_, delivery) = ask(
        &b_server,
        &bob,
        &request(
            &b_server,
            &b,
            pickup::DELIVERY_REQUEST,
            json!({"limit": 10}),
        ),
    )
    .await;
    let attachments = delivery.unwrap().attachments.unwrap();
    let (got, _) = bob
        .packer
        .unpack(&attachments[0].content().unwrap())
        .await
        .unwrap();
    assert_eq!(got, first);
    let id = attachments[0].id.clone().unwrap();
    ask(
        &b_server,
        &bob,
        &request(
            &b_server,
            &b,
            pickup::MESSAGES_RECEIVED,
            json!({"message_id_list": [id]}),
        ),
    )
    .await;

    // Bob's server goes down: Alice's server still accepts (it knows the route) and keeps
    // the message; it is restarted; Bob's server comes back on the same address.
    let b_addr = b_server.addr();
    let (b_dir, b_db, b_tmp) = b_server.stop().await;
    let (second, status) = via_a("kept in the outbox").await;
    assert_eq!(status, 202);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let a_addr = a_server.addr();
    let (a_dir, a_db, _a_tmp) = a_server.stop().await;
    let _a_again = TestServer::start(a_dir, a_db, &a_addr, opts()).await;
    let b_again = TestServer::start(b_dir, b_db, &b_addr, opts()).await;
    wait_for_queue(&b_again, &bob, &b, &inbox, 1).await;
    let (_, delivery) = ask(
        &b_again,
        &bob,
        &request(&b_again, &b, pickup::DELIVERY_REQUEST, json!({"limit": 10})),
    )
    .await;
    let attachments = delivery.unwrap().attachments.unwrap();
    let (got, _) = bob
        .packer
        .unpack(&attachments[0].content().unwrap())
        .await
        .unwrap();
    assert_eq!(got, second);
    drop(b_tmp);
}

/// A forward to `next` authcrypted by `from` (as a channel requires), asking for the
/// answer on this connection.
async fn authenticated_forward(
    server: &TestServer,
    party: &Party,
    from: &Did,
    next: &Did,
    inner: &Message,
) -> (u16, Option<Message>) {
    let packed = party
        .packer
        .pack_encrypted(
            inner,
            next.as_str(),
            Some(from.as_str()),
            None,
            PackOptions {
                forward: false,
                ..PackOptions::default()
            },
        )
        .await
        .unwrap();
    let mut forward = request(server, from, FORWARD, json!({"next": next.as_str()}));
    forward.attachments = Some(vec![sichat_core::didcomm::Attachment::json(
        None,
        serde_json::from_str(&packed.packed).unwrap(),
    )]);
    ask(server, party, &forward).await
}

/// A presentation of `credentials` by `holder` (its Ed25519 key), for a challenge and
/// domain.
async fn present(
    party: &Party,
    holder: &Did,
    credentials: Vec<Value>,
    challenge: &str,
    domain: &str,
) -> Value {
    use sichat_core::vc::{Canonicalizer, Cryptosuite, Issuer, IssuerKey, ProofFormat};
    let ed = party
        .keys
        .list(&Owner::Server)
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.key_type == KeyType::Ed25519)
        .unwrap();
    let short: String = ed.public_key_multibase.chars().skip(1).take(8).collect();
    let issuer = Issuer::new(
        Canonicalizer::default(),
        party.keys.clone(),
        Arc::new(SystemClock),
    );
    let vp = json!({"@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiablePresentation"], "holder": holder.as_str(),
        "verifiableCredential": credentials});
    issuer
        .present(
            vp.as_object().unwrap().clone(),
            &IssuerKey {
                issuer: holder.to_string(),
                method: holder.with_fragment(&short),
                key: ed.id.clone(),
                key_type: KeyType::Ed25519,
            },
            ProofFormat::DataIntegrity(Cryptosuite::EddsaRdfc2022),
            Some(challenge),
            Some(domain),
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn a_credential_bound_channel_admits_bound_peers_until_revocation() {
    let server = TestServer::spawn().await;
    let (_bob, _b, inbox) = mediated_bob(&server).await;
    let mediator = server_did(&server);
    // The channel: forwards to Bob's inbox only from members of Network X.
    let spec = json!({"name": "network-x", "recipient": inbox.as_str(), "owner": "server",
        "credentialType": "MembershipCredential", "claims": {"memberOf": "Network X"}});
    let (status, view) = server
        .admin_post("/admin/didcomm/channels", spec.clone())
        .await;
    assert_eq!(status, 201, "{view}");
    assert_eq!(view["recipient"], inbox.as_str());
    assert_eq!(
        server
            .admin_post("/admin/didcomm/channels", spec.clone())
            .await
            .0,
        409
    );
    let mut bad = spec.clone();
    bad["name"] = json!("other");
    bad["recipient"] = json!("not a did");
    assert_eq!(
        server.admin_post("/admin/didcomm/channels", bad).await.0,
        422
    );
    let resp = server
        .client
        .get(server.url("/admin/didcomm/channels"))
        .send()
        .await
        .unwrap();
    assert_problem(resp, 401, "unauthorized").await;

    let alice = Party::new(&server);
    let a = alice.peer_did(&[]).await;
    // Unbound: refused, authenticated or not.
    let (_, r) =
        authenticated_forward(&server, &alice, &a, &inbox, &hello(&a, &inbox, "let me in")).await;
    assert_eq!(r.unwrap().body["code"], "e.p.trust.channel");
    let anon = packed_hello(&alice, &a, &inbox, "anon", false, true).await;
    let resp = post_raw(&server, anon, "application/didcomm-encrypted+json").await;
    let (report, _) = alice
        .packer
        .unpack(&resp.bytes().await.unwrap())
        .await
        .unwrap();
    assert_eq!(report.body["code"], "e.p.trust.channel");

    // The server issues Alice a membership credential.
    let (status, issued) = server
        .admin_post("/credentials/issue", json!({"credential": {
            "@context": ["https://www.w3.org/ns/credentials/v2", "https://www.w3.org/ns/credentials/examples/v2"],
            "type": ["VerifiableCredential", "MembershipCredential"],
            "issuer": mediator.as_str(),
            "credentialSubject": {"id": a.as_str(), "memberOf": "Network X"}}, "options": {}}))
        .await;
    assert_eq!(status, 201, "{issued}");
    let credential = issued["verifiableCredential"].clone();

    // Opening: request → challenge → present → granted.
    let open = |channel: &'static str| json!({"channel": channel});
    let (_, challenge) = ask(
        &server,
        &alice,
        &request(
            &server,
            &a,
            sichat::service::mediator::channels::REQUEST,
            open("network-x"),
        ),
    )
    .await;
    let challenge = challenge.unwrap();
    assert_eq!(
        challenge.type_,
        sichat::service::mediator::channels::CHALLENGE
    );
    assert_eq!(challenge.body["credential"]["type"], "MembershipCredential");
    let nonce = challenge.body["challenge"].as_str().unwrap().to_owned();
    assert_eq!(challenge.body["domain"], mediator.as_str());
    let vp = present(
        &alice,
        &a,
        vec![credential.clone()],
        &nonce,
        mediator.as_str(),
    )
    .await;
    let present_msg = |vp: &Value, nonce: &str| {
        request(
            &server,
            &a,
            sichat::service::mediator::channels::PRESENT,
            json!({"channel": "network-x", "challenge": nonce, "presentation": vp}),
        )
    };
    let (_, granted) = ask(&server, &alice, &present_msg(&vp, &nonce)).await;
    let granted = granted.unwrap();
    assert_eq!(
        granted.type_,
        sichat::service::mediator::channels::GRANTED,
        "{:?}",
        granted.body
    );
    // The challenge is spent.
    let (_, again) = ask(&server, &alice, &present_msg(&vp, &nonce)).await;
    assert_eq!(again.unwrap().body["code"], "e.p.trust.challenge");
    let (_, members) = server
        .admin_get("/admin/didcomm/channels/network-x/members")
        .await;
    assert_eq!(members[0]["peer"], a.as_str());

    // Bound: Alice's forwards pass.
    assert_eq!(
        authenticated_forward(&server, &alice, &a, &inbox, &hello(&a, &inbox, "member")).await,
        (202, None)
    );

    // Carol presents Alice's credential as her own: not about her.
    let carol = Party::new(&server);
    let c = carol.peer_did(&[]).await;
    let (_, ch) = ask(
        &server,
        &carol,
        &request(
            &server,
            &c,
            sichat::service::mediator::channels::REQUEST,
            open("network-x"),
        ),
    )
    .await;
    let nonce = ch.unwrap().body["challenge"].as_str().unwrap().to_owned();
    let vp = present(
        &carol,
        &c,
        vec![credential.clone()],
        &nonce,
        mediator.as_str(),
    )
    .await;
    let m = request(
        &server,
        &c,
        sichat::service::mediator::channels::PRESENT,
        json!({"channel": "network-x", "challenge": nonce, "presentation": vp}),
    );
    let (_, refused) = ask(&server, &carol, &m).await;
    assert_eq!(refused.unwrap().body["code"], "e.p.trust.credential");
    // A presentation for another domain (or challenge) does not verify.
    let (_, ch) = ask(
        &server,
        &carol,
        &request(
            &server,
            &c,
            sichat::service::mediator::channels::REQUEST,
            open("network-x"),
        ),
    )
    .await;
    let nonce = ch.unwrap().body["challenge"].as_str().unwrap().to_owned();
    let vp = present(&carol, &c, vec![], &nonce, "did:example:elsewhere").await;
    let m = request(
        &server,
        &c,
        sichat::service::mediator::channels::PRESENT,
        json!({"channel": "network-x", "challenge": nonce, "presentation": vp}),
    );
    let (_, refused) = ask(&server, &carol, &m).await;
    assert_eq!(refused.unwrap().body["code"], "e.p.trust.presentation");
    // Unknown channel.
    let (_, r) = ask(
        &server,
        &carol,
        &request(
            &server,
            &c,
            sichat::service::mediator::channels::REQUEST,
            open("nope"),
        ),
    )
    .await;
    assert_eq!(r.unwrap().body["code"], "e.p.req.unknown-channel");

    // Revoked: Alice is refused and unbound.
    let (status, _) = server
        .admin_post(
            "/credentials/status",
            json!({"credentialId": credential["id"],
            "credentialStatus": [{"type": "BitstringStatusListCredential", "status": "revoked"}]}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, r) = authenticated_forward(
        &server,
        &alice,
        &a,
        &inbox,
        &hello(&a, &inbox, "after revocation"),
    )
    .await;
    assert_eq!(r.unwrap().body["code"], "e.p.trust.channel.credential");
    let (_, members) = server
        .admin_get("/admin/didcomm/channels/network-x/members")
        .await;
    assert_eq!(members, json!([]));
    // Removing the channel opens the recipient again.
    let resp = server
        .client
        .delete(server.url("/admin/didcomm/channels/network-x"))
        .bearer_auth(crate::common::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    assert_eq!(
        authenticated_forward(
            &server,
            &alice,
            &a,
            &inbox,
            &hello(&a, &inbox, "open again")
        )
        .await,
        (202, None)
    );
    // A channel that is gone (or never was): 404, for its removal and its members.
    let delete = |token: Option<&str>| {
        let req = server
            .client
            .delete(server.url("/admin/didcomm/channels/network-x"));
        match token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
        .send()
    };
    assert_problem(
        delete(Some(crate::common::ADMIN_TOKEN)).await.unwrap(),
        404,
        "not-found",
    )
    .await;
    assert_problem(delete(None).await.unwrap(), 401, "unauthorized").await;
    let resp = server
        .admin_get_raw("/admin/didcomm/channels/network-x/members")
        .await;
    assert_problem(resp, 404, "not-found").await;
    let resp = server
        .admin_get_raw("/admin/didcomm/channels/never-was/members")
        .await;
    assert_problem(resp, 404, "not-found").await;
}

/// Without `return_route`, a reply to a sender that is not mediated here goes to the
/// sender's own DIDComm endpoint (POSTed from the outbox), not in the HTTP answer.
#[tokio::test]
async fn replies_without_return_route_are_posted_to_the_senders_endpoint() {
    let server = TestServer::spawn_with(crate::common::Options::allow_loopback()).await;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(String, String)>(4);
    let app = axum::Router::new().route(
        "/inbox",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let tx = tx.clone();
            async move {
                let ct = headers["content-type"]
                    .to_str()
                    .unwrap_or_default()
                    .to_owned();
                let _ = tx.send((ct, body)).await;
                axum::http::StatusCode::ACCEPTED
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}/inbox", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let alice = Party::new(&server);
    let a = alice
        .peer_did(&[json!({"type":"DIDCommMessaging","serviceEndpoint":{"uri": endpoint,"accept":["didcomm/v2"]}})])
        .await;
    let mut ping = request(
        &server,
        &a,
        trust_ping::PING,
        json!({"response_requested": true}),
    );
    ping.extra.remove("return_route");
    assert_eq!(ask(&server, &alice, &ping).await, (202, None));
    let (ct, body) = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
        .await
        .expect("the ping response is posted within 10 s")
        .unwrap();
    assert_eq!(ct, "application/didcomm-encrypted+json");
    let (pong, meta) = alice.packer.unpack(body.as_bytes()).await.unwrap();
    assert_eq!(pong.type_, trust_ping::PING_RESPONSE);
    assert_eq!(pong.thid.as_deref(), Some(ping.id.as_str()));
    assert!(meta.authenticated);
}

/// `examples/didcomm_chat.rs` against a running server: two people, never online at the
/// same time, exchange messages through the mediator.
#[tokio::test]
async fn the_chat_example_runs_against_a_server() {
    let server = TestServer::spawn().await;
    let stdout = crate::common::run_example("didcomm_chat", &server).await;
    let last: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last["bob_received"], "Hello Bob, are you free on Friday?");
    assert_eq!(last["alice_received"], "Yes, Friday works.");
}

/// Forwards to the mediator itself are opened in turn, but at most 3 levels deep and 16
/// messages per request in all.
#[tokio::test]
async fn nested_forwards_to_the_mediator_are_bounded() {
    use sichat_core::didcomm::jwe::ContentEnc;
    let server = TestServer::spawn().await;
    let (_bob, _b, inbox) = mediated_bob(&server).await;
    let me = server_did(&server).to_string();
    let alice = Party::new(&server);
    let a = alice.peer_did(&[]).await;
    let inner = packed_hello(&alice, &a, &inbox, "nested", true, false).await;
    // forward(inbox) for the mediator, then wrapped again in forwards naming the mediator.
    let wrap = |packed: String, next: String| {
        let (alice, me) = (&alice, me.clone());
        async move {
            alice
                .packer
                .wrap_in_forwards(packed, &next, &[me], ContentEnc::Xc20p)
                .await
                .unwrap()
        }
    };
    let f1 = wrap(inner, inbox.to_string()).await;
    let f2 = wrap(f1.clone(), me.clone()).await;
    let f3 = wrap(f2.clone(), me.clone()).await;
    let f4 = wrap(f3.clone(), me.clone()).await;
    let code = |resp: reqwest::Response| {
        let alice = &alice;
        async move {
            let status = resp.status().as_u16();
            let body = resp.bytes().await.unwrap();
            if body.is_empty() {
                return (status, None);
            }
            let (report, _) = alice.packer.unpack(&body).await.unwrap();
            (status, report.body["code"].as_str().map(str::to_owned))
        }
    };
    // Two hops through the mediator itself: queued.
    assert_eq!(
        code(post_raw(&server, f3, "application/didcomm-encrypted+json").await).await,
        (202, None)
    );
    // Three: refused.
    assert_eq!(
        code(post_raw(&server, f4, "application/didcomm-encrypted+json").await).await,
        (200, Some("e.p.req.max-forward-depth".into()))
    );
    // Sixteen forwards to the mediator, each holding one more: 32 to open, refused.
    let mut outer = Message::new(FORWARD, json!({"next": me}));
    let f2: Value = serde_json::from_str(&f2).unwrap();
    outer.attachments = Some(
        (0..16)
            .map(|_| sichat_core::didcomm::Attachment::json(None, f2.clone()))
            .collect(),
    );
    let packed = alice
        .packer
        .pack_encrypted(
            &outer,
            server_did(&server).as_str(),
            None,
            None,
            PackOptions {
                forward: false,
                ..PackOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        code(post_raw(&server, packed.packed, "application/didcomm-encrypted+json").await).await,
        (200, Some("e.p.req.max-forward-depth".into()))
    );
}
