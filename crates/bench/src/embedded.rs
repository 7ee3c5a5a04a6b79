//! The embedded default — `stowage serve` with no configuration: SQLite and the local disk — the
//! first thing every new user runs. Confirms (both variants), the concurrency sweep and creates
//! through HTTP, against a ceiling of its own: the same repository calls a request makes (the
//! upload and the confirmation's transaction; the bucket and the insert for a create), through the same SQLite adapter and driver
//! with its group commit, without HTTP, authentication or the store — and the same with one commit
//! per transaction (group size 1), the reference group commit is measured against.

use crate::api::Api;
use crate::load::{self, Stats};
use crate::report::{Section, ms};
use crate::scenarios::{
    BUCKET, CONCURRENCY, CPU_HEAD, CpuProfile, CpuSample, OBJECT_SIZE, TABLE_HEAD, confirm_rounds, confirms_per_round,
    creates_per_round, rounds, stats_row, sweep, warm_up,
};
use crate::server::{BenchEnv, Server};
use serde_json::json;
use sha2::Digest;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use stowage_domain::bucket::Bucket;
use stowage_domain::content::{ETag, Sha256Hex};
use stowage_domain::dedup::ContentClaim;
use stowage_domain::ids::{BlobId, IdSuffix, ObjectId, UploadId};
use stowage_domain::names::{ContentType, Filename};
use stowage_domain::object::{Blob, BlobDetails, BucketObject};
use stowage_domain::ports::{ConfirmationOutcome, ConfirmationPlan, Repository, TenancyRepo, UploadRepo};
use stowage_domain::status::{TaskStatus, UploadStatus};
use stowage_domain::upload::{Upload, Verified};
use stowage_sqlite::SqliteRepository;
use time::OffsetDateTime;

static NEXT: AtomicU64 = AtomicU64::new(1);

fn suffix() -> IdSuffix {
    IdSuffix::parse(&format!("9{:015}", NEXT.fetch_add(1, Ordering::Relaxed))).expect("16 digits")
}

pub async fn bench(env: &BenchEnv) -> Section {
    let dir = std::env::temp_dir().join(format!("stowage-bench-embedded-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let server = Server::embedded(env, &dir, None).await;
    let api = Api::new(&server);
    api.bucket(BUCKET, json!({"async_threshold_bytes": 4_294_967_296_u64})).await;

    let variants =
        [("declared SHA-256 (checksum signed; no read)", true), ("no declared SHA-256 (read + hash)", false)];
    let (results, mut cpu) = confirm_rounds(&api, &server, "embedded confirm", variants).await;
    let (sweep_rows, points) = sweep(&api, "SQLite + local disk (embedded)").await;
    let request =
        json!({"filename": "object.bin", "content_type": "application/octet-stream", "file_size_bytes": OBJECT_SIZE});
    let send = {
        let (api, request) = (api.clone(), request.clone());
        move |_: Arc<usize>| {
            let (api, request) = (api.clone(), request.clone());
            async move { api.post(&format!("/v1/buckets/{BUCKET}/uploads"), &request).await.0 == 200 }
        }
    };
    load::run((0..warm_up()).collect(), CONCURRENCY, send.clone()).await;
    let mut creates = Vec::new();
    let mut samples = Vec::new();
    for _ in 0..rounds() {
        let profile = CpuProfile::start(&server);
        let stats = load::run((0..creates_per_round()).collect(), CONCURRENCY, send.clone()).await;
        samples.push(profile.sample(&server, &stats));
        creates.push(stats);
    }
    cpu.push_str(&CpuSample::row("embedded create upload", &samples));
    let create = load::median_run(creates);
    server.stop().await;

    let db = dir.join("stowage-data/stowage.db").display().to_string();
    let grouped = median_of(rounds(), || ceiling_confirms(&db, stowage_sqlite::MAX_GROUP)).await;
    let one_by_one = median_of(rounds(), || ceiling_confirms(&db, 1)).await;
    let create_ceiling = median_of(rounds(), || ceiling_creates(&db)).await;
    let _ = std::fs::remove_dir_all(&dir);

    let mut rows = String::new();
    for (variant, stats) in &results {
        rows.push_str(&stats_row(&format!("stowage confirm, {variant}"), stats, Some(grouped.throughput())));
    }
    let _ = writeln!(
        rows,
        "| repository only: the confirm's reads and transaction, group commit (ceiling) | {:.0}/s | {} | {} | {} | {} | 1.00 |",
        grouped.throughput(),
        ms(grouped.p50),
        ms(grouped.p90),
        ms(grouped.p99),
        grouped.errors
    );
    let _ = writeln!(
        rows,
        "| repository only, one commit per confirm (group size 1) | {:.0}/s | {} | {} | {} | {} | {:.2} |",
        one_by_one.throughput(),
        ms(one_by_one.p50),
        ms(one_by_one.p90),
        ms(one_by_one.p99),
        one_by_one.errors,
        one_by_one.throughput() / grouped.throughput()
    );
    let declared = &results[0].1;
    println!(
        "embedded confirm: {:.0}/s, ratio {:.2} to its ceiling, {:.2}x one commit per confirm",
        declared.throughput(),
        declared.throughput() / grouped.throughput(),
        declared.throughput() / one_by_one.throughput()
    );
    let body = format!(
        "`stowage serve` with no configuration (SQLite with `synchronous = FULL`, files on the local disk; the \
         PUT goes to stowage's own `/storage` route). {} confirms per round of distinct {OBJECT_SIZE}-byte objects, \
         {CONCURRENCY} clients.\n\n{TABLE_HEAD}{rows}\n\
         Declared-checksum confirms against one commit per confirm through the same adapter: **{:.2}×**.\n\n\
         {} creates per round, {CONCURRENCY} clients:\n\n{TABLE_HEAD}{}\
         | repository only: the create's insert (ceiling) | {:.0}/s | {} | {} | {} | {} | 1.00 |\n\n\
         {CPU_HEAD}{cpu}\n{sweep_rows}",
        confirms_per_round(),
        declared.throughput() / one_by_one.throughput(),
        creates_per_round(),
        stats_row("stowage create upload", &create, Some(create_ceiling.throughput())),
        create_ceiling.throughput(),
        ms(create_ceiling.p50),
        ms(create_ceiling.p90),
        ms(create_ceiling.p99),
        create_ceiling.errors,
    );
    Section { title: "embedded default (SQLite + local disk)".to_owned(), body, points }
}

async fn median_of<F, Fut>(n: usize, run: F) -> Stats
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Stats>,
{
    let mut runs = Vec::new();
    for _ in 0..n {
        runs.push(run().await);
    }
    load::median_run(runs)
}

/// The bench bucket of the embedded server's `default` namespace.
async fn bench_bucket(repo: &SqliteRepository) -> Bucket {
    let ns = repo.find_namespace("default").await.expect("find namespace").expect("the default namespace");
    repo.find_bucket(&ns.id, BUCKET).await.expect("find bucket").expect("the bench bucket")
}

fn pending(bucket: &Bucket) -> Upload {
    Upload::new_pending(
        UploadId::new(&suffix()),
        bucket,
        Filename::parse("object.bin").expect("name"),
        ContentType::parse("application/octet-stream").expect("type"),
        3600,
        OffsetDateTime::now_utc(),
    )
}

/// What a confirm of `upload` writes: its content claim, object and blob, its usage.
fn plan(bucket: &Bucket, upload: &Upload) -> ConfirmationPlan {
    let digest: [u8; 32] = sha2::Sha256::digest(upload.id.as_str().as_bytes()).into();
    let verified = Verified {
        etag: ETag::parse("0123456789abcdef0123456789abcdef").expect("etag"),
        size: OBJECT_SIZE as u64,
        sha256: Sha256Hex::from_bytes(&digest),
    };
    let now = OffsetDateTime::now_utc();
    let object = BucketObject {
        id: ObjectId::new(&suffix()),
        bucket_id: bucket.id.clone(),
        namespace_id: bucket.namespace_id.clone(),
        upload_id: Some(upload.id.clone()),
        status: TaskStatus::Draft,
        blobs: vec![Blob {
            id: BlobId::new(&suffix()),
            property: "content".into(),
            blob_type: "FILE".into(),
            key: upload.key.clone(),
            url: format!("file://{}", upload.key),
            details: BlobDetails {
                filename: "object.bin".into(),
                size_bytes: verified.size,
                mime_type: "application/octet-stream".into(),
                hash: Some(verified.sha256.clone()),
                detected_mime_type: None,
                verified_at: None,
                etag: Some(verified.etag.clone()),
                tampered_at: None,
            },
        }],
        metadata: json!({}),
        created_at: now,
    };
    ConfirmationPlan {
        upload_id: upload.id.clone(),
        expected: UploadStatus::Pending,
        claim: ContentClaim::for_content(bucket, &verified.sha256),
        verified,
        object: Some(object),
        batch: None,
        webhook: None,
        bucket_id: bucket.id.clone(),
        holder_trusted: true,
        quota_bytes: bucket.settings.quota_bytes,
        now,
    }
}

/// Confirms through the repository alone: per confirm the read a request makes (the upload; the
/// namespace and the bucket come from stowage's caches) and the confirmation's transaction, at
/// most `max_group` per commit.
async fn ceiling_confirms(db: &str, max_group: usize) -> Stats {
    let repo = Arc::new(SqliteRepository::open_with_max_group(db, max_group).await.expect("open the database"));
    let bucket = bench_bucket(&repo).await;
    let uploads: Vec<Upload> = (0..confirms_per_round()).map(|_| pending(&bucket)).collect();
    let inserts = {
        let repo = Arc::clone(&repo);
        load::run(uploads.clone(), CONCURRENCY, move |u: Arc<Upload>| {
            let repo = Arc::clone(&repo);
            async move { repo.insert_upload(&u, None).await.is_ok() }
        })
        .await
    };
    assert_eq!(inserts.errors, 0, "inserting the ceiling's uploads failed");
    let bucket = Arc::new(bucket);
    load::run(uploads, CONCURRENCY, move |u: Arc<Upload>| {
        let repo = Arc::clone(&repo);
        let bucket = Arc::clone(&bucket);
        async move {
            let Ok(Some(upload)) = repo.get_upload(&bucket.id, &u.id).await else { return false };
            matches!(repo.apply_confirmation(&plan(&bucket, &upload)).await, Ok(ConfirmationOutcome::Original(_)))
        }
    })
    .await
}

/// Creates through the repository alone: the insert (namespace and bucket come from stowage's
/// caches; the bucket is read once here).
async fn ceiling_creates(db: &str) -> Stats {
    let repo: Arc<dyn Repository> = Arc::new(SqliteRepository::open(db).await.expect("open the database"));
    let ns = repo.find_namespace("default").await.expect("find namespace").expect("the default namespace");
    let bucket = repo.find_bucket(&ns.id, BUCKET).await.expect("find bucket").expect("the bench bucket");
    let bucket = Arc::new(bucket);
    load::run((0..creates_per_round()).collect(), CONCURRENCY, move |_: Arc<usize>| {
        let repo = Arc::clone(&repo);
        let bucket = Arc::clone(&bucket);
        async move { repo.insert_upload(&pending(&bucket), None).await.is_ok() }
    })
    .await
}
