//! Test support: a fresh database per test, created from a template migrated once per schema
//! version, and fixtures for namespaces, buckets and uploads.

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use std::time::Duration;
use stowage_domain::bucket::{Bucket, BucketSettings, Namespace};
use stowage_domain::content::{ETag, Sha256Hex};
use stowage_domain::ids::{BucketId, IdSuffix, NamespaceId, UploadId};
use stowage_domain::names::{BucketName, ContentType, Filename, NamespaceName, ObjectKey};
use stowage_domain::ports::UploadRepo;
use stowage_domain::status::UploadStatus;
use stowage_domain::upload::{Upload, Verified};
use stowage_postgres::{PgConfig, PgRepository, migrate};
use time::OffsetDateTime;

/// The server tests use: `DATABASE_URL`, else the local default.
pub fn server_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn with_database(url: &str, db: &str) -> String {
    let (base, _) = url.rsplit_once('/').unwrap_or((url, ""));
    format!("{base}/{db}")
}

async fn admin() -> AsyncPgConnection {
    let url = server_url();
    AsyncPgConnection::establish(&url).await.unwrap_or_else(|e| {
        panic!(
            "cannot reach PostgreSQL at {url}: {e}\n\
             Start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, \
             install it with `apt-get install postgresql`, or point DATABASE_URL at a server."
        )
    })
}

/// The template's name changes whenever the migrations do.
fn template_name() -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for dir in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations")).into_iter().flatten().flatten() {
        for file in ["up.sql", "down.sql"] {
            for b in std::fs::read(dir.path().join(file)).unwrap_or_default() {
                hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
        }
    }
    format!("stowage_test_template_{hash:016x}")
}

async fn ensure_template(admin: &mut AsyncPgConnection) -> String {
    let template = template_name();
    // Serialises template creation across the test processes nextest runs in parallel.
    diesel::sql_query("SELECT pg_advisory_lock(723401)").execute(admin).await.expect("advisory lock");
    let exists = diesel::sql_query(format!("SELECT 1 FROM pg_database WHERE datname = '{template}'"))
        .execute(admin)
        .await
        .expect("query")
        == 1;
    if !exists {
        diesel::sql_query(format!("CREATE DATABASE {template}")).execute(admin).await.expect("create template");
        let repo = PgRepository::new(PgConfig {
            url: with_database(&server_url(), &template),
            max_connections: 1,
            ..PgConfig::default()
        })
        .expect("pool");
        migrate(&repo).await.expect("migrate template");
        drop(repo);
    }
    diesel::sql_query("SELECT pg_advisory_unlock(723401)").execute(admin).await.expect("advisory unlock");
    template
}

/// A database of its own for one test, dropped when the test ends.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub async fn new() -> Self {
        let mut admin = admin().await;
        let template = ensure_template(&mut admin).await;
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        // A template that another session is still connected to cannot be copied: retry briefly.
        let mut attempts = 0;
        loop {
            match diesel::sql_query(format!("CREATE DATABASE {name} TEMPLATE {template}")).execute(&mut admin).await {
                Ok(_) => break,
                Err(e) if attempts < 50 && e.to_string().contains("being accessed") => {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot create test database: {e}"),
            }
        }
        Self { url: with_database(&server_url(), &name), name }
    }

    pub fn config(&self) -> PgConfig {
        PgConfig { url: self.url.clone(), max_connections: 16, ..PgConfig::default() }
    }

    pub fn repo(&self) -> PgRepository {
        PgRepository::new(self.config()).expect("pool")
    }

    /// A direct connection for assertions on rows.
    pub async fn conn(&self) -> AsyncPgConnection {
        AsyncPgConnection::establish(&self.url).await.expect("connect to test database")
    }

    pub async fn count(&self, sql: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = self.conn().await;
        diesel::sql_query(sql).get_result::<Count>(&mut conn).await.expect("count query").n
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside async context: use a thread with its own runtime.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            rt.block_on(async {
                if let Ok(mut admin) = AsyncPgConnection::establish(&server_url()).await {
                    let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut admin)
                        .await;
                }
            });
        })
        .join();
    }
}

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
    let id = UploadId::new(&suffix());
    let filename = Filename::parse("file.bin").unwrap();
    Upload {
        key: ObjectKey::for_upload(&bucket.namespace_id, &bucket.id, &id, &filename),
        id,
        bucket_id: bucket.id.clone(),
        namespace_id: bucket.namespace_id.clone(),
        filename,
        content_type: ContentType::parse("application/octet-stream").unwrap(),
        declared_size: None,
        declared_hash: None,
        checksum_signed: false,
        status: UploadStatus::Pending,
        metadata: serde_json::json!({"team": "a"}),
        object_metadata: serde_json::json!({}),
        create_object_on_confirm: true,
        blob_property: None,
        blob_type: None,
        skip_duplicates: true,
        url_expiration_secs: 3600,
        created_at,
        updated_at: created_at,
        expires_at: created_at + time::Duration::hours(1),
        verified: None,
        verified_at: None,
        completed_at: None,
        object_id: None,
        task_id: None,
        batch_id: None,
        is_duplicate: false,
        duplicate_of_upload_id: None,
        failure: None,
    }
}

pub async fn upload(repo: &PgRepository, bucket: &Bucket) -> Upload {
    let u = new_upload(bucket, now());
    repo.insert_upload(&u, None).await.expect("insert upload");
    u
}

pub fn verified(byte: u8, size: u64) -> Verified {
    Verified {
        etag: ETag::parse("d41d8cd98f00b204e9800998ecf8427e").unwrap(),
        size,
        sha256: Sha256Hex::from_bytes(&[byte; 32]),
    }
}
