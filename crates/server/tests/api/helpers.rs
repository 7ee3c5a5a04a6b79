//! `spawn_app()`: a fresh database, a fresh bucket, the app on a free port, a namespace and keys;
//! plus a TCP proxy that can be cut to simulate an outage of PostgreSQL or S3.

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use stowage_domain::auth::Role;
use stowage_domain::names::NamespaceName;
use stowage_domain::usecases::tenancy;
use stowage_server::{Application, Settings};
use stowage_testkit::TestDb;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

pub struct TestApp {
    pub address: String,
    /// The PostgreSQL database (`None` on the embedded default): see [`TestApp::db`].
    db: Option<TestDb>,
    pub client: reqwest::Client,
    /// A write key of `namespace`.
    pub key: String,
    pub namespace: String,
    /// The app's own S3 configuration, to act on its bucket behind its back.
    pub storage: stowage_s3::S3Config,
    /// The app's object store (S3 or local disk), to act on it behind the API's back.
    pub store: std::sync::Arc<dyn stowage_domain::ports::ObjectStore>,
    /// The data directory of a local-disk store (removed on drop).
    pub data_dir: Option<std::path::PathBuf>,
    /// The app's ports, to set up what the API cannot (namespaces, keys).
    pub ports: stowage_domain::usecases::Ports,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(dir) = &self.data_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Spawns the app with objects on the local-disk store (in a fresh data directory).
pub async fn spawn_on_disk() -> TestApp {
    spawn_on_disk_with(|_| {}).await
}

/// Spawns the embedded default: SQLite and the local-disk store in a fresh data directory. Needs
/// no PostgreSQL and no S3 server (the fast tier, `cargo xtask test --fast`).
pub async fn spawn_embedded() -> TestApp {
    spawn_embedded_with(|_| {}).await
}

/// The embedded default with settings adjusted by `customize`.
pub async fn spawn_embedded_with(customize: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_in_data_dir(None, |s| {
        s.database_backend = stowage_server::config::DatabaseBackend::Sqlite;
        customize(s);
    })
    .await
}

/// Spawns the app on the local-disk store with settings adjusted by `customize` (no S3 server
/// involved).
pub async fn spawn_on_disk_with(customize: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_in_data_dir(Some(TestDb::new().await), customize).await
}

async fn spawn_in_data_dir(db: Option<TestDb>, customize: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = std::env::temp_dir().join(format!("stowage-test-{}", uuid::Uuid::new_v4().simple()));
    let data_dir = dir.clone();
    let mut app = spawn_configured(None, db, move |s| {
        s.storage_backend = stowage_server::config::StorageBackend::Disk;
        s.data_dir = data_dir;
        customize(s);
    })
    .await;
    app.data_dir = Some(dir);
    app
}

fn log_init() {
    if std::env::var_os("TEST_LOG").is_some() {
        stowage_server::telemetry::init(&stowage_server::config::LogSettings::default());
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_with(|_| {}).await
}

/// Spawns the app with settings adjusted by `customize` (after the test defaults), its objects
/// in a fresh bucket of the test S3 server.
pub async fn spawn_with(customize: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_configured(Some(stowage_testkit::fresh_bucket().await), Some(TestDb::new().await), customize).await
}

/// The app on `db` (`None`: a settings customizer picks SQLite) and `storage` (`None`: a
/// customizer picks the disk store).
async fn spawn_configured(
    storage: Option<stowage_s3::S3Config>,
    db: Option<TestDb>,
    customize: impl FnOnce(&mut Settings),
) -> TestApp {
    log_init();
    let mut settings = Settings::default();
    settings.server.bind = "127.0.0.1:0".to_owned();
    settings.server.http_workers = 2;
    settings.server.shutdown_timeout_secs = 1;
    if let Some(db) = &db {
        settings.database = db.config();
    }
    if let Some(storage) = storage {
        settings.storage = storage;
    }
    settings.worker.poll_interval_ms = 50;
    settings.worker.lease_secs = 10;
    settings.worker.retry_base_delay_ms = 100;
    settings.worker.retry_max_delay_ms = 500;
    // The tests' webhook receivers listen on 127.0.0.1 (refused by default: SSRF).
    settings.worker.webhook_allow_private_targets = true;
    // Uploads are confirmed by the tests themselves; the finisher's tests turn it on.
    settings.worker.finisher_interval_secs = 0;
    customize(&mut settings);
    let storage = settings.storage.clone();
    let app = Application::build(settings).await.expect("the app builds");
    let ports = app.ports().clone();
    let store = ports.store.clone();

    let ns = tenancy::create_namespace(ports.deps(), NamespaceName::parse("acme").unwrap(), None).await.unwrap();
    let (_, key) = stowage_server::keys::create_key(ports.deps(), &ns, Role::Write, None).await.unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
    TestApp { address, db, client, key, namespace: "acme".to_owned(), storage, store, data_dir: None, ports }
}

impl TestApp {
    /// The app's PostgreSQL database, to act on it behind the API's back.
    pub fn db(&self) -> &TestDb {
        self.db.as_ref().expect("this app runs on SQLite (spawn_embedded): it has no PostgreSQL database")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    fn authed(&self, builder: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        builder.bearer_auth(&self.key).header("X-Namespace", &self.namespace)
    }

    pub async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let response = self.authed(self.client.post(self.url(path))).json(body).send().await.expect("the app answers");
        read(response).await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let response = self.authed(self.client.get(self.url(path))).send().await.expect("the app answers");
        read(response).await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        let response = self.authed(self.client.delete(self.url(path))).send().await.expect("the app answers");
        read(response).await
    }

    /// Creates a bucket and returns its id.
    pub async fn bucket(&self, name: &str, settings: Value) -> String {
        let (status, body) = self.post("/v1/buckets", &json!({"bucket_name": name, "settings": settings})).await;
        assert_eq!(status, 200, "{body}");
        body["bucket_id"].as_str().unwrap().to_owned()
    }

    /// Creates an upload of `bytes` and returns its response.
    pub async fn create_upload(&self, bucket: &str, filename: &str, extra: Value) -> Value {
        let mut request = json!({"filename": filename, "content_type": "application/octet-stream"});
        request.as_object_mut().unwrap().extend(extra.as_object().cloned().unwrap_or_default());
        let (status, body) = self.post(&format!("/v1/buckets/{bucket}/uploads"), &request).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Creates an upload and PUTs `bytes` to its presigned URL; returns (upload_id, PUT etag).
    pub async fn upload(&self, bucket: &str, bytes: &[u8]) -> (String, String) {
        let upload = self.create_upload(bucket, "file.bin", json!({"file_size_bytes": bytes.len()})).await;
        let etag = put(&upload, bytes.to_vec()).await;
        (upload["upload_id"].as_str().unwrap().to_owned(), etag)
    }

    /// Waits until a task is terminal and returns it.
    pub async fn wait_task(&self, task: &str) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let (status, body) = self.get(&format!("/v1/tasks/{task}?wait_seconds=5")).await;
            assert_eq!(status, 200, "{body}");
            if ["COMPLETED", "FAILED", "CANCELED", "COMPLETED_WITH_ERRORS"]
                .contains(&body["status"].as_str().unwrap_or_default())
            {
                return body;
            }
            assert!(std::time::Instant::now() < deadline, "task {task} did not finish: {body}");
        }
    }

    /// How many objects the bucket holds, as the API lists them (whatever the database).
    pub async fn count_objects(&self, bucket: &str) -> usize {
        let (status, body) = self.post(&format!("/v1/buckets/{bucket}/objects/list"), &json!({"limit": 100})).await;
        assert_eq!(status, 200, "{body}");
        body["results"].as_array().unwrap().len()
    }

    /// How many uploads the bucket holds, as the API lists them (whatever the database).
    pub async fn count_uploads(&self, bucket: &str) -> usize {
        let (status, body) = self.post(&format!("/v1/buckets/{bucket}/uploads/list"), &json!({"limit": 100})).await;
        assert_eq!(status, 200, "{body}");
        body["results"].as_array().unwrap().len()
    }

    pub async fn confirm(&self, bucket: &str, upload: &str, body: &Value) -> (StatusCode, Value) {
        self.post(&format!("/v1/buckets/{bucket}/uploads/{upload}/confirm"), body).await
    }
}

pub async fn read(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    assert!(response.headers().contains_key("x-request-id"), "every response carries X-Request-Id");
    let text = response.text().await.unwrap();
    (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) })
}

/// PUTs bytes as a browser would: the presigned URL and exactly the listed headers.
pub async fn put(upload: &Value, bytes: Vec<u8>) -> String {
    let client = reqwest::Client::new();
    let mut request = client.put(upload["presigned_url"].as_str().expect("a presigned URL"));
    for (name, value) in upload["presigned_headers"].as_object().unwrap() {
        request = request.header(name, value.as_str().unwrap());
    }
    let response = request.body(bytes).send().await.unwrap();
    assert_eq!(response.status(), 200, "PUT failed: {}", response.text().await.unwrap_or_default());
    response.headers()["etag"].to_str().unwrap().trim_matches('"').to_owned()
}

pub fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(bytes))
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// A TCP proxy in front of a dependency; `cut()` drops every connection and refuses new ones
/// until `restore()`.
pub struct Proxy {
    pub addr: SocketAddr,
    up: Arc<AtomicBool>,
    cut: Arc<Notify>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let cut = Arc::new(Notify::new());
        let (up2, cut2) = (up.clone(), cut.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let cut = cut2.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        () = cut.notified() => {}
                    }
                });
            }
        });
        Self { addr, up, cut }
    }

    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cut.notify_waiters();
    }

    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// Host and port of a URL such as `http://127.0.0.1:3900` or `postgres://u@127.0.0.1:5432/db`.
pub fn socket_of(url: &str) -> SocketAddr {
    let rest = url.split_once("://").unwrap().1;
    let authority = rest.split('/').next().unwrap();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let host_port = host_port.replace("localhost", "127.0.0.1");
    host_port.parse().unwrap()
}
