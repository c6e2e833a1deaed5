//! `sichat-core`: the logic shared by the Sichat server and client.
//!
//! Pure code with I/O behind traits: key material and its sealing at rest ([`keys`]), DID
//! methods and resolution ([`did`]), the persistence contracts every backend implements
//! ([`store`]), time ([`clock`]) and the wire types shared by server and client ([`api`]).
//! No HTTP server, no database and no async runtime live here; the optional `http` feature
//! adds the guarded HTTPS fetcher used to resolve `did:web`.

pub mod api;
pub mod clock;
pub mod contexts;
pub mod did;
pub mod didcomm;
pub mod id;
pub mod keys;
pub mod oauth;
pub mod secret;
pub mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod vc;

pub use clock::{Clock, SystemClock};
pub use secret::Secret;
