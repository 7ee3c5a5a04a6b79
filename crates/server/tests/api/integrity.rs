//! Integrity as a careless or hostile client tests it, on the embedded default and on
//! PostgreSQL + S3: duplicate detection never answers with a deleted object or loses a file, and
//! the bytes behind a confirmed upload cannot be replaced through a URL stowage issued.

use crate::helpers::*;
use serde_json::json;

async fn deleting_an_object_never_makes_dedup_answer_with_it(app: TestApp) {
    let bucket = app.bucket("dedup", json!({"duplicate_blob_policy": "delete"})).await;
    let bytes = b"the same content, twice".to_vec();
    let (first, _) = app.upload(&bucket, &bytes).await;
    let (_, done) = app.confirm(&bucket, &first, &json!({})).await;
    let object = done["object_id"].as_str().unwrap().to_owned();
    let (second, _) = app.upload(&bucket, &bytes).await;
    let (_, dup) = app.confirm(&bucket, &second, &json!({})).await;
    assert_eq!(
        (dup["is_duplicate"].as_bool(), dup["object_id"].as_str()),
        (Some(true), Some(object.as_str())),
        "{dup}"
    );
    let (status, _) = app.post(&format!("/v1/buckets/{bucket}/batches"), &json!({"object_ids": [object]})).await;
    assert_eq!(status, 200);

    let (status, body) = app.delete(&format!("/v1/buckets/{bucket}/objects/{object}")).await;
    assert_eq!(status, 204, "an object in a batch can be deleted: {body}");
    // Neither upload points at the gone object any more; replays say so too.
    for id in [&first, &second] {
        let (_, seen) = app.get(&format!("/v1/buckets/{bucket}/uploads/{id}")).await;
        assert_eq!((seen["status"].as_str(), &seen["object_id"]), (Some("COMPLETED"), &json!(null)), "{seen}");
        let (status, replay) = app.confirm(&bucket, id, &json!({})).await;
        assert_eq!((status.as_u16(), &replay["object_id"]), (200, &json!(null)), "{replay}");
    }
    // A create declaring the same hash is not a duplicate: it gets a URL and the bytes are sent.
    let created = app
        .create_upload(&bucket, "again.bin", json!({"file_hash": sha256_hex(&bytes), "file_size_bytes": bytes.len()}))
        .await;
    assert_eq!(created["is_duplicate"], false, "{created}");
    put(&created, bytes.clone()).await;
    let (status, again) = app.confirm(&bucket, created["upload_id"].as_str().unwrap(), &json!({})).await;
    assert_eq!((status.as_u16(), again["is_duplicate"].as_bool()), (200, Some(false)), "{again}");
    let new_object = again["object_id"].as_str().expect("a new object").to_owned();
    // A hashless upload of the same bytes is a duplicate of the new, live object.
    let (hashless, _) = app.upload(&bucket, &bytes).await;
    let (_, dup) = app.confirm(&bucket, &hashless, &json!({})).await;
    assert_eq!(dup["object_id"].as_str(), Some(new_object.as_str()), "{dup}");
    // And the live object serves exactly those bytes.
    let (status, got) = app.get(&format!("/v1/buckets/{bucket}/objects/{new_object}?return_presigned_urls=true")).await;
    assert_eq!(status, 200, "{got}");
    let url = got["blobs"][0]["presigned_url"].as_str().expect("a download URL");
    let downloaded = reqwest::get(url).await.unwrap().bytes().await.unwrap();
    assert_eq!(downloaded.as_ref(), bytes.as_slice());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dedup_after_delete_on_the_embedded_default() {
    deleting_an_object_never_makes_dedup_answer_with_it(spawn_embedded().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dedup_after_delete_on_postgres_and_s3() {
    deleting_an_object_never_makes_dedup_answer_with_it(spawn_app().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmed_bytes_cannot_be_replaced_through_the_disk_stores_upload_url_on_the_embedded_default() {
    let app = spawn_embedded().await;
    let bucket = app.bucket("immutable", json!({})).await;
    let original = b"the bytes that were verified".to_vec();
    let upload = app.create_upload(&bucket, "f.bin", json!({})).await;
    put(&upload, original.clone()).await;
    // A retry while PENDING is still allowed (a client that lost the first answer).
    put(&upload, original.clone()).await;
    let id = upload["upload_id"].as_str().unwrap();
    let (status, done) = app.confirm(&bucket, id, &json!({})).await;
    assert_eq!(status, 200, "{done}");

    // The same, still unexpired URL, now with other bytes: refused, nothing written.
    let mut request = app.client.put(upload["presigned_url"].as_str().unwrap());
    for (name, value) in upload["presigned_headers"].as_object().unwrap() {
        request = request.header(name, value.as_str().unwrap());
    }
    let swapped = request.body(b"swapped after the confirm".to_vec()).send().await.unwrap();
    assert_eq!(swapped.status(), 409);
    assert!(swapped.text().await.unwrap().contains("ObjectImmutable"));

    let object = done["object_id"].as_str().unwrap();
    let (_, got) = app.get(&format!("/v1/buckets/{bucket}/objects/{object}?return_presigned_urls=true")).await;
    let url = got["blobs"][0]["presigned_url"].as_str().expect("a download URL");
    let response = reqwest::get(url).await.unwrap();
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    assert_eq!(header("content-disposition").as_deref(), Some("attachment"), "user content is never served inline");
    assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"));
    assert_eq!(header("content-security-policy").as_deref(), Some("sandbox"));
    let downloaded = response.bytes().await.unwrap();
    assert_eq!(downloaded.as_ref(), original.as_slice());
    assert_eq!(sha256_hex(&downloaded), done["file_hash"].as_str().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filename_that_cannot_end_a_key_is_refused_at_create_on_the_embedded_default() {
    let app = spawn_embedded().await;
    let bucket = app.bucket("names", json!({})).await;
    for bad in [".", "..", "a/b"] {
        let (status, body) = app
            .post(&format!("/v1/buckets/{bucket}/uploads"), &json!({"filename": bad, "content_type": "text/plain"}))
            .await;
        assert_eq!(
            (status.as_u16(), body["error"]["code"].as_str()),
            (400, Some("invalid_filename")),
            "{bad:?}: {body}"
        );
    }
    assert_eq!(app.count_uploads(&bucket).await, 0);
}

async fn canceling_a_task_settles_what_it_was_working_on(app: TestApp) {
    let bucket = app.bucket("cancel", json!({})).await;
    // A confirm task: its upload ends FAILED with a code, not PROCESSING for ever.
    let (upload, _) = app.upload(&bucket, b"confirm me later").await;
    let (status, processing) =
        app.post(&format!("/v1/buckets/{bucket}/uploads/{upload}/confirm?async=true"), &json!({})).await;
    assert_eq!((status.as_u16(), processing["status"].as_str()), (200, Some("PROCESSING")), "{processing}");
    let task = processing["task_id"].as_str().unwrap();
    let (status, canceled) = app.delete(&format!("/v1/tasks/{task}")).await;
    assert_eq!((status.as_u16(), canceled["status"].as_str()), (200, Some("CANCELED")), "{canceled}");
    let (_, seen) = app.get(&format!("/v1/buckets/{bucket}/uploads/{upload}")).await;
    assert_eq!(seen["status"], "FAILED", "{seen}");
    assert_eq!(seen["error_code"], "confirm_canceled", "{seen}");

    // A batch task: the batch ends CANCELED.
    let (other, _) = app.upload(&bucket, b"an object for a batch").await;
    let (_, done) = app.confirm(&bucket, &other, &json!({})).await;
    let (_, batch) =
        app.post(&format!("/v1/buckets/{bucket}/batches"), &json!({"object_ids": [done["object_id"]]})).await;
    let batch_id = batch["batch_id"].as_str().unwrap();
    let (status, submitted) = app.post(&format!("/v1/buckets/{bucket}/batches/{batch_id}/submit"), &json!({})).await;
    assert_eq!(status, 200, "{submitted}");
    let (status, _) = app.delete(&format!("/v1/tasks/{}", submitted["task_id"].as_str().unwrap())).await;
    assert_eq!(status, 200);
    let (_, batch) = app.get(&format!("/v1/buckets/{bucket}/batches/{batch_id}")).await;
    assert_eq!(batch["status"], "CANCELED", "{batch}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canceling_tasks_on_the_embedded_default() {
    let app = spawn_embedded_with(|s| s.worker.enabled = false).await;
    canceling_a_task_settles_what_it_was_working_on(app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canceling_tasks_on_postgres_and_s3() {
    canceling_a_task_settles_what_it_was_working_on(spawn_with(|s| s.worker.enabled = false).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_swapped_on_s3_after_confirm_are_detected_and_never_served() {
    // Garage, like many S3 stores, cannot refuse the overwrite: the swap must be caught.
    let app = spawn_app().await;
    let bucket = app.bucket("swap", json!({})).await;
    let upload = app.create_upload(&bucket, "f.bin", json!({})).await;
    put(&upload, b"the verified bytes".to_vec()).await;
    let id = upload["upload_id"].as_str().unwrap();
    let (_, done) = app.confirm(&bucket, id, &json!({})).await;
    let object = done["object_id"].as_str().unwrap();
    let path = format!("/v1/buckets/{bucket}/objects/{object}?return_presigned_urls=true");
    let (status, intact) = app.get(&path).await;
    assert_eq!(status, 200, "{intact}");

    put(&upload, b"SWAPPED after confirm".to_vec()).await;
    for _ in 0..2 {
        let (status, body) = app.get(&path).await;
        assert_eq!((status.as_u16(), body["error"]["code"].as_str()), (409, Some("object_tampered")), "{body}");
    }
    // The mark is recorded with the blob, and batch processing refuses the blob too.
    let (_, plain) = app.get(&format!("/v1/buckets/{bucket}/objects/{object}")).await;
    assert!(plain["blobs"][0]["details"]["tampered_at"].is_string(), "{plain}");
    let (_, batch) = app.post(&format!("/v1/buckets/{bucket}/batches"), &json!({"object_ids": [object]})).await;
    let batch_id = batch["batch_id"].as_str().unwrap();
    let (_, submitted) = app.post(&format!("/v1/buckets/{bucket}/batches/{batch_id}/submit"), &json!({})).await;
    let task = app.wait_task(submitted["task_id"].as_str().unwrap()).await;
    assert!(task.to_string().contains("object_tampered"), "{task}");
}

/// Duplicate detection never answers with swapped bytes: once the original's bytes changed, the
/// same content declared at create gets an upload URL (it is not a duplicate), and a hashless
/// upload of it becomes the new original, with an object that serves the right bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dedup_never_answers_with_bytes_swapped_on_s3() {
    let app = spawn_app().await;
    let bucket = app.bucket("swapdedup", json!({"duplicate_blob_policy": "delete"})).await;
    let content = b"the verified bytes, deduplicated".to_vec();
    let sha = sha256_hex(&content);
    let first = app.create_upload(&bucket, "f.bin", json!({})).await;
    put(&first, content.clone()).await;
    let (_, done) = app.confirm(&bucket, first["upload_id"].as_str().unwrap(), &json!({})).await;
    let original_object = done["object_id"].as_str().unwrap().to_owned();
    // Before the swap, the content is a duplicate.
    let dup = app.create_upload(&bucket, "g.bin", json!({"file_hash": sha})).await;
    assert_eq!(dup["is_duplicate"], true, "{dup}");

    put(&first, b"SWAPPED after confirm, deduplicated".to_vec()).await;
    let again = app.create_upload(&bucket, "h.bin", json!({"file_hash": sha})).await;
    assert_eq!((again["is_duplicate"].as_bool(), again["presigned_url"].is_string()), (Some(false), true), "{again}");
    let hashless = app.create_upload(&bucket, "i.bin", json!({})).await;
    put(&hashless, content.clone()).await;
    let (s, confirmed) = app.confirm(&bucket, hashless["upload_id"].as_str().unwrap(), &json!({})).await;
    assert_eq!((s.as_u16(), confirmed["is_duplicate"].as_bool()), (200, Some(false)), "{confirmed}");
    let object = confirmed["object_id"].as_str().unwrap();
    assert_ne!(object, original_object);
    let (_, fresh) = app.get(&format!("/v1/buckets/{bucket}/objects/{object}?return_presigned_urls=true")).await;
    let url = fresh["blobs"][0]["presigned_url"].as_str().unwrap();
    assert_eq!(reqwest::get(url).await.unwrap().bytes().await.unwrap().to_vec(), content);
    let (s, old) = app.get(&format!("/v1/buckets/{bucket}/objects/{original_object}?return_presigned_urls=true")).await;
    assert_eq!((s.as_u16(), old["error"]["code"].as_str()), (409, Some("object_tampered")), "{old}");
}

/// A confirm task whose every allowed run lost its lease (workers that died on it) is not run
/// again: its upload ends FAILED `task_abandoned` and the task FAILED, instead of being handed
/// from worker to worker for ever.
async fn a_task_that_keeps_losing_its_lease_is_abandoned_and_settled(app: TestApp) {
    let bucket = app.bucket("poison", json!({})).await;
    let (upload, _) = app.upload(&bucket, b"kills every worker").await;
    let (_, processing) =
        app.post(&format!("/v1/buckets/{bucket}/uploads/{upload}/confirm?async=true"), &json!({})).await;
    let task_id = processing["task_id"].as_str().unwrap().to_owned();
    // Workers that die: each claim's lease runs out without a result.
    let queue = &app.ports.queue;
    let max = app.ports.tasks.get(&task_id.parse().unwrap()).await.unwrap().unwrap().max_attempts;
    for n in 0..max {
        let claimed = queue.claim(&format!("dead-{n}"), std::time::Duration::from_millis(20)).await.unwrap();
        assert_eq!(claimed.map(|t| t.id.to_string()), Some(task_id.clone()));
        tokio::time::sleep(std::time::Duration::from_millis(40)).await;
    }
    let mut settings = stowage_server::Settings::default();
    settings.worker.poll_interval_ms = 20;
    let workers = stowage_server::worker::Workers::start(app.ports.clone(), &settings.worker);
    let task = app.wait_task(&task_id).await;
    workers.shutdown().await;
    assert_eq!(
        (task["status"].as_str(), task["error_code"].as_str()),
        (Some("FAILED"), Some("task_abandoned")),
        "{task}"
    );
    let (_, seen) = app.get(&format!("/v1/buckets/{bucket}/uploads/{upload}")).await;
    assert_eq!(
        (seen["status"].as_str(), seen["error_code"].as_str()),
        (Some("FAILED"), Some("task_abandoned")),
        "{seen}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_tasks_on_the_embedded_default() {
    let app = spawn_embedded_with(|s| s.worker.enabled = false).await;
    a_task_that_keeps_losing_its_lease_is_abandoned_and_settled(app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_tasks_on_postgres_and_s3() {
    a_task_that_keeps_losing_its_lease_is_abandoned_and_settled(spawn_with(|s| s.worker.enabled = false).await).await;
}

/// A small deterministic generator (xorshift), so each walk below replays from its seed.
struct Walk(u64);

impl Walk {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        usize::try_from(self.0 % n as u64).unwrap()
    }
}

/// The object `id` exists and serves bytes whose SHA-256 is `sha`.
async fn serves(app: &TestApp, bucket: &str, id: &str, sha: &str, at: &str) {
    let (s, object) = app.get(&format!("/v1/buckets/{bucket}/objects/{id}?return_presigned_urls=true")).await;
    assert_eq!(s, 200, "{at}: object {id} is gone: {object}");
    let url = object["blobs"][0]["presigned_url"].as_str().unwrap_or_else(|| panic!("{at}: no URL: {object}"));
    let bytes = reqwest::get(url).await.unwrap().bytes().await.unwrap();
    assert_eq!(sha256_hex(&bytes), sha, "{at}: object {id} serves other bytes");
}

/// Random sequences of creates (hash declared or not), PUTs, confirms and deletes over three
/// contents, so duplicates, deletes of originals and re-uploads interleave. After every step:
/// no create or confirm answered with an object that does not exist, and every live object and
/// every COMPLETED upload that names an object is served with exactly its content.
async fn random_walks_never_answer_with_a_missing_object_or_lose_bytes(app: TestApp) {
    let contents: Vec<Vec<u8>> = (0..3).map(|i| format!("content number {i}").repeat(50).into_bytes()).collect();
    for seed in [7_u64, 1_234_567, 987_654_321] {
        let policy = if seed % 2 == 0 { "keep" } else { "delete" };
        let bucket = app.bucket(&format!("walk-{seed}"), json!({"duplicate_blob_policy": policy})).await;
        let mut walk = Walk(seed);
        let mut live: Vec<(String, usize)> = Vec::new(); // object id, content
        let mut completed: Vec<(String, usize)> = Vec::new(); // upload id, content
        let mut history = Vec::new();
        for step in 0..24 {
            let delete = !live.is_empty() && walk.below(4) == 0;
            if delete {
                let (object, c) = live.swap_remove(walk.below(live.len()));
                history.push(format!("delete {object} (content {c})"));
                let (s, b) = app.delete(&format!("/v1/buckets/{bucket}/objects/{object}")).await;
                assert_eq!(s, 204, "seed {seed} {history:?}: {b}");
            } else {
                let c = walk.below(contents.len());
                let declared = walk.below(2) == 0;
                history.push(format!("upload content {c} (hash declared: {declared})"));
                let mut extra = json!({"file_size_bytes": contents[c].len()});
                if declared {
                    extra["file_hash"] = json!(sha256_hex(&contents[c]));
                }
                let created = app.create_upload(&bucket, "walk.bin", extra).await;
                let upload = created["upload_id"].as_str().unwrap().to_owned();
                let answer = if created["is_duplicate"] == true {
                    created
                } else {
                    put(&created, contents[c].clone()).await;
                    let (s, b) = app.confirm(&bucket, &upload, &json!({})).await;
                    assert_eq!(s, 200, "seed {seed} {history:?}: {b}");
                    b
                };
                let object = answer["object_id"].as_str().map(str::to_owned);
                let at = format!("seed {seed} step {step} {history:?}");
                let object = object.unwrap_or_else(|| panic!("{at}: no object in {answer}"));
                serves(&app, &bucket, &object, &sha256_hex(&contents[c]), &at).await;
                if answer["is_duplicate"] != true {
                    live.push((object, c));
                }
                completed.push((upload, c));
            }
            let at = format!("seed {seed} after step {step} {history:?}");
            for (object, c) in &live {
                serves(&app, &bucket, object, &sha256_hex(&contents[*c]), &at).await;
            }
            for (upload, c) in &completed {
                let (s, b) = app.get(&format!("/v1/buckets/{bucket}/uploads/{upload}")).await;
                assert_eq!((s.as_u16(), b["status"].as_str()), (200, Some("COMPLETED")), "{at}: {b}");
                if let Some(object) = b["object_id"].as_str() {
                    serves(&app, &bucket, object, &sha256_hex(&contents[*c]), &at).await;
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_walks_keep_every_answer_and_every_byte_on_the_embedded_default() {
    random_walks_never_answer_with_a_missing_object_or_lose_bytes(spawn_embedded().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_walks_keep_every_answer_and_every_byte_on_postgres_and_s3() {
    random_walks_never_answer_with_a_missing_object_or_lose_bytes(spawn_app().await).await;
}

/// With `disk.download_url`, download URLs point at the separate origin and the API's origin
/// refuses to serve user content; uploads still go to the public URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_can_live_on_a_separate_origin() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let app = spawn_on_disk_with(|s| {
        s.server.bind = format!("127.0.0.1:{port}");
        s.disk.download_url = Some(format!("http://localhost:{port}"));
    })
    .await;
    let bucket = app.bucket("origins", json!({})).await;
    let upload = app.create_upload(&bucket, "page.html", json!({})).await;
    assert!(upload["presigned_url"].as_str().unwrap().starts_with(&format!("http://127.0.0.1:{port}/")), "{upload}");
    put(&upload, b"<script>alert(1)</script>".to_vec()).await;
    let (_, done) = app.confirm(&bucket, upload["upload_id"].as_str().unwrap(), &json!({})).await;
    let object = done["object_id"].as_str().unwrap();
    let (_, got) = app.get(&format!("/v1/buckets/{bucket}/objects/{object}?return_presigned_urls=true")).await;
    let url = got["blobs"][0]["presigned_url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&format!("http://localhost:{port}/storage/")), "{url}");
    let fetched = reqwest::get(&url).await.unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.bytes().await.unwrap().as_ref(), b"<script>alert(1)</script>");
    let on_api_origin = url.replace("localhost", "127.0.0.1");
    let refused = reqwest::get(&on_api_origin).await.unwrap();
    assert_eq!(refused.status(), 403);
    assert!(refused.text().await.unwrap().contains("downloads are served from"));
}
