//! Hostile and careless input, on the embedded default (SQLite + disk) and on PostgreSQL + S3
//! alike: malformed JSON, numbers out of range and oversized bodies get a clear 4xx, change
//! nothing, and never panic a worker or drop the connection; a closed stdout does not stop the
//! server.

use crate::helpers::*;
use serde_json::{Value, json};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

/// Sends `body` raw (not necessarily JSON) and returns the answer; a dropped connection fails.
async fn post_raw(app: &TestApp, path: &str, body: impl Into<reqwest::Body>) -> (reqwest::StatusCode, Value) {
    let response = app
        .client
        .post(app.url(path))
        .bearer_auth(&app.key)
        .header("X-Namespace", &app.namespace)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path}: the server dropped the connection: {e}"));
    read(response).await
}

fn loc(body: &Value) -> Vec<String> {
    body["detail"][0]["loc"]
        .as_array()
        .unwrap_or_else(|| panic!("no loc in {body}"))
        .iter()
        .map(|l| l.as_str().map_or_else(|| l.to_string(), str::to_owned))
        .collect()
}

async fn malformed_bodies_are_answered(app: &TestApp) {
    let bucket = app.bucket("hostile", json!({})).await;
    let (id, _) = app.upload(&bucket, b"x").await;
    let confirm = format!("/v1/buckets/{bucket}/uploads/{id}/confirm");
    let create = format!("/v1/buckets/{bucket}/uploads");
    // Many times over: one panicking worker thread would drop one of these connections.
    for _ in 0..8 {
        let (s, b) = post_raw(app, &confirm, "{not json").await;
        assert_eq!((s.as_u16(), &b["detail"][0]["type"]), (422, &json!("json_invalid")), "{b}");
        let (s, b) = post_raw(app, &confirm, r#"{"file_size_bytes":"big"}"#).await;
        assert_eq!((s.as_u16(), loc(&b)), (422, vec!["body".to_owned(), "file_size_bytes".to_owned()]), "{b}");
        let (s, b) = post_raw(app, &confirm, r#"{"file_size_bytes":1180591620717411303424}"#).await;
        assert_eq!((s.as_u16(), loc(&b)), (422, vec!["body".to_owned(), "file_size_bytes".to_owned()]), "{b}");
        let (s, b) = post_raw(
            app,
            &create,
            r#"{"filename":"a","content_type":"text/plain","file_size_bytes":1180591620717411303424}"#,
        )
        .await;
        assert_eq!((s.as_u16(), loc(&b)), (422, vec!["body".to_owned(), "file_size_bytes".to_owned()]), "{b}");
    }
    // Over the body limit: 413 in the error shape, with a stable code.
    let huge =
        format!(r#"{{"filename":"a","content_type":"text/plain","metadata":{{"x":"{}"}}}}"#, "a".repeat(2 << 20));
    let (s, b) = post_raw(app, &create, huge).await;
    assert_eq!(s, 413, "{b}");
    assert_eq!((b["status"].as_u64(), b["error"]["code"].as_str()), (Some(413), Some("body_too_large")), "{b}");
    // Nothing changed, and the server still answers.
    let (s, b) = app.get(&format!("/v1/buckets/{bucket}/uploads/{id}")).await;
    assert_eq!((s.as_u16(), b["status"].as_str()), (200, Some("PENDING")), "{b}");
    assert_eq!(app.count_uploads(&bucket).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_are_422_and_never_drop_the_connection_on_the_embedded_default() {
    malformed_bodies_are_answered(&spawn_embedded().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_are_422_and_never_drop_the_connection_on_postgres_and_s3() {
    malformed_bodies_are_answered(&spawn_app().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_does_not_stop_the_server() {
    let dir = std::env::temp_dir().join(format!("stowage-stdout-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_stowage"))
        .arg("serve")
        .current_dir(&dir)
        .env_clear()
        .env("STOWAGE__SERVER__BIND", format!("127.0.0.1:{port}"))
        .env("STOWAGE__LOG__LEVEL", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Read the first line only, then hang up: every later line goes to a closed pipe.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await.unwrap().unwrap();
    assert!(first.is_some_and(|l| l.starts_with("stowage listening on")));
    drop(lines);
    let mut healthy = 0;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if reqwest::get(format!("http://127.0.0.1:{port}/healthz")).await.is_ok_and(|r| r.status() == 200) {
            healthy += 1;
        }
    }
    assert!(child.try_wait().unwrap().is_none(), "the server exited after its stdout closed");
    assert!(healthy > 30, "the server answered only {healthy} of 40 health checks");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `stowage serve` in a fresh directory with `vars`; returns its exit status and stderr (it must
/// exit on its own: a refused secret stops it before it listens).
async fn serve_refused(dir: &std::path::Path, vars: &[(&str, &str)]) -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_stowage"))
        .arg("serve")
        .current_dir(dir)
        .env_clear()
        .env("STOWAGE__SERVER__BIND", format!("127.0.0.1:{port}"))
        .envs(vars.iter().copied())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(30), run).await.expect("serve exits").unwrap();
    assert!(!out.status.success(), "serve started with a weak secret");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weak_signing_secret_stops_the_server_from_starting() {
    let dir = std::env::temp_dir().join(format!("stowage-secret-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(dir.join("stowage-data")).unwrap();
    let stderr = serve_refused(&dir, &[("STOWAGE__DISK__SECRET", "short")]).await;
    assert!(stderr.contains("at least 32"), "{stderr}");
    // An empty secret file, as a crash during a first start could have left before writes were
    // atomic: refused, with what to do about it.
    std::fs::write(dir.join("stowage-data/storage.secret"), "").unwrap();
    let stderr = serve_refused(&dir, &[]).await;
    assert!(stderr.contains("storage.secret") && stderr.contains("delete it"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// PUTs `len` bytes to an upload's presigned URL and returns the status (the server may answer
/// before reading everything; a reset after its answer is the answer).
async fn put_len(upload: &Value, len: usize) -> u16 {
    let mut request = reqwest::Client::new().put(upload["presigned_url"].as_str().unwrap());
    for (name, value) in upload["presigned_headers"].as_object().unwrap() {
        request = request.header(name, value.as_str().unwrap());
    }
    request.body(vec![7u8; len]).send().await.expect("an answer").status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_to_the_disk_store_is_bounded_and_stops_before_the_disk_is_full_on_the_embedded_default() {
    let app = spawn_embedded().await;
    let bucket = app.bucket("bounded", json!({"max_file_size_bytes": 1_048_576})).await;
    // No declared size: the bucket's limit bounds the PUT.
    let upload = app.create_upload(&bucket, "big.bin", json!({})).await;
    assert_eq!(put_len(&upload, 3 << 20).await, 413);
    let id = upload["upload_id"].as_str().unwrap();
    let (status, body) = app.confirm(&bucket, id, &json!({})).await;
    assert_eq!((status.as_u16(), body["error"]["code"].as_str()), (400, Some("object_not_in_storage")), "{body}");
    assert_eq!(put_len(&upload, 1 << 20).await, 200, "up to the limit is fine");

    // A volume below the free-space floor takes nothing.
    let full = spawn_embedded_with(|s| s.disk.min_free_bytes = Some(u64::MAX / 2)).await;
    let bucket = full.bucket("full", json!({})).await;
    let upload = full.create_upload(&bucket, "f.bin", json!({"file_size_bytes": 10})).await;
    assert_eq!(put_len(&upload, 10).await, 507);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_fields_and_page_sizes_are_422_naming_the_field_on_the_embedded_default() {
    let app = spawn_embedded().await;
    let bucket = app.bucket("sizes", json!({})).await;
    let big = json!({"blob": "x".repeat(17 * 1024)});
    let cases = [
        (
            format!("/v1/buckets/{bucket}/uploads"),
            json!({"filename": "a", "content_type": "text/plain", "metadata": big}),
            "metadata",
        ),
        (
            format!("/v1/buckets/{bucket}/uploads"),
            json!({"filename": "a", "content_type": "text/plain", "object_metadata": big}),
            "object_metadata",
        ),
        ("/v1/buckets".to_owned(), json!({"bucket_name": "b2", "description": "d".repeat(1025)}), "description"),
        ("/v1/buckets".to_owned(), json!({"bucket_name": "b3", "metadata": big}), "metadata"),
        (format!("/v1/buckets/{bucket}/objects"), json!({"blobs": [], "metadata": big}), "metadata"),
        (format!("/v1/buckets/{bucket}/uploads/list"), json!({"limit": 10_000_000}), "limit"),
        (format!("/v1/buckets/{bucket}/objects/list"), json!({"limit": 10_000_000}), "limit"),
        ("/v1/tasks/list".to_owned(), json!({"limit": 10_000_000}), "limit"),
    ];
    for (path, body, field) in cases {
        let (status, answer) = app.post(&path, &body).await;
        assert_eq!(status, 422, "{path} {field}: {answer}");
        assert_eq!(loc(&answer), ["body", field], "{path}: {answer}");
    }
    assert_eq!(app.count_uploads(&bucket).await, 0);
}

/// What the fuzz step found, pinned on both backends: text holding U+0000 (PostgreSQL cannot
/// store it) and bodies that are not objects are 422 naming where; whole floats are integers, as
/// JSON Schema says; a method the path does not take is 405 with `Allow`, also where a literal
/// route shadows a parameter (`GET /v1/tasks/list` is not a task named `list`); an unknown upload
/// is 404 whatever its confirm body holds.
async fn what_the_fuzzer_found_is_answered(app: &TestApp) {
    let bucket = app.bucket("fuzzed", json!({})).await;
    let create = format!("/v1/buckets/{bucket}/uploads");
    let (s, b) =
        post_raw(app, &create, r#"{"filename":"a","content_type":"text/plain","metadata":{"k":"a\u0000b"}}"#).await;
    assert_eq!((s.as_u16(), loc(&b)), (422, vec!["body".to_owned(), "metadata".to_owned(), "k".to_owned()]), "{b}");
    let (s, b) = post_raw(app, "/v1/buckets", r#"{"bucket_name":"n","metadata":{"a\u0000":1}}"#).await;
    assert_eq!(s.as_u16(), 422, "{b}");
    let (s, b) = post_raw(app, "/v1/tasks/list", "[null, null]").await;
    assert_eq!((s.as_u16(), &b["detail"][0]["type"]), (422, &json!("dict_type")), "{b}");
    let (s, b) =
        post_raw(app, &create, r#"{"filename":"f.txt","content_type":"text/plain","file_size_bytes":3.0}"#).await;
    assert_eq!((s.as_u16(), b["file_size_bytes"].as_u64()), (200, Some(3)), "{b}");
    assert_eq!(app.count_uploads(&bucket).await, 1, "only the valid create made an upload");

    for (method, path, allow) in [
        (reqwest::Method::GET, "/v1/tasks/list".to_owned(), "POST"),
        (reqwest::Method::PATCH, format!("/v1/buckets/{bucket}"), "GET"),
        (reqwest::Method::PUT, "/v1/buckets".to_owned(), "POST"),
    ] {
        let response = app.client.request(method.clone(), app.url(&path)).bearer_auth(&app.key).send().await.unwrap();
        let allowed = response.headers().get("allow").map(|v| v.to_str().unwrap().to_owned());
        let (s, b) = read(response).await;
        assert_eq!((s.as_u16(), allowed.as_deref()), (405, Some(allow)), "{method} {path}: {b}");
        assert_eq!(b["error"]["code"], "method_not_allowed", "{b}");
    }
    let (s, b) = post_raw(app, &format!("{create}/upl_0000000000000000/confirm"), r#"{"etag":""}"#).await;
    assert_eq!((s.as_u16(), b["error"]["code"].as_str()), (404, Some("upload_not_found")), "{b}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_fuzzer_found_is_answered_on_the_embedded_default() {
    what_the_fuzzer_found_is_answered(&spawn_embedded().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_fuzzer_found_is_answered_on_postgres_and_s3() {
    what_the_fuzzer_found_is_answered(&spawn_app().await).await;
}
