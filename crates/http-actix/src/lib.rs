//! stowage's HTTP API on actix-web, wire-compatible with the bucket-uploads API of Mixpeek.
//!
//! Handlers are thin: they turn DTOs into domain values ([`dto`]), authenticate and resolve the
//! tenant ([`extract`]), call one use case, and render its result or its `Coded` error as an
//! `ErrorResponse` ([`error`]). Malformed input never reaches a use case: it is a 422 in the
//! contract's `HTTPValidationError` shape. The OpenAPI document is generated from this code
//! ([`openapi`]).

pub mod browser;
pub mod dto;
pub mod error;
pub mod events;
pub mod extract;
pub mod openapi;
pub mod request_id;
mod routes;
mod state;

pub use state::{AppState, AuthThrottle, KeyCache};

use actix_web::web;

/// Registers every route, the extractor error handlers and the request-id middleware's needs on
/// an actix `App`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(error::query_config()).app_data(error::path_config());
    routes::configure(cfg);
    events::configure(cfg);
    openapi::configure(cfg);
}

/// The request-id middleware: every response carries `X-Request-Id` and every log line of the
/// request the same id. Wrap the `App` with
/// `actix_web::middleware::from_fn(stowage_http_actix::request_id_middleware)`.
pub use request_id::middleware as request_id_middleware;
