//! The unit of work of an upload's transaction: the few writes a confirmation or a transition is
//! made of, each a primitive the database adapters implement inside one transaction
//! ([`UploadWork`]), and the one place that decides which of them run:
//!
//! - [`ConfirmationPlan::apply`]: claim the content, then either complete the upload as a
//!   duplicate of the claim's holder, or write the object, its usage, the auto-submitted batch
//!   and complete it as the original; the `upload.completed` event either way;
//! - [`TransitionPlan::apply`]: begin processing (with its task), fail (with the `upload.failed`
//!   event) or cancel;
//! - [`ObjectDeletion::apply`]: release the content, detach the uploads, delete the rows, shrink
//!   the usage, and say which storage keys nothing uses any more.
//!
//! Plans on an upload start by locking it and do nothing but report it when it is no longer in the
//! status the use case read. See docs/domain.md ("Confirm, step by step").

use crate::batch::Batch;
use crate::bucket::exceeds_quota;
use crate::dedup::ContentClaim;
use crate::error::RepoError;
use crate::ids::{BucketId, ObjectId, UploadId};
use crate::names::ObjectKey;
use crate::object::BucketObject;
use crate::ports::{ConfirmationOutcome, ConfirmationPlan, Transition};
use crate::status::UploadStatus;
use crate::task::NewTask;
use crate::upload::{Completion, Failure, TransitionError, Upload};
use crate::webhook::{self, EventType, WebhookTarget};
use async_trait::async_trait;
use time::OffsetDateTime;

/// Who holds a content claim another upload tried to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimHolder {
    /// The original upload.
    pub upload: UploadId,
    /// Its object, if it created one.
    pub object: Option<ObjectId>,
}

/// The primitives of an upload's transaction. Every method runs inside the same
/// transaction; an error from any of them rolls everything back.
#[async_trait]
pub trait UploadWork: Send {
    /// Reads the upload and keeps it locked until the transaction ends.
    async fn lock_upload(&mut self, id: &UploadId) -> Result<Upload, RepoError>;
    /// Claims the content for `upload` (and its `object`): `None` when this call made the claim,
    /// else who held it already (waiting for a concurrent claimer's commit first).
    async fn claim_content(
        &mut self,
        claim: &ContentClaim,
        upload: &UploadId,
        object: Option<&ObjectId>,
        now: OffsetDateTime,
    ) -> Result<Option<ClaimHolder>, RepoError>;
    /// Inserts an object and its blobs.
    async fn insert_object(&mut self, object: &BucketObject, now: OffsetDateTime) -> Result<(), RepoError>;
    /// The bucket's stored bytes, locked against other transactions' additions to this bucket
    /// until this one ends (so that a quota checked against it holds under concurrency).
    async fn locked_usage_bytes(&mut self, bucket: &BucketId) -> Result<u64, RepoError>;
    /// Adds one object of `bytes` to the bucket's usage counters.
    async fn add_object_usage(&mut self, bucket: &BucketId, bytes: u64, now: OffsetDateTime) -> Result<(), RepoError>;
    /// Inserts a batch.
    async fn insert_batch(&mut self, batch: &Batch) -> Result<(), RepoError>;
    /// Writes a task (the queue's outbox: it runs once the transaction commits).
    async fn enqueue(&mut self, task: &NewTask, now: OffsetDateTime) -> Result<(), RepoError>;
    /// Writes the upload's new state.
    async fn save_upload(&mut self, upload: &Upload) -> Result<(), RepoError>;
    /// Reads the bucket's object (with its blobs) and keeps it locked until the transaction ends.
    async fn lock_object(&mut self, bucket: &BucketId, id: &ObjectId) -> Result<Option<BucketObject>, RepoError>;
    /// Deletes the content claims that name the object.
    async fn release_claims_of(&mut self, object: &ObjectId) -> Result<(), RepoError>;
    /// The uploads whose object is `object`, locked.
    async fn uploads_pointing_at(&mut self, object: &ObjectId) -> Result<Vec<Upload>, RepoError>;
    /// Deletes the object and its blobs.
    async fn delete_object(&mut self, object: &ObjectId) -> Result<(), RepoError>;
    /// Removes one object of `bytes` from the bucket's usage counters.
    async fn remove_object_usage(
        &mut self,
        bucket: &BucketId,
        bytes: u64,
        now: OffsetDateTime,
    ) -> Result<(), RepoError>;
    /// Whether a blob still stores its bytes under `key`.
    async fn key_in_use(&mut self, key: &ObjectKey) -> Result<bool, RepoError>;
}

impl ConfirmationPlan {
    /// Applies the plan through `work`, all of it or (on an error) none of it: the rule both
    /// databases follow, written once.
    ///
    /// # Errors
    /// The first primitive that fails, or a stored upload the state machine refuses to complete.
    pub async fn apply(&self, work: &mut dyn UploadWork) -> Result<ConfirmationOutcome, RepoError> {
        let upload = work.lock_upload(&self.upload_id).await?;
        if upload.status != self.expected {
            return Ok(ConfirmationOutcome::Stale(upload));
        }
        let object_id = self.object.as_ref().map(|o| o.id.clone());
        if let Some(claim) = &self.claim
            && let Some(holder) = work.claim_content(claim, &self.upload_id, object_id.as_ref(), self.now).await?
        {
            if !self.holder_trusted {
                return Ok(ConfirmationOutcome::ClaimHeld);
            }
            let completion = Completion::Duplicate { of: holder.upload, object: holder.object };
            let duplicate = self.complete(&upload, completion)?;
            self.save_and_notify(work, &duplicate).await?;
            return Ok(ConfirmationOutcome::Duplicate(duplicate));
        }
        if let Some(object) = &self.object {
            if self.quota_bytes.is_some() {
                let used = work.locked_usage_bytes(&self.bucket_id).await?;
                if exceeds_quota(self.quota_bytes, used, self.verified.size) {
                    // Undo the claim made above, so that this transaction writes nothing.
                    work.release_claims_of(&object.id).await?;
                    return Ok(ConfirmationOutcome::OverQuota(upload));
                }
            }
            work.add_object_usage(&self.bucket_id, self.verified.size, self.now).await?;
            work.insert_object(object, self.now).await?;
        }
        if let Some((batch, task)) = &self.batch {
            work.insert_batch(batch).await?;
            work.enqueue(task, self.now).await?;
        }
        let batch = self.batch.as_ref().map(|(b, t)| (b.id.clone(), t.id.clone()));
        let original = self.complete(&upload, Completion::Original { object: object_id, batch })?;
        self.save_and_notify(work, &original).await?;
        Ok(ConfirmationOutcome::Original(original))
    }

    fn complete(&self, upload: &Upload, completion: Completion) -> Result<Upload, RepoError> {
        upload.complete(self.verified.clone(), completion, self.now).map_err(|e| {
            RepoError::Unexpected(format!("the state machine refused to complete upload {}: {e}", upload.id))
        })
    }

    /// Saves the completed upload and, when the bucket has a webhook, writes its event's delivery
    /// task in the same transaction.
    async fn save_and_notify(&self, work: &mut dyn UploadWork, upload: &Upload) -> Result<(), RepoError> {
        work.save_upload(upload).await?;
        if let Some(target) = &self.webhook {
            work.enqueue(&webhook::upload_event(target, EventType::UploadCompleted, upload, self.now), self.now)
                .await?;
        }
        Ok(())
    }
}

/// One state-machine step on one upload — begin processing (with its task), record a failure
/// (expiry included; with its `upload.failed` event when the bucket has a webhook) or cancel —
/// applied only if the upload is still in the status the use case read.
#[derive(Debug, Clone, PartialEq)]
pub struct TransitionPlan {
    /// The upload.
    pub upload_id: UploadId,
    /// The status read before deciding; the step applies only if the upload is still in it.
    pub expected: UploadStatus,
    /// What happens.
    pub step: Step,
    /// When.
    pub now: OffsetDateTime,
}

/// The step of a [`TransitionPlan`].
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// PROCESSING, with the task that will verify it (written in the same transaction).
    BeginProcessing(NewTask),
    /// FAILED, and the `upload.failed` event's delivery task when the bucket has a webhook.
    Fail(Failure, Option<WebhookTarget>),
    /// CANCELED.
    Cancel,
}

impl TransitionPlan {
    /// Applies the step through `work`, all of it or none of it: the rule both databases follow,
    /// written once.
    ///
    /// # Errors
    /// The first primitive that fails, or a stored upload the state machine refuses to move.
    pub async fn apply(&self, work: &mut dyn UploadWork) -> Result<Transition, RepoError> {
        let upload = work.lock_upload(&self.upload_id).await?;
        if upload.status != self.expected {
            return Ok(Transition::Stale(upload));
        }
        let refused = |e: TransitionError| {
            RepoError::Unexpected(format!("the state machine refused a stored transition of {}: {e}", upload.id))
        };
        let next = match &self.step {
            Step::BeginProcessing(task) => {
                let processing = upload.begin_processing(task.id.clone(), self.now).map_err(refused)?;
                work.enqueue(task, self.now).await?;
                processing
            }
            Step::Fail(failure, _) => upload.record_failure(failure.clone(), self.now).map_err(refused)?,
            Step::Cancel => upload.cancel(self.now).map_err(refused)?,
        };
        work.save_upload(&next).await?;
        if let Step::Fail(_, Some(target)) = &self.step {
            work.enqueue(&webhook::upload_event(target, EventType::UploadFailed, &next, self.now), self.now).await?;
        }
        Ok(Transition::Applied(next))
    }
}

/// Deleting an object: its rows go, the content it held is released (a later upload of the same
/// bytes is an original again, never a duplicate of something gone), the uploads that pointed at
/// it (its original and its duplicates) are detached, the bucket's usage shrinks, and the keys
/// no other blob uses are returned for the caller to delete from storage after the commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectDeletion {
    /// The bucket it must be in.
    pub bucket_id: BucketId,
    /// The object.
    pub object_id: ObjectId,
    /// When.
    pub now: OffsetDateTime,
}

impl ObjectDeletion {
    /// Applies the deletion through `work`: `None` when the bucket has no such object (nothing
    /// written), else the storage keys no remaining blob uses.
    ///
    /// # Errors
    /// The first primitive that fails.
    pub async fn apply(&self, work: &mut dyn UploadWork) -> Result<Option<Vec<ObjectKey>>, RepoError> {
        let Some(object) = work.lock_object(&self.bucket_id, &self.object_id).await? else {
            return Ok(None);
        };
        work.release_claims_of(&self.object_id).await?;
        for mut upload in work.uploads_pointing_at(&self.object_id).await? {
            upload.detach_deleted_object(&self.object_id, self.now);
            work.save_upload(&upload).await?;
        }
        work.delete_object(&self.object_id).await?;
        let size = object.blobs.iter().map(|b| b.details.size_bytes).sum();
        work.remove_object_usage(&self.bucket_id, size, self.now).await?;
        let mut unreferenced = Vec::new();
        for blob in &object.blobs {
            if !work.key_in_use(&blob.key).await? && !unreferenced.contains(&blob.key) {
                unreferenced.push(blob.key.clone());
            }
        }
        Ok(Some(unreferenced))
    }
}

/// Runs a plan over a unit of work whose primitives never wait (SQLite's, synchronous on the
/// connection its blocking thread holds; the tests' recording fake) to its end in one poll, with
/// no executor. A primitive that does wait is an error, never a hang.
///
/// # Errors
/// The plan's error, or `Unexpected` when the future was not ready after one poll.
pub fn run_ready<T>(plan: impl std::future::Future<Output = Result<T, RepoError>>) -> Result<T, RepoError> {
    let mut plan = std::pin::pin!(plan);
    match plan.as_mut().poll(&mut std::task::Context::from_waker(std::task::Waker::noop())) {
        std::task::Poll::Ready(result) => result,
        std::task::Poll::Pending => Err(RepoError::Unexpected("a unit of work that must not wait tried to".to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::UploadStatus;
    use crate::upload::Verified;
    use crate::usecases::confirm::plan_confirmation;
    use crate::usecases::testkit::*;

    /// Records each primitive called, in order; the claim is held by `holder` when set.
    struct Recorder {
        upload: Upload,
        holder: Option<ClaimHolder>,
        object: Option<BucketObject>,
        pointing: Vec<Upload>,
        keys_in_use: Vec<ObjectKey>,
        /// The bucket's usage so far.
        used: u64,
        calls: Vec<String>,
    }

    #[async_trait]
    impl UploadWork for Recorder {
        async fn lock_upload(&mut self, _: &UploadId) -> Result<Upload, RepoError> {
            self.calls.push("lock".into());
            Ok(self.upload.clone())
        }
        async fn claim_content(
            &mut self,
            _: &ContentClaim,
            _: &UploadId,
            _: Option<&ObjectId>,
            _: OffsetDateTime,
        ) -> Result<Option<ClaimHolder>, RepoError> {
            self.calls.push("claim".into());
            Ok(self.holder.clone())
        }
        async fn insert_object(&mut self, _: &BucketObject, _: OffsetDateTime) -> Result<(), RepoError> {
            self.calls.push("object".into());
            Ok(())
        }
        async fn locked_usage_bytes(&mut self, _: &BucketId) -> Result<u64, RepoError> {
            self.calls.push(format!("read usage {}", self.used));
            Ok(self.used)
        }
        async fn add_object_usage(&mut self, _: &BucketId, bytes: u64, _: OffsetDateTime) -> Result<(), RepoError> {
            self.used += bytes;
            self.calls.push(format!("usage {bytes}"));
            Ok(())
        }
        async fn insert_batch(&mut self, _: &Batch) -> Result<(), RepoError> {
            self.calls.push("batch".into());
            Ok(())
        }
        async fn enqueue(&mut self, task: &NewTask, _: OffsetDateTime) -> Result<(), RepoError> {
            self.calls.push(format!("enqueue {}", task.task_type.as_str()));
            Ok(())
        }
        async fn save_upload(&mut self, upload: &Upload) -> Result<(), RepoError> {
            self.calls.push(format!("save {}", upload.status.as_str()));
            Ok(())
        }
        async fn lock_object(&mut self, _: &BucketId, _: &ObjectId) -> Result<Option<BucketObject>, RepoError> {
            self.calls.push("lock object".into());
            Ok(self.object.clone())
        }
        async fn release_claims_of(&mut self, _: &ObjectId) -> Result<(), RepoError> {
            self.calls.push("release claims".into());
            Ok(())
        }
        async fn uploads_pointing_at(&mut self, _: &ObjectId) -> Result<Vec<Upload>, RepoError> {
            self.calls.push("pointing".into());
            Ok(self.pointing.clone())
        }
        async fn delete_object(&mut self, _: &ObjectId) -> Result<(), RepoError> {
            self.calls.push("delete object".into());
            Ok(())
        }
        async fn remove_object_usage(&mut self, _: &BucketId, bytes: u64, _: OffsetDateTime) -> Result<(), RepoError> {
            self.calls.push(format!("usage -{bytes}"));
            Ok(())
        }
        async fn key_in_use(&mut self, key: &ObjectKey) -> Result<bool, RepoError> {
            Ok(self.keys_in_use.contains(key))
        }
    }

    fn plan(auto_submit_batch: bool) -> ConfirmationPlan {
        let world = World::new();
        let verified = Verified { etag: etag("0123456789abcdef0123456789abcdef"), size: 7, sha256: sha(7) };
        plan_confirmation(world.deps(), &bucket(), &pending_upload(), verified, auto_submit_batch)
    }

    fn recorder(holder: Option<ClaimHolder>) -> Recorder {
        Recorder {
            upload: pending_upload(),
            holder,
            object: None,
            pointing: Vec::new(),
            keys_in_use: Vec::new(),
            used: 0,
            calls: Vec::new(),
        }
    }

    fn run(plan: &ConfirmationPlan, work: &mut Recorder) -> ConfirmationOutcome {
        run_ready(plan.apply(work)).expect("applies")
    }

    #[test]
    fn the_claimant_writes_object_usage_batch_and_completes_as_the_original() {
        let plan = plan(true);
        assert!(plan.claim.is_some() && plan.object.is_some() && plan.batch.is_some());
        let mut work = recorder(None);
        let ConfirmationOutcome::Original(done) = run(&plan, &mut work) else { panic!("not the original") };
        assert_eq!(done.status, UploadStatus::Completed);
        assert_eq!(
            work.calls,
            ["lock", "claim", "usage 7", "object", "batch", "enqueue api_buckets_batches_submit", "save COMPLETED"]
        );
    }

    #[test]
    fn an_original_over_the_quota_releases_its_claim_and_writes_nothing_else() {
        let mut plan = plan(true);
        plan.quota_bytes = Some(10);
        let mut work = recorder(None);
        work.used = 4;
        let ConfirmationOutcome::OverQuota(unchanged) = run(&plan, &mut work) else { panic!("not over quota") };
        assert_eq!(unchanged.status, UploadStatus::Pending);
        assert_eq!(work.calls, ["lock", "claim", "read usage 4", "release claims"]);
        // Exactly at the quota is allowed.
        work.used = 3;
        work.calls.clear();
        assert!(matches!(run(&plan, &mut work), ConfirmationOutcome::Original(_)), "{:?}", work.calls);
    }

    #[test]
    fn a_held_claim_not_yet_trusted_ends_the_transaction_with_nothing_written() {
        let plan = plan(true);
        assert!(!plan.holder_trusted);
        let mut work = recorder(Some(ClaimHolder { upload: upload_id(9), object: None }));
        assert_eq!(run(&plan, &mut work), ConfirmationOutcome::ClaimHeld);
        assert_eq!(work.calls, ["lock", "claim"]);
    }

    #[test]
    fn a_held_claim_completes_the_upload_as_a_duplicate_and_writes_nothing_else() {
        let mut plan = plan(true);
        plan.holder_trusted = true;
        let holder = ClaimHolder { upload: upload_id(9), object: None };
        let mut work = recorder(Some(holder));
        let ConfirmationOutcome::Duplicate(done) = run(&plan, &mut work) else { panic!("not a duplicate") };
        assert_eq!(done.status, UploadStatus::Completed);
        assert_eq!(work.calls, ["lock", "claim", "save COMPLETED"]);
    }

    #[test]
    fn an_upload_that_moved_on_is_stale_and_nothing_is_written() {
        let plan = plan(false);
        let mut work = recorder(None);
        work.upload.status = UploadStatus::Processing;
        assert!(matches!(run(&plan, &mut work), ConfirmationOutcome::Stale(_)));
        assert_eq!(work.calls, ["lock"]);
    }

    fn transition(step: Step) -> TransitionPlan {
        TransitionPlan { upload_id: upload_id(1), expected: UploadStatus::Pending, step, now: NOW }
    }

    #[test]
    fn beginning_to_process_writes_the_task_with_the_upload() {
        let task = NewTask {
            id: crate::ids::TaskId::parse("task_tttttttttttttttt").unwrap(),
            task_type: crate::task::TaskType::new(crate::task::TaskType::CONFIRM_UPLOAD),
            inputs: serde_json::json!({}),
            max_attempts: 3,
        };
        let mut work = recorder(None);
        let out = run_ready(transition(Step::BeginProcessing(task)).apply(&mut work));
        assert!(matches!(out, Ok(Transition::Applied(u)) if u.status == UploadStatus::Processing));
        assert_eq!(work.calls, ["lock", "enqueue api_buckets_uploads_confirm", "save PROCESSING"]);
    }

    #[test]
    fn a_failure_writes_its_event_after_the_upload_and_a_cancel_writes_none() {
        let target = WebhookTarget {
            url: "https://example.com/hook".to_owned(),
            task_id: crate::ids::TaskId::parse("task_wwwwwwwwwwwwwwww").unwrap(),
            max_attempts: 3,
        };
        let mut work = recorder(None);
        let out = run_ready(transition(Step::Fail(Failure::expired(), Some(target))).apply(&mut work));
        assert!(matches!(out, Ok(Transition::Applied(u)) if u.status == UploadStatus::Failed));
        assert_eq!(work.calls, ["lock", "save FAILED", "enqueue webhook_delivery"]);

        let mut work = recorder(None);
        run_ready(transition(Step::Cancel).apply(&mut work)).unwrap();
        assert_eq!(work.calls, ["lock", "save CANCELED"]);
    }

    #[test]
    fn a_transition_of_an_upload_that_moved_on_writes_nothing() {
        let mut work = recorder(None);
        work.upload.status = UploadStatus::Completed;
        let out = run_ready(transition(Step::Cancel).apply(&mut work));
        assert!(matches!(out, Ok(Transition::Stale(_))));
        assert_eq!(work.calls, ["lock"]);
    }

    fn deletion() -> ObjectDeletion {
        let object = plan(false).object.expect("the plan creates an object");
        ObjectDeletion { bucket_id: object.bucket_id, object_id: object.id, now: NOW }
    }

    #[test]
    fn deleting_releases_detaches_shrinks_and_returns_the_keys_nothing_else_uses() {
        let object = plan(false).object.expect("an object");
        let key = object.blobs[0].key.clone();
        let mut work = recorder(None);
        work.object = Some(object.clone());
        let mut original = pending_upload();
        original.status = UploadStatus::Completed;
        original.object_id = Some(object.id.clone());
        work.pointing = vec![original];
        let keys = run_ready(deletion().apply(&mut work)).unwrap();
        assert_eq!(keys, Some(vec![key]));
        assert_eq!(
            work.calls,
            ["lock object", "release claims", "pointing", "save COMPLETED", "delete object", "usage -7"]
        );
    }

    #[test]
    fn a_key_another_blob_uses_is_kept_and_a_missing_object_writes_nothing() {
        let object = plan(false).object.expect("an object");
        let mut work = recorder(None);
        work.keys_in_use = vec![object.blobs[0].key.clone()];
        work.object = Some(object);
        assert_eq!(run_ready(deletion().apply(&mut work)).unwrap(), Some(vec![]));

        let mut work = recorder(None);
        assert_eq!(run_ready(deletion().apply(&mut work)).unwrap(), None);
        assert_eq!(work.calls, ["lock object"]);
    }
}
