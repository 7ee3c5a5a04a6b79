//! Upload sessions, and the uploads a browser makes with one (Uppy's `@uppy/aws-s3` through
//! Companion's S3 routes): docs/domain.md "Browser uploads".
//!
//! An application's backend, holding an API key, mints a short-lived session for one bucket with
//! the content types, the size limit and the metadata it allows; the browser gets only the
//! session's token. The token is sealed ([`crate::sealed`]): stowage keeps nothing per session,
//! and nothing in it can be changed without breaking the seal. Every upload a session starts is
//! an ordinary upload of its bucket, verified, deduplicated and recorded by the ordinary confirm.

use super::confirm::{self, ConfirmError, ConfirmRequest};
use super::create_upload::{self, CreateUploadError, CreateUploadRequest, PartUrl, PartUrlsError};
use super::{Deps, cancel::CancelError, port_errors};
use crate::error::{
    Coded, ErrorKind, RepoError, StorageError, code_of_repo, code_of_storage, codes, kind_of_repo, kind_of_storage,
};
use crate::ids::{BucketId, NamespaceId};
use crate::names::{ContentType, Filename};
use crate::policy::{MAX_URL_EXPIRATION_SECS, MIN_URL_EXPIRATION_SECS};
use crate::ports::{PartInfo, PresignPut, PresignedPost, PresignedRequest};
use crate::upload::{ConfirmReceipt, Upload};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Most content-type patterns one session may allow.
pub const MAX_SESSION_TYPES: usize = 32;

/// What a session allows, as its token carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadSession {
    /// A random id, for logs.
    pub sid: String,
    /// The namespace.
    pub ns: NamespaceId,
    /// The bucket.
    pub bucket: BucketId,
    /// Content-type patterns (`image/png`, `image/*`); empty: whatever the bucket allows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<String>,
    /// The largest file, in bytes (the bucket's limit applies too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u64>,
    /// Metadata every upload of the session carries (over what the browser sends).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub meta: serde_json::Map<String, serde_json::Value>,
    /// Unix seconds after which the session is refused.
    pub exp: i64,
}

/// A request for a session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewSession {
    /// Content-type patterns; empty: whatever the bucket allows.
    pub allowed_content_types: Vec<String>,
    /// The largest file.
    pub max_file_size_bytes: Option<u64>,
    /// Metadata for every upload.
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// Lifetime in seconds (60–86400), default 3600.
    pub expires_in_secs: Option<u32>,
}

/// A minted session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedSession {
    /// What the browser uses (in its endpoint URL).
    pub token: String,
    /// What it allows.
    pub session: UploadSession,
}

/// Why a session call was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// No such bucket.
    #[error("bucket not found")]
    BucketNotFound,
    /// A token that is not one of ours, or was changed.
    #[error("not a valid upload session")]
    Invalid,
    /// A token past its expiry.
    #[error("the upload session has expired")]
    Expired,
    /// Bad session parameters.
    #[error("{0}")]
    BadRequest(String),
    /// The session does not allow this content type.
    #[error("this upload session does not accept content type {0}")]
    ContentTypeNotAllowed(String),
    /// Above the session's limit.
    #[error("a file of {size} bytes exceeds the upload session's limit of {max} bytes")]
    FileTooLarge {
        /// The size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// The key is not an upload of this session's bucket, or the multipart upload id differs.
    #[error("no such upload in this session's bucket")]
    UploadNotFound,
    /// The browser's part list differs from the parts the store holds.
    #[error("{0}")]
    PartsDiffer(String),
    /// Creating the upload failed.
    #[error(transparent)]
    Create(#[from] CreateUploadError),
    /// Signing parts failed.
    #[error(transparent)]
    Parts(#[from] PartUrlsError),
    /// The confirm failed.
    #[error(transparent)]
    Confirm(#[from] ConfirmError),
    /// The abort failed.
    #[error(transparent)]
    Cancel(#[from] CancelError),
    /// The store failed.
    #[error(transparent)]
    Storage(StorageError),
    /// The database failed.
    #[error(transparent)]
    Repo(RepoError),
}
port_errors!(SessionError);

impl Coded for SessionError {
    fn code(&self) -> &'static str {
        match self {
            Self::BucketNotFound => codes::BUCKET_NOT_FOUND,
            Self::Invalid | Self::Expired => codes::INVALID_UPLOAD_SESSION,
            Self::BadRequest(_) => codes::INVALID_SETTINGS,
            Self::ContentTypeNotAllowed(_) => codes::CONTENT_TYPE_NOT_ALLOWED,
            Self::FileTooLarge { .. } => codes::FILE_TOO_LARGE,
            Self::UploadNotFound => codes::UPLOAD_NOT_FOUND,
            Self::PartsDiffer(_) => codes::MULTIPART_INCOMPLETE,
            Self::Create(e) => e.code(),
            Self::Parts(e) => e.code(),
            Self::Confirm(e) => e.code(),
            Self::Cancel(e) => e.code(),
            Self::Storage(e) => code_of_storage(e),
            Self::Repo(e) => code_of_repo(e),
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            Self::BucketNotFound | Self::UploadNotFound => ErrorKind::NotFound,
            Self::Invalid | Self::Expired => ErrorKind::Unauthorized,
            Self::BadRequest(_) | Self::ContentTypeNotAllowed(_) | Self::PartsDiffer(_) | Self::FileTooLarge { .. } => {
                ErrorKind::BadRequest
            }
            Self::Create(e) => e.kind(),
            Self::Parts(e) => e.kind(),
            Self::Confirm(e) => e.kind(),
            Self::Cancel(e) => e.kind(),
            Self::Storage(e) => kind_of_storage(e),
            Self::Repo(e) => kind_of_repo(e),
        }
    }
}

fn unix(t: time::OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

/// Mints a session for `bucket` (id or name) of `namespace`, sealed with `secret`.
///
/// # Errors
/// `BucketNotFound`, `BadRequest` for parameters out of range, a database failure.
pub async fn create_session(
    deps: Deps<'_>,
    secret: &[u8],
    namespace: &NamespaceId,
    bucket: &str,
    request: NewSession,
) -> Result<IssuedSession, SessionError> {
    let bucket = deps.tenancy.find_bucket(namespace, bucket).await?.ok_or(SessionError::BucketNotFound)?;
    let lifetime = request.expires_in_secs.unwrap_or(3600);
    if !(MIN_URL_EXPIRATION_SECS..=MAX_URL_EXPIRATION_SECS).contains(&lifetime) {
        return Err(SessionError::BadRequest(format!(
            "expires_in must be between {MIN_URL_EXPIRATION_SECS} and {MAX_URL_EXPIRATION_SECS} seconds"
        )));
    }
    if request.allowed_content_types.len() > MAX_SESSION_TYPES
        || request.allowed_content_types.iter().any(|t| t.is_empty() || t.len() > 255)
    {
        return Err(SessionError::BadRequest(format!(
            "allowed_content_types holds up to {MAX_SESSION_TYPES} patterns of 1 to 255 characters"
        )));
    }
    if request.max_file_size_bytes.is_some_and(|max| max == 0 || max > create_upload::MAX_OBJECT_BYTES) {
        return Err(SessionError::BadRequest(format!(
            "max_file_size_bytes must be between 1 and {}",
            create_upload::MAX_OBJECT_BYTES
        )));
    }
    let session = UploadSession {
        sid: deps.ids.suffix().as_str().to_owned(),
        ns: bucket.namespace_id.clone(),
        bucket: bucket.id.clone(),
        types: request.allowed_content_types,
        max: request.max_file_size_bytes,
        meta: request.metadata,
        exp: unix(deps.clock.now()).saturating_add(i64::from(lifetime)),
    };
    Ok(IssuedSession { token: crate::sealed::seal(secret, &session), session })
}

/// Opens a session's token.
///
/// # Errors
/// `Invalid` for a token that is not ours, `Expired` past its lifetime.
pub fn open_session(deps: Deps<'_>, secret: &[u8], token: &str) -> Result<UploadSession, SessionError> {
    let session: UploadSession = crate::sealed::open(secret, token).map_err(|_| SessionError::Invalid)?;
    if session.exp < unix(deps.clock.now()) {
        return Err(SessionError::Expired);
    }
    Ok(session)
}

/// What the browser sends about a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// Its name (`@uppy/aws-s3` 6.x sends `<random id>-<name>`).
    pub filename: Filename,
    /// Its type.
    pub content_type: ContentType,
    /// Its metadata (the session's own wins).
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

/// Where the browser sends a single-request upload's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transfer {
    /// A form POST (preferred: its policy bounds the size).
    Post(PresignedPost),
    /// A presigned PUT, for stores without form POSTs.
    Put(PresignedRequest),
}

/// A started single-request upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    /// The PENDING upload (finished by the finisher or an S3 event once its bytes land).
    pub upload: Upload,
    /// Where its bytes go.
    pub transfer: Transfer,
}

fn request(session: &UploadSession, file: FileInfo, client_parts: bool) -> Result<CreateUploadRequest, SessionError> {
    if !session.types.is_empty() && !session.types.iter().any(|p| file.content_type.matches(p)) {
        return Err(SessionError::ContentTypeNotAllowed(file.content_type.to_string()));
    }
    let mut metadata = file.metadata;
    metadata.extend(session.meta.clone());
    Ok(CreateUploadRequest {
        filename: file.filename,
        content_type: file.content_type,
        file_size_bytes: None,
        presigned_url_expiration: None,
        metadata: serde_json::Value::Object(metadata),
        create_object_on_confirm: true,
        object_metadata: serde_json::json!({}),
        blob_property: None,
        blob_type: None,
        file_hash: None,
        skip_duplicates: false,
        enforce_checksum: false,
        idempotency_key: None,
        client_parts,
    })
}

/// Starts a single-request upload (Companion's `GET /s3/params`): a PENDING upload and a form
/// POST bounded by the session's and the bucket's limits (a PUT where the store has no form POST).
///
/// # Errors
/// What creating the upload can refuse, or the session's content-type rule.
pub async fn start_upload(deps: Deps<'_>, session: &UploadSession, file: FileInfo) -> Result<Started, SessionError> {
    let request = request(session, file, false)?;
    let created = create_upload::create_upload(deps, &session.ns, session.bucket.as_str(), request).await?;
    let (upload, bucket_max) = (created.upload, created.bucket.settings.max_file_size_bytes);
    let max_length = match (session.max, bucket_max) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let expires_in = upload.url_lifetime(deps.clock.now()).unwrap_or(Duration::ZERO);
    let put = PresignPut {
        key: upload.key.clone(),
        content_type: upload.content_type.clone(),
        content_length: None,
        sha256: None,
        max_length,
        expires_in,
    };
    let transfer = match deps.store.presign_post(&put).await? {
        Some(post) => Transfer::Post(post),
        None => Transfer::Put(deps.store.presign_put(&put).await?),
    };
    Ok(Started { upload, transfer })
}

/// Starts a multipart upload whose parts the browser sizes (Companion's `POST /s3/multipart`).
///
/// # Errors
/// What creating the upload can refuse, or the session's content-type rule.
pub async fn start_multipart(deps: Deps<'_>, session: &UploadSession, file: FileInfo) -> Result<Upload, SessionError> {
    let request = request(session, file, true)?;
    Ok(create_upload::create_upload(deps, &session.ns, session.bucket.as_str(), request).await?.upload)
}

/// The multipart upload `store_upload_id` of `key`, when it belongs to the session's bucket.
async fn session_upload(
    deps: Deps<'_>,
    session: &UploadSession,
    key: &str,
    store_upload_id: &str,
) -> Result<Upload, SessionError> {
    super::upload_at(deps, key)
        .await?
        .filter(|upload| {
            upload.bucket_id == session.bucket
                && upload.namespace_id == session.ns
                && upload.multipart.as_ref().is_some_and(|mp| mp.upload_id == store_upload_id)
        })
        .ok_or(SessionError::UploadNotFound)
}

/// Presigned PUTs of parts (Companion's sign routes).
///
/// # Errors
/// An upload of another bucket or multipart upload, part numbers out of range, a store failure.
pub async fn part_urls(
    deps: Deps<'_>,
    session: &UploadSession,
    key: &str,
    store_upload_id: &str,
    numbers: &[u32],
) -> Result<Vec<PartUrl>, SessionError> {
    let upload = session_upload(deps, session, key, store_upload_id).await?;
    Ok(create_upload::part_urls(deps, &session.ns, session.bucket.as_str(), upload.id.as_str(), numbers).await?)
}

/// The parts the store holds (Companion's `GET /s3/multipart/{id}`).
///
/// # Errors
/// An upload of another bucket, a store failure.
pub async fn list_parts(
    deps: Deps<'_>,
    session: &UploadSession,
    key: &str,
    store_upload_id: &str,
) -> Result<Vec<PartInfo>, SessionError> {
    let upload = session_upload(deps, session, key, store_upload_id).await?;
    match deps.store.list_parts(&upload.key, store_upload_id).await {
        Err(StorageError::NoSuchUpload) => Ok(Vec::new()),
        other => Ok(other?),
    }
}

/// Completes a multipart upload through the ordinary confirm (Companion's `.../complete`): the
/// store's own part list is what gets assembled, after checking that it is the browser's and
/// within the session's limit.
///
/// # Errors
/// Parts that differ from the browser's list, a file above the session's limit, or what the
/// confirm refuses.
pub async fn complete(
    deps: Deps<'_>,
    session: &UploadSession,
    key: &str,
    store_upload_id: &str,
    browser_parts: &[u32],
) -> Result<ConfirmReceipt, SessionError> {
    let upload = session_upload(deps, session, key, store_upload_id).await?;
    if upload.accepts_bytes() {
        let stored = match deps.store.list_parts(&upload.key, store_upload_id).await {
            // Completed by an earlier call: the confirm finds the assembled object.
            Err(StorageError::NoSuchUpload) => None,
            other => Some(other?),
        };
        if let Some(stored) = stored {
            let mut wanted = browser_parts.to_vec();
            wanted.sort_unstable();
            let held: Vec<u32> = stored.iter().map(|p| p.part_number).collect();
            if held != wanted {
                return Err(SessionError::PartsDiffer(format!(
                    "the store holds parts {held:?}, the request lists {wanted:?}"
                )));
            }
            let size: u64 = stored.iter().map(|p| p.size).sum();
            if let Some(max) = session.max.filter(|max| size > *max) {
                return Err(SessionError::FileTooLarge { size, max });
            }
        }
    }
    let request = ConfirmRequest::default();
    Ok(confirm::confirm_upload(deps, &session.ns, session.bucket.as_str(), upload.id.as_str(), &request).await?)
}

/// Aborts a multipart upload (Companion's `DELETE /s3/multipart/{id}`): the upload is canceled and
/// its parts deleted.
///
/// # Errors
/// An upload of another bucket, or what canceling refuses.
pub async fn abort(
    deps: Deps<'_>,
    session: &UploadSession,
    key: &str,
    store_upload_id: &str,
) -> Result<(), SessionError> {
    let upload = session_upload(deps, session, key, store_upload_id).await?;
    super::cancel::cancel_upload(deps, &session.ns, session.bucket.as_str(), upload.id.as_str(), true).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usecases::testkit::*;

    fn world() -> World {
        let mut world = World::new();
        world.tenancy.expect_find_bucket().returning(|_, _| Ok(Some(bucket())));
        world
    }

    async fn mint(world: &World, request: NewSession) -> Result<IssuedSession, SessionError> {
        create_session(world.deps(), b"secret", &ns(), "bucket", request).await
    }

    #[tokio::test]
    async fn a_session_opens_with_its_secret_until_it_expires_and_not_once_changed() {
        let mut world = world();
        let issued = mint(&world, NewSession { expires_in_secs: Some(60), ..NewSession::default() }).await.unwrap();
        assert_eq!(open_session(world.deps(), b"secret", &issued.token), Ok(issued.session.clone()));
        assert_eq!(open_session(world.deps(), b"other", &issued.token), Err(SessionError::Invalid));
        let longer = UploadSession { max: Some(u64::MAX), ..issued.session.clone() };
        let (_, signature) = issued.token.split_once('.').unwrap();
        let (forged, _) = crate::sealed::seal(b"not the secret", &longer)
            .split_once('.')
            .map(|(c, s)| (c.to_owned(), s.to_owned()))
            .unwrap();
        assert_eq!(open_session(world.deps(), b"secret", &format!("{forged}.{signature}")), Err(SessionError::Invalid));
        world.clock = FixedClock(world.clock.0 + time::Duration::seconds(61));
        assert_eq!(open_session(world.deps(), b"secret", &issued.token), Err(SessionError::Expired));
    }

    #[tokio::test]
    async fn session_parameters_out_of_range_are_refused() {
        let world = world();
        for bad in [
            NewSession { expires_in_secs: Some(59), ..NewSession::default() },
            NewSession { expires_in_secs: Some(86_401), ..NewSession::default() },
            NewSession { max_file_size_bytes: Some(0), ..NewSession::default() },
            NewSession { max_file_size_bytes: Some(create_upload::MAX_OBJECT_BYTES + 1), ..NewSession::default() },
            NewSession { allowed_content_types: vec![String::new()], ..NewSession::default() },
            NewSession { allowed_content_types: vec!["image/*".to_owned(); 33], ..NewSession::default() },
        ] {
            let err = mint(&world, bad.clone()).await.unwrap_err();
            assert!(matches!(err, SessionError::BadRequest(_)), "{bad:?}: {err:?}");
        }
    }

    #[tokio::test]
    async fn a_session_keeps_its_types_and_its_metadata_wins_over_the_browsers() {
        let session = UploadSession {
            sid: "s".into(),
            ns: ns(),
            bucket: bucket().id,
            types: vec!["image/*".into()],
            max: None,
            meta: serde_json::json!({"user": "u-1"}).as_object().cloned().unwrap(),
            exp: i64::MAX,
        };
        let file = |content_type: &str| FileInfo {
            filename: Filename::parse("a.png").unwrap(),
            content_type: ContentType::parse(content_type).unwrap(),
            metadata: serde_json::json!({"user": "forged", "album": "x"}).as_object().cloned().unwrap(),
        };
        let refused = request(&session, file("text/html"), false).unwrap_err();
        assert_eq!(refused.code(), codes::CONTENT_TYPE_NOT_ALLOWED);
        let made = request(&session, file("image/png"), true).unwrap();
        assert_eq!(made.metadata, serde_json::json!({"user": "u-1", "album": "x"}));
        assert!(made.client_parts && made.create_object_on_confirm && made.file_size_bytes.is_none());
    }
}
