//! Namespaces and buckets: creation with validated names and unique-name errors.

use crate::bucket::{Bucket, BucketSettings, Namespace};
use crate::error::{Coded, ErrorKind, RepoError, code_of_repo, kind_of_repo};
use crate::ids::{BucketId, NamespaceId};
use crate::names::{BucketName, NamespaceName};
use crate::ports::{Clock, IdGenerator, UploadRepo};

/// Why a namespace or bucket could not be created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreateError {
    /// The name is taken.
    #[error("the name `{0}` is already taken")]
    NameTaken(String),
    /// The settings are contradictory.
    #[error("invalid settings: {0}")]
    InvalidSettings(&'static str),
    /// The database failed.
    #[error(transparent)]
    Repo(RepoError),
}

impl Coded for CreateError {
    fn code(&self) -> &'static str {
        match self {
            Self::NameTaken(_) => crate::error::codes::NAME_TAKEN,
            Self::InvalidSettings(_) => crate::error::codes::INVALID_SETTINGS,
            Self::Repo(e) => code_of_repo(e),
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            Self::NameTaken(_) => ErrorKind::AlreadyExists,
            Self::InvalidSettings(_) => ErrorKind::BadRequest,
            Self::Repo(e) => kind_of_repo(e),
        }
    }
}

fn taken(name: &str, e: RepoError) -> CreateError {
    match e {
        RepoError::AlreadyExists(_) => CreateError::NameTaken(name.to_owned()),
        other => CreateError::Repo(other),
    }
}

/// Creates a namespace.
///
/// # Errors
/// `NameTaken`, or a database failure.
pub async fn create_namespace(
    repo: &dyn UploadRepo,
    clock: &dyn Clock,
    ids: &dyn IdGenerator,
    name: NamespaceName,
    description: Option<String>,
) -> Result<Namespace, CreateError> {
    let namespace = Namespace { id: NamespaceId::new(&ids.suffix()), name, description, created_at: clock.now() };
    repo.create_namespace(&namespace).await.map_err(|e| taken(namespace.name.as_str(), e))?;
    Ok(namespace)
}

/// What a new bucket is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBucket {
    /// Unique within the namespace.
    pub name: BucketName,
    /// Free text.
    pub description: Option<String>,
    /// Kept as given.
    pub bucket_schema: Option<serde_json::Value>,
    /// Free metadata.
    pub metadata: serde_json::Value,
    /// Upload rules.
    pub settings: BucketSettings,
}

/// Creates a bucket in `namespace`.
///
/// # Errors
/// `NameTaken`, `InvalidSettings`, or a database failure.
pub async fn create_bucket(
    repo: &dyn UploadRepo,
    clock: &dyn Clock,
    ids: &dyn IdGenerator,
    policy: &crate::policy::Policy,
    namespace: &NamespaceId,
    new: NewBucket,
) -> Result<Bucket, CreateError> {
    if new.settings.async_threshold_bytes == 0 {
        return Err(CreateError::InvalidSettings("async_threshold_bytes must be at least 1"));
    }
    if new.settings.max_file_size_bytes == Some(0) {
        return Err(CreateError::InvalidSettings("max_file_size_bytes must be at least 1"));
    }
    if let Some(url) = &new.settings.webhook_url {
        crate::webhook::check_target_url(url, policy.webhook_allow_private_targets)
            .map_err(CreateError::InvalidSettings)?;
    }
    let webhook_secret = new.settings.webhook_url.as_ref().map(|_| {
        // 3 × 16 url-safe characters: 288 random bits.
        let (a, b, c) = (ids.suffix(), ids.suffix(), ids.suffix());
        format!("{}{}{}{}", crate::webhook::SECRET_PREFIX, a.as_str(), b.as_str(), c.as_str())
    });
    let now = clock.now();
    let bucket = Bucket {
        id: BucketId::new(&ids.suffix()),
        namespace_id: namespace.clone(),
        name: new.name,
        description: new.description,
        bucket_schema: new.bucket_schema,
        metadata: new.metadata,
        settings: new.settings,
        webhook_secret,
        object_count: 0,
        total_size_bytes: 0,
        created_at: now,
        updated_at: now,
    };
    repo.create_bucket(&bucket).await.map_err(|e| taken(bucket.name.as_str(), e))?;
    Ok(bucket)
}

/// True for an absolute `http://` or `https://` URL with a host and no whitespace.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::usecases::testkit::{FixedClock, NOW, ns};

    #[tokio::test]
    async fn a_taken_bucket_name_is_already_exists() {
        let mut repo = crate::ports::MockUploadRepo::new();
        repo.expect_create_bucket()
            .returning(|_| Err(RepoError::AlreadyExists("buckets_namespace_id_name_key".into())));
        let ids = crate::usecases::testkit::CountingIds::default();
        let new = NewBucket {
            name: BucketName::parse("photos").unwrap(),
            description: None,
            bucket_schema: None,
            metadata: serde_json::json!({}),
            settings: BucketSettings::default(),
        };
        let err = create_bucket(&repo, &FixedClock(NOW), &ids, &crate::policy::Policy::default(), &ns(), new)
            .await
            .unwrap_err();
        assert_eq!((err.code(), err.kind()), ("name_taken", ErrorKind::AlreadyExists));
    }

    #[tokio::test]
    async fn a_zero_async_threshold_is_refused_before_any_write() {
        let mut repo = crate::ports::MockUploadRepo::new();
        repo.expect_create_bucket().never();
        let ids = crate::usecases::testkit::CountingIds::default();
        let settings = BucketSettings { async_threshold_bytes: 0, ..BucketSettings::default() };
        let new = NewBucket {
            name: BucketName::parse("p").unwrap(),
            description: None,
            bucket_schema: None,
            metadata: serde_json::json!({}),
            settings,
        };
        assert_eq!(
            create_bucket(&repo, &FixedClock(NOW), &ids, &crate::policy::Policy::default(), &ns(), new)
                .await
                .unwrap_err()
                .code(),
            "invalid_settings"
        );
    }
}
