//! The shape of credentials and presentations (VC Data Model 2.0 §4, 1.1 §4): what must
//! hold before one is signed or its proof is even looked at. Each error names the field.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::contexts::{CREDENTIALS_V1, CREDENTIALS_V2};

/// The data model a credential follows, from its first `@context`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum VcVersion {
    #[serde(rename = "1.1")]
    V1,
    #[serde(rename = "2.0")]
    V2,
}

impl VcVersion {
    pub fn context(self) -> &'static str {
        match self {
            VcVersion::V1 => CREDENTIALS_V1,
            VcVersion::V2 => CREDENTIALS_V2,
        }
    }
}

/// A credential or presentation that does not have the shape its data model requires.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}` {reason}")]
pub struct ShapeError {
    /// The member at fault (a JSON key, dotted for nested ones).
    pub field: String,
    pub reason: String,
}

fn bad(field: &str, reason: impl Into<String>) -> ShapeError {
    ShapeError {
        field: field.into(),
        reason: reason.into(),
    }
}

/// An XML Schema `dateTimeStamp` (a date and time with a time zone), as both data models
/// require for their dates.
pub fn parse_date(field: &str, value: &Value) -> Result<DateTime<Utc>, ShapeError> {
    let text = value
        .as_str()
        .ok_or_else(|| bad(field, "must be a dateTimeStamp string"))?;
    let shaped = text.len() >= 20
        && text.as_bytes()[10] == b'T'
        && (text.ends_with('Z')
            || text.as_bytes()[19..]
                .iter()
                .any(|b| matches!(b, b'+' | b'-')));
    match DateTime::parse_from_rfc3339(text) {
        Ok(dt) if shaped => Ok(dt.with_timezone(&Utc)),
        _ => Err(bad(
            field,
            format!("`{text}` is not a dateTimeStamp (e.g. 2026-01-01T00:00:00Z)"),
        )),
    }
}

fn is_url(value: &str) -> bool {
    // An absolute URI: a scheme, a colon, something after it.
    match value.split_once(':') {
        Some((scheme, rest)) => {
            !rest.is_empty()
                && scheme
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                && !value.contains(char::is_whitespace)
        }
        None => false,
    }
}

fn check_url(field: &str, value: &Value) -> Result<(), ShapeError> {
    match value.as_str() {
        Some(s) if is_url(s) => Ok(()),
        Some(s) => Err(bad(field, format!("`{s}` is not a URL"))),
        None => Err(bad(field, "must be a URL string")),
    }
}

fn types(field: &str, value: Option<&Value>) -> Result<Vec<String>, ShapeError> {
    match value {
        Some(Value::String(t)) => Ok(vec![t.clone()]),
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|t| {
                t.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| bad(field, "must hold strings only"))
            })
            .collect(),
        Some(_) => Err(bad(
            field,
            "must be a string or a non-empty array of strings",
        )),
        None => Err(bad(field, "is required")),
    }
}

/// The version a document's `@context` declares; its first entry must be a VC context.
pub fn version_of(doc: &Map<String, Value>) -> Result<VcVersion, ShapeError> {
    let first = match doc.get("@context") {
        None => return Err(bad("@context", "is required")),
        Some(Value::String(s)) => s.as_str(),
        Some(Value::Array(items)) => match items.first() {
            Some(Value::String(s)) => s.as_str(),
            _ => return Err(bad("@context", "must start with a VC context URL")),
        },
        Some(_) => return Err(bad("@context", "must be a URL or an array")),
    };
    match first {
        CREDENTIALS_V2 => Ok(VcVersion::V2),
        CREDENTIALS_V1 => Ok(VcVersion::V1),
        other => Err(bad(
            "@context",
            format!("must start with `{CREDENTIALS_V2}` or `{CREDENTIALS_V1}`, not `{other}`"),
        )),
    }
}

/// A credential's validity window, from `validFrom`/`validUntil` (2.0) or
/// `issuanceDate`/`expirationDate` (1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    pub from: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// A credential whose shape was checked.
#[derive(Debug, Clone)]
pub struct CheckedCredential {
    pub version: VcVersion,
    pub types: Vec<String>,
    /// The issuer's URL (the string, or the object's `id`).
    pub issuer: String,
    pub id: Option<String>,
    /// The `id`s of the subjects that have one.
    pub subjects: Vec<String>,
    pub validity: Validity,
}

/// Checks the members both data models require and the types they give them.
pub fn check_credential(doc: &Map<String, Value>) -> Result<CheckedCredential, ShapeError> {
    let version = version_of(doc)?;
    let types = types("type", doc.get("type"))?;
    if !types.iter().any(|t| t == "VerifiableCredential") {
        return Err(bad("type", "must include `VerifiableCredential`"));
    }
    if let Some(id) = doc.get("id") {
        check_url("id", id)?;
    }
    let issuer = match doc.get("issuer") {
        None => return Err(bad("issuer", "is required")),
        Some(Value::String(s)) => {
            check_url("issuer", &Value::String(s.clone()))?;
            s.clone()
        }
        Some(Value::Object(o)) => {
            let id = o.get("id").ok_or_else(|| bad("issuer.id", "is required"))?;
            check_url("issuer.id", id)?;
            id.as_str().unwrap_or_default().to_owned()
        }
        Some(_) => return Err(bad("issuer", "must be a URL or an object with an `id`")),
    };
    let subjects = match doc.get("credentialSubject") {
        None => return Err(bad("credentialSubject", "is required")),
        Some(Value::Object(o)) => vec![o],
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|s| {
                s.as_object()
                    .ok_or_else(|| bad("credentialSubject", "must hold objects only"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(bad(
                "credentialSubject",
                "must be an object or a non-empty array of objects",
            ));
        }
    };
    let mut subject_ids = vec![];
    for subject in &subjects {
        if subject.is_empty() {
            return Err(bad("credentialSubject", "must not be empty"));
        }
        if let Some(id) = subject.get("id") {
            check_url("credentialSubject.id", id)?;
            subject_ids.push(id.as_str().unwrap_or_default().to_owned());
        }
    }
    for (member, needs_id) in [
        ("credentialStatus", false),
        ("credentialSchema", true),
        ("termsOfUse", false),
        ("evidence", false),
        ("refreshService", false),
        ("renderMethod", false),
    ] {
        check_typed_objects(doc, member, needs_id)?;
    }
    check_related_resources(doc)?;
    let (from_field, until_field) = match version {
        VcVersion::V2 => ("validFrom", "validUntil"),
        VcVersion::V1 => ("issuanceDate", "expirationDate"),
    };
    let date = |field| doc.get(field).map(|v| parse_date(field, v)).transpose();
    let validity = Validity {
        from: date(from_field)?,
        until: date(until_field)?,
    };
    if let (Some(from), Some(until)) = (validity.from, validity.until)
        && from > until
    {
        return Err(bad(until_field, format!("is before `{from_field}`")));
    }
    Ok(CheckedCredential {
        version,
        types,
        issuer,
        id: doc.get("id").and_then(Value::as_str).map(str::to_owned),
        subjects: subject_ids,
        validity,
    })
}

/// `relatedResource` (VC DM 2.0 §5.3): objects, each with a distinct `id` URL and at least
/// one digest (`digestSRI`, `digestMultibase`) given as a string.
fn check_related_resources(doc: &Map<String, Value>) -> Result<(), ShapeError> {
    let field = "relatedResource";
    let items: Vec<&Value> = match doc.get(field) {
        None => return Ok(()),
        Some(Value::Array(items)) if !items.is_empty() => items.iter().collect(),
        Some(Value::Object(_)) => vec![&doc[field]],
        Some(_) => {
            return Err(bad(
                field,
                "must be an object or a non-empty array of objects",
            ));
        }
    };
    let mut seen = std::collections::HashSet::new();
    for item in items {
        let object = item
            .as_object()
            .ok_or_else(|| bad(field, "must hold objects, each describing one resource"))?;
        let id = object
            .get("id")
            .ok_or_else(|| bad("relatedResource.id", "is required"))?;
        check_url("relatedResource.id", id)?;
        if !seen.insert(id.as_str().unwrap_or_default()) {
            return Err(bad("relatedResource.id", "names the same resource twice"));
        }
        let digests: Vec<&Value> = ["digestSRI", "digestMultibase"]
            .iter()
            .filter_map(|d| object.get(*d))
            .collect();
        if digests.is_empty() {
            return Err(bad(
                "relatedResource",
                "each resource needs `digestSRI` or `digestMultibase`",
            ));
        }
        if digests.iter().any(|d| !d.is_string()) {
            return Err(bad("relatedResource", "digests are strings"));
        }
    }
    Ok(())
}

/// `member`, when present, is an object or an array of objects, each with a `type` (and
/// an `id` URL where `needs_id`).
fn check_typed_objects(
    doc: &Map<String, Value>,
    member: &str,
    needs_id: bool,
) -> Result<(), ShapeError> {
    let items: Vec<&Value> = match doc.get(member) {
        None => return Ok(()),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(other) => vec![other],
    };
    for item in items {
        let object = item
            .as_object()
            .ok_or_else(|| bad(member, "must be an object or an array of objects"))?;
        types(&format!("{member}.type"), object.get("type"))?;
        match object.get("id") {
            Some(id) => check_url(&format!("{member}.id"), id)?,
            None if needs_id => return Err(bad(&format!("{member}.id"), "is required")),
            None => {}
        }
    }
    Ok(())
}

/// A presentation whose shape was checked.
#[derive(Debug, Clone)]
pub struct CheckedPresentation {
    pub version: VcVersion,
    pub holder: Option<String>,
}

/// Checks a presentation's members (VC DM 2.0 §4.13).
pub fn check_presentation(doc: &Map<String, Value>) -> Result<CheckedPresentation, ShapeError> {
    let version = version_of(doc)?;
    let types = types("type", doc.get("type"))?;
    if !types.iter().any(|t| t == "VerifiablePresentation") {
        return Err(bad("type", "must include `VerifiablePresentation`"));
    }
    if let Some(id) = doc.get("id") {
        check_url("id", id)?;
    }
    let holder = match doc.get("holder") {
        None => None,
        Some(Value::String(s)) => {
            check_url("holder", &Value::String(s.clone()))?;
            Some(s.clone())
        }
        Some(Value::Object(o)) => {
            let id = o.get("id").ok_or_else(|| bad("holder.id", "is required"))?;
            check_url("holder.id", id)?;
            id.as_str().map(str::to_owned)
        }
        Some(_) => return Err(bad("holder", "must be a URL or an object with an `id`")),
    };
    match doc.get("verifiableCredential") {
        None | Some(Value::Object(_)) => {}
        Some(Value::Array(items)) if items.iter().all(Value::is_object) => {}
        Some(_) => {
            return Err(bad(
                "verifiableCredential",
                "must be an object or an array of objects",
            ));
        }
    }
    Ok(CheckedPresentation { version, holder })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A date whose 20th byte falls inside a multi-byte character is refused, not a
    /// panic.
    #[test]
    fn dates_with_multibyte_characters_are_refused() {
        for text in [
            "2026-01-01T00:00:0€",
            "2026-01-01T00:00:00€+01:00",
            "2026-01-01€00:00:00Z",
        ] {
            assert!(parse_date("validFrom", &json!(text)).is_err(), "{text}");
        }
    }

    fn vc(patch: Value) -> Map<String, Value> {
        let mut vc = json!({
            "@context": ["https://www.w3.org/ns/credentials/v2"],
            "type": ["VerifiableCredential"],
            "issuer": "did:example:issuer",
            "credentialSubject": {"id": "did:example:subject"},
        });
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() && k != "id" {
                vc.as_object_mut().unwrap().remove(k);
            } else {
                vc[k] = v.clone();
            }
        }
        vc.as_object().unwrap().clone()
    }

    fn field_of(patch: Value) -> String {
        check_credential(&vc(patch)).unwrap_err().field
    }

    #[test]
    fn a_minimal_credential_passes() {
        let checked = check_credential(&vc(json!({}))).unwrap();
        assert_eq!(checked.version, VcVersion::V2);
        assert_eq!(checked.issuer, "did:example:issuer");
        assert_eq!(checked.subjects, ["did:example:subject"]);
    }

    #[test]
    fn each_invalid_member_is_named() {
        assert_eq!(field_of(json!({"@context": null})), "@context");
        assert_eq!(
            field_of(json!({"@context": ["https://example.org/x"]})),
            "@context"
        );
        assert_eq!(field_of(json!({"type": null})), "type");
        assert_eq!(field_of(json!({"type": ["Foo"]})), "type");
        assert_eq!(field_of(json!({"id": null})), "id");
        assert_eq!(field_of(json!({"id": ["urn:uuid:1"]})), "id");
        assert_eq!(field_of(json!({"id": "not a url"})), "id");
        assert_eq!(field_of(json!({"issuer": null})), "issuer");
        assert_eq!(field_of(json!({"issuer": {"name": "x"}})), "issuer.id");
        assert_eq!(field_of(json!({"issuer": 5})), "issuer");
        assert_eq!(
            field_of(json!({"credentialSubject": null})),
            "credentialSubject"
        );
        assert_eq!(
            field_of(json!({"credentialSubject": {}})),
            "credentialSubject"
        );
        assert_eq!(
            field_of(json!({"credentialSubject": []})),
            "credentialSubject"
        );
        assert_eq!(
            field_of(json!({"credentialSubject": "x"})),
            "credentialSubject"
        );
        assert_eq!(field_of(json!({"validFrom": "2024-01-01"})), "validFrom");
        assert_eq!(
            field_of(json!({"validFrom": "2024-01-01T00:00:00"})),
            "validFrom"
        );
        assert_eq!(
            field_of(
                json!({"validFrom": "2025-01-01T00:00:00Z", "validUntil": "2024-01-01T00:00:00Z"})
            ),
            "validUntil"
        );
        assert_eq!(
            field_of(json!({"credentialStatus": {"id": "https://x.example/1"}})),
            "credentialStatus.type"
        );
        assert_eq!(
            field_of(json!({"credentialSchema": {"type": "JsonSchema"}})),
            "credentialSchema.id"
        );
        assert_eq!(
            field_of(json!({"evidence": [{"id": "https://x.example"}]})),
            "evidence.type"
        );
        assert_eq!(field_of(json!({"termsOfUse": 3})), "termsOfUse");
    }

    #[test]
    fn version_one_dates_are_read() {
        let mut doc = vc(json!({"issuanceDate": "2020-01-01T00:00:00Z"}));
        doc.insert("@context".into(), json!([CREDENTIALS_V1]));
        let checked = check_credential(&doc).unwrap();
        assert_eq!(checked.version, VcVersion::V1);
        assert!(checked.validity.from.is_some());
    }
}
