//! `did:peer` numalgo 0 and 2 (Peer DID Method Specification §numalgo-0, §numalgo-2).
//!
//! Deployed libraries name did:peer:2 keys differently: SICPA's (and most DIDComm stacks)
//! use `#` + the first 8 characters of the multibase value after `z` (`#6LSbysY2`); the
//! spec's current text and Affinidi use `#key-1`, `#key-2` in order of appearance. Sichat
//! produces the SICPA form and accepts both on lookup ([`alias_key_id`]).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::document::{
    DidDocument, DocumentBuilder, ED25519_2020_CONTEXT, MULTIKEY_CONTEXT_V1, Relationship,
    X25519_2020_CONTEXT,
};
use super::key::decode_multikey;
use super::resolver::ResolveError;
use crate::keys::{KeyType, PublicKey};

/// The most keys and services one did:peer:2 may carry. Real ones have two or three; the
/// cap keeps a hostile DID from expanding into a multi-megabyte document.
pub const MAX_ELEMENTS: usize = 16;

/// The key-id convention and method types of a resolved did:peer document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PeerStyle {
    /// SICPA peer-did libraries: `#6MkqRYqQ` ids, 2020 suite types, `V` means all four
    /// signing relationships, services `#didcommmessaging-N`.
    #[default]
    Sicpa,
    /// The spec's current examples: `#key-N` ids, `Multikey`, `V` means authentication,
    /// services `#service`, `#service-N`, `alsoKnownAs` the did:peer:3.
    Spec,
}

/// A purpose code of a did:peer:2 element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// `A`: assertion.
    Assertion,
    /// `E`: key agreement (encryption).
    Encryption,
    /// `V`: verification (authentication).
    Verification,
    /// `I`: capability invocation.
    CapabilityInvocation,
    /// `D`: capability delegation.
    CapabilityDelegation,
}

impl Purpose {
    fn code(self) -> char {
        match self {
            Purpose::Assertion => 'A',
            Purpose::Encryption => 'E',
            Purpose::Verification => 'V',
            Purpose::CapabilityInvocation => 'I',
            Purpose::CapabilityDelegation => 'D',
        }
    }
    fn from_code(c: char) -> Option<Self> {
        Some(match c {
            'A' => Purpose::Assertion,
            'E' => Purpose::Encryption,
            'V' => Purpose::Verification,
            'I' => Purpose::CapabilityInvocation,
            'D' => Purpose::CapabilityDelegation,
            _ => return None,
        })
    }
    fn relationships(self, style: PeerStyle) -> &'static [Relationship] {
        match self {
            Purpose::Assertion => &[Relationship::AssertionMethod],
            Purpose::Encryption => &[Relationship::KeyAgreement],
            Purpose::Verification if style == PeerStyle::Sicpa => &Relationship::SIGNING,
            Purpose::Verification => &[Relationship::Authentication],
            Purpose::CapabilityInvocation => &[Relationship::CapabilityInvocation],
            Purpose::CapabilityDelegation => &[Relationship::CapabilityDelegation],
        }
    }
}

/// `did:peer:0` of a key (numalgo 0: the multibase key itself).
pub fn create_peer0(key: &PublicKey) -> String {
    format!("did:peer:0{}", key.to_multibase())
}

/// `did:peer:2` from purposed keys and DIDComm services (plain, unabbreviated JSON).
pub fn create_peer2(keys: &[(Purpose, &PublicKey)], services: &[Value]) -> String {
    let mut did = String::from("did:peer:2");
    for (purpose, key) in keys {
        did.push('.');
        did.push(purpose.code());
        did.push_str(&key.to_multibase());
    }
    for service in services {
        did.push_str(".S");
        did.push_str(&B64.encode(abbreviate(service).to_string()));
    }
    did
}

/// The did:peer:3 of a did:peer:2 (SHA-256 multihash of the part after `did:peer:2`).
pub fn peer3_of(peer2: &str) -> Option<String> {
    let rest = peer2.strip_prefix("did:peer:2")?;
    let mut mh = vec![0x12, 0x20];
    mh.extend_from_slice(&Sha256::digest(rest.as_bytes()));
    Some(format!("did:peer:3z{}", bs58::encode(mh).into_string()))
}

/// Resolves a `did:peer` (numalgo 0 or 2) in the default [`PeerStyle::Sicpa`].
pub fn resolve(did: &str, msid: &str) -> Result<DidDocument, ResolveError> {
    resolve_with_style(did, msid, PeerStyle::Sicpa)
}

fn short_id(mb: &str) -> String {
    mb.chars().skip(1).take(8).collect()
}

fn add_key(
    b: &mut DocumentBuilder,
    did: &str,
    fragment: &str,
    key: &PublicKey,
    style: PeerStyle,
    rels: &[Relationship],
) {
    let ty = match (style, key.key_type()) {
        (PeerStyle::Spec, _) => {
            b.context(MULTIKEY_CONTEXT_V1);
            "Multikey"
        }
        (PeerStyle::Sicpa, KeyType::X25519) => {
            b.context(X25519_2020_CONTEXT);
            "X25519KeyAgreementKey2020"
        }
        (PeerStyle::Sicpa, KeyType::Ed25519) => {
            b.context(ED25519_2020_CONTEXT);
            "Ed25519VerificationKey2020"
        }
        (PeerStyle::Sicpa, KeyType::P256) => {
            b.context(MULTIKEY_CONTEXT_V1);
            "Multikey"
        }
    };
    b.method(
        json!({"id": format!("{did}#{fragment}"), "type": ty, "controller": did, "publicKeyMultibase": key.to_multibase()}),
        rels,
    );
}

/// Resolves numalgo 0 or 2 in the given style.
pub fn resolve_with_style(
    did: &str,
    msid: &str,
    style: PeerStyle,
) -> Result<DidDocument, ResolveError> {
    let mut b = DocumentBuilder::new(did);
    if let Some(mb) = msid.strip_prefix('0') {
        if style == PeerStyle::Spec {
            // The spec: a did:peer:0 document is the did:key document of the same key.
            return super::key::resolve(did, mb);
        }
        let key = decode_multikey(mb)?;
        let rels: &[Relationship] = if key.key_type() == KeyType::X25519 {
            &[Relationship::KeyAgreement]
        } else {
            &Relationship::SIGNING
        };
        add_key(&mut b, did, &short_id(mb), &key, style, rels);
        return Ok(b.build());
    }
    let Some(elements) = msid.strip_prefix("2.") else {
        return Err(ResolveError::InvalidDid(
            "only did:peer numalgo 0 and 2 are supported".into(),
        ));
    };
    let mut key_count = 0;
    let mut services = Vec::new();
    if elements.split('.').count() > MAX_ELEMENTS {
        return Err(ResolveError::InvalidDid(format!(
            "did:peer:2 with more than {MAX_ELEMENTS} keys and services"
        )));
    }
    for element in elements.split('.') {
        let mut chars = element.chars();
        let code = chars
            .next()
            .ok_or_else(|| ResolveError::InvalidDid("empty did:peer:2 element".into()))?;
        let body = chars.as_str();
        if code == 'S' {
            services.push(decode_service(body)?);
            continue;
        }
        let purpose = Purpose::from_code(code).ok_or_else(|| {
            ResolveError::InvalidDid(format!("unknown did:peer:2 purpose code `{code}`"))
        })?;
        let key = decode_multikey(body)?;
        if (purpose == Purpose::Encryption) != (key.key_type() == KeyType::X25519) {
            return Err(ResolveError::InvalidPublicKey(format!(
                "{} key used for purpose `{code}`",
                key.key_type()
            )));
        }
        key_count += 1;
        let fragment = match style {
            PeerStyle::Sicpa => short_id(body),
            PeerStyle::Spec => format!("key-{key_count}"),
        };
        add_key(
            &mut b,
            did,
            &fragment,
            &key,
            style,
            purpose.relationships(style),
        );
    }
    if key_count == 0 {
        return Err(ResolveError::InvalidDid("did:peer:2 without keys".into()));
    }
    let mut n = 0;
    for service in services {
        for mut s in flatten(service) {
            if let Value::Object(obj) = &mut s {
                let default_id = match style {
                    PeerStyle::Sicpa => {
                        let ty = obj
                            .get("type")
                            .and_then(Value::as_str)
                            .unwrap_or("service")
                            .to_lowercase();
                        format!("#{ty}-{n}")
                    }
                    PeerStyle::Spec if n == 0 => "#service".to_owned(),
                    PeerStyle::Spec => format!("#service-{n}"),
                };
                let id = obj
                    .get("id")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .unwrap_or(default_id);
                obj.insert(
                    "id".into(),
                    Value::String(if id.starts_with('#') {
                        format!("{did}{id}")
                    } else {
                        id
                    }),
                );
            }
            b.service(s);
            n += 1;
        }
    }
    if style == PeerStyle::Spec
        && let Some(p3) = peer3_of(did)
    {
        b.also_known_as(p3);
    }
    Ok(b.build())
}

fn flatten(v: Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items,
        other => vec![other],
    }
}

fn decode_service(body: &str) -> Result<Value, ResolveError> {
    let raw = B64
        .decode(body.trim_end_matches('='))
        .map_err(|_| ResolveError::InvalidDid("did:peer:2 service is not base64url".into()))?;
    let value: Value = serde_json::from_slice(&raw)
        .map_err(|_| ResolveError::InvalidDid("did:peer:2 service is not JSON".into()))?;
    if !(value.is_object()
        || value
            .as_array()
            .is_some_and(|a| a.iter().all(Value::is_object)))
    {
        return Err(ResolveError::InvalidDid(
            "did:peer:2 service must be an object".into(),
        ));
    }
    Ok(expand(value))
}

const ABBREVIATIONS: [(&str, &str); 4] = [
    ("t", "type"),
    ("s", "serviceEndpoint"),
    ("r", "routingKeys"),
    ("a", "accept"),
];

/// Renames object keys recursively (`to_long` picks the direction), and the type value
/// `dm` ↔ `DIDCommMessaging`.
fn rename(v: Value, to_long: bool) -> Value {
    match v {
        Value::Object(obj) => {
            let mut out = Map::new();
            for (k, val) in obj {
                let renamed = ABBREVIATIONS
                    .iter()
                    .find(|(short, long)| if to_long { *short == k } else { *long == k })
                    .map(|(short, long)| if to_long { *long } else { *short });
                let key = renamed.map(str::to_owned).unwrap_or(k);
                let val = match (key.as_str(), val) {
                    ("type", Value::String(t)) if to_long && t == "dm" => {
                        Value::String("DIDCommMessaging".into())
                    }
                    ("t", Value::String(t)) if !to_long && t == "DIDCommMessaging" => {
                        Value::String("dm".into())
                    }
                    (_, other) => rename(other, to_long),
                };
                out.insert(key, val);
            }
            Value::Object(out)
        }
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|i| rename(i, to_long)).collect())
        }
        other => other,
    }
}

/// Expands the spec's service abbreviations (`t`, `s`, `r`, `a`; `dm`).
fn expand(v: Value) -> Value {
    rename(v, true)
}

/// Applies the service abbreviations (inverse of [`expand`]).
fn abbreviate(v: &Value) -> Value {
    rename(v.clone(), false)
}

/// Maps a did:peer:2 key id in the other convention to the id in `doc`: `#key-N` to the
/// N-th key's SICPA id, and a SICPA id to itself when `doc` uses `#key-N`.
pub fn alias_key_id(doc: &DidDocument, did_url: &str) -> Option<String> {
    let (did, fragment) = did_url.split_once('#')?;
    let elements = did.strip_prefix("did:peer:2.")?;
    if did != doc.id() {
        return None;
    }
    let keys: Vec<&str> = elements
        .split('.')
        .filter(|e| !e.starts_with('S'))
        .filter_map(|e| e.get(1..))
        .filter(|e| !e.is_empty())
        .collect();
    if let Some(n) = fragment
        .strip_prefix("key-")
        .and_then(|n| n.parse::<usize>().ok())
    {
        let mb = keys.get(n.checked_sub(1)?)?;
        return Some(format!("{did}#{}", short_id(mb)));
    }
    let pos = keys.iter().position(|mb| short_id(mb) == fragment)?;
    Some(format!("{did}#key-{}", pos + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_peer2_resolves_with_its_keys_and_service() {
        let sig = crate::keys::SecretKey::generate(KeyType::Ed25519).public_key();
        let enc = crate::keys::SecretKey::generate(KeyType::X25519).public_key();
        let service = json!({"type":"DIDCommMessaging","serviceEndpoint":{"uri":"https://example.com/didcomm","accept":["didcomm/v2"],"routingKeys":[]}});
        let did = create_peer2(
            &[(Purpose::Verification, &sig), (Purpose::Encryption, &enc)],
            std::slice::from_ref(&service),
        );
        let doc = resolve(&did, &did[9..]).unwrap();
        let ka = doc.relationship(Relationship::KeyAgreement);
        assert_eq!(ka, vec![format!("{did}#{}", short_id(&enc.to_multibase()))]);
        let svc = &doc.as_json()["service"][0];
        assert_eq!(svc["serviceEndpoint"], service["serviceEndpoint"]);
        assert_eq!(svc["type"], "DIDCommMessaging");
        // Both key-id conventions find the same key.
        let by_number = doc.verification_method(&format!("{did}#key-2")).unwrap();
        assert_eq!(by_number["publicKeyMultibase"], enc.to_multibase());
    }

    #[test]
    fn malformed_peer_dids_are_refused() {
        for msid in [
            "1abc",
            "2",
            "2.",
            "2.Xz6Mk",
            "2.Vz6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc",
            "2.S!!",
            "2.SeyJ4Ijox",
        ] {
            assert!(
                resolve(&format!("did:peer:{msid}"), msid).is_err(),
                "{msid}"
            );
        }
    }
}
