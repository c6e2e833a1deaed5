//! Password hashing (Argon2id, RFC 9106, the argon2 crate's defaults: 19 MiB, 2 passes),
//! bounded in CPU and memory: `concurrency` worker threads, each with one Argon2 memory
//! buffer it keeps and reuses (so the hashing memory is `concurrency × 19 MiB`, whatever
//! the load and however the allocator treats freed blocks); at most `queue` more jobs wait
//! for a worker, and beyond that the caller is told the server is busy (HTTP 503 with
//! `Retry-After`). A job counts until a worker is done with it, even when its caller gave
//! up, and a worker skips jobs nobody waits for. Today the admin API hashes; the login
//! pages will verify here without a token, so the bound is the point.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use sichat_core::Secret;
use tokio::sync::oneshot;

/// Why a password could not be hashed or checked.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password must be 8 to 1024 characters")]
    Invalid,
    /// Every worker and queue place is taken.
    #[error("too many password operations under way; retry in a moment")]
    Busy,
    #[error("password hashing failed: {0}")]
    Hash(String),
}

impl From<argon2::password_hash::Error> for PasswordError {
    fn from(e: argon2::password_hash::Error) -> Self {
        PasswordError::Hash(e.to_string())
    }
}

impl From<argon2::Error> for PasswordError {
    fn from(e: argon2::Error) -> Self {
        PasswordError::Hash(e.to_string())
    }
}

/// A stored hash asking for more memory than this many default-sized buffers is refused
/// (a tampered row must not make a worker allocate gigabytes).
const MAX_MEMORY_FACTOR: usize = 4;

enum Work {
    Hash(Secret<String>),
    Verify(Secret<String>, String),
}

enum Done {
    Hashed(String),
    Verified(bool),
}

struct Job {
    work: Work,
    reply: oneshot::Sender<Result<Done, PasswordError>>,
    /// Released when the worker is done with the job (not when the caller leaves).
    _admission: Admission,
}

/// The bounded hasher. One per process; its workers start with the first request.
pub struct PasswordHasher {
    workers: usize,
    queue: usize,
    /// Jobs admitted and not finished (running or waiting).
    admitted: Arc<AtomicUsize>,
    jobs: OnceLock<Mutex<mpsc::Sender<Job>>>,
}

/// Releases an admission when the job is done (or was never sent).
struct Admission(Arc<AtomicUsize>);

impl Drop for Admission {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Hashes with the caller's memory buffer (grown once to the parameters' size, then reused).
fn hash_into(blocks: &mut Vec<Block>, password: &[u8]) -> Result<String, PasswordError> {
    let params = Params::default();
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_buf)?;
    blocks.resize(params.block_count(), Block::default());
    let output = Output::init_with(
        params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN),
        |out| {
            argon
                .hash_password_into_with_memory(password, salt_bytes, out, &mut blocks[..])
                .map_err(argon2::password_hash::Error::from)
        },
    )?;
    Ok(PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params)?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    }
    .to_string())
}

/// Recomputes a stored PHC hash with the caller's memory buffer and compares (in constant
/// time, `Output`'s equality).
fn verify_into(
    blocks: &mut Vec<Block>,
    presented: &[u8],
    phc: &str,
) -> Result<bool, PasswordError> {
    let parsed = PasswordHash::new(phc)?;
    let expected = parsed
        .hash
        .ok_or_else(|| PasswordError::Hash("stored hash has no output".into()))?;
    let params = Params::try_from(&parsed)?;
    if params.block_count() > Params::default().block_count() * MAX_MEMORY_FACTOR {
        return Err(PasswordError::Hash(
            "stored hash asks for more memory than allowed".into(),
        ));
    }
    let algorithm = Algorithm::try_from(parsed.algorithm)?;
    let version = parsed
        .version
        .map(Version::try_from)
        .transpose()?
        .unwrap_or_default();
    let salt = parsed
        .salt
        .ok_or_else(|| PasswordError::Hash("stored hash has no salt".into()))?;
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_buf)?;
    let argon = Argon2::new(algorithm, version, params.clone());
    blocks.resize(params.block_count(), Block::default());
    let computed = Output::init_with(expected.len(), |out| {
        argon
            .hash_password_into_with_memory(presented, salt_bytes, out, &mut blocks[..])
            .map_err(argon2::password_hash::Error::from)
    })?;
    Ok(computed == expected)
}

/// One worker: takes jobs until the hasher is dropped, with its own memory buffer.
fn worker(jobs: Arc<Mutex<mpsc::Receiver<Job>>>) {
    let mut blocks: Vec<Block> = Vec::new();
    loop {
        let next = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(job) = next else {
            return;
        };
        let Job {
            work,
            reply,
            _admission: admission,
        } = job;
        if reply.is_closed() {
            continue; // the caller is gone: no work for nobody
        }
        let result = match work {
            Work::Hash(password) => {
                hash_into(&mut blocks, password.expose().as_bytes()).map(Done::Hashed)
            }
            Work::Verify(presented, phc) => {
                let verified = verify_into(&mut blocks, presented.expose().as_bytes(), &phc);
                // A stored hash with more memory than ours: give the extra back.
                let usual = Params::default().block_count();
                if blocks.len() > usual {
                    blocks.truncate(usual);
                    blocks.shrink_to_fit();
                }
                verified.map(Done::Verified)
            }
        };
        // The place is free once the work is done, before the caller hears of it.
        drop(admission);
        let _ = reply.send(result);
    }
}

impl PasswordHasher {
    /// `concurrency` workers (0: one per CPU core), `queue` more requests waiting.
    pub fn new(concurrency: usize, queue: usize) -> Self {
        let workers = if concurrency == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            concurrency
        };
        Self {
            workers,
            queue,
            admitted: Arc::new(AtomicUsize::new(0)),
            jobs: OnceLock::new(),
        }
    }

    fn sender(&self) -> Result<mpsc::Sender<Job>, PasswordError> {
        let jobs = self.jobs.get_or_init(|| {
            let (tx, rx) = mpsc::channel();
            let rx = Arc::new(Mutex::new(rx));
            for i in 0..self.workers {
                let rx = rx.clone();
                let spawned = std::thread::Builder::new()
                    .name(format!("password-{i}"))
                    .spawn(move || worker(rx));
                if let Err(e) = spawned {
                    tracing::error!(error = %e, "cannot start a password worker");
                }
            }
            Mutex::new(tx)
        });
        jobs.lock()
            .map(|tx| tx.clone())
            .map_err(|_| PasswordError::Hash("password workers unavailable".into()))
    }

    async fn run(&self, work: Work) -> Result<Done, PasswordError> {
        if self.admitted.fetch_add(1, Ordering::AcqRel) >= self.workers + self.queue {
            self.admitted.fetch_sub(1, Ordering::AcqRel);
            return Err(PasswordError::Busy);
        }
        let admission = Admission(self.admitted.clone());
        let (reply, answer) = oneshot::channel();
        self.sender()?
            .send(Job {
                work,
                reply,
                _admission: admission,
            })
            .map_err(|_| PasswordError::Hash("password workers stopped".into()))?;
        answer
            .await
            .map_err(|_| PasswordError::Hash("password worker failed".into()))?
    }

    /// Hashes a new password (8–1024 characters) into a PHC string.
    pub async fn hash(&self, password: Secret<String>) -> Result<String, PasswordError> {
        if !(8..=1024).contains(&password.expose().chars().count()) {
            return Err(PasswordError::Invalid);
        }
        match self.run(Work::Hash(password)).await? {
            Done::Hashed(phc) => Ok(phc),
            Done::Verified(_) => Err(PasswordError::Hash("unexpected answer".into())),
        }
    }

    /// Checks a presented password against a stored PHC string. Over-long input is
    /// refused before any hashing.
    pub async fn verify(
        &self,
        presented: Secret<String>,
        phc: &str,
    ) -> Result<bool, PasswordError> {
        if presented.expose().chars().count() > 1024 {
            return Ok(false);
        }
        match self.run(Work::Verify(presented, phc.to_owned())).await? {
            Done::Verified(ok) => Ok(ok),
            Done::Hashed(_) => Err(PasswordError::Hash("unexpected answer".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::PasswordVerifier;

    #[tokio::test]
    async fn hashes_verify_and_bad_passwords_are_refused() {
        let hasher = PasswordHasher::new(1, 1);
        let phc = hasher
            .hash(Secret::new("correct horse".into()))
            .await
            .unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        // The standard verifier accepts what the reused-buffer path produced.
        let parsed = PasswordHash::new(&phc).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
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
        // And hashes made by the standard hasher verify here.
        let standard = {
            use argon2::password_hash::PasswordHasher as _;
            let salt = SaltString::generate(&mut rand::rngs::OsRng);
            Argon2::default()
                .hash_password(b"other words", &salt)
                .unwrap()
                .to_string()
        };
        assert!(
            hasher
                .verify(Secret::new("other words".into()), &standard)
                .await
                .unwrap()
        );
        assert!(matches!(
            hasher.hash(Secret::new("short".into())).await,
            Err(PasswordError::Invalid)
        ));
        assert!(
            hasher
                .verify(Secret::new("x".into()), "not a phc")
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn stored_hashes_asking_for_huge_memory_are_refused() {
        let hasher = PasswordHasher::new(1, 1);
        let greedy = "$argon2id$v=19$m=4000000,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";
        assert!(matches!(
            hasher.verify(Secret::new("whatever".into()), greedy).await,
            Err(PasswordError::Hash(_))
        ));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn beyond_the_workers_and_the_queue_callers_are_told_busy() {
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
        assert_eq!(ok + busy, 12);
        assert_eq!(
            hasher.admitted.load(Ordering::SeqCst),
            0,
            "admissions released"
        );
    }

    /// Callers that give up (a client disconnecting) do not free their place until a worker
    /// is done with their job: cancelling cannot queue unbounded work.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cancelled_callers_keep_their_place_until_the_worker_is_done() {
        let hasher = Arc::new(PasswordHasher::new(1, 1));
        for _ in 0..2 {
            let h = hasher.clone();
            let task =
                tokio::spawn(async move { h.hash(Secret::new("a long password".into())).await });
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            task.abort();
        }
        // The worker is still on the first abandoned job (a hash takes well over 20 ms)
        // and the second waits behind it: both places are held, so a new caller is
        // refused rather than queued behind work nobody waits for.
        assert_eq!(hasher.admitted.load(Ordering::SeqCst), 2);
        let third = hasher.hash(Secret::new("a long password".into())).await;
        assert!(matches!(third, Err(PasswordError::Busy)), "{third:?}");
        for _ in 0..400 {
            if hasher.admitted.load(Ordering::SeqCst) == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(
            hasher.admitted.load(Ordering::SeqCst),
            0,
            "released once the worker got to them"
        );
        assert!(
            hasher
                .hash(Secret::new("a long password".into()))
                .await
                .is_ok()
        );
    }
}
