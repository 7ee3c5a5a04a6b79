//! The `stowage` binary itself: the CLI creates a namespace and a key, `serve` serves with them,
//! and SIGTERM stops it gracefully — the in-flight request is answered, then the process exits 0.

use serde_json::json;
use std::process::Stdio;
use std::time::{Duration, Instant};
use stowage_testkit::TestDb;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

pub(crate) fn env(db: &TestDb, storage: &stowage_s3::S3Config) -> Vec<(String, String)> {
    [
        ("STOWAGE__DATABASE__URL", db.url.clone()),
        ("STOWAGE__STORAGE__ENDPOINT", storage.endpoint.clone().unwrap()),
        ("STOWAGE__STORAGE__REGION", storage.region.clone()),
        ("STOWAGE__STORAGE__BUCKET", storage.bucket.clone()),
        ("STOWAGE__STORAGE__KEY_PREFIX", storage.key_prefix.clone()),
        ("STOWAGE__STORAGE__FORCE_PATH_STYLE", "true".to_owned()),
        ("STOWAGE__STORAGE__ACCESS_KEY_ID", storage.access_key_id.clone().unwrap()),
        ("STOWAGE__STORAGE__SECRET_ACCESS_KEY", storage.secret_access_key.clone().unwrap()),
        ("STOWAGE__SERVER__BIND", "127.0.0.1:0".to_owned()),
        ("STOWAGE__SERVER__SHUTDOWN_TIMEOUT_SECS", "10".to_owned()),
        // No workers: the task below stays PENDING, so a long poll on it really waits.
        ("STOWAGE__WORKER__ENABLED", "false".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

pub(crate) async fn cli(vars: &[(String, String)], args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_stowage")).args(args).envs(vars.iter().cloned()).output().await.unwrap();
    assert!(out.status.success(), "stowage {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `stowage serve` with `vars`, and the port it printed; the rest of its output is read (and
/// dropped) in the background.
pub(crate) async fn serve(vars: &[(String, String)]) -> (tokio::process::Child, u16) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_stowage"))
        .arg("serve")
        .envs(vars.iter().cloned())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let port: u16 = loop {
        let line = lines.next_line().await.unwrap().expect("stowage printed its port");
        if let Some(port) = line.strip_prefix("stowage listening on http://").and_then(|a| a.rsplit(':').next()) {
            break port.parse().unwrap();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_in_flight_request_finish_then_exits_cleanly() {
    let db = TestDb::empty().await;
    let storage = stowage_testkit::fresh_bucket().await;
    let vars = env(&db, &storage);
    assert_eq!(cli(&vars, &["migrate"]).await, "database migrated");
    assert!(cli(&vars, &["namespaces", "create", "proc"]).await.starts_with("ns_"));
    let key = cli(&vars, &["keys", "create", "--namespace", "proc", "--role", "write"]).await;
    assert!(key.starts_with("sk_"));

    let (mut child, port) = serve(&vars).await;
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let bucket = client
        .post(format!("{base}/v1/buckets"))
        .bearer_auth(&key)
        .json(&json!({"bucket_name": "b"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bucket.status(), 200);
    let upload: serde_json::Value = client
        .post(format!("{base}/v1/buckets/b/uploads"))
        .bearer_auth(&key)
        .json(&json!({"filename": "f", "content_type": "text/plain"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // An asynchronous confirm gives a task; with no workers it never changes.
    let processing: serde_json::Value = client
        .post(format!("{base}/v1/buckets/b/uploads/{}/confirm?async=true", upload["upload_id"].as_str().unwrap()))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let task = processing["task_id"].as_str().unwrap().to_owned();

    // A long poll of 3 s is in flight when SIGTERM arrives.
    let in_flight = {
        let (client, url, key) = (client.clone(), format!("{base}/v1/tasks/{task}?wait_seconds=3"), key.clone());
        tokio::spawn(async move {
            let sent = Instant::now();
            let status = client.get(url).bearer_auth(key).send().await.map(|r| r.status().as_u16());
            (status, sent.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let pid = child.id().unwrap().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().await.unwrap().success());
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("stowage stops after SIGTERM")
        .unwrap();
    assert!(status.success(), "exit status {status}");
    let (answered, waited) = in_flight.await.unwrap();
    assert_eq!(answered.expect("the in-flight request was answered"), 200);
    assert!(waited >= Duration::from_millis(2500), "the poll was cut short after {waited:?}");
    assert!(started.elapsed() < Duration::from_secs(15));
    assert!(client.get(format!("{base}/healthz")).send().await.is_err(), "no longer accepting");
}

pub(crate) async fn start_worker(vars: &[(String, String)]) -> tokio::process::Child {
    Command::new(env!("CARGO_BIN_EXE_stowage"))
        .arg("worker")
        .envs(vars.iter().cloned())
        .env("STOWAGE__WORKER__ENABLED", "true")
        .env("STOWAGE__WORKER__LEASE_SECS", "2")
        .env("STOWAGE__WORKER__CONCURRENCY", "1")
        .env("STOWAGE__WORKER__POLL_INTERVAL_MS", "50")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_task_is_replaced_and_the_upload_completes_exactly_once() {
    let app = crate::helpers::spawn_with(|s| s.worker.enabled = false).await;
    let mut vars = env(app.db(), &app.storage);
    vars.retain(|(k, _)| k != "STOWAGE__WORKER__ENABLED");
    let bucket = app.bucket("crash", json!({})).await;
    // Large enough that hashing it takes a while: the worker dies in the middle.
    let bytes: Vec<u8> = (0..(384u32 << 20)).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let (id, _) = app.upload(&bucket, &bytes).await;
    let (_, processing) = app.post(&format!("/v1/buckets/{bucket}/uploads/{id}/confirm?async=true"), &json!({})).await;
    let task = processing["task_id"].as_str().unwrap().to_owned();

    let mut doomed = start_worker(&vars).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, t) = app.get(&format!("/v1/tasks/{task}")).await;
        if t["status"] == "IN_PROGRESS" {
            break;
        }
        assert!(Instant::now() < deadline, "the first worker never claimed the task: {t}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    doomed.start_kill().unwrap();
    doomed.wait().await.unwrap();
    let (_, t) = app.get(&format!("/v1/tasks/{task}")).await;
    assert_eq!(t["status"], "IN_PROGRESS", "the task was still running when its worker died: {t}");

    let _survivor = start_worker(&vars).await;
    let done = app.wait_task(&task).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert_eq!(done["attempts"], 2, "re-delivered once after the lease expired");
    let (_, upload) = app.get(&format!("/v1/buckets/{bucket}/uploads/{id}")).await;
    assert_eq!(upload["status"], "COMPLETED");
    assert_eq!(upload["file_hash"], crate::helpers::sha256_hex(&bytes));
    assert_eq!(app.db().count("SELECT count(*) AS n FROM objects").await, 1);
}
