//! The state machine: table rows as unit tests, and docs/domain.md's invariants as property tests over
//! random sequences of events.

use super::*;
use crate::usecases::testkit::{NOW, etag, pending_upload, sha};
use proptest::prelude::*;

const GRACE: Duration = Duration::from_secs(24 * 3600);

fn verified() -> Verified {
    Verified { etag: etag(crate::usecases::testkit::MD5), size: 10, sha256: sha(1) }
}

fn task() -> TaskId {
    TaskId::parse("task_tttttttttttttttt").unwrap()
}

#[test]
fn pending_can_be_verified_and_canceled() {
    let u = pending_upload();
    assert_eq!(u.confirm_entry(NOW, GRACE), ConfirmEntry::Verify);
    assert_eq!(u.cancel_entry(), CancelEntry::Cancel);
    assert_eq!(u.cancel(NOW).unwrap().status, UploadStatus::Canceled);
}

#[test]
fn completed_never_changes_again() {
    let done = pending_upload().complete(verified(), Completion::Original { object: None, batch: None }, NOW).unwrap();
    assert_eq!(done.confirm_entry(NOW, GRACE), ConfirmEntry::Replay);
    assert!(done.complete(verified(), Completion::Original { object: None, batch: None }, NOW).is_err());
    assert!(done.begin_processing(task(), NOW).is_err());
    assert!(done.expire(NOW).is_err());
    assert!(done.cancel(NOW).is_err());
    assert!(done.fail_verification(Failure::expired(), NOW).is_err());
}

#[test]
fn processing_cannot_be_canceled_or_processed_twice() {
    let p = pending_upload().begin_processing(task(), NOW).unwrap();
    assert_eq!(p.cancel_entry(), CancelEntry::NotCancelable);
    assert!(p.begin_processing(task(), NOW).is_err());
    assert_eq!(p.confirm_entry(NOW, GRACE), ConfirmEntry::InProgress(Some(task())));
}

#[test]
fn a_failed_verification_can_be_confirmed_again_or_canceled() {
    let failed = pending_upload()
        .begin_processing(task(), NOW)
        .unwrap()
        .fail_verification(Failure { code: crate::upload::FailureCode::EtagMismatch, message: "m".into() }, NOW)
        .unwrap();
    assert_eq!(failed.confirm_entry(NOW, GRACE), ConfirmEntry::Verify);
    assert_eq!(failed.cancel_entry(), CancelEntry::Cancel);
    assert!(!failed.is_final());
}

#[test]
fn an_expired_upload_is_final() {
    let expired = pending_upload().expire(NOW).unwrap();
    assert!(expired.is_final());
    assert_eq!(expired.confirm_entry(NOW, GRACE), ConfirmEntry::Expired);
    assert_eq!(expired.cancel_entry(), CancelEntry::NotCancelable);
}

#[test]
fn canceling_twice_is_idempotent() {
    let c = pending_upload().cancel(NOW).unwrap();
    assert_eq!(c.cancel(NOW).unwrap(), c);
    assert_eq!(c.cancel_entry(), CancelEntry::AlreadyCanceled);
}

#[test]
fn the_grace_period_is_measured_from_expires_at() {
    let u = pending_upload();
    let just_inside = u.expires_at + GRACE;
    assert_eq!(u.confirm_entry(just_inside, GRACE), ConfirmEntry::Verify);
    assert_eq!(u.confirm_entry(just_inside + time::Duration::seconds(1), GRACE), ConfirmEntry::Expired);
}

#[test]
fn a_duplicates_receipt_is_derived_from_the_row_alone() {
    let dup = pending_upload()
        .complete(verified(), Completion::Duplicate { of: crate::usecases::testkit::upload_id(9), object: None }, NOW)
        .unwrap();
    assert_eq!(dup.receipt(), dup.clone().receipt());
    assert!(dup.receipt().is_duplicate);
}

/// An event of docs/domain.md's table.
#[derive(Debug, Clone)]
enum Event {
    /// A synchronous confirm; whether the bytes are stored and pass the checks.
    Confirm {
        stored: bool,
        passes: bool,
    },
    /// `?async=true`.
    ConfirmAsync,
    /// The verification task runs: 0 passes, 1 a check fails, 2 storage is down.
    RunTask(u8),
    Cancel,
    /// Hours pass.
    Advance(u16),
    /// The expiry sweeper runs.
    Sweep,
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        (any::<bool>(), any::<bool>()).prop_map(|(stored, passes)| Event::Confirm { stored, passes }),
        Just(Event::ConfirmAsync),
        (0u8..3).prop_map(Event::RunTask),
        Just(Event::Cancel),
        (0u16..30).prop_map(Event::Advance),
        Just(Event::Sweep),
    ]
}

const MAX_ATTEMPTS: u32 = 3;

/// The upload and the side effects the table's rows cause, applied as the use cases apply them.
struct Model {
    upload: Upload,
    now: OffsetDateTime,
    objects: u32,
    live_tasks: u32,
    attempts: u32,
}

impl Model {
    fn new() -> Self {
        Self { upload: pending_upload(), now: NOW, objects: 0, live_tasks: 0, attempts: 0 }
    }

    fn set(&mut self, next: Result<Upload, TransitionError>) {
        if let Ok(next) = next {
            self.upload = next;
        }
    }

    fn complete(&mut self) {
        let object = ObjectId::parse("obj_oooooooooooooooo").ok();
        if let Ok(next) = self.upload.complete(verified(), Completion::Original { object, batch: None }, self.now) {
            self.objects += 1;
            self.upload = next;
        }
    }

    fn end_task(&mut self) {
        self.live_tasks = self.live_tasks.saturating_sub(1);
    }

    fn apply(&mut self, event: &Event) {
        match event {
            Event::Confirm { stored, passes } => match self.upload.confirm_entry(self.now, GRACE) {
                ConfirmEntry::Verify if *stored && *passes => self.complete(),
                ConfirmEntry::Expired if !self.upload.is_expired_failure() => self.set(self.upload.expire(self.now)),
                _ => {}
            },
            Event::ConfirmAsync => match self.upload.confirm_entry(self.now, GRACE) {
                ConfirmEntry::Verify => {
                    if let Ok(next) = self.upload.begin_processing(task(), self.now) {
                        self.upload = next;
                        self.live_tasks += 1;
                        self.attempts = 0;
                    }
                }
                ConfirmEntry::Expired if !self.upload.is_expired_failure() => self.set(self.upload.expire(self.now)),
                _ => {}
            },
            Event::RunTask(outcome) if self.live_tasks > 0 && self.upload.status == UploadStatus::Processing => {
                self.attempts += 1;
                match outcome {
                    0 => {
                        self.complete();
                        self.end_task();
                    }
                    1 => {
                        self.set(self.upload.fail_verification(
                            Failure { code: crate::upload::FailureCode::EtagMismatch, message: String::new() },
                            self.now,
                        ));
                        self.end_task();
                    }
                    _ if self.attempts >= MAX_ATTEMPTS => {
                        let f = Failure {
                            code: crate::upload::FailureCode::VerificationUnavailable,
                            message: String::new(),
                        };
                        self.set(self.upload.fail_verification(f, self.now));
                        self.end_task();
                    }
                    _ => {}
                }
            }
            Event::RunTask(_) => {}
            Event::Cancel => self.set(self.upload.cancel(self.now)),
            Event::Advance(hours) => self.now += time::Duration::hours(i64::from(*hours)),
            Event::Sweep => {
                if self.upload.status == UploadStatus::Pending && self.upload.is_past_grace(self.now, GRACE) {
                    self.set(self.upload.expire(self.now));
                }
            }
        }
    }

    /// The events that docs/domain.md says always exist for a non-final upload: time passing and the
    /// sweeper for PENDING, the task's retries for PROCESSING.
    fn run_escape_events(&mut self) {
        for _ in 0..MAX_ATTEMPTS {
            self.apply(&Event::RunTask(2));
        }
        self.apply(&Event::Advance(24 * 365));
        self.apply(&Event::Sweep);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn no_sequence_creates_two_objects_for_one_upload(events in prop::collection::vec(event(), 0..40)) {
        let mut model = Model::new();
        for e in &events {
            model.apply(e);
            prop_assert!(model.objects <= 1, "two objects after {:?}", events);
        }
        prop_assert_eq!(model.objects == 1, model.upload.status == UploadStatus::Completed);
    }

    #[test]
    fn a_final_upload_never_changes_again(events in prop::collection::vec(event(), 0..40)) {
        let mut model = Model::new();
        for e in &events {
            let before = model.upload.clone();
            model.apply(e);
            if before.is_final() {
                prop_assert_eq!(&before, &model.upload, "final upload changed by {:?}", e);
            }
        }
    }

    #[test]
    fn processing_always_has_exactly_one_live_task(events in prop::collection::vec(event(), 0..40)) {
        let mut model = Model::new();
        for e in &events {
            model.apply(e);
            let processing = model.upload.status == UploadStatus::Processing;
            prop_assert_eq!(model.live_tasks, u32::from(processing));
        }
    }

    #[test]
    fn no_sequence_leaves_an_upload_pending_or_processing_for_ever(events in prop::collection::vec(event(), 0..40)) {
        let mut model = Model::new();
        for e in &events {
            model.apply(e);
        }
        model.run_escape_events();
        prop_assert!(
            !matches!(model.upload.status, UploadStatus::Pending | UploadStatus::Processing),
            "stuck in {} after {:?}", model.upload.status, events
        );
    }
}

#[test]
fn failure_codes_round_trip_as_their_stored_names() {
    for code in FailureCode::ALL {
        assert_eq!(FailureCode::parse(code.as_str()), Some(code));
        assert_eq!(serde_json::to_value(code).unwrap(), serde_json::json!(code.as_str()));
        assert_eq!(serde_json::from_value::<FailureCode>(serde_json::json!(code.as_str())).unwrap(), code);
    }
    assert_eq!(FailureCode::parse("failed"), None);
    let stored = serde_json::to_value(Failure::expired()).unwrap();
    assert_eq!(stored["code"], "upload_expired", "the stored form is unchanged: old rows still read");
}
