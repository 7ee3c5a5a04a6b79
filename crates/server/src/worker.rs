//! Task workers: each loop claims a task (with a lease), keeps the lease alive with heartbeats
//! while the handler runs, and records the result — done, failed for good, or failed for now and
//! retried with backoff. On shutdown the loops stop claiming, finish what they hold, and give back
//! any lease they still have so another worker can take the task at once.

use crate::config::WorkerSettings;
use std::sync::Arc;
use std::time::Duration;
use stowage_domain::ports::WebhookSender;
use stowage_domain::task::{Lane, RetryPolicy, Task, TaskFailure, TaskResult};
use stowage_domain::usecases::Ports;
use stowage_domain::usecases::confirm_batch::run_confirm_batch_task;
use stowage_domain::usecases::confirm_task::run_confirm_task;
use stowage_domain::usecases::deliver_webhook::deliver;
use stowage_domain::usecases::dispatch::{self, TaskInput};
use stowage_domain::usecases::finish::Finisher;
use stowage_domain::usecases::process_batch::run_batch_task;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The running worker loops of this process.
pub struct Workers {
    stop: watch::Sender<bool>,
    loops: Vec<(String, JoinHandle<()>)>,
    housekeeping: Vec<JoinHandle<()>>,
    state: Ports,
}

#[derive(Clone)]
struct Loop {
    state: Ports,
    name: String,
    lease: Duration,
    poll: Duration,
    retry: RetryPolicy,
    webhooks: Arc<dyn WebhookSender>,
    lane: Lane,
}

impl Workers {
    /// Starts `settings.concurrency` loops for confirms and batches and
    /// `settings.webhook_concurrency` (at least one) for webhook deliveries, so slow receivers
    /// never hold the slots of everyone's other background work.
    #[must_use]
    pub fn start(state: Ports, settings: &WorkerSettings) -> Self {
        let (stop, stopped) = watch::channel(false);
        let process = format!("{}-{}", std::process::id(), &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let retry = RetryPolicy {
            max_attempts: u32::MAX,
            base_delay: Duration::from_millis(settings.retry_base_delay_ms),
            max_delay: Duration::from_millis(settings.retry_max_delay_ms),
        };
        let webhooks: Arc<dyn WebhookSender> = Arc::new(crate::webhooks::HttpWebhookSender::new(
            Duration::from_secs(settings.webhook_timeout_secs.max(1)),
            settings.webhook_allow_private_targets,
        ));
        let lanes = std::iter::repeat_n(Lane::Work, settings.concurrency.max(1))
            .chain(std::iter::repeat_n(Lane::Webhooks, settings.webhook_concurrency.max(1)));
        let loops = lanes
            .enumerate()
            .map(|(n, lane)| {
                let worker = Loop {
                    lane,
                    state: state.clone(),
                    name: format!("worker-{process}-{n}"),
                    lease: Duration::from_secs(settings.lease_secs.max(1)),
                    poll: Duration::from_millis(settings.poll_interval_ms.max(10)),
                    retry,
                    webhooks: webhooks.clone(),
                };
                let name = worker.name.clone();
                (name, tokio::spawn(worker.run(stopped.clone())))
            })
            .collect();
        let mut housekeeping = Vec::new();
        if settings.sweep_interval_secs > 0 {
            let (state, interval) = (state.clone(), Duration::from_secs(settings.sweep_interval_secs));
            housekeeping.push(tokio::spawn(periodically(interval, stopped.clone(), move || sweep(state.clone()))));
        }
        if settings.finisher_interval_secs > 0 {
            let finisher = Arc::new(tokio::sync::Mutex::new(Finisher::new(
                Duration::from_secs(settings.finisher_first_check_secs),
                Duration::from_secs(settings.finisher_max_delay_secs),
            )));
            let (state, interval) = (state.clone(), Duration::from_secs(settings.finisher_interval_secs));
            housekeeping.push(tokio::spawn(periodically(interval, stopped.clone(), move || {
                finish(state.clone(), finisher.clone())
            })));
        }
        if settings.reconcile_interval_secs > 0 {
            let (state, delete) = (state.clone(), settings.reconcile_delete);
            let interval = Duration::from_secs(settings.reconcile_interval_secs);
            housekeeping.push(tokio::spawn(periodically(interval, stopped, move || reconcile(state.clone(), delete))));
        }
        Self { stop, loops, housekeeping, state }
    }

    /// Stops claiming, waits for running tasks, and releases what is still leased.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for job in self.housekeeping {
            let _ = job.await;
        }
        for (name, handle) in self.loops {
            let _ = handle.await;
            match self.state.queue.release(&name).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(worker = %name, released = n, "released task leases"),
                Err(e) => {
                    tracing::warn!(worker = %name, error = %e, "could not release task leases; they expire on their own")
                }
            }
        }
    }
}

impl Loop {
    async fn run(self, mut stopped: watch::Receiver<bool>) {
        while !*stopped.borrow() {
            let pause = match self.state.queue.claim_in(&self.name, self.lease, self.lane).await {
                Ok(Some(task)) => {
                    self.execute(task).await;
                    continue;
                }
                Ok(None) => self.poll,
                Err(e) => {
                    tracing::warn!(worker = %self.name, error = %e, "cannot claim tasks");
                    self.poll * 4
                }
            };
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                _ = stopped.changed() => {}
            }
        }
    }

    async fn execute(&self, task: Task) {
        let span = tracing::info_span!("task", task_id = %task.id, task_type = task.task_type.as_str(), attempt = task.attempts);
        let _entered = span.enter();
        let heartbeat = {
            let (queue, id, name, lease) = (self.state.queue.clone(), task.id.clone(), self.name.clone(), self.lease);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(lease / 3).await;
                    if !matches!(queue.heartbeat(&id, &name, lease).await, Ok(true)) {
                        break;
                    }
                }
            })
        };
        let result = if task.is_abandoned() {
            // Every allowed run lost its lease: do not run it again (it may be what kills
            // workers); settle what it was working on.
            match stowage_domain::usecases::tasks::abandon(self.state.deps(), &task).await {
                Ok(failure) => TaskResult::Failed(failure),
                Err(e) => TaskResult::Retry(TaskFailure {
                    code: stowage_domain::error::codes::DATABASE_UNAVAILABLE.into(),
                    message: e.to_string(),
                }),
            }
        } else {
            self.dispatch(&task).await
        };
        heartbeat.abort();
        let queue = &self.state.queue;
        let recorded = match &result {
            TaskResult::Done { status, outputs, additional_data } => {
                queue.complete(&task.id, &self.name, *status, outputs, additional_data.clone()).await.map(|_| ())
            }
            TaskResult::Failed(failure) => {
                queue.fail(&task.id, &self.name, failure, false, &self.retry).await.map(|_| ())
            }
            TaskResult::Retry(failure) => {
                queue.fail(&task.id, &self.name, failure, true, &self.retry).await.map(|_| ())
            }
        };
        metrics::counter!("stowage_tasks_total", "type" => task.task_type.as_str().to_owned(), "outcome" => outcome(&result)).increment(1);
        match recorded {
            Ok(()) => tracing::info!(outcome = ?outcome(&result), "task finished"),
            // The lease expires and another worker re-runs the (idempotent) handler.
            Err(e) => tracing::warn!(error = %e, "cannot record the task's result"),
        }
    }

    async fn dispatch(&self, task: &Task) -> TaskResult {
        let last_attempt = task.attempts >= task.max_attempts;
        let input = match dispatch::decode(task) {
            Ok(input) => input,
            Err(failure) => return TaskResult::Failed(failure),
        };
        match input {
            TaskInput::ConfirmUpload(input) => run_confirm_task(self.state.deps(), &input, last_attempt).await,
            TaskInput::ConfirmBatch(input) => run_confirm_batch_task(self.state.deps(), &input, last_attempt).await,
            TaskInput::ProcessBatch(input) => run_batch_task(self.state.deps(), &input, last_attempt).await,
            TaskInput::WebhookDelivery(input) => {
                let result = deliver(self.state.deps(), &*self.webhooks, &input).await;
                let outcome = match &result {
                    TaskResult::Done { .. } => "delivered",
                    TaskResult::Retry(_) if last_attempt => "gave_up",
                    TaskResult::Retry(_) => "retried",
                    TaskResult::Failed(_) => "dropped",
                };
                metrics::counter!("stowage_webhook_deliveries_total", "event" => input.event_type().to_owned(), "outcome" => outcome).increment(1);
                result
            }
        }
    }
}

/// Most uploads one sweep expires; the next sweep takes the rest.
const SWEEP_BATCH: u32 = 500;
/// Most listing pages one reconciliation reads (1000 keys each on S3).
const RECONCILE_PAGES: u32 = 100;

/// Runs `job` every `interval` until stopped.
async fn periodically<F, Fut>(interval: Duration, mut stopped: watch::Receiver<bool>, job: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    while !*stopped.borrow() {
        job().await;
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            _ = stopped.changed() => {}
        }
    }
}

/// The expiry sweeper: stale PENDING uploads become FAILED `upload_expired` and their bytes are
/// deleted. Several processes may sweep at once: each expiry is a conditional transition, so an
/// upload is expired once.
async fn sweep(state: Ports) {
    match stowage_domain::usecases::expire::expire_stale_uploads(state.deps(), SWEEP_BATCH).await {
        Ok(report) if report.expired > 0 => {
            metrics::counter!("stowage_sweeper_objects_deleted_total").increment(report.objects_deleted);
            metrics::counter!("stowage_sweeper_delete_failures_total").increment(report.delete_failures);
            metrics::counter!("stowage_sweeper_multipart_aborted_total").increment(report.multipart_aborted);
            tracing::info!(expired = report.expired, objects_deleted = report.objects_deleted, "expired stale uploads");
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "expiry sweep failed; retrying next interval"),
    }
}

/// The finisher: PENDING uploads whose bytes landed without a confirm are confirmed (docs/domain.md
/// "Completion without confirm"). Several processes may run it: the confirm is exactly-once.
async fn finish(state: Ports, finisher: Arc<tokio::sync::Mutex<Finisher>>) {
    let mut finisher = finisher.lock().await;
    match finisher.pass(state.deps()).await {
        Ok(report) => {
            metrics::counter!("stowage_uploads_finished_total", "path" => "finisher").increment(report.confirmed);
            metrics::counter!("stowage_finisher_checks_total").increment(report.checked);
            metrics::gauge!("stowage_finisher_pending").set(report.pending as f64);
            if report.confirmed > 0 {
                tracing::info!(confirmed = report.confirmed, "finished uploads nobody confirmed");
            }
            if let Some(error) = report.last_error {
                tracing::warn!(failed = report.failed, error, "the finisher could not confirm some uploads");
            }
        }
        Err(e) => tracing::warn!(error = %e, "the finisher failed; retrying next interval"),
    }
}

/// The orphan reconciler: objects no upload owns are counted, and deleted when configured to.
async fn reconcile(state: Ports, delete: bool) {
    match stowage_domain::usecases::reconcile::reconcile_orphans(state.deps(), delete, RECONCILE_PAGES).await {
        Ok(report) => {
            metrics::counter!("stowage_reconciler_scanned_total").increment(report.scanned);
            metrics::counter!("stowage_reconciler_orphans_found_total").increment(report.orphans);
            metrics::counter!("stowage_reconciler_orphans_deleted_total").increment(report.deleted);
            if report.orphans > 0 {
                tracing::info!(
                    orphans = report.orphans,
                    deleted = report.deleted,
                    dry_run = !delete,
                    "orphaned objects found"
                );
            }
        }
        Err(e) => tracing::warn!(error = %e, "orphan reconciliation failed; retrying next interval"),
    }
}

fn outcome(result: &TaskResult) -> &'static str {
    match result {
        TaskResult::Done { .. } => "done",
        TaskResult::Failed(_) => "failed",
        TaskResult::Retry(_) => "retry",
    }
}
