//! Cancel and the expiry sweep.

use super::*;
use crate::usecases::expire::expire_stale_uploads;
use crate::usecases::testkit::*;

async fn run(world: &World, delete: bool) -> Result<Upload, CancelError> {
    cancel_upload(world.deps(), &ns(), "photos", pending_upload().id.as_str(), delete).await
}

#[tokio::test]
async fn canceling_a_pending_upload_cancels_it_and_deletes_its_bytes_on_request() {
    let mut world = World::new().with(bucket(), pending_upload());
    world
        .uploads
        .expect_cancel_upload()
        .withf(|_, expected, _| *expected == UploadStatus::Pending)
        .times(1)
        .returning(|_, _, now| Ok(Transition::Applied(pending_upload().cancel(now).unwrap())));
    world.store.expect_delete().times(1).returning(|_| Ok(()));
    assert_eq!(run(&world, true).await.unwrap().status, UploadStatus::Canceled);
}

#[tokio::test]
async fn canceling_a_completed_upload_is_invalid_upload_state() {
    let done = pending_upload()
        .complete(
            crate::upload::Verified { etag: etag(MD5), size: 1, sha256: sha(1) },
            crate::upload::Completion::Original { object: None, batch: None },
            NOW,
        )
        .unwrap();
    let mut world = World::new().with(bucket(), done);
    world.uploads.expect_cancel_upload().never();
    let err = run(&world, true).await.unwrap_err();
    assert_eq!((err.code(), err.kind()), ("invalid_upload_state", ErrorKind::BadRequest));
}

#[tokio::test]
async fn canceling_twice_writes_nothing_the_second_time() {
    let mut world = World::new().with(bucket(), pending_upload().cancel(NOW).unwrap());
    world.uploads.expect_cancel_upload().never();
    assert_eq!(run(&world, false).await.unwrap().status, UploadStatus::Canceled);
}

#[tokio::test]
async fn a_cancel_that_loses_to_a_confirm_reports_the_completed_state() {
    let mut world = World::new().with(bucket(), pending_upload());
    world.uploads.expect_cancel_upload().times(1).returning(|_, _, _| {
        let done = pending_upload().complete(
            crate::upload::Verified { etag: etag(MD5), size: 1, sha256: sha(1) },
            crate::upload::Completion::Original { object: None, batch: None },
            NOW,
        );
        Ok(Transition::Stale(done.unwrap()))
    });
    assert_eq!(run(&world, false).await.unwrap_err().code(), "invalid_upload_state");
}

#[tokio::test]
async fn the_sweep_expires_stale_uploads_and_deletes_their_bytes() {
    let mut world = World::new();
    world.tenancy.expect_find_bucket().returning(|_, _| {
        let mut b = bucket();
        b.settings.webhook_url = Some("http://hook.test/".into());
        Ok(Some(b))
    });
    world
        .uploads
        .expect_list_expirable()
        .withf(|cutoff, _| *cutoff == NOW - time::Duration::hours(24))
        .returning(|_, _| Ok(vec![pending_upload()]));
    world
        .uploads
        .expect_record_failure()
        .withf(|_, _, f, _, webhook| {
            f.code.as_str() == "upload_expired" && webhook.as_ref().is_some_and(|w| w.url == "http://hook.test/")
        })
        .times(1)
        .returning(|_, _, _, now, _| Ok(Transition::Applied(pending_upload().expire(now).unwrap())));
    world.store.expect_delete().times(1).returning(|_| Ok(()));
    let report = expire_stale_uploads(world.deps(), 100).await.unwrap();
    assert_eq!((report.expired, report.objects_deleted, report.delete_failures), (1, 1, 0));
}

#[tokio::test]
async fn the_sweep_aborts_the_multipart_upload_of_an_expired_upload() {
    let mut upload = pending_upload();
    upload.multipart = Some(crate::upload::Multipart { upload_id: "mp-9".into(), part_size: 5, part_count: 2 });
    let mut world = World::new();
    world.tenancy.expect_find_bucket().returning(|_, _| {
        let mut b = bucket();
        b.settings.webhook_url = Some("http://hook.test/".into());
        Ok(Some(b))
    });
    let listed = upload.clone();
    world.uploads.expect_list_expirable().returning(move |_, _| Ok(vec![listed.clone()]));
    world
        .uploads
        .expect_record_failure()
        .returning(move |_, _, _, now, _| Ok(Transition::Applied(upload.expire(now).unwrap())));
    world.store.expect_abort_multipart().withf(|_, id| id == "mp-9").times(1).returning(|_, _| Ok(()));
    world.store.expect_delete().times(1).returning(|_| Ok(()));
    let report = expire_stale_uploads(world.deps(), 100).await.unwrap();
    assert_eq!((report.expired, report.multipart_aborted, report.delete_failures), (1, 1, 0));
}

#[tokio::test]
async fn the_sweep_skips_an_upload_confirmed_meanwhile() {
    let mut world = World::new();
    world.tenancy.expect_find_bucket().returning(|_, _| {
        let mut b = bucket();
        b.settings.webhook_url = Some("http://hook.test/".into());
        Ok(Some(b))
    });
    world.uploads.expect_list_expirable().returning(|_, _| Ok(vec![pending_upload()]));
    world
        .uploads
        .expect_record_failure()
        .returning(|_, _, _, _, _| Ok(Transition::Stale(pending_upload().cancel(NOW).unwrap())));
    world.store.expect_delete().never();
    assert_eq!(expire_stale_uploads(world.deps(), 100).await.unwrap().expired, 0);
}
