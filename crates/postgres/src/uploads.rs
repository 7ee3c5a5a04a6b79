//! `TenancyRepo`, `UploadRepo` and `ObjectRepo` on PostgreSQL. Each transition locks the upload's row (`FOR UPDATE`), compares
//! its status with the one the use case read, asks the domain's state machine for the next
//! state, and writes it — all in one transaction. Content claims are `INSERT ... ON CONFLICT
//! DO NOTHING` on the claims' primary key: the loser of a race waits for the winner's commit and
//! then sees its claim.

use crate::cached::Cached;
use crate::error::{corrupt, from_diesel, skipped};
use crate::models::{BatchRow, BlobRow, BucketRow, NamespaceRow, ObjectRow, TaskRow, UploadRow};
use crate::pool::PgRepository;
use crate::schema::{batch_items, batches, blobs, buckets, content_claims, namespaces, objects, tasks, uploads};
use async_trait::async_trait;
use diesel::prelude::*;
use diesel::result::Error as DieselError;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use stowage_domain::bucket::{Bucket, Namespace};
use stowage_domain::content::Sha256Hex;
use stowage_domain::dedup::ClaimScope;
use stowage_domain::dedup::ContentClaim;
use stowage_domain::error::RepoError;
use stowage_domain::error::decodable;
use stowage_domain::ids::{BlobId, BucketId, NamespaceId, ObjectId, UploadId};
use stowage_domain::names::ObjectKey;
use stowage_domain::object::{BlobDetails, BucketObject};
use stowage_domain::ports::{
    AttachOutcome, ClaimHolder, ConfirmationOutcome, ConfirmationPlan, InsertUpload, ObjectDeletion, ObjectRepo,
    PendingCursor, Step, TenancyRepo, Transition, TransitionPlan, UploadCursor, UploadPage, UploadQuery, UploadRepo,
    UploadWork,
};
use stowage_domain::status::UploadStatus;
use stowage_domain::task::NewTask;
use stowage_domain::upload::{Failure, TransitionError, Upload};
use stowage_domain::webhook::WebhookTarget;
use time::OffsetDateTime;

/// An error inside a transaction: either diesel's (rolls back, mapped later) or a row the domain
/// rejects.
#[derive(Debug)]
pub(crate) enum TxError {
    Db(DieselError),
    Repo(RepoError),
}

impl From<DieselError> for TxError {
    fn from(e: DieselError) -> Self {
        Self::Db(e)
    }
}

impl From<RepoError> for TxError {
    fn from(e: RepoError) -> Self {
        Self::Repo(e)
    }
}

impl From<TransitionError> for TxError {
    fn from(e: TransitionError) -> Self {
        Self::Repo(RepoError::Unexpected(format!("state machine refused a repository transition: {e}")))
    }
}

impl From<TxError> for RepoError {
    fn from(e: TxError) -> Self {
        match e {
            TxError::Db(e) => from_diesel(e),
            TxError::Repo(e) => e,
        }
    }
}

/// Runs `$plan.apply(work)` in one transaction on `$conn` and sends the writes it queued before
/// committing (the only way a `PgWork` is made, so no queued write is ever left unsent).
macro_rules! work_transaction {
    ($conn:expr, $plan:expr) => {
        $conn
            .transaction::<_, TxError, _>(async |conn| {
                let mut work = PgWork::new(conn);
                let outcome = $plan.apply(&mut work).await?;
                work.flush().await?;
                Ok(outcome)
            })
            .await
            .map_err(RepoError::from)
    };
}

/// Reads and locks an upload for the rest of the transaction.
async fn lock_upload(conn: &mut AsyncPgConnection, id: &UploadId) -> Result<Upload, TxError> {
    let row = uploads::table
        .find(id.as_str())
        .for_update()
        .select(UploadRow::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| RepoError::Unexpected(format!("upload {id} vanished")))?;
    Ok(Upload::try_from(row)?)
}

/// Writes an upload's new state (everything but its id and idempotency key).
async fn save_upload(mut conn: &AsyncPgConnection, upload: &Upload) -> Result<(), TxError> {
    Cached(diesel::update(uploads::table.find(upload.id.as_str())).set(UploadRow::from_domain(upload, None)))
        .execute(&mut conn)
        .await?;
    Ok(())
}

/// Applies a transition plan (the rule is the domain's) in one transaction.
async fn transition(repo: &PgRepository, plan: TransitionPlan) -> Result<Transition, RepoError> {
    let mut conn = repo.conn().await?;
    work_transaction!(conn, plan)
}

pub(crate) async fn insert_task(
    mut conn: &AsyncPgConnection,
    task: &NewTask,
    now: OffsetDateTime,
) -> Result<(), DieselError> {
    Cached(diesel::insert_into(tasks::table).values(TaskRow::new_pending(task, now))).execute(&mut conn).await.map(drop)
}

pub(crate) async fn insert_batch(
    conn: &mut AsyncPgConnection,
    batch: &stowage_domain::batch::Batch,
) -> Result<(), DieselError> {
    Cached(diesel::insert_into(batches::table).values(BatchRow::from_domain(batch))).execute(conn).await?;
    let items: Vec<_> = batch
        .object_ids
        .iter()
        .zip(0i32..)
        .map(|(object, position)| {
            (
                batch_items::batch_id.eq(batch.id.as_str()),
                batch_items::position.eq(position),
                batch_items::object_id.eq(object.as_str()),
            )
        })
        .collect();
    Cached(diesel::insert_into(batch_items::table).values(items)).execute(conn).await.map(drop)
}

/// Inserts an object, then its blobs (which reference it: the second statement is sent after the
/// first one's answer, never pipelined ahead of it).
async fn insert_object(
    mut conn: &AsyncPgConnection,
    object: &BucketObject,
    now: OffsetDateTime,
) -> Result<(), TxError> {
    let rows = object.blobs.iter().map(|b| BlobRow::from_domain(&object.id, b, now)).collect::<Result<Vec<_>, _>>()?;
    Cached(diesel::insert_into(objects::table).values(ObjectRow::from_domain(object))).execute(&mut conn).await?;
    Cached(diesel::insert_into(blobs::table).values(rows)).execute(&mut conn).await?;
    Ok(())
}

/// Usage shards per bucket (`bucket_usage`): concurrent confirms of one bucket add to different
/// rows, so they do not wait for each other's commits.
const USAGE_SHARDS: i32 = 16;

#[derive(diesel::QueryableByName)]
struct Sum {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Adds `count` objects of `bytes` (negative: takes them away) to a random shard of the bucket's
/// usage.
async fn add_usage(mut conn: &AsyncPgConnection, bucket: &BucketId, count: i64, bytes: i64) -> Result<(), DieselError> {
    use diesel::sql_types::{Integer, Text};
    let upsert = diesel::sql_query(
        "INSERT INTO bucket_usage (bucket_id, shard, object_count, total_size_bytes) \
         VALUES ($1, floor(random() * $2)::int2, $3, $4) ON CONFLICT (bucket_id, shard) DO UPDATE \
         SET object_count = bucket_usage.object_count + excluded.object_count, \
             total_size_bytes = bucket_usage.total_size_bytes + excluded.total_size_bytes",
    )
    .bind::<Text, _>(bucket.as_str())
    .bind::<Integer, _>(USAGE_SHARDS)
    .bind::<BigInt, _>(count)
    .bind::<BigInt, _>(bytes);
    Cached(upsert).execute(&mut conn).await.map(drop)
}

/// The bucket's stored bytes (the sum of its shards), after locking the bucket's row `FOR NO KEY
/// UPDATE` — which inserts referencing the bucket do not wait for — so that the quota checks of
/// concurrent transactions of one bucket see each other's additions.
async fn locked_usage_bytes(conn: &mut AsyncPgConnection, bucket: &BucketId) -> Result<u64, DieselError> {
    buckets::table.find(bucket.as_str()).select(buckets::id).for_no_key_update().first::<String>(conn).await?;
    let sum = diesel::sql_query(
        "SELECT coalesce(sum(total_size_bytes), 0)::int8 AS n FROM bucket_usage WHERE bucket_id = $1",
    )
    .bind::<diesel::sql_types::Text, _>(bucket.as_str());
    let used: Sum = Cached(sum).get_result(conn).await?;
    Ok(u64::try_from(used.n).unwrap_or(0))
}

/// Bytes as a signed SQL integer.
fn signed(bytes: u64) -> i64 {
    i64::try_from(bytes).unwrap_or(i64::MAX)
}

/// A bucket's usage, summed over its shards (in the same statement as the bucket's row).
const OBJECTS_USED: &str =
    "(SELECT coalesce(sum(u.object_count), 0)::int8 FROM bucket_usage u WHERE u.bucket_id = buckets.id)";
const BYTES_USED: &str =
    "(SELECT coalesce(sum(u.total_size_bytes), 0)::int8 FROM bucket_usage u WHERE u.bucket_id = buckets.id)";

/// A bucket row with its summed usage in place of the row's own (no longer written) counters.
fn with_usage((mut row, objects, bytes): (BucketRow, i64, i64)) -> BucketRow {
    row.object_count = objects;
    row.total_size_bytes = bytes;
    row
}

/// The bucket's object with its blobs in order; `lock` keeps its row locked until the
/// transaction ends.
async fn find_object(
    conn: &mut AsyncPgConnection,
    bucket: &BucketId,
    id: &ObjectId,
    lock: bool,
) -> Result<Option<BucketObject>, RepoError> {
    let query = objects::table
        .filter(objects::id.eq(id.as_str()))
        .filter(objects::bucket_id.eq(bucket.as_str()))
        .select(ObjectRow::as_select());
    let row = if lock { query.for_update().first(conn).await } else { query.first(conn).await };
    let Some(row) = row.optional().map_err(from_diesel)? else {
        return Ok(None);
    };
    let blob_rows = blobs::table
        .filter(blobs::object_id.eq(id.as_str()))
        .order((blobs::created_at.asc(), blobs::id.asc()))
        .select(BlobRow::as_select())
        .load(conn)
        .await
        .map_err(from_diesel)?;
    row.into_domain(blob_rows).map(Some)
}

/// The unit of work's primitives on one PostgreSQL transaction (the rules that combine them are
/// the plans of `stowage_domain::ports::unit_of_work`).
///
/// Writes whose answer nothing else in the transaction waits for (a usage addition, an object
/// with its blobs, the upload's new state, a task) are queued and sent together — pipelined on the
/// connection, each without waiting for the answer to the one before — when the transaction next
/// reads, writes anything else, or ends (`work_transaction!`). They touch different rows with no
/// reference between them (an object's blobs follow the object within one write; two states of
/// one upload collapse into the last; two usage additions commute), so their order on the wire
/// does not matter — and it is not guaranteed: a statement not yet prepared on the connection
/// waits for its prepare's answer while the others are sent. Every other primitive sends the
/// queue first, so nothing is reordered across it. A confirm's four write statements take two
/// round trips (the object, then its blobs; the usage and the upload beside them).
struct PgWork<'c> {
    conn: &'c mut AsyncPgConnection,
    queued: Vec<Write>,
}

/// A queued write of [`PgWork`].
enum Write {
    Usage { bucket: BucketId, count: i64, bytes: i64 },
    Object(Box<BucketObject>, OffsetDateTime),
    Upload(Box<Upload>),
    Task(Box<NewTask>, OffsetDateTime),
}

impl Write {
    async fn send(&self, conn: &AsyncPgConnection) -> Result<(), TxError> {
        match self {
            Self::Usage { bucket, count, bytes } => Ok(add_usage(conn, bucket, *count, *bytes).await?),
            Self::Object(object, now) => insert_object(conn, object, *now).await,
            Self::Upload(upload) => save_upload(conn, upload).await,
            Self::Task(task, now) => Ok(insert_task(conn, task, *now).await?),
        }
    }
}

impl<'c> PgWork<'c> {
    fn new(conn: &'c mut AsyncPgConnection) -> Self {
        Self { conn, queued: Vec::new() }
    }

    /// Sends the queued writes together and waits for all their answers; the first error, if any.
    async fn flush(&mut self) -> Result<(), RepoError> {
        if self.queued.is_empty() {
            return Ok(());
        }
        let queued = std::mem::take(&mut self.queued);
        let conn: &AsyncPgConnection = self.conn;
        let answers = futures_util::future::join_all(queued.iter().map(|write| write.send(conn))).await;
        answers.into_iter().collect::<Result<Vec<()>, TxError>>().map(drop).map_err(RepoError::from)
    }
}

#[async_trait]
impl UploadWork for PgWork<'_> {
    async fn lock_upload(&mut self, id: &UploadId) -> Result<Upload, RepoError> {
        self.flush().await?;
        lock_upload(self.conn, id).await.map_err(RepoError::from)
    }

    async fn claim_content(
        &mut self,
        claim: &ContentClaim,
        upload: &UploadId,
        object: Option<&ObjectId>,
        now: OffsetDateTime,
    ) -> Result<Option<ClaimHolder>, RepoError> {
        self.flush().await?;
        // ON CONFLICT DO NOTHING waits for a concurrent claimer's commit, then sees its row.
        let claimed = diesel::insert_into(content_claims::table)
            .values((
                content_claims::scope.eq(claim.scope.as_str()),
                content_claims::sha256.eq(claim.sha256.as_str()),
                content_claims::upload_id.eq(upload.as_str()),
                content_claims::object_id.eq(object.map(ObjectId::as_str)),
                content_claims::created_at.eq(now),
            ))
            .on_conflict_do_nothing()
            .execute(self.conn)
            .await
            .map_err(from_diesel)?;
        if claimed == 1 {
            return Ok(None);
        }
        let (holder, holder_object): (String, Option<String>) = content_claims::table
            .find((claim.scope.as_str(), claim.sha256.as_str()))
            .select((content_claims::upload_id, content_claims::object_id))
            .first(self.conn)
            .await
            .map_err(from_diesel)?;
        Ok(Some(ClaimHolder {
            upload: UploadId::parse(&holder).map_err(|e| corrupt("claim holder", e))?,
            object: holder_object.map(|o| ObjectId::parse(&o).map_err(|e| corrupt("claim object", e))).transpose()?,
        }))
    }

    async fn insert_object(&mut self, object: &BucketObject, now: OffsetDateTime) -> Result<(), RepoError> {
        self.queued.push(Write::Object(Box::new(object.clone()), now));
        Ok(())
    }

    async fn locked_usage_bytes(&mut self, bucket: &BucketId) -> Result<u64, RepoError> {
        self.flush().await?;
        locked_usage_bytes(self.conn, bucket).await.map_err(from_diesel)
    }

    async fn add_object_usage(&mut self, bucket: &BucketId, bytes: u64, _now: OffsetDateTime) -> Result<(), RepoError> {
        self.queued.push(Write::Usage { bucket: bucket.clone(), count: 1, bytes: signed(bytes) });
        Ok(())
    }

    async fn insert_batch(&mut self, batch: &stowage_domain::batch::Batch) -> Result<(), RepoError> {
        self.flush().await?;
        insert_batch(self.conn, batch).await.map_err(from_diesel)
    }

    async fn enqueue(&mut self, task: &NewTask, now: OffsetDateTime) -> Result<(), RepoError> {
        self.queued.push(Write::Task(Box::new(task.clone()), now));
        Ok(())
    }

    async fn save_upload(&mut self, upload: &Upload) -> Result<(), RepoError> {
        // A second state of one upload replaces the first, so two writes of one row are never
        // pipelined (their order on the wire is not guaranteed).
        self.queued.retain(|w| !matches!(w, Write::Upload(queued) if queued.id == upload.id));
        self.queued.push(Write::Upload(Box::new(upload.clone())));
        Ok(())
    }

    async fn lock_object(&mut self, bucket: &BucketId, id: &ObjectId) -> Result<Option<BucketObject>, RepoError> {
        self.flush().await?;
        find_object(self.conn, bucket, id, true).await
    }

    async fn release_claims_of(&mut self, object: &ObjectId) -> Result<(), RepoError> {
        self.flush().await?;
        diesel::delete(content_claims::table.filter(content_claims::object_id.eq(object.as_str())))
            .execute(self.conn)
            .await
            .map(drop)
            .map_err(from_diesel)
    }

    async fn uploads_pointing_at(&mut self, object: &ObjectId) -> Result<Vec<Upload>, RepoError> {
        self.flush().await?;
        let rows: Vec<UploadRow> = uploads::table
            .filter(uploads::object_id.eq(object.as_str()))
            .for_update()
            .select(UploadRow::as_select())
            .load(self.conn)
            .await
            .map_err(from_diesel)?;
        // Strict: a write must not skip an upload it cannot read.
        rows.into_iter().map(Upload::try_from).collect()
    }

    async fn delete_object(&mut self, object: &ObjectId) -> Result<(), RepoError> {
        self.flush().await?;
        diesel::delete(blobs::table.filter(blobs::object_id.eq(object.as_str())))
            .execute(self.conn)
            .await
            .map_err(from_diesel)?;
        diesel::delete(objects::table.find(object.as_str())).execute(self.conn).await.map(drop).map_err(from_diesel)
    }

    async fn remove_object_usage(
        &mut self,
        bucket: &BucketId,
        bytes: u64,
        _now: OffsetDateTime,
    ) -> Result<(), RepoError> {
        self.queued.push(Write::Usage { bucket: bucket.clone(), count: -1, bytes: -signed(bytes) });
        Ok(())
    }

    async fn key_in_use(&mut self, key: &ObjectKey) -> Result<bool, RepoError> {
        self.flush().await?;
        let n: i64 = blobs::table
            .filter(blobs::s3_key.eq(key.as_str()))
            .count()
            .get_result(self.conn)
            .await
            .map_err(from_diesel)?;
        Ok(n > 0)
    }
}

#[async_trait]
impl UploadRepo for PgRepository {
    async fn insert_upload(&self, upload: &Upload, idempotency_key: Option<String>) -> Result<InsertUpload, RepoError> {
        self.inserts.insert(self, UploadRow::from_domain(upload, idempotency_key)).await
    }

    async fn get_upload(&self, bucket: &BucketId, id: &UploadId) -> Result<Option<Upload>, RepoError> {
        let mut conn = self.conn().await?;
        let row = uploads::table
            .filter(uploads::id.eq(id.as_str()))
            .filter(uploads::bucket_id.eq(bucket.as_str()))
            .select(UploadRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(from_diesel)?;
        row.map(Upload::try_from).transpose()
    }

    async fn list_uploads(&self, bucket: &BucketId, query: &UploadQuery) -> Result<UploadPage, RepoError> {
        use diesel::dsl::sql;
        use diesel::sql_types::Bool;
        let mut conn = self.conn().await?;
        let limit = query.limit.clamp(1, 100);
        let mut q =
            uploads::table.filter(uploads::bucket_id.eq(bucket.as_str())).select(UploadRow::as_select()).into_boxed();
        if let Some(status) = query.status {
            q = q.filter(uploads::status.eq(status.as_str()));
        }
        if let Some(metadata) = &query.metadata {
            q = q.filter(uploads::metadata.contains(serde_json::Value::Object(metadata.clone())));
        }
        if let Some(from) = query.created_from {
            q = q.filter(uploads::created_at.ge(from));
        }
        if let Some(before) = query.created_before {
            q = q.filter(uploads::created_at.lt(before));
        }
        // Row comparison `(created_at, id) > (a, b)` walks the (bucket_id, created_at, id) index.
        if let Some(after) = &query.after {
            let op = if query.newest_first { "<" } else { ">" };
            q = q.filter(
                sql::<Bool>("(uploads.created_at, uploads.id) ")
                    .sql(op)
                    .sql(" (")
                    .bind::<diesel::sql_types::Timestamptz, _>(after.created_at)
                    .sql(", ")
                    .bind::<diesel::sql_types::Text, _>(after.id.to_string())
                    .sql(")"),
            );
        }
        q = if query.newest_first {
            q.order((uploads::created_at.desc(), uploads::id.desc()))
        } else {
            q.order((uploads::created_at.asc(), uploads::id.asc()))
        };
        let rows = q.limit(i64::from(limit) + 1).load(&mut conn).await.map_err(from_diesel)?;
        let more = rows.len() > limit as usize;
        let rows: Vec<UploadRow> = rows.into_iter().take(limit as usize).collect();
        // The cursor comes from the last row read, decodable or not, so a skipped row never ends
        // the listing early.
        let next = more
            .then(|| rows.last().and_then(|r| Some(UploadCursor { created_at: r.created_at, id: r.id.parse().ok()? })))
            .flatten();
        let uploads = decodable("uploads", rows, Upload::try_from, skipped);
        Ok(UploadPage { uploads, next })
    }

    async fn find_claim(&self, scope: &ClaimScope, sha256: &Sha256Hex) -> Result<Option<Upload>, RepoError> {
        let mut conn = self.conn().await?;
        let row = content_claims::table
            .inner_join(uploads::table.on(uploads::id.eq(content_claims::upload_id)))
            .filter(content_claims::scope.eq(scope.as_str()))
            .filter(content_claims::sha256.eq(sha256.as_str()))
            .select(UploadRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(from_diesel)?;
        row.map(Upload::try_from).transpose()
    }

    async fn release_claim(
        &self,
        scope: &ClaimScope,
        sha256: &Sha256Hex,
        holder: &UploadId,
    ) -> Result<bool, RepoError> {
        let mut conn = self.conn().await?;
        let deleted = diesel::delete(
            content_claims::table
                .filter(content_claims::scope.eq(scope.as_str()))
                .filter(content_claims::sha256.eq(sha256.as_str()))
                .filter(content_claims::upload_id.eq(holder.as_str())),
        )
        .execute(&mut conn)
        .await
        .map_err(from_diesel)?;
        Ok(deleted > 0)
    }

    async fn begin_processing(
        &self,
        id: &UploadId,
        expected: UploadStatus,
        task: &NewTask,
        now: OffsetDateTime,
    ) -> Result<Transition, RepoError> {
        let step = Step::BeginProcessing(task.clone());
        transition(self, TransitionPlan { upload_id: id.clone(), expected, step, now }).await
    }

    async fn apply_confirmation(&self, plan: &ConfirmationPlan) -> Result<ConfirmationOutcome, RepoError> {
        let mut conn = self.conn().await?;
        work_transaction!(conn, plan)
    }

    async fn record_failure(
        &self,
        id: &UploadId,
        expected: UploadStatus,
        failure: &Failure,
        now: OffsetDateTime,
        webhook: Option<WebhookTarget>,
    ) -> Result<Transition, RepoError> {
        let step = Step::Fail(failure.clone(), webhook);
        transition(self, TransitionPlan { upload_id: id.clone(), expected, step, now }).await
    }

    async fn cancel_upload(
        &self,
        id: &UploadId,
        expected: UploadStatus,
        now: OffsetDateTime,
    ) -> Result<Transition, RepoError> {
        transition(self, TransitionPlan { upload_id: id.clone(), expected, step: Step::Cancel, now }).await
    }

    async fn list_expirable(&self, cutoff: OffsetDateTime, limit: u32) -> Result<Vec<Upload>, RepoError> {
        let mut conn = self.conn().await?;
        let rows = uploads::table
            .filter(uploads::status.eq(UploadStatus::Pending.as_str()))
            .filter(uploads::expires_at.lt(cutoff))
            .order(uploads::expires_at.asc())
            .limit(i64::from(limit))
            .select(UploadRow::as_select())
            .load(&mut conn)
            .await
            .map_err(from_diesel)?;
        Ok(decodable("uploads", rows, Upload::try_from, skipped))
    }

    async fn list_pending(
        &self,
        since: OffsetDateTime,
        after: Option<PendingCursor>,
        limit: u32,
    ) -> Result<Vec<Upload>, RepoError> {
        let mut conn = self.conn().await?;
        let mut query = uploads::table
            .filter(uploads::status.eq(UploadStatus::Pending.as_str()))
            .filter(uploads::expires_at.ge(since))
            .into_boxed();
        if let Some(after) = after {
            query = query.filter(
                uploads::expires_at
                    .gt(after.expires_at)
                    .or(uploads::expires_at.eq(after.expires_at).and(uploads::id.gt(after.id.as_str().to_owned()))),
            );
        }
        let rows = query
            .order((uploads::expires_at.asc(), uploads::id.asc()))
            .limit(i64::from(limit))
            .select(UploadRow::as_select())
            .load(&mut conn)
            .await
            .map_err(from_diesel)?;
        Ok(decodable("uploads", rows, Upload::try_from, skipped))
    }
}

#[async_trait]
impl ObjectRepo for PgRepository {
    async fn update_blob_details(
        &self,
        blob: &BlobId,
        details: &BlobDetails,
        event: Option<NewTask>,
    ) -> Result<(), RepoError> {
        let mut conn = self.conn().await?;
        let json = serde_json::to_value(details).map_err(|e| RepoError::Unexpected(e.to_string()))?;
        conn.transaction::<_, TxError, _>(async |conn| {
            let updated =
                diesel::update(blobs::table.find(blob.as_str())).set(blobs::details.eq(json)).execute(conn).await?;
            if let Some(event) = event.filter(|_| updated > 0) {
                insert_task(conn, &event, OffsetDateTime::now_utc()).await?;
            }
            Ok(())
        })
        .await
        .map_err(RepoError::from)
    }

    async fn list_objects(
        &self,
        bucket: &BucketId,
        after: Option<ObjectId>,
        limit: u32,
    ) -> Result<Vec<BucketObject>, RepoError> {
        use diesel::dsl::sql;
        use diesel::sql_types::{Bool, Text};
        let mut conn = self.conn().await?;
        let mut q =
            objects::table.filter(objects::bucket_id.eq(bucket.as_str())).select(ObjectRow::as_select()).into_boxed();
        if let Some(after) = after {
            q = q.filter(
                sql::<Bool>("(objects.created_at, objects.id) > (SELECT created_at, id FROM objects WHERE id = ")
                    .bind::<Text, _>(after.to_string())
                    .sql(")"),
            );
        }
        let rows = q
            .order((objects::created_at.asc(), objects::id.asc()))
            .limit(i64::from(limit.clamp(1, 100)))
            .load(&mut conn)
            .await
            .map_err(from_diesel)?;
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        // One query for the blobs of the whole page.
        let mut blob_rows = blobs::table
            .filter(blobs::object_id.eq_any(&ids))
            .order((blobs::created_at.asc(), blobs::id.asc()))
            .select(BlobRow::as_select())
            .load(&mut conn)
            .await
            .map_err(from_diesel)?;
        let rows = rows.into_iter().map(|row| {
            let (own, rest): (Vec<_>, Vec<_>) = blob_rows.drain(..).partition(|b| b.object_id == row.id);
            blob_rows = rest;
            (row, own)
        });
        Ok(decodable("objects", rows.collect::<Vec<_>>(), |(row, own)| row.into_domain(own), skipped))
    }

    async fn delete_object(
        &self,
        bucket: &BucketId,
        id: &ObjectId,
    ) -> Result<Option<Vec<stowage_domain::names::ObjectKey>>, RepoError> {
        let deletion =
            ObjectDeletion { bucket_id: bucket.clone(), object_id: id.clone(), now: OffsetDateTime::now_utc() };
        let mut conn = self.conn().await?;
        work_transaction!(conn, deletion)
    }

    async fn attach_object(&self, object: &BucketObject, uploads: &[UploadId]) -> Result<AttachOutcome, RepoError> {
        let mut conn = self.conn().await?;
        conn.transaction::<_, TxError, _>(async |conn| {
            // Lock in id order so two requests naming the same uploads cannot deadlock.
            let mut ordered: Vec<&UploadId> = uploads.iter().collect();
            ordered.sort_by(|a, b| a.as_str().cmp(b.as_str()));
            for id in ordered {
                let upload = lock_upload(conn, id).await?;
                if !upload.is_attachable() {
                    return Ok(AttachOutcome::Taken(id.clone()));
                }
            }
            insert_object(conn, object, object.created_at).await?;
            let ids: Vec<&str> = uploads.iter().map(UploadId::as_str).collect();
            diesel::update(uploads::table.filter(uploads::id.eq_any(&ids)))
                .set((uploads::object_id.eq(object.id.as_str()), uploads::updated_at.eq(object.created_at)))
                .execute(conn)
                .await?;
            diesel::update(
                content_claims::table
                    .filter(content_claims::upload_id.eq_any(&ids))
                    .filter(content_claims::object_id.is_null()),
            )
            .set(content_claims::object_id.eq(object.id.as_str()))
            .execute(conn)
            .await?;
            let size = object.blobs.iter().map(|b| b.details.size_bytes).sum();
            add_usage(conn, &object.bucket_id, 1, signed(size)).await?;
            Ok(AttachOutcome::Created)
        })
        .await
        .map_err(RepoError::from)
    }

    async fn get_object(&self, bucket: &BucketId, id: &ObjectId) -> Result<Option<BucketObject>, RepoError> {
        let mut conn = self.conn().await?;
        find_object(&mut conn, bucket, id, false).await
    }
}

#[async_trait]
impl TenancyRepo for PgRepository {
    async fn create_namespace(&self, namespace: &Namespace) -> Result<(), RepoError> {
        let mut conn = self.conn().await?;
        diesel::insert_into(namespaces::table)
            .values(NamespaceRow::from(namespace))
            .execute(&mut conn)
            .await
            .map(drop)
            .map_err(from_diesel)
    }

    async fn find_namespace(&self, id_or_name: &str) -> Result<Option<Namespace>, RepoError> {
        let mut conn = self.conn().await?;
        let row = namespaces::table
            .filter(namespaces::id.eq(id_or_name).or(namespaces::name.eq(id_or_name)))
            .select(NamespaceRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(from_diesel)?;
        row.map(Namespace::try_from).transpose()
    }

    async fn ping(&self) -> Result<(), RepoError> {
        let mut conn = self.conn().await?;
        diesel::sql_query("SELECT 1").execute(&mut conn).await.map(drop).map_err(from_diesel)
    }

    async fn list_buckets(&self, namespace: &NamespaceId) -> Result<Vec<Bucket>, RepoError> {
        let mut conn = self.conn().await?;
        let rows = buckets::table
            .filter(buckets::namespace_id.eq(namespace.as_str()))
            .order(buckets::name.asc())
            .select((
                BucketRow::as_select(),
                diesel::dsl::sql::<BigInt>(OBJECTS_USED),
                diesel::dsl::sql::<BigInt>(BYTES_USED),
            ))
            .load(&mut conn)
            .await
            .map_err(from_diesel)?;
        Ok(decodable("buckets", rows.into_iter().map(with_usage).collect::<Vec<_>>(), Bucket::try_from, skipped))
    }

    async fn create_bucket(&self, bucket: &Bucket) -> Result<(), RepoError> {
        let mut conn = self.conn().await?;
        diesel::insert_into(buckets::table)
            .values(BucketRow::from_domain(bucket)?)
            .execute(&mut conn)
            .await
            .map(drop)
            .map_err(from_diesel)
    }

    async fn find_bucket(&self, namespace: &NamespaceId, id_or_name: &str) -> Result<Option<Bucket>, RepoError> {
        let mut conn = self.conn().await?;
        let row = buckets::table
            .filter(buckets::namespace_id.eq(namespace.as_str()))
            .filter(buckets::id.eq(id_or_name).or(buckets::name.eq(id_or_name)))
            .select((
                BucketRow::as_select(),
                diesel::dsl::sql::<BigInt>(OBJECTS_USED),
                diesel::dsl::sql::<BigInt>(BYTES_USED),
            ))
            .first(&mut conn)
            .await
            .optional()
            .map_err(from_diesel)?;
        row.map(with_usage).map(Bucket::try_from).transpose()
    }
}
