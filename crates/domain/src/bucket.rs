//! Namespaces and buckets: the tenancy boundary and the per-bucket settings that drive upload
//! rules (size limit, allowed types, async threshold, duplicate scope, checksum requirement).

use crate::ids::{BucketId, NamespaceId};
use crate::names::{BucketName, ContentType, NamespaceName};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A tenant. Everything a key can see lives in the namespaces it was granted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Namespace {
    /// `ns_...`
    pub id: NamespaceId,
    /// Unique name.
    pub name: NamespaceName,
    /// Free text.
    pub description: Option<String>,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Which uploads a content hash is compared against to find duplicates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DuplicateScope {
    /// Uploads of the same bucket (the default).
    #[default]
    Bucket,
    /// Uploads of every bucket of the namespace.
    Namespace,
    /// No duplicate detection.
    Off,
}

/// What happens to a duplicate's own stored bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DuplicateBlobPolicy {
    /// Keep them (the default).
    #[default]
    Keep,
    /// Delete them once the duplicate is recorded: the original's bytes serve both.
    Delete,
}

/// The default async threshold: 100 MiB, as the contract says.
pub const DEFAULT_ASYNC_THRESHOLD: u64 = 100 * 1024 * 1024;

const fn default_async_threshold() -> u64 {
    DEFAULT_ASYNC_THRESHOLD
}

/// A bucket's upload rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BucketSettings {
    /// Largest accepted file; `None` means only the store's own limit applies.
    pub max_file_size_bytes: Option<u64>,
    /// MIME patterns (`image/*`, `application/pdf`); empty means everything is allowed.
    pub allowed_content_types: Vec<String>,
    /// Objects at least this large are verified asynchronously.
    #[serde(default = "default_async_threshold")]
    pub async_threshold_bytes: u64,
    /// Where duplicates are looked for.
    pub duplicate_scope: DuplicateScope,
    /// What happens to a duplicate's bytes.
    pub duplicate_blob_policy: DuplicateBlobPolicy,
    /// When true every upload must declare its SHA-256, which is signed into the PUT URL.
    pub require_checksum: bool,
    /// Where events are POSTed.
    pub webhook_url: Option<String>,
    /// Total bytes the bucket may hold.
    pub quota_bytes: Option<u64>,
}

impl Default for BucketSettings {
    fn default() -> Self {
        Self {
            max_file_size_bytes: None,
            allowed_content_types: Vec::new(),
            async_threshold_bytes: DEFAULT_ASYNC_THRESHOLD,
            duplicate_scope: DuplicateScope::default(),
            duplicate_blob_policy: DuplicateBlobPolicy::default(),
            require_checksum: false,
            webhook_url: None,
            quota_bytes: None,
        }
    }
}

impl BucketSettings {
    /// True when the bucket accepts this content type.
    #[must_use]
    pub fn allows(&self, content_type: &ContentType) -> bool {
        self.allowed_content_types.is_empty() || self.allowed_content_types.iter().any(|p| content_type.matches(p))
    }

    /// True when `size` is above the bucket's limit.
    #[must_use]
    pub fn too_large(&self, size: u64) -> bool {
        self.max_file_size_bytes.is_some_and(|max| size > max)
    }
}

/// A bucket: a named collection of uploads and objects inside one namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    /// `bkt_...`
    pub id: BucketId,
    /// Its namespace.
    pub namespace_id: NamespaceId,
    /// Unique within the namespace.
    pub name: BucketName,
    /// Free text.
    pub description: Option<String>,
    /// Optional schema document, kept as given.
    pub bucket_schema: Option<serde_json::Value>,
    /// Free metadata.
    pub metadata: serde_json::Value,
    /// Upload rules.
    pub settings: BucketSettings,
    /// Signs webhook events (`whsec_...`); generated when the bucket gets a `webhook_url`.
    #[serde(default)]
    pub webhook_secret: Option<String>,
    /// Objects created from non-duplicate uploads.
    pub object_count: u64,
    /// Bytes of those objects.
    pub total_size_bytes: u64,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Bucket {
    /// True when adding `size` bytes would exceed the bucket's quota.
    #[must_use]
    pub fn would_exceed_quota(&self, size: u64) -> bool {
        exceeds_quota(self.settings.quota_bytes, self.total_size_bytes, size)
    }
}

/// The quota rule: `used` bytes plus `adding` must stay within `quota` (none: no limit).
#[must_use]
pub fn exceeds_quota(quota: Option<u64>, used: u64, adding: u64) -> bool {
    quota.is_some_and(|q| used.saturating_add(adding) > q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_default_to_the_contract_values() {
        let s: BucketSettings = serde_json::from_str("{}").unwrap();
        assert_eq!(s.async_threshold_bytes, 104_857_600);
        assert_eq!(s.duplicate_scope, DuplicateScope::Bucket);
        assert_eq!(s.duplicate_blob_policy, DuplicateBlobPolicy::Keep);
        assert!(!s.require_checksum);
    }

    #[test]
    fn allowed_types_are_patterns() {
        let s = BucketSettings { allowed_content_types: vec!["image/*".into()], ..Default::default() };
        assert!(s.allows(&ContentType::parse("image/png").unwrap()));
        assert!(!s.allows(&ContentType::parse("video/mp4").unwrap()));
        assert!(BucketSettings::default().allows(&ContentType::parse("video/mp4").unwrap()));
    }
}
