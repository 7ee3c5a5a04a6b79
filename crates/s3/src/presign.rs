//! Presigned PUT URLs signed with `aws-sigv4` directly.
//!
//! The SDK's fluent presigner runs the whole operation pipeline for each URL — endpoint rules
//! (with their regular expressions), interceptors, identity resolution, the serializer — which was
//! about a fifth of stowage's CPU per create upload (measured with `perf` under `cargo xtask bench
//! create`). The URL of a PUT differs from another only by its key, headers and time, so the SDK
//! presigns once, for a placeholder key, to learn the bucket's address (path or virtual-host style,
//! public endpoint) and the query it adds; each URL is then signed by the same `aws-sigv4` crate
//! the SDK itself signs with, with the settings it uses for S3. A unit test holds the result equal,
//! byte for byte, to the SDK's own presigned URL for the same request and time.

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings, UriPathNormalizationMode,
    sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

/// The placeholder key the SDK presigns to reveal the bucket's address.
pub(crate) const PLACEHOLDER_KEY: &str = "stowage-placeholder";

/// Where PUTs go: the bucket's URL, and the query the SDK puts before the signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Address {
    /// `scheme://host[:port][/bucket]`, without a trailing slash.
    pub base: String,
    /// The operation's own query (`x-id=PutObject`), without `?`; may be empty.
    pub query: String,
}

impl Address {
    /// Reads the address off a URL the SDK presigned for [`PLACEHOLDER_KEY`].
    pub(crate) fn from_presigned(uri: &str) -> Option<Self> {
        let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
        let base = path.strip_suffix(PLACEHOLDER_KEY)?.strip_suffix('/')?.to_owned();
        let query = query.split('&').filter(|p| !p.starts_with("X-Amz-")).collect::<Vec<_>>().join("&");
        Some(Self { base, query })
    }
}

/// One PUT to sign.
pub(crate) struct Put<'a> {
    /// The object's full key.
    pub key: &'a str,
    /// Headers the client must send, lowercase, signed.
    pub headers: &'a [(&'static str, String)],
    /// When the signature starts.
    pub now: SystemTime,
    /// How long it lasts.
    pub expires_in: Duration,
}

/// The presigned URL of `put`.
pub(crate) fn presign_put(
    address: &Address,
    credentials: &Credentials,
    region: &str,
    put: &Put<'_>,
) -> Result<String, String> {
    let mut url = format!("{}/", address.base);
    encode_into(&mut url, put.key, true);
    if !address.query.is_empty() {
        url.push('?');
        url.push_str(&address.query);
    }
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(put.expires_in);
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    let identity = Identity::from(credentials.clone());
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("s3")
        .time(put.now)
        .settings(settings)
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let headers = put.headers.iter().map(|(k, v)| (*k, v.as_str()));
    let signable =
        SignableRequest::new("PUT", &url, headers, SignableBody::UnsignedPayload).map_err(|e| e.to_string())?;
    let (instructions, _signature) = sign(signable, &params).map_err(|e| e.to_string())?.into_parts();
    let mut separator = if address.query.is_empty() { '?' } else { '&' };
    for (name, value) in instructions.params() {
        url.push(separator);
        separator = '&';
        encode_into(&mut url, name, false);
        url.push('=');
        encode_into(&mut url, value, false);
    }
    Ok(url)
}

/// Percent-encodes `s` onto `out` as the SDK does: every byte but the unreserved ones (and `/`
/// in a key's path).
fn encode_into(out: &mut String, s: &str, keep_slash: bool) {
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') || (keep_slash && b == b'/') {
            out.push(char::from(b));
        } else {
            let _infallible = write!(out, "%{b:02X}");
        }
    }
}
