//! The server's domain services. No HTTP types here: handlers call these, these call the
//! store and `sichat-core`.

pub mod admin_token;
pub mod bootstrap;
pub mod identity;
pub mod resolver;
pub mod users;

use sichat_core::keys::KeyService;

use crate::store::keys::SeaKeyStore;

/// The key service over the server's database.
pub type ServerKeys = KeyService<SeaKeyStore>;

/// Owner of the server's own keys.
pub const SERVER_OWNER: &str = "server";

/// Owner string of a user's keys.
pub fn user_owner(name: &str) -> String {
    format!("user:{name}")
}
