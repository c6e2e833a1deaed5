//! Wire types and paths shared by the server's handlers and the client's HTTP transport.

pub use crate::keys::KeyInfo;

/// Path constants of the server's HTTP API.
pub mod paths {
    pub const SERVER_DID_DOCUMENT: &str = "/.well-known/did.json";
    pub const USER_DID_DOCUMENT: &str = "/users/{name}/did.json";
    pub const RESOLVE: &str = "/1.0/identifiers/{did}";
    pub const HEALTH: &str = "/healthz";
    pub const READY: &str = "/readyz";
    pub const METRICS: &str = "/metrics";
    pub const ADMIN_USERS: &str = "/admin/users";
    pub const ADMIN_USER: &str = "/admin/users/{name}";
    pub const ADMIN_KEYS: &str = "/admin/keys";
    pub const ADMIN_KEY: &str = "/admin/keys/{id}";
    pub const ADMIN_KEY_ROTATE: &str = "/admin/keys/{id}/rotate";
    pub const ADMIN_KEYS_IMPORT: &str = "/admin/keys/import";
    pub const ADMIN_DIDS: &str = "/admin/dids";
}
