//! The task queue: exactly-once draining, lease re-delivery and heartbeats, retries to FAILED,
//! cancellation, released leases, long polls.

use super::{Subject, suffix};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use stowage_domain::ids::TaskId;
use stowage_domain::ports::TaskReads;
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

/// Four workers drain 500 tasks: each runs exactly once.
pub async fn four_workers_drain_five_hundred_tasks_each_exactly_once(repo: Subject) {
    let mut ids = Vec::new();
    for _ in 0..500 {
        ids.push(repo.enqueue(&new_task(3)).await.expect("ok").id);
    }
    let done: Arc<Mutex<HashMap<TaskId, u32>>> = Arc::default();
    let workers = (0..4).map(|w| {
        let (repo, done) = (repo.clone(), done.clone());
        tokio::spawn(async move {
            let name = format!("worker-{w}");
            while let Some(task) = repo.claim(&name, LEASE).await.expect("ok") {
                assert_eq!(task.status, TaskStatus::InProgress);
                let output = serde_json::json!({"by": name});
                assert!(repo.complete(&task.id, &name, TaskStatus::Completed, &output, None).await.expect("ok"));
                *done.lock().expect("ok").entry(task.id).or_default() += 1;
            }
        })
    });
    for w in futures_util::future::join_all(workers).await {
        w.expect("ok");
    }
    let done = done.lock().expect("ok").clone();
    assert_eq!(done.len(), 500);
    assert!(done.values().all(|n| *n == 1), "a task ran twice");
    assert!(ids.iter().all(|id| done.contains_key(id)));
    for id in &ids {
        let task = TaskReads::get(&*repo, id).await.expect("get").expect("task");
        assert_eq!(task.status, TaskStatus::Completed);
    }
    let stats = repo.stats().await.expect("stats");
    assert_eq!((stats.due, stats.in_progress), (0, 0));
}

/// A task whose lease runs out is handed out again; the first holder can no longer complete it.
pub async fn a_task_whose_lease_expires_is_redelivered_and_completed_once(repo: Subject) {
    let task = repo.enqueue(&new_task(3)).await.expect("ok");
    let first = repo.claim("dying", Duration::from_millis(300)).await.expect("ok").expect("ok");
    assert_eq!(first.id, task.id);
    assert!(repo.claim("other", LEASE).await.expect("ok").is_none(), "a leased task is not handed out twice");
    tokio::time::sleep(Duration::from_millis(600)).await;
    let again = repo.claim("other", LEASE).await.expect("ok").expect("re-delivered after the lease");
    assert_eq!((again.id.clone(), again.attempts), (task.id.clone(), 2));
    assert!(
        !repo.complete(&task.id, "dying", TaskStatus::Completed, &serde_json::json!({}), None).await.expect("ok"),
        "the dead worker lost it"
    );
    assert!(repo.complete(&task.id, "other", TaskStatus::Completed, &serde_json::json!({}), None).await.expect("ok"));
    assert!(repo.claim("third", LEASE).await.expect("ok").is_none());
    assert_eq!(TaskReads::get(&*repo, &task.id).await.expect("ok").expect("ok").status, TaskStatus::Completed);
}

/// A heartbeat keeps the lease; nobody else claims or extends it meanwhile.
pub async fn a_heartbeat_keeps_the_lease(repo: Subject) {
    let task = repo.enqueue(&new_task(3)).await.expect("ok");
    repo.claim("w", Duration::from_millis(400)).await.expect("ok").expect("ok");
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(repo.heartbeat(&task.id, "w", Duration::from_millis(400)).await.expect("ok"));
    }
    assert!(repo.claim("thief", LEASE).await.expect("ok").is_none());
    assert!(!repo.heartbeat(&task.id, "thief", LEASE).await.expect("ok"));
}

/// A task that keeps failing ends FAILED after its attempts, with its last error.
pub async fn a_task_that_keeps_failing_ends_failed_after_max_attempts_with_its_error(repo: Subject) {
    let task = repo.enqueue(&new_task(3)).await.expect("ok");
    let policy = RetryPolicy { max_attempts: 3, base_delay: Duration::ZERO, max_delay: Duration::ZERO };
    let failure = TaskFailure { code: "boom".into(), message: "it broke".into() };
    let mut statuses = Vec::new();
    while let Some(claimed) = repo.claim("w", LEASE).await.expect("ok") {
        statuses.push(repo.fail(&claimed.id, "w", &failure, true, &policy).await.expect("ok").expect("ok"));
    }
    assert_eq!(statuses, [TaskStatus::Pending, TaskStatus::Pending, TaskStatus::Failed]);
    let failed = TaskReads::get(&*repo, &task.id).await.expect("ok").expect("ok");
    assert_eq!((failed.status, failed.attempts), (TaskStatus::Failed, 3));
    assert_eq!(failed.error, Some(failure));
}

/// A retried task is not due before its backoff.
pub async fn a_retry_waits_for_its_backoff(repo: Subject) {
    repo.enqueue(&new_task(5)).await.expect("ok");
    let policy =
        RetryPolicy { max_attempts: 5, base_delay: Duration::from_secs(60), max_delay: Duration::from_secs(60) };
    let claimed = repo.claim("w", LEASE).await.expect("ok").expect("ok");
    let failure = TaskFailure { code: "later".into(), message: String::new() };
    assert_eq!(repo.fail(&claimed.id, "w", &failure, true, &policy).await.expect("ok"), Some(TaskStatus::Pending));
    assert!(repo.claim("w", LEASE).await.expect("ok").is_none(), "not due for a minute");
}

/// A failure marked permanent ends the task at once.
pub async fn a_permanent_failure_is_not_retried(repo: Subject) {
    repo.enqueue(&new_task(5)).await.expect("ok");
    let claimed = repo.claim("w", LEASE).await.expect("ok").expect("ok");
    let failure = TaskFailure { code: "etag_mismatch".into(), message: String::new() };
    assert_eq!(
        repo.fail(&claimed.id, "w", &failure, false, &RetryPolicy::default()).await.expect("ok"),
        Some(TaskStatus::Failed)
    );
}

/// A canceled task is not claimed and its holder cannot complete it; a finished task stays as it is.
pub async fn a_canceled_task_is_not_claimed_and_its_holder_cannot_complete_it(repo: Subject) {
    let waiting = repo.enqueue(&new_task(3)).await.expect("ok");
    let running = repo.enqueue(&new_task(3)).await.expect("ok");
    let claimed = repo.claim("w", LEASE).await.expect("ok").expect("ok");
    assert_eq!(claimed.id, waiting.id);
    assert_eq!(TaskReads::cancel(&*repo, &running.id).await.expect("ok").expect("ok").status, TaskStatus::Canceled);
    assert_eq!(TaskReads::cancel(&*repo, &claimed.id).await.expect("ok").expect("ok").status, TaskStatus::Canceled);
    assert!(repo.claim("w", LEASE).await.expect("ok").is_none());
    assert!(!repo.complete(&claimed.id, "w", TaskStatus::Completed, &serde_json::json!({}), None).await.expect("ok"));
    let done = repo.enqueue(&new_task(3)).await.expect("ok");
    let c = repo.claim("w", LEASE).await.expect("ok").expect("ok");
    repo.complete(&c.id, "w", TaskStatus::Completed, &serde_json::json!({}), None).await.expect("ok");
    assert_eq!(
        TaskReads::cancel(&*repo, &done.id).await.expect("ok").expect("ok").status,
        TaskStatus::Completed,
        "terminal tasks stay as they are"
    );
}

/// Released leases (graceful shutdown) are claimable at once, without counting an attempt.
pub async fn released_leases_are_claimable_at_once_without_counting_an_attempt(repo: Subject) {
    let task = repo.enqueue(&new_task(3)).await.expect("ok");
    repo.claim("stopping", LEASE).await.expect("ok").expect("ok");
    assert_eq!(repo.release("stopping").await.expect("ok"), 1);
    let again = repo.claim("next", LEASE).await.expect("ok").expect("ok");
    assert_eq!((again.id, again.attempts), (task.id, 1));
}

/// A long poll answers as soon as the task changes.
pub async fn a_long_poll_returns_as_soon_as_the_task_changes(repo: Subject) {
    let task = repo.enqueue(&new_task(3)).await.expect("ok");
    let waiter = {
        let (repo, id, seen) = (repo.clone(), task.id.clone(), task.updated_at);
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let task = repo.wait_for_change(&id, seen, Duration::from_secs(20)).await.expect("ok").expect("ok");
            (task, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let claimed = repo.claim("w", LEASE).await.expect("ok").expect("ok");
    repo.complete(&claimed.id, "w", TaskStatus::Completed, &serde_json::json!({"ok": true}), None).await.expect("ok");
    let (seen, waited) = waiter.await.expect("ok");
    assert!(seen.status == TaskStatus::InProgress || seen.status == TaskStatus::Completed);
    assert!(waited < Duration::from_secs(10), "the poll waited {waited:?} for a change made after 0.5 s");
}

/// A long poll on an unchanged task times out with the task.
pub async fn a_long_poll_on_an_unchanged_task_times_out_with_the_task(repo: Subject) {
    let task = repo.enqueue(&new_task(3)).await.expect("ok");
    let started = std::time::Instant::now();
    let same =
        repo.wait_for_change(&task.id, task.updated_at, Duration::from_millis(1500)).await.expect("ok").expect("ok");
    assert_eq!(same.status, TaskStatus::Pending);
    assert!(started.elapsed() >= Duration::from_millis(1400));
}
