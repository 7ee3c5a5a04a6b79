//! API keys of the namespace a request acts in: list them, revoke one (admin keys; the rules live
//! in `usecases::keys`). Keys are created with `stowage keys create`, where the secret can be
//! shown once to whoever runs the server.

use crate::dto::{ApiKeyResponse, ErrorResponse, ListApiKeysResponse};
use crate::error::ApiError;
use crate::extract::Tenant;
use crate::state::AppState;
use actix_web::{delete, get, web};
use stowage_domain::ErrorKind;
use stowage_domain::ids::KeyId;
use stowage_domain::usecases::keys;

/// The keys of the namespace, revoked ones included (admin keys).
#[utoipa::path(get, path = "/v1/keys", tag = "Keys", operation_id = "list_api_keys",
    responses((status = 200, body = ListApiKeysResponse), (status = 401, body = ErrorResponse),
        (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
#[get("/v1/keys")]
pub(crate) async fn list(
    state: web::Data<AppState>,
    tenant: Tenant,
) -> Result<web::Json<ListApiKeysResponse>, ApiError> {
    let found = keys::list(state.deps(), &tenant.caller.0, &tenant.namespace).await?;
    let results: Vec<ApiKeyResponse> = found.into_iter().map(ApiKeyResponse::from).collect();
    Ok(web::Json(ListApiKeysResponse { total: results.len(), results }))
}

/// Revokes a key of the namespace; it stops working within the key cache's lifetime.
#[utoipa::path(delete, path = "/v1/keys/{key_id}", tag = "Keys", operation_id = "revoke_api_key",
    params(("key_id" = String, Path, description = "The key's id (`key_...`)")),
    responses((status = 200, body = ApiKeyResponse), (status = 401, body = ErrorResponse),
        (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
#[delete("/v1/keys/{key_id}")]
pub(crate) async fn revoke(
    state: web::Data<AppState>,
    tenant: Tenant,
    path: web::Path<String>,
) -> Result<web::Json<ApiKeyResponse>, ApiError> {
    let id = KeyId::parse(&path).map_err(|_| {
        ApiError::new(ErrorKind::NotFound, stowage_domain::error::codes::API_KEY_NOT_FOUND, "API key not found")
    })?;
    let key = keys::revoke(state.deps(), &tenant.caller.0, &tenant.namespace, &id).await?;
    Ok(web::Json(key.into()))
}
