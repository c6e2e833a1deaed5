//! DIDComm Messaging v2.1 (DIF): the envelopes and, as they land, the protocols.
//!
//! - [`jwe`]: encrypted envelopes — anoncrypt (`ECDH-ES+A256KW`) and authcrypt
//!   (`ECDH-1PU+A256KW`, the content tag in the KDF) over X25519 and P-256, content
//!   encrypted with A256CBC-HS512, A256GCM or XC20P, for one or several recipients.
//! - [`jws`]: signed envelopes (EdDSA, ES256), signed through the key service's `Signer`.
//! - [`message`]: plaintext messages and attachments, their header checks.
//! - [`pack`]: packing for a resolved DID (authcrypt/anoncrypt, signed, forwards along
//!   routing keys) and unpacking with the sender binding, expiry and replay checks.
//! - [`keys`]: which of our stored keys answer for a key in a DID document.
//! - [`protocols`]: the message types of the protocols Sichat speaks (routing, mediator
//!   coordination 2.0 and 3.0, pickup 3.0, trust ping, discover features, basic message,
//!   out-of-band, problem reports) and builders for replies and problem reports.
//!
//! The cryptographic primitives are `askar-crypto`'s; the envelope format, its checks and
//! the sender binding are here.

pub mod jwe;
pub mod jws;
pub mod keys;
pub mod message;
pub mod pack;
pub mod protocols;

pub use keys::{DidcommKeys, OwnerKeys};
pub use message::{Attachment, InvalidMessage, Message};
pub use pack::{DidcommError, PackOptions, Packed, Packer, ReplayGuard, UnpackMetadata};
