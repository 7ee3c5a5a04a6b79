//! The task queue: exactly-once draining, lease re-delivery, retries to FAILED, long polls.

use crate::helpers::*;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use stowage_domain::ids::TaskId;
use stowage_domain::ports::TaskQueue;
use stowage_domain::status::TaskStatus;
use stowage_domain::task::{NewTask, RetryPolicy, TaskFailure, TaskType};

fn new_task(max_attempts: u32) -> NewTask {
    NewTask {
        id: TaskId::new(&suffix()),
        task_type: TaskType::new("test"),
        inputs: serde_json::json!({"n": 1}),
        max_attempts,
    }
}

const LEASE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_workers_drain_five_hundred_tasks_each_exactly_once() {
    let db = TestDb::new().await;
    let repo = db.repo();
    let mut ids = Vec::new();
    for _ in 0..500 {
        ids.push(repo.enqueue(&new_task(3)).await.unwrap().id);
    }
    let done: Arc<Mutex<HashMap<TaskId, u32>>> = Arc::default();
    let workers = (0..4).map(|w| {
        let (repo, done) = (repo.clone(), done.clone());
        tokio::spawn(async move {
            let name = format!("worker-{w}");
            while let Some(task) = repo.claim(&name, LEASE).await.unwrap() {
                assert_eq!(task.status, TaskStatus::InProgress);
                let output = serde_json::json!({"by": name});
                assert!(repo.complete(&task.id, &name, TaskStatus::Completed, &output, None).await.unwrap());
                *done.lock().unwrap().entry(task.id).or_default() += 1;
            }
        })
    });
    for w in futures_util::future::join_all(workers).await {
        w.unwrap();
    }
    let done = done.lock().unwrap().clone();
    assert_eq!(done.len(), 500);
    assert!(done.values().all(|n| *n == 1), "a task ran twice");
    assert!(ids.iter().all(|id| done.contains_key(id)));
    assert_eq!(db.count("SELECT count(*) AS n FROM tasks WHERE status = 'COMPLETED'").await, 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_whose_lease_expires_is_redelivered_and_completed_once() {
    let db = TestDb::new().await;
    let repo = db.repo();
    let task = repo.enqueue(&new_task(3)).await.unwrap();
    let first = repo.claim("dying", Duration::from_millis(300)).await.unwrap().unwrap();
    assert_eq!(first.id, task.id);
    assert!(repo.claim("other", LEASE).await.unwrap().is_none(), "a leased task is not handed out twice");
    tokio::time::sleep(Duration::from_millis(600)).await;
    let again = repo.claim("other", LEASE).await.unwrap().expect("re-delivered after the lease");
    assert_eq!((again.id.clone(), again.attempts), (task.id.clone(), 2));
    assert!(
        !repo.complete(&task.id, "dying", TaskStatus::Completed, &serde_json::json!({}), None).await.unwrap(),
        "the dead worker lost it"
    );
    assert!(repo.complete(&task.id, "other", TaskStatus::Completed, &serde_json::json!({}), None).await.unwrap());
    assert!(repo.claim("third", LEASE).await.unwrap().is_none());
    assert_eq!(repo.get(&task.id).await.unwrap().unwrap().status, TaskStatus::Completed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_heartbeat_keeps_the_lease() {
    let db = TestDb::new().await;
    let repo = db.repo();
    let task = repo.enqueue(&new_task(3)).await.unwrap();
    repo.claim("w", Duration::from_millis(400)).await.unwrap().unwrap();
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(repo.heartbeat(&task.id, "w", Duration::from_millis(400)).await.unwrap());
    }
    assert!(repo.claim("thief", LEASE).await.unwrap().is_none());
    assert!(!repo.heartbeat(&task.id, "thief", LEASE).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_that_keeps_failing_ends_failed_after_max_attempts_with_its_error() {
    let db = TestDb::new().await;
    let repo = db.repo();
    let task = repo.enqueue(&new_task(3)).await.unwrap();
    let policy = RetryPolicy { max_attempts: 3, base_delay: Duration::ZERO, max_delay: Duration::ZERO };
    let failure = TaskFailure { code: "boom".into(), message: "it broke".into() };
    let mut statuses = Vec::new();
    while let Some(claimed) = repo.claim("w", LEASE).await.unwrap() {
        statuses.push(repo.fail(&claimed.id, "w", &failure, true, &policy).await.unwrap().unwrap());
    }
    assert_eq!(statuses, [TaskStatus::Pending, TaskStatus::Pending, TaskStatus::Failed]);
    let failed = repo.get(&task.id).await.unwrap().unwrap();
    assert_eq!((failed.status, failed.attempts), (TaskStatus::Failed, 3));
    assert_eq!(failed.error, Some(failure));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_waits_for_its_backoff() {
    let db = TestDb::new().await;
    let repo = db.repo();
    repo.enqueue(&new_task(5)).await.unwrap();
    let policy =
        RetryPolicy { max_attempts: 5, base_delay: Duration::from_secs(60), max_delay: Duration::from_secs(60) };
    let claimed = repo.claim("w", LEASE).await.unwrap().unwrap();
    let failure = TaskFailure { code: "later".into(), message: String::new() };
    assert_eq!(repo.fail(&claimed.id, "w", &failure, true, &policy).await.unwrap(), Some(TaskStatus::Pending));
    assert!(repo.claim("w", LEASE).await.unwrap().is_none(), "not due for a minute");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_failure_is_not_retried() {
    let db = TestDb::new().await;
    let repo = db.repo();
    repo.enqueue(&new_task(5)).await.unwrap();
    let claimed = repo.claim("w", LEASE).await.unwrap().unwrap();
    let failure = TaskFailure { code: "etag_mismatch".into(), message: String::new() };
    assert_eq!(
        repo.fail(&claimed.id, "w", &failure, false, &RetryPolicy::default()).await.unwrap(),
        Some(TaskStatus::Failed)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canceled_task_is_not_claimed_and_its_holder_cannot_complete_it() {
    let db = TestDb::new().await;
    let repo = db.repo();
    let waiting = repo.enqueue(&new_task(3)).await.unwrap();
    let running = repo.enqueue(&new_task(3)).await.unwrap();
    let claimed = repo.claim("w", LEASE).await.unwrap().unwrap();
    assert_eq!(claimed.id, waiting.id);
    assert_eq!(repo.cancel(&running.id).await.unwrap().unwrap().status, TaskStatus::Canceled);
    assert_eq!(repo.cancel(&claimed.id).await.unwrap().unwrap().status, TaskStatus::Canceled);
    assert!(repo.claim("w", LEASE).await.unwrap().is_none());
    assert!(!repo.complete(&claimed.id, "w", TaskStatus::Completed, &serde_json::json!({}), None).await.unwrap());
    let done = repo.enqueue(&new_task(3)).await.unwrap();
    let c = repo.claim("w", LEASE).await.unwrap().unwrap();
    repo.complete(&c.id, "w", TaskStatus::Completed, &serde_json::json!({}), None).await.unwrap();
    assert_eq!(
        repo.cancel(&done.id).await.unwrap().unwrap().status,
        TaskStatus::Completed,
        "terminal tasks stay as they are"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn released_leases_are_claimable_at_once_without_counting_an_attempt() {
    let db = TestDb::new().await;
    let repo = db.repo();
    let task = repo.enqueue(&new_task(3)).await.unwrap();
    repo.claim("stopping", LEASE).await.unwrap().unwrap();
    assert_eq!(repo.release("stopping").await.unwrap(), 1);
    let again = repo.claim("next", LEASE).await.unwrap().unwrap();
    assert_eq!((again.id, again.attempts), (task.id, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_returns_as_soon_as_the_task_changes() {
    let db = TestDb::new().await;
    let repo = db.repo();
    let task = repo.enqueue(&new_task(3)).await.unwrap();
    let waiter = {
        let (repo, id, seen) = (repo.clone(), task.id.clone(), task.updated_at);
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let task = repo.wait_for_change(&id, seen, Duration::from_secs(20)).await.unwrap().unwrap();
            (task, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let claimed = repo.claim("w", LEASE).await.unwrap().unwrap();
    repo.complete(&claimed.id, "w", TaskStatus::Completed, &serde_json::json!({"ok": true}), None).await.unwrap();
    let (seen, waited) = waiter.await.unwrap();
    assert!(seen.status == TaskStatus::InProgress || seen.status == TaskStatus::Completed);
    assert!(waited < Duration::from_secs(10), "the poll waited {waited:?} for a change made after 0.5 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_on_an_unchanged_task_times_out_with_the_task() {
    let db = TestDb::new().await;
    let repo = db.repo();
    let task = repo.enqueue(&new_task(3)).await.unwrap();
    let started = std::time::Instant::now();
    let same = repo.wait_for_change(&task.id, task.updated_at, Duration::from_millis(1500)).await.unwrap().unwrap();
    assert_eq!(same.status, TaskStatus::Pending);
    assert!(started.elapsed() >= Duration::from_millis(1400));
}
