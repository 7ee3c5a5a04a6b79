//! Validated names: [`Filename`], [`ContentType`] (and the patterns buckets allow),
//! [`ObjectKey`], [`BucketName`] and [`NamespaceName`].

use serde::{Deserialize, Serialize};
use std::fmt;

/// A name that failed validation, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what}: {reason}")]
pub struct InvalidName {
    /// Which kind of name.
    pub what: &'static str,
    /// Why it was rejected.
    pub reason: &'static str,
}

const fn invalid(what: &'static str, reason: &'static str) -> InvalidName {
    InvalidName { what, reason }
}

macro_rules! string_newtype {
    ($name:ident) => {
        impl $name {
            /// The validated text.
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
            type Error = InvalidName;
            fn try_from(s: String) -> Result<Self, InvalidName> {
                Self::parse(&s)
            }
        }
        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }
    };
}

/// A client's file name: 1–255 bytes, no path separators, no `..`, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Filename(String);

impl Filename {
    /// Validates a file name.
    ///
    /// # Errors
    /// When it is empty, longer than [`Self::MAX_CHARS`] characters, `.` or `..`, or holds `/`,
    /// `\` or a control character. The same rule is [`Self::PATTERN`] in the API's document.
    pub fn parse(s: &str) -> Result<Self, InvalidName> {
        const WHAT: &str = "filename";
        if s.is_empty() {
            return Err(invalid(WHAT, "must not be empty"));
        }
        if s.chars().count() > Self::MAX_CHARS {
            return Err(invalid(WHAT, "must be at most 255 characters"));
        }
        if s.contains(['/', '\\']) {
            return Err(invalid(WHAT, "must not contain path separators"));
        }
        // The filename is the last segment of its upload's object key: it obeys the key's
        // segment rule, so every accepted filename yields a key that parses.
        if !is_key_segment(s) {
            return Err(invalid(WHAT, "must not be `.` or `..` or contain control characters"));
        }
        Ok(Self(s.to_owned()))
    }

    /// The longest filename, in characters.
    pub const MAX_CHARS: usize = 255;

    /// [`Self::parse`]'s rule as a regular expression (no look-around, so every JSON Schema
    /// validator and generator reads it): 1–255 characters, none of them `/`, `\` or a control
    /// character (Unicode `Cc`), and not `.` or `..`.
    pub const PATTERN: &'static str = r"^([^./\\\u0000-\u001f\u007f-\u009f][^/\\\u0000-\u001f\u007f-\u009f]{0,254}|\.[^./\\\u0000-\u001f\u007f-\u009f][^/\\\u0000-\u001f\u007f-\u009f]{0,253}|\.\.[^/\\\u0000-\u001f\u007f-\u009f]{1,253})$";
}
string_newtype!(Filename);

/// A MIME type `type/subtype` with optional parameters, stored lowercase without parameters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ContentType(String);

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.len() <= 127 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
}

impl ContentType {
    /// Validates a MIME type such as `image/png` or `text/plain; charset=utf-8`.
    ///
    /// # Errors
    /// When it is not `type/subtype` made of RFC 6838 token characters.
    pub fn parse(s: &str) -> Result<Self, InvalidName> {
        // Only HTTP's optional whitespace (space, tab) is trimmed, as in a `Content-Type` header.
        let essence = s.split(';').next().unwrap_or_default().trim_matches([' ', '\t']).to_ascii_lowercase();
        match essence.split_once('/') {
            Some((t, sub)) if is_token(t) && is_token(sub) => Ok(Self(essence)),
            _ => Err(invalid("content type", "must be a MIME type such as `image/png`")),
        }
    }

    /// [`Self::parse`]'s rule as a regular expression, for the API's document.
    pub const PATTERN: &'static str =
        r"^[ \t]*[A-Za-z0-9!#$&^_.+-]{1,127}/[A-Za-z0-9!#$&^_.+-]{1,127}[ \t]*(;[\s\S]*)?$";

    /// True when this type matches a bucket pattern: exact (`image/png`), a family (`image/*`)
    /// or anything (`*/*`, `*`).
    #[must_use]
    pub fn matches(&self, pattern: &str) -> bool {
        let pattern = pattern.trim().to_ascii_lowercase();
        if pattern == "*" || pattern == "*/*" {
            return true;
        }
        match pattern.strip_suffix("/*") {
            Some(family) => self.0.split('/').next() == Some(family),
            None => self.0 == pattern,
        }
    }
}
string_newtype!(ContentType);

/// A key inside the object store, relative to the adapter's configured prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ObjectKey(String);

impl ObjectKey {
    /// Validates a key: 1–1024 bytes, no leading `/`, no control characters, no `..` segment.
    ///
    /// # Errors
    /// When any of the rules above is broken.
    pub fn parse(s: &str) -> Result<Self, InvalidName> {
        const WHAT: &str = "object key";
        if s.is_empty() || s.len() > 1024 {
            return Err(invalid(WHAT, "must be 1 to 1024 bytes"));
        }
        if s.starts_with('/') || !s.split('/').all(is_key_segment) {
            return Err(invalid(WHAT, "must be a relative path without `.` or `..` segments or control characters"));
        }
        Ok(Self(s.to_owned()))
    }

    /// The bucket and upload whose bytes this key holds, for keys made by [`Self::for_upload`].
    #[must_use]
    pub fn upload(&self) -> Option<(crate::ids::BucketId, crate::ids::UploadId)> {
        let mut segments = self.0.strip_prefix(UPLOAD_PREFIX)?.split('/');
        let (_namespace, bucket, upload) = (segments.next()?, segments.next()?, segments.next()?);
        Some((crate::ids::BucketId::parse(bucket).ok()?, crate::ids::UploadId::parse(upload).ok()?))
    }

    /// The key of an upload's bytes: `uploads/<namespace>/<bucket>/<upload>/<filename>`. Every
    /// upload has its own key, so no two uploads ever write the same object.
    #[must_use]
    pub fn for_upload(
        namespace: &crate::ids::NamespaceId,
        bucket: &crate::ids::BucketId,
        upload: &crate::ids::UploadId,
        filename: &Filename,
    ) -> Self {
        // A key segment (and a file name on disk) holds at most 255 bytes: a longer filename is
        // cut at a character boundary in the key; the upload keeps its full name.
        let mut end = filename.as_str().len().min(255);
        while !filename.as_str().is_char_boundary(end) {
            end -= 1;
        }
        Self(format!("{UPLOAD_PREFIX}{namespace}/{bucket}/{upload}/{}", &filename.as_str()[..end]))
    }
}
string_newtype!(ObjectKey);

/// Every upload's key starts with this; the orphan reconciler lists it.
pub const UPLOAD_PREFIX: &str = "uploads/";

/// A bucket's name: 1–63 characters of `a-z 0-9 - _ .`, starting with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BucketName(String);

/// The rule of bucket and namespace names as a regular expression, for the API's document.
pub const RESOURCE_NAME_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$";

fn is_resource_name(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

impl BucketName {
    /// Validates a bucket name.
    ///
    /// # Errors
    /// When it is not 1–63 characters of letters, digits, `-`, `_` or `.`, starting with a letter
    /// or digit.
    pub fn parse(s: &str) -> Result<Self, InvalidName> {
        if is_resource_name(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(invalid("bucket name", "must be 1-63 letters, digits, `-`, `_` or `.`"))
        }
    }
}
string_newtype!(BucketName);

/// A namespace's name, with the same rules as a bucket name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NamespaceName(String);

impl NamespaceName {
    /// Validates a namespace name.
    ///
    /// # Errors
    /// When it is not 1–63 characters of letters, digits, `-`, `_` or `.`, starting with a letter
    /// or digit.
    pub fn parse(s: &str) -> Result<Self, InvalidName> {
        if is_resource_name(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(invalid("namespace name", "must be 1-63 letters, digits, `-`, `_` or `.`"))
        }
    }
}
string_newtype!(NamespaceName);

/// One segment of an object key: not `.` or `..`, no control characters (the caller splits on
/// `/`). The one rule for keys and for the filenames that end them.
fn is_key_segment(segment: &str) -> bool {
    segment != "." && segment != ".." && !segment.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn every_accepted_filename_yields_a_key_that_parses(name in "\\PC{0,40}|[.]{1,3}|[a-z.]{1,4}") {
            if let Ok(filename) = Filename::parse(&name) {
                let suffix = crate::ids::IdSuffix::parse("0123456789abcdef").unwrap();
                let key = ObjectKey::for_upload(
                    &crate::ids::NamespaceId::new(&suffix),
                    &crate::ids::BucketId::new(&suffix),
                    &crate::ids::UploadId::new(&suffix),
                    &filename,
                );
                let parsed = ObjectKey::parse(key.as_str());
                proptest::prop_assert!(parsed.is_ok(), "{name:?} -> {key}: {parsed:?}");
                proptest::prop_assert_eq!(key.upload().map(|(_, u)| u), Some(crate::ids::UploadId::new(&suffix)));
            }
        }
    }

    #[test]
    fn filename_accepts_ordinary_names() {
        assert!(Filename::parse("photo 1.jpg").is_ok());
        assert!(Filename::parse("résumé.pdf").is_ok());
        assert!(Filename::parse(&"a".repeat(255)).is_ok());
    }

    #[test]
    fn filename_rejects_paths_traversal_control_and_length() {
        for bad in ["", ".", "a/b", "a\\b", "..", "a\nb", "a\u{0}b", "a\u{85}b"] {
            assert!(Filename::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(Filename::parse(&"a".repeat(256)).is_err());
        assert!(Filename::parse(&"é".repeat(255)).is_ok(), "the limit counts characters, as JSON Schema does");
    }

    /// A pattern without its `^…$` (proptest generates from the inside).
    fn unanchored(pattern: &str) -> &str {
        pattern.strip_prefix('^').and_then(|p| p.strip_suffix('$')).unwrap()
    }

    proptest::proptest! {
        /// The document's pattern and the server's rule are the same rule: what a client
        /// generates from the pattern is accepted, and what the server accepts matches it.
        #[test]
        fn filename_pattern_and_rule_agree(
            generated in proptest::string::string_regex(unanchored(Filename::PATTERN)).unwrap(),
            any in "\\PC{0,8}|[./\\\\a\\x00\\x85 ]{0,4}|.{250,260}",
        ) {
            let pattern = regex_lite::Regex::new(Filename::PATTERN).unwrap();
            proptest::prop_assert!(Filename::parse(&generated).is_ok(), "{generated:?}");
            proptest::prop_assert_eq!(Filename::parse(&any).is_ok(), pattern.is_match(&any), "{:?}", any);
        }
    }

    proptest::proptest! {
        #[test]
        fn name_pattern_and_rule_agree(
            generated in proptest::string::string_regex(unanchored(RESOURCE_NAME_PATTERN)).unwrap(),
            any in "[a-z0-9._ /-]{0,4}|.{0,3}|[a-z]{60,66}",
        ) {
            let pattern = regex_lite::Regex::new(RESOURCE_NAME_PATTERN).unwrap();
            proptest::prop_assert!(BucketName::parse(&generated).is_ok(), "{generated:?}");
            proptest::prop_assert_eq!(BucketName::parse(&any).is_ok(), pattern.is_match(&any), "{:?}", any);
        }

        #[test]
        fn content_type_pattern_and_rule_agree(
            generated in proptest::string::string_regex(unanchored(ContentType::PATTERN)).unwrap(),
            any in "[ \t\n]?[a-z+*]{0,3}[/;]?[a-z /;\t]{0,4}",
        ) {
            let pattern = regex_lite::Regex::new(ContentType::PATTERN).unwrap();
            proptest::prop_assert!(ContentType::parse(&generated).is_ok(), "{generated:?}");
            proptest::prop_assert_eq!(ContentType::parse(&any).is_ok(), pattern.is_match(&any), "{:?}", any);
        }

        #[test]
        fn etag_pattern_and_rule_agree(
            generated in proptest::string::string_regex(unanchored(crate::content::ETag::PATTERN)).unwrap(),
            any in "[ ]?(W/)?\"?[a-f0-9 \"/-]{0,6}\"?[ ]?",
        ) {
            use crate::content::ETag;
            let pattern = regex_lite::Regex::new(ETag::PATTERN).unwrap();
            proptest::prop_assert!(ETag::parse(&generated).is_ok(), "{generated:?}");
            proptest::prop_assert_eq!(ETag::parse(&any).is_ok(), pattern.is_match(&any), "{:?}", any);
        }

        #[test]
        fn id_pattern_and_rule_agree(any in "(upl_|obj_|upl)?[A-Za-z0-9_=-]{14,18}") {
            let pattern = regex_lite::Regex::new(crate::ids::UploadId::PATTERN).unwrap();
            proptest::prop_assert_eq!(crate::ids::UploadId::parse(&any).is_ok(), pattern.is_match(&any), "{:?}", any);
        }
    }

    #[test]
    fn a_long_filename_is_cut_to_255_bytes_in_its_key() {
        let suffix = crate::ids::IdSuffix::parse("0123456789abcdef").unwrap();
        let name = Filename::parse(&"é".repeat(200)).unwrap();
        let key = ObjectKey::for_upload(
            &crate::ids::NamespaceId::new(&suffix),
            &crate::ids::BucketId::new(&suffix),
            &crate::ids::UploadId::new(&suffix),
            &name,
        );
        let last = key.as_str().rsplit('/').next().unwrap();
        assert_eq!((last.len(), last.chars().count()), (254, 127));
        assert!(ObjectKey::parse(key.as_str()).is_ok());
    }

    #[test]
    fn content_type_is_normalised_and_matches_patterns() {
        let ct = ContentType::parse("Image/PNG; charset=binary").unwrap();
        assert_eq!(ct.as_str(), "image/png");
        assert!(ct.matches("image/*"));
        assert!(ct.matches("image/png"));
        assert!(ct.matches("*/*"));
        assert!(!ct.matches("video/*"));
        assert!(!ct.matches("image/jpeg"));
    }

    #[test]
    fn content_type_rejects_non_mime() {
        for bad in ["", "png", "image/", "/png", "image png/x", "a/b/c"] {
            assert!(ContentType::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn object_key_rejects_traversal() {
        assert!(ObjectKey::parse("a/b/c.txt").is_ok());
        assert!(ObjectKey::parse("/a").is_err());
        assert!(ObjectKey::parse("a/../b").is_err());
        assert!(ObjectKey::parse("").is_err());
    }

    #[test]
    fn bucket_names_follow_the_rules() {
        assert!(BucketName::parse("photos-2024").is_ok());
        assert!(BucketName::parse("-photos").is_err());
        assert!(BucketName::parse("pho tos").is_err());
        assert!(BucketName::parse(&"a".repeat(64)).is_err());
    }
}
