//! `BatchRepo` on PostgreSQL: a batch row with its ordered items; submitting is one
//! transaction that moves a DRAFT to PENDING and enqueues its task.

use crate::error::from_diesel;
use crate::models::{BatchRow, TaskRow};
use crate::pool::PgRepository;
use crate::schema::{batch_items, batches, objects, tasks};
use crate::uploads::{TxError, insert_batch, insert_task};
use async_trait::async_trait;
use diesel::prelude::*;
use diesel::result::Error as DieselError;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use stowage_domain::batch::Batch;
use stowage_domain::error::RepoError;
use stowage_domain::ids::{BatchId, BucketId, ObjectId};
use stowage_domain::ports::{BatchRepo, SubmitOutcome};
use stowage_domain::status::TaskStatus;
use stowage_domain::task::{NewTask, Task};
use time::OffsetDateTime;

async fn load_batch(conn: &mut AsyncPgConnection, row: BatchRow) -> Result<Batch, TxError> {
    let items: Vec<String> = batch_items::table
        .filter(batch_items::batch_id.eq(&row.id))
        .order(batch_items::position.asc())
        .select(batch_items::object_id)
        .load(conn)
        .await?;
    Ok(row.into_domain(items)?)
}

#[async_trait]
impl BatchRepo for PgRepository {
    async fn missing_objects(&self, bucket: &BucketId, ids: &[ObjectId]) -> Result<Vec<ObjectId>, RepoError> {
        let mut conn = self.conn().await?;
        let wanted: Vec<&str> = ids.iter().map(ObjectId::as_str).collect();
        let found: Vec<String> = objects::table
            .filter(objects::bucket_id.eq(bucket.as_str()))
            .filter(objects::id.eq_any(&wanted))
            .select(objects::id)
            .load(&mut conn)
            .await
            .map_err(from_diesel)?;
        Ok(ids.iter().filter(|id| !found.iter().any(|f| f == id.as_str())).cloned().collect())
    }

    async fn create(&self, batch: &Batch) -> Result<(), RepoError> {
        let mut conn = self.conn().await?;
        conn.transaction::<_, diesel::result::Error, _>(async |conn| insert_batch(conn, batch).await)
            .await
            .map_err(from_diesel)
    }

    async fn get(&self, bucket: &BucketId, id: &BatchId) -> Result<Option<Batch>, RepoError> {
        let mut conn = self.conn().await?;
        let row = batches::table
            .filter(batches::id.eq(id.as_str()))
            .filter(batches::bucket_id.eq(bucket.as_str()))
            .select(BatchRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(from_diesel)?;
        match row {
            Some(row) => load_batch(&mut conn, row).await.map(Some).map_err(RepoError::from),
            None => Ok(None),
        }
    }

    async fn submit(
        &self,
        bucket: &BucketId,
        id: &BatchId,
        task: &NewTask,
        now: OffsetDateTime,
    ) -> Result<SubmitOutcome, RepoError> {
        let mut conn = self.conn().await?;
        conn.transaction::<_, TxError, _>(async |conn| {
            let Some(row) = batches::table
                .filter(batches::id.eq(id.as_str()))
                .filter(batches::bucket_id.eq(bucket.as_str()))
                .for_update()
                .select(BatchRow::as_select())
                .first(conn)
                .await
                .optional()?
            else {
                return Ok(SubmitOutcome::NotFound);
            };
            if row.status != TaskStatus::Draft.as_str() {
                return Ok(SubmitOutcome::NotDraft(load_batch(conn, row).await?));
            }
            insert_task(conn, task, now).await?;
            diesel::update(batches::table.find(id.as_str()))
                .set((
                    batches::status.eq(TaskStatus::Pending.as_str()),
                    batches::task_id.eq(task.id.as_str()),
                    batches::updated_at.eq(now),
                ))
                .execute(conn)
                .await?;
            let submitted = BatchRow {
                status: TaskStatus::Pending.as_str().to_owned(),
                task_id: Some(task.id.to_string()),
                updated_at: now,
                ..row
            };
            let batch = load_batch(conn, submitted).await?;
            let task_row = tasks::table.find(task.id.as_str()).select(TaskRow::as_select()).first(conn).await?;
            Ok(SubmitOutcome::Submitted(batch, Task::try_from(task_row)?))
        })
        .await
        .map_err(RepoError::from)
    }

    async fn finish(
        &self,
        id: &BatchId,
        status: TaskStatus,
        now: OffsetDateTime,
        event: Option<NewTask>,
    ) -> Result<(), RepoError> {
        let finals = [TaskStatus::Completed, TaskStatus::CompletedWithErrors, TaskStatus::Failed].map(|s| s.as_str());
        let mut conn = self.conn().await?;
        conn.transaction::<_, DieselError, _>(async |conn| {
            // Only the first finish counts: a re-run task neither changes the result nor sends a
            // second event.
            let finished = diesel::update(batches::table.find(id.as_str()).filter(batches::status.ne_all(finals)))
                .set((batches::status.eq(status.as_str()), batches::updated_at.eq(now)))
                .execute(conn)
                .await?;
            if let (1, Some(event)) = (finished, &event) {
                insert_task(conn, event, now).await?;
            }
            Ok(())
        })
        .await
        .map_err(from_diesel)
    }
}
