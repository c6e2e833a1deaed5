//! The DIDComm protocols Sichat speaks, by message type URI, and builders for the messages
//! both sides send (problem reports, replies in a thread). The mediator's behaviour lives
//! in the server; a client uses the same names to talk to it.

use serde_json::{Value, json};

use super::message::Message;

pub const FORWARD: &str = "https://didcomm.org/routing/2.0/forward";

pub mod coordinate_v2 {
    pub const PIURI: &str = "https://didcomm.org/coordinate-mediation/2.0";
    pub const MEDIATE_REQUEST: &str =
        "https://didcomm.org/coordinate-mediation/2.0/mediate-request";
    pub const MEDIATE_GRANT: &str = "https://didcomm.org/coordinate-mediation/2.0/mediate-grant";
    pub const MEDIATE_DENY: &str = "https://didcomm.org/coordinate-mediation/2.0/mediate-deny";
    pub const KEYLIST_UPDATE: &str = "https://didcomm.org/coordinate-mediation/2.0/keylist-update";
    pub const KEYLIST_UPDATE_RESPONSE: &str =
        "https://didcomm.org/coordinate-mediation/2.0/keylist-update-response";
    pub const KEYLIST_QUERY: &str = "https://didcomm.org/coordinate-mediation/2.0/keylist-query";
    pub const KEYLIST: &str = "https://didcomm.org/coordinate-mediation/2.0/keylist";
}

pub mod coordinate_v3 {
    pub const PIURI: &str = "https://didcomm.org/coordinate-mediation/3.0";
    pub const MEDIATE_REQUEST: &str =
        "https://didcomm.org/coordinate-mediation/3.0/mediate-request";
    pub const MEDIATE_GRANT: &str = "https://didcomm.org/coordinate-mediation/3.0/mediate-grant";
    pub const MEDIATE_DENY: &str = "https://didcomm.org/coordinate-mediation/3.0/mediate-deny";
    pub const RECIPIENT_UPDATE: &str =
        "https://didcomm.org/coordinate-mediation/3.0/recipient-update";
    pub const RECIPIENT_UPDATE_RESPONSE: &str =
        "https://didcomm.org/coordinate-mediation/3.0/recipient-update-response";
    pub const RECIPIENT_QUERY: &str =
        "https://didcomm.org/coordinate-mediation/3.0/recipient-query";
    pub const RECIPIENT: &str = "https://didcomm.org/coordinate-mediation/3.0/recipient";
}

pub mod pickup {
    pub const PIURI: &str = "https://didcomm.org/messagepickup/3.0";
    pub const STATUS_REQUEST: &str = "https://didcomm.org/messagepickup/3.0/status-request";
    pub const STATUS: &str = "https://didcomm.org/messagepickup/3.0/status";
    pub const DELIVERY_REQUEST: &str = "https://didcomm.org/messagepickup/3.0/delivery-request";
    pub const DELIVERY: &str = "https://didcomm.org/messagepickup/3.0/delivery";
    pub const MESSAGES_RECEIVED: &str = "https://didcomm.org/messagepickup/3.0/messages-received";
    pub const LIVE_DELIVERY_CHANGE: &str =
        "https://didcomm.org/messagepickup/3.0/live-delivery-change";
}

pub mod trust_ping {
    pub const PIURI: &str = "https://didcomm.org/trust-ping/2.0";
    pub const PING: &str = "https://didcomm.org/trust-ping/2.0/ping";
    pub const PING_RESPONSE: &str = "https://didcomm.org/trust-ping/2.0/ping-response";
}

pub mod discover_features {
    pub const PIURI: &str = "https://didcomm.org/discover-features/2.0";
    pub const QUERIES: &str = "https://didcomm.org/discover-features/2.0/queries";
    pub const DISCLOSE: &str = "https://didcomm.org/discover-features/2.0/disclose";
}

pub mod basic_message {
    pub const PIURI: &str = "https://didcomm.org/basicmessage/2.0";
    pub const MESSAGE: &str = "https://didcomm.org/basicmessage/2.0/message";
}

pub mod out_of_band {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use serde_json::json;

    use crate::didcomm::message::{InvalidMessage, Message};

    pub const PIURI: &str = "https://didcomm.org/out-of-band/2.0";
    pub const INVITATION: &str = "https://didcomm.org/out-of-band/2.0/invitation";

    /// An invitation from `from` (plaintext, as out-of-band 2.0 sends it) to start the
    /// protocol `goal_code` names (e.g. `request-mediate`), over DIDComm v2.
    pub fn invitation(from: &str, goal_code: &str, goal: &str) -> Message {
        let mut m = Message::new(
            INVITATION,
            json!({"goal_code": goal_code, "goal": goal, "accept": ["didcomm/v2"]}),
        );
        m.from = Some(from.to_owned());
        m
    }

    /// The URL form: `base?_oob=<base64url(JSON)>`.
    pub fn to_url(base: &str, invitation: &Message) -> String {
        format!("{base}?_oob={}", B64.encode(invitation.to_bytes()))
    }

    /// Reads the invitation of a URL carrying `_oob` (padded or not), checking it is one.
    pub fn from_url(url: &str) -> Result<Message, InvalidMessage> {
        let bad = |why: &str| InvalidMessage {
            field: "_oob",
            reason: why.to_owned(),
        };
        let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
        let value = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("_oob="))
            .ok_or_else(|| bad("is missing from the URL"))?;
        let bytes = B64
            .decode(value.trim_end_matches('='))
            .map_err(|_| bad("is not base64url"))?;
        let m = Message::parse(&bytes)?;
        if m.type_ != INVITATION || m.from.is_none() {
            return Err(bad("is not an out-of-band 2.0 invitation with a `from`"));
        }
        Ok(m)
    }
}

pub mod report_problem {
    pub const PIURI: &str = "https://didcomm.org/report-problem/2.0";
    pub const PROBLEM_REPORT: &str = "https://didcomm.org/report-problem/2.0/problem-report";
}

pub const ROUTING_PIURI: &str = "https://didcomm.org/routing/2.0";

/// The protocol family and version of a message type (`…/name/1.0/msg` → `…/name/1.0`).
pub fn piuri_of(message_type: &str) -> &str {
    message_type
        .rsplit_once('/')
        .map_or(message_type, |(p, _)| p)
}

/// A reply in the thread of `to`: `thid` set to its thread, `to` its sender, `from` us.
pub fn reply(to: &Message, message_type: &str, from: &str, body: Value) -> Message {
    let mut m = Message::new(message_type, body);
    m.thid = Some(to.thread_id().to_owned());
    m.from = Some(from.to_owned());
    m.to = to.from.clone().map(|f| vec![f]);
    m
}

/// A problem report (report-problem 2.0) about `about`: `pthid` its thread, `ack` its id,
/// the code, a static comment with `{1}`-style placeholders, and their arguments.
pub fn problem_report(
    about: Option<&Message>,
    from: &str,
    code: &str,
    comment: &str,
    args: &[&str],
) -> Message {
    let mut m = Message::new(
        report_problem::PROBLEM_REPORT,
        json!({"code": code, "comment": comment, "args": args}),
    );
    m.from = Some(from.to_owned());
    if let Some(about) = about {
        m.pthid = Some(about.thread_id().to_owned());
        m.extra.insert("ack".into(), json!([about.id]));
        m.to = about.from.clone().map(|f| vec![f]);
    }
    m
}

/// Glob matching for discover-features queries: `*` stands for any run of characters.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_the_spec_examples() {
        assert!(glob_match("https://didcomm.org/*", pickup::PIURI));
        assert!(glob_match("*", "x"));
        assert!(glob_match(
            "https://didcomm.org/trust-ping/*",
            trust_ping::PIURI
        ));
        assert!(glob_match("*/messagepickup/*", pickup::PIURI));
        assert!(!glob_match("https://didcomm.org/routing/*", pickup::PIURI));
        assert!(glob_match(pickup::PIURI, pickup::PIURI));
        assert!(!glob_match("a*b*c", "ac"));
        assert!(glob_match("a*b*c", "abc"));
    }

    #[test]
    fn invitations_round_trip_through_their_url() {
        let inv = out_of_band::invitation("did:example:m", "request-mediate", "RequestMediate");
        let url = out_of_band::to_url("https://m.example/didcomm/invitation", &inv);
        assert_eq!(out_of_band::from_url(&url).unwrap(), inv);
        assert!(out_of_band::from_url("https://x/?_oob=!!").is_err());
        assert!(out_of_band::from_url("https://x/").is_err());
        let ping = Message::new(trust_ping::PING, json!({}));
        assert!(out_of_band::from_url(&out_of_band::to_url("https://x/", &ping)).is_err());
    }

    #[test]
    fn piuri_drops_the_message_name() {
        assert_eq!(piuri_of(pickup::STATUS), pickup::PIURI);
        assert_eq!(piuri_of(FORWARD), ROUTING_PIURI);
    }

    #[test]
    fn replies_and_reports_keep_the_thread() {
        let mut ping = Message::new(trust_ping::PING, json!({}));
        ping.from = Some("did:example:a".into());
        let r = reply(&ping, trust_ping::PING_RESPONSE, "did:example:m", json!({}));
        assert_eq!(r.thid.as_deref(), Some(ping.id.as_str()));
        assert_eq!(r.to, Some(vec!["did:example:a".to_owned()]));
        let p = problem_report(Some(&ping), "did:example:m", "e.p.msg", "bad {1}", &["x"]);
        assert_eq!(p.pthid.as_deref(), Some(ping.id.as_str()));
        assert_eq!(p.extra["ack"], json!([ping.id]));
        assert_eq!(p.body["args"], json!(["x"]));
        p.check().unwrap();
    }
}
