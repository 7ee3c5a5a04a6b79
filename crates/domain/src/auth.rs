//! API keys: what a bearer key may do (its [`Role`]) and where (its namespaces). Only a hash of
//! the secret is stored; the secret is shown once, when the key is created.

use crate::ids::{KeyId, NamespaceId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read anything in its namespaces.
    Read,
    /// Read, create uploads and buckets, confirm, cancel.
    Write,
    /// Everything, including namespaces.
    Admin,
}

impl Role {
    /// The role's name as stored and shown.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Admin => "admin",
        }
    }

    /// Parses `read`, `write` or `admin`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Read, Self::Write, Self::Admin].into_iter().find(|r| r.as_str() == s)
    }

    /// True when this role includes `needed`.
    #[must_use]
    pub fn allows(self, needed: Self) -> bool {
        self >= needed
    }
}

/// A stored API key (never the secret). A key acts only in the namespaces it lists — whatever
/// its role — unless it is an operator key (`all_namespaces`), made explicitly for that.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    /// `key_...`
    pub id: KeyId,
    /// Hex SHA-256 of the secret.
    pub key_hash: String,
    /// What it may do.
    pub role: Role,
    /// Where: the namespaces it acts in; the first is where a request without `X-Namespace`
    /// acts.
    pub namespaces: Vec<NamespaceId>,
    /// An operator key: acts in every namespace, and (as admin) may create namespaces.
    #[serde(default)]
    pub all_namespaces: bool,
    /// Free text.
    pub description: Option<String>,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it was revoked; a revoked key authenticates nothing.
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    /// When it last authenticated a request (updated at most once per key-cache lifetime).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
}

impl ApiKey {
    /// True when the key may act in `namespace`: it lists it, or it is an operator key. The
    /// role plays no part here: an admin of one namespace is a stranger in every other.
    #[must_use]
    pub fn can_access(&self, namespace: &NamespaceId) -> bool {
        self.revoked_at.is_none() && (self.all_namespaces || self.namespaces.contains(namespace))
    }

    /// Revokes the key at `now`; a key revoked already keeps its first revocation time.
    pub fn revoke(&mut self, now: OffsetDateTime) {
        self.revoked_at.get_or_insert(now);
    }

    /// True for an operator admin key: the only kind that may create namespaces.
    #[must_use]
    pub fn is_operator(&self) -> bool {
        self.revoked_at.is_none() && self.all_namespaces && self.role == Role::Admin
    }

    /// True when this key may manage (revoke) a key of `role` over `all_namespaces`: an admin,
    /// never beyond what it holds itself.
    #[must_use]
    pub fn may_manage(&self, role: Role, all_namespaces: bool) -> bool {
        self.revoked_at.is_none()
            && self.role == Role::Admin
            && self.role.allows(role)
            && (self.all_namespaces || !all_namespaces)
    }
}

/// The prefix of every key secret, so leaked keys are recognisable by secret scanners.
pub const SECRET_PREFIX: &str = "sk_";

/// What a request does, as far as access is concerned: [`authorize`] holds the one table of the
/// role each operation needs, so no handler decides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Read buckets, uploads, objects, batches, tasks (any key of the namespace).
    Read,
    /// Create a bucket.
    CreateBucket,
    /// Create uploads, sign their parts.
    CreateUpload,
    /// Confirm uploads (one or many).
    ConfirmUpload,
    /// Cancel an upload.
    CancelUpload,
    /// Create an object from uploads.
    CreateObject,
    /// Delete an object.
    DeleteObject,
    /// Create or submit a batch.
    ManageBatch,
    /// Cancel a task.
    CancelTask,
    /// See a bucket's webhook signing secret.
    SeeWebhookSecret,
    /// Get a fresh upload URL when reading an upload.
    SignUploadUrl,
    /// List or revoke the namespace's keys.
    ManageKeys,
    /// Create namespaces (operator keys only).
    CreateNamespace,
}

impl Operation {
    /// The role an operation needs; `None` for operations only an operator key may do.
    #[must_use]
    pub const fn needs(self) -> Option<Role> {
        match self {
            Self::Read => Some(Role::Read),
            Self::CreateBucket
            | Self::CreateUpload
            | Self::ConfirmUpload
            | Self::CancelUpload
            | Self::CreateObject
            | Self::DeleteObject
            | Self::ManageBatch
            | Self::CancelTask
            | Self::SeeWebhookSecret
            | Self::SignUploadUrl => Some(Role::Write),
            Self::ManageKeys => Some(Role::Admin),
            Self::CreateNamespace => None,
        }
    }
}

/// Why a key may not do an operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    /// The key's role is below the one the operation needs.
    #[error("this operation needs a `{}` key; this key is `{}`", .needed.as_str(), .has.as_str())]
    InsufficientRole {
        /// What the operation needs.
        needed: Role,
        /// What the key has.
        has: Role,
    },
    /// Only an operator key (admin over all namespaces) may do it.
    #[error("this operation needs an operator key (`stowage keys create --all-namespaces --role admin`)")]
    OperatorOnly,
}

impl crate::error::Coded for AccessError {
    fn code(&self) -> &'static str {
        crate::error::codes::INSUFFICIENT_ROLE
    }

    fn kind(&self) -> crate::error::ErrorKind {
        crate::error::ErrorKind::Forbidden
    }
}

/// Whether `key` may do `operation` (in a namespace it may touch: that is checked where the
/// namespace is resolved).
///
/// # Errors
/// [`AccessError`] when it may not.
pub fn authorize(key: &ApiKey, operation: Operation) -> Result<(), AccessError> {
    match operation.needs() {
        Some(needed) if key.role.allows(needed) => Ok(()),
        Some(needed) => Err(AccessError::InsufficientRole { needed, has: key.role }),
        None if key.is_operator() => Ok(()),
        None => Err(AccessError::OperatorOnly),
    }
}

/// The hex SHA-256 under which a key's secret is stored (the secret itself never is).
#[must_use]
pub fn hash_secret(secret: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(role: Role, all_namespaces: bool) -> ApiKey {
        ApiKey {
            id: KeyId::parse("key_0000000000000000").unwrap_or_else(|e| panic!("{e}")),
            key_hash: String::new(),
            role,
            namespaces: vec![NamespaceId::parse("ns_0000000000000001").unwrap_or_else(|e| panic!("{e}"))],
            all_namespaces,
            description: None,
            created_at: OffsetDateTime::UNIX_EPOCH,
            revoked_at: None,
            last_used_at: None,
        }
    }

    #[test]
    fn an_admin_acts_only_in_its_namespaces_unless_it_is_an_operator_key() {
        let home = NamespaceId::parse("ns_0000000000000001").unwrap_or_else(|e| panic!("{e}"));
        let other = NamespaceId::parse("ns_0000000000000002").unwrap_or_else(|e| panic!("{e}"));
        let admin = key(Role::Admin, false);
        assert!(admin.can_access(&home) && !admin.can_access(&other) && !admin.is_operator());
        let operator = key(Role::Admin, true);
        assert!(operator.can_access(&other) && operator.is_operator());
        assert!(!key(Role::Write, true).is_operator());
        let mut revoked = operator.clone();
        revoked.revoked_at = Some(OffsetDateTime::UNIX_EPOCH);
        assert!(!revoked.can_access(&home) && !revoked.is_operator());
    }

    #[test]
    fn keys_manage_no_more_than_they_hold() {
        assert!(key(Role::Admin, false).may_manage(Role::Read, false));
        assert!(!key(Role::Admin, false).may_manage(Role::Read, true));
        assert!(key(Role::Admin, true).may_manage(Role::Admin, true));
        assert!(!key(Role::Write, false).may_manage(Role::Read, false));
    }

    #[test]
    fn roles_are_ordered_read_write_admin() {
        assert!(Role::Admin.allows(Role::Write));
        assert!(Role::Write.allows(Role::Read));
        assert!(!Role::Read.allows(Role::Write));
        assert_eq!(Role::parse("write"), Some(Role::Write));
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn each_operation_needs_its_role_and_namespaces_need_an_operator() {
        let reader = key(Role::Read, false);
        let writer = key(Role::Write, false);
        let admin = key(Role::Admin, false);
        let operator = key(Role::Admin, true);
        assert!(authorize(&reader, Operation::Read).is_ok());
        assert_eq!(
            authorize(&reader, Operation::ConfirmUpload),
            Err(AccessError::InsufficientRole { needed: Role::Write, has: Role::Read })
        );
        for op in [Operation::CreateUpload, Operation::DeleteObject, Operation::CancelTask, Operation::SeeWebhookSecret]
        {
            assert!(authorize(&writer, op).is_ok(), "{op:?}");
            assert!(authorize(&reader, op).is_err(), "{op:?}");
        }
        assert!(authorize(&writer, Operation::ManageKeys).is_err());
        assert!(authorize(&admin, Operation::ManageKeys).is_ok());
        assert_eq!(authorize(&admin, Operation::CreateNamespace), Err(AccessError::OperatorOnly));
        assert!(authorize(&operator, Operation::CreateNamespace).is_ok());
        assert_eq!(
            AccessError::InsufficientRole { needed: Role::Write, has: Role::Read }.to_string(),
            "this operation needs a `write` key; this key is `read`"
        );
    }

    #[test]
    fn a_secret_is_stored_as_its_sha256() {
        assert_eq!(hash_secret("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
