//! Authentication and tenancy: no key or a bad key is 401; another namespace's resources are 404.

use crate::helpers::*;
use serde_json::json;
use stowage_domain::auth::Role;
use stowage_domain::names::NamespaceName;
use stowage_domain::usecases::tenancy;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_key_or_a_bad_key_is_401() {
    let app = spawn_app().await;
    let bucket = app.bucket("b", json!({})).await;
    let paths = [format!("/v1/buckets/{bucket}"), format!("/v1/buckets/{bucket}/uploads/upl_0000000000000000")];
    for path in &paths {
        let (s, b) = read(app.client.get(app.url(path)).send().await.unwrap()).await;
        assert_eq!((s.as_u16(), b["error"]["type"].as_str()), (401, Some("UnauthorizedError")), "{path}: {b}");
        let (s, _) = read(app.client.get(app.url(path)).bearer_auth("sk_not_a_key").send().await.unwrap()).await;
        assert_eq!(s, 401);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_of_another_namespace_sees_404_on_every_bucket_route() {
    let app = spawn_app().await;
    let bucket = app.bucket("private", json!({})).await;
    let (upload, _) = app.upload(&bucket, b"secret").await;
    let (_, done) = app.confirm(&bucket, &upload, &json!({})).await;
    let object = done["object_id"].as_str().unwrap().to_owned();
    let (_, pending) = app
        .post(&format!("/v1/buckets/{bucket}/uploads"), &json!({"filename": "p", "content_type": "text/plain"}))
        .await;
    let (_, processing) = app
        .post(
            &format!("/v1/buckets/{bucket}/uploads/{}/confirm?async=true", pending["upload_id"].as_str().unwrap()),
            &json!({}),
        )
        .await;
    let task = processing["task_id"].as_str().unwrap().to_owned();

    // A second namespace with its own write key.
    let other =
        tenancy::create_namespace(app.ports.deps(), NamespaceName::parse("other").unwrap(), None).await.unwrap();
    let (_, other_key) = stowage_server::keys::create_key(app.ports.deps(), &other, Role::Write, None).await.unwrap();
    assert!(app.ports.tenancy.find_namespace("other").await.unwrap().is_some());

    let get_paths = [
        format!("/v1/buckets/{bucket}"),
        "/v1/buckets/private".to_owned(),
        format!("/v1/buckets/{bucket}/uploads/{upload}"),
        format!("/v1/buckets/{bucket}/objects/{object}"),
        format!("/v1/tasks/{task}"),
    ];
    for path in &get_paths {
        let (s, b) = read(app.client.get(app.url(path)).bearer_auth(&other_key).send().await.unwrap()).await;
        assert_eq!(s, 404, "{path}: {b}");
        // Naming the first namespace explicitly does not help either.
        let (s, _) = read(
            app.client.get(app.url(path)).bearer_auth(&other_key).header("X-Namespace", "acme").send().await.unwrap(),
        )
        .await;
        assert_eq!(s, 404, "{path} with X-Namespace");
    }
    let post_paths = [
        (format!("/v1/buckets/{bucket}/uploads"), json!({"filename": "x", "content_type": "text/plain"})),
        (format!("/v1/buckets/{bucket}/uploads/{upload}/confirm"), json!({})),
        (format!("/v1/buckets/{bucket}/uploads/list"), json!({})),
    ];
    for (path, body) in &post_paths {
        let (s, b) =
            read(app.client.post(app.url(path)).bearer_auth(&other_key).json(body).send().await.unwrap()).await;
        assert_eq!(s, 404, "{path}: {b}");
    }
    let (s, _) = read(
        app.client
            .delete(app.url(&format!("/v1/buckets/{bucket}/uploads/{upload}")))
            .bearer_auth(&other_key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 404);
    // The other namespace's bucket list does not show it.
    let (_, list) =
        read(app.client.post(app.url("/v1/buckets/list")).bearer_auth(&other_key).send().await.unwrap()).await;
    assert_eq!(list["total"], 0);
}
