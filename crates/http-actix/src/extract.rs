//! Request extractors: JSON bodies that fail as 422 `HTTPValidationError`, the authenticated
//! [`Caller`], and the [`Tenant`] (the namespace a request acts in).

use crate::dto::{LocItem, ValidationError};
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use stowage_domain::ErrorKind;
use stowage_domain::auth::{ApiKey, Operation};
use stowage_domain::bucket::Namespace;
use stowage_domain::usecases::{keys, tenancy};

/// Largest JSON body accepted (documented in docs/operations.md, "Limits").
pub const MAX_BODY: usize = 1024 * 1024;

fn state(req: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::new(ErrorKind::Internal, "state_missing", "application state missing"))
}

/// Fields holding the client's own JSON, kept exactly as sent.
const FREE_FORM: &[&str] = &["metadata", "object_metadata", "shared_metadata", "bucket_schema"];

/// JSON Schema's `integer` includes numbers like `3.0`; serde's integers do not. Whole floats
/// (outside the client's own JSON) become integers before the body is read into its type.
fn whole_floats_as_integers(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|f| n.is_f64() && f.fract() == 0.0 && f.abs() < 9.0e15) {
                #[expect(clippy::cast_possible_truncation, reason = "a whole number below 2^53 converts exactly")]
                let whole = f as i64;
                *n = whole.into();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_floats_as_integers),
        Value::Object(fields) => {
            for (key, field) in fields.iter_mut() {
                if !FREE_FORM.contains(&key.as_str()) {
                    whole_floats_as_integers(field);
                }
            }
        }
        _ => {}
    }
}

/// Where a string or key holding U+0000 is, if anywhere. No database stores it the same way
/// (PostgreSQL's `jsonb` and `text` refuse it, SQLite keeps it), so it is refused everywhere.
fn nul_character_at(value: &serde_json::Value, at: Vec<LocItem>) -> Option<Vec<LocItem>> {
    use serde_json::Value;
    match value {
        Value::String(s) if s.contains('\0') => Some(at),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            let mut loc = at.clone();
            loc.push(LocItem::Index(u32::try_from(i).unwrap_or(u32::MAX)));
            nul_character_at(item, loc)
        }),
        Value::Object(fields) => fields.iter().find_map(|(key, field)| {
            let mut loc = at.clone();
            loc.push(LocItem::Name(key.clone()));
            if key.contains('\0') { Some(loc) } else { nul_character_at(field, loc) }
        }),
        _ => None,
    }
}

/// Parses JSON, naming the failing field in a 422 (`loc: ["body", "field"]`).
fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        let kind = if e.is_syntax() || e.is_eof() { "json_invalid" } else { "value_error" };
        ApiError::Validation(vec![ValidationError {
            loc: vec![LocItem::Name("body".to_owned())],
            msg: e.to_string(),
            error_type: kind.to_owned(),
        }])
    })?;
    // Every body of this API is an object (serde would also read a struct from an array).
    if !(value.is_object() || value.is_null()) {
        return Err(ApiError::Validation(vec![ValidationError {
            loc: vec![LocItem::Name("body".to_owned())],
            msg: "Input should be a valid dictionary or object".to_owned(),
            error_type: "dict_type".to_owned(),
        }]));
    }
    if let Some(loc) = nul_character_at(&value, vec![LocItem::Name("body".to_owned())]) {
        return Err(ApiError::Validation(vec![ValidationError {
            loc,
            msg: "text must not contain the NUL character (U+0000)".to_owned(),
            error_type: "string_nul".to_owned(),
        }]));
    }
    whole_floats_as_integers(&mut value);
    serde_path_to_error::deserialize(value).map_err(|e| {
        let mut loc = vec![LocItem::Name("body".to_owned())];
        for segment in e.path().iter() {
            match segment {
                serde_path_to_error::Segment::Seq { index } => {
                    loc.push(LocItem::Index(u32::try_from(*index).unwrap_or(u32::MAX)))
                }
                serde_path_to_error::Segment::Map { key } => loc.push(LocItem::Name(key.clone())),
                serde_path_to_error::Segment::Enum { variant } => loc.push(LocItem::Name(variant.clone())),
                serde_path_to_error::Segment::Unknown => {}
            }
        }
        let inner = e.into_inner();
        let kind = if inner.is_syntax() || inner.is_eof() { "json_invalid" } else { "value_error" };
        ApiError::Validation(vec![ValidationError { loc, msg: inner.to_string(), error_type: kind.to_owned() }])
    })
}

async fn read_body(payload: &mut Payload) -> Result<web::BytesMut, ApiError> {
    use futures_util::StreamExt;
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::invalid(&["body"], e.to_string(), "body_unreadable"))?;
        if body.len() + chunk.len() > MAX_BODY {
            return Err(ApiError::new(
                ErrorKind::PayloadTooLarge,
                stowage_domain::error::codes::BODY_TOO_LARGE,
                "the body is larger than 1 MiB",
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Reads the whole (bounded) body, then parses it with `parse`.
fn with_body<T: 'static>(
    payload: &mut Payload,
    parse: impl FnOnce(&[u8]) -> Result<T, ApiError> + 'static,
) -> LocalBoxFuture<'static, Result<T, ApiError>> {
    let mut payload = payload.take();
    Box::pin(async move { parse(&read_body(&mut payload).await?) })
}

/// A JSON body; anything malformed is a 422.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(_req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        with_body(payload, |body| parse_json(body).map(Json))
    }
}

/// An optional JSON body: empty or `null` is `None` (the contract's `anyOf [T, null]`).
pub struct OptionalJson<T>(pub Option<T>);

impl<T: DeserializeOwned + 'static> FromRequest for OptionalJson<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(_req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        with_body(payload, |body| {
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok(Self(None));
            }
            parse_json::<Option<T>>(body).map(OptionalJson)
        })
    }
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller(pub ApiKey);

impl Caller {
    /// Refuses the request unless the caller's key may do `operation` (the table lives in
    /// `stowage_domain::auth::authorize`).
    ///
    /// # Errors
    /// 403 `insufficient_role`.
    pub fn authorize(&self, operation: Operation) -> Result<(), ApiError> {
        stowage_domain::auth::authorize(&self.0, operation).map_err(|e| ApiError::from_coded(&e))
    }

    /// True when the caller's key may do `operation`.
    #[must_use]
    pub fn may(&self, operation: Operation) -> bool {
        stowage_domain::auth::authorize(&self.0, operation).is_ok()
    }
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(ErrorKind::Unauthorized, stowage_domain::error::codes::INVALID_API_KEY, message)
}

async fn authenticate(req: HttpRequest) -> Result<Caller, ApiError> {
    let state = state(&req)?;
    let client = req.peer_addr().map(|a| a.ip());
    if client.is_some_and(|ip| state.throttle.is_throttled(ip)) {
        return Err(ApiError::new(
            ErrorKind::TooManyRequests,
            stowage_domain::error::codes::TOO_MANY_FAILED_AUTHENTICATIONS,
            "too many requests with unknown keys from this address; wait a minute",
        ));
    }
    let header = req.headers().get(actix_web::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let secret = header
        .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| unauthorized("send `Authorization: Bearer <api key>`"))?;
    match keys::authenticate(state.deps(), secret).await.map_err(|e| ApiError::from_coded(&e))? {
        Some(key) => Ok(Caller(key)),
        None => {
            if let Some(ip) = client {
                state.throttle.record_failure(ip);
            }
            Err(unauthorized("unknown or revoked API key"))
        }
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(authenticate(req.clone()))
    }
}

/// The namespace a request acts in (`X-Namespace` by id or name, or `?namespace=`), checked
/// against the caller's key by `usecases::tenancy::namespace_for`.
#[derive(Debug, Clone)]
pub struct Tenant {
    /// The caller.
    pub caller: Caller,
    /// The namespace.
    pub namespace: Namespace,
}

impl Tenant {
    /// Refuses the request unless the caller's key may do `operation`.
    ///
    /// # Errors
    /// 403 `insufficient_role`.
    pub fn authorize(&self, operation: Operation) -> Result<(), ApiError> {
        self.caller.authorize(operation)
    }
}

fn requested_namespace(req: &HttpRequest) -> Option<String> {
    if let Some(value) = req.headers().get("x-namespace").and_then(|v| v.to_str().ok()) {
        return Some(value.trim().to_owned());
    }
    web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.get("namespace").cloned())
}

async fn resolve_tenant(req: HttpRequest) -> Result<Tenant, ApiError> {
    let caller = authenticate(req.clone()).await?;
    let state = state(&req)?;
    let wanted = requested_namespace(&req);
    match tenancy::namespace_for(state.deps(), &caller.0, wanted.as_deref()).await {
        Ok(namespace) => Ok(Tenant { caller, namespace }),
        Err(e) => {
            let error = ApiError::from_coded(&e);
            Err(match &e {
                tenancy::LookupError::NamespaceNotFound(id) => {
                    error.with_details(serde_json::json!({"resource": "namespace", "id": id}))
                }
                _ => error,
            })
        }
    }
}

impl FromRequest for Tenant {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(resolve_tenant(req.clone()))
    }
}
