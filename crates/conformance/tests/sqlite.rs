//! The conformance suite on SQLite (a fresh database file per test).
#![expect(clippy::expect_used, reason = "a test fails loudly on any unexpected error")]

/// Removes the database file when the test ends.
struct TempFile(std::path::PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

async fn fresh() -> (stowage_conformance::Subject, TempFile) {
    let path = std::env::temp_dir().join(format!("stowage-conformance-{}.db", uuid()));
    let repo = stowage_sqlite::SqliteRepository::open(&path.display().to_string()).await.expect("open");
    (std::sync::Arc::new(repo), TempFile(path))
}

fn uuid() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!("{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

stowage_conformance::conformance_suite!(fresh());
