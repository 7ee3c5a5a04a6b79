//! Bucket objects: reading one (download URLs only for bytes still as verified), creating one
//! from uploads confirmed without an object, and deleting one (its bytes go too unless another
//! blob references them).

use super::{Deps, port_errors};
use crate::bucket::DuplicateBlobPolicy;
use crate::error::{
    Coded, ErrorKind, RepoError, StorageError, code_of_repo, code_of_storage, kind_of_repo, kind_of_storage,
};
use crate::ids::{BlobId, NamespaceId, ObjectId, UploadId};
use crate::object::{Blob, BlobDetails, BucketObject, blob_type_for};
use crate::ports::AttachOutcome;
use crate::status::{TaskStatus, UploadStatus};

/// Why an object could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GetObjectError {
    /// No such bucket in the caller's namespace.
    #[error("bucket not found")]
    BucketNotFound,
    /// No such object in the bucket.
    #[error("object not found")]
    ObjectNotFound,
    /// A blob's stored bytes are not the ones verified at confirm (replaced or gone): no URL is
    /// issued for them.
    #[error("the stored bytes of blob {0} are not the ones verified at confirm; they are not served")]
    Tampered(BlobId),
    /// The store failed.
    #[error(transparent)]
    Storage(StorageError),
    /// The database failed.
    #[error(transparent)]
    Repo(RepoError),
}
port_errors!(GetObjectError);

impl Coded for GetObjectError {
    fn code(&self) -> &'static str {
        match self {
            Self::BucketNotFound => crate::error::codes::BUCKET_NOT_FOUND,
            Self::ObjectNotFound => crate::error::codes::OBJECT_NOT_FOUND,
            Self::Tampered(_) => crate::error::codes::OBJECT_TAMPERED,
            Self::Storage(e) => code_of_storage(e),
            Self::Repo(e) => code_of_repo(e),
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            Self::BucketNotFound | Self::ObjectNotFound => ErrorKind::NotFound,
            Self::Tampered(_) => ErrorKind::Conflict,
            Self::Storage(e) => kind_of_storage(e),
            Self::Repo(e) => kind_of_repo(e),
        }
    }
}

/// How long the download URLs of [`get_object`] work.
pub const DOWNLOAD_URL_LIFETIME: std::time::Duration = std::time::Duration::from_secs(3600);

/// An object of `bucket` (id or name) and, `with_urls`, a download URL per blob valid for
/// [`DOWNLOAD_URL_LIFETIME`] — each only after the store shows the bytes verified at confirm
/// (see `usecases::integrity`).
///
/// # Errors
/// Not found; `Tampered` when a blob's bytes were replaced or are gone; port failures.
pub async fn get_object(
    deps: Deps<'_>,
    namespace: &NamespaceId,
    bucket: &str,
    object_id: &str,
    with_urls: bool,
) -> Result<(BucketObject, Vec<Option<String>>), GetObjectError> {
    let bucket = deps.tenancy.find_bucket(namespace, bucket).await?.ok_or(GetObjectError::BucketNotFound)?;
    let id = ObjectId::parse(object_id).map_err(|_| GetObjectError::ObjectNotFound)?;
    let object = deps.objects.get_object(&bucket.id, &id).await?.ok_or(GetObjectError::ObjectNotFound)?;
    let mut urls = Vec::new();
    if with_urls {
        for blob in &object.blobs {
            if super::integrity::check(deps, &bucket, &object, blob).await? != super::integrity::Integrity::Intact {
                return Err(GetObjectError::Tampered(blob.id.clone()));
            }
            urls.push(Some(deps.store.presign_get(&blob.key, DOWNLOAD_URL_LIFETIME).await?.url));
        }
    }
    Ok((object, urls))
}

/// Up to `limit` objects of `bucket` (id or name) with their blobs, oldest first, after the
/// object `after`.
///
/// # Errors
/// `BucketNotFound`; a database failure.
pub async fn list_objects(
    deps: Deps<'_>,
    namespace: &NamespaceId,
    bucket: &str,
    after: Option<ObjectId>,
    limit: u32,
) -> Result<Vec<BucketObject>, GetObjectError> {
    let bucket = deps.tenancy.find_bucket(namespace, bucket).await?.ok_or(GetObjectError::BucketNotFound)?;
    Ok(deps.objects.list_objects(&bucket.id, after, limit).await?)
}

/// Most blobs one object may hold.
pub const MAX_BLOBS: usize = 20;

/// One blob of a new object: the bytes of a confirmed upload, under an object property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobSource {
    /// The object property the blob fills (e.g. `content`, `thumbnail`).
    pub property: String,
    /// Blob kind (`IMAGE`, `FILE`, ...); derived from the upload's content type when absent.
    pub blob_type: Option<String>,
    /// A COMPLETED upload of the bucket that has no object yet.
    pub upload_id: String,
}

/// The rule of a blob's property name as a regular expression, for the API's document.
pub const PROPERTY_PATTERN: &str = "^[A-Za-z0-9_.-]{1,64}$";

fn is_property_name(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// Creates an object of `bucket` (id or name) from uploads confirmed with
/// `create_object_on_confirm: false`. All of it happens or none of it: the uploads are checked
/// again under lock, and an upload can give its bytes to one object only.
///
/// # Errors
/// Bad blob lists, unknown uploads, uploads not COMPLETED or already attached to an object, and
/// port failures.
pub async fn create_object(
    deps: Deps<'_>,
    namespace: &NamespaceId,
    bucket: &str,
    blobs: &[BlobSource],
    metadata: serde_json::Value,
) -> Result<BucketObject, CreateObjectError> {
    if blobs.is_empty() || blobs.len() > MAX_BLOBS {
        return Err(CreateObjectError::InvalidBlobs(format!("an object holds 1 to {MAX_BLOBS} blobs")));
    }
    for (i, blob) in blobs.iter().enumerate() {
        if !is_property_name(&blob.property) {
            return Err(CreateObjectError::InvalidBlobs(format!(
                "blobs[{i}].property must be 1 to 64 letters, digits, `_`, `-` or `.`"
            )));
        }
        if blobs[..i].iter().any(|b| b.property == blob.property) {
            return Err(CreateObjectError::InvalidBlobs(format!("property {:?} appears twice", blob.property)));
        }
        if blobs[..i].iter().any(|b| b.upload_id == blob.upload_id) {
            return Err(CreateObjectError::InvalidBlobs(format!("upload {} appears twice", blob.upload_id)));
        }
    }
    let bucket = deps.tenancy.find_bucket(namespace, bucket).await?.ok_or(CreateObjectError::BucketNotFound)?;
    let now = deps.clock.now();
    let mut object = BucketObject {
        id: ObjectId::new(&deps.ids.suffix()),
        bucket_id: bucket.id.clone(),
        namespace_id: bucket.namespace_id.clone(),
        upload_id: None,
        status: TaskStatus::Draft,
        blobs: Vec::with_capacity(blobs.len()),
        metadata,
        created_at: now,
    };
    let mut upload_ids = Vec::with_capacity(blobs.len());
    for source in blobs {
        let not_found = || CreateObjectError::UploadNotFound(source.upload_id.clone());
        let id = UploadId::parse(&source.upload_id).map_err(|_| not_found())?;
        let upload = deps.uploads.get_upload(&bucket.id, &id).await?.ok_or_else(not_found)?;
        let verified = match (&upload.status, &upload.verified) {
            (UploadStatus::Completed, Some(verified)) => verified.clone(),
            _ => {
                return Err(CreateObjectError::InvalidUploadState(format!(
                    "upload {id} is {}; only COMPLETED uploads can become objects",
                    upload.status
                )));
            }
        };
        if upload.object_id.is_some() {
            return Err(CreateObjectError::AlreadyAttached(id));
        }
        if upload.object_deleted {
            return Err(CreateObjectError::InvalidUploadState(format!(
                "upload {id}'s object was deleted, and its bytes with it; upload the file again"
            )));
        }
        if upload.is_duplicate && bucket.settings.duplicate_blob_policy == DuplicateBlobPolicy::Delete {
            return Err(CreateObjectError::InvalidUploadState(format!(
                "upload {id} is a duplicate whose bytes were deleted; use the original upload"
            )));
        }
        object.blobs.push(Blob {
            id: BlobId::new(&deps.ids.suffix()),
            property: source.property.clone(),
            blob_type: source
                .blob_type
                .clone()
                .unwrap_or_else(|| blob_type_for(upload.content_type.as_str()).to_owned()),
            url: deps.store.locator(&upload.key),
            key: upload.key.clone(),
            details: BlobDetails {
                filename: upload.filename.to_string(),
                size_bytes: verified.size,
                mime_type: upload.content_type.to_string(),
                hash: Some(verified.sha256),
                detected_mime_type: None,
                verified_at: None,
                etag: Some(verified.etag.clone()),
                tampered_at: None,
            },
        });
        upload_ids.push(id);
    }
    if let [only] = upload_ids.as_slice() {
        object.upload_id = Some(only.clone());
    }
    match deps.objects.attach_object(&object, &upload_ids).await? {
        AttachOutcome::Created => Ok(object),
        AttachOutcome::Taken(id) => Err(CreateObjectError::AlreadyAttached(id)),
    }
}

/// Why an object could not be created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreateObjectError {
    /// The blob list breaks a rule.
    #[error("{0}")]
    InvalidBlobs(String),
    /// No such bucket in the caller's namespace.
    #[error("bucket not found")]
    BucketNotFound,
    /// No such upload in the bucket.
    #[error("upload {0} not found")]
    UploadNotFound(String),
    /// The upload is not COMPLETED (or its bytes are gone).
    #[error("{0}")]
    InvalidUploadState(String),
    /// The upload already belongs to an object.
    #[error("upload {0} already belongs to an object")]
    AlreadyAttached(UploadId),
    /// The store failed.
    #[error(transparent)]
    Storage(StorageError),
    /// The database failed.
    #[error(transparent)]
    Repo(RepoError),
}
port_errors!(CreateObjectError);

impl Coded for CreateObjectError {
    fn code(&self) -> &'static str {
        match self {
            Self::InvalidBlobs(_) => crate::error::codes::INVALID_BLOBS,
            Self::BucketNotFound => crate::error::codes::BUCKET_NOT_FOUND,
            Self::UploadNotFound(_) => crate::error::codes::UPLOAD_NOT_FOUND,
            Self::InvalidUploadState(_) => crate::error::codes::INVALID_UPLOAD_STATE,
            Self::AlreadyAttached(_) => crate::error::codes::UPLOAD_ALREADY_ATTACHED,
            Self::Storage(e) => code_of_storage(e),
            Self::Repo(e) => code_of_repo(e),
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidBlobs(_) | Self::InvalidUploadState(_) => ErrorKind::BadRequest,
            Self::BucketNotFound | Self::UploadNotFound(_) => ErrorKind::NotFound,
            Self::AlreadyAttached(_) => ErrorKind::Conflict,
            Self::Storage(e) => kind_of_storage(e),
            Self::Repo(e) => kind_of_repo(e),
        }
    }
}

/// Deletes an object of `bucket` (id or name) in `namespace`; its stored bytes are deleted unless
/// another object's blob still references them.
///
/// # Errors
/// Not found (`object_not_found`), or a port failure. The
/// record is gone before the bytes: a failed byte deletion leaves an orphan the reconciler finds.
pub async fn delete_object(
    deps: Deps<'_>,
    namespace: &NamespaceId,
    bucket: &str,
    object_id: &str,
) -> Result<(), DeleteObjectError> {
    let bucket = deps.tenancy.find_bucket(namespace, bucket).await?.ok_or(DeleteObjectError::BucketNotFound)?;
    let id = crate::ids::ObjectId::parse(object_id).map_err(|_| DeleteObjectError::ObjectNotFound)?;
    let unreferenced = deps.objects.delete_object(&bucket.id, &id).await?.ok_or(DeleteObjectError::ObjectNotFound)?;
    for key in unreferenced {
        deps.store.delete(&key).await?;
    }
    Ok(())
}

/// Why an object could not be deleted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeleteObjectError {
    /// No such bucket in the caller's namespace.
    #[error("bucket not found")]
    BucketNotFound,
    /// No such object in the bucket.
    #[error("object not found")]
    ObjectNotFound,
    /// The store failed.
    #[error(transparent)]
    Storage(StorageError),
    /// The database failed.
    #[error(transparent)]
    Repo(RepoError),
}
port_errors!(DeleteObjectError);

impl Coded for DeleteObjectError {
    fn code(&self) -> &'static str {
        match self {
            Self::BucketNotFound => crate::error::codes::BUCKET_NOT_FOUND,
            Self::ObjectNotFound => crate::error::codes::OBJECT_NOT_FOUND,
            Self::Storage(e) => code_of_storage(e),
            Self::Repo(e) => code_of_repo(e),
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            Self::BucketNotFound | Self::ObjectNotFound => ErrorKind::NotFound,
            Self::Storage(e) => kind_of_storage(e),
            Self::Repo(e) => kind_of_repo(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upload::{Completion, Upload, Verified};
    use crate::usecases::testkit::*;

    fn completed(n: u8, size: u64) -> Upload {
        let mut upload = pending_upload();
        upload.id = upload_id(n);
        upload.create_object_on_confirm = false;
        upload
            .complete(
                Verified { etag: etag(MD5), size, sha256: sha(n) },
                Completion::Original { object: None, batch: None },
                NOW,
            )
            .unwrap()
    }

    fn source(property: &str, n: u8) -> BlobSource {
        BlobSource { property: property.into(), blob_type: None, upload_id: upload_id(n).to_string() }
    }

    fn world(uploads: Vec<Upload>) -> World {
        let mut world = World::new();
        world.tenancy.expect_find_bucket().returning(|_, _| Ok(Some(bucket())));
        world.uploads.expect_get_upload().returning(move |_, id| Ok(uploads.iter().find(|u| &u.id == id).cloned()));
        world
    }

    #[tokio::test]
    async fn each_upload_becomes_a_blob_and_the_repository_links_them_all() {
        let mut world = world(vec![completed(1, 10), completed(2, 20)]);
        world
            .objects
            .expect_attach_object()
            .withf(|object, uploads| {
                object.blobs.len() == 2 && uploads == [upload_id(1), upload_id(2)] && object.upload_id.is_none()
            })
            .times(1)
            .returning(|_, _| Ok(AttachOutcome::Created));
        let object =
            create_object(world.deps(), &ns(), "photos", &[source("a", 1), source("b", 2)], serde_json::json!({}))
                .await
                .unwrap();
        assert_eq!(object.blobs.iter().map(|b| b.details.size_bytes).collect::<Vec<_>>(), [10, 20]);
        assert_eq!(object.blobs[0].blob_type, "IMAGE", "derived from image/png");
        assert_eq!(object.blobs[1].details.hash, Some(sha(2)));
    }

    #[tokio::test]
    async fn uploads_that_are_not_completed_or_already_attached_are_refused_before_any_write() {
        let mut attached = completed(2, 5);
        attached.object_id = Some(ObjectId::parse("obj_oooooooooooooooo").unwrap());
        let world = world(vec![pending_upload(), attached]);
        let err = create_object(world.deps(), &ns(), "photos", &[source("a", 1)], serde_json::json!({})).await;
        assert_eq!(err.unwrap_err().code(), "invalid_upload_state");
        let err = create_object(world.deps(), &ns(), "photos", &[source("a", 2)], serde_json::json!({})).await;
        assert_eq!(err.unwrap_err().code(), "upload_already_attached");
    }

    #[tokio::test]
    async fn a_lost_race_in_the_repository_is_a_conflict() {
        let mut world = world(vec![completed(1, 10)]);
        world.objects.expect_attach_object().returning(|_, _| Ok(AttachOutcome::Taken(upload_id(1))));
        let err = create_object(world.deps(), &ns(), "photos", &[source("a", 1)], serde_json::json!({})).await;
        assert_eq!(err.unwrap_err().kind(), ErrorKind::Conflict);
    }

    #[tokio::test]
    async fn malformed_blob_lists_are_refused_without_touching_the_repository() {
        let world = World::new();
        for blobs in
            [vec![], vec![source("a", 1), source("a", 2)], vec![source("a", 1), source("b", 1)], vec![source(" ", 1)]]
        {
            let err = create_object(world.deps(), &ns(), "photos", &blobs, serde_json::json!({})).await;
            assert_eq!(err.unwrap_err().code(), "invalid_blobs", "{blobs:?}");
        }
    }
}
