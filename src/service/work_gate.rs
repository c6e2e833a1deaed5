//! The bound on CPU-heavy request work (Data Integrity, JWS signatures, RSA): how much
//! runs at once, where it runs, and how much may wait. One gate serves every service.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::error::ApiError;

/// The longest one operation may hold its place (what it waits for is mostly retrieving
/// status lists from slow hosts, each fetch capped at a few seconds).
const WORK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// Bounds the CPU that requests cost (credential work, RSA signatures): `concurrency` operations run at once,
/// `queue` more wait; beyond them, 503. An operation runs on the async worker that took
/// the request while fewer than all but one of the workers are doing so (a thread
/// hand-off costs more than a `vc+jwt` operation); otherwise on a blocking thread, so
/// that one worker is always free for every other endpoint.
pub struct WorkGate {
    running: Arc<Semaphore>,
    admitted: Arc<Semaphore>,
    inline: Arc<Semaphore>,
}

impl WorkGate {
    /// `concurrency` 0: one per CPU core.
    pub fn new(concurrency: usize, queue: usize) -> Self {
        let concurrency = if concurrency == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            concurrency
        };
        let workers = tokio::runtime::Handle::try_current()
            .map_or(1, |runtime| runtime.metrics().num_workers());
        Self {
            running: Arc::new(Semaphore::new(concurrency)),
            admitted: Arc::new(Semaphore::new(concurrency + queue)),
            inline: Arc::new(Semaphore::new(workers.saturating_sub(1))),
        }
    }

    /// Runs `work` once a place is free. On a blocking thread a place is held until the
    /// work is done, even if the caller has gone; inline, the work ends with the caller.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, ApiError> {
        self.run_where(work, false).await
    }

    /// Runs `work` that costs little CPU (a JWS signed or checked, no JSON-LD) once a place
    /// is free, always on the worker that took the request: it holds that worker no
    /// longer than a thread hand-off would cost.
    pub async fn run_light<T: Send + 'static>(
        &self,
        work: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, ApiError> {
        self.run_where(work, true).await
    }

    async fn run_where<T: Send + 'static>(
        &self,
        work: impl Future<Output = T> + Send + 'static,
        light: bool,
    ) -> Result<T, ApiError> {
        let admitted = self.admitted.clone().try_acquire_owned().map_err(|_| {
            ApiError::busy("too many credential operations are under way; retry shortly")
        })?;
        let running = self
            .running
            .clone()
            .acquire_owned()
            .await
            .map_err(ApiError::internal)?;
        let inline = if light {
            None
        } else {
            self.inline.try_acquire().ok()
        };
        let finished = if light || inline.is_some() {
            let _places = (admitted, running, inline);
            tokio::time::timeout(WORK_TIMEOUT, work).await
        } else {
            let runtime = tokio::runtime::Handle::current();
            tokio::task::spawn_blocking(move || {
                let _places = (admitted, running);
                runtime.block_on(tokio::time::timeout(WORK_TIMEOUT, work))
            })
            .await
            .map_err(ApiError::internal)?
        };
        finished.map_err(|_| {
            ApiError::busy(format!(
                "the operation took longer than {} s (slow status list hosts?); retry later",
                WORK_TIMEOUT.as_secs()
            ))
        })
    }
}
