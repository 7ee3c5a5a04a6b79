//! Prefixed identifiers. Every id is its prefix (`upl_`, `obj_`, ...) followed by
//! [`SUFFIX_LEN`] url-safe characters (`A-Z a-z 0-9 - _`). The constructors validate; a value of
//! one of these types is always well-formed, and an upload id can never be passed as an object id.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Length of the random part of every id.
pub const SUFFIX_LEN: usize = 16;

/// An id string that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {what} (expected `{prefix}` followed by {SUFFIX_LEN} url-safe characters)")]
pub struct InvalidId {
    /// What kind of id was expected.
    pub what: &'static str,
    /// The prefix it must carry.
    pub prefix: &'static str,
    /// The rejected input (truncated).
    pub value: String,
}

/// The random part of a new id: exactly [`SUFFIX_LEN`] url-safe characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdSuffix(String);

impl IdSuffix {
    /// Validates a suffix.
    ///
    /// # Errors
    /// When `s` is not exactly [`SUFFIX_LEN`] url-safe characters.
    pub fn parse(s: &str) -> Result<Self, InvalidId> {
        if is_suffix(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidId { what: "id suffix", prefix: "", value: truncate(s) })
        }
    }

    /// Builds a suffix from 16 arbitrary bytes (e.g. random), mapping each to the url-safe alphabet.
    #[must_use]
    pub fn from_bytes(bytes: [u8; SUFFIX_LEN]) -> Self {
        const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        Self(bytes.iter().map(|b| char::from(ALPHABET[usize::from(b & 63)])).collect())
    }

    /// The suffix text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_suffix(s: &str) -> bool {
    s.len() == SUFFIX_LEN && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The prefix every id of this kind starts with.
            pub const PREFIX: &'static str = $prefix;

            /// [`Self::parse`]'s rule as a regular expression, for the API's document.
            pub const PATTERN: &'static str = concat!("^", $prefix, "[A-Za-z0-9_-]{16}$");

            /// Validates an id received from outside.
            ///
            /// # Errors
            /// When `s` lacks the prefix or its suffix is not [`SUFFIX_LEN`] url-safe characters.
            pub fn parse(s: &str) -> Result<Self, InvalidId> {
                match s.strip_prefix($prefix) {
                    Some(rest) if is_suffix(rest) => Ok(Self(s.to_owned())),
                    _ => Err(InvalidId { what: $what, prefix: $prefix, value: truncate(s) }),
                }
            }

            /// A new id from a generated suffix.
            #[must_use]
            pub fn new(suffix: &IdSuffix) -> Self {
                Self(format!("{}{}", $prefix, suffix.as_str()))
            }

            /// The id text, prefix included.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(s: String) -> Result<Self, InvalidId> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, InvalidId> {
                Self::parse(s)
            }
        }
    };
}

prefixed_id!(
    /// Identifies an upload (`upl_...`).
    UploadId, "upl_", "upload id");
prefixed_id!(
    /// Identifies a bucket object (`obj_...`).
    ObjectId, "obj_", "object id");
prefixed_id!(
    /// Identifies a blob, the stored bytes an object points at (`blob_...`).
    BlobId, "blob_", "blob id");
prefixed_id!(
    /// Identifies a batch (`btch_...`).
    BatchId, "btch_", "batch id");
prefixed_id!(
    /// Identifies a task on the queue (`task_...`).
    TaskId, "task_", "task id");
prefixed_id!(
    /// Identifies a bucket (`bkt_...`).
    BucketId, "bkt_", "bucket id");
prefixed_id!(
    /// Identifies a namespace (`ns_...`).
    NamespaceId, "ns_", "namespace id");
prefixed_id!(
    /// Identifies an API key (`key_...`); the secret itself is never stored.
    KeyId, "key_", "key id");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_id_round_trips_through_its_text() {
        let id = UploadId::parse("upl_abcdefghij012345").unwrap();
        assert_eq!(id.as_str(), "upl_abcdefghij012345");
        assert_eq!(id.to_string().parse::<UploadId>().unwrap(), id);
    }

    #[test]
    fn ids_reject_a_foreign_prefix() {
        let err = ObjectId::parse("upl_abcdefghij012345").unwrap_err();
        assert_eq!(err.prefix, "obj_");
        assert!(err.to_string().contains("object id"));
    }

    #[test]
    fn ids_reject_wrong_length_and_unsafe_characters() {
        assert!(UploadId::parse("upl_short").is_err());
        assert!(UploadId::parse("upl_abcdefghij0123456").is_err());
        assert!(UploadId::parse("upl_abcdefghij01234/").is_err());
        assert!(UploadId::parse("upl_abcdefghij01234.").is_err());
        assert!(TaskId::parse("task_ABCDEFGHIJ-_2345").is_ok());
    }

    #[test]
    fn suffix_from_any_bytes_is_url_safe_and_parses() {
        let suffix = IdSuffix::from_bytes([0, 63, 64, 127, 128, 255, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert!(IdSuffix::parse(suffix.as_str()).is_ok());
        assert!(BatchId::parse(BatchId::new(&suffix).as_str()).is_ok());
    }

    #[test]
    fn ids_deserialize_only_when_valid() {
        assert!(serde_json::from_str::<BucketId>("\"bkt_0123456789abcdef\"").is_ok());
        assert!(serde_json::from_str::<BucketId>("\"bkt_nope\"").is_err());
    }
}
