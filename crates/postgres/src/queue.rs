//! `TaskQueue` and `TaskReads` on PostgreSQL. A claim is one `UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP
//! LOCKED LIMIT 1)`: concurrent workers skip each other's rows instead of waiting, and the partial
//! indexes on PENDING and IN_PROGRESS rows keep it O(log n). Expired leases are re-delivered
//! before new work. A trigger NOTIFYs `stowage_task_changed` on every update; one listener
//! connection per repository fans those out to long polls.

use crate::error::{from_diesel, skipped};
use crate::models::TaskRow;
use crate::pool::PgRepository;
use crate::schema::tasks;
use crate::uploads::insert_task;
use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sql_types::{Double, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures_util::StreamExt;
use std::time::Duration;
use stowage_domain::error::RepoError;
use stowage_domain::error::decodable;
use stowage_domain::ids::TaskId;
use stowage_domain::ports::{QueueStats, TaskQueue, TaskReads};
use stowage_domain::status::TaskStatus;
use stowage_domain::task::{Lane, NewTask, RetryPolicy, Task, TaskFailure, TaskType, UNDECODABLE_TASK};
use time::OffsetDateTime;
use tokio::sync::broadcast;

const IN_PROGRESS: &str = "IN_PROGRESS";
const PENDING: &str = "PENDING";
/// The channel the tasks trigger notifies.
const CHANNEL: &str = "stowage_task_changed";
/// How often a long poll re-reads even without a notification (a dropped listener connection
/// must not leave a client waiting for the whole timeout).
const POLL_FALLBACK: Duration = Duration::from_secs(1);

/// Claims the task `NEXT` selects (in which `LANE` is replaced by the lane's condition).
const CLAIM: &str = "UPDATE tasks SET status = 'IN_PROGRESS', attempts = attempts + 1, lease_owner = $1, \
     lease_expires_at = now() + make_interval(secs => $2), updated_at = now() \
     WHERE id = (NEXT) RETURNING *";

const NEXT_EXPIRED: &str = "SELECT id FROM tasks WHERE status = 'IN_PROGRESS' AND lease_expires_at < now() AND LANE \
     ORDER BY lease_expires_at LIMIT 1 FOR UPDATE SKIP LOCKED";

const NEXT_PENDING: &str = "SELECT id FROM tasks WHERE status = 'PENDING' AND run_after <= now() AND LANE \
     ORDER BY run_after, created_at LIMIT 1 FOR UPDATE SKIP LOCKED";

/// The claim statement for the next task `next` selects in `lane`.
fn claim_sql(next: &str, lane: Lane) -> String {
    CLAIM.replace("NEXT", &next.replace("LANE", lane.sql_condition()))
}

async fn claim_with(
    conn: &mut AsyncPgConnection,
    sql: &str,
    worker: &str,
    lease: Duration,
) -> Result<Option<TaskRow>, RepoError> {
    diesel::sql_query(sql)
        .bind::<Text, _>(worker)
        .bind::<Double, _>(lease.as_secs_f64())
        .get_result::<TaskRow>(conn)
        .await
        .optional()
        .map_err(from_diesel)
}

/// The task `id`, only while `worker` holds its lease.
macro_rules! owned_by {
    ($id:expr, $worker:expr) => {
        tasks::table
            .filter(tasks::id.eq($id.as_str()))
            .filter(tasks::lease_owner.eq($worker))
            .filter(tasks::status.eq(IN_PROGRESS))
    };
}

async fn load(conn: &mut AsyncPgConnection, id: &TaskId) -> Result<Option<Task>, RepoError> {
    let row = tasks::table
        .find(id.as_str())
        .select(TaskRow::as_select())
        .first(conn)
        .await
        .optional()
        .map_err(from_diesel)?;
    row.map(Task::try_from).transpose()
}

impl PgRepository {
    /// A receiver of task-change notifications, starting the shared listener on first use.
    fn task_changes(&self) -> broadcast::Receiver<String> {
        let sender = self.listener.get_or_init(|| {
            let (tx, _) = broadcast::channel(1024);
            tokio::spawn(listen(self.clone(), tx.clone()));
            tx
        });
        sender.subscribe()
    }
}

/// Holds one dedicated connection on `LISTEN` and forwards notifications; reconnects with a
/// pause after any failure, and ends when nobody can subscribe any more.
async fn listen(repo: PgRepository, tx: broadcast::Sender<String>) {
    loop {
        match repo.dedicated().await {
            Ok(mut conn) => {
                if diesel::sql_query(format!("LISTEN {CHANNEL}")).execute(&mut conn).await.is_ok() {
                    let mut stream = std::pin::pin!(conn.notifications_stream());
                    while let Some(Ok(n)) = stream.next().await {
                        if tx.send(n.payload).is_err() && tx.receiver_count() == 0 {
                            continue;
                        }
                    }
                }
                tracing::warn!("task notification listener lost its connection; reconnecting");
            }
            Err(e) => tracing::warn!(error = %e, "task notification listener cannot connect"),
        }
        tokio::time::sleep(POLL_FALLBACK).await;
    }
}

#[async_trait]
impl TaskQueue for PgRepository {
    async fn enqueue(&self, task: &NewTask) -> Result<Task, RepoError> {
        let mut conn = self.conn().await?;
        insert_task(&conn, task, OffsetDateTime::now_utc()).await.map_err(from_diesel)?;
        load(&mut conn, &task.id).await?.ok_or_else(|| RepoError::Unexpected("enqueued task vanished".into()))
    }

    async fn claim_in(&self, worker: &str, lease: Duration, lane: Lane) -> Result<Option<Task>, RepoError> {
        let mut conn = self.conn().await?;
        loop {
            let row = match claim_with(&mut conn, &claim_sql(NEXT_EXPIRED, lane), worker, lease).await? {
                Some(row) => row,
                None => match claim_with(&mut conn, &claim_sql(NEXT_PENDING, lane), worker, lease).await? {
                    Some(row) => row,
                    None => return Ok(None),
                },
            };
            let id = row.id.clone();
            match Task::try_from(row) {
                Ok(task) => return Ok(Some(task)),
                // A task the worker cannot read is failed where it lies, so it is never claimed
                // again, and the next one is claimed instead.
                Err(e) => {
                    skipped("tasks", &e);
                    diesel::update(tasks::table.find(&id))
                        .set((
                            tasks::status.eq(TaskStatus::Failed.as_str()),
                            tasks::error_code.eq(UNDECODABLE_TASK),
                            tasks::lease_owner.eq(None::<String>),
                        ))
                        .execute(&mut conn)
                        .await
                        .map_err(from_diesel)?;
                }
            }
        }
    }

    async fn heartbeat(&self, id: &TaskId, worker: &str, lease: Duration) -> Result<bool, RepoError> {
        let mut conn = self.conn().await?;
        let updated = diesel::sql_query(
            "UPDATE tasks SET lease_expires_at = now() + make_interval(secs => $3) \
             WHERE id = $1 AND lease_owner = $2 AND status = 'IN_PROGRESS'",
        )
        .bind::<Text, _>(id.as_str())
        .bind::<Text, _>(worker)
        .bind::<Double, _>(lease.as_secs_f64())
        .execute(&mut conn)
        .await
        .map_err(from_diesel)?;
        Ok(updated == 1)
    }

    async fn complete(
        &self,
        id: &TaskId,
        worker: &str,
        status: TaskStatus,
        outputs: &serde_json::Value,
        additional_data: Option<serde_json::Value>,
    ) -> Result<bool, RepoError> {
        let mut conn = self.conn().await?;
        let updated = diesel::update(owned_by!(id, worker))
            .set((
                tasks::status.eq(status.as_str()),
                tasks::outputs.eq(Some(outputs)),
                tasks::additional_data.eq(additional_data),
                tasks::error_code.eq(None::<String>),
                tasks::error_message.eq(None::<String>),
                tasks::lease_owner.eq(None::<String>),
                tasks::lease_expires_at.eq(None::<OffsetDateTime>),
                tasks::updated_at.eq(diesel::dsl::now),
            ))
            .execute(&mut conn)
            .await
            .map_err(from_diesel)?;
        Ok(updated == 1)
    }

    async fn fail(
        &self,
        id: &TaskId,
        worker: &str,
        failure: &TaskFailure,
        retry: bool,
        policy: &RetryPolicy,
    ) -> Result<Option<TaskStatus>, RepoError> {
        let mut conn = self.conn().await?;
        conn.transaction::<_, diesel::result::Error, _>(async |conn| {
            let Some(row) = owned_by!(id, worker).for_update().select(TaskRow::as_select()).first(conn).await.optional()? else {
                return Ok(None);
            };
            let attempts = u32::try_from(row.attempts).unwrap_or(0);
            let policy = RetryPolicy { max_attempts: u32::try_from(row.max_attempts).unwrap_or(1), ..*policy };
            let (status, delay) = policy.after_failure(attempts, retry);
            diesel::sql_query(
                "UPDATE tasks SET status = $2, error_code = $3, error_message = $4, lease_owner = NULL, \
                 lease_expires_at = NULL, run_after = now() + make_interval(secs => $5), updated_at = now() WHERE id = $1",
            )
            .bind::<Text, _>(id.as_str())
            .bind::<Text, _>(status.as_str())
            .bind::<Text, _>(&failure.code)
            .bind::<Text, _>(&failure.message)
            .bind::<Double, _>(delay.as_secs_f64())
            .execute(conn)
            .await?;
            Ok(Some(status))
        })
        .await
        .map_err(from_diesel)
    }

    async fn stats(&self) -> Result<QueueStats, RepoError> {
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            due: i64,
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            in_progress: i64,
            #[diesel(sql_type = Double)]
            oldest: f64,
        }
        let mut conn = self.conn().await?;
        let row: Row = diesel::sql_query(
            "SELECT (SELECT count(*) FROM tasks WHERE status = 'PENDING' AND run_after <= now()) AS due, \
                    (SELECT count(*) FROM tasks WHERE status = 'IN_PROGRESS') AS in_progress, \
                    COALESCE((SELECT EXTRACT(EPOCH FROM now() - min(run_after))::float8 FROM tasks \
                              WHERE status = 'PENDING' AND run_after <= now()), 0) AS oldest",
        )
        .get_result(&mut conn)
        .await
        .map_err(from_diesel)?;
        Ok(QueueStats {
            due: u64::try_from(row.due).unwrap_or(0),
            in_progress: u64::try_from(row.in_progress).unwrap_or(0),
            oldest_due_age: Duration::from_secs_f64(row.oldest.max(0.0)),
        })
    }

    async fn release(&self, worker: &str) -> Result<u64, RepoError> {
        let mut conn = self.conn().await?;
        let released =
            diesel::update(tasks::table.filter(tasks::lease_owner.eq(worker)).filter(tasks::status.eq(IN_PROGRESS)))
                .set((
                    tasks::status.eq(PENDING),
                    tasks::attempts.eq(tasks::attempts - 1),
                    tasks::lease_owner.eq(None::<String>),
                    tasks::lease_expires_at.eq(None::<OffsetDateTime>),
                    tasks::run_after.eq(diesel::dsl::now),
                    tasks::updated_at.eq(diesel::dsl::now),
                ))
                .execute(&mut conn)
                .await
                .map_err(from_diesel)?;
        Ok(u64::try_from(released).unwrap_or(0))
    }
}

#[async_trait]
impl TaskReads for PgRepository {
    async fn get(&self, id: &TaskId) -> Result<Option<Task>, RepoError> {
        let mut conn = self.conn().await?;
        load(&mut conn, id).await
    }

    async fn cancel(&self, id: &TaskId) -> Result<Option<Task>, RepoError> {
        let mut conn = self.conn().await?;
        let terminal: Vec<&str> = TaskStatus::ALL.iter().filter(|s| s.is_terminal()).map(|s| s.as_str()).collect();
        diesel::update(tasks::table.filter(tasks::id.eq(id.as_str())).filter(tasks::status.ne_all(terminal)))
            .set((
                tasks::status.eq(TaskStatus::Canceled.as_str()),
                tasks::lease_owner.eq(None::<String>),
                tasks::lease_expires_at.eq(None::<OffsetDateTime>),
                tasks::updated_at.eq(diesel::dsl::now),
            ))
            .execute(&mut conn)
            .await
            .map_err(from_diesel)?;
        load(&mut conn, id).await
    }

    async fn wait_for_change(
        &self,
        id: &TaskId,
        seen: OffsetDateTime,
        timeout: Duration,
    ) -> Result<Option<Task>, RepoError> {
        let mut changes = self.task_changes();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let task = self.get(id).await?;
            let settled = task.as_ref().is_none_or(|t| t.updated_at > seen || t.status.is_terminal());
            if settled || tokio::time::Instant::now() >= deadline {
                return Ok(task);
            }
            let wake = tokio::time::Instant::now() + POLL_FALLBACK;
            let until = wake.min(deadline);
            loop {
                match tokio::time::timeout_at(until, changes.recv()).await {
                    Ok(Ok(changed)) if changed != id.as_str() => continue,
                    _ => break,
                }
            }
        }
    }

    async fn list(
        &self,
        namespace: &stowage_domain::ids::NamespaceId,
        status: Option<TaskStatus>,
        after: Option<TaskId>,
        limit: u32,
    ) -> Result<Vec<Task>, RepoError> {
        use diesel::dsl::sql;
        use diesel::sql_types::Bool;
        let mut conn = self.conn().await?;
        let mut q = tasks::table
            .filter(sql::<Bool>("tasks.inputs ->> 'namespace_id' = ").bind::<Text, _>(namespace.to_string()))
            .filter(tasks::task_type.ne(TaskType::WEBHOOK_DELIVERY))
            .select(TaskRow::as_select())
            .into_boxed();
        if let Some(status) = status {
            q = q.filter(tasks::status.eq(status.as_str()));
        }
        if let Some(after) = after {
            q = q.filter(
                sql::<Bool>("(tasks.created_at, tasks.id) < (SELECT created_at, id FROM tasks WHERE id = ")
                    .bind::<Text, _>(after.to_string())
                    .sql(")"),
            );
        }
        let rows = q
            .order((tasks::created_at.desc(), tasks::id.desc()))
            .limit(i64::from(limit.clamp(1, 100)))
            .load(&mut conn)
            .await
            .map_err(from_diesel)?;
        Ok(decodable("tasks", rows, Task::try_from, skipped))
    }
}
