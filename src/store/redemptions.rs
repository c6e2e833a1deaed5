//! Group commit for authorization-code redemptions. A redemption must be durable before
//! its tokens are answered (a code must never be redeemable twice, even after a crash),
//! and on SQLite with `synchronous=FULL` the commit's fsync costs more CPU than all the
//! rest of a token request. So one writer task takes the redemptions waiting at that
//! moment (up to [`MAX_BATCH`]), runs each one's conditional `UPDATE … RETURNING` in one
//! write transaction and commits once: one fsync for the batch. If any statement fails,
//! nothing of the batch stands and each redemption runs again alone, so one bad request
//! cannot make others' redemptions vanish.

use sea_orm::DatabaseConnection;
use sichat_core::store::StoreError;
use tokio::sync::{mpsc, oneshot};

use super::oidc_grants::{self, Bindings, Redemption};
use super::{begin_write, map_err};

/// Redemptions one commit serves at most.
const MAX_BATCH: usize = 64;
/// Redemptions waiting for the writer at most; beyond, callers wait for room.
const QUEUE: usize = 1024;

struct Job {
    code_sha256: String,
    client_id: String,
    redirect_uri: String,
    challenge: String,
    now: i64,
    reply: oneshot::Sender<Result<Redemption, StoreError>>,
}

impl Job {
    fn bindings(&self) -> Bindings<'_> {
        Bindings {
            code_sha256: &self.code_sha256,
            client_id: &self.client_id,
            redirect_uri: &self.redirect_uri,
            challenge: &self.challenge,
        }
    }
}

/// The handle callers redeem through.
#[derive(Clone)]
pub struct Redemptions {
    jobs: mpsc::Sender<Job>,
}

impl Redemptions {
    /// Starts the writer task (on the current tokio runtime); it ends with the last handle.
    pub fn start(db: DatabaseConnection) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(db, queue));
        Self { jobs }
    }

    /// Redeems a code at `now` (ms), committed before this returns.
    pub async fn redeem(&self, b: Bindings<'_>, now: i64) -> Result<Redemption, StoreError> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            code_sha256: b.code_sha256.to_owned(),
            client_id: b.client_id.to_owned(),
            redirect_uri: b.redirect_uri.to_owned(),
            challenge: b.challenge.to_owned(),
            now,
            reply,
        };
        let gone = || StoreError::Backend("the redemption writer has stopped".into());
        self.jobs.send(job).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

async fn write_batches(db: DatabaseConnection, mut queue: mpsc::Receiver<Job>) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let results = redeem_batch(&db, &batch).await;
        for (job, result) in batch.into_iter().zip(results) {
            // A caller that has gone needs no answer; the redemption stands all the same.
            let _ = job.reply.send(result);
        }
    }
}

async fn redeem_batch(
    db: &DatabaseConnection,
    batch: &[Job],
) -> Vec<Result<Redemption, StoreError>> {
    match redeem_together(db, batch).await {
        Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
        // One statement failed (on PostgreSQL that aborts the whole transaction, and its
        // COMMIT would silently roll back): nothing of the batch stands, so each
        // redemption runs again in a transaction of its own, and only the failing one fails.
        Err(_) => {
            let mut results = Vec::with_capacity(batch.len());
            for job in batch {
                let one = redeem_together(db, std::slice::from_ref(job))
                    .await
                    .and_then(|mut outcome| {
                        outcome
                            .pop()
                            .ok_or_else(|| StoreError::Backend("no outcome".into()))
                    });
                results.push(one);
            }
            results
        }
    }
}

/// Runs `batch` in one write transaction: every outcome when every statement and the
/// commit succeeded, else the first error (the transaction is then rolled back).
async fn redeem_together(
    db: &DatabaseConnection,
    batch: &[Job],
) -> Result<Vec<Redemption>, StoreError> {
    let txn = begin_write(db).await.map_err(map_err)?;
    let mut outcomes = Vec::with_capacity(batch.len());
    for job in batch {
        outcomes.push(oidc_grants::redeem(&txn, job.bindings(), job.now).await?);
    }
    txn.commit().await.map_err(map_err)?;
    Ok(outcomes)
}
