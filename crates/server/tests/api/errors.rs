//! Every 400 of confirm's semantics provoked over HTTP, asserted (status, type, code), and the
//! upload unchanged afterwards; plus the 422s of malformed input.

use crate::helpers::*;
use serde_json::{Value, json};

fn assert_error(status: reqwest::StatusCode, body: &Value, want_status: u16, want_type: &str, want_code: &str) {
    assert_eq!(status.as_u16(), want_status, "{body}");
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["status"], want_status, "{body}");
    assert_eq!(body["error"]["type"], want_type, "{body}");
    assert_eq!(body["error"]["code"], want_code, "{body}");
}

async fn status_of(app: &TestApp, bucket: &str, id: &str) -> String {
    app.get(&format!("/v1/buckets/{bucket}/uploads/{id}")).await.1["status"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_confirm_400_is_typed_and_leaves_the_upload_pending() {
    let app = spawn_app().await;
    let bucket = app.bucket("errs", json!({"max_file_size_bytes": 20})).await;

    // Nothing stored yet.
    let missing = app.create_upload(&bucket, "m.bin", json!({})).await;
    let id = missing["upload_id"].as_str().unwrap();
    let (s, b) = app.confirm(&bucket, id, &json!({})).await;
    assert_error(s, &b, 400, "BadRequestError", "object_not_in_storage");
    assert_eq!(status_of(&app, &bucket, id).await, "PENDING");

    let (id, _) = app.upload(&bucket, b"0123456789").await;
    let (s, b) = app.confirm(&bucket, &id, &json!({"etag": "ffffffffffffffffffffffffffffffff"})).await;
    assert_error(s, &b, 400, "BadRequestError", "etag_mismatch");
    let (s, b) = app.confirm(&bucket, &id, &json!({"file_size_bytes": 11})).await;
    assert_error(s, &b, 400, "BadRequestError", "size_mismatch");
    assert_eq!(status_of(&app, &bucket, &id).await, "PENDING");
    // The same upload still confirms once the client sends the truth.
    assert_eq!(app.confirm(&bucket, &id, &json!({"file_size_bytes": 10})).await.0, 200);
    // A completed upload contradicted later is a mismatch too, and stays completed.
    let (s, b) = app.confirm(&bucket, &id, &json!({"file_size_bytes": 12})).await;
    assert_error(s, &b, 400, "BadRequestError", "size_mismatch");
    assert_eq!(status_of(&app, &bucket, &id).await, "COMPLETED");

    // Declared a hash, uploaded other bytes (no signed checksum): caught by the computed hash.
    let upload = app.create_upload(&bucket, "h.bin", json!({"file_hash": sha256_hex(b"what I promised")})).await;
    put(&upload, b"what I sent".to_vec()).await;
    let id = upload["upload_id"].as_str().unwrap();
    let (s, b) = app.confirm(&bucket, id, &json!({})).await;
    assert_error(s, &b, 400, "BadRequestError", "checksum_mismatch");
    assert_eq!(status_of(&app, &bucket, id).await, "PENDING");

    // More bytes than the bucket allows, PUT without a declared size.
    let upload = app.create_upload(&bucket, "big.bin", json!({})).await;
    put(&upload, vec![1; 21]).await;
    let id = upload["upload_id"].as_str().unwrap();
    let (s, b) = app.confirm(&bucket, id, &json!({})).await;
    assert_error(s, &b, 400, "BadRequestError", "file_too_large");
    assert_eq!(status_of(&app, &bucket, id).await, "PENDING");

    // Canceled.
    let (id, _) = app.upload(&bucket, b"cancel me").await;
    assert_eq!(app.delete(&format!("/v1/buckets/{bucket}/uploads/{id}?delete_s3_object=true")).await.0, 204);
    let (s, b) = app.confirm(&bucket, &id, &json!({})).await;
    assert_error(s, &b, 400, "BadRequestError", "upload_canceled");
    assert_eq!(status_of(&app, &bucket, &id).await, "CANCELED");

    // Expired: its URL lapsed more than the grace period ago.
    let (id, _) = app.upload(&bucket, b"too late").await;
    app.db().count(&format!("WITH u AS (UPDATE uploads SET expires_at = now() - interval '3 days' WHERE id = '{id}' RETURNING 1) SELECT count(*) AS n FROM u")).await;
    let (s, b) = app.confirm(&bucket, &id, &json!({})).await;
    assert_error(s, &b, 400, "BadRequestError", "upload_expired");
    let (_, got) = app.get(&format!("/v1/buckets/{bucket}/uploads/{id}")).await;
    assert_eq!((got["status"].as_str(), got["error_code"].as_str()), (Some("FAILED"), Some("upload_expired")));

    // Unknown bucket and upload.
    let (s, b) = app.confirm("nope", &id, &json!({})).await;
    assert_error(s, &b, 404, "NotFoundError", "bucket_not_found");
    let (s, b) = app.confirm(&bucket, "upl_0000000000000000", &json!({})).await;
    assert_error(s, &b, 404, "NotFoundError", "upload_not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_refuses_what_the_bucket_does_not_accept_before_issuing_a_url() {
    let app = spawn_app().await;
    let bucket = app.bucket("strict", json!({"max_file_size_bytes": 100, "allowed_content_types": ["image/*"]})).await;
    let path = format!("/v1/buckets/{bucket}/uploads");
    let (s, b) =
        app.post(&path, &json!({"filename": "a.png", "content_type": "image/png", "file_size_bytes": 101})).await;
    assert_error(s, &b, 400, "BadRequestError", "file_too_large");
    let (s, b) = app.post(&path, &json!({"filename": "a.txt", "content_type": "text/plain"})).await;
    assert_error(s, &b, 400, "BadRequestError", "content_type_not_allowed");
    let (s, b) = app.post(&path, &json!({"filename": "../a.png", "content_type": "image/png"})).await;
    assert_error(s, &b, 400, "BadRequestError", "invalid_filename");
    assert_eq!(app.db().count("SELECT count(*) AS n FROM uploads").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_input_is_a_422_in_the_validation_shape() {
    let app = spawn_app().await;
    let bucket = app.bucket("v", json!({})).await;
    let (id, _) = app.upload(&bucket, b"x").await;
    let confirm = format!("/v1/buckets/{bucket}/uploads/{id}/confirm");
    let cases = [
        (json!({"file_size_bytes": 0}), "file_size_bytes"),
        (json!({"file_size_bytes": "ten"}), "file_size_bytes"),
        (json!({"auto_submit_batch": "yes"}), "auto_submit_batch"),
    ];
    for (body, field) in cases {
        let (s, b) = app.post(&confirm, &body).await;
        assert_eq!(s, 422, "{body} → {b}");
        let loc: Vec<String> = b["detail"][0]["loc"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(loc, ["body", field], "{b}");
        assert!(b["detail"][0]["msg"].is_string() && b["detail"][0]["type"].is_string());
    }
    let raw = app
        .client
        .post(app.url(&confirm))
        .bearer_auth(&app.key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let (s, b) = read(raw).await;
    assert_eq!(s, 422);
    assert_eq!(b["detail"][0]["type"], "json_invalid");
    let (s, _) = app
        .post(
            &format!("/v1/buckets/{bucket}/uploads"),
            &json!({"filename": "a", "content_type": "text/plain", "presigned_url_expiration": 59}),
        )
        .await;
    assert_eq!(s, 422);
    let (s, _) = app
        .post(
            &format!("/v1/buckets/{bucket}/uploads"),
            &json!({"filename": "a", "content_type": "text/plain", "file_hash": "ABC"}),
        )
        .await;
    assert_eq!(s, 422);
    let (s, _) = app.get("/v1/tasks/task_0000000000000000?wait_seconds=abc").await;
    assert_eq!(s, 422);
    assert_eq!(app.get(&format!("/v1/buckets/{bucket}/uploads/{id}")).await.1["status"], "PENDING");
}
