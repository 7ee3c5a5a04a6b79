//! Outages are `Unavailable` within the configured timeouts, never a hang or an internal error.

use crate::helpers::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use std::time::{Duration, Instant};
use stowage_domain::bucket::BucketSettings;
use stowage_domain::error::RepoError;
use stowage_domain::ports::{TaskQueue, TenancyRepo, UploadRepo};
use stowage_domain::status::UploadStatus;
use stowage_postgres::{PgConfig, PgRepository};

fn unreachable(url: &str, timeout: Duration) -> PgRepository {
    PgRepository::new(PgConfig { url: url.to_owned(), connect_timeout: timeout, ..PgConfig::default() }).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_is_unavailable() {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    let repo = unreachable("postgres://postgres@127.0.0.1:1/stowage", Duration::from_secs(2));
    let started = Instant::now();
    let err = repo.find_namespace("anything").await.unwrap_err();
    assert!(matches!(err, RepoError::Unavailable(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(4));
    assert!(matches!(repo.claim("w", Duration::from_secs(1)).await.unwrap_err(), RepoError::Unavailable(_)));
    assert!(repo.ping().await.unwrap_err().is_unavailable());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_is_unavailable_after_the_connect_timeout() {
    // A listener that accepts and then says nothing, like a hung server or a black-holed route.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let repo = unreachable(&format!("postgres://postgres@127.0.0.1:{port}/stowage"), Duration::from_millis(500));
    let started = Instant::now();
    let err = repo.find_bucket(&stowage_domain::ids::NamespaceId::new(&suffix()), "b").await.unwrap_err();
    assert!(matches!(err, RepoError::Unavailable(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
    drop(silent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_blocked_past_the_statement_timeout_is_unavailable_and_changes_nothing() {
    let db = TestDb::new().await;
    let repo = PgRepository::new(PgConfig { statement_timeout: Duration::from_millis(300), ..db.config() }).unwrap();
    let ns = namespace(&repo).await;
    let bucket = bucket(&repo, &ns, BucketSettings::default()).await;
    let upload = upload(&repo, &bucket).await;

    // Another session holds the upload's row lock.
    let mut blocker = db.conn().await;
    diesel::sql_query("BEGIN").execute(&mut blocker).await.unwrap();
    diesel::sql_query(format!("SELECT 1 FROM uploads WHERE id = '{}' FOR UPDATE", upload.id))
        .execute(&mut blocker)
        .await
        .unwrap();

    let started = Instant::now();
    let err = repo.cancel_upload(&upload.id, UploadStatus::Pending, now()).await.unwrap_err();
    assert!(matches!(err, RepoError::Unavailable(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    diesel::sql_query("ROLLBACK").execute(&mut blocker).await.unwrap();
    assert_eq!(repo.get_upload(&bucket.id, &upload.id).await.unwrap().unwrap().status(), UploadStatus::Pending);
    let _ = blocker.transaction::<_, diesel::result::Error, _>(async |_| Ok(())).await;
}
