//! Browser uploads over real HTTP, on the embedded default and on PostgreSQL + the S3 server:
//! upload sessions, Companion's S3 routes as `@uppy/aws-s3` calls them (form POST, multipart),
//! completion without confirm (the finisher, S3 events), and what hostile callers get.
//! The same flows in a real browser with Uppy itself: `cargo xtask browser` (tests/browser).

use crate::helpers::{TestApp, put, read, sha256_hex, spawn_embedded_with, spawn_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use stowage_server::Settings;

/// Both backends, with the finisher checking every second from an upload's first second.
async fn both(customize: fn(&mut Settings)) -> [TestApp; 2] {
    let finisher = move |s: &mut Settings| {
        s.worker.finisher_interval_secs = 1;
        s.worker.finisher_first_check_secs = 0;
        s.worker.finisher_max_delay_secs = 1;
        customize(s);
    };
    [spawn_embedded_with(finisher).await, spawn_with(finisher).await]
}

/// Mints a session on `bucket` and returns its response.
async fn session(app: &TestApp, bucket: &str, body: &Value) -> Value {
    let (status, session) = app.post(&format!("/v1/buckets/{bucket}/upload-sessions"), body).await;
    assert_eq!(status, 200, "{session}");
    session
}

/// GET on the facade, answering (status, body) and checking what every facade answer carries.
async fn facade_get(app: &TestApp, url: &str) -> (StatusCode, Value) {
    let response = app.client.get(url).send().await.unwrap();
    assert_eq!(response.headers()["cache-control"], "no-store", "signing answers are never cached");
    read(response).await
}

/// Sends a form POST as `@uppy/aws-s3` does: the fields in order, then the file.
async fn post_form(params: &Value, bytes: Vec<u8>) -> reqwest::Response {
    let mut form = reqwest::multipart::Form::new();
    for (name, value) in params["fields"].as_object().unwrap() {
        form = form.text(name.clone(), value.as_str().unwrap().to_owned());
    }
    form = form.part("file", reqwest::multipart::Part::bytes(bytes).file_name("blob"));
    reqwest::Client::new().post(params["url"].as_str().unwrap()).multipart(form).send().await.unwrap()
}

/// Waits until the upload is COMPLETED (finished by stowage) and returns it.
async fn completed(app: &TestApp, bucket: &str, upload: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = app.get(&format!("/v1/buckets/{bucket}/uploads/{upload}")).await;
        assert_eq!(status, 200, "{body}");
        if body["status"] == "COMPLETED" {
            return body;
        }
        assert!(Instant::now() < deadline, "upload {upload} was not finished: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_post_through_a_session_is_verified_and_recorded_without_any_confirm() {
    for app in both(|_| {}).await {
        let bucket = app.bucket("web", json!({})).await;
        let session = session(&app, &bucket, &json!({"metadata": {"tenant_user": "u-1"}})).await;
        let endpoint = session["endpoint"].as_str().unwrap();
        assert!(endpoint.contains(&format!("/u/{}", session["token"].as_str().unwrap())), "{session}");

        let (status, params) =
            facade_get(&app, &format!("{endpoint}/s3/params?filename=photo.png&type=image%2Fpng&metadata[album]=x"))
                .await;
        assert_eq!(status, 200, "{params}");
        assert_eq!(params["method"], "POST", "{params}");
        // The store's key (after any configured key prefix) is the upload's.
        assert!(params["fields"]["key"].as_str().unwrap().ends_with(params["key"].as_str().unwrap()), "{params}");
        assert_eq!(params["fields"]["Content-Type"], "image/png");

        let bytes = b"\x89PNG\r\n\x1a\n a browser's bytes".repeat(100);
        let response = post_form(&params, bytes.clone()).await;
        assert!(response.status().is_success(), "{}", response.text().await.unwrap());
        assert!(response.headers().contains_key("etag"), "Uppy 5.x waits for the ETag");

        let upload = completed(&app, &bucket, params["upload_id"].as_str().unwrap()).await;
        assert_eq!(upload["file_hash"], sha256_hex(&bytes));
        assert_eq!(upload["metadata"]["album"], "x");
        assert_eq!(upload["metadata"]["tenant_user"], "u-1", "the session's metadata is kept");
        assert!(upload["object_id"].is_string(), "{upload}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multipart_upload_through_a_session_completes_through_the_confirm() {
    for app in both(|_| {}).await {
        let bucket = app.bucket("web", json!({})).await;
        let endpoint = session(&app, &bucket, &json!({})).await["endpoint"].as_str().unwrap().to_owned();
        let response = app
            .client
            .post(format!("{endpoint}/s3/multipart"))
            .json(&json!({"filename": "video.bin", "type": "application/octet-stream", "metadata": {"a": "b"}}))
            .send()
            .await
            .unwrap();
        let (status, created) = read(response).await;
        assert_eq!(status, 200, "{created}");
        let (key, id) = (created["key"].as_str().unwrap(), created["uploadId"].as_str().unwrap());
        let query = format!("key={}", urlencode(key));

        let (status, batch) =
            facade_get(&app, &format!("{endpoint}/s3/multipart/{id}/batch?{query}&partNumbers=1,2")).await;
        assert_eq!(status, 200, "{batch}");
        let first = vec![7u8; 5 * 1024 * 1024];
        let second = b"the last part".to_vec();
        let mut parts = Vec::new();
        for (number, bytes) in [(1, &first), (2, &second)] {
            let url = batch["presignedUrls"][number.to_string()].as_str().unwrap();
            let upload = json!({"presigned_url": url, "presigned_headers": {}});
            parts.push(json!({"PartNumber": number, "ETag": put(&upload, bytes.clone()).await}));
        }
        let (status, single) = facade_get(&app, &format!("{endpoint}/s3/multipart/{id}/2?{query}")).await;
        assert_eq!(status, 200, "{single}");
        assert!(single["url"].is_string() && single["expires"].is_number(), "{single}");

        let (status, listed) = facade_get(&app, &format!("{endpoint}/s3/multipart/{id}?{query}")).await;
        assert_eq!(status, 200, "{listed}");
        assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
        assert_eq!(listed[0]["PartNumber"], 1);
        assert_eq!(listed[0]["Size"], first.len());

        let complete = format!("{endpoint}/s3/multipart/{id}/complete?{query}");
        let missing_part = json!({"parts": [parts[0].clone()]});
        let (status, refused) = read(app.client.post(&complete).json(&missing_part).send().await.unwrap()).await;
        assert_eq!(status, 400, "the browser's list must be the store's: {refused}");
        assert!(refused["message"].is_string());

        let all = json!({"parts": parts});
        let (status, done) = read(app.client.post(&complete).json(&all).send().await.unwrap()).await;
        assert_eq!(status, 200, "{done}");
        // A multipart upload's SHA-256 is computed in the background, as for the API's confirm.
        assert!(["PROCESSING", "COMPLETED"].contains(&done["status"].as_str().unwrap()), "{done}");
        assert!(done["location"].is_string(), "{done}");
        let (status, again) = read(app.client.post(&complete).json(&all).send().await.unwrap()).await;
        assert_eq!(
            (status, &again["upload_id"]),
            (StatusCode::OK, &done["upload_id"]),
            "completing twice is one upload"
        );
        let upload = completed(&app, &bucket, done["upload_id"].as_str().unwrap()).await;
        let whole: Vec<u8> = [first.as_slice(), second.as_slice()].concat();
        assert_eq!(upload["file_hash"], sha256_hex(&whole));
        assert_eq!(upload["metadata"]["a"], "b");
        assert_eq!(app.count_objects(&bucket).await, 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_multipart_upload_is_canceled_and_answers_an_empty_object() {
    for app in both(|_| {}).await {
        let bucket = app.bucket("web", json!({})).await;
        let endpoint = session(&app, &bucket, &json!({})).await["endpoint"].as_str().unwrap().to_owned();
        let (_, created) = read(
            app.client
                .post(format!("{endpoint}/s3/multipart"))
                .json(&json!({"filename": "x.bin"}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        let (key, id) = (created["key"].as_str().unwrap(), created["uploadId"].as_str().unwrap());
        let url = format!("{endpoint}/s3/multipart/{id}?key={}", urlencode(key));
        let (status, body) = read(app.client.delete(&url).send().await.unwrap()).await;
        assert_eq!((status, body), (StatusCode::OK, json!({})));
        let (_, upload) =
            app.get(&format!("/v1/buckets/{bucket}/uploads/{}", created["upload_id"].as_str().unwrap())).await;
        assert_eq!(upload["status"], "CANCELED", "{upload}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_session_calls_get_a_message_and_change_nothing() {
    for app in both(|_| {}).await {
        let bucket = app.bucket("web", json!({})).await;
        let other = app.bucket("other", json!({})).await;
        let session = session(
            &app,
            &bucket,
            &json!({"allowed_content_types": ["image/*"], "max_file_size_bytes": 1000, "expires_in": 600}),
        )
        .await;
        let endpoint = session["endpoint"].as_str().unwrap().to_owned();

        // A bogus, a tampered and a missing token.
        let token = session["token"].as_str().unwrap();
        let tampered = format!("{}x", &token[..token.len() - 1]);
        for bad in ["nope", tampered.as_str(), "a.b"] {
            let (status, body) =
                facade_get(&app, &app.url(&format!("/u/{bad}/s3/params?filename=a.png&type=image/png"))).await;
            assert_eq!(status, 401, "{body}");
            assert_eq!(body["code"], "invalid_upload_session", "{body}");
            assert!(body["message"].is_string(), "Companion's error shape: {body}");
        }
        // A type the session does not allow; an odd filename.
        let (status, body) =
            facade_get(&app, &format!("{endpoint}/s3/params?filename=a.exe&type=application/x-msdownload")).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("content_type_not_allowed")));
        let (status, body) = facade_get(&app, &format!("{endpoint}/s3/params?filename=..&type=image/png")).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_filename")), "{body}");
        // Malformed JSON.
        let response = app.client.post(format!("{endpoint}/s3/multipart")).body("{not json").send().await.unwrap();
        assert_eq!(response.status(), 400);
        // A key of another bucket's upload, with this bucket's session.
        let foreign = app.create_upload(&other, "x.bin", json!({})).await;
        let foreign_key = urlencode(foreign["s3_key"].as_str().unwrap());
        let (status, body) = facade_get(&app, &format!("{endpoint}/s3/multipart/whatever?key={foreign_key}")).await;
        assert_eq!(status, 404, "{body}");
        // Bytes above the session's limit are refused by the store, and nothing is recorded.
        let (_, params) = facade_get(&app, &format!("{endpoint}/s3/params?filename=big.png&type=image/png")).await;
        let response = post_form(&params, vec![1u8; 1001]).await;
        assert!(response.status().is_client_error(), "{}", response.status());
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (_, upload) =
            app.get(&format!("/v1/buckets/{bucket}/uploads/{}", params["upload_id"].as_str().unwrap())).await;
        assert_eq!(upload["status"], "PENDING", "{upload}");
        // Bad session requests are 4xx (who may mint one: access.rs).
        let (status, body) =
            app.post(&format!("/v1/buckets/{bucket}/upload-sessions"), &json!({"expires_in": 5})).await;
        assert_eq!(status, 400, "{body}");
        let (status, _) = app.post("/v1/buckets/bkt_nope/upload-sessions", &json!({})).await;
        assert_eq!(status, 404);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_lets_the_configured_origin_call_the_browser_routes_and_read_the_etag() {
    for app in both(|s| s.browser.cors_allowed_origins = vec!["http://app.example".to_owned()]).await {
        let bucket = app.bucket("web", json!({})).await;
        let endpoint = session(&app, &bucket, &json!({})).await["endpoint"].as_str().unwrap().to_owned();
        let preflight = |origin: &'static str| {
            app.client
                .request(reqwest::Method::OPTIONS, format!("{endpoint}/s3/multipart"))
                .header("Origin", origin)
                .header("Access-Control-Request-Method", "POST")
                .header("Access-Control-Request-Headers", "content-type")
                .send()
        };
        let allowed = preflight("http://app.example").await.unwrap();
        assert!(allowed.status().is_success(), "{}", allowed.status());
        assert_eq!(allowed.headers()["access-control-allow-origin"], "http://app.example");
        let refused = preflight("http://evil.example").await.unwrap();
        assert!(!refused.headers().contains_key("access-control-allow-origin"));

        let response = app
            .client
            .get(format!("{endpoint}/s3/params?filename=a.txt&type=text/plain"))
            .header("Origin", "http://app.example")
            .send()
            .await
            .unwrap();
        let exposed = response.headers()["access-control-expose-headers"].to_str().unwrap().to_ascii_lowercase();
        assert!(exposed.contains("etag"), "{exposed}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_event_finishes_an_upload_once_whatever_its_envelope() {
    let no_finisher = |s: &mut Settings| {
        s.browser.events_token = Some("events-secret-token".to_owned());
    };
    for app in [spawn_embedded_with(no_finisher).await, spawn_with(no_finisher).await] {
        let bucket = app.bucket("web", json!({})).await;
        let events = app.url("/v1/storage-events");
        let bytes = b"landed without a confirm".to_vec();
        let upload = app.create_upload(&bucket, "my file+1.txt", json!({})).await;
        put(&upload, bytes.clone()).await;
        let id = upload["upload_id"].as_str().unwrap();
        let key = upload["s3_key"].as_str().unwrap().to_owned();
        // S3 encodes keys in events form-style: a space is `+`, a `+` is `%2B`.
        let encoded = urlencode(&key).replace("%20", "+");
        let record = json!({"eventName": "ObjectCreated:Put", "s3": {"object": {"key": encoded, "size": bytes.len()}}});
        let minio = json!({"EventName": "s3:ObjectCreated:Put", "Key": format!("bucket/{key}"), "Records": [record]});

        let unauthorized = app.client.post(&events).bearer_auth("wrong").json(&minio).send().await.unwrap();
        assert_eq!(unauthorized.status(), 401);
        let (_, still) = app.get(&format!("/v1/buckets/{bucket}/uploads/{id}")).await;
        assert_eq!(still["status"], "PENDING");

        let (status, body) =
            read(app.client.post(&events).bearer_auth("events-secret-token").json(&minio).send().await.unwrap()).await;
        assert_eq!((status, &body["finished"]), (StatusCode::OK, &json!(1)), "{body}");
        let done = completed(&app, &bucket, id).await;
        assert_eq!(done["file_hash"], sha256_hex(&bytes));

        // The same event again, through SNS (token in the query): nothing changes.
        let sns = json!({"Type": "Notification", "Message": json!({"Records": [record]}).to_string()});
        let (status, body) =
            read(app.client.post(format!("{events}?token=events-secret-token")).json(&sns).send().await.unwrap()).await;
        assert_eq!((status, &body["finished"], &body["received"]), (StatusCode::OK, &json!(0), &json!(1)), "{body}");
        assert_eq!(app.count_objects(&bucket).await, 1);
    }
    // Without a token configured the route does not exist.
    let app = spawn_embedded_with(|_| {}).await;
    let response = app.client.post(app.url("/v1/storage-events")).json(&json!({"Records": []})).send().await.unwrap();
    assert_eq!(response.status(), 404);
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_disk_stores_form_post_refuses_what_its_token_does_not_allow() {
    let app = spawn_embedded_with(|_| {}).await;
    let bucket = app.bucket("web", json!({})).await;
    let endpoint = session(&app, &bucket, &json!({})).await["endpoint"].as_str().unwrap().to_owned();
    let (_, params) = facade_get(&app, &format!("{endpoint}/s3/params?filename=a.txt&type=text/plain")).await;
    let with = |name: &str, value: Option<&str>| {
        let mut changed = params.clone();
        let fields = changed["fields"].as_object_mut().unwrap();
        match value {
            Some(value) => fields.insert(name.to_owned(), json!(value)),
            None => fields.remove(name),
        };
        changed
    };
    let token = params["fields"]["token"].as_str().unwrap();
    // Another hex digit at the end of the signature (hex is case-insensitive: not `A` for `a`).
    let last = if token.ends_with('0') { '1' } else { '0' };
    let tampered = format!("{}{last}", &token[..token.len() - 1]);
    for (what, form, status) in [
        ("a tampered token", with("token", Some(&tampered)), 403),
        ("no token", with("token", None), 403),
        ("another key", with("key", Some("uploads/elsewhere/x")), 403),
        ("another content type", with("Content-Type", Some("text/html")), 403),
    ] {
        let response = post_form(&form, b"bytes".to_vec()).await;
        assert_eq!(response.status(), status, "{what}: {}", response.text().await.unwrap());
    }
    let no_file = reqwest::Client::new()
        .post(params["url"].as_str().unwrap())
        .multipart(reqwest::multipart::Form::new().text("key", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(no_file.status(), 400);
    let (_, upload) = app.get(&format!("/v1/buckets/{bucket}/uploads/{}", params["upload_id"].as_str().unwrap())).await;
    assert_eq!(upload["status"], "PENDING", "nothing was written: {upload}");
    // The signed form itself still works afterwards.
    assert!(post_form(&params, b"bytes".to_vec()).await.status().is_success());
}
