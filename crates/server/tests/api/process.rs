//! The `stowage` binary itself: the CLI creates a namespace and a key, `serve` serves with them,
//! and SIGTERM stops it gracefully — the in-flight request is answered, then the process exits 0.

use serde_json::json;
use std::process::Stdio;
use std::time::{Duration, Instant};
use stowage_testkit::TestDb;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

fn env(db: &TestDb, storage: &stowage_s3::S3Config) -> Vec<(String, String)> {
    [
        ("STOWAGE__DATABASE__URL", db.url.clone()),
        ("STOWAGE__STORAGE__ENDPOINT", storage.endpoint.clone().unwrap()),
        ("STOWAGE__STORAGE__REGION", storage.region.clone()),
        ("STOWAGE__STORAGE__BUCKET", storage.bucket.clone()),
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

async fn cli(vars: &[(String, String)], args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_stowage")).args(args).envs(vars.iter().cloned()).output().await.unwrap();
    assert!(out.status.success(), "stowage {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
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
        if let Some(port) = line.strip_prefix("stowage listening on port ") {
            break port.parse().unwrap();
        }
    };
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
