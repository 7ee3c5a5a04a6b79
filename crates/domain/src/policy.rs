//! Service-wide rules that are configuration rather than per-bucket settings.

use std::time::Duration;

/// Shortest presigned URL lifetime a client may ask for.
pub const MIN_URL_EXPIRATION_SECS: u32 = 60;
/// Longest presigned URL lifetime a client may ask for.
pub const MAX_URL_EXPIRATION_SECS: u32 = 86_400;
/// Lifetime when the client does not say.
pub const DEFAULT_URL_EXPIRATION_SECS: u32 = 3_600;

/// The largest `metadata` / `object_metadata` object accepted, as compact JSON (per field).
pub const MAX_METADATA_BYTES: usize = 16 * 1024;
/// The largest `bucket_schema` accepted, as compact JSON.
pub const MAX_SCHEMA_BYTES: usize = 64 * 1024;
/// The longest `description` of a namespace or bucket.
pub const MAX_DESCRIPTION_BYTES: usize = 1024;

/// Service-wide upload rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// How long after `expires_at` a PENDING upload may still be confirmed.
    pub confirm_grace: Duration,
    /// Files above this get a multipart upload instead of one PUT (S3's limit is 5 GiB).
    pub max_single_put_bytes: u64,
    /// Preferred size of a multipart upload's parts (grown for files of over 10,000 parts).
    pub multipart_part_size_bytes: u64,
    /// Attempts of a confirm task before the upload fails `verification_unavailable`.
    pub confirm_task_max_attempts: u32,
    /// Attempts of a batch task.
    pub batch_task_max_attempts: u32,
    /// Attempts to deliver a webhook event before its task ends FAILED.
    pub webhook_max_attempts: u32,
    /// Webhook URLs may point at loopback, private and link-local addresses (tests, on-premise
    /// receivers). Off by default: a tenant must not reach into the operator's network.
    pub webhook_allow_private_targets: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            confirm_grace: Duration::from_secs(24 * 3600),
            max_single_put_bytes: 5 * 1024 * 1024 * 1024,
            multipart_part_size_bytes: 64 * 1024 * 1024,
            confirm_task_max_attempts: 5,
            batch_task_max_attempts: 5,
            webhook_max_attempts: 10,
            webhook_allow_private_targets: false,
        }
    }
}
