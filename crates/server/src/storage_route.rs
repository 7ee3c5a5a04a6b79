//! `PUT/GET /storage/{key}?token=...`: the local-disk store's signed transfer route, mounted by
//! the server when objects live on local disk. Clients reach it exactly as they would reach S3
//! with a presigned URL; the token says what is allowed, the disk store checks the bytes.
//!
//! Confirmed bytes are immutable: a write to the key of an upload that is no longer PENDING is
//! refused with 409 before a byte is read, even with a token that has not expired yet (the token
//! only proves who may write, not that the upload still accepts bytes).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use std::sync::Arc;
use stowage_disk::{DiskStore, Grant, Headers, Op, Refused};
use stowage_domain::names::ObjectKey;
use stowage_domain::ports::UploadRepo;

/// `?token=`
#[derive(Debug, serde::Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// The store the route serves, and the uploads whose keys it writes.
#[derive(Clone)]
pub struct StorageRoute {
    /// The store.
    pub disk: Arc<DiskStore>,
    /// Where uploads are, to refuse writes to uploads that are no longer PENDING.
    pub uploads: Arc<dyn UploadRepo>,
    /// Origins whose pages may send bytes here (`browser.cors_allowed_origins`).
    pub cors_allowed_origins: Vec<String>,
}

/// An S3-style XML error, so clients written for S3 read it as they would S3's.
fn error(e: &Refused) -> HttpResponse {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let message = e.message.replace('&', "&amp;").replace('<', "&lt;");
    HttpResponse::build(status).content_type("application/xml").body(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{message}</Message></Error>",
        e.code
    ))
}

/// The grant of the request's token for `op`.
fn authorize(route: &StorageRoute, query: &TokenQuery, op: Op) -> Result<Grant, Refused> {
    let token = query.token.as_deref().ok_or(Refused {
        status: 403,
        code: "AccessDenied",
        message: "a signed token is required".to_owned(),
    })?;
    route.disk.authorize(token, op).map_err(Refused::from)
}

async fn put(
    route: web::Data<StorageRoute>,
    req: HttpRequest,
    query: web::Query<TokenQuery>,
    body: web::Payload,
) -> HttpResponse {
    let grant = match authorize(&route, &query, Op::Put) {
        Ok(grant) => grant,
        Err(e) => return error(&e),
    };
    if let Err(e) = still_pending(&route, &grant.key).await {
        return error(&e);
    }
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let headers = Headers {
        content_type: header("content-type"),
        content_length: header("content-length").and_then(|v| v.parse::<u64>().ok()),
        checksum_sha256: header(stowage_disk::CHECKSUM_HEADER),
    };
    let body = body.map(|chunk| chunk.map_err(|e| std::io::Error::other(e.to_string())));
    match route.disk.receive(&grant, &headers, Box::pin(body)).await {
        Ok(etag) => HttpResponse::Ok().insert_header(("ETag", format!("\"{etag}\""))).finish(),
        Err(e) => error(&e),
    }
}

/// Largest text field of a form POST, and most fields (S3 allows 20 KB for all of them).
const MAX_FORM_FIELD: usize = 64 * 1024;
const MAX_FORM_FIELDS: usize = 64;

fn malformed(message: impl Into<String>) -> Refused {
    Refused { status: 400, code: "MalformedPOSTRequest", message: message.into() }
}

/// `POST /storage`: a form POST (S3's PostObject, as `@uppy/aws-s3` 6.x always sends it) with the
/// fields [`stowage_disk::DiskStore`]'s `presign_post` issued, then the file as the last part.
/// The token is checked like a PUT's; the form's `key` and `Content-Type` must be the signed
/// ones, and the body is bounded by the signed limit while it streams.
async fn post_form(route: web::Data<StorageRoute>, mut form: actix_multipart::Multipart) -> HttpResponse {
    let mut fields: Vec<(String, String)> = Vec::new();
    while let Some(item) = form.next().await {
        let mut field = match item {
            Ok(field) => field,
            Err(e) => return error(&malformed(format!("unreadable form: {e}"))),
        };
        let name = field.name().unwrap_or_default().to_owned();
        if name.eq_ignore_ascii_case("file") {
            return match receive_form_file(&route, &fields, field).await {
                Ok(response) => response,
                Err(e) => error(&e),
            };
        }
        let mut value = Vec::new();
        while let Some(chunk) = field.next().await {
            match chunk {
                Ok(bytes) if value.len() + bytes.len() <= MAX_FORM_FIELD => value.extend_from_slice(&bytes),
                Ok(_) => return error(&malformed(format!("the form field {name} is too long"))),
                Err(e) => return error(&malformed(format!("unreadable form: {e}"))),
            }
        }
        if fields.len() >= MAX_FORM_FIELDS {
            return error(&malformed("too many form fields"));
        }
        fields.push((name, String::from_utf8_lossy(&value).into_owned()));
    }
    error(&malformed("the form has no file field"))
}

async fn receive_form_file(
    route: &StorageRoute,
    fields: &[(String, String)],
    file: actix_multipart::Field,
) -> Result<HttpResponse, Refused> {
    let value = |name: &str| fields.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
    let query = TokenQuery { token: value(stowage_disk::FORM_TOKEN_FIELD).map(str::to_owned) };
    let grant = authorize(route, &query, Op::Put)?;
    if value("key") != Some(grant.key.as_str()) {
        return Err(Refused {
            status: 403,
            code: "AccessDenied",
            message: "the form's key is not the signed one".to_owned(),
        });
    }
    still_pending(route, &grant.key).await?;
    let headers = Headers {
        content_type: value("Content-Type"),
        content_length: None,
        checksum_sha256: value(stowage_disk::CHECKSUM_HEADER),
    };
    let body = file.map(|chunk| chunk.map_err(|e| std::io::Error::other(e.to_string())));
    let etag = route.disk.receive(&grant, &headers, Box::pin(body)).await?;
    let location = route.disk.location(&grant.key);
    let etag = format!("\"{etag}\"");
    let mut response = match value("success_action_status") {
        Some("200") => HttpResponse::Ok(),
        Some("201") => HttpResponse::Created(),
        _ => HttpResponse::NoContent(),
    };
    response.insert_header(("ETag", etag.clone())).insert_header(("Location", location.clone()));
    if value("success_action_status") == Some("201") {
        let escape = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;");
        return Ok(response.content_type("application/xml").body(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<PostResponse><Location>{}</Location><Key>{}</Key><ETag>{}</ETag></PostResponse>",
            escape(&location),
            escape(&grant.key),
            escape(&etag)
        )));
    }
    Ok(response.finish())
}

/// Refuses writes to the key of an upload that is no longer PENDING (409, nothing written); 503
/// when that cannot be checked.
async fn still_pending(route: &StorageRoute, key: &str) -> Result<(), Refused> {
    let Some((bucket, upload)) = ObjectKey::parse(key).ok().as_ref().and_then(ObjectKey::upload) else {
        return Ok(());
    };
    match route.uploads.get_upload(&bucket, &upload).await {
        Ok(Some(found)) if !found.accepts_bytes() => Err(Refused {
            status: 409,
            code: "ObjectImmutable",
            message: format!("upload {upload} is {}: its bytes can no longer change", found.status()),
        }),
        Ok(_) => Ok(()),
        Err(e) => Err(Refused { status: 503, code: "ServiceUnavailable", message: e.to_string() }),
    }
}

/// `host[:port]` of a base URL.
fn authority(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest)
}

async fn get(req: HttpRequest, route: web::Data<StorageRoute>, query: web::Query<TokenQuery>) -> HttpResponse {
    // With a separate download origin, the API's origin never serves user content.
    if let Some(download) = route.disk.download_url()
        && !req.connection_info().host().eq_ignore_ascii_case(authority(download))
    {
        return error(&Refused {
            status: 403,
            code: "AccessDenied",
            message: format!("downloads are served from {download}"),
        });
    }
    let grant = match authorize(&route, &query, Op::Get) {
        Ok(grant) => grant,
        Err(e) => return error(&e),
    };
    match route.disk.open(&grant).await {
        Ok((file, meta)) => {
            let stream = tokio_util::io::ReaderStream::new(file);
            let mut response = HttpResponse::Ok();
            response.insert_header(("ETag", format!("\"{}\"", meta.etag)));
            response.insert_header(("Content-Length", meta.size.to_string()));
            // User content from stowage's own origin: never rendered inline, never sniffed, and
            // sandboxed should a browser render it anyway (no stored XSS on the API's origin).
            response.insert_header(("Content-Disposition", "attachment"));
            response.insert_header(("X-Content-Type-Options", "nosniff"));
            response.insert_header(("Content-Security-Policy", "sandbox"));
            if let Some(content_type) = &meta.content_type {
                response.content_type(content_type.as_str());
            }
            response.streaming(stream)
        }
        Err(e) => error(&e),
    }
}

/// Mounts the route.
pub fn configure(route: StorageRoute) -> impl Fn(&mut web::ServiceConfig) + Clone {
    move |cfg: &mut web::ServiceConfig| {
        let cors = || stowage_http_actix::browser::cors(&route.cors_allowed_origins);
        cfg.app_data(web::Data::new(route.clone()))
            .service(web::resource(stowage_disk::ROUTE).wrap(cors()).route(web::post().to(post_form)))
            .service(
                web::resource(format!("{}/{{key:.*}}", stowage_disk::ROUTE))
                    .wrap(cors())
                    .route(web::put().to(put))
                    .route(web::get().to(get)),
            );
    }
}
