//! [`S3ObjectStore`], the `ObjectStore` port on aws-sdk-s3.

use crate::config::S3Config;
use crate::error::from_sdk;
use crate::hash::Hasher;
use crate::post;
use crate::presign;
use async_trait::async_trait;
use aws_credential_types::Credentials;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Region, RequestChecksumCalculation};
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::types::{ChecksumMode, ChecksumType, CompletedMultipartUpload, CompletedPart};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use std::time::Duration;
use stowage_domain::content::{ContentDigest, ETag, Sha256Hex, StoredChecksum};
use stowage_domain::error::StorageError;
use stowage_domain::names::{ContentType, ObjectKey};
use stowage_domain::ports::{
    ListPage, ListedObject, ObjectHead, ObjectStore, PartInfo, PresignPut, PresignedPost, PresignedRequest,
};
use time::OffsetDateTime;

/// The object store on an S3-compatible server.
#[derive(Clone, Debug)]
pub struct S3ObjectStore {
    /// Does the I/O.
    client: Client,
    /// Signs URLs for the host clients use (the same client unless `public_endpoint` is set).
    presigner: Client,
    config: S3Config,
    /// What signs form POSTs and PUT URLs (the SDK's clients do not hand theirs out).
    credentials: Option<aws_credential_types::provider::SharedCredentialsProvider>,
    /// Where PUTs go, learnt from the SDK once (`presign`).
    put_address: std::sync::Arc<std::sync::OnceLock<presign::Address>>,
}

fn sdk_config(config: &S3Config, base: aws_sdk_s3::config::Builder, endpoint: Option<&String>) -> aws_sdk_s3::Config {
    let mut builder = base
        .region(Region::new(config.region.clone()))
        .force_path_style(config.force_path_style)
        // Only what the caller asks for is signed: a browser cannot compute the SDK's default
        // CRC32 for a presigned PUT.
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(config.connect_timeout)
                .operation_attempt_timeout(config.operation_timeout)
                .read_timeout(config.read_timeout)
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(config.max_attempts.max(1)));
    if let Some(endpoint) = endpoint {
        builder = builder.endpoint_url(endpoint);
    }
    if let (Some(id), Some(secret)) = (&config.access_key_id, &config.secret_access_key) {
        builder = builder.credentials_provider(Credentials::new(id, secret, None, None, "stowage-config"));
    }
    builder.build()
}

fn to_time(t: &aws_smithy_types::DateTime) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(t.secs())
        .ok()
        .map(|s| s + time::Duration::nanoseconds(i64::from(t.subsec_nanos())))
}

fn etag(raw: Option<&str>) -> Result<ETag, StorageError> {
    ETag::parse(raw.unwrap_or_default()).map_err(|e| StorageError::Unexpected(format!("the store returned {e}")))
}

/// A checksum header is base64 of the digest; a composite one ends in `-<parts>`.
fn stored_checksum(value: Option<&str>, kind: Option<&ChecksumType>) -> Option<StoredChecksum> {
    let value = value?;
    if matches!(kind, Some(ChecksumType::Composite)) || value.contains('-') {
        return Some(StoredChecksum::Composite(value.to_owned()));
    }
    let bytes: [u8; 32] = BASE64.decode(value).ok()?.try_into().ok()?;
    Some(StoredChecksum::FullObject(Sha256Hex::from_bytes(&bytes)))
}

fn presigned(request: &aws_sdk_s3::presigning::PresignedRequest, expires_in: Duration) -> PresignedRequest {
    PresignedRequest {
        url: request.uri().to_owned(),
        method: request.method().to_owned(),
        headers: request.headers().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
        expires_at: OffsetDateTime::now_utc() + expires_in,
    }
}

/// The headers a presigned PUT signs and its client must send, in the SDK's order.
fn put_headers(request: &PresignPut) -> Result<Vec<(&'static str, String)>, StorageError> {
    let mut headers = Vec::with_capacity(3);
    if let Some(length) = request.content_length {
        headers.push(("content-length", length.to_string()));
    }
    headers.push(("content-type", request.content_type.as_str().to_owned()));
    if let Some(sha) = &request.sha256 {
        let raw = hex::decode(sha.as_str()).map_err(|e| StorageError::Unexpected(e.to_string()))?;
        headers.push(("x-amz-checksum-sha256", BASE64.encode(raw)));
    }
    Ok(headers)
}

async fn load_credentials(
    provider: &aws_credential_types::provider::SharedCredentialsProvider,
) -> Result<Credentials, StorageError> {
    use aws_credential_types::provider::ProvideCredentials;
    provider
        .provide_credentials()
        .await
        .map_err(|e| StorageError::Misconfigured(format!("cannot load credentials: {e}")))
}

fn presigning(expires_in: Duration) -> Result<PresigningConfig, StorageError> {
    PresigningConfig::expires_in(expires_in).map_err(|e| StorageError::Misconfigured(format!("cannot presign: {e}")))
}

impl S3ObjectStore {
    /// Builds the clients. With static keys nothing is probed; without, the standard AWS
    /// credential chain is loaded (environment, profile, web identity, container, instance).
    pub async fn new(config: S3Config) -> Self {
        let (base, credentials) = if let (Some(id), Some(secret)) = (&config.access_key_id, &config.secret_access_key) {
            let fixed = Credentials::new(id, secret, None, None, "stowage-config");
            (
                aws_sdk_s3::config::Builder::new().behavior_version(BehaviorVersion::latest()),
                Some(aws_credential_types::provider::SharedCredentialsProvider::new(fixed)),
            )
        } else {
            let shared =
                aws_config::defaults(BehaviorVersion::latest()).region(Region::new(config.region.clone())).load().await;
            (aws_sdk_s3::config::Builder::from(&shared), shared.credentials_provider())
        };
        let client = Client::from_conf(sdk_config(&config, base.clone(), config.endpoint.as_ref()));
        let presigner = match &config.public_endpoint {
            Some(public) => Client::from_conf(sdk_config(&config, base, Some(public))),
            None => client.clone(),
        };
        Self { client, presigner, config, credentials, put_address: std::sync::Arc::default() }
    }

    /// The configuration in use.
    #[must_use]
    pub fn config(&self) -> &S3Config {
        &self.config
    }

    fn full_key(&self, key: &ObjectKey) -> String {
        format!("{}{}", self.config.key_prefix, key)
    }

    /// Where PUTs go, as the SDK addresses the bucket: learnt by presigning a placeholder once.
    async fn put_address(&self) -> Result<presign::Address, StorageError> {
        if let Some(address) = self.put_address.get() {
            return Ok(address.clone());
        }
        let put = self.presigner.put_object().bucket(&self.config.bucket).key(presign::PLACEHOLDER_KEY);
        let signed = put.presigned(presigning(Duration::from_secs(60))?).await.map_err(|e| self.err("PutObject", e))?;
        let address = presign::Address::from_presigned(signed.uri())
            .ok_or_else(|| StorageError::Misconfigured(format!("unexpected presigned URL shape: {}", signed.uri())))?;
        Ok(self.put_address.get_or_init(|| address).clone())
    }

    /// A presigned PUT through the SDK's pipeline (when no credentials provider is at hand).
    async fn sdk_presign_put(&self, request: &PresignPut) -> Result<PresignedRequest, StorageError> {
        let mut put = self
            .presigner
            .put_object()
            .bucket(&self.config.bucket)
            .key(self.full_key(&request.key))
            .content_type(request.content_type.as_str());
        if let Some(length) = request.content_length {
            put = put.content_length(i64::try_from(length).unwrap_or(i64::MAX));
        }
        if let Some(sha) = &request.sha256 {
            let raw = hex::decode(sha.as_str()).map_err(|e| StorageError::Unexpected(e.to_string()))?;
            put = put.checksum_sha256(BASE64.encode(raw));
        }
        let signed = put.presigned(presigning(request.expires_in)?).await.map_err(|e| self.err("PutObject", e))?;
        Ok(presigned(&signed, request.expires_in))
    }

    fn err<E>(&self, op: &str, e: SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> StorageError
    where
        E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        from_sdk(op, &self.config.bucket, e)
    }

    /// Creates the configured bucket if it does not exist (development and test setups).
    ///
    /// # Errors
    /// The store's error when it cannot be created.
    pub async fn create_bucket(&self) -> Result<(), StorageError> {
        match self.client.create_bucket().bucket(&self.config.bucket).send().await {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if e.err().is_bucket_already_owned_by_you() => Ok(()),
            Err(e) => Err(self.err("CreateBucket", e)),
        }
    }

    /// Applies the CORS rules browser uploads need to the bucket: `origins` may GET, PUT, POST and
    /// HEAD with any header and read `ETag` (Uppy needs every part's) and `Location`.
    ///
    /// # Errors
    /// The store's error (e.g. a store without bucket CORS).
    pub async fn apply_browser_cors(&self, origins: &[String]) -> Result<(), StorageError> {
        use aws_sdk_s3::types::{CorsConfiguration, CorsRule};
        let invalid = |e: aws_sdk_s3::error::BuildError| StorageError::Misconfigured(e.to_string());
        let rule = CorsRule::builder()
            .set_allowed_origins(Some(origins.to_vec()))
            .set_allowed_methods(Some(["GET", "PUT", "POST", "HEAD"].map(str::to_owned).to_vec()))
            .allowed_headers("*")
            .expose_headers("ETag")
            .expose_headers("Location")
            .max_age_seconds(3600)
            .build()
            .map_err(invalid)?;
        let config = CorsConfiguration::builder().cors_rules(rule).build().map_err(invalid)?;
        self.client
            .put_bucket_cors()
            .bucket(&self.config.bucket)
            .cors_configuration(config)
            .send()
            .await
            .map_err(|e| self.err("PutBucketCors", e))?;
        Ok(())
    }

    /// Streams the object through SHA-256 and MD5, calling `progress` with the bytes hashed so
    /// far after every chunk.
    ///
    /// # Errors
    /// `Unavailable` when the stream cannot be opened or breaks; `Rejected` when the object is
    /// gone.
    pub async fn hash_with_progress(
        &self,
        key: &ObjectKey,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<ContentDigest, StorageError> {
        let output = self
            .client
            .get_object()
            .bucket(&self.config.bucket)
            .key(self.full_key(key))
            .send()
            .await
            .map_err(|e| self.err("GetObject", e))?;
        hash_body(output.body, progress).await
    }
}

/// Streams a GetObject body through SHA-256 and MD5, chunk by chunk as the SDK yields it.
async fn hash_body(
    mut body: aws_sdk_s3::primitives::ByteStream,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<ContentDigest, StorageError> {
    let mut hasher = Hasher::default();
    while let Some(chunk) =
        body.try_next().await.map_err(|e| StorageError::Unavailable(format!("GetObject: the stream broke: {e}")))?
    {
        hasher.update(&chunk);
        progress(hasher.bytes());
    }
    Ok(hasher.finish())
}

/// The head of an object from the headers HeadObject and GetObject share.
fn object_head(
    length: Option<i64>,
    e_tag: Option<&str>,
    checksum_sha256: Option<&str>,
    checksum_type: Option<&ChecksumType>,
    content_type: Option<&str>,
    last_modified: Option<&aws_smithy_types::DateTime>,
) -> Result<ObjectHead, StorageError> {
    Ok(ObjectHead {
        size: u64::try_from(length.unwrap_or_default()).unwrap_or(0),
        etag: etag(e_tag)?,
        sha256: stored_checksum(checksum_sha256, checksum_type),
        content_type: content_type.map(str::to_owned),
        last_modified: last_modified.and_then(to_time),
    })
}

#[async_trait]
impl ObjectStore for S3ObjectStore {
    async fn presign_put(&self, request: &PresignPut) -> Result<PresignedRequest, StorageError> {
        let Some(provider) = &self.credentials else { return self.sdk_presign_put(request).await };
        let address = self.put_address().await?;
        let credentials = load_credentials(provider).await?;
        let headers = put_headers(request)?;
        let now = std::time::SystemTime::now();
        let key = self.full_key(&request.key);
        let put = presign::Put { key: &key, headers: &headers, now, expires_in: request.expires_in };
        let url = presign::presign_put(&address, &credentials, &self.config.region, &put)
            .map_err(|e| StorageError::Misconfigured(format!("cannot presign: {e}")))?;
        Ok(PresignedRequest {
            url,
            method: "PUT".to_owned(),
            headers: headers.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            expires_at: OffsetDateTime::from(now) + request.expires_in,
        })
    }

    async fn presign_post(&self, request: &PresignPut) -> Result<Option<PresignedPost>, StorageError> {
        let provider = self
            .credentials
            .as_ref()
            .ok_or_else(|| StorageError::Misconfigured("no credentials to sign a form POST with".to_owned()))?;
        let credentials = load_credentials(provider).await?;
        // The bucket's URL as the SDK addresses it (path or virtual-host style, public endpoint).
        let full_key = self.full_key(&request.key);
        let url = self.put_address().await?.base;
        let signer = post::Signer {
            access_key_id: credentials.access_key_id(),
            secret_access_key: credentials.secret_access_key(),
            session_token: credentials.session_token(),
            region: &self.config.region,
        };
        let checksum_sha256 = match &request.sha256 {
            Some(sha) => {
                Some(BASE64.encode(hex::decode(sha.as_str()).map_err(|e| StorageError::Unexpected(e.to_string()))?))
            }
            None => None,
        };
        let form = post::Form {
            bucket: &self.config.bucket,
            key: &full_key,
            content_type: request.content_type.as_str(),
            length: request.content_length,
            max_length: request.max_length.unwrap_or(5 * 1024 * 1024 * 1024),
            checksum_sha256,
        };
        let now = OffsetDateTime::now_utc();
        let expires_at = now + request.expires_in;
        Ok(Some(PresignedPost { url, fields: post::fields(&signer, &form, now, expires_at), expires_at }))
    }

    async fn presign_get(&self, key: &ObjectKey, expires_in: Duration) -> Result<PresignedRequest, StorageError> {
        let get = self.presigner.get_object().bucket(&self.config.bucket).key(self.full_key(key));
        let signed = get.presigned(presigning(expires_in)?).await.map_err(|e| self.err("GetObject", e))?;
        Ok(presigned(&signed, expires_in))
    }

    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectHead>, StorageError> {
        let result = self
            .client
            .head_object()
            .bucket(&self.config.bucket)
            .key(self.full_key(key))
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(SdkError::ServiceError(e)) if e.err().is_not_found() => return Ok(None),
            Err(e) => return Err(self.err("HeadObject", e)),
        };
        let head = object_head(
            out.content_length(),
            out.e_tag(),
            out.checksum_sha256(),
            out.checksum_type(),
            out.content_type(),
            out.last_modified(),
        )?;
        Ok(Some(head))
    }

    async fn hash(&self, key: &ObjectKey) -> Result<ContentDigest, StorageError> {
        self.hash_with_progress(key, &|_| {}).await
    }

    /// One GetObject (checksum mode on): its headers are the head, its body is hashed when small
    /// enough and not already checksummed by the store — one request instead of HeadObject and
    /// GetObject, describing one version of the object.
    async fn head_and_hash(
        &self,
        key: &ObjectKey,
        max_size: u64,
    ) -> Result<Option<(ObjectHead, Option<ContentDigest>)>, StorageError> {
        let result = self
            .client
            .get_object()
            .bucket(&self.config.bucket)
            .key(self.full_key(key))
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(SdkError::ServiceError(e)) if e.err().is_no_such_key() => return Ok(None),
            Err(e) => return Err(self.err("GetObject", e)),
        };
        let head = object_head(
            out.content_length(),
            out.e_tag(),
            out.checksum_sha256(),
            out.checksum_type(),
            out.content_type(),
            out.last_modified(),
        )?;
        if head.size > max_size || matches!(head.sha256, Some(StoredChecksum::FullObject(_))) {
            // The body is dropped unread: the SDK closes the connection instead of draining it.
            return Ok(Some((head, None)));
        }
        let digest = hash_body(out.body, &|_| {}).await?;
        Ok(Some((head, Some(digest))))
    }

    async fn read_prefix(&self, key: &ObjectKey, len: u64) -> Result<Vec<u8>, StorageError> {
        if len == 0 {
            return Ok(Vec::new());
        }
        let output = self
            .client
            .get_object()
            .bucket(&self.config.bucket)
            .key(self.full_key(key))
            .range(format!("bytes=0-{}", len - 1))
            .send()
            .await
            .map_err(|e| self.err("GetObject", e))?;
        let bytes = output
            .body
            .collect()
            .await
            .map_err(|e| StorageError::Unavailable(format!("GetObject: the stream broke: {e}")))?;
        Ok(bytes.into_bytes().to_vec())
    }

    async fn create_multipart(&self, key: &ObjectKey, content_type: &ContentType) -> Result<String, StorageError> {
        let out = self
            .client
            .create_multipart_upload()
            .bucket(&self.config.bucket)
            .key(self.full_key(key))
            .content_type(content_type.as_str())
            .send()
            .await
            .map_err(|e| self.err("CreateMultipartUpload", e))?;
        out.upload_id().map(str::to_owned).ok_or_else(|| StorageError::Unexpected("no upload id returned".into()))
    }

    async fn presign_part(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        part_number: u32,
        expires_in: Duration,
    ) -> Result<PresignedRequest, StorageError> {
        let part = self
            .presigner
            .upload_part()
            .bucket(&self.config.bucket)
            .key(self.full_key(key))
            .upload_id(upload_id)
            .part_number(i32::try_from(part_number).unwrap_or(i32::MAX));
        let signed = part.presigned(presigning(expires_in)?).await.map_err(|e| self.err("UploadPart", e))?;
        Ok(presigned(&signed, expires_in))
    }

    async fn list_parts(&self, key: &ObjectKey, upload_id: &str) -> Result<Vec<PartInfo>, StorageError> {
        let mut parts = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let out = self
                .client
                .list_parts()
                .bucket(&self.config.bucket)
                .key(self.full_key(key))
                .upload_id(upload_id)
                .set_part_number_marker(marker.take())
                .send()
                .await
                .map_err(|e| self.err("ListParts", e))?;
            for p in out.parts() {
                parts.push(PartInfo {
                    part_number: u32::try_from(p.part_number().unwrap_or_default()).unwrap_or(0),
                    etag: etag(p.e_tag())?,
                    size: u64::try_from(p.size().unwrap_or_default()).unwrap_or(0),
                });
            }
            match (out.is_truncated(), out.next_part_number_marker()) {
                (Some(true), Some(next)) => marker = Some(next.to_owned()),
                _ => break,
            }
        }
        parts.sort_by_key(|p| p.part_number);
        Ok(parts)
    }

    async fn complete_multipart(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        parts: &[PartInfo],
    ) -> Result<ObjectHead, StorageError> {
        let completed = CompletedMultipartUpload::builder()
            .set_parts(Some(
                parts
                    .iter()
                    .map(|p| {
                        CompletedPart::builder()
                            .part_number(i32::try_from(p.part_number).unwrap_or(i32::MAX))
                            .e_tag(format!("\"{}\"", p.etag))
                            .build()
                    })
                    .collect(),
            ))
            .build();
        let result = self
            .client
            .complete_multipart_upload()
            .bucket(&self.config.bucket)
            .key(self.full_key(key))
            .upload_id(upload_id)
            .multipart_upload(completed)
            .send()
            .await
            .map_err(|e| self.err("CompleteMultipartUpload", e));
        match result {
            // Some stores (Garage, MinIO) forget a completed upload: a repeated complete is
            // answered from the object itself when it is there.
            Ok(_) | Err(StorageError::NoSuchUpload) => self.head(key).await?.ok_or(StorageError::NoSuchUpload),
            Err(e) => Err(e),
        }
    }

    async fn abort_multipart(&self, key: &ObjectKey, upload_id: &str) -> Result<(), StorageError> {
        let result = self
            .client
            .abort_multipart_upload()
            .bucket(&self.config.bucket)
            .key(self.full_key(key))
            .upload_id(upload_id)
            .send()
            .await
            .map_err(|e| self.err("AbortMultipartUpload", e));
        match result {
            Ok(_) | Err(StorageError::NoSuchUpload) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), StorageError> {
        self.client
            .delete_object()
            .bucket(&self.config.bucket)
            .key(self.full_key(key))
            .send()
            .await
            .map(drop)
            .map_err(|e| self.err("DeleteObject", e))
    }

    async fn list(&self, prefix: &str, page_token: Option<String>) -> Result<ListPage, StorageError> {
        let out = self
            .client
            .list_objects_v2()
            .bucket(&self.config.bucket)
            .prefix(format!("{}{prefix}", self.config.key_prefix))
            .set_continuation_token(page_token)
            .send()
            .await
            .map_err(|e| self.err("ListObjectsV2", e))?;
        let mut objects = Vec::new();
        for o in out.contents() {
            let Some(full) = o.key() else { continue };
            let Some(key) = full.strip_prefix(&self.config.key_prefix).and_then(|k| ObjectKey::parse(k).ok()) else {
                continue;
            };
            objects.push(ListedObject {
                key,
                size: u64::try_from(o.size().unwrap_or_default()).unwrap_or(0),
                last_modified: o.last_modified().and_then(to_time),
            });
        }
        let next = out.next_continuation_token().map(str::to_owned).filter(|_| out.is_truncated() == Some(true));
        Ok(ListPage { objects, next })
    }

    fn locator(&self, key: &ObjectKey) -> String {
        format!("s3://{}/{}", self.config.bucket, self.full_key(key))
    }

    async fn ping(&self) -> Result<(), StorageError> {
        match self.client.head_bucket().bucket(&self.config.bucket).send().await {
            Ok(_) => Ok(()),
            // A HEAD answer has no body, so the missing bucket shows only as a 404.
            Err(SdkError::ServiceError(e)) if e.err().is_not_found() => {
                Err(StorageError::Misconfigured(format!("bucket `{}` does not exist", self.config.bucket)))
            }
            Err(e) => Err(self.err("HeadBucket", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{SystemTime, UNIX_EPOCH};

    fn store(endpoint: &str, path_style: bool, prefix: &str) -> S3Config {
        S3Config {
            endpoint: Some(endpoint.to_owned()),
            region: "garage".to_owned(),
            bucket: "uploads".to_owned(),
            key_prefix: prefix.to_owned(),
            force_path_style: path_style,
            access_key_id: Some("GKexample".to_owned()),
            secret_access_key: Some("secret/with+chars".to_owned()),
            ..S3Config::default()
        }
    }

    /// What the SDK's fluent presigner answers for the same PUT at the same time.
    async fn sdk(store: &S3ObjectStore, request: &PresignPut, at: SystemTime) -> (String, Vec<(String, String)>) {
        let mut put = store
            .presigner
            .put_object()
            .bucket(&store.config.bucket)
            .key(store.full_key(&request.key))
            .content_type(request.content_type.as_str());
        if let Some(length) = request.content_length {
            put = put.content_length(i64::try_from(length).unwrap_or(i64::MAX));
        }
        if let Some(sha) = &request.sha256 {
            put = put.checksum_sha256(BASE64.encode(hex::decode(sha.as_str()).unwrap_or_default()));
        }
        let config = PresigningConfig::builder().start_time(at).expires_in(request.expires_in).build();
        let signed = put.presigned(config.unwrap_or_else(|e| panic!("{e}"))).await.unwrap_or_else(|e| panic!("{e}"));
        let mut headers: Vec<(String, String)> = signed.headers().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        headers.sort();
        (signed.uri().to_owned(), headers)
    }

    #[tokio::test]
    async fn a_put_signed_without_the_pipeline_is_the_sdks_presigned_put_byte_for_byte() {
        let at = UNIX_EPOCH + Duration::from_secs(1_796_000_000);
        let odd = "ns_1/bkt_2/upl_3/ünïcode name (1)+%2F&x=y.bin";
        for (config, key, length, sha) in [
            (store("http://127.0.0.1:3900", true, ""), "ns/b/u/file.bin", Some(4096), Some([7u8; 32])),
            (store("http://127.0.0.1:3900", true, "tenant-a/"), odd, None, None),
            (store("https://s3.example.com", false, ""), odd, Some(1), Some([0u8; 32])),
            (store("https://minio.internal:9000/", true, ""), "a/b", None, Some([255u8; 32])),
        ] {
            let s3 = S3ObjectStore::new(config).await;
            let request = PresignPut {
                key: ObjectKey::parse(key).unwrap_or_else(|e| panic!("{key}: {e}")),
                content_type: ContentType::parse("image/png; charset=x").unwrap_or_else(|e| panic!("{e}")),
                content_length: length,
                sha256: sha.map(|b| Sha256Hex::from_bytes(&b)),
                max_length: None,
                expires_in: Duration::from_secs(900),
            };
            let (want_url, want_headers) = sdk(&s3, &request, at).await;
            let address = s3.put_address().await.unwrap_or_else(|e| panic!("{e}"));
            let credentials = load_credentials(s3.credentials.as_ref().unwrap_or_else(|| panic!("static keys")))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let headers = put_headers(&request).unwrap_or_else(|e| panic!("{e}"));
            let full_key = s3.full_key(&request.key);
            let put = presign::Put { key: &full_key, headers: &headers, now: at, expires_in: request.expires_in };
            let got = presign::presign_put(&address, &credentials, "garage", &put).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(got, want_url, "{key}");
            let mut got_headers: Vec<(String, String)> = headers.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            got_headers.sort();
            assert_eq!(got_headers, want_headers, "{key}");
        }
    }
}
