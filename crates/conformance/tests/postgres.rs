//! The conformance suite on PostgreSQL (a fresh database per test).

use stowage_conformance::{Corrupt, Damage};

async fn fresh() -> (stowage_conformance::Subject, stowage_testkit::TestDb) {
    let db = stowage_testkit::TestDb::new().await;
    (std::sync::Arc::new(db.repo()), db)
}

/// Damages rows of the test's database with plain SQL.
fn corrupt(db: &stowage_testkit::TestDb) -> Corrupt {
    let url = db.url.clone();
    std::sync::Arc::new(move |damage: Damage| {
        let url = url.clone();
        Box::pin(async move {
            let (sql, id) = match &damage {
                Damage::UploadKey(id) => ("UPDATE uploads SET s3_key = '' WHERE id = $1", id.to_string()),
                Damage::TaskId(id) => ("UPDATE tasks SET id = 'not a task id' WHERE id = $1", id.to_string()),
            };
            stowage_testkit::execute_at(&url, sql, &[&id]).await;
        })
    })
}

stowage_conformance::conformance_suite!(fresh(), corrupt: corrupt);
