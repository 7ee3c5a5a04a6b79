//! The asynchronous confirm task: success, failed checks, outages and re-runs.

use super::*;
use crate::content::StoredChecksum;
use crate::ids::TaskId;
use crate::upload::Completion;
use crate::usecases::confirm::ConfirmTaskInput;
use crate::usecases::testkit::*;

fn processing() -> Upload {
    pending_upload().begin_processing(TaskId::parse("task_tttttttttttttttt").unwrap(), NOW).unwrap()
}

fn input() -> ConfirmTaskInput {
    ConfirmTaskInput {
        upload_id: pending_upload().id,
        bucket_id: bucket().id.to_string(),
        namespace_id: ns(),
        etag: None,
        file_size_bytes: None,
        auto_submit_batch: false,
    }
}

fn fails_with(world: &mut World, code: &'static str) {
    world
        .uploads
        .expect_record_failure()
        .withf(move |_, expected, failure, _, _| *expected == UploadStatus::Processing && failure.code.as_str() == code)
        .times(1)
        .returning(|_, _, f, now, _| Ok(Transition::Applied(processing().fail_verification(f.clone(), now).unwrap())));
}

#[tokio::test]
async fn a_passing_verification_completes_the_upload_and_the_task() {
    let mut world = World::new().with(bucket(), processing());
    world.store.expect_head().returning(|_| Ok(Some(head(10, Some(StoredChecksum::FullObject(sha(4)))))));
    world.uploads.expect_apply_confirmation().withf(|plan| plan.expected == UploadStatus::Processing).returning(
        |plan| {
            let object = plan.object.as_ref().map(|o| o.id.clone());
            Ok(ConfirmationOutcome::Original(
                processing()
                    .complete(plan.verified.clone(), Completion::Original { object, batch: None }, plan.now)
                    .unwrap(),
            ))
        },
    );
    let TaskResult::Done { status, outputs, .. } = run_confirm_task(world.deps(), &input(), false).await else {
        panic!("not done")
    };
    assert_eq!(status, TaskStatus::Completed);
    assert_eq!(outputs["status"], "COMPLETED");
    assert!(outputs["object_id"].as_str().unwrap().starts_with("obj_"));
    assert_eq!(outputs["file_hash"], sha(4).as_str());
}

#[tokio::test]
async fn a_missing_object_fails_the_upload_and_the_task_with_the_same_code() {
    let mut world = World::new().with(bucket(), processing());
    world.store.expect_head().returning(|_| Ok(None));
    fails_with(&mut world, "object_not_in_storage");
    let TaskResult::Failed(failure) = run_confirm_task(world.deps(), &input(), false).await else {
        panic!("not failed")
    };
    assert_eq!(failure.code, "object_not_in_storage");
}

#[tokio::test]
async fn a_size_mismatch_fails_the_upload_with_size_mismatch() {
    let mut world = World::new().with(bucket(), processing());
    world.store.expect_head().returning(|_| Ok(Some(head(10, None))));
    fails_with(&mut world, "size_mismatch");
    let input = ConfirmTaskInput { file_size_bytes: Some(crate::content::FileSize::new(3).unwrap()), ..input() };
    let TaskResult::Failed(failure) = run_confirm_task(world.deps(), &input, false).await else { panic!("not failed") };
    assert_eq!(failure.code, "size_mismatch");
}

#[tokio::test]
async fn a_storage_outage_is_retried_and_changes_nothing() {
    let mut world = World::new().with(bucket(), processing());
    world.store.expect_head().returning(|_| Err(crate::error::StorageError::Unavailable("refused".into())));
    world.uploads.expect_record_failure().never();
    let TaskResult::Retry(failure) = run_confirm_task(world.deps(), &input(), false).await else {
        panic!("not retried")
    };
    assert_eq!(failure.code, VERIFICATION_UNAVAILABLE);
}

#[tokio::test]
async fn an_outage_on_the_last_attempt_fails_the_upload_verification_unavailable() {
    let mut world = World::new().with(bucket(), processing());
    world.store.expect_head().returning(|_| Err(crate::error::StorageError::Unavailable("refused".into())));
    fails_with(&mut world, VERIFICATION_UNAVAILABLE);
    let TaskResult::Failed(failure) = run_confirm_task(world.deps(), &input(), true).await else {
        panic!("not failed")
    };
    assert_eq!(failure.code, VERIFICATION_UNAVAILABLE);
}

#[tokio::test]
async fn a_rerun_after_completion_reports_the_completed_upload_without_verifying_again() {
    let done = processing().complete(
        crate::upload::Verified { etag: etag(MD5), size: 10, sha256: sha(4) },
        Completion::Original { object: None, batch: None },
        NOW,
    );
    let mut world = World::new().with(bucket(), done.unwrap());
    world.store.expect_head().never();
    world.uploads.expect_apply_confirmation().never();
    assert!(matches!(
        run_confirm_task(world.deps(), &input(), false).await,
        TaskResult::Done { status: TaskStatus::Completed, .. }
    ));
}
