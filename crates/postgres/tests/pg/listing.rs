//! Keyset pagination of uploads.

use crate::helpers::*;
use std::collections::HashSet;
use stowage_domain::bucket::BucketSettings;
use stowage_domain::ports::{UploadQuery, UploadRepo};
use stowage_domain::status::UploadStatus;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn listing_ten_thousand_uploads_page_by_page_returns_each_exactly_once_in_order() {
    let db = TestDb::new().await;
    let repo = db.repo();
    let ns = namespace(&repo).await;
    let bucket = bucket(&repo, &ns, BucketSettings::default()).await;
    let base = now();
    // Many uploads share a created_at, so the id must break ties.
    let uploads: Vec<_> =
        (0..10_000).map(|i| new_upload(&bucket, base + time::Duration::milliseconds(i / 7))).collect();
    let inserts = uploads.chunks(500).map(|chunk| {
        let (repo, chunk) = (repo.clone(), chunk.to_vec());
        tokio::spawn(async move {
            for u in chunk {
                repo.insert_upload(&u, None).await.unwrap();
            }
        })
    });
    for t in futures_util::future::join_all(inserts).await {
        t.unwrap();
    }

    let mut expected: Vec<_> = uploads.iter().map(|u| (u.created_at, u.id.clone())).collect();
    expected.sort();
    for newest_first in [false, true] {
        let mut seen = Vec::new();
        let mut query = UploadQuery { limit: 100, newest_first, ..UploadQuery::default() };
        loop {
            let page = repo.list_uploads(&bucket.id, &query).await.unwrap();
            seen.extend(page.uploads.iter().map(|u| (u.created_at, u.id.clone())));
            match page.next {
                Some(cursor) => query.after = Some(cursor),
                None => break,
            }
        }
        let mut want = expected.clone();
        if newest_first {
            want.reverse();
        }
        assert_eq!(seen.len(), 10_000);
        assert_eq!(seen.iter().map(|(_, id)| id.clone()).collect::<HashSet<_>>().len(), 10_000);
        assert_eq!(seen, want);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_filters_by_status_metadata_and_time() {
    let db = TestDb::new().await;
    let repo = db.repo();
    let ns = namespace(&repo).await;
    let bucket = bucket(&repo, &ns, BucketSettings::default()).await;
    let base = now();
    let mut tagged = new_upload(&bucket, base);
    tagged.metadata = serde_json::json!({"team": "b", "x": 1});
    repo.insert_upload(&tagged, None).await.unwrap();
    let older = new_upload(&bucket, base - time::Duration::hours(2));
    repo.insert_upload(&older, None).await.unwrap();
    let canceled = new_upload(&bucket, base);
    repo.insert_upload(&canceled, None).await.unwrap();
    repo.cancel_upload(&canceled.id, UploadStatus::Pending, base).await.unwrap();

    let by_meta = serde_json::json!({"team": "b"}).as_object().cloned();
    let page = repo
        .list_uploads(&bucket.id, &UploadQuery { metadata: by_meta, limit: 20, ..UploadQuery::default() })
        .await
        .unwrap();
    assert_eq!(page.uploads.iter().map(|u| &u.id).collect::<Vec<_>>(), [&tagged.id]);

    let page = repo
        .list_uploads(
            &bucket.id,
            &UploadQuery { status: Some(UploadStatus::Canceled), limit: 20, ..UploadQuery::default() },
        )
        .await
        .unwrap();
    assert_eq!(page.uploads.iter().map(|u| &u.id).collect::<Vec<_>>(), [&canceled.id]);

    let recent =
        UploadQuery { created_from: Some(base - time::Duration::hours(1)), limit: 20, ..UploadQuery::default() };
    assert_eq!(repo.list_uploads(&bucket.id, &recent).await.unwrap().uploads.len(), 2);
    assert!(repo.list_uploads(&bucket.id, &recent).await.unwrap().next.is_none());
}
