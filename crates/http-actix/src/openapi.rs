//! The OpenAPI document, generated from the handlers and DTOs, served at `/openapi.json`, with
//! documentation at `/docs` (Redoc, vendored: no CDN).

use crate::dto::*;
use crate::routes::{batches, buckets, health, keys, namespaces, objects, tasks, uploads};
use actix_web::{HttpResponse, get, web};
use utoipa::OpenApi;

/// The API's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "stowage", description = "Direct-to-S3 uploads, verified: the bucket-uploads API."),
    paths(
        health::healthz, health::readyz, namespaces::create, namespaces::get, keys::list, keys::revoke, buckets::create, buckets::list, buckets::get,
        crate::browser::create_session, uploads::create, uploads::create_batch, uploads::list, uploads::get, uploads::cancel, uploads::parts, uploads::confirm_batch, uploads::confirm, batches::create, batches::submit, batches::get, objects::create, objects::list, objects::get, objects::delete, tasks::list, tasks::get, tasks::cancel
    ),
    components(schemas(
        ConfirmUploadRequest, ConfirmUploadResponse, ErrorResponse, ErrorDetail, TaskStatusEnum, HttpValidationError,
        ValidationError, LocItem, UploadResponse, CreateUploadRequest, BucketResponse, CreateBucketRequest, TaskResponse,
        ObjectResponse, BlobResponse, NamespaceResponse, CreateNamespaceRequest, ApiKeyResponse, ListApiKeysResponse
    )),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The API's document: what the handlers and DTOs declare, plus the conventions every operation
/// shares (see [`conventions`]).
#[must_use]
pub fn document() -> utoipa::openapi::OpenApi {
    let declared = ApiDoc::openapi();
    let Ok(mut json) = serde_json::to_value(&declared) else { return declared };
    conventions(&mut json);
    constraints(&mut json);
    serde_json::from_value(json).unwrap_or(declared)
}

/// Path parameters by name: description and the pattern the server's own parser enforces.
fn path_parameter(name: &str) -> (&'static str, &'static str) {
    use stowage_domain::ids::{BatchId, KeyId, ObjectId, TaskId, UploadId};
    use stowage_domain::names::RESOURCE_NAME_PATTERN;
    match name {
        "bucket_identifier" => ("The bucket's id (`bkt_...`) or name", RESOURCE_NAME_PATTERN),
        "namespace_identifier" => ("The namespace's id (`ns_...`) or name", RESOURCE_NAME_PATTERN),
        "upload_id" => ("The upload's id", UploadId::PATTERN),
        "object_id" => ("The object's id", ObjectId::PATTERN),
        "batch_id" => ("The batch's id", BatchId::PATTERN),
        "task_id" => ("The task's id", TaskId::PATTERN),
        "key_id" => ("The API key's id", KeyId::PATTERN),
        _ => ("", ".*"),
    }
}

/// What every operation shares, applied to the generated document so no handler can forget it:
/// each `{name}` of a path is a declared, required path parameter with the server's pattern;
/// every route but the probes takes a bearer key and an optional `X-Namespace`, and may answer
/// 401, 403, 429 and 503; every route with a body or query may answer 400, 413 and 422.
fn conventions(doc: &mut serde_json::Value) {
    use serde_json::{Value, json};
    let error = |description: &str| json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}});
    let invalid = json!({"description": "Validation Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}}});
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else { return };
    for (path, item) in paths.iter_mut() {
        let names: Vec<String> =
            path.split('{').skip(1).filter_map(|rest| rest.split_once('}')).map(|(name, _)| name.to_owned()).collect();
        let public = matches!(path.as_str(), "/healthz" | "/readyz");
        // Namespaces are named by the path, not by `X-Namespace`.
        let tenant = !public && !path.starts_with("/v1/namespaces");
        for method in ["get", "put", "post", "delete", "patch"] {
            let Some(op) = item.get_mut(method).and_then(Value::as_object_mut) else { continue };
            let has_body = op.contains_key("requestBody");
            let Some(params) = op.entry("parameters").or_insert_with(|| json!([])).as_array_mut() else { continue };
            for name in &names {
                let (description, pattern) = path_parameter(name);
                let schema = json!({"type": "string", "pattern": pattern});
                match params.iter_mut().find(|p| p["in"] == "path" && p["name"] == name.as_str()) {
                    Some(declared) => declared["schema"] = schema,
                    None => params.push(json!({
                        "name": name, "in": "path", "required": true, "description": description, "schema": schema
                    })),
                }
            }
            if let Some(key) = params.iter_mut().find(|p| p["in"] == "header" && p["name"] == "Idempotency-Key") {
                // 1 to 255 visible ASCII characters (inner spaces allowed).
                key["schema"] = json!({"type": "string", "pattern": "^[!-~]([ -~]{0,253}[!-~])?$"});
            }
            let has_query = params.iter().any(|p| p["in"] == "query");
            if tenant && !params.iter().any(|p| p["in"] == "header" && p["name"] == "X-Namespace") {
                params.push(json!({
                    "name": "X-Namespace", "in": "header", "required": false,
                    "description": "The namespace to act in, by id or name (default: `default`)",
                    "schema": {"type": "string", "pattern": stowage_domain::names::RESOURCE_NAME_PATTERN}
                }));
            }
            if params.is_empty() {
                op.remove("parameters");
            }
            let responses = op.entry("responses").or_insert_with(|| json!({}));
            let Some(responses) = responses.as_object_mut() else { continue };
            let mut add = |status: &str, response: Value| {
                responses.entry(status.to_owned()).or_insert(response);
            };
            if !public {
                add("401", error("No key, or an unknown or revoked key"));
                add("403", error("The key's role does not allow this"));
                add("404", error("No such resource in the caller's namespace (or no such namespace)"));
                add("429", error("Too many failed authentications from this address"));
                add("503", error("The database or the object store is unavailable; retry later"));
            }
            if has_body || has_query {
                add("400", error("Bad Request"));
                add("422", invalid.clone());
            }
            if has_body {
                add("413", error("The body is larger than the limit"));
            }
            // OpenAPI requires a description on every response.
            for (status, response) in responses.iter_mut() {
                if response.get("description").and_then(Value::as_str).is_none_or(str::is_empty) {
                    response["description"] = json!(describe(status));
                }
            }
            if !public && !op.contains_key("security") {
                op.insert("security".to_owned(), json!([{"bearer": []}]));
            }
        }
    }
}

/// The methods the document declares for the path template `path` matches (upper case), empty
/// when it matches none. A `{name}` segment matches any one non-empty segment.
#[must_use]
pub fn methods_of(path: &str) -> Vec<&'static str> {
    static ROUTES: std::sync::LazyLock<Vec<(Vec<String>, Vec<&'static str>)>> = std::sync::LazyLock::new(|| {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
        let methods = [("get", "GET"), ("put", "PUT"), ("post", "POST"), ("delete", "DELETE"), ("patch", "PATCH")];
        doc["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(template, item)| {
                let segments = template.split('/').map(str::to_owned).collect();
                (segments, methods.iter().filter(|(m, _)| item.get(*m).is_some()).map(|(_, upper)| *upper).collect())
            })
            .collect()
    });
    let segments: Vec<&str> = path.split('/').collect();
    let matches = |template: &[String]| {
        template.len() == segments.len()
            && template.iter().zip(&segments).all(|(t, s)| if t.starts_with('{') { !s.is_empty() } else { t == s })
    };
    let params = |template: &[String]| template.iter().filter(|t| t.starts_with('{')).count();
    let matching: Vec<_> = ROUTES.iter().filter(|(t, _)| matches(t)).collect();
    // `/v1/buckets/list` is its own route, not `/v1/buckets/{bucket_identifier}`.
    let fewest = matching.iter().map(|(t, _)| params(t)).min().unwrap_or(0);
    let mut allowed: Vec<&'static str> =
        matching.iter().filter(|(t, _)| params(t) == fewest).flat_map(|(_, methods)| methods.iter().copied()).collect();
    allowed.sort_unstable();
    allowed.dedup();
    allowed
}

/// The reason phrase of a status, for responses declared without a description.
fn describe(status: &str) -> &'static str {
    match status {
        "200" => "Successful Response",
        "204" => "No Content",
        "400" => "Bad Request",
        "401" => "Unauthorized",
        "403" => "Forbidden",
        "404" => "Not Found",
        "409" => "Conflict",
        "413" => "Content Too Large",
        "422" => "Validation Error",
        "429" => "Too Many Requests",
        "500" => "Internal Server Error",
        "503" => "Service Unavailable",
        _ => "Response",
    }
}

/// The limits the server enforces on request fields, declared in the document from the same
/// constants the server's parsers use, so a client (or a fuzzer) generating from the document
/// sends what the server accepts and nothing it refuses.
fn constraints(doc: &mut serde_json::Value) {
    use serde_json::json;
    use stowage_domain::content::{ETag, FileSize, Sha256Hex};
    use stowage_domain::ids::{ObjectId, UploadId};
    use stowage_domain::names::{ContentType, Filename, RESOURCE_NAME_PATTERN};
    let page = json!({"minimum": 1, "maximum": 100});
    let rules = [
        ("CreateBucketRequest", "bucket_name", json!({"pattern": RESOURCE_NAME_PATTERN})),
        ("CreateNamespaceRequest", "namespace_name", json!({"pattern": RESOURCE_NAME_PATTERN})),
        (
            "CreateBatchRequest",
            "object_ids",
            json!({"minItems": 1, "maxItems": 1000, "items": {"type": "string", "pattern": ObjectId::PATTERN}}),
        ),
        ("CreateObjectRequest", "blobs", json!({"minItems": 1, "maxItems": 20})),
        ("BlobSourceRequest", "upload_id", json!({"pattern": UploadId::PATTERN})),
        ("BlobSourceRequest", "property", json!({"pattern": stowage_domain::usecases::objects::PROPERTY_PATTERN})),
        ("Paging", "limit", page.clone()),
        ("Paging", "page_size", page),
        ("CreateUploadRequest", "filename", json!({"pattern": Filename::PATTERN})),
        ("CreateUploadRequest", "content_type", json!({"pattern": ContentType::PATTERN})),
        ("CreateUploadRequest", "file_hash", json!({"pattern": Sha256Hex::PATTERN})),
        ("CreateUploadRequest", "file_size_bytes", json!({"minimum": 1, "maximum": FileSize::MAX})),
        ("CreateUploadsBatchRequest", "uploads", json!({"minItems": 1, "maxItems": 100})),
        ("CreateSessionRequest", "max_file_size_bytes", json!({"minimum": 1, "maximum": FileSize::MAX})),
        (
            "CreateSessionRequest",
            "allowed_content_types",
            json!({"maxItems": 32, "items": {"type": "string", "minLength": 1, "maxLength": 255}}),
        ),
        ("ConfirmBatchRequest", "confirmations", json!({"minItems": 1, "maxItems": 100})),
        ("BatchConfirmation", "upload_id", json!({"pattern": UploadId::PATTERN})),
        ("BatchConfirmation", "etag", json!({"pattern": ETag::PATTERN})),
        ("BatchConfirmation", "file_size_bytes", json!({"minimum": 1, "maximum": FileSize::MAX})),
        ("UploadSort", "direction", json!({"enum": ["asc", "desc", null]})),
        (
            "PartUrlsRequest",
            "part_numbers",
            json!({"minItems": 1, "maxItems": 1000, "items": {"type": "integer", "minimum": 1, "maximum": 10000}}),
        ),
    ];
    for (schema, field, extra) in rules {
        let Some(property) = doc.pointer_mut(&format!("/components/schemas/{schema}/properties/{field}")) else {
            continue;
        };
        if let (Some(property), Some(extra)) = (property.as_object_mut(), extra.as_object()) {
            property.extend(extra.clone());
        }
    }
}

#[get("/openapi.json")]
async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(document())
}

/// The docs UI (Redoc 2.5.4), vendored and embedded: `/docs` needs no CDN and works offline.
const REDOC_JS: &str = include_str!("../assets/redoc-2.5.4/redoc.standalone.js");

/// The page at `/docs`: Redoc rendering `/openapi.json`, every asset served by stowage itself.
const DOCS_HTML: &str = r#"<!doctype html>
<html>
<head>
  <title>stowage API</title>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
</head>
<body>
  <redoc spec-url="/openapi.json"></redoc>
  <script src="/docs/redoc.standalone.js"></script>
</body>
</html>
"#;

#[get("/docs")]
async fn docs() -> HttpResponse {
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(DOCS_HTML)
}

#[get("/docs/redoc.standalone.js")]
async fn redoc_js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/javascript; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=86400"))
        .body(REDOC_JS)
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(openapi_json).service(docs).service(redoc_js);
}
