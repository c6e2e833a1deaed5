//! Two people chat through a Sichat server's DIDComm mediator, never online at the same
//! time: each gets mediation for a did:peer:2 of their own and registers an inbox DID
//! whose service is the mediator; Alice writes to Bob's inbox while Bob is away; Bob
//! comes online, picks the message up (pickup 3.0), acknowledges it and answers into
//! Alice's inbox; Alice picks the answer up later.
//!
//! ```text
//! SICHAT_URL=http://127.0.0.1:8080 cargo run --example didcomm_chat
//! ```
//!
//! With a server on a loopback address, its did:web is fetched over plain HTTP (allowed
//! for 127.0.0.1 only). Prints each step and exits non-zero if one fails.

use std::sync::Arc;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use sichat_core::SystemClock;
use sichat_core::did::peer::{Purpose, create_peer2};
use sichat_core::did::web_fetch::{FetchPolicy, GuardedFetcher};
use sichat_core::did::{CachePolicy, DidResolver, StandardResolver};
use sichat_core::didcomm::protocols::{basic_message, coordinate_v2, pickup};
use sichat_core::didcomm::{Message, OwnerKeys, PackOptions, Packer};
use sichat_core::id::{Did, Owner};
use sichat_core::keys::{Kek, KeyService, KeyType, PublicKey};
use sichat_core::store::MemoryStore;

/// One person: keys in memory, a DID to talk to the mediator, an inbox DID.
struct Person {
    name: &'static str,
    packer: Packer,
    did: Did,
    inbox: Did,
}

async fn peer_did(keys: &KeyService<MemoryStore>, services: &[Value]) -> anyhow::Result<Did> {
    let mut public = Vec::new();
    for t in [KeyType::X25519, KeyType::Ed25519] {
        let info = keys.generate(&Owner::Server, t).await?;
        public.push(PublicKey::from_multibase(&info.public_key_multibase)?);
    }
    Ok(create_peer2(
        &[
            (Purpose::Encryption, &public[0]),
            (Purpose::Verification, &public[1]),
        ],
        services,
    ))
}

struct Mediator {
    http: reqwest::Client,
    url: String,
    did: Did,
}

impl Mediator {
    /// Authcrypts `m` from `who` to the mediator, posts it, unpacks the reply if any.
    async fn ask(&self, who: &Person, kind: &str, body: Value) -> anyhow::Result<Option<Message>> {
        let mut m = Message::new(kind, body);
        m.from = Some(who.did.to_string());
        m.to = Some(vec![self.did.to_string()]);
        m.extra.insert("return_route".into(), json!("all"));
        let packed = who
            .packer
            .pack_encrypted(
                &m,
                self.did.as_str(),
                Some(who.did.as_str()),
                None,
                PackOptions::default(),
            )
            .await?;
        let resp = self
            .http
            .post(&self.url)
            .header("content-type", "application/didcomm-encrypted+json")
            .body(packed.packed)
            .send()
            .await?;
        let status = resp.status();
        let bytes = resp.bytes().await?;
        if !status.is_success() {
            bail!("{kind}: {status} {}", String::from_utf8_lossy(&bytes));
        }
        if bytes.is_empty() {
            return Ok(None);
        }
        let (reply, _) = who.packer.unpack(&bytes).await?;
        if reply.type_ == "https://didcomm.org/report-problem/2.0/problem-report" {
            bail!("{kind}: problem report {}", reply.body);
        }
        Ok(Some(reply))
    }

    /// Mediation for `who`, with its inbox registered.
    async fn enroll(&self, who: &Person) -> anyhow::Result<()> {
        let grant = self
            .ask(who, coordinate_v2::MEDIATE_REQUEST, json!({}))
            .await?;
        println!(
            "{}: mediation {}",
            who.name,
            grant.context("no grant")?.type_
        );
        let update = self
            .ask(
                who,
                coordinate_v2::KEYLIST_UPDATE,
                json!({"updates": [{"recipient_did": who.inbox.as_str(), "action": "add"}]}),
            )
            .await?
            .context("no keylist-update-response")?;
        println!(
            "{}: inbox registered ({})",
            who.name, update.body["updated"][0]["result"]
        );
        Ok(())
    }

    /// Picks up and acknowledges what waits for `who`'s inbox.
    async fn pick_up(&self, who: &Person) -> anyhow::Result<Vec<Message>> {
        let reply = self
            .ask(
                who,
                pickup::DELIVERY_REQUEST,
                json!({"limit": 10, "recipient_did": who.inbox.as_str()}),
            )
            .await?
            .context("no answer to delivery-request")?;
        let mut got = Vec::new();
        let mut ids = Vec::new();
        for a in reply.attachments.into_iter().flatten() {
            let (m, meta) = who
                .packer
                .unpack(&a.content().context("empty attachment")?)
                .await?;
            if !meta.authenticated {
                bail!("an unauthenticated message");
            }
            ids.extend(a.id);
            got.push(m);
        }
        if !ids.is_empty() {
            let status = self
                .ask(
                    who,
                    pickup::MESSAGES_RECEIVED,
                    json!({"message_id_list": ids}),
                )
                .await?
                .context("no status after messages-received")?;
            println!(
                "{}: acknowledged, {} left",
                who.name, status.body["message_count"]
            );
        }
        Ok(got)
    }
}

async fn person(
    name: &'static str,
    resolver: Arc<dyn DidResolver>,
    mediator: &Did,
) -> anyhow::Result<Person> {
    let clock = Arc::new(SystemClock);
    let keys = Arc::new(KeyService::new(
        MemoryStore::new(),
        Kek::generate(),
        clock.clone(),
    ));
    let did = peer_did(&keys, &[]).await?;
    let inbox = peer_did(
        &keys,
        &[json!({"type": "DIDCommMessaging", "serviceEndpoint": {"uri": mediator.as_str(), "accept": ["didcomm/v2"]}})],
    )
    .await?;
    let packer = Packer::new(
        resolver,
        Arc::new(OwnerKeys::new(keys.clone(), Owner::Server)),
        clock,
    );
    Ok(Person {
        name,
        packer,
        did,
        inbox,
    })
}

/// Writes `text` from `from` to `to`'s inbox (authcrypted and signed, forwarded through
/// the mediator named by the inbox's service).
async fn write(http: &reqwest::Client, from: &Person, to: &Did, text: &str) -> anyhow::Result<()> {
    let mut m = Message::new(basic_message::MESSAGE, json!({"content": text}));
    m.from = Some(from.inbox.to_string());
    m.to = Some(vec![to.to_string()]);
    m.created_time = Some(u64::try_from(chrono_now_secs())?);
    let packed = from
        .packer
        .pack_encrypted(
            &m,
            to.as_str(),
            Some(from.inbox.as_str()),
            Some(from.inbox.as_str()),
            PackOptions::default(),
        )
        .await?;
    let uri = packed
        .service_uri
        .context("the recipient has no DIDComm endpoint")?;
    let resp = http
        .post(&uri)
        .header("content-type", "application/didcomm-encrypted+json")
        .body(packed.packed)
        .send()
        .await?;
    if resp.status().as_u16() != 202 {
        bail!("forward: {}", resp.status());
    }
    println!("{}: wrote {text:?} (forwarded through {uri})", from.name);
    Ok(())
}

fn chrono_now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let base = std::env::var("SICHAT_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let base = base.trim_end_matches('/').to_owned();
    let host = base.split_once("://").map(|(_, h)| h).unwrap_or(&base);
    let loopback = host.starts_with("127.0.0.1") || host.starts_with("localhost");
    let fetcher = GuardedFetcher::new(FetchPolicy {
        allow_loopback: loopback,
        ..FetchPolicy::default()
    })?;
    let resolver: Arc<dyn DidResolver> = Arc::new(StandardResolver::with_cached_web(
        Arc::new(fetcher),
        Arc::new(SystemClock),
        CachePolicy::default(),
    ));
    let did = Did::parse(&format!("did:web:{}", host.replace(':', "%3A")))?;
    let mediator = Mediator {
        http: reqwest::Client::new(),
        url: format!("{base}/didcomm"),
        did: did.clone(),
    };

    let alice = person("alice", resolver.clone(), &did).await?;
    let bob = person("bob", resolver.clone(), &did).await?;
    mediator.enroll(&alice).await?;
    mediator.enroll(&bob).await?;

    // Bob is away: Alice writes.
    write(
        &mediator.http,
        &alice,
        &bob.inbox,
        "Hello Bob, are you free on Friday?",
    )
    .await?;
    // Alice goes away; Bob comes online.
    let got = mediator.pick_up(&bob).await?;
    let first = got.first().context("Bob received nothing")?;
    println!(
        "bob: read {:?} from {}",
        first.body["content"],
        first.from.as_deref().unwrap_or("?")
    );
    write(&mediator.http, &bob, &alice.inbox, "Yes, Friday works.").await?;
    // Alice comes back.
    let got = mediator.pick_up(&alice).await?;
    let answer = got.first().context("Alice received nothing")?;
    println!("alice: read {:?}", answer.body["content"]);
    println!(
        "{}",
        json!({"bob_received": first.body["content"], "alice_received": answer.body["content"]})
    );
    Ok(())
}
