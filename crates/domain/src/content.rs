//! What is known about stored bytes: the SHA-256 that identifies content ([`Sha256Hex`]), the
//! store's entity tag ([`ETag`]) and the result of hashing an object ([`ContentDigest`]).
//! An ETag is only an MD5 of the bytes for single-part unencrypted PUTs, so it is never used as
//! a content hash.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A SHA-256 digest as 64 lowercase hexadecimal characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sha256Hex(String);

/// A digest string that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a SHA-256 digest (expected 64 lowercase hexadecimal characters)")]
pub struct InvalidSha256(pub String);

impl Sha256Hex {
    /// Validates 64 lowercase hex characters.
    ///
    /// # Errors
    /// When `s` has another length or any character outside `0-9a-f`.
    pub fn parse(s: &str) -> Result<Self, InvalidSha256> {
        if s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidSha256(s.chars().take(80).collect()))
        }
    }

    /// [`Self::parse`]'s rule as a regular expression, for the API's document.
    pub const PATTERN: &'static str = "^[0-9a-f]{64}$";

    /// Builds the hex form of a raw 32-byte digest.
    #[must_use]
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        Self(to_hex(bytes))
    }

    /// The hex text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Sha256Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Sha256Hex {
    type Error = InvalidSha256;
    fn try_from(s: String) -> Result<Self, InvalidSha256> {
        Self::parse(&s)
    }
}

impl From<Sha256Hex> for String {
    fn from(h: Sha256Hex) -> String {
        h.0
    }
}

/// Lowercase hex of arbitrary bytes.
#[must_use]
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// An entity tag as a store reports it or a client echoes it, normalised: surrounding quotes and
/// a weak `W/` marker are stripped and hex is lowercased, so comparison is case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ETag(String);

/// An etag string that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a valid ETag")]
pub struct InvalidETag(pub String);

impl ETag {
    /// Normalises an etag as received in a header or a JSON body.
    ///
    /// # Errors
    /// When nothing is left after stripping, or the value holds whitespace, quotes or control
    /// characters, or is longer than 1024 characters.
    pub fn parse(raw: &str) -> Result<Self, InvalidETag> {
        let trimmed = raw.trim_matches(|c: char| c.is_ascii_whitespace());
        let unweak = trimmed.strip_prefix("W/").filter(|rest| !rest.is_empty()).unwrap_or(trimmed);
        let unquoted = unweak.strip_prefix('"').and_then(|s| s.strip_suffix('"')).unwrap_or(unweak);
        let ok = !unquoted.is_empty()
            && unquoted.len() <= 1024
            && unquoted.chars().all(|c| c.is_ascii_graphic() && c != '"');
        if ok { Ok(Self(unquoted.to_ascii_lowercase())) } else { Err(InvalidETag(raw.chars().take(80).collect())) }
    }

    /// [`Self::parse`]'s rule as a regular expression, for the API's document.
    pub const PATTERN: &'static str = r#"^[ \t\n\f\r]*(W/)?("[!#-~]{1,1024}"|[!#-~]{1,1024})[ \t\n\f\r]*$"#;

    /// The normalised value, without quotes.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number of parts when this is a multipart etag (`<hex>-N`).
    #[must_use]
    pub fn multipart_parts(&self) -> Option<u32> {
        let (hex, count) = self.0.rsplit_once('-')?;
        let is_md5 = hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit());
        if is_md5 { count.parse().ok().filter(|n| *n > 0) } else { None }
    }

    /// The MD5 of the bytes, when this etag is one (single-part, 32 hex characters).
    #[must_use]
    pub fn as_md5(&self) -> Option<&str> {
        (self.0.len() == 32 && self.0.bytes().all(|b| b.is_ascii_hexdigit())).then_some(&*self.0)
    }
}

impl fmt::Display for ETag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ETag {
    type Error = InvalidETag;
    fn try_from(s: String) -> Result<Self, InvalidETag> {
        Self::parse(&s)
    }
}

impl From<ETag> for String {
    fn from(e: ETag) -> String {
        e.0
    }
}

/// A SHA-256 checksum the store keeps for an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredChecksum {
    /// A checksum of the whole object: usable as the content hash.
    FullObject(Sha256Hex),
    /// A checksum of part checksums (multipart); not a hash of the content.
    Composite(String),
}

/// The result of streaming an object through SHA-256 and MD5 in one pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentDigest {
    /// SHA-256 of the content.
    pub sha256: Sha256Hex,
    /// MD5 of the content, lowercase hex.
    pub md5_hex: String,
    /// How many bytes were hashed.
    pub bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY_SHA: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn sha256_accepts_lowercase_hex_only() {
        assert!(Sha256Hex::parse(EMPTY_SHA).is_ok());
        assert!(Sha256Hex::parse(&EMPTY_SHA.to_uppercase()).is_err());
        assert!(Sha256Hex::parse(&EMPTY_SHA[..63]).is_err());
        assert!(Sha256Hex::parse(&format!("{}g", &EMPTY_SHA[..63])).is_err());
    }

    #[test]
    fn sha256_from_bytes_is_lowercase_hex() {
        let h = Sha256Hex::from_bytes(&[0xab; 32]);
        assert_eq!(h.as_str(), "ab".repeat(32));
    }

    #[test]
    fn etag_strips_quotes_and_weak_marker_and_ignores_case() {
        let a = ETag::parse("\"D41D8CD98F00B204E9800998ECF8427E\"").unwrap();
        let b = ETag::parse("W/\"d41d8cd98f00b204e9800998ecf8427e\"").unwrap();
        let c = ETag::parse("d41d8cd98f00b204e9800998ecf8427e").unwrap();
        assert_eq!(a, b);
        assert_eq!(b, c);
        assert_eq!(a.as_md5(), Some("d41d8cd98f00b204e9800998ecf8427e"));
    }

    #[test]
    fn etag_knows_a_multipart_etag() {
        let e = ETag::parse("\"0123456789abcdef0123456789abcdef-3\"").unwrap();
        assert_eq!(e.multipart_parts(), Some(3));
        assert_eq!(e.as_md5(), None);
        assert_eq!(ETag::parse("abc-3").unwrap().multipart_parts(), None);
    }

    #[test]
    fn etag_rejects_empty_and_whitespace() {
        assert!(ETag::parse("\"\"").is_err());
        assert!(ETag::parse("").is_err());
        assert!(ETag::parse("ab cd").is_err());
    }
}

/// A file size in bytes, at least 1 (the contract's `file_size_bytes` has `minimum: 1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u64")]
pub struct FileSize(u64);

/// A size that failed validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("file size must be at least 1 byte and at most {max} bytes, got {got}", max = FileSize::MAX)]
pub struct InvalidFileSize {
    /// The rejected value.
    pub got: u64,
}

impl FileSize {
    /// The largest object S3 accepts: 5 TiB.
    pub const MAX: u64 = 5 * 1024 * 1024 * 1024 * 1024;

    /// Validates a size.
    ///
    /// # Errors
    /// When `n` is 0 or above [`FileSize::MAX`].
    pub const fn new(n: u64) -> Result<Self, InvalidFileSize> {
        if n >= 1 && n <= Self::MAX { Ok(Self(n)) } else { Err(InvalidFileSize { got: n }) }
    }

    /// The number of bytes.
    #[must_use]
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl TryFrom<u64> for FileSize {
    type Error = InvalidFileSize;
    fn try_from(n: u64) -> Result<Self, InvalidFileSize> {
        Self::new(n)
    }
}

impl From<FileSize> for u64 {
    fn from(s: FileSize) -> u64 {
        s.0
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;

    #[test]
    fn file_size_is_between_one_byte_and_five_tib() {
        assert!(FileSize::new(0).is_err());
        assert_eq!(FileSize::new(1).unwrap().get(), 1);
        assert!(FileSize::new(FileSize::MAX).is_ok());
        assert!(FileSize::new(FileSize::MAX + 1).is_err());
    }
}
