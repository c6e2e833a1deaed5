//! Background tasks (identity sync today; the mediator's queue writer, status-list
//! re-signing and outboxes next): spawned through [`Background`], which tracks them, tells
//! them to stop on shutdown and waits for them to finish.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Clone, Default)]
pub struct Background {
    tracker: TaskTracker,
    stop: CancellationToken,
}

impl Background {
    pub fn new() -> Self {
        Self::default()
    }

    /// The token a task watches to know it must stop.
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Spawns a tracked task; `name` appears in the logs if it outlives the drain.
    pub fn spawn(&self, name: &'static str, task: impl Future<Output = ()> + Send + 'static) {
        self.tracker.spawn(async move {
            task.await;
            tracing::debug!(task = name, "background task finished");
        });
    }

    /// Runs `job` every `interval` (the first time at once) until shutdown.
    pub fn every<F, Fut>(&self, name: &'static str, interval: Duration, mut job: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let stop = self.stop_token();
        self.spawn(name, async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = ticker.tick() => {}
                }
                job().await;
            }
        });
    }

    /// Tells every task to stop and waits up to `grace` for them to finish; returns whether
    /// they all did.
    pub async fn drain(&self, grace: Duration) -> bool {
        self.stop.cancel();
        self.tracker.close();
        let done = tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_ok();
        if !done {
            tracing::warn!(
                remaining = self.tracker.len(),
                "background tasks still running after the shutdown grace period"
            );
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[tokio::test]
    async fn drain_stops_tasks_and_waits_for_them() {
        let bg = Background::new();
        let finished = Arc::new(AtomicBool::new(false));
        let (stop, flag) = (bg.stop_token(), finished.clone());
        bg.spawn("test", async move {
            stop.cancelled().await;
            tokio::time::sleep(Duration::from_millis(20)).await;
            flag.store(true, Ordering::SeqCst);
        });
        assert!(bg.drain(Duration::from_secs(5)).await);
        assert!(
            finished.load(Ordering::SeqCst),
            "drained after the task finished"
        );
    }
}
