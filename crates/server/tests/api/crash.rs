//! The server killed (SIGKILL, no shutdown) while a group of confirms is in flight, on both
//! backends: every confirm answered 200 is durable after a restart, and every unanswered one is
//! either durable or can be confirmed again — exactly once, one object per upload. The same for
//! creates (group-committed on both backends): every create answered is durable, and a retry with
//! its idempotency key answers the same upload when it was committed, a new one when it was not.

use serde_json::{Value, json};
use std::time::Duration;
use stowage_testkit::TestDb;
use tokio::process::Child;

const UPLOADS: usize = 48;

/// A running server: the process, its base URL and a key.
struct Running {
    child: Child,
    base: String,
    key: String,
}

/// POSTs `body` with the server's key and returns the answer's JSON.
async fn post(client: &reqwest::Client, server: &Running, url: &str, body: &Value) -> Value {
    client.post(url).bearer_auth(&server.key).json(body).send().await.unwrap().json().await.unwrap()
}

/// Creates the bucket and `UPLOADS` uploads with distinct bytes already PUT; returns their ids.
async fn prepare(client: &reqwest::Client, server: &Running) -> Vec<String> {
    let response = client
        .post(format!("{}/v1/buckets", server.base))
        .bearer_auth(&server.key)
        .json(&json!({"bucket_name": "crash"}));
    assert_eq!(response.send().await.unwrap().status(), 200);
    let mut ids = Vec::new();
    for i in 0..UPLOADS {
        let bytes = format!("crash test content {i}").repeat(200).into_bytes();
        let request = json!({"filename": format!("f{i}.bin"), "content_type": "application/octet-stream", "file_size_bytes": bytes.len()});
        let upload = post(client, server, &format!("{}/v1/buckets/crash/uploads", server.base), &request).await;
        let mut put = client.put(upload["presigned_url"].as_str().unwrap());
        for (name, value) in upload["presigned_headers"].as_object().unwrap() {
            put = put.header(name, value.as_str().unwrap());
        }
        assert_eq!(put.body(bytes).send().await.unwrap().status(), 200);
        ids.push(upload["upload_id"].as_str().unwrap().to_owned());
    }
    ids
}

/// Sends every confirm at once, kills the server as soon as the first is answered, and returns
/// each confirm's answer (`None`: no answer before the kill).
async fn confirm_and_kill(client: &reqwest::Client, server: &mut Running, ids: &[String]) -> Vec<Option<Value>> {
    let (first, mut answered) = tokio::sync::mpsc::channel::<()>(UPLOADS);
    let requests: Vec<_> = ids
        .iter()
        .map(|id| {
            let request = client
                .post(format!("{}/v1/buckets/crash/uploads/{id}/confirm", server.base))
                .bearer_auth(&server.key)
                .json(&json!({}))
                .timeout(Duration::from_secs(30));
            let first = first.clone();
            tokio::spawn(async move {
                let response = request.send().await.ok()?;
                if response.status() != 200 {
                    return None;
                }
                let body: Value = response.json().await.ok()?;
                let _ = first.send(()).await;
                Some(body)
            })
        })
        .collect();
    tokio::time::timeout(Duration::from_secs(30), answered.recv()).await.expect("a first confirm answered");
    server.child.start_kill().unwrap();
    server.child.wait().await.unwrap();
    let mut answers = Vec::new();
    for request in requests {
        answers.push(request.await.unwrap());
    }
    answers
}

/// After the restart: answered confirms are durable as answered; unanswered ones are durable or
/// confirm now; every upload has its own object.
async fn check(client: &reqwest::Client, server: &Running, ids: &[String], answers: &[Option<Value>]) {
    let mut objects = std::collections::HashSet::new();
    let mut confirmed_again = 0;
    for (id, answer) in ids.iter().zip(answers) {
        let url = format!("{}/v1/buckets/crash/uploads/{id}", server.base);
        let stored: Value = client.get(&url).bearer_auth(&server.key).send().await.unwrap().json().await.unwrap();
        let object = match answer {
            Some(answer) => {
                assert_eq!(answer["status"], "COMPLETED", "{answer}");
                assert_eq!(stored["status"], "COMPLETED", "an answered confirm was lost: {stored}");
                assert_eq!(stored["object_id"], answer["object_id"], "{stored} vs {answer}");
                stored["object_id"].clone()
            }
            None if stored["status"] == "COMPLETED" => stored["object_id"].clone(),
            None => {
                assert_eq!(stored["status"], "PENDING", "{stored}");
                confirmed_again += 1;
                let again = post(client, server, &format!("{url}/confirm"), &json!({})).await;
                assert_eq!(again["status"], "COMPLETED", "{again}");
                again["object_id"].clone()
            }
        };
        assert!(object.as_str().is_some_and(|o| o.starts_with("obj_")), "{object}");
        assert!(objects.insert(object.to_string()), "two uploads share object {object}");
    }
    let answered = answers.iter().filter(|a| a.is_some()).count();
    eprintln!("{answered} answered before the kill, {confirmed_again} confirmed again after it");
    assert!(answered >= 1);
    let listed =
        post(client, server, &format!("{}/v1/buckets/crash/objects/list?limit=100", server.base), &json!({})).await;
    let listed = listed["results"].as_array().expect("a list of objects");
    assert_eq!(listed.len(), UPLOADS, "exactly one object per upload");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_killed_with_confirms_in_flight_loses_no_answered_confirm() {
    let dir = std::env::temp_dir().join(format!("stowage-crash-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = crate::embedded::free_port();
    let start = async |key: Option<String>| serve_embedded(&dir, port, key).await;
    let client = reqwest::Client::new();
    let mut server = start(None).await;
    let ids = prepare(&client, &server).await;
    let answers = confirm_and_kill(&client, &mut server, &ids).await;
    let server = start(Some(server.key.clone())).await;
    check(&client, &server, &ids, &answers).await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Creates `UPLOADS` uploads at once, each with its own idempotency key, kills the server as soon
/// as one is answered, restarts it with `restart`, and checks every answered create is there and
/// every create retried with its key answers its own upload, once.
async fn creates_killed_in_flight(
    client: &reqwest::Client,
    mut server: Running,
    restart: impl AsyncFnOnce() -> Running,
) {
    let response = client
        .post(format!("{}/v1/buckets", server.base))
        .bearer_auth(&server.key)
        .json(&json!({"bucket_name": "crash-creates"}));
    assert_eq!(response.send().await.unwrap().status(), 200);
    let url = format!("{}/v1/buckets/crash-creates/uploads", server.base);
    let body = |i: usize| json!({"filename": format!("c{i}.bin"), "content_type": "application/octet-stream"});
    let (first, mut answered) = tokio::sync::mpsc::channel::<()>(UPLOADS);
    let requests: Vec<_> = (0..UPLOADS)
        .map(|i| {
            let request = client
                .post(&url)
                .bearer_auth(&server.key)
                .header("Idempotency-Key", format!("crash-{i}"))
                .json(&body(i))
                .timeout(Duration::from_secs(30));
            let first = first.clone();
            tokio::spawn(async move {
                let response = request.send().await.ok()?;
                if !response.status().is_success() {
                    return None;
                }
                let created: Value = response.json().await.ok()?;
                let _ = first.send(()).await;
                created["upload_id"].as_str().map(str::to_owned)
            })
        })
        .collect();
    tokio::time::timeout(Duration::from_secs(30), answered.recv()).await.expect("a first create answered");
    server.child.start_kill().unwrap();
    server.child.wait().await.unwrap();
    let mut answers = Vec::new();
    for request in requests {
        answers.push(request.await.unwrap());
    }
    let server = restart().await;
    let url = format!("{}/v1/buckets/crash-creates/uploads", server.base);
    let mut ids = std::collections::HashSet::new();
    for (i, answer) in answers.iter().enumerate() {
        let retried =
            client.post(&url).bearer_auth(&server.key).header("Idempotency-Key", format!("crash-{i}")).json(&body(i));
        let retried: Value = retried.send().await.unwrap().json().await.unwrap();
        let id = retried["upload_id"].as_str().expect("the retry answers an upload").to_owned();
        if let Some(answered) = answer {
            assert_eq!(&id, answered, "an answered create was lost or replaced");
            let stored = client.get(format!("{url}/{answered}")).bearer_auth(&server.key).send().await.unwrap();
            assert_eq!(stored.status(), 200, "an answered create is not stored");
        }
        assert!(ids.insert(id), "two keys answered one upload");
    }
    let answered = answers.iter().filter(|a| a.is_some()).count();
    eprintln!("{answered} creates answered before the kill");
    assert!(answered >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_killed_with_creates_in_flight_loses_no_answered_create() {
    let dir = std::env::temp_dir().join(format!("stowage-crash-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = crate::embedded::free_port();
    let start = async |key: Option<String>| serve_embedded(&dir, port, key).await;
    let client = reqwest::Client::new();
    let server = start(None).await;
    let key = server.key.clone();
    creates_killed_in_flight(&client, server, async || start(Some(key)).await).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_killed_with_creates_in_flight_loses_no_answered_create() {
    let (_db, vars, key) = pg_setup().await;
    let client = reqwest::Client::new();
    let server = serve_pg(&vars, &key).await;
    creates_killed_in_flight(&client, server, async || serve_pg(&vars, &key).await).await;
}

/// `stowage serve` with no configuration in `dir`; `key`: the key of an earlier start (the first
/// start's bootstrap admin key otherwise).
async fn serve_embedded(dir: &std::path::Path, port: u16, key: Option<String>) -> Running {
    let (child, banner, mut lines) = crate::embedded::serve(dir, port).await;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let key = key.unwrap_or_else(|| banner[3].clone());
    Running { child, base: format!("http://127.0.0.1:{port}"), key }
}

/// A migrated database, a fresh bucket, the `crash` namespace and a write key of it: the
/// server's environment and the key (keep the database alive for the test).
async fn pg_setup() -> (TestDb, Vec<(String, String)>, String) {
    let db = TestDb::empty().await;
    let storage = stowage_testkit::fresh_bucket().await;
    let vars = crate::process::env(&db, &storage);
    crate::process::cli(&vars, &["migrate"]).await;
    crate::process::cli(&vars, &["namespaces", "create", "crash"]).await;
    let key = crate::process::cli(&vars, &["keys", "create", "--namespace", "crash", "--role", "write"]).await;
    (db, vars, key)
}

/// `stowage serve` on PostgreSQL and the S3 test server.
async fn serve_pg(vars: &[(String, String)], key: &str) -> Running {
    let (child, port) = crate::process::serve(vars).await;
    Running { child, base: format!("http://127.0.0.1:{port}"), key: key.to_owned() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_killed_with_confirms_in_flight_loses_no_answered_confirm() {
    let (_db, vars, key) = pg_setup().await;
    let client = reqwest::Client::new();
    let mut server = serve_pg(&vars, &key).await;
    let ids = prepare(&client, &server).await;
    let answers = confirm_and_kill(&client, &mut server, &ids).await;
    let server = serve_pg(&vars, &key).await;
    check(&client, &server, &ids, &answers).await;
}
