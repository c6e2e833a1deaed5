//! [`FakeDns`]: a UDP DNS server on 127.0.0.1 for tests of did:web resolution. Each name
//! gets an address, NXDOMAIN, or silence (a lookup that can only time out).

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use hickory_resolver::proto::op::{Message, ResponseCode};
use hickory_resolver::proto::rr::rdata::A;
use hickory_resolver::proto::rr::{RData, Record, RecordType};

/// What the server answers for a name (and, with a leading `*.`, every name below it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsAnswer {
    A(Ipv4Addr),
    NxDomain,
    /// Never answer.
    Silent,
}

/// The server; it stops when dropped.
pub struct FakeDns {
    addr: SocketAddr,
    answers: Arc<Mutex<HashMap<String, DnsAnswer>>>,
    queries: Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeDns {
    /// Starts the server; names not in `answers` get NXDOMAIN.
    pub async fn start(answers: &[(&str, DnsAnswer)]) -> std::io::Result<Self> {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
        let addr = socket.local_addr()?;
        let answers = Arc::new(Mutex::new(
            answers
                .iter()
                .map(|(n, a)| (n.trim_end_matches('.').to_ascii_lowercase(), *a))
                .collect::<HashMap<_, _>>(),
        ));
        let queries = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (table, count) = (answers.clone(), queries.clone());
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 1500];
            loop {
                let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                    return;
                };
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Ok(request) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                if let Some(reply) = answer(&request, &table)
                    && let Ok(bytes) = reply.to_vec()
                {
                    let _ = socket.send_to(&bytes, peer).await;
                }
            }
        });
        Ok(Self {
            addr,
            answers,
            queries,
            task,
        })
    }

    /// Where the server listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Changes the answer for a name.
    pub fn set(&self, name: &str, answer: DnsAnswer) {
        if let Ok(mut table) = self.answers.lock() {
            table.insert(name.trim_end_matches('.').to_ascii_lowercase(), answer);
        }
    }

    /// Queries received so far.
    pub fn queries(&self) -> usize {
        self.queries.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for FakeDns {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lookup(table: &Mutex<HashMap<String, DnsAnswer>>, name: &str) -> DnsAnswer {
    let Ok(table) = table.lock() else {
        return DnsAnswer::NxDomain;
    };
    if let Some(a) = table.get(name) {
        return *a;
    }
    let mut rest = name;
    while let Some((_, parent)) = rest.split_once('.') {
        if let Some(a) = table.get(&format!("*.{parent}")) {
            return *a;
        }
        rest = parent;
    }
    DnsAnswer::NxDomain
}

fn answer(request: &Message, table: &Mutex<HashMap<String, DnsAnswer>>) -> Option<Message> {
    let query = request.queries.first()?;
    let name = query
        .name
        .to_ascii()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let mut reply = Message::response(request.metadata.id, request.metadata.op_code);
    reply.metadata.recursion_desired = request.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.add_queries(request.queries.clone());
    match lookup(table, &name) {
        DnsAnswer::Silent => return None,
        DnsAnswer::NxDomain => reply.metadata.response_code = ResponseCode::NXDomain,
        DnsAnswer::A(ip) => {
            if query.query_type == RecordType::A {
                reply.add_answer(Record::from_rdata(query.name.clone(), 60, RData::A(A(ip))));
            }
            // AAAA: the name exists with no IPv6 address (NOERROR, no answers).
        }
    }
    Some(reply)
}
