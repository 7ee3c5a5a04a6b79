//! Objects made by hand: uploads confirmed with `create_object_on_confirm: false` become one
//! object with a blob per upload, each upload at most once.

use crate::helpers::*;
use serde_json::{Value, json};

/// Uploads `bytes` as `content_type`, confirms without an object, and returns the upload id.
async fn confirmed_without_object(app: &TestApp, bucket: &str, bytes: &[u8], content_type: &str) -> String {
    let upload = app
        .create_upload(
            bucket,
            "part.bin",
            json!({"content_type": content_type, "file_size_bytes": bytes.len(), "create_object_on_confirm": false}),
        )
        .await;
    put(&upload, bytes.to_vec()).await;
    let id = upload["upload_id"].as_str().unwrap().to_owned();
    let (status, receipt) = app.confirm(bucket, &id, &json!({})).await;
    assert_eq!((status.as_u16(), &receipt["object_id"]), (200, &Value::Null), "{receipt}");
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_confirmed_uploads_become_one_object_with_two_blobs() {
    let app = spawn_app().await;
    let bucket = app.bucket("manual", json!({})).await;
    let video = confirmed_without_object(&app, &bucket, b"pretend this is a video", "video/mp4").await;
    let thumb = confirmed_without_object(&app, &bucket, b"and this its thumbnail", "image/jpeg").await;
    let (_, before) = app.get(&format!("/v1/buckets/{bucket}")).await;

    let (status, object) = app
        .post(
            &format!("/v1/buckets/{bucket}/objects"),
            &json!({"blobs": [
                {"property": "video", "upload_id": video},
                {"property": "thumbnail", "type": "IMAGE", "upload_id": thumb}
            ], "metadata": {"title": "clip"}}),
        )
        .await;
    assert_eq!(status, 200, "{object}");
    let object_id = object["object_id"].as_str().unwrap();
    assert_eq!(object["metadata"]["title"], "clip");
    let blobs = object["blobs"].as_array().unwrap();
    assert_eq!(
        blobs.iter().map(|b| (b["property"].as_str().unwrap(), b["type"].as_str().unwrap())).collect::<Vec<_>>(),
        [("video", "video"), ("thumbnail", "image")]
    );
    assert_eq!(blobs[0]["details"]["hash"], sha256_hex(b"pretend this is a video"));
    assert_eq!(blobs[1]["details"]["size_bytes"], 22);

    // The uploads now point at the object, and the object is listed and counted.
    let (_, upload) = app.get(&format!("/v1/buckets/{bucket}/uploads/{video}")).await;
    assert_eq!(upload["object_id"], object_id);
    let (_, fetched) = app.get(&format!("/v1/buckets/{bucket}/objects/{object_id}")).await;
    assert_eq!(fetched["blobs"].as_array().unwrap().len(), 2);
    let (_, after) = app.get(&format!("/v1/buckets/{bucket}")).await;
    assert_eq!(after["object_count"].as_u64().unwrap(), before["object_count"].as_u64().unwrap() + 1, "{after}");
    assert_eq!(after["total_size_bytes"].as_u64().unwrap(), before["total_size_bytes"].as_u64().unwrap() + 45);

    // An upload gives its bytes to one object only.
    let (status, again) = app
        .post(&format!("/v1/buckets/{bucket}/objects"), &json!({"blobs": [{"property": "c", "upload_id": video}]}))
        .await;
    assert_eq!((status.as_u16(), again["error"]["code"].as_str()), (409, Some("upload_already_attached")), "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_for_the_same_upload_create_one_object() {
    let app = spawn_app().await;
    let bucket = app.bucket("race", json!({})).await;
    let upload = confirmed_without_object(&app, &bucket, b"contended bytes", "application/octet-stream").await;
    let body = json!({"blobs": [{"property": "content", "upload_id": upload}]});
    let path = format!("/v1/buckets/{bucket}/objects");
    let results = futures_util::future::join_all((0..8).map(|_| app.post(&path, &body))).await;
    let created = results.iter().filter(|(s, _)| s.as_u16() == 200).count();
    let refused =
        results.iter().filter(|(s, b)| s.as_u16() == 409 && b["error"]["code"] == "upload_already_attached").count();
    assert_eq!((created, refused), (1, 7), "{results:?}");
    let (_, listed) = app.post(&format!("/v1/buckets/{bucket}/objects/list"), &json!({})).await;
    assert_eq!(listed["results"].as_array().unwrap().len(), 1, "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_object_requests_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let bucket = app.bucket("refuse", json!({})).await;
    let done = confirmed_without_object(&app, &bucket, b"ok bytes", "text/plain").await;
    let pending = app.create_upload(&bucket, "late.bin", json!({"create_object_on_confirm": false})).await;
    let pending = pending["upload_id"].as_str().unwrap();
    let (with_object, _) = app.upload(&bucket, b"already has an object").await;
    app.confirm(&bucket, &with_object, &json!({})).await;
    let path = format!("/v1/buckets/{bucket}/objects");
    let cases = [
        (json!({"blobs": []}), 400, "invalid_blobs"),
        (
            json!({"blobs": [{"property": "a", "upload_id": done}, {"property": "a", "upload_id": pending}]}),
            400,
            "invalid_blobs",
        ),
        (json!({"blobs": [{"property": "a", "upload_id": pending}]}), 400, "invalid_upload_state"),
        (json!({"blobs": [{"property": "a", "upload_id": "upl_AAAAAAAAAAAAAAAA"}]}), 404, "upload_not_found"),
        (json!({"blobs": [{"property": "a", "upload_id": "nonsense"}]}), 404, "upload_not_found"),
        (json!({"blobs": [{"property": "a", "upload_id": with_object}]}), 409, "upload_already_attached"),
        (
            json!({"blobs": [{"property": "a", "upload_id": done}, {"property": "b", "upload_id": pending}]}),
            400,
            "invalid_upload_state",
        ),
    ];
    for (body, status, code) in cases {
        let (got, answer) = app.post(&path, &body).await;
        assert_eq!((got.as_u16(), answer["error"]["code"].as_str()), (status, Some(code)), "{body} → {answer}");
    }
    let (status, answer) = app.post(&path, &json!({"blobs": [{"upload_id": done}]})).await;
    assert_eq!(status, 422, "{answer}");
    let (status, answer) =
        app.post("/v1/buckets/nope/objects", &json!({"blobs": [{"property": "a", "upload_id": done}]})).await;
    assert_eq!((status.as_u16(), answer["error"]["code"].as_str()), (404, Some("bucket_not_found")));

    // Nothing was created by any of them: the good upload is still free.
    let (_, listed) = app.post(&format!("/v1/buckets/{bucket}/objects/list"), &json!({})).await;
    assert_eq!(listed["results"].as_array().unwrap().len(), 1, "only the confirm-created object: {listed}");
    let (status, object) = app.post(&path, &json!({"blobs": [{"property": "a", "upload_id": done}]})).await;
    assert_eq!(status, 200, "{object}");
}
