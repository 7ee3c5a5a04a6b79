//! A client of the stowage API, used by `stowage upload`: it hashes a file, creates an upload
//! (declaring the SHA-256 so content already stored skips the transfer), PUTs the bytes straight
//! to storage — in parallel parts for files above the single-PUT limit — confirms, and waits for
//! the background verification of large files.
//!
//! Every request is retried with exponential backoff on connection errors and 5xx answers. That is
//! safe: the create carries an `Idempotency-Key`, a PUT of the same bytes to the same URL is
//! idempotent, and confirm is idempotent by design.

use futures_util::{StreamExt, TryStreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Digest;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// What went wrong, in words a person can act on.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No HTTP answer (refused, reset, timed out), after the retries.
    #[error("cannot reach {url}: {reason}")]
    Unreachable {
        /// What was called.
        url: String,
        /// Why.
        reason: String,
    },
    /// The API refused the request.
    #[error("{status} {code}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The error's stable code.
        code: String,
        /// The error's message.
        message: String,
    },
    /// Storage refused a PUT.
    #[error("storage refused the transfer ({status}): {body}")]
    Transfer {
        /// HTTP status.
        status: u16,
        /// What storage said.
        body: String,
    },
    /// A local file could not be read.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The server answered something this client does not understand.
    #[error("unexpected answer: {0}")]
    Protocol(String),
    /// Verification failed or the task ended without completing the upload.
    #[error("upload {upload_id} failed: {message}")]
    Failed {
        /// The upload.
        upload_id: String,
        /// Why.
        message: String,
    },
}

/// Progress of one file, for a progress bar.
pub trait Progress: Send + Sync {
    /// Hashing `total` bytes starts.
    fn hashing(&self, total: u64);
    /// The transfer of `total` bytes starts (not called when the content is already stored).
    fn transferring(&self, total: u64);
    /// `n` more bytes were hashed or sent.
    fn advance(&self, n: u64);
    /// Bytes sent by a failed attempt are sent again: take `n` back.
    fn rewind(&self, n: u64);
    /// Waiting for background verification (a task).
    fn waiting(&self, task_id: &str);
    /// The file is done.
    fn finish(&self);
}

/// Reports nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn hashing(&self, _: u64) {}
    fn transferring(&self, _: u64) {}
    fn advance(&self, _: u64) {}
    fn rewind(&self, _: u64) {}
    fn waiting(&self, _: &str) {}
    fn finish(&self) {}
}

/// How a file ended up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    /// The upload.
    pub upload_id: String,
    /// Its object (its own, or the original's for a duplicate), if one was created.
    pub object_id: Option<String>,
    /// The content's SHA-256.
    pub sha256: String,
    /// Bytes.
    pub size: u64,
    /// True when the content was already stored and no bytes were sent.
    pub duplicate: bool,
    /// The final upload record.
    pub upload: Value,
}

/// Tuning of transfers and retries.
#[derive(Debug, Clone)]
pub struct Options {
    /// Attempts of each request before giving up.
    pub attempts: u32,
    /// Delay before the first retry, doubling each time.
    pub backoff: Duration,
    /// Parts sent at once.
    pub parallel_parts: usize,
    /// Longest wait for background verification.
    pub wait_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            attempts: 5,
            backoff: Duration::from_millis(500),
            parallel_parts: 4,
            wait_timeout: Duration::from_secs(3600),
        }
    }
}

/// A connection to one stowage server with one API key.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    key: String,
    namespace: Option<String>,
    http: reqwest::Client,
    options: Options,
}

fn unreachable(url: &str, e: &reqwest::Error) -> ClientError {
    let mut reason = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        reason = format!("{reason}: {inner}");
        source = inner.source();
    }
    ClientError::Unreachable { url: url.to_owned(), reason }
}

fn file_error(path: &Path, source: std::io::Error) -> ClientError {
    ClientError::File { path: path.display().to_string(), source }
}

fn text(v: &Value, field: &str) -> Option<String> {
    v[field].as_str().map(str::to_owned)
}

impl Client {
    /// A client of the server at `base_url` (e.g. `http://127.0.0.1:8080`).
    ///
    /// # Errors
    /// When the HTTP client cannot be built (no TLS backend).
    pub fn new(base_url: &str, key: &str, namespace: Option<String>, options: Options) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("stowage-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        Ok(Self { base: base_url.trim_end_matches('/').to_owned(), key: key.to_owned(), namespace, http, options })
    }

    async fn pause(&self, attempt: u32) {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(6));
        tokio::time::sleep(self.options.backoff * factor).await;
    }

    /// Calls the API, retrying connection errors and 5xx answers.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<Value, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = self.http.request(method.clone(), &url).bearer_auth(&self.key);
            if let Some(ns) = &self.namespace {
                request = request.header("X-Namespace", ns);
            }
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = match request.send().await {
                Ok(response) => response,
                Err(e) if attempt < self.options.attempts => {
                    drop(e);
                    self.pause(attempt).await;
                    continue;
                }
                Err(e) => return Err(unreachable(&url, &e)),
            };
            let status = response.status();
            if status.is_server_error() && attempt < self.options.attempts {
                self.pause(attempt).await;
                continue;
            }
            let text = response.text().await.map_err(|e| unreachable(&url, &e))?;
            let value: Value =
                if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
            if status.is_success() {
                return Ok(value);
            }
            return Err(api_error(status, &value));
        }
    }

    /// Creates a bucket.
    ///
    /// # Errors
    /// The API's refusal (e.g. `409 bucket_exists`) or an unreachable server.
    pub async fn create_bucket(&self, name: &str) -> Result<Value, ClientError> {
        self.call(Method::POST, "/v1/buckets", Some(&json!({"bucket_name": name})), &[]).await
    }

    /// The ids of the namespace's buckets.
    ///
    /// # Errors
    /// The API's refusal or an unreachable server.
    pub async fn list_buckets(&self) -> Result<Vec<String>, ClientError> {
        let listed = self.call(Method::POST, "/v1/buckets/list", Some(&json!({})), &[]).await?;
        Ok(listed["results"].as_array().into_iter().flatten().filter_map(|b| text(b, "bucket_id")).collect())
    }

    /// An upload by id.
    ///
    /// # Errors
    /// The API's refusal (`404 upload_not_found`) or an unreachable server.
    pub async fn get_upload(&self, bucket: &str, upload_id: &str) -> Result<Value, ClientError> {
        self.call(Method::GET, &format!("/v1/buckets/{bucket}/uploads/{upload_id}"), None, &[]).await
    }

    /// Uploads one file into `bucket` and returns how it ended.
    ///
    /// # Errors
    /// An unreadable file, a refusal, a failed verification, or an unreachable server.
    pub async fn upload_file(
        &self,
        path: &Path,
        bucket: &str,
        progress: Arc<dyn Progress>,
    ) -> Result<Uploaded, ClientError> {
        let progress = &progress;
        let (sha256, size, head) = hash_file(path, &**progress).await?;
        let filename = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| file_error(path, std::io::Error::other("the file name is not UTF-8")))?;
        let content_type = infer::get(&head).map_or("application/octet-stream", |k| k.mime_type());
        let idempotency = uuid::Uuid::new_v4().to_string();
        let created = self
            .call(
                Method::POST,
                &format!("/v1/buckets/{bucket}/uploads"),
                Some(&json!({"filename": filename, "content_type": content_type, "file_size_bytes": size, "file_hash": sha256})),
                &[("Idempotency-Key", &idempotency)],
            )
            .await?;
        let upload_id = text(&created, "upload_id").ok_or_else(|| ClientError::Protocol(created.to_string()))?;
        if created["is_duplicate"] == true {
            progress.finish();
            return Ok(Uploaded {
                object_id: text(&created, "object_id"),
                upload_id,
                sha256,
                size,
                duplicate: true,
                upload: created,
            });
        }
        progress.transferring(size);
        if let Some(plan) = created.get("multipart").filter(|m| !m.is_null()) {
            self.send_parts(path, bucket, &upload_id, plan, progress).await?;
        } else {
            let url = text(&created, "presigned_url").ok_or_else(|| ClientError::Protocol(created.to_string()))?;
            let headers = header_list(&created["presigned_headers"]);
            self.put_range(path, &url, &headers, 0, size, progress).await?;
        }
        let confirm_path = format!("/v1/buckets/{bucket}/uploads/{upload_id}/confirm");
        let receipt = self.call(Method::POST, &confirm_path, Some(&json!({})), &[]).await?;
        if receipt["status"] == "PROCESSING" {
            let task = text(&receipt, "task_id").ok_or_else(|| ClientError::Protocol(receipt.to_string()))?;
            progress.waiting(&task);
            self.wait_task(&task).await?;
        }
        let upload = self.get_upload(bucket, &upload_id).await?;
        progress.finish();
        if upload["status"] != "COMPLETED" {
            let message = text(&upload, "error_message")
                .or_else(|| text(&upload, "status"))
                .unwrap_or_else(|| "not completed".to_owned());
            return Err(ClientError::Failed { upload_id, message });
        }
        Ok(Uploaded {
            object_id: text(&upload, "object_id"),
            duplicate: upload["is_duplicate"] == true,
            upload_id,
            sha256,
            size,
            upload,
        })
    }

    /// Sends every part of a multipart upload, `parallel_parts` at a time.
    async fn send_parts(
        &self,
        path: &Path,
        bucket: &str,
        upload_id: &str,
        plan: &Value,
        progress: &Arc<dyn Progress>,
    ) -> Result<(), ClientError> {
        let part_size = plan["part_size_bytes"].as_u64().ok_or_else(|| ClientError::Protocol(plan.to_string()))?;
        let count = plan["part_count"]
            .as_u64()
            .and_then(|c| u32::try_from(c).ok())
            .ok_or_else(|| ClientError::Protocol(plan.to_string()))?;
        let size = tokio::fs::metadata(path).await.map_err(|e| file_error(path, e))?.len();
        let mut parts = Vec::with_capacity(count as usize);
        for chunk in (1..=count).collect::<Vec<_>>().chunks(1000) {
            let answer = self
                .call(
                    Method::POST,
                    &format!("/v1/buckets/{bucket}/uploads/{upload_id}/parts"),
                    Some(&json!({"part_numbers": chunk})),
                    &[],
                )
                .await?;
            parts.extend(answer["parts"].as_array().cloned().unwrap_or_default());
        }
        futures_util::stream::iter(parts.into_iter().map(|part| async move {
            let number = part["part_number"].as_u64().ok_or_else(|| ClientError::Protocol(part.to_string()))?;
            let url = text(&part, "url").ok_or_else(|| ClientError::Protocol(part.to_string()))?;
            let offset = (number - 1) * part_size;
            let len = part_size.min(size.saturating_sub(offset));
            self.put_range(path, &url, &header_list(&part["headers"]), offset, len, progress).await
        }))
        .buffer_unordered(self.options.parallel_parts.max(1))
        .try_collect::<Vec<()>>()
        .await?;
        Ok(())
    }

    /// PUTs `len` bytes of the file from `offset`, streaming them, retrying failed attempts.
    async fn put_range(
        &self,
        path: &Path,
        url: &str,
        headers: &[(String, String)],
        offset: u64,
        len: u64,
        progress: &Arc<dyn Progress>,
    ) -> Result<(), ClientError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut file = tokio::fs::File::open(path).await.map_err(|e| file_error(path, e))?;
            file.seek(std::io::SeekFrom::Start(offset)).await.map_err(|e| file_error(path, e))?;
            let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
            let counter = sent.clone();
            let reporter = progress.clone();
            // The stream reports progress as storage reads the body.
            let stream =
                tokio_util::io::ReaderStream::with_capacity(file.take(len), 256 * 1024).inspect_ok(move |chunk| {
                    let n = chunk.len() as u64;
                    counter.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                    reporter.advance(n);
                });
            let body = reqwest::Body::wrap_stream(stream);
            let mut request = self.http.put(url).header("Content-Length", len).body(body);
            for (name, value) in headers.iter().filter(|(n, _)| !n.eq_ignore_ascii_case("content-length")) {
                request = request.header(name, value);
            }
            let outcome = request.send().await;
            let retry = match outcome {
                Ok(response) if response.status().is_success() => return Ok(()),
                Ok(response)
                    if response.status().is_server_error() || response.status() == StatusCode::TOO_MANY_REQUESTS =>
                {
                    attempt < self.options.attempts
                }
                Ok(response) => {
                    let status = response.status().as_u16();
                    return Err(ClientError::Transfer { status, body: response.text().await.unwrap_or_default() });
                }
                Err(e) if attempt < self.options.attempts => {
                    drop(e);
                    true
                }
                Err(e) => return Err(unreachable(url.split('?').next().unwrap_or(url), &e)),
            };
            progress.rewind(sent.load(std::sync::atomic::Ordering::Relaxed));
            if !retry {
                return Err(ClientError::Transfer { status: 503, body: "storage kept failing".to_owned() });
            }
            self.pause(attempt).await;
        }
    }

    /// Long-polls a task until it is terminal.
    async fn wait_task(&self, task_id: &str) -> Result<Value, ClientError> {
        let deadline = tokio::time::Instant::now() + self.options.wait_timeout;
        loop {
            let task = self.call(Method::GET, &format!("/v1/tasks/{task_id}?wait_seconds=20"), None, &[]).await?;
            match task["status"].as_str() {
                Some("COMPLETED" | "COMPLETED_WITH_ERRORS") => return Ok(task),
                Some("FAILED" | "CANCELED") => {
                    let message =
                        task["error"]["message"].as_str().or(task["error"].as_str()).unwrap_or("the task failed");
                    let upload_id = task["inputs"][0]["upload_id"].as_str().unwrap_or(task_id).to_owned();
                    return Err(ClientError::Failed { upload_id, message: message.to_owned() });
                }
                _ if tokio::time::Instant::now() >= deadline => {
                    return Err(ClientError::Protocol(format!("task {task_id} did not finish in time")));
                }
                _ => {}
            }
        }
    }
}

fn header_list(headers: &Value) -> Vec<(String, String)> {
    headers
        .as_object()
        .map(|h| h.iter().filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned()))).collect())
        .unwrap_or_default()
}

fn api_error(status: StatusCode, body: &Value) -> ClientError {
    let (code, message) = match (&body["error"], &body["detail"]) {
        (Value::Object(e), _) => (
            e.get("code").and_then(Value::as_str).unwrap_or("error").to_owned(),
            e.get("message").and_then(Value::as_str).unwrap_or_default().to_owned(),
        ),
        (_, Value::Array(details)) => (
            "validation_error".to_owned(),
            details.iter().filter_map(|d| d["msg"].as_str()).collect::<Vec<_>>().join("; "),
        ),
        _ => ("error".to_owned(), body.to_string()),
    };
    ClientError::Api { status: status.as_u16(), code, message }
}

/// SHA-256 and size of a file, plus its first bytes (to guess the content type).
async fn hash_file(path: &Path, progress: &dyn Progress) -> Result<(String, u64, Vec<u8>), ClientError> {
    let mut file = tokio::fs::File::open(path).await.map_err(|e| file_error(path, e))?;
    let total = file.metadata().await.map_err(|e| file_error(path, e))?.len();
    progress.hashing(total);
    let mut hasher = sha2::Sha256::new();
    let mut buffer = vec![0u8; 1024 * 1024];
    let mut head = Vec::new();
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buffer).await.map_err(|e| file_error(path, e))?;
        if n == 0 {
            break;
        }
        if head.len() < 8192 {
            head.extend_from_slice(&buffer[..n.min(8192 - head.len())]);
        }
        hasher.update(&buffer[..n]);
        size += n as u64;
        progress.advance(n as u64);
    }
    Ok((hex::encode(hasher.finalize()), size, head))
}
