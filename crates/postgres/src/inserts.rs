//! Group commit of new uploads: concurrent creates are written by one multi-row `INSERT` in one
//! transaction, and each caller is answered after that commit.
//!
//! A create is one row and one commit; under load the commit (the WAL record, the flush, the
//! round trip) costs PostgreSQL more than the row. One writer task collects the rows waiting
//! while earlier groups commit — at most [`MAX_GROUP`] per statement, at most [`FLUSHERS`]
//! statements in flight — so a burst of creates costs a few commits instead of one each. Nothing
//! is answered before its commit: durability is the same as one transaction per create. With a
//! single waiting row the group is that row alone, so an idle server answers as fast as before.
//!
//! A group whose statement fails (a bucket deleted meanwhile, an outage) is retried row by row,
//! so each create gets its own answer and one bad row never fails its neighbours.

use crate::cached::Cached;
use crate::error::from_diesel;
use crate::models::UploadRow;
use crate::pool::PgRepository;
use crate::schema::uploads;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::sync::{Arc, Mutex, PoisonError};
use stowage_domain::error::RepoError;
use stowage_domain::ports::InsertUpload;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// The most rows one group's `INSERT` holds.
const MAX_GROUP: usize = 64;
/// Groups committing at once (each on its own pooled connection). A create waits for a free
/// flusher and then for its group's commit; with two, 16 clients spent half their time waiting
/// for a flusher (`cargo xtask bench create`: 0.54–0.61 of the ceiling with 2, 0.72–0.82 with 4,
/// 0.65 with 8 — more groups of fewer rows each).
const FLUSHERS: usize = 4;

/// One create waiting for its group.
struct Pending {
    row: UploadRow,
    answer: oneshot::Sender<Result<InsertUpload, RepoError>>,
}

/// The channel to the writer task, started on first use (in the runtime of that use) and again
/// if that runtime has gone.
#[derive(Default, Clone)]
pub(crate) struct UploadInserts {
    sender: Arc<Mutex<Option<mpsc::UnboundedSender<Pending>>>>,
}

impl UploadInserts {
    /// Inserts `row` in the next group; answers once that group has committed.
    pub(crate) async fn insert(&self, repo: &PgRepository, row: UploadRow) -> Result<InsertUpload, RepoError> {
        let (answer, answered) = oneshot::channel();
        let mut pending = Pending { row, answer };
        for _ in 0..2 {
            let sender = self.sender(repo);
            match sender.send(pending) {
                Ok(()) => {
                    return answered.await.unwrap_or_else(|_| {
                        Err(RepoError::Unavailable(
                            "the upload's insert was interrupted; its outcome is unknown".into(),
                        ))
                    });
                }
                // The writer's runtime is gone: start another in this one.
                Err(mpsc::error::SendError(back)) => {
                    pending = back;
                    self.sender.lock().unwrap_or_else(PoisonError::into_inner).take();
                }
            }
        }
        Err(RepoError::Unexpected("the upload writer cannot be started".into()))
    }

    fn sender(&self, repo: &PgRepository) -> mpsc::UnboundedSender<Pending> {
        let mut slot = self.sender.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(sender) = slot.as_ref().filter(|s| !s.is_closed()) {
            return sender.clone();
        }
        let (sender, receiver) = mpsc::unbounded_channel();
        // The writer's repository does not hold this channel, so the writer ends with the last
        // clone of the repository that does.
        let writer = PgRepository { inserts: Self::default(), ..repo.clone() };
        tokio::spawn(write_loop(writer, receiver));
        *slot = Some(sender.clone());
        sender
    }
}

/// Takes the rows waiting once a flusher is free, and commits them as one group.
async fn write_loop(repo: PgRepository, mut receiver: mpsc::UnboundedReceiver<Pending>) {
    let flushers = Arc::new(Semaphore::new(FLUSHERS));
    loop {
        let Ok(permit) = Arc::clone(&flushers).acquire_owned().await else { return };
        let Some(first) = receiver.recv().await else { return };
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match receiver.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        let repo = repo.clone();
        tokio::spawn(async move {
            flush(&repo, group).await;
            drop(permit);
        });
    }
}

/// Commits one group and answers each of its callers.
async fn flush(repo: &PgRepository, group: Vec<Pending>) {
    metrics::histogram!("stowage_pg_insert_group_size").record(group.len() as f64);
    let outcome = match repo.conn().await {
        Ok(mut conn) => insert_group(&mut conn, &group).await.map(|answers| (answers, conn)),
        Err(e) => Err(e),
    };
    match outcome {
        Ok((answers, _conn)) => {
            for (pending, answer) in group.into_iter().zip(answers) {
                let _gone = pending.answer.send(Ok(answer));
            }
        }
        Err(e) if group.len() == 1 => {
            for pending in group {
                let _gone = pending.answer.send(Err(e.clone()));
            }
        }
        // Row by row, so each create gets its own answer.
        Err(_) => {
            for pending in group {
                let answer = match repo.conn().await {
                    Ok(mut conn) => {
                        insert_group(&mut conn, std::slice::from_ref(&pending)).await.and_then(|mut answers| {
                            answers.pop().ok_or_else(|| RepoError::Unexpected("a group of one had no answer".into()))
                        })
                    }
                    Err(e) => Err(e),
                };
                let _gone = pending.answer.send(answer);
            }
        }
    }
}

/// One statement for the whole group; rows whose idempotency key is already used in their bucket
/// are skipped by it and answered with the upload holding the key.
async fn insert_group(conn: &mut AsyncPgConnection, group: &[Pending]) -> Result<Vec<InsertUpload>, RepoError> {
    let rows: Vec<&UploadRow> = group.iter().map(|p| &p.row).collect();
    // One prepared statement per group size (at most MAX_GROUP per connection).
    let insert = diesel::insert_into(uploads::table)
        .values(rows)
        .on_conflict((uploads::bucket_id, uploads::idempotency_key))
        .do_nothing()
        .returning(uploads::id);
    let inserted: Vec<String> = Cached(insert).get_results(conn).await.map_err(from_diesel)?;
    let mut answers = Vec::with_capacity(group.len());
    for pending in group {
        let row = &pending.row;
        if inserted.contains(&row.id) {
            answers.push(InsertUpload::Inserted);
            continue;
        }
        let Some(key) = &row.idempotency_key else {
            return Err(RepoError::Unexpected(format!("upload {} was neither inserted nor a replay", row.id)));
        };
        let existing = uploads::table
            .filter(uploads::bucket_id.eq(&row.bucket_id))
            .filter(uploads::idempotency_key.eq(key))
            .select(UploadRow::as_select())
            .first(conn)
            .await
            .map_err(from_diesel)?;
        answers.push(InsertUpload::Existing(existing.try_into()?));
    }
    Ok(answers)
}
