//! DIDComm plaintext messages (DIDComm Messaging v2.1 §2.4, §3): the headers, their checks,
//! and attachments. Parsing is strict where a header carries meaning (`id`, `type`, `typ`,
//! `from`, `to`, `body`, the attachments' data) and lenient where deployed libraries
//! differ (`created_time`/`expires_time` as epoch seconds or RFC 3339 text, `body: null`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::id::Did;

/// The media type of a plaintext DIDComm message.
pub const PLAIN_TYP: &str = "application/didcomm-plain+json";
/// The longest `id`, `thid`, `pthid` accepted.
pub const MAX_ID_LEN: usize = 256;
/// The most DIDs in `to`.
pub const MAX_TO: usize = 64;
/// The most attachments (a pickup delivery carries up to 100 messages).
pub const MAX_ATTACHMENTS: usize = 128;

/// Why a plaintext message was refused: the header and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed message: `{field}` {reason}")]
pub struct InvalidMessage {
    pub field: &'static str,
    pub reason: String,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> InvalidMessage {
    InvalidMessage {
        field,
        reason: reason.into(),
    }
}

/// A plaintext message. Headers this type does not name (`return_route`, `lang`,
/// `please_ack`, ...) are kept in `extra`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pthid: Option<String>,
    /// Epoch seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_time: Option<u64>,
    /// Epoch seconds; after it the message is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_time: Option<u64>,
    pub body: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<Attachment>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_prior: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An attachment (§3.4): its data is inline JSON, base64, a JWS, or links with a hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub data: AttachmentData,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AttachmentData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base64: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jws: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
}

impl Attachment {
    /// An attachment carrying `json` inline.
    pub fn json(id: Option<String>, json: Value) -> Self {
        Self {
            id,
            media_type: None,
            description: None,
            data: AttachmentData {
                json: Some(json),
                ..Default::default()
            },
            extra: Map::new(),
        }
    }

    /// The attached content as text: `json` serialized, or `base64` decoded (standard or
    /// URL-safe alphabet, padded or not: deployed libraries use both). `None` for links or
    /// JWS-only data.
    pub fn content(&self) -> Option<Vec<u8>> {
        use base64::Engine;
        if let Some(json) = &self.data.json {
            return Some(json.to_string().into_bytes());
        }
        let text = self.data.base64.as_deref()?.trim_end_matches('=');
        let engines = [
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
            base64::engine::general_purpose::STANDARD_NO_PAD,
        ];
        engines.iter().find_map(|e| e.decode(text).ok())
    }
}

/// A header that is epoch seconds, or (as some libraries send) RFC 3339 text.
fn lenient_time(value: &Value, field: &'static str) -> Result<Option<u64>, InvalidMessage> {
    match value {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
            .map(Some)
            .ok_or_else(|| invalid(field, "is not a time in epoch seconds")),
        Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
            .ok()
            .and_then(|t| u64::try_from(t.timestamp()).ok())
            .map(Some)
            .ok_or_else(|| invalid(field, "is not a time in epoch seconds")),
        _ => Err(invalid(field, "is not a time in epoch seconds")),
    }
}

fn check_id(field: &'static str, value: &str) -> Result<(), InvalidMessage> {
    if value.is_empty() || value.len() > MAX_ID_LEN || value.chars().any(char::is_control) {
        return Err(invalid(
            field,
            format!("must be 1 to {MAX_ID_LEN} characters, no control characters"),
        ));
    }
    Ok(())
}

/// A DID, or a DID URL whose DID part is checked (`to` may name keys in some libraries).
fn check_did(field: &'static str, value: &str) -> Result<Did, InvalidMessage> {
    let did = value.split_once('#').map_or(value, |(d, _)| d);
    Did::parse(did).map_err(|e| invalid(field, e.to_string()))
}

impl Message {
    /// A new message with a random `id` (a UUID), `typ` set and the given `type` and body.
    pub fn new(type_: &str, body: Value) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            typ: Some(PLAIN_TYP.to_owned()),
            type_: type_.to_owned(),
            from: None,
            to: None,
            thid: None,
            pthid: None,
            created_time: None,
            expires_time: None,
            body,
            attachments: None,
            from_prior: None,
            extra: Map::new(),
        }
    }

    /// Parses and checks a plaintext message.
    pub fn parse(bytes: &[u8]) -> Result<Self, InvalidMessage> {
        let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(bytes) else {
            return Err(invalid("message", "is not a JSON object"));
        };
        Self::from_object(obj)
    }

    /// [`Message::parse`] of a JSON object parsed already.
    pub fn from_object(mut obj: Map<String, Value>) -> Result<Self, InvalidMessage> {
        // Times first: they are lenient, the rest is strict.
        for field in ["created_time", "expires_time"] {
            if let Some(v) = obj.get(field) {
                let t = lenient_time(v, field)?;
                match t {
                    Some(t) => obj.insert(field.into(), t.into()),
                    None => obj.remove(field),
                };
            }
        }
        match obj.get("body") {
            None => return Err(invalid("body", "is missing")),
            Some(Value::Null) => {
                obj.insert("body".into(), Value::Object(Map::new()));
            }
            Some(Value::Object(_)) => {}
            Some(_) => return Err(invalid("body", "is not a JSON object")),
        }
        for field in ["id", "type"] {
            if !obj.get(field).is_some_and(Value::is_string) {
                return Err(invalid(field, "must be a string"));
            }
        }
        let message: Message = serde_json::from_value(Value::Object(obj))
            .map_err(|e| invalid("message", e.to_string()))?;
        message.check()?;
        Ok(message)
    }

    /// The header checks (§2.4, §3): what [`Message::parse`] enforces.
    pub fn check(&self) -> Result<(), InvalidMessage> {
        check_id("id", &self.id)?;
        if self.type_.is_empty() || self.type_.len() > 1024 {
            return Err(invalid("type", "must be a message type URI"));
        }
        if let Some(typ) = &self.typ
            && typ != PLAIN_TYP
        {
            return Err(invalid("typ", format!("must be `{PLAIN_TYP}`")));
        }
        if let Some(from) = &self.from {
            if from.contains('#') {
                return Err(invalid("from", "must be a DID, not a DID URL"));
            }
            check_did("from", from)?;
        }
        if let Some(to) = &self.to {
            if to.len() > MAX_TO {
                return Err(invalid(
                    "to",
                    format!("names more than {MAX_TO} recipients"),
                ));
            }
            for did in to {
                check_did("to", did)?;
            }
        }
        for (field, value) in [("thid", &self.thid), ("pthid", &self.pthid)] {
            if let Some(v) = value {
                check_id(field, v)?;
            }
        }
        if !self.body.is_object() {
            return Err(invalid("body", "is not a JSON object"));
        }
        if let Some(attachments) = &self.attachments {
            if attachments.is_empty() {
                return Err(invalid("attachments", "is an empty list (leave it out)"));
            }
            if attachments.len() > MAX_ATTACHMENTS {
                return Err(invalid(
                    "attachments",
                    format!("more than {MAX_ATTACHMENTS}"),
                ));
            }
            for a in attachments {
                if let Some(id) = &a.id {
                    check_id("attachments", id)?;
                }
                let d = &a.data;
                let inline = [d.json.is_some(), d.base64.is_some(), d.links.is_some()]
                    .iter()
                    .filter(|x| **x)
                    .count();
                if inline == 0 && d.jws.is_none() {
                    return Err(invalid(
                        "attachments",
                        "data needs `json`, `base64`, `jws` or `links`",
                    ));
                }
                if d.links.is_some() && d.hash.is_none() {
                    return Err(invalid("attachments", "linked data needs its `hash`"));
                }
                if d.base64.is_some() && a.content().is_none() {
                    return Err(invalid("attachments", "`base64` does not decode"));
                }
            }
        }
        Ok(())
    }

    /// The `from` DID (the message was checked, so it parses).
    pub fn from_did(&self) -> Option<Did> {
        self.from.as_deref().and_then(|f| Did::parse(f).ok())
    }

    /// Whether `did` is among the recipients in `to` (a DID URL there counts for its DID).
    pub fn is_to(&self, did: &str) -> bool {
        self.to
            .iter()
            .flatten()
            .any(|t| t.split_once('#').map_or(t.as_str(), |(d, _)| d) == did)
    }

    /// The thread this message belongs to: `thid`, or its own `id` when it starts one.
    pub fn thread_id(&self) -> &str {
        self.thid.as_deref().unwrap_or(&self.id)
    }

    /// A header from `extra` as a string (`return_route`, `lang`, ...).
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.extra.get(name).and_then(Value::as_str)
    }

    /// The message as JSON bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Invariant: every member is JSON already (Value, String, numbers), so this
        // serialization cannot fail.
        serde_json::to_vec(self).expect("a message serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<Message, InvalidMessage> {
        Message::parse(v.to_string().as_bytes())
    }

    fn field(v: Value) -> &'static str {
        parse(v).unwrap_err().field
    }

    #[test]
    fn the_appendix_plaintext_parses_and_round_trips() {
        let m = parse(json!({"id":"1234567890","typ":PLAIN_TYP,
            "type":"http://example.com/protocols/lets_do_lunch/1.0/proposal",
            "from":"did:example:alice","to":["did:example:bob"],"created_time":1516269022,
            "expires_time":1516385931,"body":{"messagespecificattribute":"and its value"},
            "return_route":"all"}))
        .unwrap();
        assert_eq!(m.expires_time, Some(1516385931));
        assert!(m.is_to("did:example:bob"));
        assert_eq!(m.header_str("return_route"), Some("all"));
        let again = Message::parse(&m.to_bytes()).unwrap();
        assert_eq!(again, m);
    }

    /// didcomm-rust's invalid plaintexts (`INVALID_PLAINTEXT_MSG_*`) and a few more.
    #[test]
    fn invalid_plaintexts_are_refused_naming_the_header() {
        let base = || json!({"id":"1","type":"t","body":{}});
        assert!(parse(base()).is_ok());
        assert_eq!(field(json!("a string")), "message");
        assert_eq!(field(json!({})), "body");
        assert_eq!(field(json!({"type":"t","body":{}})), "id");
        assert_eq!(field(json!({"id":"1","body":{}})), "type");
        assert_eq!(field(json!({"id":"1","type":"t"})), "body");
        let with = |k: &str, v: Value| {
            let mut m = base();
            m[k] = v;
            m
        };
        assert_eq!(
            field(with("typ", json!("application/didcomm-plain+json-unknown"))),
            "typ"
        );
        assert_eq!(field(with("body", json!("x"))), "body");
        assert_eq!(field(with("attachments", json!([]))), "attachments");
        assert_eq!(field(with("attachments", json!([{"id":"1"}]))), "message");
        assert_eq!(
            field(with("attachments", json!([{"data":{}}]))),
            "attachments"
        );
        assert_eq!(
            field(with("attachments", json!([{"data":{"links":["x"]}}]))),
            "attachments"
        );
        assert_eq!(field(with("attachments", json!("x"))), "message");
        assert_eq!(field(with("attachments", json!([1, 2]))), "message");
        assert_eq!(
            field(with("attachments", json!([{"data":{"base64":"!!"}}]))),
            "attachments"
        );
        assert_eq!(
            field(with("attachments", json!([{"id":1,"data":{"json":{}}}]))),
            "message"
        );
        assert_eq!(
            field(with("attachments", json!([{"data":null}]))),
            "message"
        );
        assert_eq!(field(with("from", json!("not a did"))), "from");
        assert_eq!(field(with("from", json!("did:example:a#key-1"))), "from");
        assert_eq!(field(with("to", json!(["nope"]))), "to");
        assert_eq!(field(with("to", json!("did:example:a"))), "message");
        assert_eq!(
            field(with("expires_time", json!("yesterday"))),
            "expires_time"
        );
        assert_eq!(field(with("id", json!(""))), "id");
        assert_eq!(field(with("thid", json!("a\u{0}b"))), "thid");
    }

    #[test]
    fn times_and_bodies_are_read_leniently_where_libraries_differ() {
        let m = parse(json!({"id":"1","type":"t","body":null,
            "created_time":"2024-01-01T00:00:00Z","expires_time":1.7e9}))
        .unwrap();
        assert_eq!(m.body, json!({}));
        assert_eq!(m.created_time, Some(1_704_067_200));
        assert_eq!(m.expires_time, Some(1_700_000_000));
    }

    #[test]
    fn attachment_content_accepts_both_base64_alphabets() {
        let a = |b: &str| Attachment {
            data: AttachmentData {
                base64: Some(b.into()),
                ..Default::default()
            },
            ..Attachment::json(None, json!(null))
        };
        assert_eq!(a("-_8").content().unwrap(), vec![0xfb, 0xff]);
        assert_eq!(a("+/8=").content().unwrap(), vec![0xfb, 0xff]);
        assert_eq!(
            Attachment::json(None, json!({"a":1})).content().unwrap(),
            br#"{"a":1}"#
        );
    }
}
