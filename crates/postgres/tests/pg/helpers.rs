//! Fixtures for namespaces, buckets and uploads; fresh databases come from `stowage-testkit`.

use stowage_domain::bucket::{Bucket, BucketSettings, Namespace};
use stowage_domain::ids::{BucketId, IdSuffix, NamespaceId, UploadId};
use stowage_domain::names::{BucketName, ContentType, Filename, NamespaceName};
use stowage_domain::ports::{TenancyRepo, UploadRepo};
use stowage_domain::upload::Upload;
use stowage_postgres::PgRepository;
use time::OffsetDateTime;

pub use stowage_testkit::TestDb;

static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

pub fn suffix() -> IdSuffix {
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let pid = std::process::id();
    IdSuffix::parse(&format!("{:08}{:08}", pid % 100_000_000, n)).expect("16 digits")
}

pub fn now() -> OffsetDateTime {
    // Postgres keeps microseconds.
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(t.nanosecond() / 1000 * 1000).expect("valid")
}

pub async fn namespace(repo: &PgRepository) -> Namespace {
    let n = Namespace {
        id: NamespaceId::new(&suffix()),
        name: NamespaceName::parse(&format!("ns-{}", suffix().as_str())).unwrap(),
        description: None,
        created_at: now(),
    };
    repo.create_namespace(&n).await.expect("create namespace");
    n
}

pub async fn bucket(repo: &PgRepository, ns: &Namespace, settings: BucketSettings) -> Bucket {
    let b = Bucket {
        id: BucketId::new(&suffix()),
        namespace_id: ns.id.clone(),
        name: BucketName::parse(&format!("b-{}", suffix().as_str())).unwrap(),
        description: None,
        bucket_schema: None,
        metadata: serde_json::json!({}),
        webhook_secret: settings.webhook_url.as_ref().map(|_| "whsec_test".to_owned()),
        settings,
        object_count: 0,
        total_size_bytes: 0,
        created_at: now(),
        updated_at: now(),
    };
    repo.create_bucket(&b).await.expect("create bucket");
    b
}

pub fn new_upload(bucket: &Bucket, created_at: OffsetDateTime) -> Upload {
    let mut upload = Upload::new_pending(
        UploadId::new(&suffix()),
        bucket,
        Filename::parse("file.bin").unwrap(),
        ContentType::parse("application/octet-stream").unwrap(),
        3600,
        created_at,
    );
    upload.metadata = serde_json::json!({"team": "a"});
    upload
}

pub async fn upload(repo: &PgRepository, bucket: &Bucket) -> Upload {
    let u = new_upload(bucket, now());
    repo.insert_upload(&u, None).await.expect("insert upload");
    u
}
