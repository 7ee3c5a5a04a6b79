//! Fixtures shared by the use-case tests: a fixed clock, counting ids, a bucket and uploads in
//! each state, and mocks of the ports wired into [`Deps`].

use crate::bucket::{Bucket, BucketSettings};
use crate::content::{ETag, Sha256Hex, StoredChecksum};
use crate::ids::{BucketId, IdSuffix, NamespaceId, UploadId};
use crate::names::{BucketName, ContentType, Filename};
use crate::policy::Policy;
use crate::ports::{
    Clock, IdGenerator, MockBatchRepo, MockKeyRepo, MockObjectRepo, MockObjectStore, MockTaskQueue, MockTaskReads,
    MockTenancyRepo, MockUploadRepo, ObjectHead,
};
use crate::upload::Upload;
use std::sync::atomic::{AtomicU64, Ordering};
use time::OffsetDateTime;
use time::macros::datetime;

pub const NOW: OffsetDateTime = datetime!(2026-01-15 10:35:00 UTC);
pub const MD5: &str = "d41d8cd98f00b204e9800998ecf8427e";

pub struct FixedClock(pub OffsetDateTime);
impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        self.0
    }
}

#[derive(Default)]
pub struct CountingIds(AtomicU64);
impl IdGenerator for CountingIds {
    fn suffix(&self) -> IdSuffix {
        let n = self.0.fetch_add(1, Ordering::Relaxed);
        IdSuffix::parse(&format!("{n:016}")).expect("16 digits")
    }
}

pub fn ns() -> NamespaceId {
    NamespaceId::parse("ns_nnnnnnnnnnnnnnnn").unwrap()
}

pub fn bucket() -> Bucket {
    Bucket {
        id: BucketId::parse("bkt_bbbbbbbbbbbbbbbb").unwrap(),
        namespace_id: ns(),
        name: BucketName::parse("photos").unwrap(),
        description: None,
        bucket_schema: None,
        metadata: serde_json::json!({}),
        settings: BucketSettings::default(),
        webhook_secret: None,
        object_count: 0,
        total_size_bytes: 0,
        created_at: NOW,
        updated_at: NOW,
    }
}

pub fn sha(byte: u8) -> Sha256Hex {
    Sha256Hex::from_bytes(&[byte; 32])
}

pub fn etag(s: &str) -> ETag {
    ETag::parse(s).unwrap()
}

pub fn upload_id(n: u8) -> UploadId {
    UploadId::parse(&format!("upl_{:016}", n)).unwrap()
}

pub fn pending_upload() -> Upload {
    let mut upload = Upload::new_pending(
        upload_id(1),
        &bucket(),
        Filename::parse("cat.png").unwrap(),
        ContentType::parse("image/png").unwrap(),
        3600,
        NOW - time::Duration::minutes(5),
    );
    upload.expires_at = NOW + time::Duration::minutes(55);
    upload
}

pub fn head(size: u64, checksum: Option<StoredChecksum>) -> ObjectHead {
    ObjectHead {
        size,
        etag: etag(MD5),
        sha256: checksum,
        content_type: Some("image/png".into()),
        last_modified: Some(NOW),
    }
}

/// The ports of one use-case test: a mock of every role, a fixed clock, counting ids.
pub struct World {
    pub tenancy: MockTenancyRepo,
    pub keys: MockKeyRepo,
    pub uploads: MockUploadRepo,
    pub objects: MockObjectRepo,
    pub batches: MockBatchRepo,
    pub queue: MockTaskQueue,
    pub tasks: MockTaskReads,
    pub store: MockObjectStore,
    pub clock: FixedClock,
    pub ids: CountingIds,
    pub policy: Policy,
}

impl World {
    pub fn new() -> Self {
        let mut store = MockObjectStore::new();
        store.expect_locator().returning(|key| format!("s3://test/{key}"));
        Self {
            tenancy: MockTenancyRepo::new(),
            keys: MockKeyRepo::new(),
            uploads: MockUploadRepo::new(),
            objects: MockObjectRepo::new(),
            batches: MockBatchRepo::new(),
            queue: MockTaskQueue::new(),
            tasks: MockTaskReads::new(),
            store,
            clock: FixedClock(NOW),
            ids: CountingIds::default(),
            policy: Policy::default(),
        }
    }

    pub fn deps(&self) -> super::Deps<'_> {
        super::Deps {
            tenancy: &self.tenancy,
            keys: &self.keys,
            uploads: &self.uploads,
            objects: &self.objects,
            batches: &self.batches,
            queue: &self.queue,
            tasks: &self.tasks,
            store: &self.store,
            clock: &self.clock,
            ids: &self.ids,
            policy: &self.policy,
        }
    }

    /// The repository finds `bucket` and `upload`, and no earlier upload of the same content.
    pub fn with(mut self, bucket: Bucket, upload: Upload) -> Self {
        self.uploads.expect_find_claim().returning(|_, _| Ok(None));
        let cached = bucket.clone();
        self.tenancy.expect_find_bucket().returning(move |_, _| Ok(Some(bucket.clone())));
        self.tenancy.expect_find_bucket_cached().returning(move |_, _| Ok(Some(cached.clone())));
        self.uploads.expect_get_upload().returning(move |_, _| Ok(Some(upload.clone())));
        self
    }
}
