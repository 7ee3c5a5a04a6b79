//! `TenancyRepo`, `UploadRepo`, `ObjectRepo` and `BatchRepo` on SQLite: entities as the domain's JSON, transitions in
//! immediate transactions that re-read and compare the status, exactly as on PostgreSQL.

use crate::queue::{insert_task, load_task};
use crate::{Fail, SqliteRepository, corrupt, from_micros, micros, skipped};
use async_trait::async_trait;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::sqlite::{Sqlite, SqliteConnection};
use diesel::{OptionalExtension, QueryableByName, RunQueryDsl};
use serde::Serialize;
use serde::de::DeserializeOwned;
use stowage_domain::auth::ApiKey;
use stowage_domain::batch::Batch;
use stowage_domain::bucket::{Bucket, Namespace};
use stowage_domain::content::Sha256Hex;
use stowage_domain::dedup::ClaimScope;
use stowage_domain::dedup::ContentClaim;
use stowage_domain::error::RepoError;
use stowage_domain::error::decodable;
use stowage_domain::ids::{BatchId, BlobId, BucketId, KeyId, NamespaceId, ObjectId, UploadId};
use stowage_domain::names::ObjectKey;
use stowage_domain::object::{BlobDetails, BucketObject};
use stowage_domain::ports::{
    AttachOutcome, BatchRepo, ClaimHolder, ConfirmationOutcome, ConfirmationPlan, InsertUpload, KeyRepo,
    ObjectDeletion, ObjectRepo, PendingCursor, Step, SubmitOutcome, TenancyRepo, Transition, TransitionPlan,
    UploadCursor, UploadPage, UploadQuery, UploadRepo, UploadWork, run_ready,
};
use stowage_domain::status::{TaskStatus, UploadStatus};
use stowage_domain::task::NewTask;
use stowage_domain::upload::{Failure, Upload};
use stowage_domain::webhook::WebhookTarget;
use time::OffsetDateTime;

#[derive(QueryableByName)]
struct Doc {
    #[diesel(sql_type = Text)]
    doc: String,
}

/// A document with the columns a page's cursor is made of.
#[derive(QueryableByName)]
struct PagedDoc {
    #[diesel(sql_type = Text)]
    doc: String,
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = BigInt)]
    created_at: i64,
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = Text)]
    id: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// A value bound to a query built at run time, in placeholder order.
enum Bind {
    Text(String),
    Int(i64),
}

fn parse<T: DeserializeOwned>(what: &str, doc: &str) -> Result<T, RepoError> {
    serde_json::from_str(doc).map_err(|e| corrupt(what, e))
}

fn json<T: Serialize>(value: &T) -> Result<String, RepoError> {
    serde_json::to_string(value).map_err(|e| RepoError::Unexpected(e.to_string()))
}

/// One document by a query with text binds.
fn one<T: DeserializeOwned>(
    conn: &mut SqliteConnection,
    what: &str,
    sql: &str,
    binds: &[&str],
) -> Result<Option<T>, Fail> {
    let mut query = diesel::sql_query(sql).into_boxed::<Sqlite>();
    for bind in binds {
        query = query.bind::<Text, _>((*bind).to_owned());
    }
    let row: Option<Doc> = query.get_result(conn).optional()?;
    Ok(row.map(|r| parse(what, &r.doc)).transpose()?)
}

/// The documents of a list page or a sweep that decode (the others are logged, counted and
/// skipped).
fn many<T: DeserializeOwned>(what: &'static str, rows: Vec<Doc>) -> Vec<T> {
    decodable(what, rows, |r| parse(what, &r.doc), skipped)
}

fn load_upload(conn: &mut SqliteConnection, id: &UploadId) -> Result<Upload, Fail> {
    one(conn, "upload", "SELECT doc FROM uploads WHERE id = ?", &[id.as_str()])?
        .ok_or_else(|| Fail(RepoError::Unexpected(format!("upload {id} vanished"))))
}

fn save_upload(conn: &mut SqliteConnection, upload: &Upload) -> Result<(), Fail> {
    diesel::sql_query("UPDATE uploads SET status = ?, doc = ? WHERE id = ?")
        .bind::<Text, _>(upload.status().as_str())
        .bind::<Text, _>(json(upload)?)
        .bind::<Text, _>(upload.id.as_str())
        .execute(conn)?;
    Ok(())
}

/// Adds `count` objects of `bytes` to the bucket's usage (negative: takes them away).
fn usage(conn: &mut SqliteConnection, bucket: &BucketId, count: i64, bytes: i64) -> Result<(), Fail> {
    diesel::sql_query(
        "INSERT INTO bucket_usage (bucket_id, object_count, total_size_bytes) VALUES (?1, max(?2, 0), max(?3, 0)) \
         ON CONFLICT (bucket_id) DO UPDATE SET object_count = max(object_count + ?2, 0), \
         total_size_bytes = max(total_size_bytes + ?3, 0)",
    )
    .bind::<Text, _>(bucket.as_str())
    .bind::<BigInt, _>(count)
    .bind::<BigInt, _>(bytes)
    .execute(conn)?;
    Ok(())
}

/// Bytes as a signed SQL integer.
fn signed(bytes: u64) -> i64 {
    i64::try_from(bytes).unwrap_or(i64::MAX)
}

/// Selects buckets' documents (`b`) with their usage, which lives in its own table (so a confirm
/// does not rewrite the bucket's document), followed by the query's own clauses.
macro_rules! bucket_docs {
    ($clauses:literal) => {
        concat!(
            "SELECT json_set(b.doc, '$.object_count', coalesce(u.object_count, 0), ",
            "'$.total_size_bytes', coalesce(u.total_size_bytes, 0)) AS doc ",
            "FROM buckets b LEFT JOIN bucket_usage u ON u.bucket_id = b.id ",
            $clauses
        )
    };
}

fn insert_object(conn: &mut SqliteConnection, object: &BucketObject) -> Result<(), Fail> {
    diesel::sql_query("INSERT INTO objects (id, bucket_id, created_at, doc) VALUES (?, ?, ?, ?)")
        .bind::<Text, _>(object.id.as_str())
        .bind::<Text, _>(object.bucket_id.as_str())
        .bind::<BigInt, _>(micros(object.created_at))
        .bind::<Text, _>(json(object)?)
        .execute(conn)?;
    for blob in &object.blobs {
        diesel::sql_query("INSERT INTO blobs (id, object_id, s3_key) VALUES (?, ?, ?)")
            .bind::<Text, _>(blob.id.as_str())
            .bind::<Text, _>(object.id.as_str())
            .bind::<Text, _>(blob.key.as_str())
            .execute(conn)?;
    }
    Ok(())
}

fn claim(
    conn: &mut SqliteConnection,
    scope: &str,
    sha: &str,
    upload: &str,
    object: Option<&str>,
) -> Result<bool, Fail> {
    let inserted = diesel::sql_query(
        "INSERT INTO content_claims (scope, sha256, upload_id, object_id) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
    )
    .bind::<Text, _>(scope)
    .bind::<Text, _>(sha)
    .bind::<Text, _>(upload)
    .bind::<Nullable<Text>, _>(object)
    .execute(conn)?;
    Ok(inserted == 1)
}

#[derive(QueryableByName)]
struct ClaimRow {
    #[diesel(sql_type = Text)]
    upload_id: String,
    #[diesel(sql_type = Nullable<Text>)]
    object_id: Option<String>,
}

/// The unit of work's primitives on one SQLite transaction (the rules that combine them are the
/// plans of `stowage_domain::ports::unit_of_work`). Every method is synchronous on the connection.
struct SqliteWork<'c> {
    conn: &'c mut SqliteConnection,
}

#[async_trait]
impl UploadWork for SqliteWork<'_> {
    async fn lock_upload(&mut self, id: &UploadId) -> Result<Upload, RepoError> {
        // The immediate transaction already holds SQLite's write lock.
        load_upload(self.conn, id).map_err(|e| e.0)
    }

    async fn claim_content(
        &mut self,
        claim: &ContentClaim,
        upload: &UploadId,
        object: Option<&ObjectId>,
        _now: OffsetDateTime,
    ) -> Result<Option<ClaimHolder>, RepoError> {
        let (scope, sha) = (claim.scope.as_str(), claim.sha256.as_str());
        if self::claim(self.conn, scope, sha, upload.as_str(), object.map(ObjectId::as_str)).map_err(|e| e.0)? {
            return Ok(None);
        }
        let holder: ClaimRow =
            diesel::sql_query("SELECT upload_id, object_id FROM content_claims WHERE scope = ? AND sha256 = ?")
                .bind::<Text, _>(scope)
                .bind::<Text, _>(sha)
                .get_result(self.conn)
                .map_err(|e| crate::from_diesel(&e))?;
        Ok(Some(ClaimHolder {
            upload: UploadId::parse(&holder.upload_id).map_err(|e| corrupt("claim holder", e))?,
            object: holder
                .object_id
                .map(|o| ObjectId::parse(&o).map_err(|e| corrupt("claim object", e)))
                .transpose()?,
        }))
    }

    async fn insert_object(&mut self, object: &BucketObject, _now: OffsetDateTime) -> Result<(), RepoError> {
        insert_object(self.conn, object).map_err(|e| e.0)
    }

    async fn locked_usage_bytes(&mut self, bucket: &BucketId) -> Result<u64, RepoError> {
        // The transaction holds SQLite's write lock: no other transaction adds meanwhile.
        let used: Count = diesel::sql_query(
            "SELECT coalesce((SELECT total_size_bytes FROM bucket_usage WHERE bucket_id = ?), 0) AS n",
        )
        .bind::<Text, _>(bucket.as_str())
        .get_result(self.conn)
        .map_err(|e| crate::from_diesel(&e))?;
        Ok(u64::try_from(used.n).unwrap_or(0))
    }

    async fn add_object_usage(&mut self, bucket: &BucketId, bytes: u64, _now: OffsetDateTime) -> Result<(), RepoError> {
        usage(self.conn, bucket, 1, signed(bytes)).map_err(|e| e.0)
    }

    async fn insert_batch(&mut self, batch: &Batch) -> Result<(), RepoError> {
        insert_batch(self.conn, batch).map_err(|e| e.0)
    }

    async fn enqueue(&mut self, task: &NewTask, now: OffsetDateTime) -> Result<(), RepoError> {
        insert_task(self.conn, task, now).map_err(|e| e.0)
    }

    async fn save_upload(&mut self, upload: &Upload) -> Result<(), RepoError> {
        save_upload(self.conn, upload).map_err(|e| e.0)
    }

    async fn lock_object(&mut self, bucket: &BucketId, id: &ObjectId) -> Result<Option<BucketObject>, RepoError> {
        let sql = "SELECT doc FROM objects WHERE id = ? AND bucket_id = ?";
        one::<BucketObject>(self.conn, "object", sql, &[id.as_str(), bucket.as_str()]).map_err(|e| e.0)
    }

    async fn release_claims_of(&mut self, object: &ObjectId) -> Result<(), RepoError> {
        diesel::sql_query("DELETE FROM content_claims WHERE object_id = ?")
            .bind::<Text, _>(object.as_str())
            .execute(self.conn)
            .map(drop)
            .map_err(|e| crate::from_diesel(&e))
    }

    async fn uploads_pointing_at(&mut self, object: &ObjectId) -> Result<Vec<Upload>, RepoError> {
        let rows: Vec<Doc> = diesel::sql_query("SELECT doc FROM uploads WHERE json_extract(doc, '$.object_id') = ?")
            .bind::<Text, _>(object.as_str())
            .load(self.conn)
            .map_err(|e| crate::from_diesel(&e))?;
        // Strict: a write must not skip an upload it cannot read.
        rows.iter().map(|r| parse::<Upload>("upload", &r.doc)).collect()
    }

    async fn delete_object(&mut self, object: &ObjectId) -> Result<(), RepoError> {
        for sql in ["DELETE FROM blobs WHERE object_id = ?", "DELETE FROM objects WHERE id = ?"] {
            diesel::sql_query(sql)
                .bind::<Text, _>(object.as_str())
                .execute(self.conn)
                .map_err(|e| crate::from_diesel(&e))?;
        }
        Ok(())
    }

    async fn remove_object_usage(
        &mut self,
        bucket: &BucketId,
        bytes: u64,
        _now: OffsetDateTime,
    ) -> Result<(), RepoError> {
        usage(self.conn, bucket, -1, -signed(bytes)).map_err(|e| e.0)
    }

    async fn key_in_use(&mut self, key: &ObjectKey) -> Result<bool, RepoError> {
        let used: Count = diesel::sql_query("SELECT count(*) AS n FROM blobs WHERE s3_key = ?")
            .bind::<Text, _>(key.as_str())
            .get_result(self.conn)
            .map_err(|e| crate::from_diesel(&e))?;
        Ok(used.n > 0)
    }
}

fn insert_batch(conn: &mut SqliteConnection, batch: &Batch) -> Result<(), Fail> {
    diesel::sql_query("INSERT INTO batches (id, bucket_id, status, doc) VALUES (?, ?, ?, ?)")
        .bind::<Text, _>(batch.id.as_str())
        .bind::<Text, _>(batch.bucket_id.as_str())
        .bind::<Text, _>(batch.status.as_str())
        .bind::<Text, _>(json(batch)?)
        .execute(conn)?;
    Ok(())
}

fn save_batch(conn: &mut SqliteConnection, batch: &Batch) -> Result<(), Fail> {
    diesel::sql_query("UPDATE batches SET status = ?, doc = ? WHERE id = ?")
        .bind::<Text, _>(batch.status.as_str())
        .bind::<Text, _>(json(batch)?)
        .bind::<Text, _>(batch.id.as_str())
        .execute(conn)?;
    Ok(())
}

impl SqliteRepository {
    /// Applies a transition plan (the rule is the domain's) in one transaction.
    async fn transition(&self, plan: TransitionPlan) -> Result<Transition, RepoError> {
        self.tx(move |conn| run_ready(plan.apply(&mut SqliteWork { conn })).map_err(Fail)).await
    }

    /// Reads documents.
    async fn docs<T: DeserializeOwned + Send + 'static>(
        &self,
        what: &'static str,
        sql: String,
        binds: Vec<String>,
    ) -> Result<Vec<T>, RepoError> {
        self.run(move |conn| {
            let mut query = diesel::sql_query(sql).into_boxed::<Sqlite>();
            for bind in binds {
                query = query.bind::<Text, _>(bind);
            }
            let rows: Vec<Doc> = query.load(conn).map_err(|e| crate::from_diesel(&e))?;
            Ok(many(what, rows))
        })
        .await
    }

    async fn doc<T: DeserializeOwned + Send + 'static>(
        &self,
        what: &'static str,
        sql: &'static str,
        binds: Vec<String>,
    ) -> Result<Option<T>, RepoError> {
        // One named document: a corrupt one is an error, not a silent 404.
        self.run(move |conn| {
            let binds: Vec<&str> = binds.iter().map(String::as_str).collect();
            one(conn, what, sql, &binds).map_err(|Fail(e)| e)
        })
        .await
    }

    async fn insert(&self, sql: &'static str, binds: Vec<String>) -> Result<(), RepoError> {
        self.tx(move |conn| {
            let mut query = diesel::sql_query(sql).into_boxed::<Sqlite>();
            for bind in binds {
                query = query.bind::<Text, _>(bind);
            }
            Ok(query.execute(conn).map(drop)?)
        })
        .await
    }
}

#[async_trait]
impl UploadRepo for SqliteRepository {
    async fn insert_upload(&self, upload: &Upload, idempotency_key: Option<String>) -> Result<InsertUpload, RepoError> {
        let upload = upload.clone();
        self.tx(move |conn| {
            if let Some(key) = &idempotency_key
                && let Some(existing) = one(
                    conn,
                    "upload",
                    "SELECT doc FROM uploads WHERE bucket_id = ? AND idempotency_key = ?",
                    &[upload.bucket_id.as_str(), key],
                )?
            {
                return Ok(InsertUpload::Existing(existing));
            }
            diesel::sql_query(
                "INSERT INTO uploads (id, bucket_id, status, created_at, expires_at, idempotency_key, doc) \
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind::<Text, _>(upload.id.as_str())
            .bind::<Text, _>(upload.bucket_id.as_str())
            .bind::<Text, _>(upload.status().as_str())
            .bind::<BigInt, _>(micros(upload.created_at))
            .bind::<BigInt, _>(micros(upload.expires_at))
            .bind::<Nullable<Text>, _>(idempotency_key.as_deref())
            .bind::<Text, _>(json(&upload)?)
            .execute(conn)?;
            Ok(InsertUpload::Inserted)
        })
        .await
    }

    async fn get_upload(&self, bucket: &BucketId, id: &UploadId) -> Result<Option<Upload>, RepoError> {
        let sql = "SELECT doc FROM uploads WHERE id = ? AND bucket_id = ?";
        self.doc("upload", sql, vec![id.to_string(), bucket.to_string()]).await
    }

    async fn list_uploads(&self, bucket: &BucketId, query: &UploadQuery) -> Result<UploadPage, RepoError> {
        let limit = query.limit.clamp(1, 100);
        let mut sql = "SELECT doc, id, created_at FROM uploads WHERE bucket_id = ?".to_owned();
        let mut binds = vec![Bind::Text(bucket.to_string())];
        if let Some(status) = query.status {
            sql.push_str(" AND status = ?");
            binds.push(Bind::Text(status.as_str().to_owned()));
        }
        for (key, value) in query.metadata.iter().flatten() {
            sql.push_str(" AND json_extract(doc, ?) = json_extract(?, '$')");
            binds.push(Bind::Text(format!("$.metadata.\"{}\"", key.replace('"', "\\\""))));
            binds.push(Bind::Text(value.to_string()));
        }
        if let Some(from) = query.created_from {
            sql.push_str(" AND created_at >= ?");
            binds.push(Bind::Int(micros(from)));
        }
        if let Some(before) = query.created_before {
            sql.push_str(" AND created_at < ?");
            binds.push(Bind::Int(micros(before)));
        }
        if let Some(after) = &query.after {
            sql.push_str(if query.newest_first {
                " AND (created_at, id) < (?, ?)"
            } else {
                " AND (created_at, id) > (?, ?)"
            });
            binds.extend([Bind::Int(micros(after.created_at)), Bind::Text(after.id.to_string())]);
        }
        sql.push_str(if query.newest_first {
            " ORDER BY created_at DESC, id DESC"
        } else {
            " ORDER BY created_at, id"
        });
        sql.push_str(&format!(" LIMIT {}", limit + 1));
        let rows = self
            .run(move |conn| {
                let mut q = diesel::sql_query(sql).into_boxed::<Sqlite>();
                for bind in binds {
                    q = match bind {
                        Bind::Int(v) => q.bind::<BigInt, _>(v),
                        Bind::Text(v) => q.bind::<Text, _>(v),
                    };
                }
                let rows: Vec<PagedDoc> = q.load(conn).map_err(|e| crate::from_diesel(&e))?;
                Ok(rows)
            })
            .await?;
        let more = rows.len() > limit as usize;
        let rows: Vec<PagedDoc> = rows.into_iter().take(limit as usize).collect();
        // The cursor comes from the last row read, decodable or not, so a skipped row never ends
        // the listing early.
        let next = more
            .then(|| {
                rows.last()
                    .and_then(|r| Some(UploadCursor { created_at: from_micros(r.created_at), id: r.id.parse().ok()? }))
            })
            .flatten();
        let uploads = decodable("uploads", rows, |r| parse("upload", &r.doc), skipped);
        Ok(UploadPage { uploads, next })
    }

    async fn find_claim(&self, scope: &ClaimScope, sha256: &Sha256Hex) -> Result<Option<Upload>, RepoError> {
        let sql = "SELECT u.doc AS doc FROM content_claims c JOIN uploads u ON u.id = c.upload_id \
                   WHERE c.scope = ? AND c.sha256 = ?";
        self.doc("upload", sql, vec![scope.as_str().to_owned(), sha256.to_string()]).await
    }

    async fn release_claim(
        &self,
        scope: &ClaimScope,
        sha256: &Sha256Hex,
        holder: &UploadId,
    ) -> Result<bool, RepoError> {
        let binds = [scope.as_str().to_owned(), sha256.to_string(), holder.to_string()];
        self.tx(move |conn| {
            let deleted =
                diesel::sql_query("DELETE FROM content_claims WHERE scope = ? AND sha256 = ? AND upload_id = ?")
                    .bind::<Text, _>(&binds[0])
                    .bind::<Text, _>(&binds[1])
                    .bind::<Text, _>(&binds[2])
                    .execute(conn)?;
            Ok(deleted > 0)
        })
        .await
    }

    async fn begin_processing(
        &self,
        id: &UploadId,
        expected: UploadStatus,
        task: &NewTask,
        now: OffsetDateTime,
    ) -> Result<Transition, RepoError> {
        let step = Step::BeginProcessing(task.clone());
        self.transition(TransitionPlan { upload_id: id.clone(), expected, step, now }).await
    }

    async fn apply_confirmation(&self, plan: &ConfirmationPlan) -> Result<ConfirmationOutcome, RepoError> {
        let plan = plan.clone();
        self.tx(move |conn| run_ready(plan.apply(&mut SqliteWork { conn })).map_err(Fail)).await
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
        self.transition(TransitionPlan { upload_id: id.clone(), expected, step, now }).await
    }

    async fn cancel_upload(
        &self,
        id: &UploadId,
        expected: UploadStatus,
        now: OffsetDateTime,
    ) -> Result<Transition, RepoError> {
        self.transition(TransitionPlan { upload_id: id.clone(), expected, step: Step::Cancel, now }).await
    }

    async fn list_expirable(&self, cutoff: OffsetDateTime, limit: u32) -> Result<Vec<Upload>, RepoError> {
        let sql = "SELECT doc FROM uploads WHERE status = 'PENDING' AND expires_at < ? ORDER BY expires_at LIMIT ?";
        self.run(move |conn| {
            let rows: Vec<Doc> = diesel::sql_query(sql)
                .bind::<BigInt, _>(micros(cutoff))
                .bind::<BigInt, _>(i64::from(limit))
                .load(conn)
                .map_err(|e| crate::from_diesel(&e))?;
            Ok(many("uploads", rows))
        })
        .await
    }

    async fn list_pending(
        &self,
        since: OffsetDateTime,
        after: Option<PendingCursor>,
        limit: u32,
    ) -> Result<Vec<Upload>, RepoError> {
        // Without a cursor, the cursor is "just before `since`" (no id sorts before "").
        let (after_at, after_id) =
            after.map_or((micros(since) - 1, String::new()), |c| (micros(c.expires_at), c.id.as_str().to_owned()));
        let sql = "SELECT doc FROM uploads WHERE status = 'PENDING' AND expires_at >= ? \
                   AND (expires_at > ? OR (expires_at = ? AND id > ?)) ORDER BY expires_at, id LIMIT ?";
        self.run(move |conn| {
            let rows: Vec<Doc> = diesel::sql_query(sql)
                .bind::<BigInt, _>(micros(since))
                .bind::<BigInt, _>(after_at)
                .bind::<BigInt, _>(after_at)
                .bind::<Text, _>(after_id)
                .bind::<BigInt, _>(i64::from(limit))
                .load(conn)
                .map_err(|e| crate::from_diesel(&e))?;
            Ok(many("uploads", rows))
        })
        .await
    }
}

#[async_trait]
impl ObjectRepo for SqliteRepository {
    async fn update_blob_details(
        &self,
        blob: &BlobId,
        details: &BlobDetails,
        event: Option<NewTask>,
    ) -> Result<(), RepoError> {
        let (blob, details) = (blob.clone(), details.clone());
        self.tx(move |conn| {
            let owner: Option<Id> = diesel::sql_query("SELECT object_id AS id FROM blobs WHERE id = ?")
                .bind::<Text, _>(blob.as_str())
                .get_result(conn)
                .optional()?;
            let Some(owner) = owner else { return Ok(()) };
            let Some(mut object) =
                one::<BucketObject>(conn, "object", "SELECT doc FROM objects WHERE id = ?", &[&owner.id])?
            else {
                return Ok(());
            };
            for b in object.blobs.iter_mut().filter(|b| b.id == blob) {
                b.details = details.clone();
            }
            diesel::sql_query("UPDATE objects SET doc = ? WHERE id = ?")
                .bind::<Text, _>(json(&object)?)
                .bind::<Text, _>(owner.id)
                .execute(conn)?;
            if let Some(event) = &event {
                insert_task(conn, event, OffsetDateTime::now_utc())?;
            }
            Ok(())
        })
        .await
    }

    async fn list_objects(
        &self,
        bucket: &BucketId,
        after: Option<ObjectId>,
        limit: u32,
    ) -> Result<Vec<BucketObject>, RepoError> {
        let limit = limit.clamp(1, 100);
        match after {
            None => {
                let sql = format!("SELECT doc FROM objects WHERE bucket_id = ? ORDER BY created_at, id LIMIT {limit}");
                self.docs("objects", sql, vec![bucket.to_string()]).await
            }
            Some(after) => {
                let sql = format!(
                    "SELECT doc FROM objects WHERE bucket_id = ? AND (created_at, id) > \
                     (SELECT created_at, id FROM objects WHERE id = ?) ORDER BY created_at, id LIMIT {limit}"
                );
                self.docs("objects", sql, vec![bucket.to_string(), after.to_string()]).await
            }
        }
    }

    async fn delete_object(&self, bucket: &BucketId, id: &ObjectId) -> Result<Option<Vec<ObjectKey>>, RepoError> {
        let deletion =
            ObjectDeletion { bucket_id: bucket.clone(), object_id: id.clone(), now: OffsetDateTime::now_utc() };
        self.tx(move |conn| run_ready(deletion.apply(&mut SqliteWork { conn })).map_err(Fail)).await
    }

    async fn attach_object(&self, object: &BucketObject, uploads: &[UploadId]) -> Result<AttachOutcome, RepoError> {
        let (object, uploads) = (object.clone(), uploads.to_vec());
        self.tx(move |conn| {
            let mut loaded = Vec::with_capacity(uploads.len());
            for id in &uploads {
                let upload = load_upload(conn, id)?;
                if !upload.is_attachable() {
                    return Ok(AttachOutcome::Taken(id.clone()));
                }
                loaded.push(upload);
            }
            insert_object(conn, &object)?;
            for mut upload in loaded {
                upload.object_id = Some(object.id.clone());
                upload.updated_at = object.created_at;
                save_upload(conn, &upload)?;
                diesel::sql_query("UPDATE content_claims SET object_id = ? WHERE upload_id = ? AND object_id IS NULL")
                    .bind::<Text, _>(object.id.as_str())
                    .bind::<Text, _>(upload.id.as_str())
                    .execute(conn)?;
            }
            let size = object.blobs.iter().map(|b| b.details.size_bytes).sum();
            usage(conn, &object.bucket_id, 1, signed(size))?;
            Ok(AttachOutcome::Created)
        })
        .await
    }

    async fn get_object(&self, bucket: &BucketId, id: &ObjectId) -> Result<Option<BucketObject>, RepoError> {
        let sql = "SELECT doc FROM objects WHERE id = ? AND bucket_id = ?";
        self.doc("object", sql, vec![id.to_string(), bucket.to_string()]).await
    }
}

#[async_trait]
impl TenancyRepo for SqliteRepository {
    async fn create_namespace(&self, namespace: &Namespace) -> Result<(), RepoError> {
        let binds = vec![namespace.id.to_string(), namespace.name.to_string(), json(namespace)?];
        self.insert("INSERT INTO namespaces (id, name, doc) VALUES (?, ?, ?)", binds).await
    }

    async fn find_namespace(&self, id_or_name: &str) -> Result<Option<Namespace>, RepoError> {
        let sql = "SELECT doc FROM namespaces WHERE id = ? OR name = ?";
        self.doc("namespace", sql, vec![id_or_name.to_owned(), id_or_name.to_owned()]).await
    }

    async fn ping(&self) -> Result<(), RepoError> {
        self.run(|conn| diesel::sql_query("SELECT 1").execute(conn).map(drop).map_err(|e| crate::from_diesel(&e))).await
    }

    async fn list_buckets(&self, namespace: &NamespaceId) -> Result<Vec<Bucket>, RepoError> {
        let sql = bucket_docs!("WHERE b.namespace_id = ? ORDER BY b.name").to_owned();
        self.docs("buckets", sql, vec![namespace.to_string()]).await
    }

    async fn create_bucket(&self, bucket: &Bucket) -> Result<(), RepoError> {
        let binds =
            vec![bucket.id.to_string(), bucket.namespace_id.to_string(), bucket.name.to_string(), json(bucket)?];
        self.insert("INSERT INTO buckets (id, namespace_id, name, doc) VALUES (?, ?, ?, ?)", binds).await
    }

    async fn find_bucket(&self, namespace: &NamespaceId, id_or_name: &str) -> Result<Option<Bucket>, RepoError> {
        let sql = bucket_docs!("WHERE b.namespace_id = ? AND (b.id = ? OR b.name = ?)");
        self.doc("bucket", sql, vec![namespace.to_string(), id_or_name.to_owned(), id_or_name.to_owned()]).await
    }
}

#[async_trait]
impl BatchRepo for SqliteRepository {
    async fn missing_objects(&self, bucket: &BucketId, ids: &[ObjectId]) -> Result<Vec<ObjectId>, RepoError> {
        let (bucket, ids) = (bucket.clone(), ids.to_vec());
        self.run(move |conn| {
            let mut missing = Vec::new();
            for id in ids {
                let found: Count =
                    diesel::sql_query("SELECT count(*) AS n FROM objects WHERE id = ? AND bucket_id = ?")
                        .bind::<Text, _>(id.as_str())
                        .bind::<Text, _>(bucket.as_str())
                        .get_result(conn)
                        .map_err(|e| crate::from_diesel(&e))?;
                if found.n == 0 {
                    missing.push(id);
                }
            }
            Ok(missing)
        })
        .await
    }

    async fn create(&self, batch: &Batch) -> Result<(), RepoError> {
        let batch = batch.clone();
        self.tx(move |conn| insert_batch(conn, &batch)).await
    }

    async fn get(&self, bucket: &BucketId, id: &BatchId) -> Result<Option<Batch>, RepoError> {
        self.doc(
            "batch",
            "SELECT doc FROM batches WHERE id = ? AND bucket_id = ?",
            vec![id.to_string(), bucket.to_string()],
        )
        .await
    }

    async fn submit(
        &self,
        bucket: &BucketId,
        id: &BatchId,
        task: &NewTask,
        now: OffsetDateTime,
    ) -> Result<SubmitOutcome, RepoError> {
        let (bucket, id, task) = (bucket.clone(), id.clone(), task.clone());
        self.tx(move |conn| {
            let Some(mut batch) = one::<Batch>(
                conn,
                "batch",
                "SELECT doc FROM batches WHERE id = ? AND bucket_id = ?",
                &[id.as_str(), bucket.as_str()],
            )?
            else {
                return Ok(SubmitOutcome::NotFound);
            };
            if batch.status != TaskStatus::Draft {
                return Ok(SubmitOutcome::NotDraft(batch));
            }
            insert_task(conn, &task, now)?;
            batch.status = TaskStatus::Pending;
            batch.task_id = Some(task.id.clone());
            batch.updated_at = now;
            save_batch(conn, &batch)?;
            let queued =
                load_task(conn, &task.id)?.ok_or_else(|| Fail(RepoError::Unexpected("task vanished".into())))?;
            Ok(SubmitOutcome::Submitted(batch, queued))
        })
        .await
    }

    async fn finish(
        &self,
        id: &BatchId,
        status: TaskStatus,
        now: OffsetDateTime,
        event: Option<NewTask>,
    ) -> Result<(), RepoError> {
        let id = id.clone();
        self.tx(move |conn| {
            let Some(mut batch) = one::<Batch>(conn, "batch", "SELECT doc FROM batches WHERE id = ?", &[id.as_str()])?
            else {
                return Ok(());
            };
            // Only the first finish counts (a re-run task neither changes it nor sends a second event).
            if matches!(batch.status, TaskStatus::Completed | TaskStatus::CompletedWithErrors | TaskStatus::Failed) {
                return Ok(());
            }
            batch.status = status;
            batch.updated_at = now;
            save_batch(conn, &batch)?;
            if let Some(event) = &event {
                insert_task(conn, event, now)?;
            }
            Ok(())
        })
        .await
    }
}

/// Keys are found by the hash of their secret (the primary key); the rest is read from the
/// stored document.
#[async_trait]
impl KeyRepo for SqliteRepository {
    async fn create_api_key(&self, key: &ApiKey) -> Result<(), RepoError> {
        self.insert("INSERT INTO api_keys (key_hash, doc) VALUES (?, ?)", vec![key.key_hash.clone(), json(key)?]).await
    }

    async fn find_api_key(&self, key_hash: &str) -> Result<Option<ApiKey>, RepoError> {
        self.doc("api key", "SELECT doc FROM api_keys WHERE key_hash = ?", vec![key_hash.to_owned()]).await
    }

    async fn list_api_keys(&self, namespace: Option<NamespaceId>) -> Result<Vec<ApiKey>, RepoError> {
        let mut keys: Vec<ApiKey> = match namespace {
            None => self.docs("api_keys", "SELECT doc FROM api_keys".to_owned(), Vec::new()).await?,
            Some(namespace) => {
                let sql = "SELECT doc FROM api_keys WHERE EXISTS \
                           (SELECT 1 FROM json_each(api_keys.doc, '$.namespaces') WHERE value = ?)";
                self.docs("api_keys", sql.to_owned(), vec![namespace.to_string()]).await?
            }
        };
        keys.sort_by(|a, b| (a.created_at, a.id.as_str()).cmp(&(b.created_at, b.id.as_str())));
        Ok(keys)
    }

    async fn revoke_api_key(&self, id: &KeyId, now: OffsetDateTime) -> Result<Option<ApiKey>, RepoError> {
        self.update_key(id, move |key| key.revoke(now)).await
    }

    async fn touch_api_key(&self, id: &KeyId, now: OffsetDateTime) -> Result<(), RepoError> {
        self.update_key(id, move |key| key.last_used_at = Some(now)).await.map(drop)
    }
}

impl SqliteRepository {
    /// Applies `change` to the key `id` and stores it, in one transaction; `None` when there is
    /// no such key.
    async fn update_key(
        &self,
        id: &KeyId,
        change: impl FnOnce(&mut ApiKey) + Send + 'static,
    ) -> Result<Option<ApiKey>, RepoError> {
        let id = id.clone();
        self.tx(move |conn| {
            let sql = "SELECT doc FROM api_keys WHERE json_extract(doc, '$.id') = ?";
            let Some(mut key) = one::<ApiKey>(conn, "api key", sql, &[id.as_str()])? else { return Ok(None) };
            change(&mut key);
            diesel::sql_query("UPDATE api_keys SET doc = ? WHERE key_hash = ?")
                .bind::<Text, _>(json(&key)?)
                .bind::<Text, _>(key.key_hash.as_str())
                .execute(conn)?;
            Ok(Some(key))
        })
        .await
    }
}
