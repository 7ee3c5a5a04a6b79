//! Upload and download tokens: a [`Grant`] sealed with the store's secret
//! ([`stowage_domain::sealed`]).

use serde::{Deserialize, Serialize};

/// What a token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// PUT a whole object.
    Put,
    /// PUT one part of a multipart upload.
    Part,
    /// GET an object.
    Get,
}

/// The claims a token carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// The operation.
    pub op: Op,
    /// The object key.
    pub key: String,
    /// The Content-Type the PUT must send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// The exact length of the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub len: Option<u64>,
    /// The most bytes the body may have (the bucket's limit when no length was declared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_len: Option<u64>,
    /// The SHA-256 hex the body must have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The multipart upload of a part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_id: Option<String>,
    /// The part number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<u32>,
    /// Unix seconds after which the token is refused.
    pub exp: i64,
}

/// Why a token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// Not `claims.signature`, or unreadable claims.
    #[error("malformed token")]
    Malformed,
    /// The signature is not ours (tampered claims or another secret).
    #[error("bad signature")]
    BadSignature,
    /// Past `exp`.
    #[error("expired")]
    Expired,
    /// A token for another operation (a GET token used to PUT, ...).
    #[error("wrong operation")]
    WrongOperation,
    /// A correctly signed token whose key is not a plain relative path inside the store
    /// (`..`, absolute, through a symlink): refused as defence in depth.
    #[error("key outside the store")]
    KeyOutsideStore,
}

/// Signs `grant`.
#[must_use]
pub fn sign(secret: &[u8], grant: &Grant) -> String {
    stowage_domain::sealed::seal(secret, grant)
}

/// Checks a token's signature (in constant time), its expiry and its operation.
///
/// # Errors
/// [`Denied`] says why.
pub fn verify(secret: &[u8], token: &str, op: Op, now: i64) -> Result<Grant, Denied> {
    let grant: Grant = stowage_domain::sealed::open(secret, token).map_err(|e| match e {
        stowage_domain::sealed::Unsealed::Malformed => Denied::Malformed,
        stowage_domain::sealed::Unsealed::BadSignature => Denied::BadSignature,
    })?;
    if grant.exp < now {
        return Err(Denied::Expired);
    }
    let allowed = match op {
        // A part token is presented to the same PUT route as a whole-object token.
        Op::Put | Op::Part => matches!(grant.op, Op::Put | Op::Part),
        Op::Get => grant.op == Op::Get,
    };
    if !allowed {
        return Err(Denied::WrongOperation);
    }
    Ok(grant)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

    fn grant() -> Grant {
        Grant {
            op: Op::Put,
            key: "uploads/a/b.bin".into(),
            content_type: Some("image/png".into()),
            len: Some(5),
            max_len: None,
            sha256: None,
            upload_id: None,
            part: None,
            exp: 1000,
        }
    }

    #[test]
    fn a_token_verifies_until_it_expires_and_only_for_its_operation() {
        let token = sign(b"secret", &grant());
        assert_eq!(verify(b"secret", &token, Op::Put, 999), Ok(grant()));
        assert_eq!(verify(b"secret", &token, Op::Put, 1001), Err(Denied::Expired));
        assert_eq!(verify(b"secret", &token, Op::Get, 999), Err(Denied::WrongOperation));
        assert_eq!(verify(b"other", &token, Op::Put, 999), Err(Denied::BadSignature));
    }

    #[test]
    fn changed_claims_break_the_signature() {
        let token = sign(b"secret", &grant());
        let (_, signature) = token.split_once('.').unwrap();
        let longer = Grant { len: Some(50), ..grant() };
        let forged = format!("{}.{signature}", B64.encode(serde_json::to_vec(&longer).unwrap()));
        assert_eq!(verify(b"secret", &forged, Op::Put, 999), Err(Denied::BadSignature));
        assert_eq!(verify(b"secret", "garbage", Op::Put, 999), Err(Denied::Malformed));
    }
}
