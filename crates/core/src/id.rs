//! Typed identifiers, parsed once at the edge and never passed around as bare strings:
//! [`Did`] (DID Core §3.1), [`KeyId`] (a stored key), [`UserId`] and [`UserName`] (a person
//! hosted by a server), and [`Owner`] (whose key it is).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why an identifier was refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("invalid {kind}: {reason}")]
pub struct InvalidId {
    /// What was being parsed (`DID`, `key id`, `user name`, ...).
    pub kind: &'static str,
    pub reason: String,
}

impl InvalidId {
    fn new(kind: &'static str, reason: impl Into<String>) -> Self {
        Self {
            kind,
            reason: reason.into(),
        }
    }
}

/// At most this many characters of a refused value are echoed back in an error.
const SHOWN: usize = 80;

fn shown(value: &str) -> String {
    value.chars().take(SHOWN).collect()
}

/// Implements `Display`, `FromStr`, `AsRef<str>` and string (de)serialization through
/// `parse` for a string newtype.
macro_rules! string_id {
    ($ty:ident) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $ty {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, InvalidId> {
                Self::parse(s)
            }
        }
        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// A DID (DID Core §3.1 syntax, checked with ssi's parser): `did:<method>:<method-specific-id>`,
/// without path, query or fragment, at most 8192 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Did {
    value: String,
    /// Byte offset of the `:` between method and method-specific id.
    split: usize,
}

impl Did {
    /// The longest DID accepted (a did:peer:2 with a few keys and services is ~1 KiB).
    pub const MAX_LEN: usize = 8192;

    pub fn parse(value: &str) -> Result<Self, InvalidId> {
        if value.len() > Self::MAX_LEN {
            return Err(InvalidId::new(
                "DID",
                format!("longer than {} characters", Self::MAX_LEN),
            ));
        }
        ssi::dids::DID::new(value).map_err(|_| {
            InvalidId::new(
                "DID",
                format!("`{}` is not a DID (DID Core §3.1)", shown(value)),
            )
        })?;
        // ssi accepted `did:<method>:<msid>`, so the second colon exists.
        let split = value[4..]
            .find(':')
            .map(|i| i + 4)
            .ok_or_else(|| InvalidId::new("DID", shown(value)))?;
        Ok(Self {
            value: value.to_owned(),
            split,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// The method name (`key`, `web`, ...).
    pub fn method(&self) -> &str {
        &self.value[4..self.split]
    }

    /// The method-specific id (everything after `did:<method>:`).
    pub fn method_specific_id(&self) -> &str {
        &self.value[self.split + 1..]
    }

    /// A DID URL of this DID with `fragment` (without `#`).
    pub fn with_fragment(&self, fragment: &str) -> String {
        format!("{}#{fragment}", self.value)
    }
}

string_id!(Did);

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Did {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        String::schema()
    }
}
#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Did {}

/// A DID URL (DID Core §3.2) with a fragment: the DID and the fragment (without `#`).
/// Paths and queries are refused: Sichat dereferences fragments only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DidUrl {
    pub did: Did,
    pub fragment: String,
}

impl DidUrl {
    pub fn parse(value: &str) -> Result<Self, InvalidId> {
        let (did, fragment) = value.split_once('#').unwrap_or((value, ""));
        if did.contains(['/', '?']) {
            return Err(InvalidId::new(
                "DID URL",
                "only DID URLs with a fragment are dereferenced (no path or query)",
            ));
        }
        if fragment.is_empty() {
            return Err(InvalidId::new("DID URL", "no fragment"));
        }
        // DID Core §3.2: the fragment follows RFC 3986 §3.5.
        let fragment_ok = fragment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b));
        if !fragment_ok {
            return Err(InvalidId::new("DID URL", "malformed fragment"));
        }
        Ok(Self {
            did: Did::parse(did)?,
            fragment: fragment.to_owned(),
        })
    }
}

impl fmt::Display for DidUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.did, self.fragment)
    }
}

/// The id of a stored key: `k` + 24 hex digits when generated here; imported archives may
/// carry other ids of 1–64 characters `A-Z a-z 0-9 - _`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(String);

impl KeyId {
    /// A fresh random id.
    pub fn generate() -> Self {
        Self(format!("k{}", hex::encode(rand::random::<[u8; 12]>())))
    }

    pub fn parse(value: &str) -> Result<Self, InvalidId> {
        let ok = (1..=64).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(InvalidId::new(
                "key id",
                format!(
                    "`{}`: expected 1-64 characters A-Z, a-z, 0-9, '-' or '_'",
                    shown(value)
                ),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_id!(KeyId);

/// The id of a user: a UUID (v4), stable for the user's life (names are the human handle).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(uuid::Uuid);

impl UserId {
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4())
    }

    pub fn parse(value: &str) -> Result<Self, InvalidId> {
        uuid::Uuid::parse_str(value)
            .map(Self)
            .map_err(|_| InvalidId::new("user id", format!("`{}` is not a UUID", shown(value))))
    }

    pub fn as_uuid(&self) -> uuid::Uuid {
        self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// A user name: 1–64 characters a–z, 0–9, `.`, `_`, `-`, starting with a letter or digit,
/// so that it is usable as is in a did:web path segment and a URL path segment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserName(String);

impl UserName {
    pub fn parse(name: &str) -> Result<Self, InvalidId> {
        let ok = (1..=64).contains(&name.len())
            && name
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            && name.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
            });
        if ok {
            Ok(Self(name.to_owned()))
        } else {
            Err(InvalidId::new(
                "user name",
                format!(
                    "`{}`: use 1-64 characters a-z, 0-9, '.', '_' or '-', starting with a letter or digit",
                    shown(name)
                ),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_id!(UserName);

/// Whose key it is: the server itself or one of its users. Written `server` or
/// `user:<name>` on the wire and the command line.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Owner {
    Server,
    User(UserName),
}

impl Owner {
    pub fn parse(value: &str) -> Result<Self, InvalidId> {
        if value == "server" {
            return Ok(Owner::Server);
        }
        let name = value.strip_prefix("user:").ok_or_else(|| {
            InvalidId::new(
                "owner",
                format!("expected `server` or `user:<name>`, got `{}`", shown(value)),
            )
        })?;
        Ok(Owner::User(UserName::parse(name)?))
    }

    pub fn user(&self) -> Option<&UserName> {
        match self {
            Owner::Server => None,
            Owner::User(name) => Some(name),
        }
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Owner::Server => f.write_str("server"),
            Owner::User(name) => write!(f, "user:{name}"),
        }
    }
}

impl FromStr for Owner {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, InvalidId> {
        Self::parse(s)
    }
}

impl Serialize for Owner {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Owner {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(feature = "openapi")]
mod schemas {
    use super::*;
    use utoipa::openapi::schema::{Schema, SchemaType, Type};
    use utoipa::openapi::{ObjectBuilder, RefOr};

    fn string(description: &str, pattern: Option<&str>) -> RefOr<Schema> {
        let mut b = ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::String))
            .description(Some(description));
        if let Some(p) = pattern {
            b = b.pattern(Some(p));
        }
        RefOr::T(Schema::Object(b.build()))
    }

    impl utoipa::PartialSchema for KeyId {
        fn schema() -> RefOr<Schema> {
            string("The id of a stored key.", Some("^[A-Za-z0-9_-]{1,64}$"))
        }
    }
    impl utoipa::ToSchema for KeyId {}

    impl utoipa::PartialSchema for UserId {
        fn schema() -> RefOr<Schema> {
            string("A user's id (UUID).", None)
        }
    }
    impl utoipa::ToSchema for UserId {}

    impl utoipa::PartialSchema for UserName {
        fn schema() -> RefOr<Schema> {
            string(
                "1-64 characters a-z, 0-9, '.', '_', '-', starting with a letter or digit.",
                Some("^[a-z0-9][a-z0-9._-]{0,63}$"),
            )
        }
    }
    impl utoipa::ToSchema for UserName {}

    impl utoipa::PartialSchema for Owner {
        fn schema() -> RefOr<Schema> {
            string(
                "`server` or `user:<name>`.",
                Some("^(server|user:[a-z0-9][a-z0-9._-]{0,63})$"),
            )
        }
    }
    impl utoipa::ToSchema for Owner {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dids_are_split_once_and_refused_when_malformed() {
        let did = Did::parse("did:web:example.com%3A3000:user:alice").unwrap();
        assert_eq!(did.method(), "web");
        assert_eq!(did.method_specific_id(), "example.com%3A3000:user:alice");
        for bad in [
            "",
            "did:",
            "did:key",
            "key:z6Mk",
            "did:KEY:abc",
            "did:key:",
            "did:key:z6Mk#frag",
            "did:key:a b",
        ] {
            assert!(Did::parse(bad).is_err(), "{bad}");
        }
        assert!(Did::parse(&format!("did:key:{}", "z".repeat(9000))).is_err());
        let json = serde_json::to_string(&did).unwrap();
        assert_eq!(serde_json::from_str::<Did>(&json).unwrap(), did);
        assert!(serde_json::from_str::<Did>("\"did:x\"").is_err());
    }

    #[test]
    fn did_urls_with_fragments_parse_and_others_are_refused() {
        let url = DidUrl::parse("did:key:z6Mk1#z6Mk1").unwrap();
        assert_eq!(
            (url.did.as_str(), url.fragment.as_str()),
            ("did:key:z6Mk1", "z6Mk1")
        );
        for bad in [
            "did:key:z6Mk1",
            "did:key:z6Mk1#",
            "did:key:z6Mk1/path#x",
            "did:key:z6Mk1?q=1#x",
            "did:key:z6Mk1#a b",
        ] {
            assert!(DidUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn owners_round_trip_and_refuse_other_forms() {
        for text in ["server", "user:alice", "user:a.b_c-9"] {
            assert_eq!(Owner::parse(text).unwrap().to_string(), text);
        }
        for bad in ["root", "user:", "user:Bad", "user:../x", "users:alice", ""] {
            assert!(Owner::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn key_ids_and_user_names_are_checked() {
        assert!(KeyId::parse(KeyId::generate().as_str()).is_ok());
        for bad in ["", "a/b", "k\u{0}", &"k".repeat(65)] {
            assert!(KeyId::parse(bad).is_err(), "{bad:?}");
        }
        for bad in ["", "Bad", "-x", "a b", "../etc", &"x".repeat(65)] {
            assert!(UserName::parse(bad).is_err(), "{bad:?}");
        }
        assert!(UserId::parse("not-a-uuid").is_err());
        let id = UserId::generate();
        assert_eq!(UserId::parse(&id.to_string()).unwrap(), id);
    }
}
