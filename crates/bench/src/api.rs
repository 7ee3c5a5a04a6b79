//! The bench's HTTP client for stowage's API and presigned PUTs.

use crate::server::Server;
use serde_json::{Value, json};
use sha2::Digest;

#[derive(Clone)]
pub struct Api {
    pub client: reqwest::Client,
    pub base: String,
    pub key: String,
}

impl Api {
    pub fn new(server: &Server) -> Self {
        let client = reqwest::Client::builder().pool_max_idle_per_host(64).build().expect("client");
        Self { client, base: server.url(""), key: server.key.clone() }
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .json(body)
            .send()
            .await
            .expect("stowage answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn bucket(&self, name: &str, settings: Value) {
        let (status, body) = self.post("/v1/buckets", &json!({"bucket_name": name, "settings": settings})).await;
        assert_eq!(status, 200, "create bucket: {body}");
    }

    /// Creates an upload of `bytes` (declaring its SHA-256 and signing it when `declare_sha`)
    /// and PUTs the bytes; returns the upload id.
    pub async fn prepared_upload(&self, bucket: &str, bytes: Vec<u8>, declare_sha: bool) -> String {
        let mut request = json!({"filename": "object.bin", "content_type": "application/octet-stream", "file_size_bytes": bytes.len()});
        if declare_sha {
            request["file_hash"] = json!(hex::encode(sha2::Sha256::digest(&bytes)));
            request["enforce_checksum"] = json!(true);
        }
        let (status, upload) = self.post(&format!("/v1/buckets/{bucket}/uploads"), &request).await;
        assert_eq!(status, 200, "create upload: {upload}");
        put(&self.client, &upload, reqwest::Body::from(bytes)).await;
        upload["upload_id"].as_str().expect("upload id").to_owned()
    }
}

/// PUTs to an upload's presigned URL with exactly its headers.
pub async fn put(client: &reqwest::Client, upload: &Value, body: reqwest::Body) {
    let mut request = client.put(upload["presigned_url"].as_str().expect("presigned url"));
    for (name, value) in upload["presigned_headers"].as_object().expect("headers") {
        request = request.header(name, value.as_str().expect("header value"));
    }
    let response = request.body(body).send().await.expect("S3 answers");
    assert_eq!(response.status(), 200, "PUT: {}", response.text().await.unwrap_or_default());
}

/// Deterministic, distinct content for object `i` (a fixed-seed xorshift stream).
pub fn content(i: u64, len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15 ^ i.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}
