//! Asynchronous confirmation: on request and above the bucket's threshold, done by the workers;
//! the long poll answers as soon as the task changes.

use crate::helpers::*;
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_true_answers_processing_then_the_worker_completes_the_upload() {
    let app = spawn_app().await;
    let bucket = app.bucket("a", json!({})).await;
    let bytes = b"verified later".to_vec();
    let (id, _) = app.upload(&bucket, &bytes).await;
    let (status, body) = app.post(&format!("/v1/buckets/{bucket}/uploads/{id}/confirm?async=true"), &json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "PROCESSING");
    assert_eq!(body["message"], "Upload confirmation is being processed in the background.");
    let task = body["task_id"].as_str().unwrap().to_owned();

    let done = app.wait_task(&task).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert_eq!(done["task_type"], "api_buckets_uploads_confirm");
    let (_, upload) = app.get(&format!("/v1/buckets/{bucket}/uploads/{id}")).await;
    assert_eq!(upload["status"], "COMPLETED");
    assert_eq!(upload["file_hash"], sha256_hex(&bytes));
    assert_eq!(done["outputs"][0]["object_id"], upload["object_id"]);
    // Confirming again replays the completed result.
    assert_eq!(app.confirm(&bucket, &id, &json!({})).await.1["status"], "COMPLETED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_over_the_async_threshold_goes_asynchronous_by_itself() {
    let app = spawn_app().await;
    let bucket = app.bucket("t", json!({"async_threshold_bytes": 1000})).await;
    let (id, _) = app.upload(&bucket, &[7u8; 1500]).await;
    let (_, body) = app.confirm(&bucket, &id, &json!({})).await;
    assert_eq!(body["status"], "PROCESSING", "{body}");
    // While processing, every confirm answers with the same task.
    let (_, again) = app.confirm(&bucket, &id, &json!({})).await;
    assert!(again["status"] == "PROCESSING" || again["status"] == "COMPLETED");
    let done = app.wait_task(body["task_id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "COMPLETED");
    assert_eq!(app.get(&format!("/v1/buckets/{bucket}/uploads/{id}")).await.1["status"], "COMPLETED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_async_check_fails_the_upload_and_the_task_with_the_same_code() {
    let app = spawn_app().await;
    let bucket = app.bucket("f", json!({})).await;
    let (id, _) = app.upload(&bucket, b"four").await;
    let (_, body) = app
        .post(&format!("/v1/buckets/{bucket}/uploads/{id}/confirm?async=true"), &json!({"file_size_bytes": 5}))
        .await;
    let done = app.wait_task(body["task_id"].as_str().unwrap()).await;
    assert_eq!(
        (done["status"].as_str(), done["error_code"].as_str()),
        (Some("FAILED"), Some("size_mismatch")),
        "{done}"
    );
    let (_, upload) = app.get(&format!("/v1/buckets/{bucket}/uploads/{id}")).await;
    assert_eq!((upload["status"].as_str(), upload["error_code"].as_str()), (Some("FAILED"), Some("size_mismatch")));
    // A FAILED (not expired) upload can be confirmed again with the truth.
    assert_eq!(app.confirm(&bucket, &id, &json!({"file_size_bytes": 4})).await.1["status"], "COMPLETED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_long_poll_returns_as_soon_as_the_task_changes() {
    // No workers here: the test moves the task itself, so the wait is the poll's alone.
    let app = spawn_with(|s| s.worker.enabled = false).await;
    let bucket = app.bucket("lp", json!({})).await;
    let (id, _) = app.upload(&bucket, b"poll").await;
    let (_, body) = app.post(&format!("/v1/buckets/{bucket}/uploads/{id}/confirm?async=true"), &json!({})).await;
    let task = body["task_id"].as_str().unwrap().to_owned();
    let poll = {
        let (client, url, key) =
            (app.client.clone(), app.url(&format!("/v1/tasks/{task}?wait_seconds=25")), app.key.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let response = client.get(url).bearer_auth(key).send().await.unwrap();
            (read(response).await, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(700)).await;
    app.db().count(&format!("WITH t AS (UPDATE tasks SET status = 'CANCELED', updated_at = now() WHERE id = '{task}' RETURNING 1) SELECT count(*) AS n FROM t")).await;
    let ((status, body), waited) = poll.await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(body["status"], "CANCELED");
    assert!(waited < Duration::from_secs(10), "the poll waited {waited:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_are_listed_newest_first_page_by_page() {
    let app = spawn_with(|s| s.worker.enabled = false).await;
    let bucket = app.bucket("tl", json!({})).await;
    let mut tasks = Vec::new();
    for i in 0..3u8 {
        let (id, _) = app.upload(&bucket, &[i; 8]).await;
        let (_, body) = app.post(&format!("/v1/buckets/{bucket}/uploads/{id}/confirm?async=true"), &json!({})).await;
        tasks.push(body["task_id"].as_str().unwrap().to_owned());
    }
    let (status, first) = app.post("/v1/tasks/list", &json!({"limit": 2})).await;
    assert_eq!(status, 200, "{first}");
    let ids: Vec<&str> = first["results"].as_array().unwrap().iter().map(|t| t["task_id"].as_str().unwrap()).collect();
    assert_eq!(ids, [tasks[2].as_str(), tasks[1].as_str()]);
    let (_, second) = app.post("/v1/tasks/list", &json!({"limit": 2, "cursor": first["next_cursor"]})).await;
    let ids: Vec<&str> = second["results"].as_array().unwrap().iter().map(|t| t["task_id"].as_str().unwrap()).collect();
    assert_eq!(ids, [tasks[0].as_str()]);
    assert!(second["next_cursor"].is_null());
    let (_, pending) = app.post("/v1/tasks/list", &json!({"status": "COMPLETED"})).await;
    assert_eq!(pending["results"].as_array().unwrap().len(), 0);
    assert_eq!(app.post("/v1/tasks/list", &json!({"limit": 0})).await.0, 422);
}
