//! `POST /v1/storage-events`: S3 event notifications, so that an upload whose bytes landed is
//! confirmed even if its client never calls confirm. Accepted formats: MinIO's webhook target
//! (`{EventName, Key, Records}`), AWS S3 events (`{Records: [...]}`, as SQS consumers forward
//! them) and the same inside an SNS notification (`{Type: "Notification", Message: "<json>"}`).
//!
//! Events are at-least-once and unordered: each `ObjectCreated` record finishes the upload of its
//! key through the ordinary confirm, which is idempotent, so repeats and late events change
//! nothing. Authentication is the configured token: `Authorization: Bearer <token>` (MinIO's
//! `auth_token`), HTTP Basic with the token as password (an SNS subscription URL's userinfo), or
//! `?token=`. Without a configured token the route answers 404.

use crate::state::AppState;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;
use stowage_domain::auth::hash_secret;
use stowage_domain::usecases::finish::{self, Finished};
use stowage_domain::{Coded, ErrorKind};

/// The route's path.
pub const PATH: &str = "/v1/storage-events";

/// Largest event body accepted.
const MAX_EVENT_BODY: usize = 1024 * 1024;

fn presented_token(req: &HttpRequest) -> Option<String> {
    if let Some(value) = req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        if let Some(token) = value.strip_prefix("Bearer ") {
            return Some(token.trim().to_owned());
        }
        if let Some(basic) = value.strip_prefix("Basic ") {
            use base64::Engine;
            let decoded = base64::engine::general_purpose::STANDARD.decode(basic.trim()).ok()?;
            let text = String::from_utf8(decoded).ok()?;
            return text.split_once(':').map(|(_, password)| password.to_owned());
        }
    }
    web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .ok()?
        .into_inner()
        .into_iter()
        .find_map(|(k, v)| (k == "token").then_some(v))
}

fn answer(status: actix_web::http::StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(serde_json::json!({ "message": message, "code": code }))
}

/// The S3 event records of a body, whatever envelope carries them.
fn records(body: &Value) -> Vec<Value> {
    if body.get("Type").and_then(Value::as_str) == Some("Notification")
        && let Some(inner) = body.get("Message").and_then(Value::as_str).and_then(|m| serde_json::from_str(m).ok())
    {
        return records(&inner);
    }
    body.get("Records").and_then(Value::as_array).cloned().unwrap_or_default()
}

/// The key of an `ObjectCreated` record, decoded (S3 sends keys form-encoded: `+` is a space).
fn created_key(record: &Value) -> Option<String> {
    let name = record.get("eventName").and_then(Value::as_str)?;
    if !name.trim_start_matches("s3:").starts_with("ObjectCreated:") {
        return None;
    }
    let raw = record.pointer("/s3/object/key").and_then(Value::as_str)?;
    // Form decoding (`+` is a space), as S3 encodes keys; a raw `&` would end the one field.
    let decoded = web::Query::<Vec<(String, String)>>::from_query(&format!("k={}", raw.replace('&', "%26")))
        .ok()?
        .into_inner()
        .pop()
        .map(|(_, v)| v)?;
    // A configured key prefix of the store comes before stowage's own keys.
    let start = decoded.find(stowage_domain::names::UPLOAD_PREFIX)?;
    Some(decoded[start..].to_owned())
}

async fn receive(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> HttpResponse {
    use actix_web::http::StatusCode;
    let Some(expected) = state.browser.events_token.as_deref() else {
        return answer(StatusCode::NOT_FOUND, stowage_domain::error::codes::ROUTE_NOT_FOUND, "no such route");
    };
    match presented_token(&req) {
        // Compared as API keys are, by their SHA-256: no timing leaks the token's bytes.
        Some(given) if hash_secret(&given) == hash_secret(expected) => {}
        _ => {
            return answer(
                StatusCode::UNAUTHORIZED,
                stowage_domain::error::codes::INVALID_API_KEY,
                "a valid events token is required",
            );
        }
    }
    if body.len() > MAX_EVENT_BODY {
        return answer(StatusCode::PAYLOAD_TOO_LARGE, stowage_domain::error::codes::BODY_TOO_LARGE, "body too large");
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return answer(StatusCode::BAD_REQUEST, "invalid_event", "the body is not JSON");
    };
    if body.get("Type").and_then(Value::as_str) == Some("SubscriptionConfirmation") {
        // stowage makes no outbound calls on a sender's say-so: the operator confirms it.
        let subscribe_url = body.get("SubscribeURL").and_then(serde_json::Value::as_str).unwrap_or_default();
        tracing::warn!(subscribe_url, "SNS subscription confirmation received: open its SubscribeURL to confirm it");
        return HttpResponse::Ok().json(serde_json::json!({ "received": 0, "finished": 0, "ignored": 0 }));
    }
    let (mut finished, mut ignored) = (0u64, 0u64);
    let records = records(&body);
    for record in &records {
        let Some(key) = created_key(record) else {
            ignored += 1;
            continue;
        };
        match finish::finish_key(state.deps(), &key).await {
            Ok(Some(Finished::Confirmed(_))) => {
                finished += 1;
                metrics::counter!("stowage_uploads_finished_total", "path" => "event").increment(1);
            }
            Ok(_) => ignored += 1,
            // An outage: the sender retries the whole delivery, which is harmless.
            Err(e) if matches!(e.kind(), ErrorKind::Unavailable) => {
                return answer(StatusCode::SERVICE_UNAVAILABLE, e.code(), &e.to_string());
            }
            Err(e) => {
                tracing::warn!(key, error = %e, "an S3 event's upload could not be confirmed");
                ignored += 1;
            }
        }
    }
    HttpResponse::Ok().json(serde_json::json!({ "received": records.len(), "finished": finished, "ignored": ignored }))
}

/// Mounts the route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(PATH).app_data(web::PayloadConfig::new(MAX_EVENT_BODY + 1)).route(web::post().to(receive)),
    );
}
