//! Mediator throughput against a running (release) server: forwards of 1 KiB messages
//! stored per second, then delivered and acknowledged per second (pickup 3.0, 100 per
//! delivery), then both at once; server CPU per message read from `/proc/<pid>/stat`.
//!
//! ```text
//! cargo run --release --example didcomm_forwards -- http://127.0.0.1:8080 20000 64 <server pid>
//! ```
//!
//! The forwards are packed before the clock starts (anoncrypt to the mediator around an
//! authcrypted message for a mediated inbox), so the load is the server's.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

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

fn cpu_ticks(pid: &str) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = stat.rsplit_once(')').context("stat")?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    Ok(f[11].parse::<u64>()? + f[12].parse::<u64>()?)
}

fn ticks_to_us(ticks: u64) -> f64 {
    // USER_HZ is 100 on Linux.
    ticks as f64 * 10_000.0
}

struct Party {
    packer: Packer,
    keys: Arc<KeyService<MemoryStore>>,
}

impl Party {
    fn new(resolver: Arc<dyn DidResolver>) -> Self {
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

    async fn did(&self, services: &[Value]) -> anyhow::Result<Did> {
        let mut public = Vec::new();
        for t in [KeyType::X25519, KeyType::Ed25519] {
            let info = self.keys.generate(&Owner::Server, t).await?;
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
}

async fn ask(
    http: &reqwest::Client,
    url: &str,
    mediator: &Did,
    who: &Party,
    from: &Did,
    kind: &str,
    body: Value,
) -> anyhow::Result<Message> {
    let mut m = Message::new(kind, body);
    m.from = Some(from.to_string());
    m.to = Some(vec![mediator.to_string()]);
    m.extra.insert("return_route".into(), json!("all"));
    let packed = who
        .packer
        .pack_encrypted(
            &m,
            mediator.as_str(),
            Some(from.as_str()),
            None,
            PackOptions::default(),
        )
        .await?;
    let resp = http
        .post(url)
        .header("content-type", "application/didcomm-encrypted+json")
        .body(packed.packed)
        .send()
        .await?;
    let status = resp.status();
    let bytes = resp.bytes().await?;
    if status != 200 {
        bail!("{kind}: {status} {}", String::from_utf8_lossy(&bytes));
    }
    Ok(who.packer.unpack(&bytes).await?.0)
}

/// Posts every body with `concurrency` requests in flight; all must be 202.
async fn post_all(
    http: &reqwest::Client,
    url: &str,
    bodies: Vec<String>,
    concurrency: usize,
) -> anyhow::Result<()> {
    let queue = Arc::new(std::sync::Mutex::new(bodies));
    let failed = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (queue, http, url, failed) =
            (queue.clone(), http.clone(), url.to_owned(), failed.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let Some(body) = queue.lock().unwrap().pop() else {
                    break;
                };
                let ok = http
                    .post(&url)
                    .header("content-type", "application/didcomm-encrypted+json")
                    .body(body)
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 202);
                if !ok {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let failed = failed.load(Ordering::Relaxed);
    if failed > 0 {
        bail!("{failed} forwards were not accepted");
    }
    Ok(())
}

/// Picks up and acknowledges until `count` messages were taken.
async fn drain(
    http: &reqwest::Client,
    url: &str,
    mediator: &Did,
    bob: &Party,
    b: &Did,
    count: usize,
) -> anyhow::Result<usize> {
    let mut taken = 0;
    let mut idle = 0;
    while taken < count {
        let reply = ask(
            http,
            url,
            mediator,
            bob,
            b,
            pickup::DELIVERY_REQUEST,
            json!({"limit": 100}),
        )
        .await?;
        let ids: Vec<String> = reply
            .attachments
            .into_iter()
            .flatten()
            .filter_map(|a| a.id)
            .collect();
        if ids.is_empty() {
            idle += 1;
            if idle > 2000 {
                bail!("only {taken} of {count} messages arrived");
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            continue;
        }
        taken += ids.len();
        ask(
            http,
            url,
            mediator,
            bob,
            b,
            pickup::MESSAGES_RECEIVED,
            json!({"message_id_list": ids}),
        )
        .await?;
    }
    Ok(taken)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, base, n, concurrency, pid] = &args[..] else {
        bail!("usage: didcomm_forwards BASE_URL COUNT CONCURRENCY SERVER_PID");
    };
    let (n, concurrency): (usize, usize) = (n.parse()?, concurrency.parse()?);
    let base = base.trim_end_matches('/');
    let host = base.split_once("://").map_or(base, |(_, h)| h);
    let mediator = Did::parse(&format!("did:web:{}", host.replace(':', "%3A")))?;
    let url = format!("{base}/didcomm");
    let fetcher = GuardedFetcher::new(FetchPolicy {
        allow_loopback: true,
        ..FetchPolicy::default()
    })?;
    let resolver: Arc<dyn DidResolver> = Arc::new(StandardResolver::with_cached_web(
        Arc::new(fetcher),
        Arc::new(SystemClock),
        CachePolicy::default(),
    ));
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let bob = Party::new(resolver.clone());
    let b = bob.did(&[]).await?;
    let inbox = bob
        .did(&[json!({"type": "DIDCommMessaging", "serviceEndpoint": {"uri": mediator.as_str()}})])
        .await?;
    ask(
        &http,
        &url,
        &mediator,
        &bob,
        &b,
        coordinate_v2::MEDIATE_REQUEST,
        json!({}),
    )
    .await?;
    ask(
        &http,
        &url,
        &mediator,
        &bob,
        &b,
        coordinate_v2::KEYLIST_UPDATE,
        json!({"updates": [{"recipient_did": inbox.as_str(), "action": "add"}]}),
    )
    .await?;
    let alice = Party::new(resolver.clone());
    let a = alice.did(&[]).await?;
    let pack = |count: usize| {
        let (alice, a, inbox) = (&alice, &a, &inbox);
        async move {
            let mut bodies = Vec::with_capacity(count);
            for i in 0..count {
                let mut m = Message::new(
                    basic_message::MESSAGE,
                    json!({"content": format!("{i:08} {}", "x".repeat(1000))}),
                );
                m.from = Some(a.to_string());
                m.to = Some(vec![inbox.to_string()]);
                let p = alice
                    .packer
                    .pack_encrypted(
                        &m,
                        inbox.as_str(),
                        Some(a.as_str()),
                        None,
                        PackOptions::default(),
                    )
                    .await?;
                bodies.push(p.packed);
            }
            anyhow::Ok(bodies)
        }
    };
    let bodies = pack(n).await?;
    let size = bodies.iter().map(String::len).sum::<usize>() / n.max(1);

    // 1. Stored. (The phase marks on stderr let a profiler attach to one phase.)
    eprintln!("phase stored: start");
    let (t0, c0) = (Instant::now(), cpu_ticks(pid)?);
    post_all(&http, &url, bodies, concurrency).await?;
    let (stored_s, stored_cpu) = (t0.elapsed().as_secs_f64(), cpu_ticks(pid)? - c0);
    eprintln!("phase stored: end");
    // 2. Delivered and acknowledged.
    let (t0, c0) = (Instant::now(), cpu_ticks(pid)?);
    let taken = drain(&http, &url, &mediator, &bob, &b, n).await?;
    let (drained_s, drained_cpu) = (t0.elapsed().as_secs_f64(), cpu_ticks(pid)? - c0);
    // 3. Both at once.
    let bodies = pack(n).await?;
    let (t0, c0) = (Instant::now(), cpu_ticks(pid)?);
    let poster = {
        let (http, url) = (http.clone(), url.clone());
        tokio::spawn(async move { post_all(&http, &url, bodies, concurrency).await })
    };
    let taken_e2e = drain(&http, &url, &mediator, &bob, &b, n).await?;
    poster.await??;
    let (e2e_s, e2e_cpu) = (t0.elapsed().as_secs_f64(), cpu_ticks(pid)? - c0);
    println!(
        "{}",
        json!({
            "forwards": n, "forward_bytes": size, "concurrency": concurrency,
            "stored_per_s": (n as f64 / stored_s).round(),
            "server_cpu_us_per_stored": (ticks_to_us(stored_cpu) / n as f64).round(),
            "delivered_acknowledged_per_s": (taken as f64 / drained_s).round(),
            "server_cpu_us_per_delivered": (ticks_to_us(drained_cpu) / taken as f64).round(),
            "end_to_end_per_s": (taken_e2e as f64 / e2e_s).round(),
            "server_cpu_us_per_message_end_to_end": (ticks_to_us(e2e_cpu) / taken_e2e as f64).round(),
        })
    );
    Ok(())
}
