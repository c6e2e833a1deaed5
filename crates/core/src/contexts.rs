//! The JSON-LD contexts Sichat accepts: a static, vetted map compiled into the binary,
//! plus contexts an operator adds from files. Nothing is ever fetched: a credential that
//! names any other context URL fails to expand, so fails to issue and to verify.
//!
//! The documents come from `ssi-contexts` and from `crates/core/contexts/` (see its
//! `SOURCE.md` for where each file comes from).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use ssi::json_ld::{LoadError, Loader, RemoteDocument};

pub const CREDENTIALS_V1: &str = "https://www.w3.org/2018/credentials/v1";
pub const CREDENTIALS_V2: &str = "https://www.w3.org/ns/credentials/v2";
pub const CREDENTIALS_EXAMPLES_V1: &str = "https://www.w3.org/2018/credentials/examples/v1";
pub const CREDENTIALS_EXAMPLES_V2: &str = "https://www.w3.org/ns/credentials/examples/v2";
pub const CREDENTIALS_UNDEFINED_TERMS_V2: &str =
    "https://www.w3.org/ns/credentials/undefined-terms/v2";
pub const STATUS_V1: &str = "https://www.w3.org/ns/credentials/status/v1";
pub const DATA_INTEGRITY_V1: &str = "https://w3id.org/security/data-integrity/v1";
pub const DATA_INTEGRITY_V2: &str = "https://w3id.org/security/data-integrity/v2";
pub const MULTIKEY_V1: &str = "https://w3id.org/security/multikey/v1";
pub const ED25519_2020_V1: &str = "https://w3id.org/security/suites/ed25519-2020/v1";
pub const JWS_2020_V1: &str = "https://w3id.org/security/suites/jws-2020/v1";
pub const STATUS_LIST_2021_V1: &str = "https://w3id.org/vc/status-list/2021/v1";
pub const DID_V1: &str = "https://www.w3.org/ns/did/v1";
pub const SECURITY_V1: &str = "https://w3id.org/security/v1";
pub const SECURITY_V2: &str = "https://w3id.org/security/v2";

/// The vetted contexts: URL and document text.
pub(crate) fn vetted() -> [(&'static str, &'static str); 17] {
    use ssi_contexts as c;
    [
        (CREDENTIALS_V1, c::CREDENTIALS_V1),
        (CREDENTIALS_V2, c::CREDENTIALS_V2),
        (CREDENTIALS_EXAMPLES_V1, c::CREDENTIALS_EXAMPLES_V1),
        (CREDENTIALS_EXAMPLES_V2, c::CREDENTIALS_EXAMPLES_V2),
        (
            CREDENTIALS_UNDEFINED_TERMS_V2,
            include_str!("../contexts/credentials-undefined-terms-v2.jsonld"),
        ),
        (
            STATUS_V1,
            include_str!("../contexts/credentials-status-v1.jsonld"),
        ),
        (DATA_INTEGRITY_V1, c::W3ID_DATA_INTEGRITY_V1),
        (DATA_INTEGRITY_V2, c::W3ID_DATA_INTEGRITY_V2),
        (MULTIKEY_V1, include_str!("../contexts/multikey-v1.jsonld")),
        (ED25519_2020_V1, c::W3ID_ED2020_V1),
        (JWS_2020_V1, c::W3ID_JWS2020_V1),
        (
            "https://w3c-ccg.github.io/lds-jws2020/contexts/lds-jws2020-v1.json",
            c::LDS_JWS2020_V1,
        ),
        (STATUS_LIST_2021_V1, c::STATUS_LIST_2021_V1),
        (DID_V1, c::DID_V1),
        (SECURITY_V1, c::SECURITY_V1),
        (SECURITY_V2, c::SECURITY_V2),
        // Imported by the VC 1.1 context.
        ("https://www.w3.org/ns/odrl.jsonld", c::ODRL),
    ]
}

/// Why a context could not be added.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("`{0}` is not an absolute URL")]
    InvalidUrl(String),
    #[error("the context for `{url}` is not JSON: {reason}")]
    InvalidJson { url: String, reason: String },
    #[error("the document for `{0}` is not a JSON-LD context (no `@context` object)")]
    NotAContext(String),
    #[error("`{0}` is a vetted context and cannot be replaced")]
    Vetted(String),
}

/// A context the map does not hold (the loader's error cause).
#[derive(Debug, thiserror::Error)]
#[error("context not allowed (only the vetted, built-in contexts are loaded; nothing is fetched)")]
pub struct UnknownContext;

/// The map of loadable contexts; it is the JSON-LD document loader. Cloning is cheap.
#[derive(Clone)]
pub struct Contexts {
    docs: Arc<HashMap<String, RemoteDocument>>,
}

impl std::fmt::Debug for Contexts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut urls: Vec<&str> = self.docs.keys().map(String::as_str).collect();
        urls.sort_unstable();
        f.debug_struct("Contexts").field("urls", &urls).finish()
    }
}

impl Default for Contexts {
    fn default() -> Self {
        Self::vetted()
    }
}

fn parse(url: &str, text: &str) -> Result<RemoteDocument, ContextError> {
    let iri =
        iref::IriBuf::new(url.to_owned()).map_err(|_| ContextError::InvalidUrl(url.into()))?;
    let (json, _) =
        <ssi::json_ld::syntax::Value as json_syntax::Parse>::parse_str(text).map_err(|e| {
            ContextError::InvalidJson {
                url: url.into(),
                reason: e.to_string(),
            }
        })?;
    if json
        .as_object()
        .is_none_or(|o| o.get("@context").next().is_none())
    {
        return Err(ContextError::NotAContext(url.into()));
    }
    Ok(RemoteDocument::new(
        Some(iri),
        Some("application/ld+json".parse().expect("a valid media type")),
        json,
    ))
}

impl Contexts {
    /// The vetted, built-in contexts.
    pub fn vetted() -> Self {
        static VETTED: OnceLock<Arc<HashMap<String, RemoteDocument>>> = OnceLock::new();
        let docs = VETTED.get_or_init(|| {
            Arc::new(
                vetted()
                    .into_iter()
                    .map(|(url, text)| {
                        (
                            url.to_owned(),
                            parse(url, text).expect("vetted contexts parse"),
                        )
                    })
                    .collect(),
            )
        });
        Self { docs: docs.clone() }
    }

    /// Adds an operator's context (the text of a JSON-LD context document) under `url`.
    /// A vetted context cannot be replaced.
    pub fn with_context(mut self, url: &str, text: &str) -> Result<Self, ContextError> {
        if Self::vetted().contains(url) {
            return Err(ContextError::Vetted(url.into()));
        }
        let doc = parse(url, text)?;
        Arc::make_mut(&mut self.docs).insert(url.to_owned(), doc);
        Ok(self)
    }

    pub fn contains(&self, url: &str) -> bool {
        self.docs.contains_key(url)
    }

    /// The URLs this map loads, sorted.
    pub fn urls(&self) -> Vec<&str> {
        let mut urls: Vec<&str> = self.docs.keys().map(String::as_str).collect();
        urls.sort_unstable();
        urls
    }
}

impl Loader for Contexts {
    async fn load(&self, url: &iref::Iri) -> Result<RemoteDocument, LoadError> {
        self.docs
            .get(url.as_str())
            .cloned()
            .ok_or_else(|| LoadError::new(url.to_owned(), UnknownContext))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_vetted_context_parses_and_v2_has_no_vocab() {
        let contexts = Contexts::vetted();
        assert_eq!(contexts.urls().len(), vetted().len());
        assert!(!ssi_contexts::CREDENTIALS_V2.contains("\"@vocab\":"));
    }

    #[test]
    fn operators_add_contexts_but_cannot_replace_vetted_ones() {
        let text = r#"{"@context": {"shoeSize": "https://example.org/vocab#shoeSize"}}"#;
        let contexts = Contexts::vetted()
            .with_context("https://example.org/ctx/v1", text)
            .unwrap();
        assert!(contexts.contains("https://example.org/ctx/v1"));
        assert!(!Contexts::vetted().contains("https://example.org/ctx/v1"));
        assert!(matches!(
            Contexts::vetted().with_context(CREDENTIALS_V2, text),
            Err(ContextError::Vetted(_))
        ));
        assert!(matches!(
            Contexts::vetted().with_context("https://example.org/x", "{}"),
            Err(ContextError::NotAContext(_))
        ));
        assert!(matches!(
            Contexts::vetted().with_context("not a url", text),
            Err(ContextError::InvalidUrl(_))
        ));
    }
}
