//! Server-to-server forwarding: a forward whose recipient is mediated by another server is
//! kept in the outbox (durably, before the sender is answered) and POSTed to that server's
//! DIDComm endpoint through the guarded client; failures are retried with exponential
//! backoff (1 s doubling to an hour) until the message expires or 16 attempts failed.
//! Rows are leased, so two instances do not send one row at once; a restart resumes.

use std::sync::Arc;
use std::time::Duration;

use sichat_core::Clock;
use sichat_core::did::web_fetch::GuardedFetcher;
use sichat_core::didcomm::jwe;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::store::SeaStore;
use crate::store::didcomm_outbox::{self, OutboxRow};

/// Attempts before a message is given up.
pub const MAX_ATTEMPTS: i32 = 16;
/// How long a sending instance holds a row.
const LEASE_MS: i64 = 60_000;
/// Rows sent per pass.
const BATCH: u64 = 32;

pub struct Outbox {
    store: Arc<SeaStore>,
    fetcher: GuardedFetcher,
    clock: Arc<dyn Clock>,
    wake: Notify,
}

/// The wait before attempt `attempts + 1`.
pub fn backoff_ms(attempts: i32) -> i64 {
    1000i64
        .saturating_mul(1 << (attempts.clamp(1, 13) - 1))
        .min(3_600_000)
}

impl Outbox {
    pub fn new(store: Arc<SeaStore>, fetcher: GuardedFetcher, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            fetcher,
            clock,
            wake: Notify::new(),
        }
    }

    /// Keeps `(recipient, endpoint, packed message)` rows until sent (durable on return).
    pub async fn keep(
        &self,
        rows: &[(String, String, String)],
        ttl_ms: i64,
    ) -> Result<(), sichat_core::store::StoreError> {
        let now = self.clock.now_millis();
        didcomm_outbox::insert(self.store.db(), rows, now, now.saturating_add(ttl_ms)).await?;
        self.wake.notify_one();
        Ok(())
    }

    /// One pass: sends what is due; returns how many were delivered.
    pub async fn send_due(&self) -> usize {
        let now = self.clock.now_millis();
        let rows = match didcomm_outbox::claim_due(self.store.db(), now, LEASE_MS, BATCH).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "reading the DIDComm outbox failed");
                return 0;
            }
        };
        let sent = futures_util::future::join_all(rows.into_iter().map(|r| self.attempt(r))).await;
        sent.into_iter().filter(|ok| *ok).count()
    }

    async fn attempt(&self, row: OutboxRow) -> bool {
        let result = match url::Url::parse(&row.uri) {
            Ok(url) => self
                .fetcher
                .post_bounded(&url, jwe::TYP, row.message.clone().into_bytes(), 64 * 1024)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err(e) => Err(format!("`{}` is not a URL: {e}", row.uri)),
        };
        let now = self.clock.now_millis();
        let outcome = match &result {
            Ok(()) => didcomm_outbox::delivered(self.store.db(), row.id).await,
            Err(error) => {
                let attempts = row.attempts + 1;
                let next = now + backoff_ms(attempts);
                let retry = (attempts < MAX_ATTEMPTS && next < row.expires_at).then_some(next);
                if retry.is_none() {
                    tracing::warn!(recipient = %row.recipient, uri = %row.uri, %error, attempts,
                        "a forwarded DIDComm message could not be delivered; given up");
                } else {
                    tracing::debug!(recipient = %row.recipient, uri = %row.uri, %error, attempts,
                        "a forwarded DIDComm message will be retried");
                }
                didcomm_outbox::attempt_failed(self.store.db(), row.id, attempts, error, retry, now)
                    .await
            }
        };
        if let Err(e) = outcome {
            tracing::warn!(error = %e, "recording an outbox attempt failed");
        }
        result.is_ok()
    }

    /// Sends until `stop`: at once when a message is kept, else every second.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        loop {
            self.send_due().await;
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stop.cancelled() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_a_second_to_an_hour() {
        assert_eq!(backoff_ms(1), 1_000);
        assert_eq!(backoff_ms(2), 2_000);
        assert_eq!(backoff_ms(5), 16_000);
        assert_eq!(backoff_ms(12), 2_048_000);
        assert_eq!(backoff_ms(13), 3_600_000);
        assert_eq!(backoff_ms(40), 3_600_000);
    }
}
