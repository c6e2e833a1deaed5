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
use crate::id::Did;
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
pub fn create_peer0(key: &PublicKey) -> Did {
    // Invariant: `did:peer:0` + a base58btc multibase value is DID syntax.
    Did::parse(&format!("did:peer:0{}", key.to_multibase())).expect("a did:peer:0 is a DID")
}

/// `did:peer:2` from purposed keys and services given in plain DID-document JSON (a
/// DIDComm service's endpoint may be the DIDComm v2.1 object `{uri, accept, routingKeys}`).
/// Each service is encoded in the flat abbreviated form
/// `{"t":"dm","s":"<uri>","r":[…],"a":[…]}`: the one form every deployed did:peer
/// resolver reads (SICPA's Python and JVM libraries, Credo, Veramo, ACA-Py's did-peer-2,
/// aries-vcx); nested forms (`"s":{"uri",…}`) lose `accept` and `routingKeys` in some
/// of them or fail to parse.
pub fn create_peer2(keys: &[(Purpose, &PublicKey)], services: &[Value]) -> Did {
    let mut did = String::from("did:peer:2");
    for (purpose, key) in keys {
        did.push('.');
        did.push(purpose.code());
        did.push_str(&key.to_multibase());
    }
    for service in services {
        did.push_str(".S");
        did.push_str(&B64.encode(encode_service(service)));
    }
    // Invariant: purpose codes, base58btc and base64url are all DID characters.
    Did::parse(&did).expect("a did:peer:2 is a DID")
}

/// The did:peer:3 of a did:peer:2 (SHA-256 multihash of the part after `did:peer:2`).
pub fn peer3_of(peer2: &str) -> Option<String> {
    let rest = peer2.strip_prefix("did:peer:2")?;
    let mut mh = vec![0x12, 0x20];
    mh.extend_from_slice(&Sha256::digest(rest.as_bytes()));
    Some(format!(
        "did:peer:3{}",
        multibase::encode(multibase::Base::Base58Btc, mh)
    ))
}

/// Resolves a `did:peer` (numalgo 0 or 2) in the default [`PeerStyle::Sicpa`].
pub fn resolve(did: &Did) -> Result<DidDocument, ResolveError> {
    resolve_with_style(did, PeerStyle::Sicpa)
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
        (PeerStyle::Sicpa, KeyType::P256 | KeyType::Rsa) => {
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
pub fn resolve_with_style(did: &Did, style: PeerStyle) -> Result<DidDocument, ResolveError> {
    let mut b = DocumentBuilder::new(did);
    let msid = did.method_specific_id();
    if let Some(mb) = msid.strip_prefix('0') {
        if style == PeerStyle::Spec {
            // The spec: a did:peer:0 document is the did:key document of the same key.
            return super::key::document(did, mb, super::key::KeyFormat::Multikey);
        }
        let key = decode_multikey(mb)?;
        let rels: &[Relationship] = if key.key_type() == KeyType::X25519 {
            &[Relationship::KeyAgreement]
        } else {
            &Relationship::SIGNING
        };
        add_key(&mut b, did.as_str(), &short_id(mb), &key, style, rels);
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
            did.as_str(),
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
                // DID Core §5.4: a service has a string `type`; the deployed resolvers
                // refuse one without it.
                let ty = match obj.get("type") {
                    Some(Value::String(t)) if !t.is_empty() => t.to_lowercase(),
                    Some(Value::Array(types))
                        if !types.is_empty() && types.iter().all(Value::is_string) =>
                    {
                        types[0].as_str().unwrap_or_default().to_lowercase()
                    }
                    _ => {
                        return Err(ResolveError::InvalidDid(
                            "did:peer:2 service without a `type` (DID Core §5.4)".into(),
                        ));
                    }
                };
                let default_id = match style {
                    PeerStyle::Sicpa => format!("#{ty}-{n}"),
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
                        format!("{}{id}", did.as_str())
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
        && let Some(p3) = peer3_of(did.as_str())
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

/// The flat abbreviated JSON of a service, members in the order `t`, `s`, `r`, `a`, then
/// any others (abbreviated the same way), as SICPA's libraries write them.
fn encode_service(service: &Value) -> String {
    let Value::Object(obj) = service else {
        return rename(service.clone(), false).to_string();
    };
    let mut rest = obj.clone();
    let mut members: Vec<(&str, Value)> = Vec::new();
    if let Some(t) = rest.remove("type") {
        members.push(("t", rename(json!({"t": t}), false)["t"].clone()));
    }
    let (mut routing, mut accept) = (rest.remove("routingKeys"), rest.remove("accept"));
    match rest.remove("serviceEndpoint") {
        // DIDComm v2.1 object endpoint: flattened, its uri becomes `s`.
        Some(Value::Object(mut endpoint)) if endpoint.get("uri").is_some_and(Value::is_string) => {
            members.push(("s", endpoint.remove("uri").unwrap_or_default()));
            routing = endpoint.remove("routingKeys").or(routing);
            accept = endpoint.remove("accept").or(accept);
        }
        Some(endpoint) => members.push(("s", endpoint)),
        None => {}
    }
    if let Some(r) = routing {
        members.push(("r", r));
    }
    if let Some(a) = accept {
        members.push(("a", a));
    }
    let mut text = String::from("{");
    let others = rest.into_iter().map(|(k, v)| (k, rename(v, false)));
    for (i, (key, value)) in members
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .chain(others)
        .enumerate()
    {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&Value::String(key).to_string());
        text.push(':');
        text.push_str(&value.to_string());
    }
    text.push('}');
    text
}

/// Maps a did:peer key id in one of the deployed conventions to the id of the same key in
/// `doc`: SICPA's `#6MkqRYqQ` (8 characters after the `z`), SICPA's older full value
/// without `z`, the did:key-style full multibase value, and the spec's `#key-N` (numalgo
/// 2, by order of appearance). `None` when the fragment names no key of the DID or the
/// document has no other id for it.
pub fn alias_key_id(doc: &DidDocument, did_url: &str) -> Option<String> {
    let (did, fragment) = did_url.split_once('#')?;
    if did != doc.id() {
        return None;
    }
    let keys: Vec<&str> = if let Some(elements) = did.strip_prefix("did:peer:2.") {
        elements
            .split('.')
            .filter(|e| !e.starts_with('S'))
            .filter_map(|e| e.get(1..))
            .filter(|e| e.starts_with('z'))
            .collect()
    } else if let Some(mb) = did.strip_prefix("did:peer:0") {
        vec![mb]
    } else {
        return None;
    };
    let candidates = |n: usize, mb: &str| {
        [
            short_id(mb),
            mb.get(1..).unwrap_or_default().to_owned(),
            mb.to_owned(),
            format!("key-{}", n + 1),
        ]
    };
    let (n, mb) = keys
        .iter()
        .enumerate()
        .find(|(n, mb)| candidates(*n, mb).iter().any(|c| c == fragment))?;
    candidates(n, mb)
        .into_iter()
        .map(|c| format!("{did}#{c}"))
        .filter(|id| id != did_url)
        .find(|id| {
            doc.verification_methods()
                .any(|vm| vm.get("id").and_then(Value::as_str) == Some(id))
        })
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
        let doc = resolve(&did).unwrap();
        let ka = doc.relationship(Relationship::KeyAgreement);
        assert_eq!(ka, vec![format!("{did}#{}", short_id(&enc.to_multibase()))]);
        let svc = &doc.as_json()["service"][0];
        assert_eq!(svc["serviceEndpoint"], "https://example.com/didcomm");
        assert_eq!(svc["accept"], json!(["didcomm/v2"]));
        assert_eq!(svc["routingKeys"], json!([]));
        assert_eq!(svc["type"], "DIDCommMessaging");
        // Both key-id conventions find the same key.
        let by_number = doc.verification_method(&format!("{did}#key-2")).unwrap();
        assert_eq!(by_number["publicKeyMultibase"], enc.to_multibase());
    }

    /// The service is written in the flat form SICPA's README example uses, so a DID made
    /// here from the same keys and service is the README's DID, byte for byte.
    #[test]
    fn services_are_encoded_in_the_flat_form_every_resolver_reads() {
        let readme = "did:peer:2.Ez6LSpSrLxbAhg2SHwKk7kwpsH7DM7QjFS5iK6qP87eViohud.Vz6MkqRYqQiSgvZQdnBytw86Qbs2ZWUkGv22od935YF4s8M7V.SeyJ0IjoiZG0iLCJzIjoiaHR0cHM6Ly9leGFtcGxlLmNvbS9lbmRwb2ludDEiLCJyIjpbImRpZDpleGFtcGxlOnNvbWVtZWRpYXRvciNzb21la2V5MSJdLCJhIjpbImRpZGNvbW0vdjIiLCJkaWRjb21tL2FpcDI7ZW52PXJmYzU4NyJdfQ";
        let enc =
            PublicKey::from_multibase("z6LSpSrLxbAhg2SHwKk7kwpsH7DM7QjFS5iK6qP87eViohud").unwrap();
        let sig =
            PublicKey::from_multibase("z6MkqRYqQiSgvZQdnBytw86Qbs2ZWUkGv22od935YF4s8M7V").unwrap();
        let keys = [(Purpose::Encryption, &enc), (Purpose::Verification, &sig)];
        let routing = json!(["did:example:somemediator#somekey1"]);
        let accept = json!(["didcomm/v2", "didcomm/aip2;env=rfc587"]);
        // DIDComm v2.1 object endpoint and the legacy flat one encode alike.
        let object = json!({"type": "DIDCommMessaging", "serviceEndpoint": {
            "uri": "https://example.com/endpoint1", "routingKeys": routing, "accept": accept}});
        let flat = json!({"type": "DIDCommMessaging", "serviceEndpoint": "https://example.com/endpoint1",
            "accept": accept, "routingKeys": routing});
        for service in [object, flat] {
            assert_eq!(create_peer2(&keys, &[service]).as_str(), readme);
        }
    }

    /// Resolvers in the wild write the nested forms too: both still read.
    #[test]
    fn nested_service_forms_are_still_read() {
        let sig = crate::keys::SecretKey::generate(KeyType::Ed25519).public_key();
        for encoded in [
            json!({"t":"dm","s":{"uri":"https://m.example","a":["didcomm/v2"],"r":["did:example:m#k"]}}),
            json!({"t":"dm","s":{"uri":"https://m.example","accept":["didcomm/v2"],"routingKeys":["did:example:m#k"]}}),
        ] {
            let did = format!(
                "did:peer:2.V{}.S{}",
                sig.to_multibase(),
                B64.encode(encoded.to_string())
            );
            let doc = resolve(&Did::parse(&did).unwrap()).unwrap();
            let endpoint = &doc.as_json()["service"][0]["serviceEndpoint"];
            assert_eq!(endpoint["uri"], "https://m.example");
            assert_eq!(endpoint["accept"], json!(["didcomm/v2"]));
            assert_eq!(endpoint["routingKeys"], json!(["did:example:m#k"]));
        }
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
            let resolved = Did::parse(&format!("did:peer:{msid}"))
                .map_err(ResolveError::from)
                .and_then(|did| resolve(&did));
            assert!(resolved.is_err(), "{msid}");
        }
    }

    #[test]
    fn services_without_a_type_are_invalid_dids() {
        let sig = crate::keys::SecretKey::generate(KeyType::Ed25519).public_key();
        for service in [
            json!({"s": "https://example.com/didcomm"}),
            json!({"t": "", "s": "https://example.com/didcomm"}),
            json!({"t": 7, "s": "https://example.com/didcomm"}),
            json!([{"t": "dm", "s": "https://a.example"}, {"s": "https://b.example"}]),
        ] {
            let did = format!(
                "did:peer:2.V{}.S{}",
                sig.to_multibase(),
                B64.encode(service.to_string())
            );
            let err = resolve(&Did::parse(&did).unwrap()).unwrap_err();
            assert_eq!(err.code(), "invalidDid", "{service}");
        }
    }
}
