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
//! **Writes are group-committed.** One writer thread owns the only connection that writes. Every
//! transaction ([`SqliteRepository::tx`]) is a job sent to it; the writer takes every job waiting
//! (up to [`MAX_GROUP`]), runs them one after another inside one `BEGIN IMMEDIATE` transaction,
//! each in a savepoint of its own (a job that fails rolls back only itself), commits once, and only
//! then answers each caller. With `synchronous = FULL` that commit is durable — the WAL is synced
//! before any caller hears "done" — and one sync covers the whole group, so durability costs one
//! fsync per group rather than one per confirm. Jobs of one group see each other's writes in
//! order, exactly as if they had committed one by one.
//!
//! Reads run on a small pool of read-only connections (`query_only`), beside the writer (WAL lets
//! readers see the last commit without waiting for it). Both run on threads of their own, never on
//! the async runtime: a caller that stops waiting only detaches, its job still runs to its end, so a
//! transaction is never cut halfway and nothing blocks or panics on drop, on any runtime.
//! (diesel-async's `SyncConnectionWrapper` waits for the query with `block_in_place` when its future
//! is dropped, which panics on actix's current-thread runtime.)

mod queue;
mod repo;
mod schema;

use diesel::Connection;
use diesel::connection::SimpleConnection;
use diesel::sqlite::SqliteConnection;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use stowage_domain::error::RepoError;
use time::OffsetDateTime;
use tokio::sync::oneshot;

/// The most transactions one group commit holds.
pub const MAX_GROUP: usize = 64;
/// Read connections beside the writer.
const READERS: usize = 2;

/// What the writer does once the group's commit is known: answer the job's caller.
type Done = Box<dyn FnOnce(Result<(), RepoError>) + Send>;

/// A transaction of a group, run: how to answer its caller, and its own error if it failed.
struct Ran {
    done: Done,
    failed: Option<String>,
}

/// A transaction for the writer: runs in its own savepoint inside the group's transaction.
type TxJob = Box<dyn FnOnce(&mut SqliteConnection) -> Ran + Send>;

/// A job for the writer thread.
enum Job {
    /// A transaction: runs in its own savepoint inside the group's transaction and is answered
    /// after the group commits.
    Tx(TxJob),
    /// A read on the writer's connection (an in-memory database has no other connection).
    Read(Box<dyn FnOnce(&mut SqliteConnection) + Send>),
}

/// stowage's state in a SQLite file. Cheap to clone: clones share the writer and the readers.
#[derive(Clone)]
pub struct SqliteRepository {
    writer: mpsc::Sender<Job>,
    readers: Arc<Vec<Mutex<SqliteConnection>>>,
    next_reader: Arc<AtomicUsize>,
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
        // A busy or locked file, a full disk (SQLITE_FULL: "database or disk is full"), a failing
        // disk (SQLITE_IOERR: "disk I/O error"): the counterparts of a database server that cannot
        // be reached. Retrying once space or the disk is back succeeds; nothing was written.
        Error::DatabaseError(_, info)
            if ["locked", "busy", "disk is full", "disk I/O error"].iter().any(|m| info.message().contains(m)) =>
        {
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

/// Opens a connection with the settings every connection uses: WAL, durable commits
/// (`synchronous = FULL`: a commit returns once the WAL is synced), a busy timeout for other
/// processes sharing the file, foreign keys.
fn connect(path: &str) -> Result<SqliteConnection, RepoError> {
    let mut conn =
        SqliteConnection::establish(path).map_err(|e| RepoError::Unavailable(format!("cannot open {path}: {e}")))?;
    conn.batch_execute(
        // The busy timeout first: switching to WAL waits for a lock another process (or a
        // connection closing with a checkpoint) may hold.
        "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
    )
    .map_err(|e| from_diesel(&e))?;
    Ok(conn)
}

/// The writer thread: takes the jobs waiting, runs each group in one transaction, commits once,
/// answers every job. Ends when the last repository handle is dropped.
fn write_loop(path: &str, mut conn: SqliteConnection, jobs: &mpsc::Receiver<Job>, max_group: usize) {
    // Transactions of a group that SQLite rolled back before they ran: they start the next group.
    let mut carried: Vec<TxJob> = Vec::new();
    loop {
        let mut group = std::mem::take(&mut carried);
        let mut next = if group.is_empty() {
            match jobs.recv() {
                Ok(job) => Some(job),
                Err(_) => return,
            }
        } else {
            jobs.try_recv().ok()
        };
        while let Some(job) = next {
            match job {
                Job::Read(read) => read(&mut conn),
                Job::Tx(tx) => group.push(tx),
            }
            next = if group.len() < max_group { jobs.try_recv().ok() } else { None };
        }
        if group.is_empty() {
            continue;
        }
        metrics::histogram!("stowage_sqlite_group_commit_size").record(group.len() as f64);
        let mut answers: Vec<Done> = Vec::with_capacity(group.len());
        let mut aborted: Option<String> = None;
        let committed = std::panic::catch_unwind(AssertUnwindSafe(|| {
            conn.immediate_transaction(|conn| {
                let mut members = group.drain(..);
                while let Some(tx) = members.next() {
                    let ran = tx(conn);
                    answers.push(ran.done);
                    // SQLite may answer a full or failing disk (SQLITE_FULL, SQLITE_IOERR) by
                    // rolling back the whole transaction, not only the failed statement: what
                    // the group wrote so far is gone, and the rest would run in autocommit.
                    if let Some(cause) = ran.failed
                        && !in_transaction(conn)
                    {
                        aborted = Some(cause);
                        carried.extend(members);
                        return Err(diesel::result::Error::RollbackTransaction);
                    }
                }
                Ok::<_, diesel::result::Error>(())
            })
        }));
        match committed {
            Ok(result) => {
                let result = match aborted {
                    Some(cause) => Err(RepoError::Unavailable(format!(
                        "SQLite rolled back a group of transactions after a write failed ({cause}), as it does \
                         on a full or failing disk; nothing of the group was written"
                    ))),
                    None => result.map_err(|e| from_diesel(&e)),
                };
                if let Err(e) = &result {
                    tracing::warn!(error = %e, "a group of SQLite transactions did not commit");
                    recover(&mut conn);
                }
                for answer in answers {
                    answer(result.clone());
                }
            }
            Err(_) => {
                // A job panicked: nothing of the group was committed. The connection's
                // transaction state is unknown, so it is replaced.
                tracing::error!("a SQLite transaction panicked; its group was rolled back");
                for answer in answers {
                    answer(Err(RepoError::Unexpected("a database operation panicked".to_owned())));
                }
                match connect(path) {
                    Ok(fresh) => conn = fresh,
                    Err(e) => tracing::error!(error = %e, "cannot reopen the SQLite database"),
                }
            }
        }
    }
}

/// After a group that did not commit: no transaction is left open, and diesel's bookkeeping
/// (left broken when SQLite rolled back under a savepoint) starts afresh, so the next group runs.
fn recover(conn: &mut SqliteConnection) {
    use diesel::connection::{AnsiTransactionManager, TransactionManager, TransactionManagerStatus};
    // Either may disagree with SQLite after such a rollback: diesel may count a transaction that
    // SQLite ended, or none while one is open. Refused with "no transaction is active" when
    // SQLite has none: as wanted.
    let _ = conn.batch_execute("ROLLBACK");
    *AnsiTransactionManager::transaction_manager_status_mut(conn) = TransactionManagerStatus::default();
}

/// Whether the connection is still inside a transaction. Asked only after a write failed: `BEGIN`
/// is refused inside a transaction; outside one it opens a transaction, which the group's
/// rollback then ends.
fn in_transaction(conn: &mut SqliteConnection) -> bool {
    match conn.batch_execute("BEGIN") {
        Ok(()) => false,
        Err(e) => e.to_string().contains("within a transaction"),
    }
}

impl SqliteRepository {
    /// Opens (creating it if needed) the database at `path` — `:memory:` for a private in-memory
    /// one — brings its schema up to date and starts the writer.
    ///
    /// # Errors
    /// `Unavailable` when the file cannot be opened; `Unexpected` when a migration fails.
    pub async fn open(path: &str) -> Result<Self, RepoError> {
        Self::open_with_max_group(path, MAX_GROUP).await
    }

    /// [`Self::open`] with at most `max_group` transactions per commit (at least 1; 1 commits each
    /// transaction on its own, the reference the benchmarks compare group commit with).
    ///
    /// # Errors
    /// As [`Self::open`].
    pub async fn open_with_max_group(path: &str, max_group: usize) -> Result<Self, RepoError> {
        let max_group = max_group.max(1);
        let owned = path.to_owned();
        let (writer, readers) = tokio::task::spawn_blocking(move || {
            let mut conn = connect(&owned)?;
            schema::migrate(&mut conn).map_err(|e| e.0)?;
            let readers = if owned == ":memory:" {
                Vec::new()
            } else {
                (0..READERS)
                    .map(|_| {
                        let mut reader = connect(&owned)?;
                        reader.batch_execute("PRAGMA query_only = 1;").map_err(|e| from_diesel(&e))?;
                        Ok(Mutex::new(reader))
                    })
                    .collect::<Result<Vec<_>, RepoError>>()?
            };
            let (send, receive) = mpsc::channel();
            std::thread::Builder::new()
                .name("stowage-sqlite-writer".to_owned())
                .spawn(move || write_loop(&owned, conn, &receive, max_group))
                .map_err(|e| RepoError::Unexpected(format!("cannot start the SQLite writer: {e}")))?;
            Ok::<_, RepoError>((send, readers))
        })
        .await
        .map_err(|e| RepoError::Unexpected(format!("opening {path} panicked: {e}")))??;
        Ok(Self { writer, readers: Arc::new(readers), next_reader: Arc::new(AtomicUsize::new(0)) })
    }

    fn send(&self, job: Job) -> Result<(), RepoError> {
        self.writer.send(job).map_err(|_| RepoError::Unavailable("the SQLite writer has stopped".to_owned()))
    }

    /// Runs the read `f` on a read connection, on the blocking pool. Dropping the returned future
    /// detaches from `f` without stopping it (see the module docs).
    pub(crate) async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut SqliteConnection) -> Result<R, RepoError> + Send + 'static,
    ) -> Result<R, RepoError> {
        if self.readers.is_empty() {
            let (answer, answered) = oneshot::channel();
            self.send(Job::Read(Box::new(move |conn| drop(answer.send(f(conn))))))?;
            return answered.await.map_err(|_| panicked())?;
        }
        let readers = Arc::clone(&self.readers);
        let i = self.next_reader.fetch_add(1, Ordering::Relaxed) % readers.len();
        tokio::task::spawn_blocking(move || {
            // A closure that panicked poisoned the lock; a read-only connection is still usable.
            let mut conn = readers[i].lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            f(&mut conn)
        })
        .await
        .map_err(|_| panicked())?
    }

    /// Runs `f` as one transaction: committed when it returns `Ok` (in the writer's next group
    /// commit; this returns once that commit is durable), rolled back otherwise.
    pub(crate) async fn tx<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut SqliteConnection) -> Result<R, Fail> + Send + 'static,
    ) -> Result<R, RepoError> {
        let (answer, answered) = oneshot::channel();
        self.send(Job::Tx(Box::new(move |conn| {
            let result = conn.transaction(f).map_err(|e: Fail| e.0);
            let failed = result.as_ref().err().map(ToString::to_string);
            let done: Done = Box::new(move |committed: Result<(), RepoError>| drop(answer.send(committed.and(result))));
            Ran { done, failed }
        })))?;
        // No answer: the group never began (the database stayed busy) or a job panicked.
        answered.await.map_err(|_| RepoError::Unavailable("the database did not run the transaction".to_owned()))?
    }
}

fn panicked() -> RepoError {
    RepoError::Unexpected("a database operation panicked".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::RunQueryDsl;
    use diesel::sql_types::BigInt;

    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }

    fn scratch_numbers(repo: &SqliteRepository) -> impl Future<Output = Vec<i64>> {
        let read = repo.run(|conn| {
            diesel::sql_query("SELECT n FROM scratch ORDER BY n").load::<N>(conn).map_err(|e| from_diesel(&e))
        });
        async move { read.await.unwrap_or_else(|e| panic!("read: {e}")).into_iter().map(|r| r.n).collect() }
    }

    /// A repository on a fresh file of its own with a `scratch` table of `columns`; the file's
    /// path, for [`remove`].
    async fn scratch_repo(name: &str, columns: &'static str) -> (SqliteRepository, String) {
        let path = std::env::temp_dir().join(format!("stowage-{name}-unit-{}.db", std::process::id()));
        let file = path.display().to_string();
        remove(&file);
        let repo = SqliteRepository::open(&file).await.unwrap_or_else(|e| panic!("open: {e}"));
        repo.tx(move |conn| Ok(conn.batch_execute(&format!("CREATE TABLE scratch ({columns})"))?))
            .await
            .unwrap_or_else(|e| panic!("create: {e}"));
        (repo, file)
    }

    fn remove(file: &str) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{file}{suffix}"));
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_full_disk_is_a_retryable_outage_and_every_write_answered_ok_is_in_the_file() {
        let (repo, file) = scratch_repo("full", "n INTEGER NOT NULL, data BLOB NOT NULL").await;
        // A nearly full disk: the writer's connection may grow the file by a few pages only.
        repo.tx(|conn| {
            let pages: Vec<N> = diesel::sql_query("SELECT page_count AS n FROM pragma_page_count()").load(conn)?;
            Ok(conn.batch_execute(&format!("PRAGMA max_page_count = {}", pages[0].n + 8))?)
        })
        .await
        .unwrap_or_else(|e| panic!("limit: {e}"));

        // 16 writes at once (sharing group commits); number 5 needs a megabyte, the rest 8 bytes.
        let insert = |n: i64| {
            let repo = repo.clone();
            tokio::spawn(async move {
                repo.tx(move |conn| {
                    diesel::sql_query("INSERT INTO scratch (n, data) VALUES (?, zeroblob(?))")
                        .bind::<BigInt, _>(n)
                        .bind::<BigInt, _>(if n == 5 { 1 << 20 } else { 8 })
                        .execute(conn)?;
                    Ok(n)
                })
                .await
            })
        };
        let writes: Vec<_> = (0..16).map(insert).collect();
        let (mut succeeded, mut failed) = (Vec::new(), Vec::new());
        for (n, write) in (0..16_i64).zip(writes) {
            match write.await.unwrap_or_else(|e| panic!("task: {e}")) {
                Err(e) if n == 5 => assert!(e.is_unavailable(), "a full disk is an outage (503): {e:?}"),
                Err(e) => failed.push((n, e)),
                Ok(written) => succeeded.push(written),
            }
        }
        // Every write answered Ok is in the file, and only those: a write answered with an error
        // wrote nothing, and that error is an outage (retry), never an internal error.
        assert_eq!(scratch_numbers(&repo).await, succeeded);
        for (n, e) in &failed {
            assert!(e.is_unavailable(), "write {n}, in the group SQLite rolled back: {e:?}");
        }

        // Space again: the writes that failed succeed when tried again.
        repo.tx(|conn| Ok(conn.batch_execute("PRAGMA max_page_count = 1073741823")?))
            .await
            .unwrap_or_else(|e| panic!("unlimit: {e}"));
        for n in failed.iter().map(|(n, _)| *n).chain([5]) {
            assert_eq!(insert(n).await.unwrap_or_else(|e| panic!("task: {e}")).ok(), Some(n), "write {n} again");
        }
        assert_eq!(scratch_numbers(&repo).await, (0..16).collect::<Vec<_>>());
        drop(repo);
        remove(&file);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_transaction_that_fails_in_a_group_rolls_back_only_its_own_writes() {
        let (repo, file) = scratch_repo("group", "n INTEGER NOT NULL").await;
        // 64 transactions at once, each writing its number; the odd ones fail after writing.
        let jobs: Vec<_> = (0..64_i64)
            .map(|n| {
                let repo = repo.clone();
                tokio::spawn(async move {
                    repo.tx(move |conn| {
                        diesel::sql_query("INSERT INTO scratch (n) VALUES (?)").bind::<BigInt, _>(n).execute(conn)?;
                        if n % 2 == 1 {
                            return Err(Fail(RepoError::Unexpected(format!("{n} fails after writing"))));
                        }
                        Ok(n)
                    })
                    .await
                })
            })
            .collect();
        for (n, job) in (0..64_i64).zip(jobs) {
            let result = job.await.unwrap_or_else(|e| panic!("task: {e}"));
            assert_eq!(result.is_ok(), n % 2 == 0, "transaction {n}: {result:?}");
        }
        assert_eq!(scratch_numbers(&repo).await, (0..64).filter(|n| n % 2 == 0).collect::<Vec<_>>());
        drop(repo);
        remove(&file);
    }
}
