//! Outages: S3 or PostgreSQL unreachable is a 503 that changes nothing, and the same confirm
//! succeeds once the dependency is back; `/readyz` names what is down.

use crate::helpers::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_s3_down_confirm_is_503_and_the_upload_stays_pending_until_s3_is_back() {
    let s3 = stowage_testkit::s3_config("unused");
    let proxy = Proxy::start(socket_of(s3.endpoint.as_deref().unwrap())).await;
    let endpoint = format!("http://{}", proxy.addr);
    let app = spawn_with(|s| {
        s.storage.endpoint = Some(endpoint);
        s.storage.max_attempts = 1;
        s.storage.operation_timeout = std::time::Duration::from_secs(2);
    })
    .await;
    let bucket = app.bucket("s3-down", json!({})).await;
    let (id, _) = app.upload(&bucket, b"survives an outage").await;

    proxy.cut();
    let response = app
        .client
        .post(app.url(&format!("/v1/buckets/{bucket}/uploads/{id}/confirm")))
        .bearer_auth(&app.key)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert!(response.headers().contains_key("retry-after"));
    let (status, body) = read(response).await;
    assert_eq!((status.as_u16(), body["error"]["type"].as_str()), (503, Some("StorageUnavailableError")), "{body}");
    assert_eq!(app.get(&format!("/v1/buckets/{bucket}/uploads/{id}")).await.1["status"], "PENDING");
    let (status, ready) = read(app.client.get(app.url("/readyz")).send().await.unwrap()).await;
    assert_eq!((status.as_u16(), ready["checks"]["storage"]["status"].as_str()), (503, Some("down")), "{ready}");

    proxy.restore();
    let (status, body) = app.confirm(&bucket, &id, &json!({})).await;
    assert_eq!((status.as_u16(), body["status"].as_str()), (200, Some("COMPLETED")), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_postgres_unreachable_requests_are_503_and_readyz_names_the_database() {
    let db_server = stowage_testkit::database_server_url();
    let proxy = Proxy::start(socket_of(&db_server)).await;
    let app = spawn_with(|s| {
        let (scheme_user, rest) = s.database.url.split_once('@').unwrap();
        let database = rest.split_once('/').unwrap().1.to_owned();
        s.database.url = format!("{scheme_user}@{}/{database}", proxy.addr);
        s.database.connect_timeout = std::time::Duration::from_secs(2);
        s.server.key_cache_ttl_secs = 0;
    })
    .await;
    let bucket = app.bucket("pg-down", json!({})).await;
    let (id, _) = app.upload(&bucket, b"pg outage").await;

    proxy.cut();
    let (status, body) = app.confirm(&bucket, &id, &json!({})).await;
    assert_eq!((status.as_u16(), body["error"]["type"].as_str()), (503, Some("StorageUnavailableError")), "{body}");
    let (status, ready) = read(app.client.get(app.url("/readyz")).send().await.unwrap()).await;
    assert_eq!(status, 503);
    assert_eq!(ready["checks"]["database"]["status"], "down", "{ready}");
    assert_eq!(ready["checks"]["storage"]["status"], "ok", "{ready}");

    proxy.restore();
    let (status, body) = app.confirm(&bucket, &id, &json!({})).await;
    assert_eq!((status.as_u16(), body["status"].as_str()), (200, Some("COMPLETED")), "{body}");
}
