//! JSON-LD document → canonical N-Quads (JSON-LD 1.1 expansion with the vetted
//! [`Contexts`], then RDF Dataset Canonicalization, RDFC-1.0), with a work bound.
//!
//! Expansion is strict: a term no context defines, an invalid IRI or a context outside
//! the map is an error (ssi's expansion policy), never silently dropped.
//!
//! The bound: RDFC-1.0 is cheap except for blank nodes that first-degree hashing cannot
//! tell apart (step 4.5.4 onwards), for which it explores permutations; a "poison graph"
//! (a clique of such nodes) takes factorial time. Such nodes are counted before
//! canonicalizing and a document with more than [`Limits::max_indistinct_blank_nodes`] is
//! refused. Document depth and quad count are bounded too.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use serde_json::Value;
use ssi::rdf::{AnyLdEnvironment, LdEnvironment, LexicalQuad, urdna2015};

use crate::contexts::{Contexts, UnknownContext};

/// Bounds on the work one canonicalization may do.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Nesting of JSON arrays and objects.
    pub max_depth: usize,
    /// RDF quads after expansion.
    pub max_quads: usize,
    /// Blank nodes that need n-degree hashing (indistinct by first-degree hash).
    pub max_indistinct_blank_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        // A credential with a status entry and a proof has ~60 quads and no indistinct
        // blank nodes. Measured (release, this repository's 2-core machine), a clique of
        // n indistinct blank nodes canonicalizes in: n=4 1.5 ms, 5 15 ms, 6 88 ms,
        // 7 0.9 s, 8 14 s, 9 155 s; 4 keeps the worst case near an ordinary proof.
        Self {
            max_depth: 32,
            max_quads: 10_000,
            max_indistinct_blank_nodes: 4,
        }
    }
}

/// Why a document could not be canonicalized.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanonError {
    #[error("the document nests deeper than {0} levels")]
    TooDeep(usize),
    #[error("the document expands to more than {0} RDF statements")]
    TooManyQuads(usize),
    #[error(
        "the document has {found} blank nodes that only their mutual links tell apart (at most {max}): canonicalizing it would take too long"
    )]
    TooComplex { found: usize, max: usize },
    #[error("context `{0}` is not allowed: only vetted, built-in contexts are loaded")]
    ContextNotAllowed(String),
    /// A term (property or type) no context defines.
    #[error("term `{0}` is not defined by any context")]
    UndefinedTerm(String),
    #[error("JSON-LD expansion failed: {0}")]
    Expansion(String),
}

type ActiveContext = ssi::json_ld::Context<ssi::json_ld::IriBuf, ssi::json_ld::BlankIdBuf>;

/// Top-level `@context` values made of context URLs only (as JSON text) and their
/// processed form: credentials repeat a handful of them, and processing one (loading and
/// defining every term of the VC context) cost a third of an operation. Values with an
/// inline context object are processed each time and not kept.
#[derive(Default)]
struct ContextCache(Mutex<HashMap<String, Arc<ActiveContext>>>);

impl ContextCache {
    /// Distinct `@context` values kept; beyond, the cache starts over.
    const CAPACITY: usize = 64;
}

/// The term skeletons (see [`skeleton`]) of documents whose every term expanded: a
/// document of the same skeleton expands the same way, whatever its other values.
#[derive(Default)]
struct TermsCache(Mutex<HashSet<[u8; 32]>>);

impl TermsCache {
    /// Skeletons kept; beyond, the cache starts over.
    const CAPACITY: usize = 1024;

    fn contains(&self, key: &[u8; 32]) -> bool {
        self.0.lock().map(|s| s.contains(key)).unwrap_or(false)
    }

    fn insert(&self, key: [u8; 32]) {
        if let Ok(mut seen) = self.0.lock() {
            if seen.len() >= Self::CAPACITY {
                seen.clear();
            }
            seen.insert(key);
        }
    }
}

/// What decides whether a document's terms are all defined: its keys, its `@context`,
/// the values of `type` (type-scoped contexts) and of keywords (`@type`, `@language`...);
/// not its other values. The hash of
/// that, for a document whose contexts are all built-in URLs (where `type` is the only
/// alias of `@type`, checked by a test) and that has no nested `@context`; `None`
/// otherwise (such a document is always expanded).
fn skeleton(document: &Value) -> Option<[u8; 32]> {
    fn feed(h: &mut Sha256, value: &Value, keep_strings: bool) -> bool {
        match value {
            Value::Object(map) => {
                h.update(b"{");
                for (k, v) in map {
                    if k == "@context" {
                        return false;
                    }
                    h.update((k.len() as u64).to_le_bytes());
                    h.update(k.as_bytes());
                    if !feed(h, v, k == "type" || k.starts_with('@')) {
                        return false;
                    }
                }
                h.update(b"}");
            }
            Value::Array(items) => {
                h.update(b"[");
                for v in items {
                    if !feed(h, v, keep_strings) {
                        return false;
                    }
                }
                h.update(b"]");
            }
            Value::String(s) if keep_strings => {
                h.update(b"s");
                h.update((s.len() as u64).to_le_bytes());
                h.update(s.as_bytes());
            }
            Value::String(_) => h.update(b"S"),
            Value::Number(_) => h.update(b"n"),
            Value::Bool(_) => h.update(b"b"),
            Value::Null => h.update(b"0"),
        }
        true
    }
    let map = document.as_object()?;
    let urls: Vec<&str> = match map.get("@context")? {
        Value::String(one) => vec![one.as_str()],
        Value::Array(items) => items.iter().map(Value::as_str).collect::<Option<_>>()?,
        _ => return None,
    };
    let builtin = Contexts::vetted();
    if !urls.iter().all(|u| builtin.contains(u)) {
        return None;
    }
    let mut h = Sha256::new();
    for u in &urls {
        h.update(u.as_bytes());
        h.update(b"\n");
    }
    let mut rest = map.clone();
    rest.remove("@context");
    feed(&mut h, &Value::Object(rest), false).then(|| h.finalize().into())
}

/// Canonicalizes JSON-LD documents with a fixed context map and limits.
#[derive(Clone, Default)]
pub struct Canonicalizer {
    contexts: Contexts,
    limits: Limits,
    processed: Arc<ContextCache>,
    terms_ok: Arc<TermsCache>,
}

impl std::fmt::Debug for Canonicalizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Canonicalizer")
            .field("contexts", &self.contexts)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Canonicalizer {
    pub fn new(contexts: Contexts, limits: Limits) -> Self {
        Self {
            contexts,
            limits,
            processed: Arc::default(),
            terms_ok: Arc::default(),
        }
    }

    /// The processed form of a top-level `@context` value, from the cache or processed
    /// now with the vetted loader.
    async fn active_context(&self, context: &Value) -> Result<Arc<ActiveContext>, CanonError> {
        use ssi::json_ld::syntax::TryFromJson;
        use ssi::json_ld::{Process, syntax};
        let key = context.to_string();
        let lock = |cache: &ContextCache| {
            cache
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(&key)
                .cloned()
        };
        let cacheable = match context {
            Value::String(_) => true,
            Value::Array(items) => items.iter().all(Value::is_string),
            _ => false,
        };
        if cacheable && let Some(found) = lock(&self.processed) {
            return Ok(found);
        }
        let local = syntax::context::Context::try_from_json(json_syntax::Value::from_serde_json(
            context.clone(),
        ))
        .map_err(|e| CanonError::Expansion(format!("invalid `@context`: {e}")))?;
        let processed = local
            .process(&mut (), &self.contexts, None)
            .await
            .map_err(processing_error)?
            .into_processed();
        let processed = Arc::new(processed);
        if !cacheable {
            return Ok(processed);
        }
        let mut cache = self
            .processed
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= ContextCache::CAPACITY {
            cache.clear();
        }
        cache.insert(key, processed.clone());
        Ok(processed)
    }

    /// JSON-LD expansion (strict: undefined terms and invalid IRIs are errors), with the
    /// top-level `@context` processed once per distinct value.
    async fn expand(
        &self,
        document: &Value,
        ld: &mut LdEnvironment,
    ) -> Result<ssi::json_ld::ExpandedDocument, CanonError> {
        use ssi::json_ld::Expand;
        use ssi::json_ld::expansion::{Action, Options, Policy};
        check_depth(document, self.limits.max_depth)?;
        let (active, body) = match document {
            Value::Object(map) if map.contains_key("@context") => {
                let active = self.active_context(&map["@context"]).await?;
                let mut body = map.clone();
                body.remove("@context");
                ((*active).clone(), Value::Object(body))
            }
            other => (ActiveContext::default(), other.clone()),
        };
        let options = Options {
            policy: Policy {
                invalid: Action::Reject,
                allow_undefined: false,
                ..Default::default()
            },
            ..Default::default()
        };
        json_syntax::Value::from_serde_json(body)
            .expand_full(
                &mut ld.vocabulary,
                active,
                None,
                &self.contexts,
                options,
                (),
            )
            .await
            .map_err(|e| expansion_error(ssi::json_ld::JsonLdError::Expansion(e)))
    }

    pub fn contexts(&self) -> &Contexts {
        &self.contexts
    }

    /// Expands `document` only: checks that every term is defined and every context is
    /// allowed, without canonicalizing (for JOSE-secured credentials).
    ///
    /// A document whose term skeleton already expanded cleanly is not expanded again.
    pub async fn check_terms(&self, document: &Value) -> Result<(), CanonError> {
        let key = skeleton(document);
        if let Some(k) = &key
            && self.terms_ok.contains(k)
        {
            return Ok(());
        }
        self.expand(document, &mut LdEnvironment::default()).await?;
        if let Some(k) = key {
            self.terms_ok.insert(k);
        }
        Ok(())
    }

    /// The canonical N-Quads lines (sorted, each ending in `\n`) of `document`.
    pub async fn canonicalize(&self, document: &Value) -> Result<Vec<String>, CanonError> {
        let mut ld = LdEnvironment::default();
        let expanded = self.expand(document, &mut ld).await?;
        let quads = ld
            .quads_of(&expanded)
            .map_err(|e| CanonError::Expansion(e.to_string()))?;
        if quads.len() > self.limits.max_quads {
            return Err(CanonError::TooManyQuads(self.limits.max_quads));
        }
        let found = indistinct_blank_nodes(&quads);
        if found > self.limits.max_indistinct_blank_nodes {
            return Err(CanonError::TooComplex {
                found,
                max: self.limits.max_indistinct_blank_nodes,
            });
        }
        Ok(
            urdna2015::normalize(quads.iter().map(LexicalQuad::as_lexical_quad_ref))
                .into_nquads_lines(),
        )
    }
}

fn expansion_error(e: ssi::json_ld::JsonLdError) -> CanonError {
    use ssi::json_ld::JsonLdError;
    use ssi::json_ld::expansion::Error;
    match e {
        JsonLdError::Expansion(Error::KeyExpansionFailed(term)) => CanonError::UndefinedTerm(term),
        JsonLdError::Expansion(Error::ContextProcessing(e)) => processing_error(e),
        other => CanonError::Expansion(other.to_string()),
    }
}

fn processing_error(e: ssi::json_ld::context_processing::Error) -> CanonError {
    use ssi::json_ld::context_processing::Error;
    match e {
        Error::ContextLoadingFailed(load)
            if load.cause.downcast_ref::<UnknownContext>().is_some() =>
        {
            CanonError::ContextNotAllowed(load.target.to_string())
        }
        other => CanonError::Expansion(format!("context processing failed: {other}")),
    }
}

fn check_depth(value: &Value, max: usize) -> Result<(), CanonError> {
    let mut stack = vec![(value, 0usize)];
    while let Some((value, depth)) = stack.pop() {
        if depth > max {
            return Err(CanonError::TooDeep(max));
        }
        match value {
            Value::Array(items) => stack.extend(items.iter().map(|v| (v, depth + 1))),
            Value::Object(map) => stack.extend(map.values().map(|v| (v, depth + 1))),
            _ => {}
        }
    }
    Ok(())
}

/// The number of blank nodes whose first-degree hash (RDFC-1.0 §4.6) they share with
/// another blank node: the ones canonicalization must tell apart by exploring paths.
/// The hash input (the node's statements with itself as `_:a` and every other blank node
/// as `_:z`, sorted) stands in for the hash.
fn indistinct_blank_nodes(quads: &[LexicalQuad]) -> usize {
    use ssi::rdf::urdna2015::BlankNodeComponentsMut;
    let mut statements: HashMap<String, Vec<String>> = HashMap::new();
    for quad in quads {
        let blanks: Vec<String> = quad
            .clone()
            .blank_node_components_mut()
            .iter()
            .map(|b| b.to_string())
            .collect();
        for own in &blanks {
            let mut relabelled = quad.clone();
            for label in relabelled.blank_node_components_mut() {
                let name = if label.as_str() == own { "a" } else { "z" };
                *label = ssi::json_ld::BlankIdBuf::from_suffix(name).expect("valid label");
            }
            statements
                .entry(own.clone())
                .or_default()
                .push(relabelled.to_string());
        }
    }
    let mut groups: HashMap<Vec<String>, usize> = HashMap::new();
    for (_, mut lines) in statements {
        lines.sort_unstable();
        *groups.entry(lines).or_default() += 1;
    }
    groups.values().filter(|&&n| n > 1).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The term skeleton keeps only `type` values: sound while no built-in context
    /// defines another alias of `@type` (a type-scoped context could hang on it).
    #[test]
    fn no_built_in_context_aliases_type_by_another_name() {
        fn walk(value: &Value, url: &str) {
            match value {
                Value::Object(map) => {
                    for (k, v) in map {
                        let aliases_type = v.as_str() == Some("@type")
                            || v.get("@id").and_then(Value::as_str) == Some("@type");
                        assert!(
                            !aliases_type || k == "type" || k == "@type",
                            "{url}: `{k}` aliases @type"
                        );
                        walk(v, url);
                    }
                }
                Value::Array(items) => items.iter().for_each(|v| walk(v, url)),
                _ => {}
            }
        }
        for (url, text) in crate::contexts::vetted() {
            walk(&serde_json::from_str(text).unwrap(), url);
        }
    }

    #[tokio::test]
    async fn a_cached_skeleton_never_hides_an_undefined_term() {
        let canon = Canonicalizer::default();
        let ok = credential(json!({"credentialSubject": {"id": "did:example:a", "name": "A"}}));
        canon.check_terms(&ok).await.unwrap();
        // Same keys and types, other values: the cache answers.
        let same = credential(json!({"credentialSubject": {"id": "did:example:b", "name": "B"}}));
        assert_eq!(skeleton(&ok), skeleton(&same));
        canon.check_terms(&same).await.unwrap();
        // A new key, a new type, a nested context: expanded, and refused where undefined.
        let extra = credential(json!({"credentialSubject": {"id": "did:example:a", "nick": "A"}}));
        assert!(matches!(
            canon.check_terms(&extra).await,
            Err(CanonError::UndefinedTerm(_))
        ));
        let typed = credential(json!({"type": ["VerifiableCredential", "Other"]}));
        assert_ne!(skeleton(&ok), skeleton(&typed));
        let nested = credential(
            json!({"credentialSubject": {"@context": {"name": "https://x.example/n"}, "name": "A"}}),
        );
        assert_eq!(skeleton(&nested), None);
        let operator = json!({"@context": ["https://example.org/own-context"], "type": "X"});
        assert_eq!(skeleton(&operator), None);
    }

    fn credential(extra: Value) -> Value {
        let mut vc = json!({
            "@context": ["https://www.w3.org/ns/credentials/v2"],
            "type": ["VerifiableCredential"],
            "issuer": "did:example:issuer",
            "credentialSubject": {"id": "did:example:subject", "name": "Alice"},
        });
        for (k, v) in extra.as_object().unwrap() {
            vc[k] = v.clone();
        }
        vc
    }

    #[tokio::test]
    async fn a_credential_canonicalizes_to_sorted_nquads() {
        let lines = Canonicalizer::default()
            .canonicalize(&credential(json!({})))
            .await
            .unwrap();
        assert!(lines.windows(2).all(|w| w[0] <= w[1]));
        assert!(lines.iter().all(|l| l.ends_with(" .\n")));
        assert!(
            lines
                .iter()
                .any(|l| l.contains("<https://schema.org/name> \"Alice\""))
        );
    }

    #[tokio::test]
    async fn undefined_terms_and_remote_contexts_are_refused() {
        let canon = Canonicalizer::default();
        let err = canon
            .canonicalize(&credential(json!({"shoeSize": 42})))
            .await
            .unwrap_err();
        assert_eq!(err, CanonError::UndefinedTerm("shoeSize".into()));

        let mut remote = credential(json!({}));
        remote["@context"] = json!([
            "https://www.w3.org/ns/credentials/v2",
            "https://attacker.example/context.jsonld"
        ]);
        let err = canon.canonicalize(&remote).await.unwrap_err();
        assert_eq!(
            err,
            CanonError::ContextNotAllowed("https://attacker.example/context.jsonld".into())
        );
    }

    #[tokio::test]
    async fn the_undefined_terms_context_allows_them() {
        let mut vc = credential(json!({"shoeSize": 42}));
        vc["@context"] = json!([
            "https://www.w3.org/ns/credentials/v2",
            "https://www.w3.org/ns/credentials/undefined-terms/v2"
        ]);
        Canonicalizer::default().canonicalize(&vc).await.unwrap();
    }

    /// Processed contexts are reused only for the same list of URLs: inline contexts are
    /// read every time, and a cached context still refuses undefined terms.
    #[tokio::test]
    async fn processed_contexts_are_reused_only_when_identical() {
        let canon = Canonicalizer::default();
        let inline = |iri: &str| {
            json!({
                "@context": ["https://www.w3.org/ns/credentials/v2", {"a": iri}],
                "id": "urn:x:1",
                "a": "value",
            })
        };
        let first = canon
            .canonicalize(&inline("https://ex.org/one"))
            .await
            .unwrap();
        let second = canon
            .canonicalize(&inline("https://ex.org/two"))
            .await
            .unwrap();
        assert!(first[0].contains("<https://ex.org/one>"), "{first:?}");
        assert!(second[0].contains("<https://ex.org/two>"), "{second:?}");
        let plain = credential(json!({}));
        let lines = canon.canonicalize(&plain).await.unwrap();
        assert_eq!(canon.canonicalize(&plain).await.unwrap(), lines);
        let err = canon
            .canonicalize(&credential(json!({"shoeSize": 42})))
            .await
            .unwrap_err();
        assert_eq!(err, CanonError::UndefinedTerm("shoeSize".into()));
        assert_eq!(canon.processed.0.lock().unwrap().len(), 1);
    }

    /// `n` blank nodes, each linked to every other and to nothing else.
    fn clique(n: usize) -> Value {
        let nodes: Vec<Value> = (0..n)
            .map(|i| {
                let links: Vec<Value> = (0..n)
                    .filter(|&j| j != i)
                    .map(|j| json!({"@id": format!("_:b{j}")}))
                    .collect();
                json!({"@id": format!("_:b{i}"), "https://example.org/p": links})
            })
            .collect();
        json!({"@graph": nodes})
    }

    /// A clique of blank nodes makes RDFC-1.0 explore every permutation: up to the
    /// bound it canonicalizes, beyond it is refused at once.
    #[tokio::test]
    async fn poison_graphs_are_refused_before_canonicalizing() {
        let canon = Canonicalizer::default();
        canon.canonicalize(&clique(4)).await.unwrap();
        for n in [5, 24] {
            let err = canon.canonicalize(&clique(n)).await.unwrap_err();
            assert_eq!(err, CanonError::TooComplex { found: n, max: 4 });
        }
    }

    #[tokio::test]
    async fn deep_documents_are_refused() {
        let mut value = json!("leaf");
        for _ in 0..100 {
            value = json!({"https://example.org/p": value});
        }
        let err = Canonicalizer::default()
            .canonicalize(&value)
            .await
            .unwrap_err();
        assert_eq!(err, CanonError::TooDeep(32));
    }
}
