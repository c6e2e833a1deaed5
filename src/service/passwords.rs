//! Password hashing (Argon2id, RFC 9106, the argon2 crate's defaults: 19 MiB, 2 passes),
//! bounded: at most `concurrency` hashes run at once on the blocking pool (each holds its
//! 19 MiB), at most `queue` more wait for a turn, and beyond that the caller is told the
//! server is busy (HTTP 503 with `Retry-After`) instead of the server growing without
//! bound. The login pages make this reachable without a token, so the bound is the point.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use sichat_core::Secret;
use tokio::sync::Semaphore;

/// Why a password could not be hashed or checked.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password must be 8 to 1024 characters")]
    Invalid,
    /// Every hashing slot and queue place is taken.
    #[error("too many password operations under way; retry in a moment")]
    Busy,
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// The bounded hasher. One per process.
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    queue: usize,
}

/// Undoes a queue reservation when the waiter leaves (with a permit, or cancelled).
struct QueueSlot<'a>(&'a AtomicUsize);

impl Drop for QueueSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl PasswordHasher {
    /// `concurrency` hashes at once (0: one per CPU core), `queue` more waiting.
    pub fn new(concurrency: usize, queue: usize) -> Self {
        let concurrency = if concurrency == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            concurrency
        };
        Self {
            permits: Arc::new(Semaphore::new(concurrency)),
            waiting: AtomicUsize::new(0),
            queue,
        }
    }

    /// Runs `work` on the blocking pool once a hashing slot is free.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, PasswordError> + Send + 'static,
    ) -> Result<T, PasswordError> {
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.queue {
                    self.waiting.fetch_sub(1, Ordering::AcqRel);
                    return Err(PasswordError::Busy);
                }
                let _slot = QueueSlot(&self.waiting);
                self.permits
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| PasswordError::Busy)?
            }
        };
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(|e| PasswordError::Hash(e.to_string()))?
    }

    /// Hashes a new password (8–1024 characters) into a PHC string.
    pub async fn hash(&self, password: Secret<String>) -> Result<String, PasswordError> {
        if !(8..=1024).contains(&password.expose().chars().count()) {
            return Err(PasswordError::Invalid);
        }
        self.run(move || {
            let salt = SaltString::generate(&mut rand::rngs::OsRng);
            argon2::Argon2::default()
                .hash_password(password.expose().as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| PasswordError::Hash(e.to_string()))
        })
        .await
    }

    /// Checks a presented password against a stored PHC string (constant time inside
    /// argon2). Over-long input is refused before any hashing.
    pub async fn verify(
        &self,
        presented: Secret<String>,
        phc: &str,
    ) -> Result<bool, PasswordError> {
        if presented.expose().chars().count() > 1024 {
            return Ok(false);
        }
        let phc = phc.to_owned();
        self.run(move || {
            let parsed = PasswordHash::new(&phc).map_err(|e| PasswordError::Hash(e.to_string()))?;
            Ok(argon2::Argon2::default()
                .verify_password(presented.expose().as_bytes(), &parsed)
                .is_ok())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_bad_passwords_are_refused() {
        let hasher = PasswordHasher::new(1, 1);
        let phc = hasher
            .hash(Secret::new("correct horse".into()))
            .await
            .unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(
            hasher
                .verify(Secret::new("correct horse".into()), &phc)
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify(Secret::new("wrong horse!".into()), &phc)
                .await
                .unwrap()
        );
        assert!(matches!(
            hasher.hash(Secret::new("short".into())).await,
            Err(PasswordError::Invalid)
        ));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn beyond_the_slots_and_the_queue_callers_are_told_busy() {
        let hasher = Arc::new(PasswordHasher::new(1, 2));
        let tasks: Vec<_> = (0..12)
            .map(|_| {
                let h = hasher.clone();
                tokio::spawn(async move { h.hash(Secret::new("a long password".into())).await })
            })
            .collect();
        let mut ok = 0;
        let mut busy = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => ok += 1,
                Err(PasswordError::Busy) => busy += 1,
                Err(e) => panic!("{e}"),
            }
        }
        assert!(ok >= 1 && busy >= 1, "ok {ok}, busy {busy}");
        assert!(ok <= 12 - busy);
        assert_eq!(
            hasher.waiting.load(Ordering::SeqCst),
            0,
            "queue slots released"
        );
    }
}
