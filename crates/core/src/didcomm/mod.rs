//! DIDComm Messaging v2.1 (DIF): the envelopes and, as they land, the protocols.
//!
//! - [`jwe`]: encrypted envelopes — anoncrypt (`ECDH-ES+A256KW`) and authcrypt
//!   (`ECDH-1PU+A256KW`, the content tag in the KDF) over X25519 and P-256, content
//!   encrypted with A256CBC-HS512, A256GCM or XC20P, for one or several recipients.
//! - [`jws`]: signed envelopes (EdDSA, ES256), signed through the key service's `Signer`.
//!
//! The cryptographic primitives are `askar-crypto`'s; the envelope format, its checks and
//! the sender binding are here.

pub mod jwe;
pub mod jws;
