//! Sealed claims: `base64url(JSON) "." hex(HMAC-SHA256(secret, that base64))`. What the
//! local-disk store's transfer tokens and the browser's upload sessions are made of: the server
//! keeps nothing, the signature proves the claims are its own, and any change breaks it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why sealed claims are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unsealed {
    /// Not `claims.signature`, or claims that do not read.
    #[error("malformed token")]
    Malformed,
    /// The signature is not ours (changed claims or another secret).
    #[error("bad signature")]
    BadSignature,
}

fn mac(secret: &[u8], claims: &str) -> Hmac<sha2::Sha256> {
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(claims.as_bytes());
    mac
}

/// Seals `claims` with `secret`.
#[must_use]
pub fn seal<T: Serialize>(secret: &[u8], claims: &T) -> String {
    let claims = B64.encode(serde_json::to_vec(claims).unwrap_or_default());
    let signature = hex::encode(mac(secret, &claims).finalize().into_bytes());
    format!("{claims}.{signature}")
}

/// Opens sealed claims, checking the signature in constant time before reading them.
///
/// # Errors
/// [`Unsealed`] says why.
pub fn open<T: DeserializeOwned>(secret: &[u8], token: &str) -> Result<T, Unsealed> {
    let (claims, signature) = token.split_once('.').ok_or(Unsealed::Malformed)?;
    let signature = hex::decode(signature).map_err(|_| Unsealed::Malformed)?;
    mac(secret, claims).verify_slice(&signature).map_err(|_| Unsealed::BadSignature)?;
    serde_json::from_slice(&B64.decode(claims).map_err(|_| Unsealed::Malformed)?).map_err(|_| Unsealed::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_open_with_their_secret_only_and_unchanged() {
        let token = seal(b"secret", &vec![1, 2, 3]);
        assert_eq!(open::<Vec<i32>>(b"secret", &token), Ok(vec![1, 2, 3]));
        assert_eq!(open::<Vec<i32>>(b"other", &token), Err(Unsealed::BadSignature));
        let (_, signature) = token.split_once('.').unwrap();
        let forged = format!("{}.{signature}", B64.encode(b"[1,2,4]"));
        assert_eq!(open::<Vec<i32>>(b"secret", &forged), Err(Unsealed::BadSignature));
        assert_eq!(open::<Vec<i32>>(b"secret", "no-dot"), Err(Unsealed::Malformed));
        assert_eq!(open::<Vec<i32>>(b"secret", "a.zz"), Err(Unsealed::Malformed));
    }
}
