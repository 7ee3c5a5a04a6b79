//! Migrations run at start: running them twice is a no-op.

use crate::helpers::*;
use stowage_postgres::{PgRepository, migrate};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_apply_once_and_a_second_run_is_a_no_op() {
    let db = TestDb::empty().await;
    let repo = PgRepository::new(db.config()).unwrap();
    let first = migrate(&repo).await.unwrap();
    let second = migrate(&repo).await.unwrap();
    assert!(first >= 1);
    assert_eq!(second, 0);
    assert_eq!(db.count("SELECT count(*) AS n FROM uploads").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_database_from_the_template_is_already_migrated() {
    let db = TestDb::new().await;
    assert_eq!(migrate(&db.repo()).await.unwrap(), 0);
    assert_eq!(db.count("SELECT count(*) AS n FROM uploads").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_migrating_at_once_take_turns_and_all_succeed() {
    let db = TestDb::empty().await;
    let runs = (0..4).map(|_| {
        let repo = PgRepository::new(db.config()).unwrap();
        tokio::spawn(async move { migrate(&repo).await })
    });
    let applied: Vec<usize> =
        futures_util::future::join_all(runs).await.into_iter().map(|r| r.unwrap().unwrap()).collect();
    assert_eq!(
        applied.iter().filter(|n| **n > 0).count(),
        1,
        "exactly one replica applied the migrations: {applied:?}"
    );
    assert_eq!(db.count("SELECT count(*) AS n FROM uploads").await, 0);
}
