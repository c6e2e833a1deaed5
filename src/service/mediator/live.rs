//! Live delivery (pickup 3.0 live mode): which WebSocket sessions want the messages of
//! which recipient DIDs, and the nudge sent to them when a message is queued. A nudge
//! carries the queued message; the session packs the `delivery` itself. Delivery stays
//! at-least-once: the message remains queued until `messages-received`.

use std::collections::HashMap;
use std::sync::Mutex;

use sichat_core::store::QueuedMessage;
use tokio::sync::mpsc;

/// Messages a session may have waiting to be pushed; beyond, nudges are dropped (the
/// client still finds the messages with a `delivery-request`).
pub const SESSION_BACKLOG: usize = 64;

/// A live session: its id and the channel its nudges go to.
type Listener = (u64, mpsc::Sender<QueuedMessage>);

#[derive(Default)]
pub struct LiveHub {
    /// recipient DID → its live sessions.
    sessions: Mutex<HashMap<String, Vec<Listener>>>,
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

    /// Pushes `message` to every live session of its recipient.
    pub fn notify(&self, message: &QueuedMessage) {
        let Ok(map) = self.sessions.lock() else {
            return;
        };
        for (_, tx) in map.get(&message.recipient).into_iter().flatten() {
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
