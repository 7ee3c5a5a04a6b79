//! Who may do what, as a table: every route × {no key, bogus key, read, write, admin of this
//! namespace, admin of another namespace, operator}, with the status each cell must answer —
//! on the embedded default and on PostgreSQL + S3. Every request names the resource's namespace
//! (`X-Namespace: acme`); an admin of another namespace must be a stranger there (404), exactly
//! like a key of any other role. Mutating cells get fresh resources, so each cell is independent.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};
use stowage_domain::auth::Role;
use stowage_domain::names::NamespaceName;
use stowage_domain::usecases::tenancy;

/// The columns of the table.
const CALLERS: [&str; 7] = ["none", "bogus", "read", "write", "admin", "other-admin", "operator"];

/// Route, then the status for each caller in [`CALLERS`] order.
const TABLE: &[(&str, [u16; 7])] = &[
    ("POST /v1/namespaces", [401, 401, 403, 403, 403, 403, 200]),
    ("GET /v1/namespaces/{ns}", [401, 401, 200, 200, 200, 404, 200]),
    ("GET /v1/keys", [401, 401, 403, 403, 200, 404, 200]),
    ("DELETE /v1/keys/{key}", [401, 401, 403, 403, 200, 404, 200]),
    ("POST /v1/buckets", [401, 401, 403, 200, 200, 404, 200]),
    ("POST /v1/buckets/list", [401, 401, 200, 200, 200, 404, 200]),
    ("GET /v1/buckets/{b}", [401, 401, 200, 200, 200, 404, 200]),
    ("POST /v1/buckets/{b}/uploads", [401, 401, 403, 200, 200, 404, 200]),
    ("POST /v1/buckets/{b}/uploads/batch", [401, 401, 403, 200, 200, 404, 200]),
    ("POST /v1/buckets/{b}/upload-sessions", [401, 401, 403, 200, 200, 404, 200]),
    ("POST /v1/buckets/{b}/uploads/confirm/batch", [401, 401, 403, 200, 200, 404, 200]),
    ("POST /v1/buckets/{b}/uploads/list", [401, 401, 200, 200, 200, 404, 200]),
    ("GET /v1/buckets/{b}/uploads/{u}", [401, 401, 200, 200, 200, 404, 200]),
    ("DELETE /v1/buckets/{b}/uploads/{u}", [401, 401, 403, 204, 204, 404, 204]),
    ("POST /v1/buckets/{b}/uploads/{u}/parts", [401, 401, 403, 409, 409, 404, 409]),
    ("POST /v1/buckets/{b}/uploads/{u}/confirm", [401, 401, 403, 200, 200, 404, 200]),
    ("POST /v1/buckets/{b}/objects", [401, 401, 403, 400, 400, 404, 400]),
    ("POST /v1/buckets/{b}/objects/list", [401, 401, 200, 200, 200, 404, 200]),
    ("GET /v1/buckets/{b}/objects/{o}", [401, 401, 200, 200, 200, 404, 200]),
    ("DELETE /v1/buckets/{b}/objects/{o}", [401, 401, 403, 204, 204, 404, 204]),
    ("POST /v1/buckets/{b}/batches", [401, 401, 403, 200, 200, 404, 200]),
    ("POST /v1/buckets/{b}/batches/{batch}/submit", [401, 401, 403, 200, 200, 404, 200]),
    ("GET /v1/buckets/{b}/batches/{batch}", [401, 401, 200, 200, 200, 404, 200]),
    ("POST /v1/tasks/list", [401, 401, 200, 200, 200, 404, 200]),
    ("GET /v1/tasks/{task}", [401, 401, 200, 200, 200, 404, 200]),
    ("DELETE /v1/tasks/{task}", [401, 401, 403, 200, 200, 404, 200]),
];

struct World {
    /// Secrets by caller; `none` has none.
    keys: Vec<(&'static str, Option<String>)>,
    bucket: String,
}

async fn key(app: &TestApp, namespace: &str, role: Role, all_namespaces: bool) -> String {
    let ns = app.ports.tenancy.find_namespace(namespace).await.unwrap().unwrap();
    let (_, secret) =
        stowage_server::keys::create_scoped_key(app.ports.deps(), &ns, role, all_namespaces, None).await.unwrap();
    secret
}

async fn world(app: &TestApp) -> World {
    tenancy::create_namespace(app.ports.deps(), NamespaceName::parse("other").unwrap(), None).await.unwrap();
    let keys = vec![
        ("none", None),
        ("bogus", Some("sk_thisIsNotAKeyOfThisServerAtAll0000000000000".to_owned())),
        ("read", Some(key(app, "acme", Role::Read, false).await)),
        ("write", Some(app.key.clone())),
        ("admin", Some(key(app, "acme", Role::Admin, false).await)),
        ("other-admin", Some(key(app, "other", Role::Admin, false).await)),
        ("operator", Some(key(app, "other", Role::Admin, true).await)),
    ];
    World { keys, bucket: app.bucket("table", json!({})).await }
}

/// A confirmed object of the table's bucket (fresh for each call).
async fn object(app: &TestApp, bucket: &str, n: usize) -> String {
    let (upload, _) = app.upload(bucket, format!("object {n} {}", uuid::Uuid::new_v4()).as_bytes()).await;
    let (status, body) = app.confirm(bucket, &upload, &json!({})).await;
    assert_eq!(status, 200, "{body}");
    body["object_id"].as_str().unwrap().to_owned()
}

/// The request of a cell: method, path and body, with fresh resources where the route changes them.
async fn request(app: &TestApp, w: &World, route: &str, n: usize) -> (Method, String, Option<Value>) {
    let (method, template) = route.split_once(' ').unwrap();
    let b = &w.bucket;
    let mut path = template.replace("{b}", b).replace("{ns}", "acme");
    let mut body = None;
    if path.contains("{u}") {
        let (upload, _) = app.upload(b, format!("upload {n} {}", uuid::Uuid::new_v4()).as_bytes()).await;
        path = path.replace("{u}", &upload);
    }
    if path.contains("{o}") {
        path = path.replace("{o}", &object(app, b, n).await);
    }
    if path.contains("{batch}") {
        let o = object(app, b, n).await;
        let (status, batch) = app.post(&format!("/v1/buckets/{b}/batches"), &json!({"object_ids": [o]})).await;
        assert_eq!(status, 200, "{batch}");
        path = path.replace("{batch}", batch["batch_id"].as_str().unwrap());
    }
    if path.contains("{task}") {
        let pending = app.create_upload(b, "t.bin", json!({})).await;
        let id = pending["upload_id"].as_str().unwrap();
        let (status, task) = app.post(&format!("/v1/buckets/{b}/uploads/{id}/confirm?async=true"), &json!({})).await;
        assert_eq!(status, 200, "{task}");
        path = path.replace("{task}", task["task_id"].as_str().unwrap());
    }
    if path.contains("{key}") {
        let victim = key(app, "acme", Role::Read, false).await;
        let listed = app.ports.keys.list_api_keys(None).await.unwrap();
        let hash = stowage_domain::auth::hash_secret(&victim);
        let id = listed.into_iter().find(|k| k.key_hash == hash).unwrap().id;
        path = path.replace("{key}", id.as_str());
    }
    match route {
        "POST /v1/namespaces" => body = Some(json!({"namespace_name": format!("ns-{n}")})),
        "POST /v1/buckets" => body = Some(json!({"bucket_name": format!("bucket-{n}")})),
        "POST /v1/buckets/{b}/uploads" => body = Some(json!({"filename": "a.txt", "content_type": "text/plain"})),
        "POST /v1/buckets/{b}/uploads/batch" => {
            body = Some(json!({"uploads": [{"filename": "a.txt", "content_type": "text/plain"}]}));
        }
        "POST /v1/buckets/{b}/uploads/confirm/batch" => {
            let (upload, _) = app.upload(b, format!("batch {n} {}", uuid::Uuid::new_v4()).as_bytes()).await;
            body = Some(json!({"confirmations": [{"upload_id": upload}]}));
        }
        "POST /v1/buckets/{b}/uploads/{u}/parts" => body = Some(json!({"part_numbers": [1]})),
        "POST /v1/buckets/{b}/objects" => body = Some(json!({"blobs": []})),
        "POST /v1/buckets/{b}/batches" => body = Some(json!({"object_ids": [object(app, b, n).await]})),
        _ if method == "POST" => body = Some(json!({})),
        _ => {}
    }
    (Method::from_bytes(method.as_bytes()).unwrap(), path, body)
}

async fn every_route_answers_each_caller_as_the_table_says(app: TestApp) {
    let w = world(&app).await;
    let mut wrong = Vec::new();
    let mut n = 0;
    for (route, expected) in TABLE {
        for ((caller, secret), want) in w.keys.iter().zip(expected) {
            n += 1;
            let (method, path, body) = request(&app, &w, route, n).await;
            let mut builder = app.client.request(method, app.url(&path)).header("X-Namespace", "acme");
            if let Some(secret) = secret {
                builder = builder.bearer_auth(secret);
            }
            if let Some(body) = &body {
                builder = builder.json(body);
            }
            let (status, answer) = read(builder.send().await.unwrap()).await;
            if status.as_u16() != *want {
                wrong.push(format!("{route} as {caller}: {status} (want {want}) {answer}"));
            } else if *want >= 400 {
                assert!(answer["error"]["code"].is_string(), "{route} as {caller}: no stable code in {answer}");
            }
        }
    }
    assert!(wrong.is_empty(), "{} of {} cells differ:\n{}", wrong.len(), n, wrong.join("\n"));
    assert_eq!(CALLERS.len(), w.keys.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_table_on_the_embedded_default() {
    every_route_answers_each_caller_as_the_table_says(spawn_embedded().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_table_on_postgres_and_s3() {
    every_route_answers_each_caller_as_the_table_says(spawn_app().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_key_gets_no_upload_url_and_a_revoked_key_stops_working_on_the_embedded_default() {
    let app = spawn_embedded_with(|s| s.server.key_cache_ttl_secs = 1).await;
    let bucket = app.bucket("ro", json!({})).await;
    let pending = app.create_upload(&bucket, "a.txt", json!({})).await;
    assert!(pending["presigned_url"].is_string(), "a write key gets the URL: {pending}");
    let id = pending["upload_id"].as_str().unwrap();
    let reader = key(&app, "acme", Role::Read, false).await;
    let get = |secret: String| {
        app.client
            .get(app.url(&format!("/v1/buckets/{bucket}/uploads/{id}")))
            .bearer_auth(secret)
            .header("X-Namespace", "acme")
            .send()
    };
    let (status, seen) = read(get(reader.clone()).await.unwrap()).await;
    assert_eq!(status, 200, "{seen}");
    assert_eq!((seen["status"].as_str(), &seen["presigned_url"]), (Some("PENDING"), &Value::Null), "{seen}");

    // Revoked over the API by an admin of the namespace: refused once the key cache (1 s here)
    // forgets it.
    let admin = key(&app, "acme", Role::Admin, false).await;
    let listed =
        app.client.get(app.url("/v1/keys")).bearer_auth(&admin).header("X-Namespace", "acme").send().await.unwrap();
    let (status, keys) = read(listed).await;
    assert_eq!(status, 200, "{keys}");
    let hash = stowage_domain::auth::hash_secret(&reader);
    let stored = app.ports.keys.find_api_key(&hash).await.unwrap().unwrap();
    assert!(stored.last_used_at.is_some(), "a used key has last_used_at");
    let listed_reader = keys["results"].as_array().unwrap().iter().find(|k| k["key_id"] == stored.id.as_str());
    assert_eq!(listed_reader.unwrap()["role"], "read");
    let revoked = app
        .client
        .delete(app.url(&format!("/v1/keys/{}", stored.id)))
        .bearer_auth(&admin)
        .header("X-Namespace", "acme")
        .send()
        .await
        .unwrap();
    let (status, body) = read(revoked).await;
    assert_eq!((status.as_u16(), body["revoked_at"].is_string()), (200, true), "{body}");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, body) = read(get(reader).await.unwrap()).await;
    assert_eq!((status.as_u16(), body["error"]["code"].as_str()), (401, Some("invalid_api_key")), "{body}");
}
