//! Completion without confirm: an upload whose bytes landed but whose client never confirmed (a
//! closed tab, a browser whose uploader has no confirm step, a network gone after the PUT) is
//! confirmed by stowage itself, by the ordinary confirm: the same verification, dedup, object and
//! webhook, exactly once (a second finish, or a late confirm by the client, replays the first).
//!
//! Two paths lead here: the finisher, which checks PENDING uploads with HeadObject on a backoff
//! schedule (the only way on stores without bucket notifications, such as Garage), and S3 event
//! notifications (MinIO's webhook target, AWS through SNS), which name the key that was written.

use super::Deps;
use super::confirm::{self, ConfirmError, ConfirmRequest};
use crate::error::RepoError;
use crate::ids::UploadId;
use crate::ports::PendingCursor;
use crate::upload::{ConfirmReceipt, Upload};
use std::collections::HashMap;
use std::time::Duration;
use time::OffsetDateTime;

/// What finishing one upload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finished {
    /// Its bytes were there: confirmed now (or earlier: the receipt is replayed).
    Confirmed(Box<ConfirmReceipt>),
    /// Not PENDING any more (confirmed, canceled, failed).
    AlreadyDone,
    /// No bytes yet.
    NotThere,
}

/// Confirms `upload` if its bytes are in the store.
///
/// # Errors
/// What the confirm refuses (a verification failure leaves the upload PENDING, as a client's
/// confirm would), a port failure.
pub async fn finish_upload(deps: Deps<'_>, upload: &Upload) -> Result<Finished, ConfirmError> {
    if !upload.accepts_bytes() {
        return Ok(Finished::AlreadyDone);
    }
    // A multipart upload is assembled by its complete call; before that its key holds nothing.
    if deps.store.head(&upload.key).await?.is_none() {
        return Ok(Finished::NotThere);
    }
    let request = ConfirmRequest::default();
    let receipt =
        confirm::confirm_upload(deps, &upload.namespace_id, upload.bucket_id.as_str(), upload.id.as_str(), &request)
            .await?;
    Ok(Finished::Confirmed(Box::new(receipt)))
}

/// Finishes the upload whose bytes an S3 event says were written to `key`. Keys that are not an
/// upload's (other writers of the bucket) and unknown uploads are `Ok(None)`: events are
/// at-least-once and unordered, so a repeated or late event changes nothing.
///
/// # Errors
/// What [`finish_upload`] returns.
pub async fn finish_key(deps: Deps<'_>, key: &str) -> Result<Option<Finished>, ConfirmError> {
    match super::upload_at(deps, key).await? {
        Some(upload) => finish_upload(deps, &upload).await.map(Some),
        None => Ok(None),
    }
}

/// When the finisher looks at an upload next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Due {
    at: OffsetDateTime,
    delay: Duration,
}

/// The finisher's schedule: each PENDING upload is first checked `first_check` after it was
/// created, then after doubling delays up to `max_delay`, until it is confirmed or expires. Kept
/// in memory: after a restart every upload is checked once more, which is harmless.
#[derive(Debug, Clone)]
pub struct Finisher {
    first_check: Duration,
    max_delay: Duration,
    due: HashMap<UploadId, Due>,
}

/// What one finisher pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FinisherReport {
    /// PENDING uploads looked at.
    pub pending: u64,
    /// Checked with HeadObject.
    pub checked: u64,
    /// Confirmed.
    pub confirmed: u64,
    /// Their bytes were there but the confirm refused them (verification) or failed (outage).
    pub failed: u64,
    /// The last of those failures, for the log.
    pub last_error: Option<String>,
}

/// Uploads read per page.
const PAGE: u32 = 200;

impl Finisher {
    /// A schedule starting `first_check` after creation, backing off to `max_delay`.
    #[must_use]
    pub fn new(first_check: Duration, max_delay: Duration) -> Self {
        Self { first_check, max_delay: max_delay.max(first_check), due: HashMap::new() }
    }

    /// One pass over every PENDING upload that may still be confirmed.
    ///
    /// # Errors
    /// A database failure while listing (what was done before it stays done).
    pub async fn pass(&mut self, deps: Deps<'_>) -> Result<FinisherReport, RepoError> {
        let now = deps.clock.now();
        let since = now - deps.policy.confirm_grace;
        let mut report = FinisherReport::default();
        let mut seen = HashMap::with_capacity(self.due.len());
        let mut after = None;
        loop {
            let page = deps.uploads.list_pending(since, after.take(), PAGE).await?;
            let full = page.len() == PAGE as usize;
            for upload in &page {
                report.pending += 1;
                let due = self
                    .due
                    .get(&upload.id)
                    .copied()
                    .unwrap_or(Due { at: upload.created_at + self.first_check, delay: self.first_check });
                if due.at > now {
                    seen.insert(upload.id.clone(), due);
                    continue;
                }
                report.checked += 1;
                let retry = match finish_upload(deps, upload).await {
                    Ok(Finished::Confirmed(_)) => {
                        report.confirmed += 1;
                        false
                    }
                    Ok(Finished::AlreadyDone) => false,
                    Ok(Finished::NotThere) => true,
                    Err(e) => {
                        report.failed += 1;
                        report.last_error = Some(format!("upload {}: {e}", upload.id));
                        true
                    }
                };
                if retry {
                    let delay = (due.delay * 2).min(self.max_delay);
                    seen.insert(upload.id.clone(), Due { at: now + delay, delay });
                }
            }
            match page.last() {
                Some(last) if full => after = Some(PendingCursor::after(last)),
                _ => break,
            }
        }
        self.due = seen;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usecases::testkit::*;

    #[tokio::test]
    async fn an_upload_without_bytes_is_checked_again_only_after_a_doubling_delay() {
        let mut world = World::new();
        let mut upload = pending_upload();
        upload.created_at = world.clock.0 - time::Duration::minutes(10);
        let listed = upload.clone();
        world.uploads.expect_list_pending().returning(move |_, _, _| Ok(vec![listed.clone()]));
        world.store.expect_head().times(2).returning(|_| Ok(None));
        let mut finisher = Finisher::new(Duration::from_secs(10), Duration::from_secs(300));

        let first = finisher.pass(world.deps()).await.unwrap();
        assert_eq!((first.pending, first.checked, first.confirmed), (1, 1, 0));
        let soon = finisher.pass(world.deps()).await.unwrap();
        assert_eq!((soon.pending, soon.checked), (1, 0), "not due yet: checked again after 20 s");
        world.clock = FixedClock(world.clock.0 + time::Duration::seconds(21));
        let later = finisher.pass(world.deps()).await.unwrap();
        assert_eq!(later.checked, 1);
    }

    #[tokio::test]
    async fn a_young_upload_is_not_checked_before_its_first_check() {
        let mut world = World::new();
        let mut upload = pending_upload();
        upload.created_at = world.clock.0 - time::Duration::seconds(3);
        world.uploads.expect_list_pending().returning(move |_, _, _| Ok(vec![upload.clone()]));
        world.store.expect_head().never();
        let report = Finisher::new(Duration::from_secs(10), Duration::from_secs(300)).pass(world.deps()).await.unwrap();
        assert_eq!((report.pending, report.checked), (1, 0));
    }

    #[tokio::test]
    async fn an_event_for_a_key_that_is_no_uploads_changes_nothing() {
        let world = World::new();
        assert_eq!(finish_key(world.deps(), "someone/else.bin").await.unwrap(), None);
        assert_eq!(finish_key(world.deps(), "uploads/../x").await.unwrap(), None);
    }
}
