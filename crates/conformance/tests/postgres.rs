//! The conformance suite on PostgreSQL (a fresh database per test).

async fn fresh() -> (stowage_conformance::Subject, stowage_testkit::TestDb) {
    let db = stowage_testkit::TestDb::new().await;
    (std::sync::Arc::new(db.repo()), db)
}

stowage_conformance::conformance_suite!(fresh());
