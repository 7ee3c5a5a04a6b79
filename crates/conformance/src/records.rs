//! Namespaces, buckets, uploads and batches as records: uniqueness, tenancy, expiry, keyset
//! listing with filters, and a batch submitted once with its task.

use super::{InsertUpload, Subject, bucket_in, draft_batch, namespace, new_upload, now, suffix, upload, walk};
use futures_util::future::join_all;
use std::collections::HashSet;
use stowage_domain::bucket::BucketSettings;
use stowage_domain::error::RepoError;
use stowage_domain::ids::{BatchId, ObjectId, TaskId, UploadId};
use stowage_domain::ports::{BatchRepo, PendingCursor, SubmitOutcome, TaskReads, UploadQuery};
use stowage_domain::status::{TaskStatus, UploadStatus};
use stowage_domain::task::{NewTask, TaskType};
use stowage_domain::upload::Upload;

/// Names are unique; a bucket is found by id or name in its own namespace only.
pub async fn names_are_unique_and_buckets_are_found_by_id_or_name_within_their_namespace_only(repo: Subject) {
    let ns = namespace(&repo).await;
    let other = namespace(&repo).await;
    assert!(matches!(repo.create_namespace(&ns).await.expect_err("taken"), RepoError::AlreadyExists(_)));
    assert_eq!(repo.find_namespace(ns.name.as_str()).await.expect("find").expect("by name"), ns);
    assert_eq!(repo.find_namespace(ns.id.as_str()).await.expect("find").expect("by id"), ns);
    let b = bucket_in(&repo, &ns, BucketSettings { require_checksum: true, ..BucketSettings::default() }).await;
    assert!(matches!(repo.create_bucket(&b).await.expect_err("taken"), RepoError::AlreadyExists(_)));
    assert_eq!(repo.find_bucket(&ns.id, b.id.as_str()).await.expect("find").expect("by id"), b);
    assert_eq!(repo.find_bucket(&ns.id, b.name.as_str()).await.expect("find").expect("by name").settings, b.settings);
    assert!(repo.find_bucket(&other.id, b.id.as_str()).await.expect("find").is_none());
    assert!(repo.find_bucket(&other.id, b.name.as_str()).await.expect("find").is_none());
    assert_eq!(repo.list_buckets(&ns.id).await.expect("list"), vec![b]);
    assert!(repo.list_buckets(&other.id).await.expect("list").is_empty());
}

/// An upload reads back as written, and only through its own bucket.
pub async fn an_upload_round_trips_and_is_invisible_from_another_bucket(repo: Subject) {
    let ns = namespace(&repo).await;
    let b = bucket_in(&repo, &ns, BucketSettings::default()).await;
    let other = bucket_in(&repo, &ns, BucketSettings::default()).await;
    let u = upload(&repo, &b).await;
    assert_eq!(repo.get_upload(&b.id, &u.id).await.expect("get").expect("found"), u);
    assert!(repo.get_upload(&other.id, &u.id).await.expect("get").is_none());
}

/// Only PENDING uploads created before the cutoff are offered to the expiry sweep.
pub async fn only_pending_uploads_past_the_cutoff_are_expirable(repo: Subject) {
    let ns = namespace(&repo).await;
    let b = bucket_in(&repo, &ns, BucketSettings::default()).await;
    let old = new_upload(&b, now() - time::Duration::days(3));
    repo.insert_upload(&old, None).await.expect("insert");
    let fresh = upload(&repo, &b).await;
    let old_canceled = new_upload(&b, now() - time::Duration::days(3));
    repo.insert_upload(&old_canceled, None).await.expect("insert");
    repo.cancel_upload(&old_canceled.id, UploadStatus::Pending, now()).await.expect("cancel");
    let expirable = repo.list_expirable(now() - time::Duration::days(1), 100).await.expect("list");
    assert_eq!(expirable.iter().map(|u| &u.id).collect::<Vec<_>>(), [&old.id]);
    assert!(!expirable.iter().any(|u| u.id == fresh.id));
}

/// The finisher pages through PENDING uploads not yet past `since`, in (`expires_at`, id) order,
/// with ties on `expires_at` broken by id across pages; other statuses are left out.
pub async fn pending_uploads_page_by_expiry_then_id(repo: Subject) {
    let ns = namespace(&repo).await;
    let b = bucket_in(&repo, &ns, BucketSettings::default()).await;
    let created = now() - time::Duration::minutes(5);
    // Three share one `expires_at` (a tie a page boundary falls into), one expires later, one
    // long ago (before `since`), one is canceled.
    let mut tied: Vec<Upload> = (0..3).map(|_| new_upload(&b, created)).collect();
    let later = new_upload(&b, created + time::Duration::seconds(30));
    let stale = new_upload(&b, created - time::Duration::days(3));
    let canceled = new_upload(&b, created);
    for u in tied.iter().chain([&later, &stale, &canceled]) {
        repo.insert_upload(u, None).await.expect("insert");
    }
    repo.cancel_upload(&canceled.id, UploadStatus::Pending, now()).await.expect("cancel");
    tied.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
    let expected: Vec<UploadId> = tied.iter().chain([&later]).map(|u| u.id.clone()).collect();

    let since = now() - time::Duration::days(1);
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = repo.list_pending(since, after.take(), 2).await.expect("list");
        let ours: Vec<UploadId> = page.iter().filter(|u| u.bucket_id == b.id).map(|u| u.id.clone()).collect();
        seen.extend(ours);
        match page.last() {
            Some(last) if page.len() == 2 => after = Some(PendingCursor::after(last)),
            _ => break,
        }
    }
    assert_eq!(seen, expected);
}

/// A draft batch is submitted once, atomically with its task; a second submit writes nothing.
pub async fn a_draft_batch_is_submitted_once_with_its_task(repo: Subject) {
    let ns = namespace(&repo).await;
    let b = bucket_in(&repo, &ns, BucketSettings::default()).await;
    let missing = ObjectId::new(&suffix());
    assert_eq!(repo.missing_objects(&b.id, std::slice::from_ref(&missing)).await.expect("missing"), vec![missing]);

    let batch = draft_batch(&b);
    repo.create(&batch).await.expect("create");
    assert_eq!(BatchRepo::get(&*repo, &b.id, &batch.id).await.expect("get").expect("batch"), batch);

    let task = NewTask {
        id: TaskId::new(&suffix()),
        task_type: TaskType::new(TaskType::PROCESS_BATCH),
        inputs: serde_json::json!({}),
        max_attempts: 3,
    };
    let SubmitOutcome::Submitted(submitted, queued) =
        repo.submit(&b.id, &batch.id, &task, now()).await.expect("submit")
    else {
        panic!("not submitted")
    };
    assert_eq!((submitted.status, submitted.task_id), (TaskStatus::Pending, Some(task.id.clone())));
    assert_eq!(queued.status, TaskStatus::Pending);
    assert!(TaskReads::get(&*repo, &task.id).await.expect("get").is_some());

    let again = NewTask { id: TaskId::new(&suffix()), ..task };
    assert!(matches!(repo.submit(&b.id, &batch.id, &again, now()).await.expect("submit"), SubmitOutcome::NotDraft(_)));
    assert!(TaskReads::get(&*repo, &again.id).await.expect("get").is_none(), "no second task");
    assert!(matches!(
        repo.submit(&b.id, &BatchId::new(&suffix()), &again, now()).await.expect("submit"),
        SubmitOutcome::NotFound
    ));
}

/// 10 000 uploads, many sharing a creation time: every page walk, in both orders, sees each
/// exactly once and in order (the id breaks ties).
pub async fn listing_ten_thousand_uploads_page_by_page_returns_each_exactly_once_in_order(repo: Subject) {
    let ns = namespace(&repo).await;
    let bucket = bucket_in(&repo, &ns, BucketSettings::default()).await;
    let base = now();
    let uploads: Vec<_> =
        (0..10_000).map(|i| new_upload(&bucket, base + time::Duration::milliseconds(i / 7))).collect();
    let inserts = uploads.chunks(500).map(|chunk| {
        let (repo, chunk) = (repo.clone(), chunk.to_vec());
        tokio::spawn(async move {
            for u in chunk {
                repo.insert_upload(&u, None).await.expect("insert");
            }
        })
    });
    for t in futures_util::future::join_all(inserts).await {
        t.expect("inserted");
    }

    let mut expected: Vec<_> = uploads.iter().map(|u| (u.created_at, u.id.clone())).collect();
    expected.sort();
    for newest_first in [false, true] {
        let seen = walk(&repo, &bucket, UploadQuery { limit: 100, newest_first, ..UploadQuery::default() }).await;
        let mut want = expected.clone();
        if newest_first {
            want.reverse();
        }
        assert_eq!(seen.len(), 10_000);
        assert_eq!(seen.iter().map(|(_, id)| id.clone()).collect::<HashSet<_>>().len(), 10_000);
        assert_eq!(seen, want);
    }
}

/// Listing filters by status, by metadata containment and by creation time.
pub async fn listing_filters_by_status_metadata_and_time(repo: Subject) {
    let ns = namespace(&repo).await;
    let bucket = bucket_in(&repo, &ns, BucketSettings::default()).await;
    let base = now();
    let mut tagged = new_upload(&bucket, base);
    tagged.metadata = serde_json::json!({"team": "b", "x": 1});
    repo.insert_upload(&tagged, None).await.expect("insert");
    let older = new_upload(&bucket, base - time::Duration::hours(2));
    repo.insert_upload(&older, None).await.expect("insert");
    let canceled = new_upload(&bucket, base);
    repo.insert_upload(&canceled, None).await.expect("insert");
    repo.cancel_upload(&canceled.id, UploadStatus::Pending, base).await.expect("cancel");

    let by_meta = serde_json::json!({"team": "b"}).as_object().cloned();
    let page = repo
        .list_uploads(&bucket.id, &UploadQuery { metadata: by_meta, limit: 20, ..UploadQuery::default() })
        .await
        .expect("page");
    assert_eq!(page.uploads.iter().map(|u| &u.id).collect::<Vec<_>>(), [&tagged.id]);

    let by_status = UploadQuery { status: Some(UploadStatus::Canceled), limit: 20, ..UploadQuery::default() };
    let page = repo.list_uploads(&bucket.id, &by_status).await.expect("page");
    assert_eq!(page.uploads.iter().map(|u| &u.id).collect::<Vec<_>>(), [&canceled.id]);

    let recent =
        UploadQuery { created_from: Some(base - time::Duration::hours(1)), limit: 20, ..UploadQuery::default() };
    let page = repo.list_uploads(&bucket.id, &recent).await.expect("page");
    assert_eq!(page.uploads.len(), 2);
    assert!(page.next.is_none());
}

/// 48 creates at once into one bucket — 32 distinct, 8 retries of one idempotency key, 8 repeats
/// of an id already taken: every distinct one is written and reads back, the retries all get the
/// first upload holding the key, the repeated ids are refused without costing their neighbours.
pub async fn concurrent_creates_are_each_written_once_and_answered_alone(repo: Subject) {
    let ns = namespace(&repo).await;
    let b = bucket_in(&repo, &ns, BucketSettings::default()).await;
    let taken = upload(&repo, &b).await;
    let distinct: Vec<Upload> = (0..32).map(|_| new_upload(&b, now())).collect();
    let retries: Vec<Upload> = (0..8).map(|_| new_upload(&b, now())).collect();
    let repeats: Vec<Upload> = (0..8)
        .map(|_| {
            let mut u = new_upload(&b, now());
            u.id = taken.id.clone();
            u
        })
        .collect();
    let (distinct_outcomes, retry_outcomes, repeat_outcomes) = tokio::join!(
        join_all(distinct.iter().map(|u| repo.insert_upload(u, None))),
        join_all(retries.iter().map(|u| repo.insert_upload(u, Some("same-key".into())))),
        join_all(repeats.iter().map(|u| repo.insert_upload(u, None))),
    );
    for (u, outcome) in distinct.iter().zip(distinct_outcomes) {
        assert_eq!(outcome.expect("insert"), InsertUpload::Inserted);
        assert_eq!(repo.get_upload(&b.id, &u.id).await.expect("get").as_ref(), Some(u));
    }
    let retry_outcomes: Vec<InsertUpload> = retry_outcomes.into_iter().map(|o| o.expect("insert")).collect();
    let firsts: Vec<&Upload> =
        retries.iter().zip(&retry_outcomes).filter_map(|(u, o)| (*o == InsertUpload::Inserted).then_some(u)).collect();
    assert_eq!(firsts.len(), 1, "one retry writes the key's upload: {retry_outcomes:?}");
    for outcome in retry_outcomes.iter().filter(|o| **o != InsertUpload::Inserted) {
        assert_eq!(*outcome, InsertUpload::Existing(firsts[0].clone()));
    }
    for outcome in repeat_outcomes {
        assert!(matches!(outcome, Err(RepoError::AlreadyExists(_))), "{outcome:?}");
    }
    assert_eq!(repo.get_upload(&b.id, &taken.id).await.expect("get"), Some(taken));
    let all = walk(&repo, &b, UploadQuery { limit: 100, ..UploadQuery::default() }).await;
    assert_eq!(all.len(), 1 + 32 + 1, "the taken one, the distinct ones, one for the key");
}
