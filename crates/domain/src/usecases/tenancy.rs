//! Namespaces and buckets: creation with validated names and unique-name errors, and the
//! lookups every request starts with — which namespace a key acts in (a namespace the key may
//! not touch is not found, like one that does not exist, so existence does not leak) and which
//! bucket of it a path names.

use super::Deps;
use crate::auth::ApiKey;
use crate::bucket::{Bucket, BucketSettings, Namespace};
use crate::error::{Coded, ErrorKind, RepoError, code_of_repo, kind_of_repo};
use crate::ids::{BucketId, NamespaceId};
use crate::names::{BucketName, NamespaceName};

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

/// Why a request's namespace or bucket was not found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// The key lists several namespaces and the request named none.
    #[error("send `X-Namespace: <namespace id or name>`")]
    NamespaceRequired,
    /// No such namespace, or one the key may not touch.
    #[error("namespace not found")]
    NamespaceNotFound(String),
    /// No such bucket in the namespace.
    #[error("bucket not found")]
    BucketNotFound,
    /// The database failed.
    #[error(transparent)]
    Repo(RepoError),
}

impl From<RepoError> for LookupError {
    fn from(e: RepoError) -> Self {
        Self::Repo(e)
    }
}

impl Coded for LookupError {
    fn code(&self) -> &'static str {
        match self {
            Self::NamespaceRequired => crate::error::codes::NAMESPACE_REQUIRED,
            Self::NamespaceNotFound(_) => crate::error::codes::NAMESPACE_NOT_FOUND,
            Self::BucketNotFound => crate::error::codes::BUCKET_NOT_FOUND,
            Self::Repo(e) => code_of_repo(e),
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            Self::NamespaceRequired => ErrorKind::BadRequest,
            Self::NamespaceNotFound(_) | Self::BucketNotFound => ErrorKind::NotFound,
            Self::Repo(e) => kind_of_repo(e),
        }
    }
}

/// The namespace `caller` acts in: the one `wanted` names (by id or name), or the key's only
/// namespace when the request names none.
///
/// # Errors
/// `NamespaceRequired` when the key lists several namespaces (or none) and none was named;
/// `NamespaceNotFound` for an unknown namespace or one the key may not touch; a database failure.
pub async fn namespace_for(deps: Deps<'_>, caller: &ApiKey, wanted: Option<&str>) -> Result<Namespace, LookupError> {
    let wanted = match (wanted, caller.namespaces.as_slice()) {
        (Some(wanted), _) => wanted.to_owned(),
        (None, [only]) => only.to_string(),
        (None, _) => return Err(LookupError::NamespaceRequired),
    };
    get_namespace(deps, caller, &wanted).await
}

/// A namespace by id or name, if `caller` may touch it.
///
/// # Errors
/// `NamespaceNotFound` for an unknown namespace or one the key may not touch; a database failure.
pub async fn get_namespace(deps: Deps<'_>, caller: &ApiKey, id_or_name: &str) -> Result<Namespace, LookupError> {
    match deps.tenancy.find_namespace(id_or_name).await? {
        Some(namespace) if caller.can_access(&namespace.id) => Ok(namespace),
        _ => Err(LookupError::NamespaceNotFound(id_or_name.to_owned())),
    }
}

/// A bucket of `namespace` by id or name; buckets of other namespaces are not found.
///
/// # Errors
/// `BucketNotFound`; a database failure.
pub async fn bucket(deps: Deps<'_>, namespace: &NamespaceId, id_or_name: &str) -> Result<Bucket, LookupError> {
    deps.tenancy.find_bucket(namespace, id_or_name).await?.ok_or(LookupError::BucketNotFound)
}

/// The buckets of `namespace`, by name.
///
/// # Errors
/// A database failure.
pub async fn list_buckets(deps: Deps<'_>, namespace: &NamespaceId) -> Result<Vec<Bucket>, RepoError> {
    deps.tenancy.list_buckets(namespace).await
}

/// Creates a namespace.
///
/// # Errors
/// `NameTaken`, or a database failure.
pub async fn create_namespace(
    deps: Deps<'_>,
    name: NamespaceName,
    description: Option<String>,
) -> Result<Namespace, CreateError> {
    let namespace =
        Namespace { id: NamespaceId::new(&deps.ids.suffix()), name, description, created_at: deps.clock.now() };
    deps.tenancy.create_namespace(&namespace).await.map_err(|e| taken(namespace.name.as_str(), e))?;
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
pub async fn create_bucket(deps: Deps<'_>, namespace: &NamespaceId, new: NewBucket) -> Result<Bucket, CreateError> {
    if new.settings.async_threshold_bytes == 0 {
        return Err(CreateError::InvalidSettings("async_threshold_bytes must be at least 1"));
    }
    if new.settings.max_file_size_bytes == Some(0) {
        return Err(CreateError::InvalidSettings("max_file_size_bytes must be at least 1"));
    }
    if let Some(url) = &new.settings.webhook_url {
        crate::webhook::check_target_url(url, deps.policy.webhook_allow_private_targets)
            .map_err(CreateError::InvalidSettings)?;
    }
    let webhook_secret = new.settings.webhook_url.as_ref().map(|_| {
        // 3 × 16 url-safe characters: 288 random bits.
        let (a, b, c) = (deps.ids.suffix(), deps.ids.suffix(), deps.ids.suffix());
        format!("{}{}{}{}", crate::webhook::SECRET_PREFIX, a.as_str(), b.as_str(), c.as_str())
    });
    let now = deps.clock.now();
    let bucket = Bucket {
        id: BucketId::new(&deps.ids.suffix()),
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
    deps.tenancy.create_bucket(&bucket).await.map_err(|e| taken(bucket.name.as_str(), e))?;
    Ok(bucket)
}

/// True for an absolute `http://` or `https://` URL with a host and no whitespace.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::usecases::testkit::{World, ns};

    #[tokio::test]
    async fn a_taken_bucket_name_is_already_exists() {
        let mut world = World::new();
        world
            .tenancy
            .expect_create_bucket()
            .returning(|_| Err(RepoError::AlreadyExists("buckets_namespace_id_name_key".into())));
        let new = NewBucket {
            name: BucketName::parse("photos").unwrap(),
            description: None,
            bucket_schema: None,
            metadata: serde_json::json!({}),
            settings: BucketSettings::default(),
        };
        let err = create_bucket(world.deps(), &ns(), new).await.unwrap_err();
        assert_eq!((err.code(), err.kind()), ("name_taken", ErrorKind::AlreadyExists));
    }

    #[tokio::test]
    async fn a_zero_async_threshold_is_refused_before_any_write() {
        let mut world = World::new();
        world.tenancy.expect_create_bucket().never();
        let settings = BucketSettings { async_threshold_bytes: 0, ..BucketSettings::default() };
        let new = NewBucket {
            name: BucketName::parse("p").unwrap(),
            description: None,
            bucket_schema: None,
            metadata: serde_json::json!({}),
            settings,
        };
        assert_eq!(create_bucket(world.deps(), &ns(), new).await.unwrap_err().code(), "invalid_settings");
    }

    fn namespace(n: u8, name: &str) -> Namespace {
        Namespace {
            id: NamespaceId::parse(&format!("ns_{n:016}")).unwrap(),
            name: NamespaceName::parse(name).unwrap(),
            description: None,
            created_at: crate::usecases::testkit::NOW,
        }
    }

    fn key_of(namespaces: &[&Namespace]) -> ApiKey {
        ApiKey {
            id: crate::ids::KeyId::parse("key_0000000000000001").unwrap(),
            key_hash: "h".into(),
            role: crate::auth::Role::Admin,
            namespaces: namespaces.iter().map(|n| n.id.clone()).collect(),
            all_namespaces: false,
            description: None,
            created_at: crate::usecases::testkit::NOW,
            revoked_at: None,
            last_used_at: None,
        }
    }

    fn world_with(namespaces: Vec<Namespace>) -> World {
        let mut world = World::new();
        world.tenancy.expect_find_namespace().returning(move |wanted| {
            Ok(namespaces.iter().find(|n| n.id.as_str() == wanted || n.name.as_str() == wanted).cloned())
        });
        world
    }

    #[tokio::test]
    async fn a_key_of_one_namespace_acts_in_it_and_a_key_of_several_must_name_one() {
        let (acme, beta) = (namespace(1, "acme"), namespace(2, "beta"));
        let world = world_with(vec![acme.clone(), beta.clone()]);
        let one = key_of(&[&acme]);
        assert_eq!(namespace_for(world.deps(), &one, None).await.unwrap(), acme);
        let two = key_of(&[&acme, &beta]);
        assert_eq!(namespace_for(world.deps(), &two, None).await, Err(LookupError::NamespaceRequired));
        assert_eq!(namespace_for(world.deps(), &two, Some("beta")).await.unwrap(), beta);
        assert_eq!(namespace_for(world.deps(), &two, Some(beta.id.as_str())).await.unwrap(), beta);
    }

    #[tokio::test]
    async fn another_tenants_namespace_is_not_found_like_one_that_does_not_exist() {
        let (acme, beta) = (namespace(1, "acme"), namespace(2, "beta"));
        let world = world_with(vec![acme.clone(), beta]);
        let key = key_of(&[&acme]);
        let theirs = namespace_for(world.deps(), &key, Some("beta")).await.unwrap_err();
        let nobodys = namespace_for(world.deps(), &key, Some("gamma")).await.unwrap_err();
        assert_eq!((theirs.code(), theirs.kind()), ("namespace_not_found", ErrorKind::NotFound));
        assert_eq!((nobodys.code(), nobodys.kind()), (theirs.code(), theirs.kind()));
        let mut revoked = key_of(&[&acme]);
        revoked.revoked_at = Some(crate::usecases::testkit::NOW);
        assert!(matches!(get_namespace(world.deps(), &revoked, "acme").await, Err(LookupError::NamespaceNotFound(_))));
    }

    #[tokio::test]
    async fn a_bucket_is_looked_up_in_the_requests_namespace_only() {
        let mut world = World::new();
        world
            .tenancy
            .expect_find_bucket()
            .withf(|namespace, name| *namespace == ns() && name == "photos")
            .times(1)
            .returning(|_, _| Ok(None));
        let err = bucket(world.deps(), &ns(), "photos").await.unwrap_err();
        assert_eq!((err.code(), err.kind()), ("bucket_not_found", ErrorKind::NotFound));
    }
}
