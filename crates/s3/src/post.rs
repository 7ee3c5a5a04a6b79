//! Presigned form POSTs (S3's PostObject, "browser-based uploads using POST"): a policy document
//! listing what the form may carry, signed with SigV4's signing key. The SDK presigns requests
//! but not policies, so this module builds the policy; the SDK still resolves the credentials and
//! the bucket's URL.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Whose credentials sign, and where.
pub(crate) struct Signer<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    pub session_token: Option<&'a str>,
    pub region: &'a str,
}

/// What the form binds.
pub(crate) struct Form<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub content_type: &'a str,
    /// The exact length, when known.
    pub length: Option<u64>,
    /// The largest body, when no length is known.
    pub max_length: u64,
    /// `x-amz-checksum-sha256` (base64), when the content's hash is signed.
    pub checksum_sha256: Option<String>,
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac =
        <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key"));
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// SigV4's signing key of a day, region and service.
fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    [date, region, service, "aws4_request"]
        .iter()
        .fold(format!("AWS4{secret}").into_bytes(), |key, part| hmac(&key, part))
}

/// The form's fields, in the order they must be sent (the file goes last, after them).
pub(crate) fn fields(
    signer: &Signer<'_>,
    form: &Form<'_>,
    now: OffsetDateTime,
    expires_at: OffsetDateTime,
) -> Vec<(String, String)> {
    let date = format!("{:04}{:02}{:02}", now.year(), u8::from(now.month()), now.day());
    let amz_date = format!("{date}T{:02}{:02}{:02}Z", now.hour(), now.minute(), now.second());
    let credential = format!("{}/{date}/{}/s3/aws4_request", signer.access_key_id, signer.region);
    let mut fields: Vec<(String, String)> = vec![
        ("key".into(), form.key.into()),
        ("Content-Type".into(), form.content_type.into()),
        ("success_action_status".into(), "201".into()),
        ("x-amz-algorithm".into(), "AWS4-HMAC-SHA256".into()),
        ("x-amz-credential".into(), credential),
        ("x-amz-date".into(), amz_date),
    ];
    if let Some(token) = signer.session_token {
        fields.push(("x-amz-security-token".into(), token.into()));
    }
    if let Some(sha) = &form.checksum_sha256 {
        fields.push(("x-amz-checksum-sha256".into(), sha.clone()));
    }
    let (min, max) = form.length.map_or((0, form.max_length), |len| (len, len));
    let mut conditions: Vec<Value> = vec![json!({ "bucket": form.bucket })];
    conditions.extend(fields.iter().map(|(name, value)| json!({ name.as_str(): value })));
    conditions.push(json!(["content-length-range", min, max]));
    let expiration = expires_at.replace_nanosecond(0).unwrap_or(expires_at).format(&Rfc3339).unwrap_or_default();
    let policy = BASE64.encode(json!({ "expiration": expiration, "conditions": conditions }).to_string());
    let signature = hex::encode(hmac(&signing_key(signer.secret_access_key, &date, signer.region, "s3"), &policy));
    fields.push(("policy".into(), policy));
    fields.push(("x-amz-signature".into(), signature));
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's published example of deriving a SigV4 signing key ("Examples of how to derive a
    /// signing key for Signature Version 4").
    #[test]
    fn the_signing_key_matches_aws_published_example() {
        let key = signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam");
        assert_eq!(hex::encode(key), "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
    }

    #[test]
    fn the_policy_binds_every_field_and_the_length_range() {
        let signer = Signer { access_key_id: "AK", secret_access_key: "SK", session_token: None, region: "garage" };
        let form = Form {
            bucket: "b",
            key: "uploads/x/y",
            content_type: "image/png",
            length: None,
            max_length: 1000,
            checksum_sha256: None,
        };
        let now = time::macros::datetime!(2026-12-03 08:00:00 UTC);
        let fields = fields(&signer, &form, now, now + time::Duration::hours(1));
        let get = |name: &str| fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap();
        assert_eq!(get("x-amz-credential"), "AK/20261203/garage/s3/aws4_request");
        assert_eq!(get("x-amz-date"), "20261203T080000Z");
        let policy: Value = serde_json::from_slice(&BASE64.decode(get("policy")).unwrap()).unwrap();
        assert_eq!(policy["expiration"], "2026-12-03T09:00:00Z");
        let conditions = policy["conditions"].as_array().unwrap();
        assert!(conditions.contains(&json!({"key": "uploads/x/y"})));
        assert!(conditions.contains(&json!({"Content-Type": "image/png"})));
        assert!(conditions.contains(&json!(["content-length-range", 0, 1000])));
        assert_eq!(fields.last().unwrap().0, "x-amz-signature");
    }
}
