//! The connection pool, the embedded migrations, and [`PgRepository`] itself.

use crate::config::PgConfig;
use crate::error::{from_diesel, from_pool};
use diesel::ConnectionError;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod};
use diesel_async::{AsyncConnection, AsyncMigrationHarness, AsyncPgConnection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use futures_util::FutureExt;
use std::time::Duration;
use stowage_domain::error::RepoError;

/// The schema's migrations, compiled into the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// stowage's state in PostgreSQL. Cheap to clone: clones share the pool.
#[derive(Clone)]
pub struct PgRepository {
    pub(crate) pool: Pool<AsyncPgConnection>,
    pub(crate) config: PgConfig,
    /// Fan-out of task-change notifications, started by the first long poll.
    pub(crate) listener: std::sync::Arc<std::sync::OnceLock<tokio::sync::broadcast::Sender<String>>>,
    /// Group commit of new uploads.
    pub(crate) inserts: crate::inserts::UploadInserts,
}

impl std::fmt::Debug for PgRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgRepository").field("max_connections", &self.config.max_connections).finish_non_exhaustive()
    }
}

impl PgRepository {
    /// Builds the pool. No connection is opened until the first query.
    ///
    /// # Errors
    /// `Unexpected` when the pool cannot be built from the configuration.
    pub fn new(config: PgConfig) -> Result<Self, RepoError> {
        let statement_timeout = config.statement_timeout;
        let mut manager_config = ManagerConfig::default();
        // The default check runs `SELECT 1` on every checkout: a round trip per repository call
        // (4 per confirm, measured by the confirm benchmark). A broken connection fails its query
        // instead, which is mapped to `Unavailable` and discarded by the pool.
        manager_config.recycling_method = RecyclingMethod::Fast;
        manager_config.custom_setup = Box::new(move |url| establish(url.to_owned(), statement_timeout).boxed());
        let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(&config.url, manager_config);
        let pool = Pool::builder(manager)
            .max_size(config.max_connections)
            .build()
            .map_err(|e| RepoError::Unexpected(format!("cannot build the connection pool: {e}")))?;
        Ok(Self {
            pool,
            config,
            listener: std::sync::Arc::default(),
            inserts: crate::inserts::UploadInserts::default(),
        })
    }

    /// A pooled connection, or `Unavailable` after the configured connect timeout.
    pub(crate) async fn conn(&self) -> Result<Object<AsyncPgConnection>, RepoError> {
        match tokio::time::timeout(self.config.connect_timeout, self.pool.get()).await {
            Ok(result) => result.map_err(from_pool),
            Err(_) => Err(RepoError::Unavailable(format!(
                "no database connection within {} ms",
                self.config.connect_timeout.as_millis()
            ))),
        }
    }

    /// A dedicated connection outside the pool (for `LISTEN`, which must not be shared).
    pub(crate) async fn dedicated(&self) -> Result<AsyncPgConnection, RepoError> {
        let connect = establish(self.config.url.clone(), self.config.statement_timeout);
        match tokio::time::timeout(self.config.connect_timeout, connect).await {
            Ok(result) => result.map_err(|e| RepoError::Unavailable(e.to_string())),
            Err(_) => Err(RepoError::Unavailable("no database connection within the connect timeout".to_owned())),
        }
    }

    /// The configuration the repository was built with.
    #[must_use]
    pub fn config(&self) -> &PgConfig {
        &self.config
    }
}

/// Opens a connection with the statement timeout set for its whole life.
async fn establish(url: String, statement_timeout: Duration) -> Result<AsyncPgConnection, ConnectionError> {
    let mut conn = AsyncPgConnection::establish(&url).await?;
    let sql = format!("SET statement_timeout = {}", statement_timeout.as_millis());
    diesel::sql_query(sql).execute(&mut conn).await.map_err(ConnectionError::CouldntSetupConfiguration)?;
    Ok(conn)
}

/// Applies every pending migration; running it again is a no-op. Needs a multi-threaded tokio
/// runtime (diesel's migration harness is synchronous and runs in place).
///
/// # Errors
/// `Unavailable` when the database cannot be reached; `Unexpected` when a migration fails.
pub async fn migrate(repo: &PgRepository) -> Result<usize, RepoError> {
    // Replicas starting together take turns: the lock is held by a session of its own for the
    // duration of the migrations.
    let mut lock = repo.dedicated().await?;
    diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
        .execute(&mut lock)
        .await
        .map_err(from_diesel)?;
    let conn = repo.conn().await?;
    let applied = tokio::task::block_in_place(move || {
        let mut harness = AsyncMigrationHarness::new(conn);
        harness.run_pending_migrations(MIGRATIONS).map(|versions| versions.len()).map_err(|e| e.to_string())
    });
    let _unlocked = diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})")).execute(&mut lock).await;
    applied.map_err(|e| RepoError::Unexpected(format!("migration failed: {e}")))
}

/// The advisory lock key serialising migrations across replicas.
const MIGRATION_LOCK: i64 = 0x5354_4f57_4147;
