//! Test support shared by the integration tests of every crate: a fresh PostgreSQL database per
//! test (copied from a template migrated once per schema version, or empty for tests that run
//! the migrations themselves) and a fresh bucket on the test S3 server. A missing server fails
//! the test with how to start it; nothing is skipped.
#![expect(clippy::expect_used, reason = "test support fails loudly on any unexpected error")]

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use std::time::Duration;
use stowage_postgres::{PgConfig, PgRepository, migrate};
use stowage_s3::{S3Config, S3ObjectStore};

/// The server tests use: `DATABASE_URL`, else the local default.
#[must_use]
pub fn database_server_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// `url` with its database replaced by `db`.
#[must_use]
pub fn with_database(url: &str, db: &str) -> String {
    let (base, _) = url.rsplit_once('/').unwrap_or((url, ""));
    format!("{base}/{db}")
}

/// A connection to the server's maintenance database.
pub async fn admin() -> AsyncPgConnection {
    let url = database_server_url();
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
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../postgres/migrations");
    let mut entries: Vec<_> = std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        for file in ["up.sql", "down.sql"] {
            for b in std::fs::read(path.join(file)).unwrap_or_default() {
                hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
        }
    }
    format!("stowage_test_template_{hash:016x}")
}

async fn execute(conn: &mut AsyncPgConnection, sql: &str) -> usize {
    diesel::sql_query(sql).execute(conn).await.unwrap_or_else(|e| panic!("`{sql}` failed: {e}"))
}

async fn ensure_template(admin: &mut AsyncPgConnection) -> String {
    let template = template_name();
    // Serialises template creation across the test processes nextest runs in parallel.
    execute(admin, "SELECT pg_advisory_lock(723401)").await;
    if execute(admin, &format!("SELECT 1 FROM pg_database WHERE datname = '{template}'")).await == 0 {
        execute(admin, &format!("CREATE DATABASE {template}")).await;
        let config = PgConfig {
            url: with_database(&database_server_url(), &template),
            max_connections: 1,
            ..PgConfig::default()
        };
        let repo = PgRepository::new(config).expect("pool");
        migrate(&repo).await.expect("migrate the template");
    }
    execute(admin, "SELECT pg_advisory_unlock(723401)").await;
    template
}

/// Runs a statement with text binds on the database at `url`; panics with the statement on error.
pub async fn execute_at(url: &str, sql: &str, binds: &[&str]) {
    let mut conn = AsyncPgConnection::establish(url).await.expect("connect to the test database");
    let mut query = diesel::sql_query(sql).into_boxed::<diesel::pg::Pg>();
    for bind in binds {
        query = query.bind::<diesel::sql_types::Text, _>((*bind).to_owned());
    }
    query.execute(&mut conn).await.unwrap_or_else(|e| panic!("`{sql}` failed: {e}"));
}

/// A database of its own for one test, dropped when the test ends.
pub struct TestDb {
    /// Its name.
    pub name: String,
    /// Its URL.
    pub url: String,
}

impl TestDb {
    /// A migrated database, copied from the template.
    pub async fn new() -> Self {
        let mut admin = admin().await;
        let template = ensure_template(&mut admin).await;
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        // A template another session is still connected to cannot be copied: retry briefly.
        for attempt in 0.. {
            let sql = format!("CREATE DATABASE {name} TEMPLATE {template}");
            match diesel::sql_query(&sql).execute(&mut admin).await {
                Ok(_) => break,
                Err(e) if attempt < 50 && e.to_string().contains("being accessed") => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot create a test database: {e}"),
            }
        }
        Self { url: with_database(&database_server_url(), &name), name }
    }

    /// An empty database, for tests of the migrations themselves.
    pub async fn empty() -> Self {
        let name = format!("m_{}", uuid::Uuid::new_v4().simple());
        execute(&mut admin().await, &format!("CREATE DATABASE {name}")).await;
        Self { url: with_database(&database_server_url(), &name), name }
    }

    /// The adapter configuration for this database.
    #[must_use]
    pub fn config(&self) -> PgConfig {
        PgConfig { url: self.url.clone(), max_connections: 16, ..PgConfig::default() }
    }

    /// A repository on this database.
    #[must_use]
    pub fn repo(&self) -> PgRepository {
        PgRepository::new(self.config()).expect("pool")
    }

    /// A direct connection, for assertions on rows.
    pub async fn conn(&self) -> AsyncPgConnection {
        AsyncPgConnection::establish(&self.url).await.expect("connect to the test database")
    }

    /// Runs a statement with text binds, for tests that damage rows under the ports.
    pub async fn execute(&self, sql: &str, binds: &[&str]) {
        execute_at(&self.url, sql, binds).await;
    }

    /// The single `n` a query returns (`SELECT count(*) AS n ...`).
    pub async fn count(&self, sql: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = self.conn().await;
        diesel::sql_query(sql).get_result::<Count>(&mut conn).await.unwrap_or_else(|e| panic!("`{sql}` failed: {e}")).n
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside async context: use a thread with its own runtime.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            rt.block_on(async {
                if let Ok(mut admin) = AsyncPgConnection::establish(&database_server_url()).await {
                    let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut admin)
                        .await;
                }
            });
        })
        .join();
    }
}

fn s3_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: these tests need an S3-compatible server. Run them through \
             `cargo xtask test`, which starts Garage, or start one with `cargo xtask services` and \
             export what it prints (STOWAGE_TEST_S3_ENDPOINT, _ACCESS_KEY, _SECRET_KEY, _REGION)."
        )
    })
}

/// The test S3 server's configuration, for a bucket of the given name.
#[must_use]
pub fn s3_config(bucket: &str) -> S3Config {
    S3Config {
        endpoint: Some(s3_env("STOWAGE_TEST_S3_ENDPOINT")),
        region: s3_env("STOWAGE_TEST_S3_REGION"),
        bucket: bucket.to_owned(),
        key_prefix: "test-prefix/".to_owned(),
        force_path_style: true,
        access_key_id: Some(s3_env("STOWAGE_TEST_S3_ACCESS_KEY")),
        secret_access_key: Some(s3_env("STOWAGE_TEST_S3_SECRET_KEY")),
        ..S3Config::default()
    }
}

/// The configuration of a new, empty bucket on the test server.
pub async fn fresh_bucket() -> S3Config {
    let config = s3_config(&format!("t-{}", uuid::Uuid::new_v4().simple()));
    S3ObjectStore::new(config.clone()).await.create_bucket().await.expect("create a test bucket");
    config
}
