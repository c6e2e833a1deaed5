//! Verification methods for proofs: from a method id (a DID URL) to its public key, its
//! controller and the relationships its controller document lists it under.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use crate::did::{DidDocument, DidResolver, Relationship, ResolveError};
use crate::id::Did;
use crate::keys::PublicKey;

/// A verification method as a verifier needs it.
#[derive(Debug, Clone)]
pub struct ResolvedMethod {
    /// The method's absolute id.
    pub id: String,
    /// The method's `controller`.
    pub controller: String,
    pub key: PublicKey,
    /// The relationships under which the controller's document lists the method.
    pub relationships: Vec<Relationship>,
}

impl ResolvedMethod {
    pub fn allows(&self, relationship: Relationship) -> bool {
        self.relationships.contains(&relationship)
    }
}

/// Why a method could not be found.
#[derive(Debug, thiserror::Error)]
pub enum MethodError {
    #[error("`{0}` is not a DID URL")]
    NotADidUrl(String),
    #[error("verification method `{0}` is not in its controller's document")]
    NotFound(String),
    #[error("verification method `{id}`: {reason}")]
    Invalid { id: String, reason: String },
    #[error(transparent)]
    Resolve(#[from] ResolveError),
}

/// Finds verification methods.
#[async_trait::async_trait]
pub trait MethodResolver: Send + Sync {
    async fn resolve_method(&self, id: &str) -> Result<ResolvedMethod, MethodError>;
}

/// Methods of DIDs, through a [`DidResolver`].
#[derive(Clone)]
pub struct DidMethods(pub Arc<dyn DidResolver>);

#[async_trait::async_trait]
impl MethodResolver for DidMethods {
    async fn resolve_method(&self, id: &str) -> Result<ResolvedMethod, MethodError> {
        let did_part = id.split('#').next().unwrap_or_default();
        let did = Did::parse(did_part).map_err(|_| MethodError::NotADidUrl(id.into()))?;
        let document = self.0.resolve(&did).await?.document;
        method_in(&document, id)
    }
}

/// The method `id` of `document`, with its relationships.
pub fn method_in(document: &DidDocument, id: &str) -> Result<ResolvedMethod, MethodError> {
    let method = document
        .verification_method(id)
        .ok_or_else(|| MethodError::NotFound(id.into()))?;
    let method_id = method
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or(id)
        .to_owned();
    let (key, controller) = key_and_controller(method, id)?;
    let relationships = Relationship::ALL
        .into_iter()
        .filter(|rel| {
            document
                .relationship(*rel)
                .iter()
                .any(|r| *r == method_id || *r == id)
        })
        .collect();
    Ok(ResolvedMethod {
        id: method_id,
        controller,
        key,
        relationships,
    })
}

fn key_and_controller(method: &Value, id: &str) -> Result<(PublicKey, String), MethodError> {
    let key = DidDocument::public_key_of(method).map_err(|e| MethodError::Invalid {
        id: id.into(),
        reason: e.to_string(),
    })?;
    let controller = method
        .get("controller")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Ok((key, controller))
}

/// Fixed methods (tests, and keys a verifier pins out of band): a method JSON (with `id`,
/// `controller` and a public key) and its relationships.
#[derive(Default, Clone)]
pub struct StaticMethods(HashMap<String, ResolvedMethod>);

impl StaticMethods {
    pub fn insert(
        &mut self,
        method: &Value,
        relationships: &[Relationship],
    ) -> Result<(), MethodError> {
        let id = method
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| MethodError::Invalid {
                id: String::new(),
                reason: "no `id`".into(),
            })?;
        let (key, controller) = key_and_controller(method, id)?;
        self.0.insert(
            id.to_owned(),
            ResolvedMethod {
                id: id.to_owned(),
                controller,
                key,
                relationships: relationships.to_vec(),
            },
        );
        Ok(())
    }
}

#[async_trait::async_trait]
impl MethodResolver for StaticMethods {
    async fn resolve_method(&self, id: &str) -> Result<ResolvedMethod, MethodError> {
        self.0
            .get(id)
            .cloned()
            .ok_or_else(|| MethodError::NotFound(id.into()))
    }
}
