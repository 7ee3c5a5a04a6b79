//! Batches: create as a draft, submit once (atomically with the task).

use crate::helpers::*;
use stowage_domain::batch::Batch;
use stowage_domain::bucket::BucketSettings;
use stowage_domain::ids::{BatchId, ObjectId, TaskId};
use stowage_domain::ports::{BatchService, SubmitOutcome, TaskQueue};
use stowage_domain::status::TaskStatus;
use stowage_domain::task::{NewTask, TaskType};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_batch_is_submitted_once_with_its_task() {
    let db = TestDb::new().await;
    let repo = db.repo();
    let ns = namespace(&repo).await;
    let b = bucket(&repo, &ns, BucketSettings::default()).await;
    let missing = ObjectId::new(&suffix());
    assert_eq!(repo.missing_objects(&b.id, std::slice::from_ref(&missing)).await.unwrap(), vec![missing]);

    let batch = Batch {
        id: BatchId::new(&suffix()),
        bucket_id: b.id.clone(),
        status: TaskStatus::Draft,
        object_ids: vec![],
        task_id: None,
        created_at: now(),
        updated_at: now(),
    };
    repo.create(&batch).await.unwrap();
    assert_eq!(BatchService::get(&repo, &b.id, &batch.id).await.unwrap().unwrap(), batch);

    let task = NewTask {
        id: TaskId::new(&suffix()),
        task_type: TaskType::new(TaskType::PROCESS_BATCH),
        inputs: serde_json::json!({}),
        max_attempts: 3,
    };
    let SubmitOutcome::Submitted(submitted, queued) = repo.submit(&b.id, &batch.id, &task, now()).await.unwrap() else {
        panic!("not submitted")
    };
    assert_eq!((submitted.status, submitted.task_id), (TaskStatus::Pending, Some(task.id.clone())));
    assert_eq!(queued.status, TaskStatus::Pending);
    assert!(TaskQueue::get(&repo, &task.id).await.unwrap().is_some());

    let again = NewTask { id: TaskId::new(&suffix()), ..task };
    assert!(matches!(repo.submit(&b.id, &batch.id, &again, now()).await.unwrap(), SubmitOutcome::NotDraft(_)));
    assert!(TaskQueue::get(&repo, &again.id).await.unwrap().is_none(), "no second task");
    assert!(matches!(
        repo.submit(&b.id, &BatchId::new(&suffix()), &again, now()).await.unwrap(),
        SubmitOutcome::NotFound
    ));
}
