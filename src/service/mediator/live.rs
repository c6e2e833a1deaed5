//! Live delivery (pickup 3.0 live mode): which WebSocket sessions want the messages of
//! which recipient DIDs, and the nudge sent to them when a message is queued. A nudge
//! carries the queued message; the session packs the `delivery` itself. Delivery stays
//! at-least-once: the message remains queued until `messages-received`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use sichat_core::store::QueuedMessage;
use tokio::sync::mpsc;

/// Messages a session may have waiting to be pushed; beyond, nudges are dropped (the
/// client still finds the messages with a `delivery-request`).
pub const SESSION_BACKLOG: usize = 64;

/// A live session: its id and the channel its nudges go to.
type Listener = (u64, mpsc::Sender<QueuedMessage>);

/// A pushed message: (recipient, message id).
type Pushed = (String, String);

/// Pushes remembered to skip the same message announced again by the database.
const RECENT: usize = 10_000;

#[derive(Default)]
pub struct LiveHub {
    /// recipient DID → its live sessions.
    sessions: Mutex<HashMap<String, Vec<Listener>>>,
    /// (recipient, message id) pushed lately, and the same oldest first.
    recent: Mutex<(HashSet<Pushed>, VecDeque<Pushed>)>,
}

impl LiveHub {
    /// Registers session `id` for `recipients` (replacing what it had).
    pub fn register(&self, id: u64, recipients: &[String], tx: &mpsc::Sender<QueuedMessage>) {
        self.unregister(id);
        let Ok(mut map) = self.sessions.lock() else {
            return;
        };
        for r in recipients {
            map.entry(r.clone()).or_default().push((id, tx.clone()));
        }
    }

    pub fn unregister(&self, id: u64) {
        let Ok(mut map) = self.sessions.lock() else {
            return;
        };
        map.retain(|_, sessions| {
            sessions.retain(|(s, _)| *s != id);
            !sessions.is_empty()
        });
    }

    /// Pushes `message` to every live session of its recipient, once: a message pushed
    /// lately (queued here, then announced by the database) is not pushed again.
    pub fn notify(&self, message: &QueuedMessage) {
        let Ok(map) = self.sessions.lock() else {
            return;
        };
        let Some(listeners) = map.get(&message.recipient) else {
            return;
        };
        if let Ok(mut recent) = self.recent.lock() {
            let key = (message.recipient.clone(), message.id.clone());
            if !recent.0.insert(key.clone()) {
                return;
            }
            recent.1.push_back(key);
            if recent.1.len() > RECENT
                && let Some(old) = recent.1.pop_front()
            {
                recent.0.remove(&old);
            }
        }
        for (_, tx) in listeners {
            // A full or closed channel: the client picks the message up later.
            let _ = tx.try_send(message.clone());
        }
    }

    /// Whether any session of this process listens for `recipient`.
    pub fn is_live(&self, recipient: &str) -> bool {
        self.sessions
            .lock()
            .map(|m| m.contains_key(recipient))
            .unwrap_or(false)
    }
}
