//! Coordinate Mediation 2.0 and 3.0: a DID asks to be mediated (granted: the mediator's
//! DID is its routing DID), then adds and removes the recipient DIDs whose forwards it
//! wants queued, and lists them. 2.0 names them `keylist`, 3.0 `recipient`; 2.0's grant
//! carries `routing_did` as a string, 3.0's as a list.

use serde_json::{Value, json};
use sichat_core::didcomm::protocols::{self, coordinate_v2 as v2, coordinate_v3 as v3};
use sichat_core::id::Did;
use sichat_core::store::{Changes, MediationRecord, MessageStore, RecipientUpdate, UnitOfWork};

use super::{Handled, Mediator, MediatorError, Received};

/// Updates per request, and the longest recipient DID stored.
const MAX_UPDATES: usize = 100;
const MAX_DID_LEN: usize = 2048;

pub(super) async fn handle(m: &Mediator, r: &Received) -> Result<Handled, MediatorError> {
    // Invariant: the dispatcher only calls this with an authenticated sender.
    let Some(client) = r.sender.as_ref() else {
        return Ok(Handled::none());
    };
    let msg = &r.message;
    let t = msg.type_.as_str();
    let is_v3 = t.starts_with(v3::PIURI);
    if t == v2::MEDIATE_REQUEST || t == v3::MEDIATE_REQUEST {
        let record = MediationRecord {
            client: client.to_string(),
            granted_at: m.now_ms(),
        };
        m.store()
            .save_changes(&Changes::new().mediation(record))
            .await
            .map_err(MediatorError::Storage)?;
        m.route_changed(client.as_str());
        let routing = m.did().as_str();
        let (kind, body) = if is_v3 {
            (v3::MEDIATE_GRANT, json!({"routing_did": [routing]}))
        } else {
            (v2::MEDIATE_GRANT, json!({"routing_did": routing}))
        };
        return Ok(Handled::reply(protocols::reply(
            msg,
            kind,
            m.did().as_str(),
            body,
        )));
    }
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
    if t == v2::KEYLIST_UPDATE || t == v3::RECIPIENT_UPDATE {
        return update(m, r, client, is_v3).await;
    }
    // keylist-query / recipient-query
    let all = m
        .store()
        .recipients_of(client.as_str())
        .await
        .map_err(MediatorError::Storage)?;
    let page = msg.body.get("paginate");
    let number = |k: &str| page.and_then(|p| p.get(k)).and_then(Value::as_u64);
    let offset = number("offset").unwrap_or(0) as usize;
    let limit = number("limit").map_or(all.len(), |l| l as usize);
    let shown: Vec<Value> = all
        .iter()
        .skip(offset)
        .take(limit)
        .map(|d| json!({"recipient_did": d}))
        .collect();
    let reply = if is_v3 {
        let mut body = json!({"dids": shown});
        if page.is_some() {
            body["pagination"] = json!({"count": shown.len(), "offset": offset,
                "remaining": all.len().saturating_sub(offset + shown.len())});
        }
        protocols::reply(msg, v3::RECIPIENT, m.did().as_str(), body)
    } else {
        // 2.0 clients (the IOHK suite among them) parse `keylist` strictly: keys only.
        protocols::reply(msg, v2::KEYLIST, m.did().as_str(), json!({"keys": shown}))
    };
    Ok(Handled::reply(reply))
}

async fn update(
    m: &Mediator,
    r: &Received,
    client: &Did,
    is_v3: bool,
) -> Result<Handled, MediatorError> {
    let msg = &r.message;
    let Some(updates) = msg.body.get("updates").and_then(Value::as_array) else {
        return Ok(Handled::reply(m.problem(
            msg,
            "e.p.msg.invalid-body",
            "The body of {1} needs `updates`",
            &[&msg.type_],
        )));
    };
    if updates.len() > MAX_UPDATES {
        return Ok(Handled::reply(m.problem(
            msg,
            "e.p.msg.invalid-body",
            "At most {1} updates per request",
            &[&MAX_UPDATES.to_string()],
        )));
    }
    let now = m.now_ms();
    let mut results = Vec::with_capacity(updates.len());
    let mut changes = Changes::new();
    let mut pending = Vec::new();
    for u in updates {
        let did = u
            .get("recipient_did")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let action = u.get("action").and_then(Value::as_str).unwrap_or_default();
        let echo = |result: &str| json!({"recipient_did": did, "action": action, "result": result});
        let add = match action {
            "add" => true,
            "remove" => false,
            _ => {
                results.push(echo("client_error"));
                continue;
            }
        };
        let bare = did.split_once('#').map_or(did, |(d, _)| d);
        if bare.len() > MAX_DID_LEN || Did::parse(bare).is_err() {
            results.push(echo("client_error"));
            continue;
        }
        let owner = m
            .store()
            .client_of(bare)
            .await
            .map_err(MediatorError::Storage)?;
        let result = match (add, owner.as_deref()) {
            (true, Some(o)) if o == client.as_str() => "no_change",
            (true, Some(_)) => "client_error",
            (true, None) => "success",
            (false, Some(o)) if o == client.as_str() => "success",
            (false, _) => "no_change",
        };
        if result == "success" {
            changes = changes.recipient_update(RecipientUpdate {
                client: client.to_string(),
                recipient: bare.to_owned(),
                add,
                at: now,
            });
            pending.push(results.len());
        }
        results.push(echo(result));
    }
    for u in &changes.recipient_updates {
        m.route_changed(&u.recipient);
    }
    if !changes.is_empty() && m.store().save_changes(&changes).await.is_err() {
        for i in pending {
            results[i]["result"] = json!("server_error");
        }
    }
    let kind = if is_v3 {
        v3::RECIPIENT_UPDATE_RESPONSE
    } else {
        v2::KEYLIST_UPDATE_RESPONSE
    };
    Ok(Handled::reply(protocols::reply(
        msg,
        kind,
        m.did().as_str(),
        json!({"updated": results}),
    )))
}
