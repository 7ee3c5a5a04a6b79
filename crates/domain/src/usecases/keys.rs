//! API keys as admins manage them over the API: list the keys of a namespace, revoke one. Who may
//! do what is decided here, not in handlers: only admins manage keys, only the keys of the
//! namespace they act in, and never a key that holds more than they do (a namespace admin cannot
//! revoke an operator key).

use super::Deps;
use crate::auth::ApiKey;
use crate::bucket::Namespace;
use crate::error::{Coded, ErrorKind, RepoError, code_of_repo, kind_of_repo};
use crate::ids::KeyId;

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
    crate::auth::authorize(caller, crate::auth::Operation::ManageKeys).map_err(|_| KeyError::NotAdmin)
}

/// The key a bearer `secret` names, when it is known and not revoked; `None` otherwise (an
/// unknown and a revoked key look the same to the caller).
///
/// # Errors
/// A database failure.
pub async fn authenticate(deps: Deps<'_>, secret: &str) -> Result<Option<ApiKey>, RepoError> {
    let key = deps.keys.find_api_key(&crate::auth::hash_secret(secret)).await?;
    Ok(key.filter(|k| k.revoked_at.is_none()))
}

/// The keys that list `namespace`, revoked ones included.
///
/// # Errors
/// `NotAdmin`, or a database failure.
pub async fn list(deps: Deps<'_>, caller: &ApiKey, namespace: &Namespace) -> Result<Vec<ApiKey>, KeyError> {
    require_admin(caller)?;
    Ok(deps.keys.list_api_keys(Some(namespace.id.clone())).await?)
}

/// Revokes the key `id` of `namespace`; revoking twice answers the key as first revoked.
///
/// # Errors
/// `NotAdmin`; `NotFound` for a key of another namespace; `Outranked`; a database failure.
pub async fn revoke(deps: Deps<'_>, caller: &ApiKey, namespace: &Namespace, id: &KeyId) -> Result<ApiKey, KeyError> {
    require_admin(caller)?;
    let target = deps
        .keys
        .list_api_keys(Some(namespace.id.clone()))
        .await?
        .into_iter()
        .find(|k| &k.id == id)
        .ok_or(KeyError::NotFound)?;
    if !caller.may_manage(target.role, target.all_namespaces) {
        return Err(KeyError::Outranked);
    }
    deps.keys.revoke_api_key(id, deps.clock.now()).await?.ok_or(KeyError::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;
    use crate::ids::NamespaceId;
    use crate::names::NamespaceName;
    use crate::usecases::testkit::World;
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

    fn world_with(keys: Vec<ApiKey>) -> World {
        let mut world = World::new();
        world.keys.expect_list_api_keys().returning(move |_| Ok(keys.clone()));
        world.keys.expect_revoke_api_key().returning(|id, now| {
            let mut k = key(id.as_str(), Role::Read, false);
            k.revoked_at = Some(now);
            Ok(Some(k))
        });
        world
    }

    #[tokio::test]
    async fn only_admins_list_and_revoke_and_never_a_key_above_them() {
        let admin = key("key_000000000000000a", Role::Admin, false);
        let writer = key("key_000000000000000w", Role::Write, false);
        let operator = key("key_000000000000000o", Role::Admin, true);
        let world = world_with(vec![admin.clone(), writer.clone(), operator.clone()]);
        let ns = namespace();
        assert_eq!(list(world.deps(), &writer, &ns).await, Err(KeyError::NotAdmin));
        assert_eq!(list(world.deps(), &admin, &ns).await.unwrap().len(), 3);
        assert_eq!(revoke(world.deps(), &writer, &ns, &admin.id).await, Err(KeyError::NotAdmin));
        assert_eq!(revoke(world.deps(), &admin, &ns, &operator.id).await, Err(KeyError::Outranked));
        let unknown = KeyId::parse("key_000000000000000x").unwrap();
        assert_eq!(revoke(world.deps(), &admin, &ns, &unknown).await, Err(KeyError::NotFound));
        let revoked = revoke(world.deps(), &admin, &ns, &writer.id).await.unwrap();
        assert_eq!(revoked.revoked_at, Some(crate::usecases::testkit::NOW));
        assert!(revoke(world.deps(), &operator, &ns, &operator.id).await.is_ok());
    }

    #[tokio::test]
    async fn a_secret_is_looked_up_by_its_hash_and_a_revoked_key_is_unknown() {
        let mut world = World::new();
        let mut revoked = key("key_000000000000000r", Role::Write, false);
        revoked.revoked_at = Some(OffsetDateTime::UNIX_EPOCH);
        let live = key("key_000000000000000l", Role::Write, false);
        world.keys.expect_find_api_key().returning(move |hash| {
            Ok(if hash == crate::auth::hash_secret("live") {
                Some(live.clone())
            } else if hash == crate::auth::hash_secret("revoked") {
                Some(revoked.clone())
            } else {
                None
            })
        });
        assert_eq!(authenticate(world.deps(), "live").await.unwrap().unwrap().id.as_str(), "key_000000000000000l");
        assert_eq!(authenticate(world.deps(), "revoked").await.unwrap(), None);
        assert_eq!(authenticate(world.deps(), "guess").await.unwrap(), None);
    }
}
