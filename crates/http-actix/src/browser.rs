//! Browser uploads: upload sessions (`POST /v1/buckets/{b}/upload-sessions`, for an
//! application's backend) and, under `/u/{token}`, the S3 routes of Uppy's Companion, so that
//! `@uppy/aws-s3` works with only its endpoint pointed at `https://stowage/u/{token}` (5.x:
//! `endpoint`, 6.x: `companionEndpoint`). docs/browser.md describes both.
//!
//! The facade speaks Companion's contract, not the v1 API's: errors are `{message}` (plus a
//! stable `code`), and every answer carries `Cache-Control: no-store`, so a browser never answers
//! a repeated signing call from its cache.

use crate::error::{ApiError, status_of};
use crate::extract::{Json, Tenant};
use crate::state::AppState;
use actix_web::http::header::{CACHE_CONTROL, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use stowage_domain::auth::Operation;
use stowage_domain::error::codes;
use stowage_domain::names::{ContentType, Filename};
use stowage_domain::usecases::sessions::{self, FileInfo, NewSession, SessionError, Transfer, UploadSession};
use stowage_domain::{Coded, ErrorKind};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// What the browser routes need beyond the ports.
#[derive(Debug, Clone)]
pub struct BrowserConfig {
    /// Seals upload sessions. Every server of one deployment needs the same.
    pub session_secret: Vec<u8>,
    /// The base URL browsers reach stowage at (sessions' `endpoint` starts with it).
    pub public_url: String,
    /// Origins allowed to call the browser routes (`*` for any); none: same origin only.
    pub cors_allowed_origins: Vec<String>,
    /// The token S3 event notifications must present; none: the events route is off.
    pub events_token: Option<String>,
}

impl Default for BrowserConfig {
    fn default() -> Self {
        let secret = [uuid::Uuid::new_v4().into_bytes(), uuid::Uuid::new_v4().into_bytes()].concat();
        Self { session_secret: secret, public_url: String::new(), cors_allowed_origins: Vec::new(), events_token: None }
    }
}

/// CORS for the browser's routes: the configured origins may call them with any header, and
/// read the `ETag` and `Location` of the answers (Uppy needs the ETag of every part).
pub fn cors(origins: &[String]) -> actix_cors::Cors {
    let mut cors = actix_cors::Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "DELETE", "OPTIONS"])
        .allow_any_header()
        .expose_headers(["etag", "location"])
        .max_age(3600);
    for origin in origins {
        cors = if origin == "*" { cors.allow_any_origin() } else { cors.allowed_origin(origin) };
    }
    cors
}

/// A session request.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateSessionRequest {
    /// Content-type patterns the browser may upload (`image/png`, `image/*`); default: whatever
    /// the bucket allows.
    #[serde(default)]
    allowed_content_types: Vec<String>,
    /// The largest file, in bytes (the bucket's own limit applies too).
    #[schema(minimum = 1)]
    max_file_size_bytes: Option<u64>,
    /// Metadata every upload of the session carries (over what the browser sends).
    #[schema(value_type = Option<Object>)]
    metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// Lifetime in seconds (60–86400), default 3600.
    #[schema(minimum = 60, maximum = 86400)]
    expires_in: Option<u32>,
}

/// A minted session: give the browser `endpoint` (or `token`), never an API key.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct UploadSessionResponse {
    /// `@uppy/aws-s3`'s `endpoint` (5.x) or `companionEndpoint` (6.x).
    endpoint: String,
    /// The session's token (part of `endpoint`).
    token: String,
    /// The session's id, for logs.
    session_id: String,
    /// The bucket uploads go to.
    bucket_id: String,
    /// When the session stops working.
    #[schema(format = DateTime)]
    expires_at: String,
}

/// Mints an upload session: a short-lived token with which a browser uploads to this bucket,
/// through the S3 routes of Uppy's Companion under `endpoint`.
#[utoipa::path(post, path = "/v1/buckets/{bucket_identifier}/upload-sessions", operation_id = "create_upload_session", tag = "Bucket Uploads", request_body = CreateSessionRequest,
    params(("bucket_identifier" = String, Path, description = "Bucket id or name")),
    responses((status = 200, body = UploadSessionResponse), (status = 400, body = crate::dto::ErrorResponse), (status = 401, body = crate::dto::ErrorResponse), (status = 403, body = crate::dto::ErrorResponse), (status = 404, body = crate::dto::ErrorResponse), (status = 422, body = crate::dto::HttpValidationError), (status = 503, body = crate::dto::ErrorResponse)))]
#[post("/v1/buckets/{bucket_identifier}/upload-sessions")]
pub(crate) async fn create_session(
    state: web::Data<AppState>,
    tenant: Tenant,
    path: web::Path<String>,
    body: Json<CreateSessionRequest>,
) -> Result<web::Json<UploadSessionResponse>, ApiError> {
    tenant.authorize(Operation::CreateUpload)?;
    let body = body.0;
    let metadata = body.metadata.map(serde_json::Value::Object);
    crate::dto::reject([crate::dto::oversized_json(
        "metadata",
        metadata.as_ref(),
        stowage_domain::policy::MAX_METADATA_BYTES,
    )])?;
    let metadata = match metadata {
        Some(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    let request = NewSession {
        allowed_content_types: body.allowed_content_types,
        max_file_size_bytes: body.max_file_size_bytes,
        metadata,
        expires_in_secs: body.expires_in,
    };
    let browser = &state.browser;
    let issued =
        sessions::create_session(state.deps(), &browser.session_secret, &tenant.namespace.id, &path, request).await?;
    let expires_at = OffsetDateTime::from_unix_timestamp(issued.session.exp).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    Ok(web::Json(UploadSessionResponse {
        endpoint: format!("{}/u/{}", browser.public_url.trim_end_matches('/'), issued.token),
        token: issued.token,
        session_id: issued.session.sid,
        bucket_id: issued.session.bucket.to_string(),
        expires_at: crate::dto::rfc3339(expires_at),
    }))
}

/// A facade error: Companion's `{message}`, with the stable `code` beside it.
#[derive(Debug)]
struct FacadeError {
    kind: ErrorKind,
    code: String,
    message: String,
}

impl std::fmt::Display for FacadeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl actix_web::ResponseError for FacadeError {
    fn status_code(&self) -> actix_web::http::StatusCode {
        status_of(self.kind)
    }

    fn error_response(&self) -> HttpResponse {
        if self.kind == ErrorKind::Internal {
            tracing::error!(code = %self.code, message = %self.message, "browser route failed");
        }
        let message = if self.kind == ErrorKind::Internal { "internal error".to_owned() } else { self.message.clone() };
        no_store(HttpResponse::build(self.status_code()))
            .json(serde_json::json!({ "message": message, "code": self.code }))
    }
}

impl From<SessionError> for FacadeError {
    fn from(e: SessionError) -> Self {
        Self { kind: e.kind(), code: e.code().to_owned(), message: e.to_string() }
    }
}

fn bad_request(message: impl Into<String>) -> FacadeError {
    FacadeError { kind: ErrorKind::BadRequest, code: codes::INVALID_SETTINGS.to_owned(), message: message.into() }
}

fn no_store(mut builder: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    builder.insert_header((CACHE_CONTROL, HeaderValue::from_static("no-store")));
    builder
}

fn ok<T: Serialize>(body: &T) -> HttpResponse {
    no_store(HttpResponse::Ok()).json(body)
}

fn session(state: &AppState, token: &str) -> Result<UploadSession, FacadeError> {
    Ok(sessions::open_session(state.deps(), &state.browser.session_secret, token)?)
}

/// The file a request describes: its name and type (an unknown type is
/// `application/octet-stream`, as browsers upload it) and its metadata.
fn file_info(
    filename: Option<&str>,
    content_type: Option<&str>,
    metadata: serde_json::Map<String, serde_json::Value>,
) -> Result<FileInfo, FacadeError> {
    let invalid = |code: &str, e: stowage_domain::names::InvalidName| FacadeError {
        kind: ErrorKind::BadRequest,
        code: code.to_owned(),
        message: e.to_string(),
    };
    let filename = Filename::parse(filename.unwrap_or_default()).map_err(|e| invalid(codes::INVALID_FILENAME, e))?;
    let content_type = content_type.map(str::trim).filter(|t| !t.is_empty()).unwrap_or("application/octet-stream");
    let content_type = ContentType::parse(content_type).map_err(|e| invalid(codes::INVALID_CONTENT_TYPE, e))?;
    let json = serde_json::Value::Object(metadata.clone());
    if let Some(too_large) =
        crate::dto::oversized_json("metadata", Some(&json), stowage_domain::policy::MAX_METADATA_BYTES)
    {
        return Err(bad_request(format!("metadata {}", too_large.msg)));
    }
    Ok(FileInfo { filename, content_type, metadata })
}

fn query_pairs(req: &HttpRequest) -> Result<Vec<(String, String)>, FacadeError> {
    web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|e| bad_request(format!("unreadable query: {e}")))
}

fn query_value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn expires_in(at: OffsetDateTime) -> i64 {
    (at - OffsetDateTime::now_utc()).whole_seconds().max(0)
}

/// Companion's answer to `GET /s3/params`.
#[derive(Debug, Serialize)]
struct Params {
    method: &'static str,
    url: String,
    fields: BTreeMap<String, String>,
    headers: BTreeMap<String, String>,
    expires: i64,
    /// stowage's upload.
    upload_id: String,
    /// The key (also in `fields`).
    key: String,
}

/// `GET /u/{token}/s3/params?filename&type&metadata[k]=v`
async fn params(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<HttpResponse, FacadeError> {
    let session = session(&state, &token)?;
    let pairs = query_pairs(&req)?;
    let metadata = pairs
        .iter()
        .filter_map(|(k, v)| {
            let name = k.strip_prefix("metadata[")?.strip_suffix(']')?;
            Some((name.to_owned(), serde_json::Value::String(v.clone())))
        })
        .collect();
    let file = file_info(query_value(&pairs, "filename"), query_value(&pairs, "type"), metadata)?;
    let started = sessions::start_upload(state.deps(), &session, file).await?;
    let key = started.upload.key.to_string();
    let body = match started.transfer {
        Transfer::Post(post) => Params {
            method: "POST",
            url: post.url,
            // BTreeMap: JSON objects are unordered anyway; Uppy appends the file after them.
            fields: post.fields.into_iter().collect(),
            headers: BTreeMap::new(),
            expires: expires_in(post.expires_at),
            upload_id: started.upload.id.to_string(),
            key,
        },
        Transfer::Put(put) => Params {
            method: "PUT",
            url: put.url,
            fields: BTreeMap::new(),
            headers: put.headers.into_iter().collect(),
            expires: expires_in(put.expires_at),
            upload_id: started.upload.id.to_string(),
            key,
        },
    };
    Ok(ok(&body))
}

/// `POST /s3/multipart`'s body.
#[derive(Debug, Deserialize)]
struct StartMultipart {
    filename: Option<String>,
    #[serde(rename = "type")]
    content_type: Option<String>,
    #[serde(default)]
    metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, FacadeError> {
    serde_json::from_slice(body).map_err(|e| bad_request(format!("unreadable JSON body: {e}")))
}

/// `POST /u/{token}/s3/multipart` `{filename, type, metadata}` → `{key, uploadId, bucket}`
async fn start_multipart(
    state: web::Data<AppState>,
    token: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, FacadeError> {
    let session = session(&state, &token)?;
    let body: StartMultipart = json_body(&body)?;
    let file = file_info(body.filename.as_deref(), body.content_type.as_deref(), body.metadata.unwrap_or_default())?;
    let upload = sessions::start_multipart(state.deps(), &session, file).await?;
    let store_id = upload.multipart.as_ref().map(|mp| mp.upload_id.clone()).unwrap_or_default();
    Ok(ok(&serde_json::json!({
        "key": upload.key.as_str(),
        "uploadId": store_id,
        "bucket": upload.bucket_id.as_str(),
        "upload_id": upload.id.as_str(),
    })))
}

/// A multipart route's session, `key` (query) and store upload id (path).
struct Multipart {
    session: UploadSession,
    key: String,
    upload_id: String,
    /// The whole query.
    query: Vec<(String, String)>,
}

fn multipart(state: &AppState, req: &HttpRequest, token: &str, upload_id: String) -> Result<Multipart, FacadeError> {
    let session = session(state, token)?;
    let query = query_pairs(req)?;
    let key = query_value(&query, "key")
        .map(str::to_owned)
        .ok_or_else(|| bad_request("the query parameter `key` is required"))?;
    Ok(Multipart { session, key, upload_id, query })
}

fn part_number(text: &str) -> Result<u32, FacadeError> {
    text.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=stowage_domain::upload::Multipart::MAX_PARTS).contains(n))
        .ok_or_else(|| bad_request(format!("`{text}` is not a part number (1 to 10000)")))
}

/// `GET /u/{token}/s3/multipart/{uploadId}/batch?key=&partNumbers=1,2` → `{presignedUrls}`
async fn sign_batch(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, FacadeError> {
    let (token, upload_id) = path.into_inner();
    let Multipart { session, key, upload_id, query } = multipart(&state, &req, &token, upload_id)?;
    let numbers = query_value(&query, "partNumbers")
        .ok_or_else(|| bad_request("the query parameter `partNumbers` is required"))?
        .split(',')
        .map(part_number)
        .collect::<Result<Vec<_>, _>>()?;
    let urls = sessions::part_urls(state.deps(), &session, &key, &upload_id, &numbers).await?;
    let presigned: BTreeMap<String, String> =
        urls.into_iter().map(|p| (p.part_number.to_string(), p.request.url)).collect();
    Ok(ok(&serde_json::json!({ "presignedUrls": presigned })))
}

/// `GET /u/{token}/s3/multipart/{uploadId}/{partNumber}?key=` → `{url, expires}`
async fn sign_part(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, FacadeError> {
    let (token, upload_id, number) = path.into_inner();
    let Multipart { session, key, upload_id, .. } = multipart(&state, &req, &token, upload_id)?;
    let number = part_number(&number)?;
    let mut urls = sessions::part_urls(state.deps(), &session, &key, &upload_id, &[number]).await?;
    let part = urls.pop().ok_or_else(|| bad_request("no URL for this part"))?;
    let mut body = serde_json::json!({ "url": part.request.url, "expires": expires_in(part.request.expires_at) });
    if !part.request.headers.is_empty() {
        let headers: BTreeMap<String, String> = part.request.headers.into_iter().collect();
        body["headers"] = serde_json::json!(headers);
    }
    Ok(ok(&body))
}

/// `GET /u/{token}/s3/multipart/{uploadId}?key=` → `[{PartNumber, Size, ETag}]`
async fn list_parts(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, FacadeError> {
    let (token, upload_id) = path.into_inner();
    let Multipart { session, key, upload_id, .. } = multipart(&state, &req, &token, upload_id)?;
    let parts = sessions::list_parts(state.deps(), &session, &key, &upload_id).await?;
    let body: Vec<serde_json::Value> = parts
        .into_iter()
        .map(|p| serde_json::json!({ "PartNumber": p.part_number, "Size": p.size, "ETag": p.etag.to_string() }))
        .collect();
    Ok(ok(&body))
}

/// One part of the browser's complete call.
#[derive(Debug, Deserialize)]
struct CompletedPart {
    #[serde(rename = "PartNumber")]
    part_number: u32,
}

/// The complete call's body.
#[derive(Debug, Deserialize)]
struct Complete {
    parts: Vec<CompletedPart>,
}

/// `POST /u/{token}/s3/multipart/{uploadId}/complete?key=` `{parts}` → `{location}` and the
/// confirm's result: the upload is verified, deduplicated and recorded before this answers.
async fn complete(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, FacadeError> {
    let (token, upload_id) = path.into_inner();
    let Multipart { session, key, upload_id, .. } = multipart(&state, &req, &token, upload_id)?;
    let body: Complete = json_body(&body)?;
    let numbers: Vec<u32> = body.parts.iter().map(|p| p.part_number).collect();
    let receipt = sessions::complete(state.deps(), &session, &key, &upload_id, &numbers).await?;
    metrics::counter!("stowage_uploads_finished_total", "path" => "complete").increment(1);
    let location = format!(
        "{}/v1/buckets/{}/uploads/{}",
        state.browser.public_url.trim_end_matches('/'),
        session.bucket,
        receipt.upload_id
    );
    Ok(ok(&serde_json::json!({
        "location": location,
        "key": key,
        "bucket": session.bucket.as_str(),
        "upload_id": receipt.upload_id.as_str(),
        "status": receipt.status.as_str(),
        "object_id": receipt.object_id.as_ref().map(|o| o.as_str().to_owned()),
        "file_hash": receipt.file_hash.as_ref().map(ToString::to_string),
        "file_size_bytes": receipt.file_size_bytes,
        "is_duplicate": receipt.is_duplicate,
        "etag": receipt.etag.as_ref().map(ToString::to_string),
    })))
}

/// `DELETE /u/{token}/s3/multipart/{uploadId}?key=` → `{}`
async fn abort(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, FacadeError> {
    let (token, upload_id) = path.into_inner();
    let Multipart { session, key, upload_id, .. } = multipart(&state, &req, &token, upload_id)?;
    sessions::abort(state.deps(), &session, &key, &upload_id).await?;
    Ok(ok(&serde_json::json!({})))
}

/// Mounts the facade under `/u/{token}/s3`, behind CORS for `config`'s origins.
pub fn configure(config: &BrowserConfig) -> impl Fn(&mut web::ServiceConfig) + Clone + use<> {
    let origins = config.cors_allowed_origins.clone();
    move |cfg: &mut web::ServiceConfig| {
        cfg.service(
            web::scope("/u/{token}/s3")
                .wrap(cors(&origins))
                .route("/params", web::get().to(params))
                .route("/multipart", web::post().to(start_multipart))
                .route("/multipart/{upload_id}/batch", web::get().to(sign_batch))
                .route("/multipart/{upload_id}/complete", web::post().to(complete))
                .route("/multipart/{upload_id}/{part}", web::get().to(sign_part))
                .route("/multipart/{upload_id}", web::get().to(list_parts))
                .route("/multipart/{upload_id}", web::delete().to(abort)),
        );
    }
}
