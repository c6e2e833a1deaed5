//! W3C Bitstring Status List v1.0: the entries an issuer puts in `credentialStatus`, the
//! status list credentials it publishes, the order in which it hands out indices, and the
//! status check a verifier runs (retrieve the list, verify it, read the bit).
//!
//! Encoding (GZIP, multibase base64url, bit 0 = the left-most bit of the first byte) is
//! `ssi`'s; what surrounds it follows the specification's §3.2 validation algorithm.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use ssi::status::bitstring_status_list::{BitString, EncodedList, StatusSize};

use crate::contexts::{CREDENTIALS_V1, CREDENTIALS_V2, STATUS_V1};

/// Bits in each list this server publishes: the specification's minimum (16 KiB), which
/// gives herd privacy to every credential in it.
pub const LIST_SIZE: u32 = 131_072;
/// The largest decoded list a verifier accepts (the specification sets no limit; 2 MiB
/// is 16 million single-bit entries).
pub const MAX_DECODED_BYTES: u64 = 2 * 1024 * 1024;
/// The smallest list a verifier accepts, in bits (§3.2 step 9: shorter lists leak).
pub const MIN_LIST_BITS: usize = 131_072;
/// `credentialStatus` entries checked in one credential.
pub const MAX_ENTRIES: usize = 4;

pub const ENTRY_TYPE: &str = "BitstringStatusListEntry";
pub const LIST_CREDENTIAL_TYPE: &str = "BitstringStatusListCredential";
pub const LIST_TYPE: &str = "BitstringStatusList";

/// The problem types of the specification's §3.4.
pub mod problem {
    pub const RETRIEVAL: &str =
        "https://www.w3.org/ns/credentials/status-list#STATUS_RETRIEVAL_ERROR";
    pub const VERIFICATION: &str =
        "https://www.w3.org/ns/credentials/status-list#STATUS_VERIFICATION_ERROR";
    pub const LENGTH: &str =
        "https://www.w3.org/ns/credentials/status-list#STATUS_LIST_LENGTH_ERROR";
    pub const RANGE: &str = "https://www.w3.org/TR/vc-data-model#RANGE_ERROR";
    /// Not a processing error: the list says the credential is revoked or suspended.
    pub const STATUS: &str = "https://www.w3.org/ns/credentials/status-list#STATUS_SET";
}

/// The purposes this server issues entries for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StatusPurpose {
    /// Permanent: a set bit is never cleared.
    Revocation,
    /// Reversible.
    Suspension,
}

impl StatusPurpose {
    pub const ALL: [StatusPurpose; 2] = [StatusPurpose::Revocation, StatusPurpose::Suspension];

    pub fn as_str(self) -> &'static str {
        match self {
            StatusPurpose::Revocation => "revocation",
            StatusPurpose::Suspension => "suspension",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "revocation" => Some(StatusPurpose::Revocation),
            "suspension" => Some(StatusPurpose::Suspension),
            _ => None,
        }
    }
}

impl std::fmt::Display for StatusPurpose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The order in which a list hands out its indices: a keyed pseudo-random permutation of
/// `0..size`, so that an index tells nothing about when (or after whom) a credential was
/// issued (the specification's privacy considerations). Counter `n` (the n-th credential
/// put on the list) maps to a distinct index; the store only has to count.
///
/// A balanced Feistel network on the smallest even number of bits covering `size`, with
/// cycle walking to stay below `size`.
#[derive(Clone)]
pub struct IndexPermutation {
    key: [u8; 32],
    size: u32,
    half_bits: u32,
}

impl IndexPermutation {
    const ROUNDS: u8 = 8;

    /// `key` is the list's secret (32 random bytes, kept with the list).
    pub fn new(key: [u8; 32], size: u32) -> Self {
        let bits = 32 - size.saturating_sub(1).leading_zeros();
        Self {
            key,
            size: size.max(1),
            half_bits: bits.div_ceil(2).max(1),
        }
    }

    fn round(&self, round: u8, half: u32) -> u32 {
        let mut h = Sha256::new();
        h.update(self.key);
        h.update([round]);
        h.update(half.to_be_bytes());
        let d = h.finalize();
        u32::from_be_bytes([d[0], d[1], d[2], d[3]]) & ((1 << self.half_bits) - 1)
    }

    fn feistel(&self, x: u32) -> u32 {
        let mask = (1u32 << self.half_bits) - 1;
        let (mut left, mut right) = (x >> self.half_bits, x & mask);
        for r in 0..Self::ROUNDS {
            let next = left ^ self.round(r, right);
            left = right;
            right = next;
        }
        (left << self.half_bits) | right
    }

    /// The index of the `counter`-th entry; `None` when the list is full.
    pub fn index(&self, counter: u32) -> Option<u32> {
        if counter >= self.size {
            return None;
        }
        let mut x = self.feistel(counter);
        while x >= self.size {
            x = self.feistel(x);
        }
        Some(x)
    }
}

/// The `credentialStatus` entry for `index` on the list published at `list_url`.
pub fn entry(list_url: &str, index: u32, purpose: StatusPurpose) -> Value {
    json!({
        "id": format!("{list_url}#{index}"),
        "type": ENTRY_TYPE,
        "statusPurpose": purpose.as_str(),
        "statusListIndex": index.to_string(),
        "statusListCredential": list_url,
    })
}

/// Adds `entries` to `credential` (an array when more than one), and the status context
/// to a VC 1.1 credential, whose base context does not define the entry's terms.
pub fn add_entries(credential: &mut Map<String, Value>, entries: Vec<Value>) {
    if entries.is_empty() {
        return;
    }
    if let Some(Value::Array(contexts)) = credential.get_mut("@context")
        && contexts.first().and_then(Value::as_str) == Some(CREDENTIALS_V1)
        && !contexts.iter().any(|c| c.as_str() == Some(STATUS_V1))
    {
        contexts.push(Value::String(STATUS_V1.into()));
    }
    let value = if entries.len() == 1 {
        entries.into_iter().next().unwrap_or_default()
    } else {
        Value::Array(entries)
    };
    credential.insert("credentialStatus".into(), value);
}

/// The encoded bitstring of a list of `size` bits with `set` bits at 1.
pub fn encode_list(size: u32, set: impl IntoIterator<Item = u32>) -> String {
    let mut bits = BitString::new_zeroed(StatusSize::DEFAULT, size as usize);
    for i in set {
        // Indices come from the list's own permutation, always below `size`.
        let _ = bits.set(StatusSize::DEFAULT, i as usize, 1);
    }
    let encoded = bits.encode();
    serde_json::to_value(&encoded)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// What a status list credential states, before it is secured.
pub struct ListCredential<'a> {
    pub url: &'a str,
    pub issuer: &'a str,
    pub purpose: StatusPurpose,
    pub encoded_list: String,
    /// RFC 3339 dates.
    pub valid_from: String,
    pub valid_until: String,
    /// How long a verifier may cache it, in milliseconds.
    pub ttl_millis: u64,
}

impl ListCredential<'_> {
    /// The unsecured VC 2.0 `BitstringStatusListCredential`.
    pub fn to_credential(&self) -> Map<String, Value> {
        let value = json!({
            "@context": [CREDENTIALS_V2],
            "id": self.url,
            "type": ["VerifiableCredential", LIST_CREDENTIAL_TYPE],
            "issuer": self.issuer,
            "validFrom": self.valid_from,
            "validUntil": self.valid_until,
            "credentialSubject": {
                "id": format!("{}#list", self.url),
                "type": LIST_TYPE,
                "statusPurpose": self.purpose.as_str(),
                "encodedList": self.encoded_list,
                "ttl": self.ttl_millis,
            },
        });
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }
}

/// One `credentialStatus` entry, as read from a credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub purpose: String,
    pub index: usize,
    pub list_url: String,
    /// Bits per entry (`statusSize`, 1 to 8).
    pub size: u8,
    /// `statusMessage`: the message for each value, when the entry gives them.
    pub messages: Vec<(String, String)>,
}

/// Why an entry cannot be read; the `field` is under `credentialStatus`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`credentialStatus{field}` {reason}")]
pub struct EntryError {
    pub field: String,
    pub reason: String,
}

/// The `BitstringStatusListEntry` entries of `credential` (others are ignored: the
/// caller reports them), or why one is malformed.
pub fn entries(credential: &Map<String, Value>) -> Result<(Vec<Entry>, Vec<String>), EntryError> {
    let items: Vec<&Value> = match credential.get("credentialStatus") {
        None => return Ok((vec![], vec![])),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(one) => vec![one],
    };
    if items.len() > MAX_ENTRIES {
        return Err(EntryError {
            field: String::new(),
            reason: format!(
                "has {} entries; at most {MAX_ENTRIES} are checked",
                items.len()
            ),
        });
    }
    let mut found = Vec::new();
    let mut other = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let at = |name: &str| format!("[{i}].{name}");
        let bad = |name: &str, reason: &str| EntryError {
            field: at(name),
            reason: reason.into(),
        };
        let Value::Object(item) = item else {
            return Err(bad("", "must be an object"));
        };
        let types: Vec<&str> = match item.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ => return Err(bad("type", "is required")),
        };
        if !types.contains(&ENTRY_TYPE) {
            other.push(types.join(", "));
            continue;
        }
        let purpose = item
            .get("statusPurpose")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("statusPurpose", "is required (a string)"))?;
        let index = item
            .get("statusListIndex")
            .and_then(Value::as_str)
            .and_then(|s| {
                // A base-10 integer, no sign, no leading zeros beyond "0".
                (!s.is_empty()
                    && s.bytes().all(|b| b.is_ascii_digit())
                    && (s == "0" || !s.starts_with('0')))
                .then(|| s.parse::<u32>().ok().map(|i| i as usize))
                .flatten()
            })
            .ok_or_else(|| {
                bad(
                    "statusListIndex",
                    "must be a string of a base-10 integer below 2^32",
                )
            })?;
        let list_url = item
            .get("statusListCredential")
            .and_then(Value::as_str)
            .filter(|u| url::Url::parse(u).is_ok())
            .ok_or_else(|| bad("statusListCredential", "must be a URL"))?;
        let size = match item.get("statusSize") {
            None => 1,
            Some(v) => v
                .as_u64()
                .filter(|n| (1..=8).contains(n))
                .map(|n| n as u8)
                .ok_or_else(|| bad("statusSize", "must be an integer from 1 to 8"))?,
        };
        let mut messages = Vec::new();
        if let Some(list) = item.get("statusMessage") {
            let list = list
                .as_array()
                .ok_or_else(|| bad("statusMessage", "must be an array"))?;
            for m in list {
                let status = m.get("status").and_then(Value::as_str);
                let message = m.get("message").and_then(Value::as_str);
                match (status, message) {
                    (Some(s), Some(msg)) => messages.push((s.to_owned(), msg.to_owned())),
                    _ => {
                        return Err(bad(
                            "statusMessage",
                            "entries need `status` (hex) and `message` strings",
                        ));
                    }
                }
            }
        }
        if size > 1 && messages.len() != 1 << size {
            return Err(bad(
                "statusMessage",
                &format!(
                    "must give a message for each of the {} values of a {size}-bit entry",
                    1 << size
                ),
            ));
        }
        found.push(Entry {
            purpose: purpose.to_owned(),
            index,
            list_url: list_url.to_owned(),
            size,
            messages,
        });
    }
    Ok((found, other))
}

/// Why a status list could not be retrieved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    #[error("{0}")]
    Unavailable(String),
    /// Too many retrievals are under way: no verdict, retry later.
    #[error("{0}")]
    Busy(String),
}

/// Where a verifier gets status list credentials: over HTTP through a guarded fetcher
/// on a server, from the node's own store for its own lists, from a pinned bundle
/// offline. It returns the list credential as published (a JSON object, or a JWT string
/// for a `vc+jwt` list); the verifier checks it.
#[async_trait::async_trait]
pub trait StatusListSource: Send + Sync {
    async fn fetch(&self, url: &str) -> Result<Value, SourceError>;
}

/// A list credential as published, from the bytes served: a JSON object, or a `vc+jwt`
/// list's compact JWS as a string.
pub fn published_from_bytes(body: &[u8]) -> Result<Value, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the list is not UTF-8".to_owned())?;
    let trimmed = text.trim();
    if trimmed.starts_with('{') {
        serde_json::from_str(trimmed).map_err(|e| format!("invalid JSON: {e}"))
    } else {
        Ok(Value::String(trimmed.to_owned()))
    }
}

/// A published list as a verifier takes it: a `vc+jwt` string becomes the
/// `EnvelopedVerifiableCredential` that carries it.
pub fn as_verifiable(published: Value) -> Value {
    match published {
        Value::String(jwt) => json!({
            "@context": [CREDENTIALS_V2],
            "id": format!("data:application/vc+jwt,{jwt}"),
            "type": super::jose::ENVELOPED_VC,
        }),
        other => other,
    }
}

/// A list credential's subject, read after its proof verified.
pub struct PublishedList {
    pub purposes: Vec<String>,
    pub bits: Vec<u8>,
}

/// Reads the subject of a verified `BitstringStatusListCredential`.
pub fn published_list(credential: &Map<String, Value>) -> Result<PublishedList, (String, String)> {
    let fail = |kind: &str, detail: &str| (kind.to_owned(), detail.to_owned());
    let types_ok = match credential.get("type") {
        Some(Value::Array(ts)) => ts.iter().any(|t| t.as_str() == Some(LIST_CREDENTIAL_TYPE)),
        Some(Value::String(t)) => t == LIST_CREDENTIAL_TYPE,
        _ => false,
    };
    if !types_ok {
        return Err(fail(
            problem::VERIFICATION,
            "the status list is not a BitstringStatusListCredential",
        ));
    }
    let subject = match credential.get("credentialSubject") {
        Some(Value::Object(s)) => s,
        Some(Value::Array(items)) if items.len() == 1 => match &items[0] {
            Value::Object(s) => s,
            _ => {
                return Err(fail(
                    problem::VERIFICATION,
                    "credentialSubject is not an object",
                ));
            }
        },
        _ => {
            return Err(fail(
                problem::VERIFICATION,
                "credentialSubject is not an object",
            ));
        }
    };
    let purposes: Vec<String> = match subject.get("statusPurpose") {
        Some(Value::String(p)) => vec![p.clone()],
        Some(Value::Array(ps)) => ps
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => return Err(fail(problem::VERIFICATION, "the list has no statusPurpose")),
    };
    let encoded = subject
        .get("encodedList")
        .and_then(Value::as_str)
        .ok_or_else(|| fail(problem::VERIFICATION, "the list has no encodedList"))?;
    if !encoded.starts_with('u') {
        return Err(fail(
            problem::VERIFICATION,
            "encodedList is not multibase base64url (`u`)",
        ));
    }
    let bits = EncodedList::new(encoded.to_owned())
        .decode(Some(MAX_DECODED_BYTES + 1))
        .map_err(|e| fail(problem::VERIFICATION, &format!("encodedList: {e}")))?;
    if bits.len() as u64 > MAX_DECODED_BYTES {
        return Err(fail(
            problem::LENGTH,
            &format!("the decoded list is larger than {MAX_DECODED_BYTES} bytes"),
        ));
    }
    if bits.len() * 8 < MIN_LIST_BITS {
        return Err(fail(
            problem::LENGTH,
            &format!(
                "the list has {} bits; at least {MIN_LIST_BITS} are required",
                bits.len() * 8
            ),
        ));
    }
    Ok(PublishedList { purposes, bits })
}

impl PublishedList {
    /// The value of `entry`, or `None` when its index is beyond the list.
    pub fn value(&self, entry: &Entry) -> Option<u8> {
        let size = usize::from(entry.size);
        if !(1..=8).contains(&size) {
            return None;
        }
        // Bit 0 is the left-most bit of the first byte; an entry may straddle two bytes.
        let first = entry.index.checked_mul(size)?;
        let mut value = 0u8;
        for bit in first..first.checked_add(size)? {
            let byte = *self.bits.get(bit / 8)?;
            value = (value << 1) | ((byte >> (7 - bit % 8)) & 1);
        }
        Some(value)
    }
}

/// The message an entry gives for `value` (`statusMessage`, `status` in hex).
pub fn message_for(entry: &Entry, value: u8) -> Option<&str> {
    entry.messages.iter().find_map(|(status, message)| {
        let s = status.trim_start_matches("0x");
        (u8::from_str_radix(s, 16).ok() == Some(value)).then_some(message.as_str())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn the_permutation_is_a_bijection_below_the_size() {
        for size in [1u32, 2, 3, 1000, 4096, LIST_SIZE] {
            let p = IndexPermutation::new([7; 32], size);
            let mut seen = HashSet::new();
            for c in 0..size {
                let i = p.index(c).unwrap();
                assert!(i < size);
                assert!(seen.insert(i), "size {size}: index {i} twice");
            }
            assert_eq!(p.index(size), None);
        }
    }

    #[test]
    fn the_permutation_depends_on_the_key_and_is_not_the_identity() {
        let a = IndexPermutation::new([1; 32], LIST_SIZE);
        let b = IndexPermutation::new([2; 32], LIST_SIZE);
        let first_a: Vec<u32> = (0..16).map(|c| a.index(c).unwrap()).collect();
        let first_b: Vec<u32> = (0..16).map(|c| b.index(c).unwrap()).collect();
        assert_ne!(first_a, first_b);
        assert_ne!(first_a, (0..16).collect::<Vec<_>>());
    }

    #[test]
    fn an_encoded_list_decodes_to_the_same_bits_left_most_first() {
        let encoded = encode_list(LIST_SIZE, [0, 9, LIST_SIZE - 1]);
        let credential = ListCredential {
            url: "https://example.com/status/1",
            issuer: "did:example:1",
            purpose: StatusPurpose::Revocation,
            encoded_list: encoded,
            valid_from: "2026-01-01T00:00:00Z".into(),
            valid_until: "2026-01-02T00:00:00Z".into(),
            ttl_millis: 300_000,
        }
        .to_credential();
        let list = published_list(&credential).unwrap();
        assert_eq!(list.bits.len(), LIST_SIZE as usize / 8);
        assert_eq!(list.bits[0], 0b1000_0000);
        assert_eq!(list.bits[1], 0b0100_0000);
        assert_eq!(*list.bits.last().unwrap(), 1);
        let at = |index| Entry {
            purpose: "revocation".into(),
            index,
            list_url: String::new(),
            size: 1,
            messages: vec![],
        };
        assert_eq!(list.value(&at(0)), Some(1));
        assert_eq!(list.value(&at(1)), Some(0));
        assert_eq!(list.value(&at(9)), Some(1));
        assert_eq!(list.value(&at(LIST_SIZE as usize)), None);
    }

    #[test]
    fn short_lists_and_foreign_encodings_are_refused() {
        let mut credential = ListCredential {
            url: "https://example.com/status/1",
            issuer: "did:example:1",
            purpose: StatusPurpose::Revocation,
            encoded_list: String::new(),
            valid_from: String::new(),
            valid_until: String::new(),
            ttl_millis: 0,
        }
        .to_credential();
        let set = |credential: &mut Map<String, Value>, list: &str| {
            credential["credentialSubject"]["encodedList"] = Value::String(list.into());
        };
        // 1 KiB of zeros, gzipped: too short.
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&[0; 1024]).unwrap();
        let short = multibase::encode(multibase::Base::Base64Url, gz.finish().unwrap());
        set(&mut credential, &short);
        assert_eq!(
            published_list(&credential).err().unwrap().0,
            problem::LENGTH
        );
        let b58 = multibase::encode(multibase::Base::Base58Btc, [0u8; 4]);
        set(&mut credential, &b58);
        assert_eq!(
            published_list(&credential).err().unwrap().0,
            problem::VERIFICATION
        );
    }

    #[test]
    fn entries_are_read_and_malformed_ones_named() {
        let mut c = Map::new();
        c.insert(
            "credentialStatus".into(),
            entry(
                "https://example.com/status/1",
                42,
                StatusPurpose::Suspension,
            ),
        );
        let (found, other) = entries(&c).unwrap();
        assert!(other.is_empty());
        assert_eq!(found[0].index, 42);
        assert_eq!(found[0].purpose, "suspension");
        for (field, value) in [
            ("statusListIndex", json!("042")),
            ("statusListIndex", json!(42)),
            ("statusListIndex", json!("-1")),
            ("statusListCredential", json!("not a url")),
            ("statusSize", json!(9)),
            ("statusSize", json!(2)),
        ] {
            let mut bad = entry("https://example.com/status/1", 1, StatusPurpose::Revocation);
            bad[field] = value;
            c.insert("credentialStatus".into(), bad);
            let err = entries(&c).unwrap_err();
            let expected = if field == "statusSize" && err.field.ends_with("statusMessage") {
                "statusMessage"
            } else {
                field
            };
            assert_eq!(err.field, format!("[0].{expected}"));
        }
    }
}
