//! The conformance suite on SQLite (a fresh database file per test).
#![expect(clippy::expect_used, reason = "a test fails loudly on any unexpected error")]

use stowage_conformance::{Corrupt, Damage};

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

/// Damages rows of the test's database file with plain SQL.
fn corrupt(file: &TempFile) -> Corrupt {
    let path = file.0.display().to_string();
    std::sync::Arc::new(move |damage: Damage| {
        let path = path.clone();
        Box::pin(async move {
            use diesel::{Connection, RunQueryDsl};
            let (sql, id) = match &damage {
                Damage::UploadKey(id) => {
                    ("UPDATE uploads SET doc = json_set(doc, '$.key', '') WHERE id = ?", id.to_string())
                }
                Damage::TaskId(id) => ("UPDATE tasks SET id = 'not a task id' WHERE id = ?", id.to_string()),
            };
            let mut conn = diesel::sqlite::SqliteConnection::establish(&path).expect("open the test database");
            diesel::sql_query(sql).bind::<diesel::sql_types::Text, _>(id).execute(&mut conn).expect("damage a row");
        })
    })
}

stowage_conformance::conformance_suite!(fresh(), corrupt: corrupt);
