//! Maps SDK errors onto the domain's `StorageError`. What retrying later can fix (no connection,
//! timeouts, 5xx, throttling) is `Unavailable`; what the operator must fix (access denied, a
//! missing bucket, bad credentials) is `Misconfigured` with a message saying so.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use stowage_domain::error::StorageError;

/// Converts any operation's SDK error.
pub(crate) fn from_sdk<E>(op: &str, bucket: &str, e: SdkError<E, HttpResponse>) -> StorageError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match &e {
        SdkError::TimeoutError(_) => StorageError::Unavailable(format!("{op}: the store did not answer in time")),
        SdkError::DispatchFailure(f) => StorageError::Unavailable(format!("{op}: cannot reach the store: {f:?}")),
        SdkError::ResponseError(_) => StorageError::Unavailable(format!("{op}: unreadable response from the store")),
        SdkError::ConstructionFailure(_) => StorageError::Misconfigured(format!("{op}: cannot build the request: {e}")),
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let code = service.err().code().unwrap_or_default();
            let message = service.err().message().unwrap_or_default();
            match (status, code) {
                (_, "NoSuchBucket") => StorageError::Misconfigured(format!("bucket `{bucket}` does not exist")),
                (_, "NoSuchUpload") => StorageError::NoSuchUpload,
                (_, "AccessDenied" | "InvalidAccessKeyId" | "SignatureDoesNotMatch") | (401 | 403, _) => {
                    StorageError::Misconfigured(format!("{op}: access denied to bucket `{bucket}` ({code}: {message})"))
                }
                (_, "SlowDown" | "ServiceUnavailable" | "InternalError" | "RequestTimeout") | (500..=599 | 429, _) => {
                    StorageError::Unavailable(format!("{op}: the store answered {status} {code}"))
                }
                _ => StorageError::Rejected(format!("{op}: {status} {code}: {message}")),
            }
        }
        _ => StorageError::Unexpected(format!("{op}: {e}")),
    }
}
