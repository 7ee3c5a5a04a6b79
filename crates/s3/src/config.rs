//! The adapter's own configuration.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Where the bytes live and how to reach the store.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct S3Config {
    /// The store's API endpoint (`http://127.0.0.1:3900`, `https://<account>.r2.cloudflarestorage.com`);
    /// `None` for AWS S3 itself.
    pub endpoint: Option<String>,
    /// The endpoint presigned URLs are made for, when clients reach the store under another
    /// host than stowage does (the signature covers the host). Defaults to `endpoint`.
    pub public_endpoint: Option<String>,
    /// The region (`us-east-1`, or whatever the store's configuration says, e.g. `garage`).
    pub region: String,
    /// The bucket holding every object.
    pub bucket: String,
    /// Prepended to every key (e.g. `stowage/`), so one bucket can be shared.
    pub key_prefix: String,
    /// `https://host/bucket/key` instead of `https://bucket.host/key` (MinIO, Garage, most
    /// self-hosted stores).
    pub force_path_style: bool,
    /// Static credentials; when absent the standard AWS chain is used (environment, profile,
    /// web identity, ECS, EC2 instance metadata).
    pub access_key_id: Option<String>,
    /// The secret of `access_key_id`.
    pub secret_access_key: Option<String>,
    /// Longest wait to open a connection.
    #[serde(with = "millis")]
    pub connect_timeout: Duration,
    /// Longest a request may take to answer (per attempt); a streaming GET's body is bounded by
    /// `read_timeout` instead.
    #[serde(with = "millis")]
    pub operation_timeout: Duration,
    /// Longest pause while reading a response.
    #[serde(with = "millis")]
    pub read_timeout: Duration,
    /// Attempts per request (the first included) on throttling and transient errors.
    pub max_attempts: u32,
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("public_endpoint", &self.public_endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("key_prefix", &self.key_prefix)
            .field("force_path_style", &self.force_path_style)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl Default for S3Config {
    fn default() -> Self {
        Self {
            endpoint: None,
            public_endpoint: None,
            region: "us-east-1".to_owned(),
            bucket: "stowage".to_owned(),
            key_prefix: String::new(),
            force_path_style: false,
            access_key_id: None,
            secret_access_key: None,
            connect_timeout: Duration::from_secs(3),
            operation_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(30),
            max_attempts: 3,
        }
    }
}

/// Durations in configuration files are whole milliseconds.
mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}
