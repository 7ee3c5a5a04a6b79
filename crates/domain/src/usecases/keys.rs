//! API keys as admins manage them over the API: list the keys of a namespace, revoke one. Who may
//! do what is decided here, not in handlers: only admins manage keys, only the keys of the
//! namespace they act in, and never a key that holds more than they do (a namespace admin cannot
//! revoke an operator key).

use crate::auth::{ApiKey, Role};
use crate::bucket::Namespace;
use crate::error::{Coded, ErrorKind, RepoError, code_of_repo, kind_of_repo};
use crate::ids::KeyId;
use crate::ports::{Clock, KeyRepo};

/// Why a key operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The caller is not an admin.
    #[error("managing keys needs an `admin` key")]
    NotAdmin,
    /// No such key in this namespace.
    #[error("API key not found")]
    NotFound,
    /// The key holds more than the caller.
    #[error("this key holds more than yours: only an operator key may revoke it")]
    Outranked,
    /// The database failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
}

impl Coded for KeyError {
    fn code(&self) -> &'static str {
        match self {
            Self::NotAdmin => crate::error::codes::INSUFFICIENT_ROLE,
            Self::NotFound => crate::error::codes::API_KEY_NOT_FOUND,
            Self::Outranked => crate::error::codes::INSUFFICIENT_ROLE,
            Self::Repo(e) => code_of_repo(e),
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            Self::NotAdmin | Self::Outranked => ErrorKind::Forbidden,
            Self::NotFound => ErrorKind::NotFound,
            Self::Repo(e) => kind_of_repo(e),
        }
    }
}

fn require_admin(caller: &ApiKey) -> Result<(), KeyError> {
    if caller.role == Role::Admin { Ok(()) } else { Err(KeyError::NotAdmin) }
}

/// The keys that list `namespace`, revoked ones included.
///
/// # Errors
/// `NotAdmin`, or a database failure.
pub async fn list(keys: &dyn KeyRepo, caller: &ApiKey, namespace: &Namespace) -> Result<Vec<ApiKey>, KeyError> {
    require_admin(caller)?;
    Ok(keys.list_api_keys(Some(namespace.id.clone())).await?)
}

/// Revokes the key `id` of `namespace`; revoking twice answers the key as first revoked.
///
/// # Errors
/// `NotAdmin`; `NotFound` for a key of another namespace; `Outranked`; a database failure.
pub async fn revoke(
    keys: &dyn KeyRepo,
    clock: &dyn Clock,
    caller: &ApiKey,
    namespace: &Namespace,
    id: &KeyId,
) -> Result<ApiKey, KeyError> {
    require_admin(caller)?;
    let target = keys
        .list_api_keys(Some(namespace.id.clone()))
        .await?
        .into_iter()
        .find(|k| &k.id == id)
        .ok_or(KeyError::NotFound)?;
    if !caller.may_manage(target.role, target.all_namespaces) {
        return Err(KeyError::Outranked);
    }
    keys.revoke_api_key(id, clock.now()).await?.ok_or(KeyError::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::NamespaceId;
    use crate::names::NamespaceName;
    use crate::ports::{MockClock, MockKeyRepo};
    use time::OffsetDateTime;

    fn namespace() -> Namespace {
        Namespace {
            id: NamespaceId::parse("ns_0000000000000001").unwrap(),
            name: NamespaceName::parse("acme").unwrap(),
            description: None,
            created_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    fn key(id: &str, role: Role, all_namespaces: bool) -> ApiKey {
        ApiKey {
            id: KeyId::parse(id).unwrap(),
            key_hash: id.to_owned(),
            role,
            namespaces: vec![namespace().id],
            all_namespaces,
            description: None,
            created_at: OffsetDateTime::UNIX_EPOCH,
            revoked_at: None,
            last_used_at: None,
        }
    }

    fn repo_with(keys: Vec<ApiKey>) -> MockKeyRepo {
        let mut repo = MockKeyRepo::new();
        repo.expect_list_api_keys().returning(move |_| Ok(keys.clone()));
        repo.expect_revoke_api_key().returning(|id, now| {
            let mut k = key(id.as_str(), Role::Read, false);
            k.revoked_at = Some(now);
            Ok(Some(k))
        });
        repo
    }

    fn clock() -> MockClock {
        let mut clock = MockClock::new();
        clock.expect_now().return_const(OffsetDateTime::UNIX_EPOCH);
        clock
    }

    #[tokio::test]
    async fn only_admins_list_and_revoke_and_never_a_key_above_them() {
        let admin = key("key_000000000000000a", Role::Admin, false);
        let writer = key("key_000000000000000w", Role::Write, false);
        let operator = key("key_000000000000000o", Role::Admin, true);
        let repo = repo_with(vec![admin.clone(), writer.clone(), operator.clone()]);
        let ns = namespace();
        assert_eq!(list(&repo, &writer, &ns).await, Err(KeyError::NotAdmin));
        assert_eq!(list(&repo, &admin, &ns).await.unwrap().len(), 3);
        assert_eq!(revoke(&repo, &clock(), &writer, &ns, &admin.id).await, Err(KeyError::NotAdmin));
        assert_eq!(revoke(&repo, &clock(), &admin, &ns, &operator.id).await, Err(KeyError::Outranked));
        let unknown = KeyId::parse("key_000000000000000x").unwrap();
        assert_eq!(revoke(&repo, &clock(), &admin, &ns, &unknown).await, Err(KeyError::NotFound));
        let revoked = revoke(&repo, &clock(), &admin, &ns, &writer.id).await.unwrap();
        assert_eq!(revoked.revoked_at, Some(OffsetDateTime::UNIX_EPOCH));
        assert!(revoke(&repo, &clock(), &operator, &ns, &operator.id).await.is_ok());
    }
}
