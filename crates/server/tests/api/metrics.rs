//! `/metrics` in Prometheus text format, with values that move when the service works.

use crate::helpers::*;
use serde_json::json;

async fn scrape(app: &TestApp) -> String {
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

/// The value of the first sample of `family` whose labels contain every `needle`.
fn sample(text: &str, family: &str, needles: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(family) && !l.starts_with('#'))
        .filter(|l| l[family.len()..].starts_with(['{', ' ']))
        .find(|l| needles.iter().all(|n| l.contains(n)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_with_requests_confirms_duplicates_rejections_and_the_queue() {
    let app = spawn_with(|s| s.worker.enabled = false).await;
    let bucket = app.bucket("m", json!({})).await;
    let (first, _) = app.upload(&bucket, b"same bytes").await;
    let (second, _) = app.upload(&bucket, b"same bytes").await;
    let (third, _) = app.upload(&bucket, b"other bytes").await;
    assert_eq!(app.confirm(&bucket, &first, &json!({})).await.0, 200);
    assert_eq!(app.confirm(&bucket, &second, &json!({})).await.1["is_duplicate"], true);
    assert_eq!(app.confirm(&bucket, &third, &json!({"etag": "00000000000000000000000000000000"})).await.0, 400);
    assert_eq!(app.post(&format!("/v1/buckets/{bucket}/uploads/{third}/confirm?async=true"), &json!({})).await.0, 200);

    let text = scrape(&app).await;
    let route = "route=\"/v1/buckets/{bucket_identifier}/uploads/{upload_id}/confirm\"";
    assert!(sample(&text, "stowage_http_requests_total", &[route, "status=\"200\""]).unwrap() >= 3.0, "{text}");
    assert_eq!(sample(&text, "stowage_http_requests_total", &[route, "status=\"400\""]), Some(1.0));
    assert!(sample(&text, "stowage_http_request_duration_seconds_count", &[route]).unwrap() >= 4.0);
    assert_eq!(sample(&text, "stowage_confirms_total", &["outcome=\"completed\""]), Some(1.0));
    assert_eq!(sample(&text, "stowage_confirms_total", &["outcome=\"duplicate\""]), Some(1.0));
    assert_eq!(sample(&text, "stowage_confirms_total", &["outcome=\"processing\""]), Some(1.0));
    assert_eq!(sample(&text, "stowage_confirm_rejections_total", &["code=\"etag_mismatch\""]), Some(1.0));
    assert_eq!(sample(&text, "stowage_duplicate_bytes_saved_total", &[]), Some(10.0));
    assert_eq!(sample(&text, "stowage_uploads_total", &["event=\"created\""]), Some(3.0));
    assert_eq!(sample(&text, "stowage_uploads_total", &["event=\"completed\""]), Some(1.0));
    assert_eq!(sample(&text, "stowage_uploads_total", &["event=\"duplicate\""]), Some(1.0));
    assert!(sample(&text, "stowage_storage_seconds_count", &["op=\"head\""]).unwrap() >= 3.0);
    assert!(sample(&text, "stowage_storage_seconds_count", &["op=\"hash\""]).unwrap() >= 2.0);
    assert!(sample(&text, "stowage_database_seconds_count", &["op=\"apply_confirmation\""]).unwrap() >= 2.0);
    assert_eq!(sample(&text, "stowage_upload_pending_seconds_count", &[]), Some(2.0));
    // No workers run here: the async confirm's task waits in the queue.
    assert_eq!(sample(&text, "stowage_queue_depth", &[]), Some(1.0));
    assert!(sample(&text, "stowage_queue_lag_seconds", &[]).is_some());
}
