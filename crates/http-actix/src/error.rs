//! Errors as the contract renders them: `ErrorResponse {success:false, status, error:{message,
//! type, code, details}}` for business errors, `HTTPValidationError {detail:[{loc, msg, type}]}`
//! (422) for malformed input. Outages are 503 with `Retry-After`; a 500 shows no internals, only
//! the request id under which the cause was logged.

use crate::dto::{ErrorDetail, ErrorResponse, HttpValidationError, LocItem, ValidationError};
use crate::request_id::RequestId;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError, web};
use stowage_domain::{Coded, ErrorKind};

/// Seconds a client should wait before retrying after a 503.
const RETRY_AFTER_SECS: &str = "5";

/// An error response of the API.
#[derive(Debug)]
pub enum ApiError {
    /// A business error with a stable code.
    Business {
        /// Which `type` and status.
        kind: ErrorKind,
        /// The stable code.
        code: String,
        /// Human-readable message.
        message: String,
        /// Structured details.
        details: Option<serde_json::Value>,
    },
    /// Malformed input (422).
    Validation(Vec<ValidationError>),
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Business { kind, code, message, .. } => write!(f, "{} {code}: {message}", kind.type_name()),
            Self::Validation(errors) => write!(f, "validation failed: {errors:?}"),
        }
    }
}

/// The HTTP status of each error type.
#[must_use]
pub const fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
        ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden | ErrorKind::QuotaExceeded => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::AlreadyExists | ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl ApiError {
    /// A business error.
    pub fn new(kind: ErrorKind, code: &str, message: impl Into<String>) -> Self {
        Self::Business { kind, code: code.to_owned(), message: message.into(), details: None }
    }

    /// Adds structured details.
    #[must_use]
    pub fn with_details(self, details: serde_json::Value) -> Self {
        match self {
            Self::Business { kind, code, message, .. } => {
                Self::Business { kind, code, message, details: Some(details) }
            }
            other => other,
        }
    }

    /// A 422 for one field.
    pub fn invalid(loc: &[&str], msg: impl Into<String>, kind: &str) -> Self {
        Self::Validation(vec![ValidationError {
            loc: loc.iter().map(|l| LocItem::Name((*l).to_owned())).collect(),
            msg: msg.into(),
            error_type: kind.to_owned(),
        }])
    }

    /// A use case's error, logged as it deserves: outages as warnings, the unexpected as errors.
    pub fn from_coded<E: Coded>(e: &E) -> Self {
        match e.kind() {
            ErrorKind::Internal => {
                tracing::error!(error = %e, code = e.code(), "internal error");
                Self::new(
                    ErrorKind::Internal,
                    e.code(),
                    format!("internal error (request id {})", RequestId::current()),
                )
            }
            ErrorKind::Unavailable => {
                tracing::warn!(error = %e, code = e.code(), "dependency unavailable");
                Self::new(ErrorKind::Unavailable, e.code(), format!("{e}; retry shortly"))
            }
            kind => Self::new(kind, e.code(), e.to_string()),
        }
    }
}

impl<E: Coded> From<E> for ApiError {
    fn from(e: E) -> Self {
        Self::from_coded(&e)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Business { kind, .. } => status_of(*kind),
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        match self {
            Self::Business { kind, code, message, details } => {
                let mut response = HttpResponse::build(status);
                if *kind == ErrorKind::Unavailable {
                    response.insert_header((header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS)));
                }
                response.json(ErrorResponse {
                    success: false,
                    status: status.as_u16(),
                    error: ErrorDetail {
                        message: message.clone(),
                        error_type: kind.type_name().to_owned(),
                        code: Some(code.clone()),
                        details: details.clone(),
                    },
                })
            }
            Self::Validation(detail) => {
                HttpResponse::build(status).json(HttpValidationError { detail: detail.clone() })
            }
        }
    }
}

/// Query strings that do not parse are 422s, not actix's plain-text 400.
pub(crate) fn query_config() -> web::QueryConfig {
    web::QueryConfig::default()
        .error_handler(|e, _| ApiError::invalid(&["query"], e.to_string(), "query_invalid").into())
}

/// Path segments that do not parse are 422s.
pub(crate) fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|e, _| ApiError::invalid(&["path"], e.to_string(), "path_invalid").into())
}

/// Requests no route takes answer in the same shape as everything else: 405
/// `method_not_allowed` with `Allow` when the path is one of the API's with other methods, else
/// 404 `route_not_found`.
pub async fn not_found(req: actix_web::HttpRequest) -> HttpResponse {
    let allowed = crate::openapi::methods_of(req.path());
    if allowed.is_empty() {
        return ApiError::new(ErrorKind::NotFound, stowage_domain::error::codes::ROUTE_NOT_FOUND, "no such route")
            .error_response();
    }
    method_not_allowed(req.method(), &allowed)
}

/// Answers 405 before routing when the API declares the path but not the method, so that
/// `GET /v1/tasks/list` is a 405 (the path is `POST` only), not a lookup of a task named `list`.
/// Wrap the `App` with `actix_web::middleware::from_fn(stowage_http_actix::error::method_guard)`.
pub fn method_guard(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<actix_web::body::BoxBody>,
) -> futures_util::future::LocalBoxFuture<'static, Result<actix_web::dev::ServiceResponse, actix_web::Error>> {
    let allowed = crate::openapi::methods_of(req.path());
    if !allowed.is_empty() && !allowed.contains(&req.method().as_str()) {
        let response = method_not_allowed(req.method(), &allowed);
        return Box::pin(async move { Ok(req.into_response(response)) });
    }
    Box::pin(next.call(req))
}

fn method_not_allowed(method: &actix_web::http::Method, allowed: &[&str]) -> HttpResponse {
    let allow = allowed.join(", ");
    let body = ErrorResponse {
        success: false,
        status: StatusCode::METHOD_NOT_ALLOWED.as_u16(),
        error: ErrorDetail {
            message: format!("{method} is not allowed here; use {allow}"),
            error_type: "MethodNotAllowedError".to_owned(),
            code: Some(stowage_domain::error::codes::METHOD_NOT_ALLOWED.to_owned()),
            details: None,
        },
    };
    HttpResponse::MethodNotAllowed().insert_header((header::ALLOW, allow)).json(body)
}
