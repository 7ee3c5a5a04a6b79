//! Test support: a store on a fresh bucket of the test server, and plain HTTP requests.

use std::time::Duration;
use stowage_domain::names::ObjectKey;
use stowage_domain::ports::PresignedRequest;
use stowage_s3::S3ObjectStore;

/// The configuration of the test server, for a bucket of the given name.
pub use stowage_testkit::s3_config as config;

/// A store on a bucket of its own.
pub async fn store() -> S3ObjectStore {
    S3ObjectStore::new(stowage_testkit::fresh_bucket().await).await
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
