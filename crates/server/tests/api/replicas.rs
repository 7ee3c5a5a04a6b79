//! Several `stowage` processes on one PostgreSQL and one S3 bucket, as a deployment runs them:
//! 3 `serve` replicas (behind a round-robin "load balancer" in the test) and 2 `worker`
//! processes. Exactly-once holds across processes, not just across tasks of one process: one
//! upload confirmed 200 times → one object and 200 identical answers; 50 identical files → one
//! original; a worker killed mid-batch → the batch completes once on the other; a rolling restart
//! under a steady confirm load → no 5xx but clean 503s, nothing lost.

use crate::helpers::{put, sha256_hex};
use crate::process::{cli, env, start_worker};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use stowage_testkit::TestDb;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// One `stowage serve` process and a client of its own (so that taking it out of rotation also
/// takes its pooled connections out).
struct Replica {
    child: Child,
    base: String,
    client: reqwest::Client,
}

async fn start_serve(vars: &[(String, String)]) -> Replica {
    let mut child = Command::new(env!("CARGO_BIN_EXE_stowage"))
        .arg("serve")
        .envs(vars.iter().cloned())
        .env("STOWAGE__WORKER__ENABLED", "false")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines.next_line().await.unwrap().expect("stowage serve printed its address");
        if let Some(address) = line.strip_prefix("stowage listening on ") {
            break address.trim_end_matches('/').to_owned();
        }
    };
    // Keep reading what it prints, so it never writes into a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
    Replica { child, base, client }
}

/// The test's load balancer: round robin over the replicas in rotation.
#[derive(Clone)]
struct Balancer {
    replicas: Arc<RwLock<Vec<(String, reqwest::Client)>>>,
    next: Arc<AtomicUsize>,
    key: String,
}

impl Balancer {
    fn pick(&self) -> (String, reqwest::Client) {
        let replicas = self.replicas.read().unwrap();
        replicas[self.next.fetch_add(1, Ordering::Relaxed) % replicas.len()].clone()
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> (StatusCode, Value) {
        let (base, client) = self.pick();
        let mut request = client.request(method, format!("{base}{path}")).bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("{path} via {base}: {e}"));
        crate::helpers::read(response).await
    }

    async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }
}

struct Cluster {
    _db: TestDb,
    vars: Vec<(String, String)>,
    replicas: Vec<Replica>,
    lb: Balancer,
}

async fn cluster() -> Cluster {
    let db = TestDb::empty().await;
    let storage = stowage_testkit::fresh_bucket().await;
    let mut vars = env(&db, &storage);
    vars.retain(|(k, _)| k != "STOWAGE__WORKER__ENABLED");
    vars.push(("STOWAGE__SERVER__SHUTDOWN_TIMEOUT_SECS".to_owned(), "10".to_owned()));
    assert_eq!(cli(&vars, &["migrate"]).await, "database migrated");
    cli(&vars, &["namespaces", "create", "fleet"]).await;
    let key = cli(&vars, &["keys", "create", "--namespace", "fleet", "--role", "write"]).await;
    let mut replicas = Vec::new();
    for _ in 0..3 {
        replicas.push(start_serve(&vars).await);
    }
    let rotation = replicas.iter().map(|r| (r.base.clone(), r.client.clone())).collect();
    let lb = Balancer { replicas: Arc::new(RwLock::new(rotation)), next: Arc::new(AtomicUsize::new(0)), key };
    Cluster { _db: db, vars, replicas, lb }
}

impl Cluster {
    async fn bucket(&self, name: &str) -> String {
        let (status, body) = self.lb.post("/v1/buckets", &json!({"bucket_name": name})).await;
        assert_eq!(status, 200, "{body}");
        body["bucket_id"].as_str().unwrap().to_owned()
    }

    /// Creates an upload (through any replica) and PUTs `bytes` to its presigned URL.
    async fn upload(&self, bucket: &str, bytes: Vec<u8>) -> String {
        let (status, upload) = self
            .lb
            .post(&format!("/v1/buckets/{bucket}/uploads"), &json!({"filename": "f.bin", "content_type": "application/octet-stream", "file_size_bytes": bytes.len()}))
            .await;
        assert_eq!(status, 200, "{upload}");
        put(&upload, bytes).await;
        upload["upload_id"].as_str().unwrap().to_owned()
    }

    async fn object_count(&self, bucket: &str) -> i64 {
        let (_, b) = self.lb.get(&format!("/v1/buckets/{bucket}")).await;
        b["object_count"].as_i64().unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_confirms_of_one_upload_across_three_replicas_make_one_object_and_agree() {
    let c = cluster().await;
    let bucket = c.bucket("race").await;
    let id = c.upload(&bucket, b"raced across replicas".to_vec()).await;
    let confirms = (0..200).map(|_| {
        let (lb, path) = (c.lb.clone(), format!("/v1/buckets/{bucket}/uploads/{id}/confirm"));
        tokio::spawn(async move { lb.post(&path, &json!({})).await })
    });
    let answers: Vec<_> = futures_util::future::join_all(confirms).await.into_iter().map(Result::unwrap).collect();
    assert!(answers.iter().all(|(s, _)| *s == 200), "{:?}", answers.iter().find(|(s, _)| *s != 200));
    assert!(answers.iter().all(|(_, body)| *body == answers[0].1), "the replicas disagree");
    assert_eq!(answers[0].1["status"], "COMPLETED");
    assert_eq!(c.object_count(&bucket).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_identical_files_confirmed_at_once_across_replicas_make_one_original() {
    let c = cluster().await;
    let bucket = c.bucket("same").await;
    let mut ids = Vec::new();
    for _ in 0..50 {
        ids.push(c.upload(&bucket, b"one content, fifty uploads".to_vec()).await);
    }
    let confirms = ids.iter().map(|id| {
        let (lb, path) = (c.lb.clone(), format!("/v1/buckets/{bucket}/uploads/{id}/confirm"));
        tokio::spawn(async move { lb.post(&path, &json!({})).await })
    });
    let answers: Vec<_> = futures_util::future::join_all(confirms).await.into_iter().map(Result::unwrap).collect();
    assert!(answers.iter().all(|(s, _)| *s == 200), "{:?}", answers.iter().find(|(s, _)| *s != 200));
    let originals: Vec<&Value> = answers.iter().map(|(_, b)| b).filter(|b| b["is_duplicate"] == false).collect();
    assert_eq!(originals.len(), 1, "exactly one original");
    let original = originals[0];
    for (_, answer) in &answers {
        if answer["is_duplicate"] == true {
            assert_eq!(answer["duplicate_of_upload_id"], original["upload_id"], "{answer}");
            assert_eq!(answer["object_id"], original["object_id"], "{answer}");
        }
    }
    assert_eq!(c.object_count(&bucket).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_killed_mid_batch_leaves_the_batch_to_the_other_which_completes_it_once() {
    let c = cluster().await;
    let bucket = c.bucket("batch").await;
    // Large enough that hashing them takes a while: the first worker dies in the middle.
    let mut ids = Vec::new();
    for n in 0..3u32 {
        let bytes: Vec<u8> =
            (0..(96u32 << 20)).map(|i| (i.wrapping_add(n).wrapping_mul(2_654_435_761) >> 24) as u8).collect();
        ids.push((c.upload(&bucket, bytes.clone()).await, sha256_hex(&bytes)));
    }
    let uploads: Vec<Value> = ids.iter().map(|(id, _)| json!({"upload_id": id})).collect();
    let (status, task) =
        c.lb.post(&format!("/v1/buckets/{bucket}/uploads/confirm/batch"), &json!({"confirmations": uploads})).await;
    assert_eq!(status, 200, "{task}");
    let task = task["task_id"].as_str().unwrap().to_owned();

    let lease = [("STOWAGE__WORKER__LEASE_SECS".to_owned(), "2".to_owned())];
    let with_lease: Vec<_> = c.vars.iter().cloned().chain(lease).collect();
    let mut doomed = start_worker(&with_lease).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, t) = c.lb.get(&format!("/v1/tasks/{task}")).await;
        if t["status"] == "IN_PROGRESS" {
            break;
        }
        assert!(Instant::now() < deadline, "the first worker never claimed the task: {t}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    doomed.start_kill().unwrap();
    doomed.wait().await.unwrap();
    let (_, t) = c.lb.get(&format!("/v1/tasks/{task}")).await;
    assert_eq!(t["status"], "IN_PROGRESS", "the batch was still running when its worker died: {t}");

    let _survivor = start_worker(&with_lease).await;
    let done = wait_done(&c.lb, &task, deadline + Duration::from_secs(240)).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert_eq!(done["attempts"], 2, "delivered to the survivor once, after the lease expired: {done}");
    // Below the bucket's async threshold (100 MiB), so the batch task hashes them itself and the
    // kill lands in the middle of it; an upload given a confirm task of its own (over the
    // threshold) must have exactly the one the batch reported.
    let results = done["outputs"].as_array().unwrap_or_else(|| panic!("no results in {done}"));
    assert_eq!(results.len(), ids.len(), "{done}");
    for ((id, hash), result) in ids.iter().zip(results) {
        assert_eq!(result["upload_id"], id.as_str(), "{result}");
        if let Some(confirm) = result["task_id"].as_str() {
            wait_done(&c.lb, confirm, deadline + Duration::from_secs(240)).await;
        }
        let (_, upload) = c.lb.get(&format!("/v1/buckets/{bucket}/uploads/{id}")).await;
        assert_eq!((upload["status"].as_str(), upload["file_hash"].as_str()), (Some("COMPLETED"), Some(hash.as_str())));
        assert_eq!(upload["task_id"], result["task_id"], "the upload's task is the one the batch reported");
    }
    assert_eq!(c.object_count(&bucket).await, 3, "one object per upload, none twice");
}

/// Long-polls a task until it leaves PENDING and IN_PROGRESS.
async fn wait_done(lb: &Balancer, task: &str, deadline: Instant) -> Value {
    loop {
        let (_, t) = lb.get(&format!("/v1/tasks/{task}?wait_seconds=10")).await;
        if t["status"] != "IN_PROGRESS" && t["status"] != "PENDING" {
            return t;
        }
        assert!(Instant::now() < deadline, "task {task} never finished: {t}");
    }
}

/// What one confirm of the steady load ended with.
#[derive(Debug)]
struct Outcome {
    upload: String,
    hash: String,
    status: StatusCode,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rolling_restart_under_steady_confirm_load_fails_nothing_and_loses_nothing() {
    let mut c = cluster().await;
    let bucket = c.bucket("rolling").await;
    let stop = Arc::new(AtomicBool::new(false));
    let serial = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (lb, stop, serial, bucket) = (c.lb.clone(), stop.clone(), serial.clone(), bucket.clone());
            tokio::spawn(async move {
                let mut outcomes = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let bytes = format!("steady load item {}", serial.fetch_add(1, Ordering::Relaxed)).into_bytes();
                    let (status, upload) = lb
                        .post(&format!("/v1/buckets/{bucket}/uploads"), &json!({"filename": "f.bin", "content_type": "application/octet-stream", "file_size_bytes": bytes.len()}))
                        .await;
                    assert!(status == 200 || status == 503, "create: {status} {upload}");
                    if status != 200 {
                        continue;
                    }
                    put(&upload, bytes.clone()).await;
                    let id = upload["upload_id"].as_str().unwrap().to_owned();
                    let (status, body) = lb.post(&format!("/v1/buckets/{bucket}/uploads/{id}/confirm"), &json!({})).await;
                    assert!(status == 200 || status == 503, "confirm: {status} {body}");
                    if status == 503 {
                        let code = body["error"]["code"].as_str().unwrap_or_default();
                        assert!(code.ends_with("_unavailable"), "a clean 503: {body}");
                    }
                    outcomes.push(Outcome { upload: id, hash: sha256_hex(&bytes), status });
                }
                outcomes
            })
        })
        .collect();

    // Roll every replica: out of rotation, a moment for what was already sent to arrive
    // (Kubernetes: a preStop sleep), SIGTERM, a clean exit, a new process, back in rotation.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for _ in 0..3 {
        let mut old = c.replicas.remove(0);
        c.lb.replicas.write().unwrap().retain(|(base, _)| *base != old.base);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let pid = old.child.id().unwrap().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().await.unwrap().success());
        let exit = tokio::time::timeout(Duration::from_secs(20), old.child.wait()).await.expect("it stops").unwrap();
        assert!(exit.success(), "a replica exited with {exit} on SIGTERM");
        let new = start_serve(&c.vars).await;
        c.lb.replicas.write().unwrap().push((new.base.clone(), new.client.clone()));
        c.replicas.push(new);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let outcomes: Vec<Outcome> =
        futures_util::future::join_all(clients).await.into_iter().flat_map(Result::unwrap).collect();
    assert!(outcomes.len() >= 20, "the load was too light to mean anything: {} confirms", outcomes.len());

    // Every confirm answered 200 is durable; one answered 503 can simply be confirmed again.
    for outcome in &outcomes {
        if outcome.status == 503 {
            let (status, body) =
                c.lb.post(&format!("/v1/buckets/{bucket}/uploads/{}/confirm", outcome.upload), &json!({})).await;
            assert_eq!(status, 200, "{body}");
        }
        let (_, upload) = c.lb.get(&format!("/v1/buckets/{bucket}/uploads/{}", outcome.upload)).await;
        assert_eq!(upload["status"], "COMPLETED", "{outcome:?} {upload}");
        assert_eq!(upload["file_hash"], outcome.hash.as_str());
    }
    let distinct = outcomes.iter().map(|o| o.upload.as_str()).collect::<std::collections::HashSet<_>>().len();
    assert_eq!(distinct, outcomes.len());
    assert_eq!(c.object_count(&bucket).await, outcomes.len() as i64, "one object per confirmed upload");
}
