//! Statuses. [`TaskStatus`] is the contract's `TaskStatusEnum` (15 values, spelled as the seed
//! spells them); [`UploadStatus`] is the subset an upload moves through.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The contract's `TaskStatusEnum`, used by tasks, batches and uploads alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskStatus {
    /// Queued but not started.
    Pending,
    /// Waiting in a queue.
    Queued,
    /// Being executed.
    InProgress,
    /// Actively processing data.
    Processing,
    /// Finished without errors.
    Completed,
    /// Finished, but some items failed.
    CompletedWithErrors,
    /// Could not complete.
    Failed,
    /// Canceled by a user or the system.
    Canceled,
    /// Stopped before finishing (e.g. shutdown).
    Interrupted,
    /// Could not be determined.
    Unknown,
    /// Intentionally skipped.
    Skipped,
    /// Not yet submitted.
    Draft,
    /// An entity that is operational.
    Active,
    /// An archived entity.
    Archived,
    /// A temporarily suspended entity.
    Suspended,
}

impl TaskStatus {
    /// Every value, in the seed's order.
    pub const ALL: [Self; 15] = [
        Self::Pending,
        Self::Queued,
        Self::InProgress,
        Self::Processing,
        Self::Completed,
        Self::CompletedWithErrors,
        Self::Failed,
        Self::Canceled,
        Self::Interrupted,
        Self::Unknown,
        Self::Skipped,
        Self::Draft,
        Self::Active,
        Self::Archived,
        Self::Suspended,
    ];

    /// The value as the contract spells it.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Queued => "QUEUED",
            Self::InProgress => "IN_PROGRESS",
            Self::Processing => "PROCESSING",
            Self::Completed => "COMPLETED",
            Self::CompletedWithErrors => "COMPLETED_WITH_ERRORS",
            Self::Failed => "FAILED",
            Self::Canceled => "CANCELED",
            Self::Interrupted => "INTERRUPTED",
            Self::Unknown => "UNKNOWN",
            Self::Skipped => "SKIPPED",
            Self::Draft => "DRAFT",
            Self::Active => "ACTIVE",
            Self::Archived => "ARCHIVED",
            Self::Suspended => "SUSPENDED",
        }
    }

    /// Parses the contract's spelling.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Terminal statuses never change again: COMPLETED, COMPLETED_WITH_ERRORS, FAILED, CANCELED.
    #[must_use]
    pub const fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::CompletedWithErrors | Self::Failed | Self::Canceled)
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an upload is in its life (see docs/domain.md's table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UploadStatus {
    /// Created; the bytes may or may not be in storage yet.
    Pending,
    /// Asynchronous verification queued or running.
    Processing,
    /// Verified: an original or a duplicate.
    Completed,
    /// Verification failed, or the upload expired.
    Failed,
    /// Canceled by the client.
    Canceled,
}

impl UploadStatus {
    /// The same value as a contract `TaskStatusEnum`.
    #[must_use]
    pub const fn as_task_status(self) -> TaskStatus {
        match self {
            Self::Pending => TaskStatus::Pending,
            Self::Processing => TaskStatus::Processing,
            Self::Completed => TaskStatus::Completed,
            Self::Failed => TaskStatus::Failed,
            Self::Canceled => TaskStatus::Canceled,
        }
    }

    /// The contract's spelling.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        self.as_task_status().as_str()
    }

    /// Parses the contract's spelling of one of the five upload statuses.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Processing, Self::Completed, Self::Failed, Self::Canceled]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

impl fmt::Display for UploadStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_status_serializes_exactly_as_the_seed_spells_it() {
        let seed = [
            "PENDING",
            "QUEUED",
            "IN_PROGRESS",
            "PROCESSING",
            "COMPLETED",
            "COMPLETED_WITH_ERRORS",
            "FAILED",
            "CANCELED",
            "INTERRUPTED",
            "UNKNOWN",
            "SKIPPED",
            "DRAFT",
            "ACTIVE",
            "ARCHIVED",
            "SUSPENDED",
        ];
        for (value, spelled) in TaskStatus::ALL.iter().zip(seed) {
            assert_eq!(serde_json::to_string(value).unwrap(), format!("\"{spelled}\""));
            assert_eq!(value.as_str(), spelled);
            assert_eq!(TaskStatus::parse(spelled), Some(*value));
        }
    }

    #[test]
    fn exactly_four_task_statuses_are_terminal() {
        let terminal: Vec<_> = TaskStatus::ALL.into_iter().filter(|s| s.is_terminal()).collect();
        assert_eq!(
            terminal,
            [TaskStatus::Completed, TaskStatus::CompletedWithErrors, TaskStatus::Failed, TaskStatus::Canceled]
        );
    }

    #[test]
    fn upload_status_is_a_task_status() {
        assert_eq!(UploadStatus::parse("PROCESSING"), Some(UploadStatus::Processing));
        assert_eq!(UploadStatus::parse("DRAFT"), None);
        assert_eq!(serde_json::to_string(&UploadStatus::Canceled).unwrap(), "\"CANCELED\"");
    }
}
