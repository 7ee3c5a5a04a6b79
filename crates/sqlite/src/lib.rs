//! stowage's state in one SQLite file — the embedded default. [`SqliteRepository`] implements the
//! same repository roles as the PostgreSQL adapter (`ports::Repository`) with the same
//! semantics: every transition is a transaction that re-reads the upload and compares its status,
//! content claims are a primary key, events and tasks are written in the transaction of the change
//! they report, and tasks are leased.
//!
//! SQLite has no `FOR UPDATE SKIP LOCKED`: every write runs in a `BEGIN IMMEDIATE` transaction,
//! which takes the database's single write lock up front, so a claim (read the next due task, then
//! lease it) is atomic and a task is handed to one worker, even across processes sharing the file
//! (they wait on `busy_timeout`). Entities are stored as the domain's own JSON next to the columns
//! that are filtered or ordered on.
//!
//! Queries run on tokio's blocking pool, each as one closure holding the connection
//! ([`SqliteRepository::run`]). A caller that stops waiting (a request cancelled because another
//! extractor failed first, a client that hung up) only detaches from that closure: it still runs
//! to its end, so a transaction is never cut halfway, and nothing blocks or panics on drop, on any
//! runtime. (diesel-async's `SyncConnectionWrapper` waits for the query with `block_in_place`
//! when its future is dropped, which panics on actix's current-thread runtime.)

mod queue;
mod repo;
mod schema;

use diesel::Connection;
use diesel::sqlite::SqliteConnection;
use std::sync::{Arc, Mutex};
use stowage_domain::error::RepoError;
use time::OffsetDateTime;

/// stowage's state in a SQLite file. Cheap to clone: clones share the connection.
#[derive(Clone)]
pub struct SqliteRepository {
    conn: Arc<Mutex<SqliteConnection>>,
}

impl std::fmt::Debug for SqliteRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteRepository").finish_non_exhaustive()
    }
}

/// A failure inside a transaction: a query error (rolls back) or a domain answer.
pub(crate) struct Fail(pub(crate) RepoError);

impl From<diesel::result::Error> for Fail {
    fn from(e: diesel::result::Error) -> Self {
        Self(from_diesel(&e))
    }
}

impl From<RepoError> for Fail {
    fn from(e: RepoError) -> Self {
        Self(e)
    }
}

impl From<stowage_domain::upload::TransitionError> for Fail {
    fn from(e: stowage_domain::upload::TransitionError) -> Self {
        Self(RepoError::Unexpected(e.to_string()))
    }
}

pub(crate) fn from_diesel(e: &diesel::result::Error) -> RepoError {
    use diesel::result::{DatabaseErrorKind, Error};
    match e {
        Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
            RepoError::AlreadyExists(info.message().to_owned())
        }
        Error::DatabaseError(_, info) if info.message().contains("locked") || info.message().contains("busy") => {
            RepoError::Unavailable(e.to_string())
        }
        _ => RepoError::Unexpected(e.to_string()),
    }
}

/// A stored value the domain would never have written.
pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> RepoError {
    RepoError::Unexpected(format!("stored {what} is invalid: {e}"))
}

/// Timestamps are stored as unix microseconds (ordered, exact at the precision stowage keeps).
/// Logs and counts one undecodable row.
pub(crate) fn skipped(table: &'static str, e: &RepoError) {
    tracing::error!(table, error = %e, "skipping a row that does not decode");
    metrics::counter!("stowage_undecodable_rows_total", "table" => table).increment(1);
}

pub(crate) fn micros(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
}

pub(crate) fn from_micros(us: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

pub(crate) fn now_micros() -> i64 {
    micros(OffsetDateTime::now_utc())
}

impl SqliteRepository {
    /// Opens (creating it if needed) the database at `path` — `:memory:` for a private in-memory
    /// one — and brings its schema up to date.
    ///
    /// # Errors
    /// `Unavailable` when the file cannot be opened; `Unexpected` when a migration fails.
    pub async fn open(path: &str) -> Result<Self, RepoError> {
        let owned = path.to_owned();
        let conn = tokio::task::spawn_blocking(move || SqliteConnection::establish(&owned))
            .await
            .map_err(|e| RepoError::Unexpected(format!("opening {path} panicked: {e}")))?
            .map_err(|e| RepoError::Unavailable(format!("cannot open {path}: {e}")))?;
        let repo = Self { conn: Arc::new(Mutex::new(conn)) };
        repo.run(|conn| schema::migrate(conn).map_err(|e| e.0)).await?;
        Ok(repo)
    }

    /// Runs `f` on the connection, on the blocking pool. Dropping the returned future detaches
    /// from `f` without stopping it (see the module docs): `f` always runs to its end.
    pub(crate) async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut SqliteConnection) -> Result<R, RepoError> + Send + 'static,
    ) -> Result<R, RepoError> {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            // A closure that panicked poisoned the lock; the connection itself is still usable
            // (its transaction was rolled back by diesel when the panic unwound through it).
            let mut conn = conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            f(&mut conn)
        })
        .await
        .map_err(|e| RepoError::Unexpected(format!("a database operation panicked: {e}")))?
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction: committed when it returns `Ok`, rolled back
    /// otherwise.
    pub(crate) async fn tx<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut SqliteConnection) -> Result<R, Fail> + Send + 'static,
    ) -> Result<R, RepoError> {
        self.run(move |conn| conn.immediate_transaction(f).map_err(|e: Fail| e.0)).await
    }
}
