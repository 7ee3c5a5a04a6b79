//! `TaskQueue` and `TaskReads` on SQLite. A claim is one immediate transaction — pick the oldest expired lease,
//! else the oldest due task, and lease it — so with the database's single write lock no two
//! workers (threads or processes) get the same task. Long polls re-read every 100 ms.

use crate::{Fail, SqliteRepository, corrupt, from_micros, micros, now_micros, skipped};
use async_trait::async_trait;
use diesel::sql_types::{BigInt, Integer, Nullable, Text};
use diesel::sqlite::SqliteConnection;
use diesel::{OptionalExtension, QueryableByName, RunQueryDsl};
use std::time::Duration;
use stowage_domain::error::RepoError;
use stowage_domain::error::decodable;
use stowage_domain::ids::{NamespaceId, TaskId};
use stowage_domain::ports::{QueueStats, TaskQueue, TaskReads};
use stowage_domain::status::TaskStatus;
use stowage_domain::task::{Lane, NewTask, RetryPolicy, Task, TaskFailure, TaskType, UNDECODABLE_TASK};
use time::OffsetDateTime;

/// How often a long poll re-reads the task.
const POLL: Duration = Duration::from_millis(100);

#[derive(QueryableByName)]
struct TaskRow {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    task_type: String,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Text)]
    inputs: String,
    #[diesel(sql_type = Nullable<Text>)]
    outputs: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    additional_data: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    error_code: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    error_message: Option<String>,
    #[diesel(sql_type = Integer)]
    attempts: i32,
    #[diesel(sql_type = Integer)]
    max_attempts: i32,
    #[diesel(sql_type = BigInt)]
    created_at: i64,
    #[diesel(sql_type = BigInt)]
    updated_at: i64,
}

fn value(what: &str, text: Option<String>) -> Result<Option<serde_json::Value>, RepoError> {
    text.map(|t| serde_json::from_str(&t).map_err(|e| corrupt(what, e))).transpose()
}

impl TryFrom<TaskRow> for Task {
    type Error = RepoError;
    fn try_from(r: TaskRow) -> Result<Self, RepoError> {
        Ok(Self {
            id: TaskId::parse(&r.id).map_err(|e| corrupt("task id", e))?,
            task_type: TaskType::new(&r.task_type),
            status: TaskStatus::parse(&r.status).ok_or_else(|| corrupt("task status", &r.status))?,
            inputs: value("task inputs", Some(r.inputs))?.unwrap_or_default(),
            outputs: value("task outputs", r.outputs)?,
            additional_data: value("task data", r.additional_data)?,
            error: r.error_code.map(|code| TaskFailure { code, message: r.error_message.unwrap_or_default() }),
            attempts: u32::try_from(r.attempts).unwrap_or(0),
            max_attempts: u32::try_from(r.max_attempts).unwrap_or(0),
            created_at: from_micros(r.created_at),
            updated_at: from_micros(r.updated_at),
        })
    }
}

const COLUMNS: &str = "id, task_type, status, inputs, outputs, additional_data, error_code, error_message, \
                       attempts, max_attempts, created_at, updated_at";

/// Writes a new PENDING task (inside the caller's transaction).
pub(crate) fn insert_task(conn: &mut SqliteConnection, task: &NewTask, now: OffsetDateTime) -> Result<(), Fail> {
    let at = micros(now);
    diesel::sql_query(
        "INSERT INTO tasks (id, task_type, status, namespace_id, inputs, max_attempts, run_after, created_at, updated_at) \
         VALUES (?, ?, 'PENDING', ?, ?, ?, ?, ?, ?)",
    )
    .bind::<Text, _>(task.id.as_str())
    .bind::<Text, _>(task.task_type.as_str())
    .bind::<Nullable<Text>, _>(task.inputs["namespace_id"].as_str().map(str::to_owned))
    .bind::<Text, _>(task.inputs.to_string())
    .bind::<Integer, _>(i32::try_from(task.max_attempts).unwrap_or(i32::MAX))
    .bind::<BigInt, _>(at)
    .bind::<BigInt, _>(at)
    .bind::<BigInt, _>(at)
    .execute(conn)?;
    Ok(())
}

pub(crate) fn load_task(conn: &mut SqliteConnection, id: &TaskId) -> Result<Option<Task>, Fail> {
    let row: Option<TaskRow> = diesel::sql_query(format!("SELECT {COLUMNS} FROM tasks WHERE id = ?"))
        .bind::<Text, _>(id.as_str())
        .get_result(conn)
        .optional()?;
    Ok(row.map(Task::try_from).transpose()?)
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = Text)]
    id: String,
}

fn lease_micros(lease: Duration) -> i64 {
    i64::try_from(lease.as_micros()).unwrap_or(i64::MAX)
}

#[async_trait]
impl TaskQueue for SqliteRepository {
    async fn enqueue(&self, task: &NewTask) -> Result<Task, RepoError> {
        let task = task.clone();
        self.tx(move |conn| {
            insert_task(conn, &task, OffsetDateTime::now_utc())?;
            load_task(conn, &task.id)?.ok_or_else(|| Fail(RepoError::Unexpected("enqueued task vanished".into())))
        })
        .await
    }

    async fn claim_in(&self, worker: &str, lease: Duration, lane: Lane) -> Result<Option<Task>, RepoError> {
        let worker = worker.to_owned();
        let lane = lane.sql_condition();
        self.tx(move |conn| {
            loop {
                let now = now_micros();
                let expired: Option<Id> = diesel::sql_query(format!(
                    "SELECT id FROM tasks WHERE status = 'IN_PROGRESS' AND lease_expires_at < ? AND {lane} \
                 ORDER BY lease_expires_at LIMIT 1"
                ))
                .bind::<BigInt, _>(now)
                .get_result(conn)
                .optional()?;
                let next = match expired {
                    Some(id) => Some(id),
                    None => diesel::sql_query(format!(
                        "SELECT id FROM tasks WHERE status = 'PENDING' AND run_after <= ? AND {lane} \
                     ORDER BY run_after, created_at LIMIT 1"
                    ))
                    .bind::<BigInt, _>(now)
                    .get_result(conn)
                    .optional()?,
                };
                let Some(next) = next else { return Ok(None) };
                diesel::sql_query(
                    "UPDATE tasks SET status = 'IN_PROGRESS', attempts = attempts + 1, lease_owner = ?, \
                 lease_expires_at = ?, updated_at = ? WHERE id = ?",
                )
                .bind::<Text, _>(&worker)
                .bind::<BigInt, _>(now.saturating_add(lease_micros(lease)))
                .bind::<BigInt, _>(now)
                .bind::<Text, _>(&next.id)
                .execute(conn)?;
                let row: TaskRow = diesel::sql_query(format!("SELECT {COLUMNS} FROM tasks WHERE id = ?"))
                    .bind::<Text, _>(&next.id)
                    .get_result(conn)?;
                match Task::try_from(row) {
                    Ok(task) => return Ok(Some(task)),
                    // A task the worker cannot read is failed where it lies, so it is never claimed
                    // again, and the next one is claimed instead.
                    Err(e) => {
                        skipped("tasks", &e);
                        diesel::sql_query(
                            "UPDATE tasks SET status = 'FAILED', error_code = ?, lease_owner = NULL WHERE id = ?",
                        )
                        .bind::<Text, _>(UNDECODABLE_TASK)
                        .bind::<Text, _>(&next.id)
                        .execute(conn)?;
                    }
                }
            }
        })
        .await
    }

    async fn heartbeat(&self, id: &TaskId, worker: &str, lease: Duration) -> Result<bool, RepoError> {
        let (id, worker) = (id.clone(), worker.to_owned());
        self.tx(move |conn| {
            let updated = diesel::sql_query(
                "UPDATE tasks SET lease_expires_at = ? WHERE id = ? AND lease_owner = ? AND status = 'IN_PROGRESS'",
            )
            .bind::<BigInt, _>(now_micros().saturating_add(lease_micros(lease)))
            .bind::<Text, _>(id.as_str())
            .bind::<Text, _>(&worker)
            .execute(conn)?;
            Ok(updated == 1)
        })
        .await
    }

    async fn complete(
        &self,
        id: &TaskId,
        worker: &str,
        status: TaskStatus,
        outputs: &serde_json::Value,
        additional_data: Option<serde_json::Value>,
    ) -> Result<bool, RepoError> {
        let (id, worker, outputs) = (id.clone(), worker.to_owned(), outputs.to_string());
        self.tx(move |conn| {
            let updated = diesel::sql_query(
                "UPDATE tasks SET status = ?, outputs = ?, additional_data = ?, error_code = NULL, error_message = NULL, \
                 lease_owner = NULL, lease_expires_at = NULL, updated_at = ? \
                 WHERE id = ? AND lease_owner = ? AND status = 'IN_PROGRESS'",
            )
            .bind::<Text, _>(status.as_str())
            .bind::<Text, _>(outputs)
            .bind::<Nullable<Text>, _>(additional_data.map(|d| d.to_string()))
            .bind::<BigInt, _>(now_micros())
            .bind::<Text, _>(id.as_str())
            .bind::<Text, _>(&worker)
            .execute(conn)?;
            Ok(updated == 1)
        })
        .await
    }

    async fn fail(
        &self,
        id: &TaskId,
        worker: &str,
        failure: &TaskFailure,
        retry: bool,
        policy: &RetryPolicy,
    ) -> Result<Option<TaskStatus>, RepoError> {
        let (id, worker, failure, policy) = (id.clone(), worker.to_owned(), failure.clone(), *policy);
        self.tx(move |conn| {
            let row: Option<TaskRow> = diesel::sql_query(format!(
                "SELECT {COLUMNS} FROM tasks WHERE id = ? AND lease_owner = ? AND status = 'IN_PROGRESS'"
            ))
            .bind::<Text, _>(id.as_str())
            .bind::<Text, _>(&worker)
            .get_result(conn)
            .optional()?;
            let Some(row) = row else { return Ok(None) };
            let attempts = u32::try_from(row.attempts).unwrap_or(0);
            let policy = RetryPolicy { max_attempts: u32::try_from(row.max_attempts).unwrap_or(1), ..policy };
            let (status, delay) = policy.after_failure(attempts, retry);
            let now = now_micros();
            diesel::sql_query(
                "UPDATE tasks SET status = ?, error_code = ?, error_message = ?, lease_owner = NULL, \
                 lease_expires_at = NULL, run_after = ?, updated_at = ? WHERE id = ?",
            )
            .bind::<Text, _>(status.as_str())
            .bind::<Text, _>(&failure.code)
            .bind::<Text, _>(&failure.message)
            .bind::<BigInt, _>(now.saturating_add(lease_micros(delay)))
            .bind::<BigInt, _>(now)
            .bind::<Text, _>(id.as_str())
            .execute(conn)?;
            Ok(Some(status))
        })
        .await
    }

    async fn stats(&self) -> Result<QueueStats, RepoError> {
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = BigInt)]
            due: i64,
            #[diesel(sql_type = BigInt)]
            in_progress: i64,
            #[diesel(sql_type = Nullable<BigInt>)]
            oldest: Option<i64>,
        }
        self.run(|conn| {
            let now = now_micros();
            let row: Row = diesel::sql_query(
                "SELECT (SELECT count(*) FROM tasks WHERE status = 'PENDING' AND run_after <= ?1) AS due, \
                        (SELECT count(*) FROM tasks WHERE status = 'IN_PROGRESS') AS in_progress, \
                        (SELECT min(run_after) FROM tasks WHERE status = 'PENDING' AND run_after <= ?1) AS oldest",
            )
            .bind::<BigInt, _>(now)
            .get_result(conn)
            .map_err(|e| crate::from_diesel(&e))?;
            let age = row.oldest.map_or(0, |oldest| now.saturating_sub(oldest).max(0));
            Ok(QueueStats {
                due: u64::try_from(row.due).unwrap_or(0),
                in_progress: u64::try_from(row.in_progress).unwrap_or(0),
                oldest_due_age: Duration::from_micros(u64::try_from(age).unwrap_or(0)),
            })
        })
        .await
    }

    async fn release(&self, worker: &str) -> Result<u64, RepoError> {
        let worker = worker.to_owned();
        self.tx(move |conn| {
            let now = now_micros();
            let released = diesel::sql_query(
                "UPDATE tasks SET status = 'PENDING', attempts = attempts - 1, lease_owner = NULL, lease_expires_at = NULL, \
                 run_after = ?, updated_at = ? WHERE lease_owner = ? AND status = 'IN_PROGRESS'",
            )
            .bind::<BigInt, _>(now)
            .bind::<BigInt, _>(now)
            .bind::<Text, _>(&worker)
            .execute(conn)?;
            Ok(u64::try_from(released).unwrap_or(0))
        })
        .await
    }
}

#[async_trait]
impl TaskReads for SqliteRepository {
    async fn get(&self, id: &TaskId) -> Result<Option<Task>, RepoError> {
        let id = id.clone();
        self.run(move |conn| load_task(conn, &id).map_err(|e| e.0)).await
    }

    async fn cancel(&self, id: &TaskId) -> Result<Option<Task>, RepoError> {
        let id = id.clone();
        let open: Vec<String> =
            TaskStatus::ALL.iter().filter(|s| !s.is_terminal()).map(|s| format!("'{}'", s.as_str())).collect();
        let sql = format!(
            "UPDATE tasks SET status = 'CANCELED', lease_owner = NULL, lease_expires_at = NULL, updated_at = ? \
             WHERE id = ? AND status IN ({})",
            open.join(", ")
        );
        self.tx(move |conn| {
            diesel::sql_query(sql).bind::<BigInt, _>(now_micros()).bind::<Text, _>(id.as_str()).execute(conn)?;
            load_task(conn, &id)
        })
        .await
    }

    async fn wait_for_change(
        &self,
        id: &TaskId,
        seen: OffsetDateTime,
        timeout: Duration,
    ) -> Result<Option<Task>, RepoError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let task = self.get(id).await?;
            let settled = task.as_ref().is_none_or(|t| t.updated_at > seen || t.status.is_terminal());
            if settled || tokio::time::Instant::now() >= deadline {
                return Ok(task);
            }
            tokio::time::sleep_until((tokio::time::Instant::now() + POLL).min(deadline)).await;
        }
    }

    async fn list(
        &self,
        namespace: &NamespaceId,
        status: Option<TaskStatus>,
        after: Option<TaskId>,
        limit: u32,
    ) -> Result<Vec<Task>, RepoError> {
        let mut sql = format!("SELECT {COLUMNS} FROM tasks WHERE namespace_id = ? AND task_type <> ?");
        let mut binds = vec![namespace.to_string(), TaskType::WEBHOOK_DELIVERY.to_owned()];
        if let Some(status) = status {
            sql.push_str(" AND status = ?");
            binds.push(status.as_str().to_owned());
        }
        if let Some(after) = after {
            sql.push_str(" AND (created_at, id) < (SELECT created_at, id FROM tasks WHERE id = ?)");
            binds.push(after.to_string());
        }
        sql.push_str(&format!(" ORDER BY created_at DESC, id DESC LIMIT {}", limit.clamp(1, 100)));
        self.run(move |conn| {
            let mut query = diesel::sql_query(sql).into_boxed::<diesel::sqlite::Sqlite>();
            for bind in binds {
                query = query.bind::<Text, _>(bind);
            }
            let rows: Vec<TaskRow> = query.load(conn).map_err(|e| crate::from_diesel(&e))?;
            Ok(decodable("tasks", rows, Task::try_from, skipped))
        })
        .await
    }
}
