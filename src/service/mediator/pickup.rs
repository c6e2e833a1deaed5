//! Message Pickup 3.0: a mediated DID asks how many messages wait (`status-request`),
//! takes up to `limit` of them (`delivery-request` → `delivery`, or `status` when none),
//! acknowledges what it received (`messages-received`: only then are they deleted), and
//! switches live mode on a WebSocket (`live-delivery-change`). It may name one of its
//! recipient DIDs in `recipient_did` (`recipient_key` in older clients) or mean them all
//! (its own DID included).

use std::sync::atomic::Ordering;

use serde_json::{Value, json};
use sichat_core::didcomm::protocols::{self, pickup as pu};
use sichat_core::store::{Changes, MessageStore, QueueStatus, UnitOfWork};

use super::{Handled, Mediator, MediatorError, Received, Transport};

/// Messages per delivery at most, and ids per acknowledgement.
const MAX_LIMIT: u64 = 100;
const MAX_ACKS: usize = 1_000;

fn recipient_field(body: &Value) -> Option<&str> {
    body.get("recipient_did")
        .or_else(|| body.get("recipient_key"))
        .and_then(Value::as_str)
}

pub(super) async fn handle(
    m: &Mediator,
    r: &Received,
    transport: &Transport<'_>,
) -> Result<Handled, MediatorError> {
    // Invariant: the dispatcher only calls this with an authenticated sender.
    let Some(client) = r.sender.as_ref() else {
        return Ok(Handled::none());
    };
    let msg = &r.message;
    if !m
        .is_mediated(client)
        .await
        .map_err(MediatorError::Storage)?
    {
        return Ok(Handled::reply(m.problem(
            msg,
            "e.p.req.not_enroll",
            "The DID '{1}' is not enroled.",
            &[client.as_str()],
        )));
    }
    let mut mine = m
        .store()
        .recipients_of(client.as_str())
        .await
        .map_err(MediatorError::Storage)?;
    mine.insert(0, client.to_string());
    let asked = recipient_field(&msg.body);
    let targets: Vec<String> = match asked {
        Some(r) => {
            let bare = r.split_once('#').map_or(r, |(d, _)| d);
            if !mine.iter().any(|x| x == bare) {
                return Ok(Handled::reply(m.problem(
                    msg,
                    "e.p.req.not_enroll",
                    "The DID '{1}' is not enroled.",
                    &[r],
                )));
            }
            vec![bare.to_owned()]
        }
        None => mine,
    };
    match msg.type_.as_str() {
        pu::STATUS_REQUEST => Ok(Handled::reply(
            status(m, r, asked, &targets, transport).await?,
        )),
        pu::DELIVERY_REQUEST => {
            let Some(limit) = msg
                .body
                .get("limit")
                .and_then(Value::as_u64)
                .filter(|l| *l > 0)
            else {
                return Ok(Handled::reply(m.problem(
                    msg,
                    "e.p.msg.invalid-body",
                    "The body of {1} needs a positive `limit`",
                    &[&msg.type_],
                )));
            };
            let mut left = limit.min(MAX_LIMIT) as u32;
            let mut bytes = 0usize;
            let mut found = Vec::new();
            let now = m.now_ms();
            for t in &targets {
                if left == 0 {
                    break;
                }
                for q in m
                    .store()
                    .queued(t, left, now)
                    .await
                    .map_err(MediatorError::Storage)?
                {
                    // A delivery stays within a few messages' worth of bytes.
                    if !found.is_empty()
                        && bytes + q.message.len() > 4 * m.settings().max_message_bytes
                    {
                        left = 0;
                        break;
                    }
                    bytes += q.message.len();
                    left -= 1;
                    found.push(q);
                }
            }
            if found.is_empty() {
                return Ok(Handled::reply(
                    status(m, r, asked, &targets, transport).await?,
                ));
            }
            Ok(Handled::reply(m.delivery(
                client,
                Some(msg.thread_id()),
                asked,
                &found,
            )))
        }
        pu::MESSAGES_RECEIVED => {
            let ids: Vec<&str> = msg
                .body
                .get("message_id_list")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .take(MAX_ACKS)
                .collect();
            let mut changes = Changes::new();
            for t in &targets {
                for id in &ids {
                    changes = changes.acknowledge(t.clone(), (*id).to_owned());
                }
            }
            if !changes.is_empty() {
                m.store()
                    .save_changes(&changes)
                    .await
                    .map_err(MediatorError::Storage)?;
            }
            Ok(Handled::reply(
                status(m, r, asked, &targets, transport).await?,
            ))
        }
        pu::LIVE_DELIVERY_CHANGE => {
            let on = match msg.body.get("live_delivery") {
                Some(Value::Bool(b)) => *b,
                Some(Value::String(s)) if s == "true" || s == "false" => s == "true",
                _ => {
                    return Ok(Handled::reply(m.problem(
                        msg,
                        "e.p.msg.invalid-body",
                        "The body of {1} needs `live_delivery`",
                        &[&msg.type_],
                    )));
                }
            };
            let Transport::WebSocket(session) = transport else {
                let mut report = m.problem(
                    msg,
                    "e.m.live-mode-not-supported",
                    "Connection does not support Live Delivery",
                    &[],
                );
                report.pthid = Some(msg.thread_id().to_owned());
                return Ok(Handled::reply(report));
            };
            session.live.store(on, Ordering::Release);
            if on {
                m.live().register(session.id, &targets, &session.tx);
            } else {
                m.live().unregister(session.id);
            }
            Ok(Handled::reply(
                status(m, r, asked, &targets, transport).await?,
            ))
        }
        _ => Ok(Handled::reply(m.problem(
            msg,
            "e.p.msg.unsupported",
            "Unsupported message type {1}",
            &[&msg.type_],
        ))),
    }
}

/// A `status` of the recipients' queues (summed), echoing `recipient_did` when asked.
async fn status(
    m: &Mediator,
    r: &Received,
    asked: Option<&str>,
    targets: &[String],
    transport: &Transport<'_>,
) -> Result<sichat_core::didcomm::Message, MediatorError> {
    let now = m.now_ms();
    let mut sum = QueueStatus::default();
    for t in targets {
        let s = m
            .store()
            .queue_status(t, now)
            .await
            .map_err(MediatorError::Storage)?;
        sum.count += s.count;
        sum.bytes += s.bytes;
        sum.oldest_received_at = match (sum.oldest_received_at, s.oldest_received_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        sum.newest_received_at = sum.newest_received_at.max(s.newest_received_at);
    }
    let mut body = json!({"message_count": sum.count});
    if let Some(a) = asked {
        body["recipient_did"] = json!(a);
    }
    if sum.count > 0 {
        body["total_bytes"] = json!(sum.bytes);
        if let (Some(oldest), Some(newest)) = (sum.oldest_received_at, sum.newest_received_at) {
            body["oldest_received_time"] = json!(oldest / 1000);
            body["newest_received_time"] = json!(newest / 1000);
            body["longest_waited_seconds"] = json!(now.saturating_sub(oldest).max(0) / 1000);
        }
    }
    if let Transport::WebSocket(session) = transport {
        body["live_delivery"] = json!(session.live.load(Ordering::Acquire));
    } else {
        body["live_delivery"] = json!(false);
    }
    Ok(protocols::reply(
        &r.message,
        pu::STATUS,
        m.did().as_str(),
        body,
    ))
}
