//! Verifiable credentials: shape checks ([`credential`]), JSON-LD canonicalization with
//! vetted contexts and a work bound ([`canon`]), Data Integrity proofs
//! ([`data_integrity`]), VC-JOSE-COSE envelopes ([`jose`]), issuing ([`issue`]) and
//! verifying ([`verify`]) with verification methods found through [`methods`].
//!
//! Everything here runs the same on the server and, offline, on the client.

pub mod canon;
pub mod credential;
pub mod data_integrity;
pub mod issue;
pub mod jose;
pub mod methods;
pub mod status;
pub mod verify;

pub use canon::{CanonError, Canonicalizer, Limits};
pub use credential::{ShapeError, VcVersion};
pub use data_integrity::Cryptosuite;
pub use issue::{IssueError, Issuer, IssuerKey, ProofFormat};
pub use methods::{DidMethods, MethodResolver, ResolvedMethod, StaticMethods};
pub use verify::{ProblemDetail, Report, Verifier, VerifyError, VerifyOptions};
