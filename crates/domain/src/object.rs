//! Bucket objects and their blobs. A confirmed upload becomes an object (status `DRAFT`) holding
//! one blob that points at the stored bytes and records what verification learnt about them.

use crate::content::{ETag, Sha256Hex};
use crate::ids::{BlobId, BucketId, NamespaceId, ObjectId, UploadId};
use crate::names::ObjectKey;
use crate::status::TaskStatus;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// What is known about a blob's bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobDetails {
    /// The client's file name.
    pub filename: String,
    /// Size in bytes.
    pub size_bytes: u64,
    /// Media type.
    pub mime_type: String,
    /// SHA-256 of the content.
    pub hash: Option<Sha256Hex>,
    /// The media type detected from the first bytes by batch processing (`None` when unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detected_mime_type: Option<String>,
    /// When batch processing last verified the stored bytes.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "time::serde::rfc3339::option")]
    pub verified_at: Option<OffsetDateTime>,
    /// The store's ETag of the bytes verified at confirm: later reads compare it, so bytes
    /// replaced behind stowage's back are detected ([`Self::matches`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<ETag>,
    /// When the stored bytes were found to differ from the verified ones; such a blob is never
    /// served, processed or answered as a duplicate again.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "time::serde::rfc3339::option")]
    pub tampered_at: Option<OffsetDateTime>,
}

impl BlobDetails {
    /// True when `head` (what the store holds now) is still the bytes verified at confirm: the
    /// same size and, where the ETag was recorded, the same ETag. A store overwrite (a replayed
    /// upload URL on a store without conditional writes) changes the ETag.
    #[must_use]
    pub fn matches(&self, head: &crate::ports::ObjectHead) -> bool {
        head.size == self.size_bytes && self.etag.as_ref().is_none_or(|etag| *etag == head.etag)
    }
}

/// How many leading bytes media-type detection reads.
pub const SNIFF_BYTES: u64 = 8192;

/// The media type the first bytes of a file show, if they show one.
#[must_use]
pub fn detect_media_type(prefix: &[u8]) -> Option<String> {
    infer::get(prefix).map(|kind| kind.mime_type().to_owned())
}

/// One stored file of an object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blob {
    /// `blob_...`
    pub id: BlobId,
    /// The object property the blob fills (e.g. `content`).
    pub property: String,
    /// Blob kind (e.g. `IMAGE`, `FILE`).
    pub blob_type: String,
    /// Key of the bytes in the store.
    pub key: ObjectKey,
    /// `s3://bucket/key` style locator, as the store names it.
    pub url: String,
    /// Verification results.
    pub details: BlobDetails,
}

/// A bucket object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketObject {
    /// `obj_...`
    pub id: ObjectId,
    /// Its bucket.
    pub bucket_id: BucketId,
    /// Its namespace.
    pub namespace_id: NamespaceId,
    /// The upload it came from.
    pub upload_id: Option<UploadId>,
    /// `DRAFT` until processed.
    pub status: TaskStatus,
    /// The blobs.
    pub blobs: Vec<Blob>,
    /// The upload's `object_metadata`.
    pub metadata: serde_json::Value,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Default property of an upload's blob when the client names none.
pub const DEFAULT_BLOB_PROPERTY: &str = "content";

/// The blob type a content type implies when the client names none.
#[must_use]
pub fn blob_type_for(mime: &str) -> &'static str {
    match mime.split('/').next() {
        Some("image") => "IMAGE",
        Some("video") => "VIDEO",
        Some("audio") => "AUDIO",
        Some("text") => "TEXT",
        _ => "FILE",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_type_is_detected_from_magic_bytes() {
        assert_eq!(detect_media_type(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").as_deref(), Some("image/png"));
        assert_eq!(detect_media_type(b"%PDF-1.7\n").as_deref(), Some("application/pdf"));
        assert_eq!(detect_media_type(b"just some text"), None);
    }

    #[test]
    fn blob_type_follows_the_media_family() {
        assert_eq!(blob_type_for("image/png"), "IMAGE");
        assert_eq!(blob_type_for("video/mp4"), "VIDEO");
        assert_eq!(blob_type_for("application/pdf"), "FILE");
    }
}
