//! API keys: generating a secret, storing only its hash.

use rand::RngCore;
use stowage_domain::auth::hash_secret;
use stowage_domain::auth::{ApiKey, Role, SECRET_PREFIX};
use stowage_domain::bucket::Namespace;
use stowage_domain::error::RepoError;
use stowage_domain::ids::KeyId;
use stowage_domain::usecases::Deps;

/// A new random secret: `sk_` and 43 url-safe characters (256 bits).
#[must_use]
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut secret = String::from(SECRET_PREFIX);
    // 6 bits per character from a 256-bit number: 43 characters.
    let mut acc: u32 = 0;
    let mut bits = 0;
    for b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 6 {
            bits -= 6;
            secret.push(char::from(ALPHABET[((acc >> bits) & 63) as usize]));
        }
    }
    if bits > 0 {
        secret.push(char::from(ALPHABET[((acc << (6 - bits)) & 63) as usize]));
    }
    secret
}

/// Creates a key for `namespace` with `role`; returns it and its secret (shown once, never stored).
///
/// # Errors
/// The repository's error.
pub async fn create_key(
    deps: Deps<'_>,
    namespace: &Namespace,
    role: Role,
    description: Option<String>,
) -> Result<(ApiKey, String), RepoError> {
    create_scoped_key(deps, namespace, role, false, description).await
}

/// Creates a key acting in `namespace` — or, with `all_namespaces`, an operator key acting in
/// every namespace (requests without `X-Namespace` act in `namespace`); returns it and its secret.
///
/// # Errors
/// The repository's error.
pub async fn create_scoped_key(
    deps: Deps<'_>,
    namespace: &Namespace,
    role: Role,
    all_namespaces: bool,
    description: Option<String>,
) -> Result<(ApiKey, String), RepoError> {
    let secret = new_secret();
    let key = ApiKey {
        id: KeyId::new(&deps.ids.suffix()),
        key_hash: hash_secret(&secret),
        role,
        namespaces: vec![namespace.id.clone()],
        all_namespaces,
        description,
        created_at: deps.clock.now(),
        revoked_at: None,
        last_used_at: None,
    };
    deps.keys.create_api_key(&key).await?;
    Ok((key, secret))
}

/// Where the embedded default writes its bootstrap admin key, under the data directory.
#[must_use]
pub fn admin_key_file(data_dir: &std::path::Path) -> std::path::PathBuf {
    data_dir.join("admin.key")
}

/// The namespace the embedded default creates on first start.
pub const DEFAULT_NAMESPACE: &str = "default";

/// First start of the embedded default: creates the `default` namespace with an operator key
/// (admin in every namespace, acting in `default` unless told otherwise), writes
/// the key's secret to `<data_dir>/admin.key` (0600) and returns it. Later starts find the
/// namespace and return `None`.
///
/// # Errors
/// A message when the database or the key file cannot be written.
pub async fn bootstrap(deps: Deps<'_>, data_dir: &std::path::Path) -> Result<Option<String>, String> {
    if deps.tenancy.find_namespace(DEFAULT_NAMESPACE).await.map_err(|e| e.to_string())?.is_some() {
        return Ok(None);
    }
    let name = stowage_domain::names::NamespaceName::parse(DEFAULT_NAMESPACE).map_err(|e| e.to_string())?;
    let namespace =
        stowage_domain::usecases::tenancy::create_namespace(deps, name, None).await.map_err(|e| e.to_string())?;
    let description = Some("bootstrap operator key of the embedded default".to_owned());
    let (_, secret) =
        create_scoped_key(deps, &namespace, Role::Admin, true, description).await.map_err(|e| e.to_string())?;
    let file = admin_key_file(data_dir);
    // A key file without its namespace belongs to a database that is gone: replace it.
    let _ = std::fs::remove_file(&file);
    crate::app::write_private(&file, &format!("{secret}\n"))?;
    Ok(Some(secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_url_safe_and_distinct() {
        let a = new_secret();
        let b = new_secret();
        assert!(a.starts_with("sk_"));
        assert_eq!(a.len(), 3 + 43);
        assert!(a[3..].bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_ne!(a, b);
    }
}
