//! Test support: a store on a fresh bucket of the test server, and plain HTTP requests.

use std::time::Duration;
use stowage_domain::names::ObjectKey;
use stowage_domain::ports::PresignedRequest;
use stowage_s3::{S3Config, S3ObjectStore};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: the storage tests need an S3-compatible server. Run them through \
             `cargo xtask test`, which starts Garage, or set STOWAGE_TEST_S3_ENDPOINT, \
             STOWAGE_TEST_S3_ACCESS_KEY, STOWAGE_TEST_S3_SECRET_KEY and STOWAGE_TEST_S3_REGION."
        )
    })
}

/// The configuration of the test server, for a bucket of the given name.
pub fn config(bucket: &str) -> S3Config {
    S3Config {
        endpoint: Some(env("STOWAGE_TEST_S3_ENDPOINT")),
        region: env("STOWAGE_TEST_S3_REGION"),
        bucket: bucket.to_owned(),
        key_prefix: "test-prefix/".to_owned(),
        force_path_style: true,
        access_key_id: Some(env("STOWAGE_TEST_S3_ACCESS_KEY")),
        secret_access_key: Some(env("STOWAGE_TEST_S3_SECRET_KEY")),
        ..S3Config::default()
    }
}

/// A store on a bucket of its own.
pub async fn store() -> S3ObjectStore {
    let bucket = format!("t-{}", uuid::Uuid::new_v4().simple());
    let store = S3ObjectStore::new(config(&bucket)).await;
    store.create_bucket().await.expect("create the test bucket");
    store
}

pub fn key(name: &str) -> ObjectKey {
    ObjectKey::parse(&format!("uploads/{}/{name}", uuid::Uuid::new_v4().simple())).unwrap()
}

pub fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(bytes))
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Performs a presigned request as a browser would: the URL, the signed headers, a body.
pub async fn send(request: &PresignedRequest, body: Vec<u8>, override_headers: &[(&str, &str)]) -> reqwest::Response {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(120)).build().unwrap();
    let method = reqwest::Method::from_bytes(request.method.as_bytes()).unwrap();
    let mut builder = client.request(method, &request.url);
    for (name, value) in &request.headers {
        if !override_headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
            builder = builder.header(name, value);
        }
    }
    for (name, value) in override_headers {
        builder = builder.header(*name, *value);
    }
    builder.body(body).send().await.expect("the store answers")
}
