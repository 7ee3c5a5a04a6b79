//! Migrations run at start: running them twice is a no-op.

use crate::helpers::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use stowage_postgres::{PgConfig, PgRepository, migrate};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_apply_once_and_a_second_run_is_a_no_op() {
    let name = format!("m_{}", uuid::Uuid::new_v4().simple());
    let mut admin = AsyncPgConnection::establish(&server_url()).await.expect("PostgreSQL reachable (see README)");
    diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut admin).await.unwrap();
    let url = format!("{}/{name}", server_url().rsplit_once('/').unwrap().0);
    let repo = PgRepository::new(PgConfig { url, ..PgConfig::default() }).unwrap();

    let first = migrate(&repo).await.unwrap();
    let second = migrate(&repo).await.unwrap();
    drop(repo);
    diesel::sql_query(format!("DROP DATABASE {name} WITH (FORCE)")).execute(&mut admin).await.unwrap();
    assert!(first >= 1);
    assert_eq!(second, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_database_from_the_template_is_already_migrated() {
    let db = TestDb::new().await;
    assert_eq!(migrate(&db.repo()).await.unwrap(), 0);
    assert_eq!(db.count("SELECT count(*) AS n FROM uploads").await, 0);
}
