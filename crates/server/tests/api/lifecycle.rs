//! Processing and lifecycle: auto-submitted and explicit batches are processed by the workers,
//! and the sweeper expires what was never confirmed.

use crate::helpers::*;
use serde_json::json;
use stowage_domain::names::ObjectKey;
use stowage_domain::ports::ObjectStore;
use stowage_s3::S3ObjectStore;

/// A PNG signature followed by filler: detection must say `image/png`.
fn png_bytes(seed: u8) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    bytes.extend((0..200u8).map(|i| i.wrapping_mul(seed)));
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_submit_batch_processes_the_new_object_and_fills_its_details() {
    let app = spawn_app().await;
    let bucket = app.bucket("auto", json!({})).await;
    let (id, _) = app.upload(&bucket, &png_bytes(3)).await;
    let (status, receipt) = app.confirm(&bucket, &id, &json!({"auto_submit_batch": true})).await;
    assert_eq!(status, 200, "{receipt}");
    let (batch, task) = (receipt["batch_id"].as_str().unwrap(), receipt["task_id"].as_str().unwrap());
    assert!(batch.starts_with("btch_") && task.starts_with("task_"));

    let done = app.wait_task(task).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert_eq!(done["additional_data"]["success_rate"], 1.0);
    let (_, batch) = app.get(&format!("/v1/buckets/{bucket}/batches/{batch}")).await;
    assert_eq!(batch["status"], "COMPLETED", "{batch}");
    let (_, object) =
        app.get(&format!("/v1/buckets/{bucket}/objects/{}", receipt["object_id"].as_str().unwrap())).await;
    let details = &object["blobs"][0]["details"];
    assert_eq!(details["detected_mime_type"], "image/png", "{details}");
    assert_eq!(details["hash"], sha256_hex(&png_bytes(3)));
    assert!(details["verified_at"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_with_one_deleted_blob_completes_with_errors_and_says_which() {
    let app = spawn_app().await;
    let bucket = app.bucket("two", json!({})).await;
    let mut objects = Vec::new();
    let mut keys = Vec::new();
    for seed in [5u8, 7] {
        let (id, _) = app.upload(&bucket, &png_bytes(seed)).await;
        let (_, receipt) = app.confirm(&bucket, &id, &json!({})).await;
        objects.push(receipt["object_id"].as_str().unwrap().to_owned());
        keys.push(
            app.get(&format!("/v1/buckets/{bucket}/uploads/{id}")).await.1["s3_key"].as_str().unwrap().to_owned(),
        );
    }
    S3ObjectStore::new(app.storage.clone()).await.delete(&ObjectKey::parse(&keys[1]).unwrap()).await.unwrap();

    let (status, batch) = app.post(&format!("/v1/buckets/{bucket}/batches"), &json!({"object_ids": objects})).await;
    assert_eq!((status.as_u16(), batch["status"].as_str()), (200, Some("DRAFT")), "{batch}");
    let batch_id = batch["batch_id"].as_str().unwrap();
    let (status, task) = app.post(&format!("/v1/buckets/{bucket}/batches/{batch_id}/submit"), &json!({})).await;
    assert_eq!(status, 200, "{task}");
    let (status, again) = app.post(&format!("/v1/buckets/{bucket}/batches/{batch_id}/submit"), &json!({})).await;
    assert_eq!((status.as_u16(), again["error"]["code"].as_str()), (409, Some("batch_already_submitted")));

    let done = app.wait_task(task["task_id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "COMPLETED_WITH_ERRORS", "{done}");
    assert_eq!(done["additional_data"]["success_rate"], 0.5);
    let results = done["outputs"].as_array().unwrap();
    assert_eq!(results[0]["status"], "COMPLETED");
    assert_eq!(
        (results[1]["object_id"].as_str(), results[1]["error"]["code"].as_str()),
        (Some(objects[1].as_str()), Some("blob_not_found"))
    );
    assert_eq!(app.get(&format!("/v1/buckets/{bucket}/batches/{batch_id}")).await.1["status"], "COMPLETED_WITH_ERRORS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweeper_expires_a_stale_upload_and_deletes_its_object() {
    let app = spawn_with(|s| s.worker.sweep_interval_secs = 1).await;
    let bucket = app.bucket("stale", json!({})).await;
    let (id, _) = app.upload(&bucket, b"never confirmed").await;
    let key =
        ObjectKey::parse(app.get(&format!("/v1/buckets/{bucket}/uploads/{id}")).await.1["s3_key"].as_str().unwrap())
            .unwrap();
    let store = S3ObjectStore::new(app.storage.clone()).await;
    assert!(store.head(&key).await.unwrap().is_some());
    app.db().count(&format!("WITH u AS (UPDATE uploads SET expires_at = now() - interval '3 days' WHERE id = '{id}' RETURNING 1) SELECT count(*) AS n FROM u")).await;

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (_, upload) = app.get(&format!("/v1/buckets/{bucket}/uploads/{id}")).await;
        if upload["status"] == "FAILED" {
            assert_eq!(upload["error_code"], "upload_expired");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not swept: {upload}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(store.head(&key).await.unwrap().is_none(), "the expired upload's object is deleted");
    let (status, body) = app.confirm(&bucket, &id, &json!({})).await;
    assert_eq!((status.as_u16(), body["error"]["code"].as_str()), (400, Some("upload_expired")));
}

/// PUTs an object under the upload prefix that no upload owns.
async fn plant_orphan(app: &TestApp) -> ObjectKey {
    let key =
        ObjectKey::parse("uploads/ns_orphanorphan0000/bkt_orphanorphan0000/upl_orphanorphan0000/lost.bin").unwrap();
    let store = S3ObjectStore::new(app.storage.clone()).await;
    let request = stowage_domain::ports::PresignPut {
        max_length: None,
        key: key.clone(),
        content_type: stowage_domain::names::ContentType::parse("application/octet-stream").unwrap(),
        content_length: None,
        sha256: None,
        expires_in: std::time::Duration::from_secs(60),
    };
    let signed = store.presign_put(&request).await.unwrap();
    let mut put = reqwest::Client::new().put(&signed.url).body(b"nobody's".to_vec());
    for (name, value) in &signed.headers {
        put = put.header(name, value);
    }
    assert_eq!(put.send().await.unwrap().status(), 200);
    key
}

async fn orphans_found(app: &TestApp) -> f64 {
    let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines()
        .find(|l| l.starts_with("stowage_reconciler_orphans_found_total "))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reconciler_counts_an_orphan_in_dry_run_and_deletes_it_when_told_to() {
    for delete in [false, true] {
        let app = spawn_with(|s| {
            s.uploads.confirm_grace_secs = 0;
            s.worker.reconcile_interval_secs = 1;
            s.worker.reconcile_delete = delete;
        })
        .await;
        let bucket = app.bucket("r", json!({})).await;
        let (owned, _) = app.upload(&bucket, b"owned by an upload").await;
        let owned_key = ObjectKey::parse(
            app.get(&format!("/v1/buckets/{bucket}/uploads/{owned}")).await.1["s3_key"].as_str().unwrap(),
        )
        .unwrap();
        let orphan = plant_orphan(&app).await;
        let store = S3ObjectStore::new(app.storage.clone()).await;

        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while orphans_found(&app).await < 1.0 {
            assert!(std::time::Instant::now() < deadline, "the reconciler never found the orphan (delete={delete})");
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        if delete {
            while store.head(&orphan).await.unwrap().is_some() {
                assert!(std::time::Instant::now() < deadline, "the orphan was not deleted");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        } else {
            assert!(store.head(&orphan).await.unwrap().is_some(), "a dry run deletes nothing");
        }
        assert!(store.head(&owned_key).await.unwrap().is_some(), "an object its upload owns is never touched");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_confirm_of_twenty_uploads_reports_each_result_in_one_task() {
    let app = spawn_app().await;
    let bucket = app.bucket("bc", json!({})).await;
    let mut confirmations = Vec::new();
    for i in 0..20u8 {
        let body = format!("upload number {i}").into_bytes();
        let confirmation = match i {
            // Never PUT.
            3 => {
                let u = app.create_upload(&bucket, "missing.bin", json!({})).await;
                json!({"upload_id": u["upload_id"]})
            }
            7 => json!({"upload_id": app.upload(&bucket, &body).await.0, "etag": "00000000000000000000000000000000"}),
            11 => json!({"upload_id": app.upload(&bucket, &body).await.0, "file_size_bytes": body.len() + 1}),
            _ => {
                let (id, etag) = app.upload(&bucket, &body).await;
                json!({"upload_id": id, "etag": etag, "file_size_bytes": body.len()})
            }
        };
        confirmations.push(confirmation);
    }
    let (status, queued) = app
        .post(&format!("/v1/buckets/{bucket}/uploads/confirm/batch"), &json!({"confirmations": confirmations}))
        .await;
    assert_eq!(status, 200, "{queued}");
    assert_eq!(queued["confirmations_count"], 20);
    let done = app.wait_task(queued["task_id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "COMPLETED_WITH_ERRORS", "{done}");
    let results = done["outputs"].as_array().unwrap();
    assert_eq!(results.len(), 20);
    for (i, (result, asked)) in results.iter().zip(&confirmations).enumerate() {
        assert_eq!(result["upload_id"], asked["upload_id"], "results keep request order");
        let expected = match i {
            3 => Some("object_not_in_storage"),
            7 => Some("etag_mismatch"),
            11 => Some("size_mismatch"),
            _ => None,
        };
        match expected {
            Some(code) => assert_eq!(result["error"]["code"], code, "{result}"),
            None => {
                assert_eq!(result["status"], "COMPLETED", "{result}");
                let (_, upload) =
                    app.get(&format!("/v1/buckets/{bucket}/uploads/{}", asked["upload_id"].as_str().unwrap())).await;
                assert_eq!(upload["status"], "COMPLETED");
            }
        }
    }
    assert_eq!(done["additional_data"]["succeeded"], 17);
    let (status, _) =
        app.post(&format!("/v1/buckets/{bucket}/uploads/confirm/batch"), &json!({"confirmations": []})).await;
    assert_eq!(status, 400);
}
