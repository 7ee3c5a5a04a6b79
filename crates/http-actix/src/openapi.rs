//! The OpenAPI document, generated from the handlers and DTOs, served at `/openapi.json`, with
//! interactive documentation at `/docs`.

use crate::dto::*;
use crate::routes::{batches, buckets, health, keys, namespaces, objects, tasks, uploads};
use actix_web::{HttpResponse, get, web};
use utoipa::OpenApi;
use utoipa_scalar::{Scalar, Servable};

/// The API's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "stowage", description = "Direct-to-S3 uploads, verified: the bucket-uploads API."),
    paths(
        health::healthz, health::readyz, namespaces::create, namespaces::get, keys::list, keys::revoke, buckets::create, buckets::list, buckets::get,
        uploads::create, uploads::create_batch, uploads::list, uploads::get, uploads::cancel, uploads::parts, uploads::confirm_batch, uploads::confirm, batches::create, batches::submit, batches::get, objects::create, objects::list, objects::get, objects::delete, tasks::list, tasks::get, tasks::cancel
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

/// The document as JSON text.
#[must_use]
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

#[get("/openapi.json")]
async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(document())
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(openapi_json).service(Scalar::with_url("/docs", document()));
}
