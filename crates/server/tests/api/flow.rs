//! The whole flow with real presigned PUTs: create → PUT → confirm, idempotency, races and
//! duplicates.

use crate::helpers::*;
use serde_json::{Value, json};

/// Validates a body against the seed's `ConfirmUploadResponse` schema: required fields, and the
/// type of every field the seed defines.
fn assert_matches_seed_confirm_response(body: &Value) {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../http-actix/tests/fixtures/seed-schemas.json"))
            .unwrap();
    let seed: Value = serde_json::from_str(&text).unwrap();
    let schema = &seed["schemas"]["ConfirmUploadResponse"];
    let statuses: Vec<Value> = seed["schemas"]["TaskStatusEnum"]["enum"].as_array().unwrap().clone();
    for field in schema["required"].as_array().unwrap() {
        assert!(body.get(field.as_str().unwrap()).is_some(), "required field {field} missing in {body}");
    }
    for (name, prop) in schema["properties"].as_object().unwrap() {
        let Some(value) = body.get(name) else { continue };
        if prop.get("$ref").is_some() {
            assert!(statuses.contains(value), "{name}={value} is not a TaskStatusEnum value");
            continue;
        }
        let allowed: Vec<&str> = prop["anyOf"].as_array().map_or_else(
            || vec![prop["type"].as_str().unwrap()],
            |members| members.iter().map(|m| m["type"].as_str().unwrap()).collect(),
        );
        let actual = match value {
            Value::Null => "null",
            Value::String(_) => "string",
            Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            Value::Bool(_) => "boolean",
            _ => "other",
        };
        assert!(allowed.contains(&actual), "{name}={value} is {actual}, the seed allows {allowed:?}");
    }
}

async fn create_put_confirm_completes_with_the_real_etag_hash_and_size(app: TestApp) {
    let bucket = app.bucket("photos", json!({})).await;
    let bytes = b"the quick brown fox jumps over the lazy dog".to_vec();
    let upload =
        app.create_upload(&bucket, "fox.txt", json!({"file_size_bytes": bytes.len(), "metadata": {"k": "v"}})).await;
    assert_eq!(upload["status"], "PENDING");
    assert!(upload["upload_id"].as_str().unwrap().starts_with("upl_"));
    assert_eq!(upload["presigned_headers"]["content-type"], "application/octet-stream");
    let etag = put(&upload, bytes.clone()).await;
    let id = upload["upload_id"].as_str().unwrap();

    let (status, body) =
        app.confirm(&bucket, id, &json!({"etag": format!("\"{etag}\""), "file_size_bytes": bytes.len()})).await;
    assert_eq!(status, 200, "{body}");
    assert_matches_seed_confirm_response(&body);
    assert_eq!(body["status"], "COMPLETED");
    assert_eq!(body["etag"], md5_hex(&bytes));
    assert_eq!(body["file_hash"], sha256_hex(&bytes));
    assert_eq!(body["file_size_bytes"], bytes.len());
    let object_id = body["object_id"].as_str().unwrap();
    assert!(object_id.starts_with("obj_"));

    let (status, got) = app.get(&format!("/v1/buckets/{bucket}/uploads/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(got["status"], "COMPLETED");
    assert_eq!(got["object_id"], object_id);
    assert_eq!(got["file_hash"], sha256_hex(&bytes));
    assert!(got["presigned_url"].is_null(), "no PUT URL once completed");

    let (status, object) =
        app.get(&format!("/v1/buckets/{bucket}/objects/{object_id}?return_presigned_urls=true")).await;
    assert_eq!(status, 200, "{object}");
    assert_eq!(object["upload_id"], id);
    assert_eq!(object["status"], "DRAFT");
    assert_eq!(object["blobs"][0]["details"]["hash"], sha256_hex(&bytes));
    assert_eq!(object["blobs"][0]["details"]["size_bytes"], bytes.len());
    let download = reqwest::get(object["blobs"][0]["presigned_url"].as_str().unwrap()).await.unwrap();
    assert_eq!(download.bytes().await.unwrap().as_ref(), bytes.as_slice());

    let (_, b) = app.get(&format!("/v1/buckets/{bucket}")).await;
    assert_eq!((b["object_count"].as_i64(), b["total_size_bytes"].as_i64()), (Some(1), Some(bytes.len() as i64)));
}

async fn confirming_twice_returns_identical_bodies(app: TestApp) {
    let bucket = app.bucket("b", json!({})).await;
    let (id, _) = app.upload(&bucket, b"twice").await;
    let (_, first) = app.confirm(&bucket, &id, &json!({})).await;
    let (status, second) = app.confirm(&bucket, &id, &Value::Null).await;
    assert_eq!(status, 200);
    assert_eq!(first, second);
}

async fn fifty_concurrent_confirms_make_one_object_and_fifty_identical_bodies(app: TestApp) {
    let bucket = app.bucket("race", json!({})).await;
    let (id, _) = app.upload(&bucket, b"racing bytes").await;
    let app = std::sync::Arc::new(app);
    let confirms = (0..50).map(|_| {
        let (app, bucket, id) = (app.clone(), bucket.clone(), id.clone());
        tokio::spawn(async move { app.confirm(&bucket, &id, &json!({})).await })
    });
    let results: Vec<_> = futures_util::future::join_all(confirms).await.into_iter().map(Result::unwrap).collect();
    assert!(results.iter().all(|(status, _)| *status == 200), "{results:?}");
    assert!(results.iter().all(|(_, body)| *body == results[0].1));
    assert_eq!(app.count_objects(&bucket).await, 1);
}

async fn the_same_bytes_twice_make_the_second_a_duplicate_of_the_first(app: TestApp) {
    let bucket = app.bucket("dups", json!({})).await;
    let (first, _) = app.upload(&bucket, b"same content").await;
    let (second, _) = app.upload(&bucket, b"same content").await;
    let (_, original) = app.confirm(&bucket, &first, &json!({})).await;
    let (status, duplicate) = app.confirm(&bucket, &second, &json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(duplicate["is_duplicate"], true);
    assert_eq!(duplicate["duplicate_of_upload_id"], first);
    assert_eq!(duplicate["object_id"], original["object_id"]);
    assert_eq!(app.count_objects(&bucket).await, 1);

    // A create that declares the known hash gets the existing upload and no URL.
    let known = app.create_upload(&bucket, "again.bin", json!({"file_hash": sha256_hex(b"same content")})).await;
    assert_eq!(known["is_duplicate"], true);
    assert!(known["presigned_url"].is_null());
    assert_eq!(known["upload_id"], first);
    assert_eq!(known["status"], "COMPLETED");
}

async fn an_enforced_checksum_is_signed_and_needs_no_streaming(app: TestApp) {
    let bucket = app.bucket("signed", json!({})).await;
    let bytes = b"checksummed".to_vec();
    let upload = app
        .create_upload(
            &bucket,
            "c.bin",
            json!({"file_hash": sha256_hex(&bytes), "enforce_checksum": true, "file_size_bytes": bytes.len()}),
        )
        .await;
    assert!(
        upload["presigned_headers"]
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.eq_ignore_ascii_case("x-amz-checksum-sha256"))
    );
    put(&upload, bytes.clone()).await;
    let (status, body) = app.confirm(&bucket, upload["upload_id"].as_str().unwrap(), &json!({})).await;
    assert_eq!((status.as_u16(), body["file_hash"].as_str()), (200, Some(sha256_hex(&bytes).as_str())));
}

async fn a_retried_create_with_an_idempotency_key_returns_the_same_upload(app: TestApp) {
    let bucket = app.bucket("idem", json!({})).await;
    let body = json!({"filename": "a.bin", "content_type": "text/plain"});
    let send = || {
        app.client
            .post(app.url(&format!("/v1/buckets/{bucket}/uploads")))
            .bearer_auth(&app.key)
            .header("Idempotency-Key", "retry-1")
            .json(&body)
            .send()
    };
    let (_, first) = read(send().await.unwrap()).await;
    let (_, second) = read(send().await.unwrap()).await;
    assert_eq!(first["upload_id"], second["upload_id"]);
    assert_eq!(app.count_uploads(&bucket).await, 1);
}

async fn operations_endpoints_answer(app: TestApp) {
    let (status, ready) = read(app.client.get(app.url("/readyz")).send().await.unwrap()).await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["checks"]["database"]["status"], "ok");
    assert_eq!(read(app.client.get(app.url("/healthz")).send().await.unwrap()).await.0, 200);
    let (status, doc) = read(app.client.get(app.url("/openapi.json")).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert!(doc["components"]["schemas"]["ConfirmUploadResponse"].is_object());
    assert_eq!(app.client.get(app.url("/docs")).send().await.unwrap().status(), 200);
    let (status, body) = read(app.client.get(app.url("/nope")).send().await.unwrap()).await;
    assert_eq!((status.as_u16(), body["error"]["type"].as_str()), (404, Some("NotFoundError")));
}

async fn a_batch_create_keeps_request_order_reports_each_failure_and_merges_shared_metadata(app: TestApp) {
    let bucket = app.bucket("many", json!({"allowed_content_types": ["text/*"]})).await;
    let request = json!({
        "shared_metadata": {"campaign": "spring", "team": "shared"},
        "uploads": [
            {"filename": "a.txt", "content_type": "text/plain", "metadata": {"team": "own"}},
            {"filename": "../b.txt", "content_type": "text/plain"},
            {"filename": "c.png", "content_type": "image/png"},
            {"filename": "d.txt", "content_type": "text/plain", "file_size_bytes": 0},
            {"filename": "e.txt", "content_type": "text/plain"},
        ]
    });
    let (status, body) = app.post(&format!("/v1/buckets/{bucket}/uploads/batch"), &request).await;
    assert_eq!(status, 200, "{body}");
    let names: Vec<&str> =
        body["uploads"].as_array().unwrap().iter().map(|u| u["filename"].as_str().unwrap()).collect();
    assert_eq!(names, ["a.txt", "e.txt"]);
    assert_eq!(body["total"], 2);
    assert_eq!(body["uploads"][0]["metadata"], json!({"campaign": "spring", "team": "own"}));
    assert_eq!(body["uploads"][1]["metadata"], json!({"campaign": "spring", "team": "shared"}));
    let errors: Vec<(u64, &str)> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["index"].as_u64().unwrap(), e["error"]["code"].as_str().unwrap()))
        .collect();
    assert_eq!(errors, [(1, "invalid_filename"), (2, "content_type_not_allowed"), (3, "invalid_request")]);
    assert!(body["uploads"][0]["presigned_url"].is_string());
    assert_eq!(app.count_uploads(&bucket).await, 2);

    let too_many: Vec<Value> =
        (0..101).map(|i| json!({"filename": format!("{i}.txt"), "content_type": "text/plain"})).collect();
    let (status, _) = app.post(&format!("/v1/buckets/{bucket}/uploads/batch"), &json!({"uploads": too_many})).await;
    assert_eq!(status, 422);
    assert_eq!(app.count_uploads(&bucket).await, 2);
}

async fn objects_are_listed_oldest_first_page_by_page_with_their_blobs(app: TestApp) {
    let bucket = app.bucket("objs", json!({})).await;
    let mut objects = Vec::new();
    for i in 0..3u8 {
        let (id, _) = app.upload(&bucket, &[i; 16]).await;
        objects.push(app.confirm(&bucket, &id, &json!({})).await.1["object_id"].as_str().unwrap().to_owned());
    }
    let (status, first) = app.post(&format!("/v1/buckets/{bucket}/objects/list"), &json!({"limit": 2})).await;
    assert_eq!(status, 200, "{first}");
    let ids: Vec<&str> =
        first["results"].as_array().unwrap().iter().map(|o| o["object_id"].as_str().unwrap()).collect();
    assert_eq!(ids, [objects[0].as_str(), objects[1].as_str()]);
    assert_eq!(first["results"][0]["blobs"][0]["details"]["size_bytes"], 16);
    let (_, second) = app
        .post(&format!("/v1/buckets/{bucket}/objects/list"), &json!({"limit": 2, "cursor": first["next_cursor"]}))
        .await;
    let ids: Vec<&str> =
        second["results"].as_array().unwrap().iter().map(|o| o["object_id"].as_str().unwrap()).collect();
    assert_eq!(ids, [objects[2].as_str()]);
    assert!(second["next_cursor"].is_null());
}

async fn deleting_an_object_removes_its_record_its_bytes_and_its_usage(app: TestApp) {
    let bucket = app.bucket("del", json!({})).await;
    let bytes = b"delete me".to_vec();
    let (id, _) = app.upload(&bucket, &bytes).await;
    let object = app.confirm(&bucket, &id, &json!({})).await.1["object_id"].as_str().unwrap().to_owned();
    let key = app.get(&format!("/v1/buckets/{bucket}/uploads/{id}")).await.1["s3_key"].as_str().unwrap().to_owned();

    assert_eq!(app.delete(&format!("/v1/buckets/{bucket}/objects/{object}")).await.0, 204);
    assert_eq!(app.get(&format!("/v1/buckets/{bucket}/objects/{object}")).await.0, 404);
    assert_eq!(app.delete(&format!("/v1/buckets/{bucket}/objects/{object}")).await.0, 404);
    assert!(app.store.head(&stowage_domain::names::ObjectKey::parse(&key).unwrap()).await.unwrap().is_none());
    let (_, b) = app.get(&format!("/v1/buckets/{bucket}")).await;
    assert_eq!((b["object_count"].as_i64(), b["total_size_bytes"].as_i64()), (Some(0), Some(0)));
    // A later upload of the same bytes no longer points at the deleted object.
    let (again, _) = app.upload(&bucket, &bytes).await;
    let (_, receipt) = app.confirm(&bucket, &again, &json!({})).await;
    assert_ne!(receipt["object_id"], json!(object));
}

/// Every flow test runs three times: on PostgreSQL and S3, on PostgreSQL and the local-disk store,
/// and on the embedded default (SQLite and the local-disk store).
macro_rules! on_both_stores {
    ($($name:ident: $threads:literal),* $(,)?) => {
        mod on_s3 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = $threads)]
                async fn $name() {
                    super::$name(crate::helpers::spawn_app().await).await;
                }
            )*
        }
        mod on_disk {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = $threads)]
                async fn $name() {
                    super::$name(crate::helpers::spawn_on_disk().await).await;
                }
            )*
        }
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = $threads)]
                async fn $name() {
                    super::$name(crate::helpers::spawn_embedded().await).await;
                }
            )*
        }
    };
}

on_both_stores!(
    create_put_confirm_completes_with_the_real_etag_hash_and_size: 2,
    confirming_twice_returns_identical_bodies: 2,
    fifty_concurrent_confirms_make_one_object_and_fifty_identical_bodies: 4,
    the_same_bytes_twice_make_the_second_a_duplicate_of_the_first: 2,
    an_enforced_checksum_is_signed_and_needs_no_streaming: 2,
    a_retried_create_with_an_idempotency_key_returns_the_same_upload: 2,
    operations_endpoints_answer: 2,
    a_batch_create_keeps_request_order_reports_each_failure_and_merges_shared_metadata: 2,
    objects_are_listed_oldest_first_page_by_page_with_their_blobs: 2,
    deleting_an_object_removes_its_record_its_bytes_and_its_usage: 2,
);
