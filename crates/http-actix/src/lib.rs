//! The HTTP API over actix-web: routes, DTOs, errors rendered as ErrorResponse, auth, OpenAPI.
