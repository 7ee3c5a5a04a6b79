//! Namespaces: the tenancy boundary.

use crate::dto::{CreateNamespaceRequest, ErrorResponse, NamespaceResponse};
use crate::error::ApiError;
use crate::extract::{Caller, Json};
use crate::state::AppState;
use actix_web::{get, post, web};
use stowage_domain::auth::Operation;
use stowage_domain::names::NamespaceName;
use stowage_domain::usecases::tenancy;

/// Creates a namespace (operator keys only: admin keys made with `--all-namespaces`).
#[utoipa::path(post, path = "/v1/namespaces", operation_id = "create_namespace", tag = "Namespaces", request_body = CreateNamespaceRequest,
    responses((status = 200, body = NamespaceResponse), (status = 403, body = ErrorResponse), (status = 409, body = ErrorResponse)))]
#[post("/v1/namespaces")]
pub(crate) async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<CreateNamespaceRequest>,
) -> Result<web::Json<NamespaceResponse>, ApiError> {
    caller.authorize(Operation::CreateNamespace)?;
    crate::dto::reject([crate::dto::oversized_text(
        "description",
        body.0.description.as_deref(),
        stowage_domain::policy::MAX_DESCRIPTION_BYTES,
    )])?;
    let name = NamespaceName::parse(&body.0.namespace_name)
        .map_err(|e| ApiError::invalid(&["body", "namespace_name"], e.to_string(), "value_error"))?;
    let ns = tenancy::create_namespace(state.deps(), name, body.0.description).await?;
    Ok(web::Json(ns.into()))
}

/// A namespace by id or name.
#[utoipa::path(get, path = "/v1/namespaces/{namespace_identifier}", operation_id = "get_namespace", tag = "Namespaces",
    responses((status = 200, body = NamespaceResponse), (status = 404, body = ErrorResponse)))]
#[get("/v1/namespaces/{namespace_identifier}")]
pub(crate) async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<web::Json<NamespaceResponse>, ApiError> {
    Ok(web::Json(tenancy::get_namespace(state.deps(), &caller.0, &path).await?.into()))
}
