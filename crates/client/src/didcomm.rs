//! DIDComm on the client: the identities it messages as (kept in a file under the client's
//! home, mode 0600), and a [`Packer`] over their keys. The same core code packs and unpacks
//! on the server's mediator.
//!
//! The home directory is `$SICHAT_CLIENT_HOME`, else `$XDG_DATA_HOME/sichat-client`, else
//! `~/.local/share/sichat-client`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};
use sichat_core::SystemClock;
use sichat_core::did::DidResolver;
use sichat_core::didcomm::{OwnerKeys, Packer};
use sichat_core::id::{Did, Owner};
use sichat_core::keys::{Kek, KeyService, SecretKey};
use sichat_core::store::MemoryStore;

use crate::identity::{self, LocalIdentity, Method};

/// The file of DIDComm identities in the home directory.
pub const IDENTITIES_FILE: &str = "didcomm-identities.json";

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("no home directory: set SICHAT_CLIENT_HOME")]
    NoHome,
}

/// The client's home directory (see the module documentation).
pub fn home_dir() -> Result<PathBuf, StateError> {
    if let Some(h) = std::env::var_os("SICHAT_CLIENT_HOME").filter(|h| !h.is_empty()) {
        return Ok(PathBuf::from(h));
    }
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|h| !h.is_empty()) {
        return Ok(PathBuf::from(x).join("sichat-client"));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".local/share/sichat-client"))
        .ok_or(StateError::NoHome)
}

/// The DIDComm identities of this client, as stored.
#[derive(Debug)]
pub struct Identities {
    path: PathBuf,
    /// Each identity as [`LocalIdentity::to_private_json`] writes it.
    entries: Vec<Value>,
}

fn file_error(path: &Path, e: impl std::fmt::Display) -> StateError {
    StateError::File {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

impl Identities {
    /// Reads the identities in `home` (none yet: an empty set).
    pub fn load(home: &Path) -> Result<Self, StateError> {
        let path = home.join(IDENTITIES_FILE);
        let entries = match std::fs::read(&path) {
            Ok(bytes) => {
                let v: Value = serde_json::from_slice(&bytes).map_err(|e| file_error(&path, e))?;
                v.get("identities")
                    .and_then(Value::as_array)
                    .cloned()
                    .ok_or_else(|| file_error(&path, "no `identities` list"))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(file_error(&path, e)),
        };
        Ok(Self { path, entries })
    }

    /// Creates an identity, stores it (the file replaced atomically, mode 0600) and
    /// returns its DID.
    pub fn create(&mut self, method: Method, endpoint: Option<&str>) -> Result<Did, StateError> {
        let id: LocalIdentity = identity::create(method, endpoint);
        self.entries.push(id.to_private_json());
        self.save()?;
        Ok(id.did)
    }

    fn save(&self) -> Result<(), StateError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| file_error(dir, e))?;
        let tmp = self.path.with_extension("json.tmp");
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let text = serde_json::to_vec_pretty(&json!({"identities": self.entries}))
            .map_err(|e| file_error(&tmp, e))?;
        {
            use std::io::Write;
            let mut f = opts.open(&tmp).map_err(|e| file_error(&tmp, e))?;
            f.write_all(&text).map_err(|e| file_error(&tmp, e))?;
            f.sync_all().map_err(|e| file_error(&tmp, e))?;
        }
        std::fs::rename(&tmp, &self.path).map_err(|e| file_error(&self.path, e))
    }

    /// The DIDs held.
    pub fn dids(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter_map(|e| e.get("did").and_then(Value::as_str).map(str::to_owned))
            .collect()
    }

    /// A packer over every key held (an Ed25519 key also stands for its X25519 form, as
    /// did:key documents list it under `keyAgreement`).
    pub async fn packer(&self, resolver: Arc<dyn DidResolver>) -> Result<Packer, StateError> {
        let clock = Arc::new(SystemClock);
        let keys = Arc::new(KeyService::new(
            MemoryStore::new(),
            Kek::generate(),
            clock.clone(),
        ));
        for entry in &self.entries {
            for k in entry
                .get("keys")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let secret = SecretKey::from_jwk_value(&k["privateKeyJwk"])
                    .map_err(|e| file_error(&self.path, e))?;
                let derived = secret.to_x25519();
                for s in std::iter::once(secret).chain(derived) {
                    let record = keys.seal_record(&Owner::Server, &s);
                    use sichat_core::store::KeyStore;
                    match keys.store().insert_key(&record).await {
                        Ok(()) | Err(sichat_core::store::StoreError::Duplicate(_)) => {}
                        Err(e) => return Err(file_error(&self.path, e)),
                    }
                }
            }
        }
        Ok(Packer::new(
            resolver,
            Arc::new(OwnerKeys::new(keys, Owner::Server)),
            clock,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn identities_persist_and_pack_between_each_other() {
        let home = std::env::temp_dir().join(format!("sichat-client-test-{}", std::process::id()));
        let mut ids = Identities::load(&home).unwrap();
        let a = ids.create(Method::Peer, None).unwrap();
        let b = ids.create(Method::Key, None).unwrap();
        let again = Identities::load(&home).unwrap();
        assert_eq!(again.dids(), [a.to_string(), b.to_string()]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(home.join(IDENTITIES_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let packer = again
            .packer(Arc::new(sichat_core::did::StandardResolver::offline()))
            .await
            .unwrap();
        let mut m = sichat_core::didcomm::Message::new(
            "https://didcomm.org/basicmessage/2.0/message",
            json!({"content": "hi"}),
        );
        m.from = Some(a.to_string());
        m.to = Some(vec![b.to_string()]);
        // To a did:key: its X25519 form decrypts.
        let packed = packer
            .pack_encrypted(
                &m,
                b.as_str(),
                Some(a.as_str()),
                Some(a.as_str()),
                Default::default(),
            )
            .await;
        // A did:key's X25519 is derived, a did:peer:2's is its own: authcrypt needs one
        // curve, both are X25519.
        let packed = packed.unwrap();
        let (got, meta) = packer.unpack(packed.packed.as_bytes()).await.unwrap();
        assert_eq!(got, m);
        assert!(meta.authenticated && meta.non_repudiation);
        std::fs::remove_dir_all(&home).unwrap();
    }
}

/// The interop commands (`sichat-client didcomm did|pack|unpack`): one JSON object in,
/// one out, the identities kept in `home`. Errors are for the caller to print as
/// `{"error": ...}`.
pub mod interop {
    use std::path::Path;
    use std::sync::Arc;

    use serde_json::{Value, json};
    use sichat_core::did::DidResolver;
    use sichat_core::didcomm::Message;

    use super::Identities;
    use crate::identity::Method;

    /// Which interop command.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Action {
        Did,
        Pack,
        Unpack,
    }

    pub type Error = Box<dyn std::error::Error + Send + Sync>;

    pub async fn run(
        action: Action,
        input: &Value,
        home: &Path,
        resolver: Arc<dyn DidResolver>,
    ) -> Result<Value, Error> {
        let mut ids = Identities::load(home)?;
        match action {
            Action::Did => {
                let method = match input["kind"].as_str() {
                    Some("peer2") | None => Method::Peer,
                    Some("key") => Method::Key,
                    Some(other) => {
                        return Err(
                            format!("`kind` must be \"peer2\" or \"key\", not {other:?}").into(),
                        );
                    }
                };
                let did = ids.create(method, input["endpoint"].as_str())?;
                Ok(json!({"did": did.as_str()}))
            }
            Action::Pack => {
                let message = Message::parse(input["message"].to_string().as_bytes())?;
                let to = input["to"].as_str().ok_or("`to` (a DID) is missing")?;
                let from = input["from"].as_str();
                let sign_by = match input["sign"].as_bool().unwrap_or(false) {
                    true => Some(
                        from.or(message.from.as_deref())
                            .ok_or("`sign` needs a `from` (or the message's `from`)")?,
                    ),
                    false => None,
                };
                let packer = ids.packer(resolver).await?;
                let packed = packer
                    .pack_encrypted(&message, to, from, sign_by, Default::default())
                    .await?;
                let jwe: Value = serde_json::from_str(&packed.packed)?;
                Ok(
                    json!({"packed": jwe, "service_uri": packed.service_uri, "forwarded": packed.forwarded}),
                )
            }
            Action::Unpack => {
                let packed = match &input["packed"] {
                    Value::String(s) => s.clone(),
                    v @ Value::Object(_) => v.to_string(),
                    _ => return Err("`packed` (a JWE, JWS or plaintext message) is missing".into()),
                };
                let packer = ids.packer(resolver).await?;
                let (message, meta) = packer.unpack(packed.as_bytes()).await?;
                Ok(json!({"message": message, "metadata": meta}))
            }
        }
    }
}
