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

/// A TCP proxy to PostgreSQL that, once told to, resets each connection it carries (RST, not
/// FIN) as soon as its client sends anything: a connection the network or a failover dropped
/// while it sat idle in the pool, noticed only by the next query.
struct ResettingProxy {
    addr: std::net::SocketAddr,
    reset: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl ResettingProxy {
    async fn start(server: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let reset = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = reset.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(upstream) = tokio::net::TcpStream::connect(&server).await else { continue };
                tokio::spawn(carry(client, upstream, flag.clone()));
            }
        });
        Self { addr, reset }
    }

    fn reset_on_next_send(&self, on: bool) {
        self.reset.store(on, std::sync::atomic::Ordering::SeqCst);
    }
}

async fn carry(
    mut client: tokio::net::TcpStream,
    mut upstream: tokio::net::TcpStream,
    reset: std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // Closing with a zero linger sends RST: the client's next read fails with ECONNRESET.
    client.set_zero_linger().unwrap();
    let (mut up, mut down) = ([0u8; 8192], [0u8; 8192]);
    loop {
        tokio::select! {
            read = client.read(&mut up) => {
                let Ok(n @ 1..) = read else { return };
                if std::sync::atomic::AtomicBool::load(&reset, std::sync::atomic::Ordering::SeqCst) || upstream.write_all(&up[..n]).await.is_err() {
                    return;
                }
            }
            read = upstream.read(&mut down) => {
                let Ok(n @ 1..) = read else { return };
                if client.write_all(&down[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pooled_connection_reset_under_its_next_query_is_unavailable_and_the_pool_replaces_it() {
    let db = TestDb::new().await;
    let config = db.config();
    let (scheme_user, rest) = config.url.split_once('@').unwrap();
    let (server, database) = rest.split_once('/').unwrap();
    let proxy = ResettingProxy::start(server.to_owned()).await;
    let url = format!("{scheme_user}@{}/{database}", proxy.addr);
    // One connection, so the query after the reset runs on the connection that was reset.
    let repo = PgRepository::new(PgConfig { url, max_connections: 1, ..config }).unwrap();
    let ns = namespace(&repo).await;

    proxy.reset_on_next_send(true);
    let err = repo.find_namespace(ns.name.as_str()).await.unwrap_err();
    assert!(err.is_unavailable(), "a reset connection is an outage (503), not an internal error: {err:?}");

    proxy.reset_on_next_send(false);
    let found = repo.find_namespace(ns.name.as_str()).await.unwrap();
    assert_eq!(found.map(|n| n.id), Some(ns.id), "the pool replaced the reset connection");
}
