//! Webhooks: events reach a real receiver on localhost, signed, retried with backoff until it
//! accepts, with one event id however many attempts it takes.

use crate::helpers::*;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use stowage_domain::webhook::verify;

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    event_id: String,
    event_type: String,
    signature: String,
    body: Vec<u8>,
    answered: u16,
}

/// A webhook receiver that answers 500 to its first `failures` requests, then 200.
struct Receiver {
    url: String,
    log: Arc<Mutex<Vec<Received>>>,
    server: actix_web::dev::ServerHandle,
}

impl Receiver {
    async fn start(failures: usize) -> Self {
        let log: Arc<Mutex<Vec<Received>>> = Arc::default();
        let shared = log.clone();
        let server = HttpServer::new(move || {
            let log = shared.clone();
            App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let log = log.clone();
                async move {
                    let header = |name: &str| {
                        req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
                    };
                    let mut log = log.lock().unwrap();
                    let answered = if log.len() < failures { 500 } else { 200 };
                    log.push(Received {
                        event_id: header("stowage-event-id"),
                        event_type: header("stowage-event-type"),
                        signature: header("stowage-signature"),
                        body: body.to_vec(),
                        answered,
                    });
                    if answered == 200 {
                        HttpResponse::Ok().finish()
                    } else {
                        HttpResponse::InternalServerError().finish()
                    }
                }
            }))
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Self { url: format!("http://127.0.0.1:{port}/hooks"), log, server: handle }
    }

    fn received(&self) -> Vec<Received> {
        self.log.lock().unwrap().clone()
    }

    /// Waits until `n` requests were answered 200.
    async fn wait_accepted(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let received = self.received();
            if received.iter().filter(|r| r.answered == 200).count() >= n {
                return received;
            }
            assert!(Instant::now() < deadline, "{n} deliveries not accepted: {received:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        drop(self.server.stop(false));
    }
}

/// Creates a bucket posting to `url` and returns (bucket id, webhook secret).
async fn bucket_with_webhook(app: &TestApp, name: &str, url: &str) -> (String, String) {
    let (status, body) = app.post("/v1/buckets", &json!({"bucket_name": name, "settings": {"webhook_url": url}})).await;
    assert_eq!(status, 200, "{body}");
    let secret = body["webhook_secret"].as_str().expect("the secret is shown at create").to_owned();
    assert!(secret.starts_with("whsec_") && secret.len() > 40, "{secret}");
    (body["bucket_id"].as_str().unwrap().to_owned(), secret)
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_fails_twice_gets_the_same_signed_event_until_it_accepts_it_once() {
    let receiver = Receiver::start(2).await;
    let app = spawn_app().await;
    let (bucket, secret) = bucket_with_webhook(&app, "hooked", &receiver.url).await;
    let (upload, _) = app.upload(&bucket, b"webhook me").await;
    let (status, receipt) = app.confirm(&bucket, &upload, &json!({})).await;
    assert_eq!(status, 200, "{receipt}");

    let received = receiver.wait_accepted(1).await;
    assert_eq!(received.iter().map(|r| r.answered).collect::<Vec<_>>(), [500, 500, 200], "{received:?}");
    let first = &received[0];
    assert!(first.event_id.starts_with("evt_"), "{first:?}");
    for attempt in &received {
        assert_eq!(attempt.event_id, first.event_id, "one event id across retries");
        assert_eq!(attempt.body, first.body, "the same body on every attempt");
        assert_eq!(attempt.event_type, "upload.completed");
        verify(&secret, &attempt.signature, &attempt.body, now(), 300).expect("the signature verifies");
        assert!(verify("whsec_wrong", &attempt.signature, &attempt.body, now(), 300).is_err());
    }
    let event: Value = serde_json::from_slice(&first.body).unwrap();
    assert_eq!(
        (event["id"].as_str(), event["type"].as_str()),
        (Some(first.event_id.as_str()), Some("upload.completed"))
    );
    assert_eq!(event["data"]["upload_id"], upload.as_str());
    assert_eq!(event["data"]["status"], "COMPLETED");
    assert_eq!(event["data"]["file_hash"], sha256_hex(b"webhook me"));

    // The delivery is a task of the namespace: COMPLETED, and nothing is sent after the 200.
    let task = format!("task_{}", first.event_id.trim_start_matches("evt_"));
    let done = app.wait_task(&task).await;
    assert_eq!((done["status"].as_str(), done["task_type"].as_str()), (Some("COMPLETED"), Some("webhook_delivery")));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.received().len(), 3, "exactly one delivery accepted, no more attempts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_and_expiries_send_their_events_and_buckets_without_webhooks_send_none() {
    let receiver = Receiver::start(0).await;
    let app = spawn_with(|s| s.worker.sweep_interval_secs = 1).await;
    let (bucket, secret) = bucket_with_webhook(&app, "events", &receiver.url).await;
    let quiet = app.bucket("quiet", json!({})).await;
    let (silent, _) = app.upload(&quiet, b"no webhook here").await;
    app.confirm(&quiet, &silent, &json!({})).await;

    let (upload, _) = app.upload(&bucket, b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR batch me").await;
    let (_, receipt) = app.confirm(&bucket, &upload, &json!({"auto_submit_batch": true})).await;
    let batch = receipt["batch_id"].as_str().unwrap().to_owned();
    let (stale, _) = app.upload(&bucket, b"never confirmed").await;
    app.db()
        .count(&format!("WITH u AS (UPDATE uploads SET expires_at = now() - interval '3 days' WHERE id = '{stale}' RETURNING 1) SELECT count(*) AS n FROM u"))
        .await;

    let received = receiver.wait_accepted(3).await;
    let events: Vec<Value> = received.iter().map(|r| serde_json::from_slice(&r.body).unwrap()).collect();
    let of_type = |t: &str| events.iter().find(|e| e["type"] == t).unwrap_or_else(|| panic!("no {t}: {events:?}"));
    assert_eq!(of_type("upload.completed")["data"]["upload_id"], upload.as_str());
    let finished = of_type("batch.completed");
    assert_eq!(
        (finished["data"]["batch_id"].as_str(), finished["data"]["status"].as_str()),
        (Some(batch.as_str()), Some("COMPLETED"))
    );
    let failed = of_type("upload.failed");
    assert_eq!(
        (failed["data"]["upload_id"].as_str(), failed["data"]["error"]["code"].as_str()),
        (Some(stale.as_str()), Some("upload_expired"))
    );
    for r in &received {
        verify(&secret, &r.signature, &r.body, now(), 300).expect("every event is signed");
    }
    assert!(events.iter().all(|e| e["data"]["upload_id"] != silent.as_str()), "the quiet bucket sends nothing");
    let ids: std::collections::HashSet<&str> = received.iter().map(|r| r.event_id.as_str()).collect();
    assert_eq!(ids.len(), received.len(), "every event has its own id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_url_that_is_not_http_is_refused() {
    let app = spawn_app().await;
    for url in ["ftp://example.com/hook", "not a url", "http://"] {
        let (status, body) =
            app.post("/v1/buckets", &json!({"bucket_name": "bad-hook", "settings": {"webhook_url": url}})).await;
        assert_eq!((status.as_u16(), body["error"]["code"].as_str()), (400, Some("invalid_settings")), "{url}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_urls_into_the_operators_network_are_refused_by_default_on_the_embedded_default() {
    let app = spawn_embedded_with(|s| s.worker.webhook_allow_private_targets = false).await;
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:5432/",
        "http://[::1]:22/",
        "http://10.0.0.1/",
        "http://localhost/hook",
    ] {
        let (status, body) =
            app.post("/v1/buckets", &json!({"bucket_name": "ssrf", "settings": {"webhook_url": url}})).await;
        assert_eq!((status.as_u16(), body["error"]["code"].as_str()), (400, Some("invalid_settings")), "{url}: {body}");
    }
    let (status, body) = app
        .post(
            "/v1/buckets",
            &json!({"bucket_name": "public", "settings": {"webhook_url": "https://hooks.example.com/x"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

/// Bytes swapped on S3 after confirm: the first check that finds it sends one signed
/// `object.tampered` event naming the object and its blob; later checks send no more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_blob_is_reported_once_by_webhook() {
    let receiver = Receiver::start(0).await;
    let app = spawn_app().await;
    let (bucket, secret) = bucket_with_webhook(&app, "tamperhook", &receiver.url).await;
    let upload = app.create_upload(&bucket, "f.bin", json!({})).await;
    put(&upload, b"the verified bytes".to_vec()).await;
    let (_, done) = app.confirm(&bucket, upload["upload_id"].as_str().unwrap(), &json!({})).await;
    let object = done["object_id"].as_str().unwrap().to_owned();
    receiver.wait_accepted(1).await; // upload.completed
    put(&upload, b"SWAPPED after confirm".to_vec()).await;
    for _ in 0..3 {
        let (s, b) = app.get(&format!("/v1/buckets/{bucket}/objects/{object}?return_presigned_urls=true")).await;
        assert_eq!(s, 409, "{b}");
    }
    let received = receiver.wait_accepted(2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let tampered: Vec<Received> =
        receiver.received().into_iter().filter(|r| r.event_type == "object.tampered").collect();
    assert_eq!(tampered.len(), 1, "one event for one swap: {received:?}");
    let event: Value = serde_json::from_slice(&tampered[0].body).unwrap();
    assert_eq!(event["data"]["object_id"], object.as_str(), "{event}");
    assert!(event["data"]["tampered_at"].is_string(), "{event}");
    verify(&secret, &tampered[0].signature, &tampered[0].body, now(), 300).expect("signed");
}
