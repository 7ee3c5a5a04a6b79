//! The duplicate rules. Content is identified by its SHA-256 within a [`ClaimScope`] (the bucket,
//! the namespace, or nothing when detection is off). The first upload to be confirmed with a hash
//! claims it; every later upload with that hash in the scope becomes a duplicate pointing at the
//! claimant's upload and object. The claim is a unique key in the repository, so the race is
//! settled by the database, never by a check-then-insert.

use crate::bucket::{Bucket, DuplicateScope};
use crate::content::Sha256Hex;
use serde::{Deserialize, Serialize};

/// The set of uploads within which a hash must be unique.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClaimScope(String);

impl ClaimScope {
    /// The scope a bucket's settings give, or `None` when detection is off.
    #[must_use]
    pub fn of(bucket: &Bucket) -> Option<Self> {
        match bucket.settings.duplicate_scope {
            DuplicateScope::Bucket => Some(Self(bucket.id.to_string())),
            DuplicateScope::Namespace => Some(Self(bucket.namespace_id.to_string())),
            DuplicateScope::Off => None,
        }
    }

    /// The scope's key as stored (a bucket id or a namespace id).
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Rebuilds a scope from its stored key.
    #[must_use]
    pub fn from_stored(key: String) -> Self {
        Self(key)
    }
}

/// "This content, in this scope": what a confirmation tries to claim.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ContentClaim {
    /// Where the hash must be unique.
    pub scope: ClaimScope,
    /// The content hash.
    pub sha256: Sha256Hex,
}

impl ContentClaim {
    /// The claim a confirmation of `sha256` into `bucket` makes, or `None` when detection is off.
    #[must_use]
    pub fn for_content(bucket: &Bucket, sha256: &Sha256Hex) -> Option<Self> {
        ClaimScope::of(bucket).map(|scope| Self { scope, sha256: sha256.clone() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bucket::BucketSettings;
    use crate::ids::{BucketId, NamespaceId};
    use crate::names::BucketName;

    fn bucket(scope: DuplicateScope) -> Bucket {
        Bucket {
            id: BucketId::parse("bkt_AAAAAAAAAAAAAAAA").unwrap(),
            namespace_id: NamespaceId::parse("ns_BBBBBBBBBBBBBBBB").unwrap(),
            name: BucketName::parse("b").unwrap(),
            description: None,
            bucket_schema: None,
            metadata: serde_json::Value::Null,
            settings: BucketSettings { duplicate_scope: scope, ..Default::default() },
            webhook_secret: None,
            object_count: 0,
            total_size_bytes: 0,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
            updated_at: time::OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn bucket_scope_is_the_bucket_and_namespace_scope_the_namespace() {
        assert_eq!(ClaimScope::of(&bucket(DuplicateScope::Bucket)).unwrap().as_str(), "bkt_AAAAAAAAAAAAAAAA");
        assert_eq!(ClaimScope::of(&bucket(DuplicateScope::Namespace)).unwrap().as_str(), "ns_BBBBBBBBBBBBBBBB");
    }

    #[test]
    fn scope_off_claims_nothing() {
        let h = Sha256Hex::from_bytes(&[1; 32]);
        assert!(ContentClaim::for_content(&bucket(DuplicateScope::Off), &h).is_none());
    }
}
