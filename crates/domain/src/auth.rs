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

/// A stored API key (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    /// `key_...`
    pub id: KeyId,
    /// Hex SHA-256 of the secret.
    pub key_hash: String,
    /// What it may do.
    pub role: Role,
    /// Where.
    pub namespaces: Vec<NamespaceId>,
    /// Free text.
    pub description: Option<String>,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it was revoked; a revoked key authenticates nothing.
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

impl ApiKey {
    /// True when the key may act in `namespace`.
    #[must_use]
    pub fn can_access(&self, namespace: &NamespaceId) -> bool {
        self.revoked_at.is_none() && self.namespaces.contains(namespace)
    }
}

/// The prefix of every key secret, so leaked keys are recognisable by secret scanners.
pub const SECRET_PREFIX: &str = "sk_";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_read_write_admin() {
        assert!(Role::Admin.allows(Role::Write));
        assert!(Role::Write.allows(Role::Read));
        assert!(!Role::Read.allows(Role::Write));
        assert_eq!(Role::parse("write"), Some(Role::Write));
        assert_eq!(Role::parse("root"), None);
    }
}
