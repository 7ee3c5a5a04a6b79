//! [`DiskStore`]: the `ObjectStore` port on a local directory, in the style of Rails
//! ActiveStorage's Disk service, so stowage runs without any S3 server.
//!
//! Clients still upload directly, not through the API: a presigned URL points at stowage's own
//! storage route (`/storage/...`, mounted by the server) and carries a token — claims signed with
//! HMAC-SHA256 — that binds the operation, the key, the content type, the declared length, the
//! declared SHA-256 and an expiry. The route streams the body into a temporary file while
//! computing MD5 and SHA-256, refuses what does not match the token with the status codes S3 uses
//! (403 for a bad or expired signature or another content type or length, 400 for a bad digest or
//! a short body), and renames the file into place atomically. Nothing is left behind on refusal.
//!
//! Layout under the root: `objects/<key>` (bytes), `meta/<key>.json` (etag, size, SHA-256,
//! content type), `multipart/<id>/` (parts of unfinished multipart uploads), `tmp/` (files being
//! received).

mod token;

pub use token::{Denied, Grant, Op};

use async_trait::async_trait;
use futures_util::{Stream, StreamExt};
use md5::Md5;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Duration;
use stowage_domain::content::{ContentDigest, ETag, Sha256Hex, StoredChecksum};
use stowage_domain::error::StorageError;
use stowage_domain::names::{ContentType, ObjectKey};
use stowage_domain::ports::{
    ListPage, ListedObject, ObjectHead, ObjectStore, PartInfo, PresignPut, PresignedPost, PresignedRequest,
};
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The route the server mounts for signed transfers.
pub const ROUTE: &str = "/storage";

/// The form field of a form POST that carries the signed token (S3's policy and signature).
pub const FORM_TOKEN_FIELD: &str = "token";
/// The header carrying a signed SHA-256 (base64 of the digest), as on S3.
pub const CHECKSUM_HEADER: &str = "x-amz-checksum-sha256";

/// Base64 of the digest whose hex is `sha_hex`.
fn checksum_header_value(sha_hex: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(hex::decode(sha_hex).unwrap_or_default())
}

/// Keys per listing page (as S3).
const PAGE: usize = 1000;

/// What the store records next to each object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// MD5 hex of the content, or the multipart form `md5-of-part-md5s-N`.
    pub etag: String,
    /// Bytes.
    pub size: u64,
    /// SHA-256 hex of the content (always known: computed while receiving).
    pub sha256: String,
    /// The content type of the PUT.
    pub content_type: Option<String>,
}

/// The request headers a transfer is checked against.
#[derive(Debug, Clone, Copy, Default)]
pub struct Headers<'a> {
    /// `Content-Type`.
    pub content_type: Option<&'a str>,
    /// `Content-Length`.
    pub content_length: Option<u64>,
    /// `x-amz-checksum-sha256`.
    pub checksum_sha256: Option<&'a str>,
}

/// Why a transfer was refused: an HTTP status and an S3-style error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Refused {
    /// 400, 403 or 404 (500 for local I/O failures).
    pub status: u16,
    /// `SignatureDoesNotMatch`, `AccessDenied`, `BadDigest`, `IncompleteBody`, `NoSuchKey`, ...
    pub code: &'static str,
    /// For people.
    pub message: String,
}

fn refused(status: u16, code: &'static str, message: impl Into<String>) -> Refused {
    Refused { status, code, message: message.into() }
}

impl From<Denied> for Refused {
    fn from(d: Denied) -> Self {
        match d {
            Denied::Expired => refused(403, "AccessDenied", "Request has expired"),
            Denied::Malformed | Denied::BadSignature => {
                refused(403, "SignatureDoesNotMatch", "The request signature does not match")
            }
            Denied::WrongOperation => refused(403, "AccessDenied", "The token does not allow this operation"),
            Denied::KeyOutsideStore => refused(403, "AccessDenied", "The key is not a path inside the store"),
        }
    }
}

fn too_large(cap: u64) -> Refused {
    refused(413, "EntityTooLarge", format!("Your proposed upload exceeds the maximum allowed size ({cap} bytes)"))
}

/// The shortest signing secret a store accepts: anyone who can guess the secret can forge upload
/// and download tokens.
pub const MIN_SECRET_BYTES: usize = 32;

/// What the store accepts, whatever a token allows: every write is bounded, and writes stop
/// before the volume (which usually holds the database too) fills up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest whole object one PUT may write.
    pub max_object_bytes: u64,
    /// The largest part of a multipart upload.
    pub max_part_bytes: u64,
    /// Writes are refused (507) when they would leave less than this free on the volume.
    pub min_free_bytes: u64,
}

impl Default for Limits {
    /// S3's limits (5 GiB per PUT and per part), and 1 GiB kept free.
    fn default() -> Self {
        Self { max_object_bytes: 5 << 30, max_part_bytes: 5 << 30, min_free_bytes: 1 << 30 }
    }
}

/// The object store on a local directory.
#[derive(Debug, Clone)]
pub struct DiskStore {
    root: PathBuf,
    public_url: String,
    download_url: Option<String>,
    secret: Vec<u8>,
    limits: Limits,
}

fn io(e: &std::io::Error) -> StorageError {
    StorageError::Unavailable(format!("local storage: {e}"))
}

fn now_unix() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// Percent-encodes a key for a URL path, keeping `/`.
fn encode_path(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl DiskStore {
    /// A store under `root` whose URLs start with `public_url` (how clients reach stowage, e.g.
    /// `http://127.0.0.1:8080`), signing tokens with `secret`. Creates the directories.
    ///
    /// # Errors
    /// `Misconfigured` for a secret shorter than [`MIN_SECRET_BYTES`]; when the directories cannot
    /// be created.
    pub fn new(root: impl Into<PathBuf>, public_url: &str, secret: &[u8]) -> Result<Self, StorageError> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(StorageError::Misconfigured(format!(
                "the local-disk store's signing secret has {} bytes; it needs at least {MIN_SECRET_BYTES}",
                secret.len()
            )));
        }
        let root = root.into();
        for dir in ["objects", "meta", "multipart", "tmp"] {
            std::fs::create_dir_all(root.join(dir)).map_err(|e| io(&e))?;
        }
        Ok(Self {
            root,
            public_url: public_url.trim_end_matches('/').to_owned(),
            download_url: None,
            secret: secret.to_vec(),
            limits: Limits::default(),
        })
    }

    /// The same store with download URLs on another origin (`https://files.example.com`), so user
    /// content is never served from the API's origin; the route then refuses downloads that
    /// arrive under any other host. `None` keeps them on the public URL.
    #[must_use]
    pub fn with_download_url(self, download_url: Option<&str>) -> Self {
        Self { download_url: download_url.map(|u| u.trim_end_matches('/').to_owned()), ..self }
    }

    /// The separate origin downloads are served from, if one is configured.
    #[must_use]
    pub fn download_url(&self) -> Option<&str> {
        self.download_url.as_deref()
    }

    /// The same store with other [`Limits`].
    #[must_use]
    pub fn with_limits(self, limits: Limits) -> Self {
        Self { limits, ..self }
    }

    /// The most bytes a write with `grant` may carry: its exact or maximum length, and never
    /// more than the store accepts for a whole object or a part.
    fn cap(&self, grant: &Grant) -> u64 {
        let store = if grant.op == Op::Part { self.limits.max_part_bytes } else { self.limits.max_object_bytes };
        [grant.len, grant.max_len].into_iter().flatten().fold(store, u64::min)
    }

    /// Refuses a write of about `expected` bytes that would leave less than the free-space floor.
    fn check_free_space(&self, expected: u64) -> Result<(), Refused> {
        let available = fs4::available_space(&self.root).map_err(|e| refused(500, "InternalError", e.to_string()))?;
        if available < self.limits.min_free_bytes.saturating_add(expected) {
            return Err(refused(507, "InsufficientStorage", "the server's disk is too full to accept this upload"));
        }
        Ok(())
    }

    /// Where the objects live.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn data_path(&self, key: &str) -> PathBuf {
        self.root.join("objects").join(key)
    }

    fn meta_path(&self, key: &str) -> PathBuf {
        self.root.join("meta").join(format!("{key}.json"))
    }

    fn multipart_dir(&self, id: &str) -> Option<PathBuf> {
        uuid::Uuid::parse_str(id).ok().map(|id| self.root.join("multipart").join(id.simple().to_string()))
    }

    fn url(&self, grant: &Grant) -> String {
        let base = match (&self.download_url, grant.op) {
            (Some(download), Op::Get) => download,
            _ => &self.public_url,
        };
        format!("{base}{ROUTE}/{}?token={}", encode_path(&grant.key), token::sign(&self.secret, grant))
    }

    fn presigned(&self, grant: &Grant, method: &str, headers: Vec<(String, String)>) -> PresignedRequest {
        PresignedRequest {
            url: self.url(grant),
            method: method.to_owned(),
            headers,
            expires_at: OffsetDateTime::from_unix_timestamp(grant.exp).unwrap_or(OffsetDateTime::UNIX_EPOCH),
        }
    }

    /// Where an object lives on this store's route (a form POST's `Location`; reading it needs a
    /// signed URL).
    #[must_use]
    pub fn location(&self, key: &str) -> String {
        format!("{}{ROUTE}/{}", self.public_url, encode_path(key))
    }

    /// Checks a token for `op` now.
    ///
    /// # Errors
    /// [`Denied`] says why it is not accepted.
    pub fn authorize(&self, token: &str, op: Op) -> Result<Grant, Denied> {
        let grant = token::verify(&self.secret, token, op, now_unix())?;
        if self.is_inside(&grant.key) { Ok(grant) } else { Err(Denied::KeyOutsideStore) }
    }

    /// True when `key` is a valid object key (relative, no `.`/`..` segments) and no existing
    /// directory on its way under `objects/` is a symlink. stowage only signs keys it made, so
    /// this holds for every honest token; it guards against a leaked secret or a future bug.
    fn is_inside(&self, key: &str) -> bool {
        if stowage_domain::names::ObjectKey::parse(key).is_err() {
            return false;
        }
        let mut path = self.root.join("objects");
        for segment in key.split('/') {
            path.push(segment);
            match std::fs::symlink_metadata(&path) {
                Ok(meta) if meta.file_type().is_symlink() => return false,
                Ok(_) => {}
                Err(_) => return true,
            }
        }
        true
    }

    async fn read_meta(&self, key: &str) -> Result<Option<Meta>, StorageError> {
        match tokio::fs::read(self.meta_path(key)).await {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| StorageError::Unexpected(format!("corrupt metadata of {key}: {e}"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&e)),
        }
    }

    async fn write_atomically(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let tmp = self.root.join("tmp").join(uuid::Uuid::new_v4().simple().to_string());
        tokio::fs::write(&tmp, bytes).await?;
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        tokio::fs::rename(&tmp, path).await
    }

    /// Streams `body` into a temporary file, computing MD5 and SHA-256, and checks it against
    /// the grant. Returns the temporary file, the digests and the size; removes the file on
    /// refusal.
    async fn receive_to_tmp<S, B>(&self, grant: &Grant, body: S) -> Result<(PathBuf, String, String, u64), Refused>
    where
        S: Stream<Item = Result<B, std::io::Error>> + Unpin,
        B: AsRef<[u8]>,
    {
        let tmp = self.root.join("tmp").join(uuid::Uuid::new_v4().simple().to_string());
        let result = async {
            let mut file =
                tokio::fs::File::create(&tmp).await.map_err(|e| refused(500, "InternalError", e.to_string()))?;
            let (mut md5, mut sha) = (Md5::new(), Sha256::new());
            let mut size = 0u64;
            let mut body = body;
            let cap = self.cap(grant);
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| refused(400, "IncompleteBody", e.to_string()))?;
                let bytes = chunk.as_ref();
                size += bytes.len() as u64;
                if grant.len.is_some_and(|len| size > len) {
                    return Err(refused(400, "IncompleteBody", "the body is longer than its declared length"));
                }
                if size > cap {
                    return Err(too_large(cap));
                }
                md5.update(bytes);
                sha.update(bytes);
                file.write_all(bytes).await.map_err(|e| refused(500, "InternalError", e.to_string()))?;
            }
            file.sync_all().await.map_err(|e| refused(500, "InternalError", e.to_string()))?;
            if let Some(len) = grant.len.filter(|len| *len != size) {
                return Err(refused(400, "IncompleteBody", format!("received {size} of {len} declared bytes")));
            }
            let sha = hex::encode(sha.finalize());
            if let Some(declared) = grant.sha256.as_ref().filter(|d| **d != sha) {
                return Err(refused(400, "BadDigest", format!("the content's SHA-256 is {sha}, not {declared}")));
            }
            Ok((hex::encode(md5.finalize()), sha, size))
        }
        .await;
        match result {
            Ok((md5, sha, size)) => Ok((tmp, md5, sha, size)),
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                Err(e)
            }
        }
    }

    /// Receives a signed PUT (a whole object or a part) and answers the ETag to send back.
    /// `content_type` and `content_length` are the request's headers.
    ///
    /// # Errors
    /// [`Refused`] with the status and code S3 would use; nothing is stored then.
    pub async fn receive<S, B>(&self, grant: &Grant, headers: &Headers<'_>, body: S) -> Result<String, Refused>
    where
        S: Stream<Item = Result<B, std::io::Error>> + Unpin,
        B: AsRef<[u8]>,
    {
        if let Some(signed) = &grant.content_type
            && headers.content_type != Some(signed.as_str())
        {
            return Err(refused(403, "SignatureDoesNotMatch", "the Content-Type differs from the signed one"));
        }
        if let (Some(signed), Some(sent)) = (grant.len, headers.content_length)
            && signed != sent
        {
            return Err(refused(403, "SignatureDoesNotMatch", "the Content-Length differs from the signed one"));
        }
        if let Some(signed) = &grant.sha256
            && headers.checksum_sha256 != Some(checksum_header_value(signed).as_str())
        {
            return Err(refused(
                403,
                "SignatureDoesNotMatch",
                "the x-amz-checksum-sha256 header differs from the signed one",
            ));
        }
        if headers.content_length.is_some_and(|sent| sent > self.cap(grant)) {
            return Err(too_large(self.cap(grant)));
        }
        self.check_free_space(headers.content_length.unwrap_or_default())?;
        let (tmp, md5, sha, size) = self.receive_to_tmp(grant, body).await?;
        let internal = |e: std::io::Error| refused(500, "InternalError", e.to_string());
        match (grant.op, &grant.upload_id, grant.part) {
            (Op::Part, Some(upload), Some(part)) => {
                let Some(dir) = self.multipart_dir(upload).filter(|d| d.is_dir()) else {
                    let _ = tokio::fs::remove_file(&tmp).await;
                    return Err(refused(404, "NoSuchUpload", "the multipart upload does not exist"));
                };
                let meta = Meta { etag: md5.clone(), size, sha256: sha, content_type: None };
                let meta_json = serde_json::to_vec(&meta).map_err(|e| refused(500, "InternalError", e.to_string()))?;
                tokio::fs::rename(&tmp, dir.join(format!("{part:05}.part"))).await.map_err(internal)?;
                self.write_atomically(&dir.join(format!("{part:05}.json")), &meta_json).await.map_err(internal)?;
                Ok(md5)
            }
            _ => {
                let meta = Meta {
                    etag: md5.clone(),
                    size,
                    sha256: sha,
                    content_type: headers.content_type.map(str::to_owned),
                };
                self.install(&tmp, &grant.key, &meta).await.map_err(internal)?;
                Ok(md5)
            }
        }
    }

    /// Moves a received file into place, then its metadata.
    async fn install(&self, tmp: &Path, key: &str, meta: &Meta) -> std::io::Result<()> {
        let path = self.data_path(key);
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        tokio::fs::rename(tmp, &path).await?;
        self.write_atomically(&self.meta_path(key), &serde_json::to_vec(meta).map_err(std::io::Error::other)?).await
    }

    /// Opens an object for a signed GET: the file and its metadata.
    ///
    /// # Errors
    /// `404 NoSuchKey` when it is not stored.
    pub async fn open(&self, grant: &Grant) -> Result<(tokio::fs::File, Meta), Refused> {
        let missing = || refused(404, "NoSuchKey", "The specified key does not exist.");
        let meta = self.read_meta(&grant.key).await.map_err(|e| refused(500, "InternalError", e.to_string()))?;
        let meta = meta.ok_or_else(missing)?;
        let file = tokio::fs::File::open(self.data_path(&grant.key)).await.map_err(|_| missing())?;
        Ok((file, meta))
    }

    /// What a presigned PUT (or form POST) of `request` allows.
    fn put_grant(&self, request: &PresignPut) -> Grant {
        let mut grant = self.grant(Op::Put, &request.key, request.expires_in);
        grant.content_type = Some(request.content_type.to_string());
        grant.len = request.content_length;
        grant.max_len = request.max_length;
        grant.sha256 = request.sha256.as_ref().map(ToString::to_string);
        grant
    }

    fn grant(&self, op: Op, key: &ObjectKey, expires_in: Duration) -> Grant {
        Grant {
            op,
            key: key.as_str().to_owned(),
            content_type: None,
            len: None,
            max_len: None,
            sha256: None,
            upload_id: None,
            part: None,
            exp: now_unix().saturating_add(i64::try_from(expires_in.as_secs()).unwrap_or(i64::MAX)),
        }
    }
}

fn head_of(meta: &Meta, modified: Option<OffsetDateTime>) -> Result<ObjectHead, StorageError> {
    let sha = Sha256Hex::parse(&meta.sha256).map_err(|e| StorageError::Unexpected(e.to_string()))?;
    Ok(ObjectHead {
        size: meta.size,
        etag: ETag::parse(&meta.etag).map_err(|e| StorageError::Unexpected(e.to_string()))?,
        // Computed over the whole content while receiving (or assembling): a full-object hash.
        sha256: Some(StoredChecksum::FullObject(sha)),
        content_type: meta.content_type.clone(),
        last_modified: modified,
    })
}

fn modified(meta: &std::fs::Metadata) -> Option<OffsetDateTime> {
    meta.modified().ok().map(OffsetDateTime::from)
}

#[async_trait]
impl ObjectStore for DiskStore {
    async fn presign_put(&self, request: &PresignPut) -> Result<PresignedRequest, StorageError> {
        let grant = self.put_grant(request);
        // The same headers an S3 presigned PUT lists, so clients treat both stores alike.
        let mut headers = vec![("content-type".to_owned(), request.content_type.to_string())];
        if let Some(len) = request.content_length {
            headers.push(("content-length".to_owned(), len.to_string()));
        }
        if let Some(sha) = &request.sha256 {
            headers.push((CHECKSUM_HEADER.to_owned(), checksum_header_value(sha.as_str())));
        }
        Ok(self.presigned(&grant, "PUT", headers))
    }

    async fn presign_post(&self, request: &PresignPut) -> Result<Option<PresignedPost>, StorageError> {
        let grant = self.put_grant(request);
        // S3's field names where S3 has one; the signed token replaces the policy.
        let mut fields = vec![
            ("key".to_owned(), grant.key.clone()),
            ("Content-Type".to_owned(), request.content_type.to_string()),
            ("success_action_status".to_owned(), "201".to_owned()),
        ];
        if let Some(sha) = &request.sha256 {
            fields.push((CHECKSUM_HEADER.to_owned(), checksum_header_value(sha.as_str())));
        }
        fields.push((FORM_TOKEN_FIELD.to_owned(), token::sign(&self.secret, &grant)));
        Ok(Some(PresignedPost {
            url: format!("{}{ROUTE}", self.public_url),
            fields,
            expires_at: OffsetDateTime::from_unix_timestamp(grant.exp).unwrap_or(OffsetDateTime::UNIX_EPOCH),
        }))
    }

    async fn presign_get(&self, key: &ObjectKey, expires_in: Duration) -> Result<PresignedRequest, StorageError> {
        Ok(self.presigned(&self.grant(Op::Get, key, expires_in), "GET", Vec::new()))
    }

    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectHead>, StorageError> {
        let Some(meta) = self.read_meta(key.as_str()).await? else { return Ok(None) };
        match tokio::fs::metadata(self.data_path(key.as_str())).await {
            Ok(file) => head_of(&meta, modified(&file)).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&e)),
        }
    }

    async fn hash(&self, key: &ObjectKey) -> Result<ContentDigest, StorageError> {
        let mut file = tokio::fs::File::open(self.data_path(key.as_str()))
            .await
            .map_err(|e| StorageError::Rejected(format!("{key}: {e}")))?;
        let (mut md5, mut sha) = (Md5::new(), Sha256::new());
        let mut buffer = vec![0u8; 256 * 1024];
        let mut bytes = 0u64;
        loop {
            let n = file.read(&mut buffer).await.map_err(|e| io(&e))?;
            if n == 0 {
                break;
            }
            md5.update(&buffer[..n]);
            sha.update(&buffer[..n]);
            bytes += n as u64;
        }
        let sha: [u8; 32] = sha.finalize().into();
        Ok(ContentDigest { sha256: Sha256Hex::from_bytes(&sha), md5_hex: hex::encode(md5.finalize()), bytes })
    }

    async fn read_prefix(&self, key: &ObjectKey, len: u64) -> Result<Vec<u8>, StorageError> {
        let file = tokio::fs::File::open(self.data_path(key.as_str()))
            .await
            .map_err(|e| StorageError::Rejected(format!("{key}: {e}")))?;
        let mut out = Vec::new();
        file.take(len).read_to_end(&mut out).await.map_err(|e| io(&e))?;
        Ok(out)
    }

    async fn create_multipart(&self, key: &ObjectKey, content_type: &ContentType) -> Result<String, StorageError> {
        let id = uuid::Uuid::new_v4();
        let dir = self.root.join("multipart").join(id.simple().to_string());
        tokio::fs::create_dir_all(&dir).await.map_err(|e| io(&e))?;
        let info = serde_json::json!({"key": key.as_str(), "content_type": content_type.as_str()});
        tokio::fs::write(dir.join("upload.json"), info.to_string()).await.map_err(|e| io(&e))?;
        Ok(id.to_string())
    }

    async fn presign_part(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        part_number: u32,
        expires_in: Duration,
    ) -> Result<PresignedRequest, StorageError> {
        let mut grant = self.grant(Op::Part, key, expires_in);
        grant.upload_id = Some(upload_id.to_owned());
        grant.part = Some(part_number);
        Ok(self.presigned(&grant, "PUT", Vec::new()))
    }

    async fn list_parts(&self, _key: &ObjectKey, upload_id: &str) -> Result<Vec<PartInfo>, StorageError> {
        let dir = self.multipart_dir(upload_id).filter(|d| d.is_dir()).ok_or(StorageError::NoSuchUpload)?;
        let mut parts = Vec::new();
        let mut entries = tokio::fs::read_dir(&dir).await.map_err(|e| io(&e))?;
        while let Some(entry) = entries.next_entry().await.map_err(|e| io(&e))? {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(number) = name.strip_suffix(".json").and_then(|n| n.parse::<u32>().ok()) else { continue };
            let meta: Meta = serde_json::from_slice(&tokio::fs::read(entry.path()).await.map_err(|e| io(&e))?)
                .map_err(|e| StorageError::Unexpected(e.to_string()))?;
            parts.push(PartInfo {
                part_number: number,
                etag: ETag::parse(&meta.etag).map_err(|e| StorageError::Unexpected(e.to_string()))?,
                size: meta.size,
            });
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
        let Some(dir) = self.multipart_dir(upload_id).filter(|d| d.is_dir()) else {
            // Completed before (or aborted): answer from the object when it is there, as S3 does.
            return self.head(key).await?.ok_or(StorageError::NoSuchUpload);
        };
        let info: serde_json::Value =
            serde_json::from_slice(&tokio::fs::read(dir.join("upload.json")).await.map_err(|e| io(&e))?)
                .map_err(|e| StorageError::Unexpected(e.to_string()))?;
        let tmp = self.root.join("tmp").join(uuid::Uuid::new_v4().simple().to_string());
        let mut out = tokio::fs::File::create(&tmp).await.map_err(|e| io(&e))?;
        let (mut sha, mut etags) = (Sha256::new(), Md5::new());
        let mut size = 0u64;
        let mut buffer = vec![0u8; 256 * 1024];
        for part in parts {
            let mut file = tokio::fs::File::open(dir.join(format!("{:05}.part", part.part_number)))
                .await
                .map_err(|_| StorageError::Rejected(format!("part {} was not uploaded", part.part_number)))?;
            let md5 = hex::decode(part.etag.as_str()).map_err(|e| StorageError::Unexpected(e.to_string()))?;
            etags.update(&md5);
            loop {
                let n = file.read(&mut buffer).await.map_err(|e| io(&e))?;
                if n == 0 {
                    break;
                }
                sha.update(&buffer[..n]);
                out.write_all(&buffer[..n]).await.map_err(|e| io(&e))?;
                size += n as u64;
            }
        }
        out.sync_all().await.map_err(|e| io(&e))?;
        let meta = Meta {
            etag: format!("{}-{}", hex::encode(etags.finalize()), parts.len()),
            size,
            sha256: hex::encode(sha.finalize()),
            content_type: info["content_type"].as_str().map(str::to_owned),
        };
        self.install(&tmp, key.as_str(), &meta).await.map_err(|e| io(&e))?;
        let _ = tokio::fs::remove_dir_all(&dir).await;
        self.head(key).await?.ok_or_else(|| StorageError::Unexpected("the assembled object vanished".into()))
    }

    async fn abort_multipart(&self, _key: &ObjectKey, upload_id: &str) -> Result<(), StorageError> {
        // Aborting twice succeeds, as on S3.
        match self.multipart_dir(upload_id).filter(|d| d.is_dir()) {
            Some(dir) => tokio::fs::remove_dir_all(dir).await.map_err(|e| io(&e)),
            None => Ok(()),
        }
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), StorageError> {
        for path in [self.meta_path(key.as_str()), self.data_path(key.as_str())] {
            match tokio::fs::remove_file(path).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(&e)),
            }
        }
        Ok(())
    }

    async fn list(&self, prefix: &str, page_token: Option<String>) -> Result<ListPage, StorageError> {
        let root = self.root.join("objects");
        let mut keys = Vec::new();
        let mut pending = vec![root.clone()];
        while let Some(dir) = pending.pop() {
            let mut entries = match tokio::fs::read_dir(&dir).await {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io(&e)),
            };
            while let Some(entry) = entries.next_entry().await.map_err(|e| io(&e))? {
                let kind = entry.file_type().await.map_err(|e| io(&e))?;
                if kind.is_dir() {
                    pending.push(entry.path());
                } else if let Ok(rel) = entry.path().strip_prefix(&root) {
                    let key = rel.to_string_lossy().replace('\\', "/");
                    if key.starts_with(prefix) && page_token.as_ref().is_none_or(|after| key > *after) {
                        keys.push((key, entry.metadata().await.map_err(|e| io(&e))?));
                    }
                }
            }
        }
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        let more = keys.len() > PAGE;
        keys.truncate(PAGE);
        let next = more.then(|| keys.last().map(|(k, _)| k.clone())).flatten();
        let objects = keys
            .into_iter()
            .filter_map(|(key, meta)| {
                Some(ListedObject {
                    key: ObjectKey::parse(&key).ok()?,
                    size: meta.len(),
                    last_modified: modified(&meta),
                })
            })
            .collect();
        Ok(ListPage { objects, next })
    }

    fn locator(&self, key: &ObjectKey) -> String {
        format!("file://{}", self.data_path(key.as_str()).display())
    }

    async fn ping(&self) -> Result<(), StorageError> {
        let probe = self.root.join("tmp").join(format!("ping-{}", uuid::Uuid::new_v4().simple()));
        tokio::fs::write(&probe, b"").await.map_err(|e| io(&e))?;
        tokio::fs::remove_file(&probe).await.map_err(|e| io(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn store() -> DiskStore {
        let root = std::env::temp_dir().join(format!("stowage-disk-unit-{}", uuid::Uuid::new_v4().simple()));
        DiskStore::new(root, "http://127.0.0.1:1", SECRET).expect("a store")
    }

    /// A correctly signed PUT token for `key`, whatever `key` is.
    fn token_for(store: &DiskStore, key: &str) -> String {
        let valid = ObjectKey::parse("uploads/any").expect("a key");
        let grant = Grant { key: key.to_owned(), ..store.grant(Op::Put, &valid, Duration::from_secs(60)) };
        token::sign(SECRET, &grant)
    }

    #[test]
    fn a_short_secret_is_refused() {
        let root = std::env::temp_dir().join("stowage-disk-unit-short");
        let refused = DiskStore::new(&root, "http://127.0.0.1:1", b"too short");
        assert!(matches!(refused, Err(StorageError::Misconfigured(_))), "{refused:?}");
        assert!(DiskStore::new(&root, "http://127.0.0.1:1", b"").is_err());
    }

    #[test]
    fn signed_tokens_for_keys_outside_the_store_are_refused() {
        let store = store();
        assert!(store.authorize(&token_for(&store, "uploads/ns/b/u/file.bin"), Op::Put).is_ok());
        for key in ["../escape", "uploads/../../etc/passwd", "/etc/passwd", "uploads/./x", ""] {
            assert_eq!(store.authorize(&token_for(&store, key), Op::Put), Err(Denied::KeyOutsideStore), "{key:?}");
        }
        #[cfg(unix)]
        {
            let outside = std::env::temp_dir();
            std::os::unix::fs::symlink(&outside, store.root().join("objects").join("link")).expect("symlink");
            assert_eq!(store.authorize(&token_for(&store, "link/file"), Op::Put), Err(Denied::KeyOutsideStore));
        }
        let _ = std::fs::remove_dir_all(store.root());
    }
}
