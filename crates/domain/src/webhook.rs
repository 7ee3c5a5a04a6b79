//! Webhooks: events about uploads and batches POSTed to a bucket's `webhook_url`.
//!
//! An event is written as a delivery task in the same transaction as the state change it reports
//! (a transactional outbox), so an event is never lost nor sent for a change that was rolled
//! back. The task's inputs hold the rendered event, so every attempt sends the same bytes with
//! the same event id; receivers deduplicate on `Stowage-Event-Id`. Each attempt is signed afresh:
//! `Stowage-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.

use crate::batch::Batch;
use crate::bucket::Bucket;
use crate::ids::{BucketId, NamespaceId, TaskId};
use crate::ports::IdGenerator;
use crate::status::TaskStatus;
use crate::task::{NewTask, TaskType};
use crate::upload::Upload;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The header carrying the event id.
pub const EVENT_ID_HEADER: &str = "Stowage-Event-Id";
/// The header carrying the event type.
pub const EVENT_TYPE_HEADER: &str = "Stowage-Event-Type";
/// The header carrying the timestamp and signature.
pub const SIGNATURE_HEADER: &str = "Stowage-Signature";
/// The prefix of a bucket's webhook secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// Checks a bucket's `webhook_url`: `http://` or `https://` with a host, at most 2048 bytes, no
/// whitespace — and, unless `allow_private`, not a loopback, private, link-local or otherwise
/// non-public address (`localhost`, `127.0.0.1`, `10.0.0.1`, `169.254.169.254`, `[::1]`, ...), so
/// a tenant cannot make the worker call into the operator's network (SSRF). Names are checked
/// here only as far as they can be without DNS; the sender checks every resolved address again.
///
/// # Errors
/// Why the URL is refused.
pub fn check_target_url(url: &str, allow_private: bool) -> Result<(), &'static str> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    let authority = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or_default()).unwrap_or_default();
    if authority.is_empty() || url.chars().any(char::is_whitespace) || url.len() > 2048 {
        return Err("webhook_url must be an http:// or https:// URL");
    }
    if allow_private {
        return Ok(());
    }
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let host = match host_port.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => host_port.rsplit_once(':').map_or(host_port, |(h, _)| h),
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let private_name = host == "localhost" || host.ends_with(".localhost");
    let private_ip = host.parse::<std::net::IpAddr>().is_ok_and(|ip| !is_public_ip(ip));
    if private_name || private_ip {
        return Err("webhook_url must not point at a loopback, private or link-local address");
    }
    Ok(())
}

/// True for addresses on the public internet; false for loopback, private (RFC 1918, unique
/// local), link-local (incl. cloud metadata at 169.254.169.254), carrier-grade NAT, unspecified,
/// multicast, broadcast, documentation, benchmarking and reserved ranges, and IPv4 addresses
/// mapped into IPv6.
#[must_use]
pub fn is_public_ip(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0)
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240)
        }
        std::net::IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_ip(std::net::IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8)
        }
    }
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// An upload became COMPLETED (as an original or as a duplicate).
    UploadCompleted,
    /// An upload became FAILED (asynchronous verification failed, or it expired).
    UploadFailed,
    /// A batch finished: COMPLETED, COMPLETED_WITH_ERRORS or FAILED.
    BatchCompleted,
    /// A blob's stored bytes were found changed (or gone) since confirm; it is no longer served.
    ObjectTampered,
}

impl EventType {
    /// The `type` of the event.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::UploadCompleted => "upload.completed",
            Self::UploadFailed => "upload.failed",
            Self::BatchCompleted => "batch.completed",
            Self::ObjectTampered => "object.tampered",
        }
    }
}

/// Where an event about a bucket goes, and the id of the delivery task that will carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookTarget {
    /// The bucket's `webhook_url`.
    pub url: String,
    /// The delivery task's id (the event id is derived from it).
    pub task_id: TaskId,
    /// Delivery attempts before the task ends FAILED.
    pub max_attempts: u32,
}

impl WebhookTarget {
    /// The target of `bucket`'s events, `None` when it has no webhook.
    #[must_use]
    pub fn for_bucket(bucket: &Bucket, ids: &dyn IdGenerator, max_attempts: u32) -> Option<Self> {
        let url = bucket.settings.webhook_url.clone()?;
        Some(Self { url, task_id: TaskId::new(&ids.suffix()), max_attempts })
    }

    /// The event id: stable across the delivery's retries.
    #[must_use]
    pub fn event_id(&self) -> String {
        event_id(&self.task_id)
    }
}

/// The event id a delivery task carries.
#[must_use]
pub fn event_id(task: &TaskId) -> String {
    format!("evt_{}", task.as_str().strip_prefix(TaskId::PREFIX).unwrap_or(task.as_str()))
}

/// The inputs of a delivery task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryInput {
    /// Where to POST.
    pub url: String,
    /// The bucket (its secret signs the event).
    pub bucket_id: BucketId,
    /// Its namespace.
    pub namespace_id: NamespaceId,
    /// The event, sent as the body.
    pub event: serde_json::Value,
}

impl DeliveryInput {
    /// The event's id.
    #[must_use]
    pub fn event_id(&self) -> &str {
        self.event["id"].as_str().unwrap_or_default()
    }

    /// The event's type.
    #[must_use]
    pub fn event_type(&self) -> &str {
        self.event["type"].as_str().unwrap_or_default()
    }
}

fn delivery_task(
    target: &WebhookTarget,
    event_type: EventType,
    bucket: &BucketId,
    namespace: &NamespaceId,
    data: serde_json::Value,
    now: OffsetDateTime,
) -> NewTask {
    let event = serde_json::json!({
        "id": target.event_id(),
        "type": event_type.as_str(),
        "created_at": now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "data": data,
    });
    let input =
        DeliveryInput { url: target.url.clone(), bucket_id: bucket.clone(), namespace_id: namespace.clone(), event };
    NewTask {
        id: target.task_id.clone(),
        task_type: TaskType::new(TaskType::WEBHOOK_DELIVERY),
        inputs: serde_json::to_value(&input).unwrap_or_default(),
        max_attempts: target.max_attempts,
    }
}

/// The delivery task of an event about `upload` in its current state.
#[must_use]
pub fn upload_event(target: &WebhookTarget, event_type: EventType, upload: &Upload, now: OffsetDateTime) -> NewTask {
    let data = serde_json::json!({
        "upload_id": upload.id,
        "bucket_id": upload.bucket_id,
        "namespace_id": upload.namespace_id,
        "status": upload.status,
        "filename": upload.filename,
        "content_type": upload.content_type,
        "file_size_bytes": upload.verified.as_ref().map(|v| v.size),
        "file_hash": upload.verified.as_ref().map(|v| &v.sha256),
        "etag": upload.verified.as_ref().map(|v| &v.etag),
        "object_id": upload.object_id,
        "batch_id": upload.batch_id,
        "is_duplicate": upload.is_duplicate,
        "duplicate_of_upload_id": upload.duplicate_of_upload_id,
        "metadata": upload.metadata,
        "error": upload.failure.as_ref().map(|f| serde_json::json!({"code": f.code, "message": f.message})),
    });
    delivery_task(target, event_type, &upload.bucket_id, &upload.namespace_id, data, now)
}

/// The delivery task of `object.tampered`.
#[must_use]
pub fn tampered_event(
    target: &WebhookTarget,
    object: &crate::object::BucketObject,
    blob: &crate::object::Blob,
    now: OffsetDateTime,
) -> NewTask {
    let data = serde_json::json!({
        "object_id": object.id,
        "bucket_id": object.bucket_id,
        "upload_id": object.upload_id,
        "blob_id": blob.id,
        "property": blob.property,
        "file_hash": blob.details.hash,
        "size_bytes": blob.details.size_bytes,
        "tampered_at": blob.details.tampered_at.map(|t| t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()),
    });
    delivery_task(target, EventType::ObjectTampered, &object.bucket_id, &object.namespace_id, data, now)
}

/// The delivery task of `batch.completed`.
#[must_use]
pub fn batch_event(
    target: &WebhookTarget,
    batch: &Batch,
    namespace: &NamespaceId,
    status: TaskStatus,
    results: &serde_json::Value,
    now: OffsetDateTime,
) -> NewTask {
    let data = serde_json::json!({
        "batch_id": batch.id,
        "bucket_id": batch.bucket_id,
        "status": status,
        "task_id": batch.task_id,
        "object_ids": batch.object_ids,
        "results": results,
    });
    delivery_task(target, EventType::BatchCompleted, &batch.bucket_id, namespace, data, now)
}

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Hmac<sha2::Sha256> {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `Stowage-Signature` header value for `body` sent at `timestamp` (unix seconds).
#[must_use]
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", hex::encode(mac(secret, timestamp, body).finalize().into_bytes()))
}

/// Why a signature was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The header is not `t=...,v1=...`.
    #[error("the signature header is malformed")]
    Malformed,
    /// The timestamp is further from now than the tolerance (a replay).
    #[error("the signature's timestamp is outside the tolerance")]
    Stale,
    /// No `v1` signature matches.
    #[error("the signature does not match")]
    Mismatch,
}

/// Checks a `Stowage-Signature` header as a receiver would: the timestamp within `tolerance_secs`
/// of `now` and a `v1` signature equal, in constant time, to the HMAC of `"<t>.<body>"`.
///
/// # Errors
/// [`SignatureError`] says what is wrong.
pub fn verify(secret: &str, header: &str, body: &[u8], now: i64, tolerance_secs: i64) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", sig)) => signatures.push(hex::decode(sig).map_err(|_| SignatureError::Malformed)?),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now - timestamp).abs() > tolerance_secs {
        return Err(SignatureError::Stale);
    }
    let expected = mac(secret, timestamp, body);
    if signatures.iter().any(|sig| expected.clone().verify_slice(sig).is_ok()) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_targets_inside_the_operators_network_are_refused_unless_allowed() {
        for bad in [
            "http://169.254.169.254/latest/meta-data/",
            "http://127.0.0.1:5432/",
            "http://[::1]:22/",
            "http://10.0.0.1/",
            "http://192.168.1.1/hook",
            "http://172.16.0.1/",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
            "http://localhost:8080/",
            "https://LOCALHOST./",
            "http://api.localhost/",
            "http://user@127.0.0.1/",
            "http://[::ffff:127.0.0.1]/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
        ] {
            assert!(check_target_url(bad, false).is_err(), "{bad} must be refused");
            assert!(check_target_url(bad, true).is_ok(), "{bad} is allowed when private targets are");
        }
        for good in ["https://hooks.example.com/stowage", "http://93.184.216.34:8080/x", "https://[2606:4700::1]/"] {
            assert!(check_target_url(good, false).is_ok(), "{good}");
        }
        for malformed in ["ftp://x/", "http://", "http:// x/", "hooks.example.com"] {
            assert!(check_target_url(malformed, true).is_err(), "{malformed}");
        }
    }

    const SECRET: &str = "whsec_test";

    #[test]
    fn a_signature_verifies_and_any_change_breaks_it() {
        let body = br#"{"id":"evt_1","type":"upload.completed"}"#;
        let header = sign(SECRET, 1_700_000_000, body);
        assert!(header.starts_with("t=1700000000,v1="), "{header}");
        assert_eq!(verify(SECRET, &header, body, 1_700_000_010, 300), Ok(()));
        assert_eq!(verify("whsec_other", &header, body, 1_700_000_010, 300), Err(SignatureError::Mismatch));
        assert_eq!(verify(SECRET, &header, b"{}", 1_700_000_010, 300), Err(SignatureError::Mismatch));
        let moved = header.replace("t=1700000000", "t=1700000001");
        assert_eq!(verify(SECRET, &moved, body, 1_700_000_010, 300), Err(SignatureError::Mismatch));
        assert_eq!(verify(SECRET, &header, body, 1_700_009_999, 300), Err(SignatureError::Stale));
        assert_eq!(verify(SECRET, "v1=zz", body, 0, 300), Err(SignatureError::Malformed));
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Computed independently: python3 -c "import hmac, hashlib;
        // print(hmac.new(b'key', b'1.body', hashlib.sha256).hexdigest())"
        assert_eq!(sign("key", 1, b"body"), "t=1,v1=91b5374b153842ad05b2c4eab9349b8321b14703165bd3fb8b034dfb8be98ae5");
    }

    #[test]
    fn the_event_id_follows_the_delivery_task() {
        let task = TaskId::parse("task_AAAAAAAAAAAAAAAA").unwrap();
        assert_eq!(event_id(&task), "evt_AAAAAAAAAAAAAAAA");
    }
}
